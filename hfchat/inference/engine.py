"""Batched, streaming generation with hfchat's own decode loop.

`Engine` owns a model and one worker thread. `Engine.submit` queues a prompt (token ids) with its own
`SamplingParams` and returns a `Stream` at once. The worker keeps one running batch: left-padded token ids, their
attention mask and a `DynamicCache` that covers every position but each row's newest token. One decode step feeds
those newest tokens through ``model(input_ids, attention_mask, position_ids, past_key_values)``, picks every row's
next token with the row's own parameters and random generator, and hands it to the row's stream. Between two steps
finished rows leave the batch (their cache rows are dropped) and waiting requests join it (their prompts are
prefilled, their first tokens picked from the prefill's logits, and their caches merged in): continuous batching at
token granularity, up to ``max_batch_size`` rows. A seeded request gives the same reply alone or inside a batch; a
row ends on its own (end-of-turn token, ``max_new_tokens``, a stop string, or `Stream.cancel`). The loop calls only
the model's forward pass, so it does not depend on ``generate``'s internals; transformers' own continuous batching
has no per-request min-p, repetition penalty, seed or stop strings, and on CPU ran at a fraction of this speed (see
``benchmarks/serving.py``).

Example (CPU, any small causal LM folder):
    >>> engine = Engine.from_pretrained("runs/tiny/sft")                       # doctest: +SKIP
    >>> ids = engine.tokenizer("Once upon a time")["input_ids"]                # doctest: +SKIP
    >>> stream = engine.submit(ids, SamplingParams(max_new_tokens=20, seed=0))  # doctest: +SKIP
    >>> for token in stream: print(token.text, end="")                        # doctest: +SKIP
    >>> stream.finish_reason                                                   # doctest: +SKIP
    'length'
"""

from __future__ import annotations

import atexit
import queue
import threading
import time
from dataclasses import dataclass

import torch
from transformers import DynamicCache

from ..modeling import CACHE_NAME, SMEAR_STATE
from ..tokenizer import TOOL_CALL_END, TOOL_CALL_START, end_of_turn_ids
from .params import SamplingParams
from .reply_text import ReplyText

FINISH_REASONS = ("length", "eos_token", "stop_sequence", "cancelled", "error")


@dataclass(frozen=True)
class Token:
    """One generated token: its id, the text it adds to the reply (may be "" while a character or a possible stop
    string is incomplete, or for an end-of-turn token), its log-probability under the model (after the repetition
    penalty, before temperature), whether it is a special token, and the (id, log-probability) pairs of the
    request's ``top_logprobs`` most likely tokens at its position, most likely first."""

    id: int
    text: str
    logprob: float
    special: bool
    top: tuple[tuple[int, float], ...] = ()


class Stream:
    """The tokens of one request as they are generated.

    Iterate it for `Token` objects (blocking), or ``async for`` over `follow` in an event loop; afterwards ``text``
    is the reply (stop strings cut off, end-of-turn tokens left out), ``tokens`` every token, ``finish_reason`` one
    of `FINISH_REASONS` and ``error`` the message when the batch failed. `cancel` stops it at the next token, from
    any thread.
    """

    _END = object()

    def __init__(self, engine: Engine, prompt_ids: list[int], params: SamplingParams, tool_markup: bool = False):
        self.prompt_ids, self.params = list(prompt_ids), params
        self._hidden = engine.special_ids - engine.tool_markup_ids if tool_markup else engine.special_ids
        self.tokens: list[Token] = []
        self.text = ""
        self.finish_reason: str | None = None
        self.error: str | None = None
        self.created = time.perf_counter()
        self.first_token_time: float | None = None
        self._engine = engine
        self._queue: queue.Queue = queue.Queue()
        self._listener = None  # (event loop, asyncio.Queue) once an async consumer follows the stream
        self._lock = threading.Lock()
        self._cancelled = threading.Event()
        self._generated = 0  # every generated token but the end of turn
        self._reply = ReplyText(engine.tokenizer.decode, params.stop)
        seed = params.seed if params.seed is not None else int(torch.randint(0, 2**62, (1,)).item())
        self._rng = torch.Generator().manual_seed(seed)

    # ----------------------------------------------------------------------------------------------- consumer side
    def __iter__(self):
        while True:
            item = self._queue.get()
            if item is Stream._END:
                return
            yield item

    async def follow(self):
        """Async iteration over the tokens, delivered straight from the engine thread to the running event loop.
        Leaving the loop early (a disconnected client) cancels the stream."""
        import asyncio

        loop, tokens = asyncio.get_running_loop(), asyncio.Queue()
        with self._lock:  # tokens that came before, then every later one, in order
            while not self._queue.empty():
                tokens.put_nowait(self._queue.get_nowait())
            self._listener = (loop, tokens)
        finished = False
        try:
            while (item := await tokens.get()) is not Stream._END:
                yield item
            finished = True
        finally:
            if not finished:
                self.cancel()

    def result(self) -> Stream:
        """Wait until the request finishes; returns itself."""
        for _ in self:
            pass
        return self

    def cancel(self) -> None:
        self._cancelled.set()

    @property
    def done(self) -> bool:
        return self.finish_reason is not None

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    # ------------------------------------------------------------------------------------------------- engine side
    def _add(self, token_id: int, logprob: float, top: tuple[tuple[int, float], ...] = ()) -> bool:
        """Record one generated token and hand out its text; True when the request is finished."""
        if self.first_token_time is None:
            self.first_token_time = time.perf_counter()
        engine = self._engine
        is_end = token_id in engine.end_ids
        delta = ""
        if not is_end:
            self._generated += 1
            if token_id not in self._hidden:
                delta = self._reply.add(token_id)
        reason = "eos_token" if is_end else "stop_sequence" if self._reply.stopped else None
        if reason is None and self._generated >= self.params.max_new_tokens:
            reason = "length"
        if reason is None and self._cancelled.is_set():
            reason = "cancelled"
        if reason:
            delta += self._reply.take(final=True)  # nothing is held back once the reply is over
        token = Token(token_id, delta, logprob, token_id in engine.special_ids, top)
        self.tokens.append(token)
        if reason:  # the stream is finished before its last token is handed out
            self._finish(reason, last=token)
        else:
            self._put(token)
        return reason is not None

    def _put(self, item) -> None:
        with self._lock:
            listener = self._listener
            if listener is None:
                self._queue.put(item)
                return
        try:
            listener[0].call_soon_threadsafe(listener[1].put_nowait, item)
        except RuntimeError:  # the event loop has closed: nobody is listening any more
            self.cancel()

    def _finish(self, reason: str, error: str | None = None, last: Token | None = None):
        if self.finish_reason is not None:
            return
        self.text = self._reply.text
        self.error, self.finish_reason = error, reason
        self._engine._count_finished(reason, len(self.tokens))
        if last is not None:
            self._put(last)
        self._put(Stream._END)


def top_logprobs(logprobs: torch.Tensor, k: int) -> tuple[tuple[int, float], ...]:
    """The ``k`` most likely (id, log-probability) pairs of one position's log-probabilities, most likely first."""
    if k == 0:
        return ()
    values, ids = torch.topk(logprobs, k)
    return tuple(zip(ids.tolist(), values.tolist()))


def _sample(logits: torch.Tensor, history: torch.Tensor, params: SamplingParams, rng: torch.Generator,
            pad_id: int) -> tuple[int, torch.Tensor]:
    """(the picked token, the log-probabilities it was picked by: after the repetition penalty, before
    temperature and truncation)."""
    if params.repetition_penalty != 1.0:
        seen = torch.unique(history[history != pad_id])
        values = logits[seen]
        logits = logits.clone()
        logits[seen] = torch.where(values > 0, values / params.repetition_penalty, values * params.repetition_penalty)
    logprobs = torch.log_softmax(logits, dim=-1)
    if params.greedy:
        return int(torch.argmax(logits)), logprobs
    logits = logits / params.temperature
    if params.top_k and params.top_k < logits.numel():
        kth = torch.topk(logits, params.top_k).values[-1]
        logits = logits.masked_fill(logits < kth, float("-inf"))
    probs = torch.softmax(logits, dim=-1)
    if params.min_p > 0:
        probs = probs.masked_fill(probs < params.min_p * probs.max(), 0.0)
    if params.top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        before = torch.cumsum(sorted_probs, dim=-1) - sorted_probs  # mass of the more likely tokens
        sorted_probs = sorted_probs.masked_fill(before >= params.top_p * sorted_probs.sum(), 0.0)
        probs = torch.zeros_like(probs).scatter(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=rng)), logprobs


class _Batch:
    """The rows being generated: left-padded ids (prompt + reply so far; each row's newest token last), the
    attention mask over them, and a KV cache of every position but the newest: its layers' keys and values and, for
    a model with nanochat's smear, each row's last embedding (`SMEAR_STATE`)."""

    def __init__(self, ids: torch.Tensor, mask: torch.Tensor, cache: DynamicCache, streams: list[Stream]):
        self.ids, self.mask, self.cache, self.streams = ids, mask, cache, streams

    @property
    def layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return [(layer.keys, layer.values) for layer in self.cache.layers if layer.is_initialized]

    @property
    def smear(self) -> torch.Tensor | None:
        return getattr(self.cache, SMEAR_STATE, None)

    def select(self, rows: list[int], start: int) -> _Batch:
        """The batch of ``rows`` only, from column ``start`` on (padding no remaining row needs goes)."""
        index = torch.tensor(rows, device=self.ids.device)
        layers = [(k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
                  for k, v in self.layers]
        smear = self.smear.index_select(0, index) if self.smear is not None else None
        return _Batch(self.ids.index_select(0, index)[:, start:], self.mask.index_select(0, index)[:, start:],
                      _cache(layers, smear), [self.streams[row] for row in rows])


def _cache(layers: list[tuple[torch.Tensor, torch.Tensor]], smear: torch.Tensor | None) -> DynamicCache:
    # A cache without the model's config keeps every position in every layer, sliding-window ones included (their
    # masks still see only the window), so batches merge and shrink position by position.
    cache = DynamicCache()
    for index, (keys, values) in enumerate(layers):
        cache.update(keys, values, index)
    if smear is not None:
        setattr(cache, SMEAR_STATE, smear)
    return cache


def _left_pad(tensor: torch.Tensor, width: int, value, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.full(shape, value, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)


def _merge(old: _Batch, new: _Batch, pad_id: int) -> _Batch:
    """One batch of both, left-padded to the wider one (caches are one column narrower than the ids)."""
    total = max(old.ids.shape[1], new.ids.shape[1])
    old_layers = old.layers or _empty_layers(new.layers, len(old.streams))
    new_layers = new.layers or _empty_layers(old.layers, len(new.streams))
    layers = [(torch.cat([_left_pad(k0, total - 1, 0.0, 2), _left_pad(k1, total - 1, 0.0, 2)]),
               torch.cat([_left_pad(v0, total - 1, 0.0, 2), _left_pad(v1, total - 1, 0.0, 2)]))
              for (k0, v0), (k1, v1) in zip(old_layers, new_layers)]
    smear = None
    if old.smear is not None or new.smear is not None:
        like = old.smear if old.smear is not None else new.smear
        smear = torch.cat([s if s is not None else like.new_zeros((len(b.streams), *like.shape[1:]))
                           for s, b in ((old.smear, old), (new.smear, new))])
    return _Batch(torch.cat([_left_pad(old.ids, total, pad_id, 1), _left_pad(new.ids, total, pad_id, 1)]),
                  torch.cat([_left_pad(old.mask, total, 0, 1), _left_pad(new.mask, total, 0, 1)]),
                  _cache(layers, smear), old.streams + new.streams)


def _empty_layers(like: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Zero-length caches for ``rows`` rows, shaped like ``like``'s layers."""
    return [(k.new_zeros((rows, k.shape[1], 0, k.shape[3])), v.new_zeros((rows, v.shape[1], 0, v.shape[3])))
            for k, v in like]


class Engine:
    """A model, its tokenizer and a worker thread that batches the requests waiting for it.

    Args:
        model: a causal LM (any `transformers` one; eval mode is set here).
        tokenizer: its tokenizer.
        max_batch_size: at most this many requests generate together.
    """

    def __init__(self, model, tokenizer, max_batch_size: int = 16):
        self.model, self.tokenizer = model.eval(), tokenizer
        self.max_batch_size = max_batch_size
        self.end_ids = frozenset(end_of_turn_ids(tokenizer, model))
        self.special_ids = frozenset(tokenizer.all_special_ids)
        markup = tokenizer.convert_tokens_to_ids([TOOL_CALL_START, TOOL_CALL_END])
        self.tool_markup_ids = frozenset(i for i in markup if i is not None and i in self.special_ids)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        self.max_length = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
        self.prefills = 0  # prefill passes: each admits the requests that joined together
        self.decode_steps = 0  # decode steps; decode_rows / decode_steps = the mean batch size
        self.decode_rows = 0
        self.finished: dict[str, tuple[int, int]] = {}  # finish reason -> (requests, generated tokens)
        self._count_lock = threading.Lock()
        self._pending: queue.Queue[Stream | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="hfchat-engine", daemon=True)
        self._worker.start()
        atexit.register(self.close)  # a worker still inside torch at interpreter exit aborts the process

    def close(self) -> None:
        """Stop the worker once the current step is done (requests still queued end as "cancelled")."""
        if self._worker.is_alive():
            self._pending.put(None)
            self._worker.join()

    @classmethod
    def from_pretrained(cls, name_or_path: str, dtype: torch.dtype | str | None = None, device: str | None = None,
                        quantization: str | None = None, trust_remote_code: bool = False, **kwargs) -> Engine:
        """Load a model folder or Hub id (see `hfchat.inference.loading.load_model`) into a new engine."""
        from .loading import load_model

        model, tokenizer = load_model(name_or_path, dtype=dtype, device=device, quantization=quantization,
                                      trust_remote_code=trust_remote_code)
        return cls(model, tokenizer, **kwargs)

    def _count_finished(self, reason: str, tokens: int) -> None:
        with self._count_lock:
            requests, total = self.finished.get(reason, (0, 0))
            self.finished[reason] = (requests + 1, total + tokens)

    @property
    def queue_size(self) -> int:
        """Requests waiting for the next batch."""
        return self._pending.qsize()

    def submit(self, prompt_ids: list[int], params: SamplingParams | None = None, *,
               tool_markup: bool = False) -> Stream:
        """Queue one prompt; the returned `Stream` yields its tokens as they come. Special tokens are left out of
        the text, except ``<tool_call>`` markup when ``tool_markup`` (chat turns parse it)."""
        if not prompt_ids:
            raise ValueError("prompt_ids is empty: a prompt needs at least one token")
        stream = Stream(self, prompt_ids, params or SamplingParams(), tool_markup)
        self._pending.put(stream)
        return stream

    @torch.inference_mode()
    def prompt_logprobs(self, ids: list[int], top: int = 0) -> list[tuple[float | None, tuple]]:
        """For each token of a prompt, its log-probability given the tokens before it (None for the first) and the
        ``top`` most likely (id, log-probability) pairs at its position: one forward pass, beside the worker's
        batches (inference reads the weights only)."""
        logits = self.model(input_ids=torch.tensor([ids], device=self.model.device), use_cache=False).logits[0]
        logprobs = torch.log_softmax(logits[:-1].float(), dim=-1)
        return [(None, ())] + [(float(logprobs[position, token]), top_logprobs(logprobs[position], top))
                               for position, token in enumerate(ids[1:])]

    def generate(self, prompts: list[list[int]], params: SamplingParams | None = None) -> list[Stream]:
        """Generate for several prompts (batched together) and wait for all of them."""
        streams = [self.submit(ids, params) for ids in prompts]
        return [stream.result() for stream in streams]

    # ------------------------------------------------------------------------------------------------ worker side
    def _run(self) -> None:
        batch: _Batch | None = None
        while True:
            waiting = [self._pending.get()] if batch is None else []  # idle: sleep until a request comes
            while len(waiting) + (len(batch.streams) if batch else 0) < self.max_batch_size:
                try:
                    waiting.append(self._pending.get_nowait())
                except queue.Empty:
                    break
            if None in waiting:  # close()
                for stream in (batch.streams if batch else []) + waiting:
                    if stream is not None:
                        stream._finish("cancelled")
                return self._drain()
            joining = []
            for stream in waiting:
                if stream.cancelled:
                    stream._finish("cancelled")
                else:
                    joining.append(stream)
            try:
                if joining:
                    new = self._prefill(joining)
                    batch = new if batch is None else _merge(batch, new, self.pad_id)
                    batch = self._retire(batch)
                if batch is not None:
                    self._step(batch)
                    batch = self._retire(batch)
            except Exception as error:  # a failed batch fails its requests, never the worker
                for stream in (batch.streams if batch else []) + joining:
                    stream._finish("error", error=f"{type(error).__name__}: {error}")
                batch = None

    def _drain(self) -> None:
        while True:
            try:
                stream = self._pending.get_nowait()
            except queue.Empty:
                return
            if stream is not None:
                stream._finish("cancelled")

    @torch.inference_mode()
    def _prefill(self, streams: list[Stream]) -> _Batch:
        """Run the new prompts through the model and pick each one's first token from the last position."""
        width = max(len(s.prompt_ids) for s in streams)
        if width > self.max_length:
            raise ValueError(f"a prompt has {width} tokens, the model's context is {self.max_length}")
        ids = torch.full((len(streams), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(streams), width), dtype=torch.long)
        for row, stream in enumerate(streams):
            ids[row, width - len(stream.prompt_ids):] = torch.tensor(stream.prompt_ids)
            mask[row, width - len(stream.prompt_ids):] = 1
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        cache = _cache([], None)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)
        logits = self.model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=True,
                            logits_to_keep=1, **{CACHE_NAME: cache}).logits[:, -1]
        self.prefills += 1
        return self._pick(_Batch(ids, mask, cache, streams), logits)

    @torch.inference_mode()
    def _step(self, batch: _Batch) -> None:
        """Feed every row's newest token, then pick the next ones."""
        positions = batch.mask.sum(-1, keepdim=True) - 1
        logits = self.model(input_ids=batch.ids[:, -1:], attention_mask=batch.mask, position_ids=positions,
                            use_cache=True, **{CACHE_NAME: batch.cache}).logits[:, -1]
        self.decode_steps += 1
        self.decode_rows += len(batch.streams)
        self._pick(batch, logits)

    def _pick(self, batch: _Batch, logits: torch.Tensor) -> _Batch:
        """Each row's next token by its own parameters, handed to its stream and appended to the batch."""
        scores = logits.float()
        logprobs = torch.log_softmax(scores, dim=-1)
        picked = scores.argmax(dim=-1)  # greedy rows without a penalty need nothing else
        rows = []
        for row, stream in enumerate(batch.streams):
            params = stream.params
            if not (params.greedy and params.repetition_penalty == 1.0):
                token, row_logprobs = _sample(scores[row], batch.ids[row], params, stream._rng, self.pad_id)
                picked[row] = token
                rows.append((row_logprobs, token))
            else:
                rows.append((logprobs[row], None))
        tokens = picked.tolist()
        chosen = logprobs.gather(1, picked[:, None])[:, 0].tolist()
        for row, (stream, (row_logprobs, sampled)) in enumerate(zip(batch.streams, rows)):
            logprob = chosen[row] if sampled is None else float(row_logprobs[tokens[row]])
            stream._add(tokens[row], logprob, top_logprobs(row_logprobs, stream.params.top_logprobs))
        batch.ids = torch.cat([batch.ids, picked[:, None]], dim=1)
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.streams), 1))], dim=1)
        return batch

    def _retire(self, batch: _Batch) -> _Batch | None:
        """Drop finished rows (and rows at the model's context), then the padding columns no remaining row needs."""
        for stream in batch.streams:
            if not stream.done and batch.ids.shape[1] >= self.max_length:
                stream._finish("length")
        keep = [row for row, stream in enumerate(batch.streams) if not stream.done]
        if not keep:
            return None
        if len(keep) == len(batch.streams):
            return batch
        start = int((batch.mask[keep].sum(0) > 0).nonzero()[0])
        return batch.select(keep, start)
