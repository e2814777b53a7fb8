"""Loss and bits per byte of a causal LM on packed token rows.

Bits per byte (bpb) divides the summed cross-entropy (in bits) by the UTF-8 bytes of the predicted tokens, so it
compares models with different tokenizers. Special tokens (BOS, chat markers) are neither predicted nor counted:
they carry no bytes of text.
"""

import math

import torch
import torch.nn.functional as F

from .scoring import shard_of


def token_byte_lengths(tokenizer) -> torch.Tensor:
    """UTF-8 length in bytes of every token id; 0 for special tokens.

    Byte-level BPE tokens that hold part of a multi-byte character decode to U+FFFD on their own, so the length is
    taken from the byte-level alphabet when the tokenizer is byte-level, and from the decoded text otherwise.
    """
    vocab = tokenizer.get_vocab()
    lengths = torch.zeros(max(len(tokenizer), max(vocab.values()) + 1), dtype=torch.long)
    special = set(tokenizer.all_special_ids)
    byte_decoder = _byte_level_decoder()
    for token, index in vocab.items():
        if index in special:
            continue
        if all(ch in byte_decoder for ch in token):
            lengths[index] = len(token)  # one alphabet character per byte
        else:
            lengths[index] = len(tokenizer.convert_tokens_to_string([token]).encode("utf-8"))
    return lengths


def _byte_level_decoder() -> dict[str, int]:
    """GPT-2's byte-to-unicode alphabet, reversed: printable stand-ins for the 256 byte values."""
    visible = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1))
    visible += list(range(ord("®"), ord("ÿ") + 1))
    codes, extra = list(visible), 0
    for b in range(256):
        if b not in visible:
            visible.append(b)
            codes.append(256 + extra)
            extra += 1
    return {chr(c): b for b, c in zip(visible, codes)}


@torch.no_grad()
def batch_totals(model, rows: torch.Tensor, token_bytes: torch.Tensor) -> torch.Tensor:
    """Summed loss (nats), target bytes and counted targets of one batch of rows of ``seq_len + 1`` tokens."""
    rows = rows.to(token_bytes.device)
    logits = model(input_ids=rows[:, :-1], use_cache=False).logits.float()
    targets = rows[:, 1:].flatten()
    losses = F.cross_entropy(logits.flatten(0, 1), targets, reduction="none")
    target_bytes = token_bytes[targets]
    counted = target_bytes > 0
    return torch.stack([losses[counted].double().sum(), target_bytes.sum().double(), counted.sum().double()])


def scored_logprobs(model, rows: list[tuple[list[int], int]], pad_id: int, batch_size: int) -> list[float]:
    """Summed log-probability of ``ids[first:]`` given ``ids[:first]`` for each ``(ids, first)`` row."""
    return [total for total, _, _ in scored_spans(model, rows, pad_id, batch_size)]


@torch.inference_mode()
def scored_spans(model, rows: list[tuple[list[int], int]], pad_id: int,
                 batch_size: int) -> list[tuple[float, int, bool]]:
    """For each ``(ids, first)`` row: the summed log-probability of ``ids[first:]`` given ``ids[:first]``, the
    number of scored tokens, and whether greedy decoding predicts every one of them. Rows of similar length are
    batched together (right padding: under a causal mask no real token sees a pad, so no padding mask is needed),
    and the softmax is taken only at the scored positions."""
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))
    spans: list[tuple[float, int, bool]] = [(0.0, 0, True)] * len(rows)
    for start in range(0, len(order), batch_size):
        batch = [rows[i] for i in order[start:start + batch_size]]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.tensor([ids + [pad_id] * (width - len(ids)) for ids, _ in batch], device=model.device)
        scored = torch.tensor([[0] * first + [1] * (len(ids) - first) + [0] * (width - len(ids)) for ids, first in batch],
                              device=model.device)[:, 1:].bool()
        logits = model(input_ids=input_ids, use_cache=False).logits[:, :-1]
        picked = torch.log_softmax(logits[scored].float(), dim=-1)  # [scored tokens, vocab]
        targets = input_ids[:, 1:][scored]
        token_logprobs = picked.gather(1, targets[:, None]).squeeze(1)
        row_of_token = scored.nonzero()[:, 0]
        totals = torch.zeros(len(batch), dtype=torch.float64, device=model.device)
        totals.index_add_(0, row_of_token, token_logprobs.double())
        misses = torch.zeros(len(batch), dtype=torch.long, device=model.device)
        misses.index_add_(0, row_of_token, (picked.argmax(-1) != targets).long())
        for index, total, count, missed in zip(order[start:start + batch_size], totals.tolist(),
                                               scored.sum(1).tolist(), misses.tolist()):
            spans[index] = (total, count, missed == 0)
    return spans


def shares_context(model) -> bool:
    """Whether `shared_context_logprobs` is exact for ``model``: its attention takes a dense mask (sdpa or eager) and
    nothing but attention mixes positions (no nanochat smear, whose previous token is the previous position) within
    a full causal window (no sliding-window layers)."""
    config = model.config
    sliding = "sliding_attention" in (getattr(config, "layer_types", None) or ()) or \
        getattr(config, "use_sliding_window", False)
    return config._attn_implementation in ("sdpa", "eager") and not getattr(config, "smear_channels", None) \
        and not sliding


@torch.inference_mode()
def shared_context_logprobs(model, groups: list[tuple[list[int], list[tuple[list[int], int]]]], pad_id: int,
                            batch_size: int) -> list[list[float]]:
    """Summed log-probabilities of several continuations of one context, the context computed once.

    Each group is ``(prefix, [(segment, first), ...])``: segment ``k`` follows ``prefix`` and its tokens from
    ``first`` on are scored. A group becomes one row, the prefix and then every segment, each segment attending to
    the prefix and to itself only (a 4D mask) at the positions it would have after the prefix, so each score equals
    that of ``prefix + segment`` alone. Rows of similar length are batched (``batch_size`` rows)."""
    order = sorted(range(len(groups)), key=lambda i: len(groups[i][0]) + sum(len(s) for s, _ in groups[i][1]))
    scores: list[list[float]] = [[0.0] * len(segments) for _, segments in groups]
    eager = model.config._attn_implementation == "eager"
    for start in range(0, len(order), batch_size):
        chunk = [groups[i] for i in order[start:start + batch_size]]
        width = max(len(prefix) + sum(len(s) for s, _ in segments) for prefix, segments in chunk)
        ids = torch.full((len(chunk), width), pad_id, dtype=torch.long)
        positions = torch.zeros((len(chunk), width), dtype=torch.long)
        allowed = torch.eye(width, dtype=torch.bool).repeat(len(chunk), 1, 1)  # padding attends to itself
        picks = []  # (row, position whose logits predict, target token, segment index)
        for row, (prefix, segments) in enumerate(chunk):
            p = len(prefix)
            ids[row, :p] = torch.tensor(prefix)
            positions[row, :p] = torch.arange(p)
            allowed[row, :p, :p] = torch.ones(p, p, dtype=torch.bool).tril()
            offset = p
            for k, (segment, first) in enumerate(segments):
                n = len(segment)
                ids[row, offset:offset + n] = torch.tensor(segment)
                positions[row, offset:offset + n] = torch.arange(p, p + n)
                allowed[row, offset:offset + n, :p] = True
                allowed[row, offset:offset + n, offset:offset + n] = torch.ones(n, n, dtype=torch.bool).tril()
                picks += [(row, offset + j - 1 if j else p - 1, segment[j], k) for j in range(first, n)]
                offset += n
        if not picks:
            continue
        mask = allowed[:, None]
        if eager:
            mask = torch.zeros(mask.shape).masked_fill(~mask, torch.finfo(torch.float32).min)
        logits = model(input_ids=ids.to(model.device), attention_mask=mask.to(model.device),
                       position_ids=positions.to(model.device), use_cache=False).logits
        rows, where, targets, _ = (torch.tensor(column) for column in zip(*picks))
        chosen = torch.log_softmax(logits[rows.to(model.device), where.to(model.device)].float(), dim=-1)
        values = chosen.gather(1, targets.to(model.device)[:, None]).squeeze(1).double().tolist()
        for (row, _, _, k), value in zip(picks, values):
            scores[order[start + row]][k] += value
    return scores


def summarize(nats: float, n_bytes: float, n_tokens: float) -> dict[str, float]:
    """Loss, perplexity and bits per byte from summed nats, bytes and tokens (e.g. added up over processes)."""
    loss = nats / max(n_tokens, 1)
    return {
        "loss": loss,
        "perplexity": math.exp(min(loss, 700.0)),
        "bits_per_byte": nats / math.log(2) / max(n_bytes, 1),
        "nats": nats,
        "bytes": int(n_bytes),
        "tokens": int(n_tokens),
    }


DEFAULT_BPB_SOURCE = {"path": "builtin:stories", "split": "validation"}


def bpb(model, tokenizer, limit: int | None = None, batch_size: int = 8, source=None,
        shard: tuple[int, int] | None = None) -> list[dict]:
    """The ``bpb`` task: bits per byte, loss and perplexity on a text source (default: the builtin stories'
    held-out split; any `hfchat.data.sources` spec otherwise). Documents are joined with BOS tokens and cut into
    rows of the model's context (at most 1,024 tokens); ``limit`` caps the documents. One detail per batch of
    rows, holding its summed nats, bytes and tokens (`bpb_metrics` adds them up)."""
    from ..data.sources import load_text_source

    documents = load_text_source(source or DEFAULT_BPB_SOURCE)
    if limit is not None:
        documents = documents.select(range(min(limit, len(documents))))
    bos = tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id
    stream = []
    for text in documents["text"]:
        stream += [bos] + tokenizer(text, add_special_tokens=False)["input_ids"]
    width = min(int(getattr(model.config, "max_position_embeddings", 1024)), 1024) + 1
    rows = [stream[i:i + width] for i in range(0, len(stream) - 1, width - 1)]  # rows overlap by one token
    token_bytes = token_byte_lengths(tokenizer).to(model.device)
    full, last = [r for r in rows if len(r) == width], [r for r in rows if len(r) != width]
    batches = [full[i:i + batch_size] for i in range(0, len(full), batch_size)] + [[r] for r in last if len(r) > 1]
    details = []
    for batch in shard_of(batches, shard):
        nats, n_bytes, n_tokens = batch_totals(model, torch.tensor(batch), token_bytes).tolist()
        details.append({"prompt": f"{len(batch)} rows of {len(batch[0])} tokens", "target": "", "prediction": "",
                        "score": nats / math.log(2) / max(n_bytes, 1), "nats": nats, "bytes": int(n_bytes),
                        "tokens": int(n_tokens)})
    return details


def bpb_metrics(details: list[dict]) -> dict[str, float]:
    summary = summarize(*(sum(d[key] for d in details) for key in ("nats", "bytes", "tokens")))
    return {key: summary[key] for key in ("bits_per_byte", "loss", "perplexity", "bytes", "tokens")}
