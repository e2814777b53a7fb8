"""Batched, streaming generation on top of `transformers` ``generate``.

`Engine` owns a model and one worker thread. `Engine.submit` queues a prompt (token ids) with its own
`SamplingParams` and returns a `Stream` at once. The worker keeps one running batch (left-padded token ids, their
attention mask and KV cache) and decodes it with ``generate`` calls that continue from the cache; a call ends when
a row finishes or new requests wait, so that between two calls finished rows leave the batch (their cache rows are
dropped) and waiting requests join it (their prompts are prefilled and their caches merged in): continuous
batching at token granularity, up to ``max_batch_size`` rows. Per-request sampling (temperature, top-k, top-p,
min-p, repetition penalty, seed) happens in a logits processor that picks each row's token with the row's own
random generator, so a seeded request gives the same reply alone or inside a batch; a stopping criterion hands each
token to its stream and ends rows on their own (end-of-turn token, ``max_new_tokens``, a stop string, or
`Stream.cancel`). transformers' own continuous batching has no per-request min-p, repetition penalty, seed or stop
strings, and on CPU ran at a fraction of this speed (see ``benchmarks/serving.py``).

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
from transformers import (
    DynamicCache,
    GenerationConfig,
    LogitsProcessor,
    LogitsProcessorList,
    StoppingCriteria,
    StoppingCriteriaList,
)

from ..modeling import CACHE_NAME, SMEAR_STATE
from ..tokenizer import TOOL_CALL_END, TOOL_CALL_START, end_of_turn_ids
from .params import SamplingParams

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
    is the reply (stop strings cut off, end-of-turn
    tokens left out), ``tokens`` every token, ``finish_reason`` one of `FINISH_REASONS` and ``error`` the message
    when the batch failed. `cancel` stops it at the next token, from any thread.
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
        self._reply_ids: list[int] = []  # every generated token but the end of turn
        self._shown_ids: list[int] = []  # those whose text is part of the reply
        self._decoded = ""  # their text, complete characters only
        self._prefix = self._read = 0  # the incremental detokenizer's window into _shown_ids
        self._visible = 0  # characters of the reply already handed out
        self._longest_stop = max((len(stop) for stop in params.stop), default=0)
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
        before = len(self._decoded)
        if not is_end:
            self._reply_ids.append(token_id)
            if token_id not in self._hidden:
                self._decode_next(token_id)
        full = self._decoded
        reason = "eos_token" if is_end else None
        cut = _find_stop(full, self.params.stop, max(0, before - self._longest_stop))
        if cut is not None:
            full, reason = full[:cut], "stop_sequence"
        if reason is None and len(self._reply_ids) >= self.params.max_new_tokens:
            reason = "length"
        if reason is None and self._cancelled.is_set():
            reason = "cancelled"
        # Hold back any tail that may grow into a stop string.
        safe = len(full) if reason else len(full) - _held_back(full, self.params.stop)
        delta = full[self._visible:safe] if safe > self._visible else ""
        self._visible = max(self._visible, safe)
        token = Token(token_id, delta, logprob, token_id in engine.special_ids, top)
        self.tokens.append(token)
        if reason:  # the stream is finished before its last token is handed out
            self._finish(reason, full, last=token)
        else:
            self._put(token)
        return reason is not None

    def _decode_next(self, token_id: int) -> None:
        """Incremental detokenization: decode a short window of ids and append the new complete characters (an
        unfinished multi-byte character waits for its next token)."""
        ids, decode = self._shown_ids, self._engine.tokenizer.decode
        ids.append(token_id)
        known = decode(ids[self._prefix:self._read])
        text = decode(ids[self._prefix:])
        if len(text) > len(known) and not text.endswith("\ufffd"):
            self._decoded += text[len(known):]
            self._prefix, self._read = self._read, len(ids)

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

    def _finish(self, reason: str, text: str | None = None, error: str | None = None, last: Token | None = None):
        if self.finish_reason is not None:
            return
        self.text = self._decoded if text is None else text
        self.error, self.finish_reason = error, reason
        self._engine._count_finished(reason, len(self.tokens))
        if last is not None:
            self._put(last)
        self._put(Stream._END)


def _find_stop(text: str, stops: list[str], start: int = 0) -> int | None:
    hits = [text.find(stop, start) for stop in stops]
    hits = [hit for hit in hits if hit >= 0]
    return min(hits) if hits else None


def _held_back(text: str, stops: list[str]) -> int:
    """Characters at the end of ``text`` not to show yet: the longest tail that begins a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest


class _RowSampler(LogitsProcessor):
    """Picks every active row's next token with that row's parameters; leaves only that token possible."""

    def __init__(self, streams: list[Stream], pad_id: int):
        self.streams, self.pad_id = streams, pad_id
        self.logprobs = [0.0] * len(streams)
        self.tops: list[tuple[tuple[int, float], ...]] = [()] * len(streams)

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor) -> torch.FloatTensor:
        scores = scores.float()
        tokens = scores.argmax(dim=-1)  # greedy rows without a penalty need nothing else
        logprobs = torch.log_softmax(scores, dim=-1)
        for row, stream in enumerate(self.streams):
            params = stream.params
            if stream.done:
                tokens[row] = self.pad_id
                continue
            row_logprobs = logprobs[row]
            if not (params.greedy and params.repetition_penalty == 1.0):
                token, row_logprobs = _sample(scores[row], input_ids[row], params, stream._rng, self.pad_id)
                tokens[row] = token
            self.logprobs[row] = float(row_logprobs[tokens[row]])
            self.tops[row] = top_logprobs(row_logprobs, params.top_logprobs)
        return torch.full_like(scores, float("-inf")).scatter_(1, tokens[:, None], 0.0)


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


class _RowStopper(StoppingCriteria):
    """Hands each row's new token to its stream. A row is done when its stream says so; the whole call ends (every
    row reported done to ``generate``) when a row finishes while others go on, or when requests wait to join, so the
    worker can reshape the batch."""

    def __init__(self, engine: Engine, streams: list[Stream], sampler: _RowSampler):
        self.engine, self.streams, self.sampler = engine, streams, sampler

    def __call__(self, input_ids: torch.LongTensor, scores: torch.FloatTensor, **kwargs) -> torch.BoolTensor:
        new = input_ids[:, -1].tolist()
        active = [not stream.done for stream in self.streams]
        done = [stream.done or stream._add(new[row], self.sampler.logprobs[row], self.sampler.tops[row])
                for row, stream in enumerate(self.streams)]
        self.engine.decode_steps += 1
        self.engine.decode_rows += sum(active)
        finished_now = any(a and d for a, d in zip(active, done))
        if not all(done) and (finished_now or self.engine._joinable(len(self.streams))):
            done = [True] * len(done)  # end this call; the worker reshapes the batch and goes on
        return torch.tensor(done, device=input_ids.device)


class _Batch:
    """The rows being generated: left-padded ids (prompt + reply so far), attention mask, and a KV cache that covers
    every position but the last (the next ``generate`` call feeds that one): its layers' keys and values and, for a
    model with nanochat's smear, each row's last embedding (``smear``, zeros for a row with no position cached yet)."""

    def __init__(self, ids: torch.Tensor, mask: torch.Tensor, layers: list[tuple[torch.Tensor, torch.Tensor]],
                 streams: list[Stream], smear: torch.Tensor | None = None):
        self.ids, self.mask, self.layers, self.streams, self.smear = ids, mask, layers, streams, smear

    def cache(self) -> DynamicCache:
        cache = DynamicCache()  # every layer keeps every position (see `Engine._join`)
        for index, (keys, values) in enumerate(self.layers):
            cache.update(keys, values, index)
        if self.smear is not None:
            setattr(cache, SMEAR_STATE, self.smear)
        return cache

    def keep_state(self, cache: DynamicCache) -> None:
        self.layers = [(layer.keys, layer.values) for layer in cache.layers if layer.is_initialized]
        self.smear = getattr(cache, SMEAR_STATE, None)


def _left_pad(tensor: torch.Tensor, width: int, value, dim: int) -> torch.Tensor:
    missing = width - tensor.shape[dim]
    if missing <= 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([torch.full(shape, value, dtype=tensor.dtype, device=tensor.device), tensor], dim=dim)


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
        self.batches = 0  # generate calls
        self.decode_steps = 0  # tokens generated per row, summed over steps: decode_rows / decode_steps = batch size
        self.decode_rows = 0
        self.finished: dict[str, tuple[int, int]] = {}  # finish reason -> (requests, generated tokens)
        self._count_lock = threading.Lock()
        self._pending: queue.Queue[Stream | None] = queue.Queue()
        self._worker = threading.Thread(target=self._run, name="hfchat-engine", daemon=True)
        self._worker.start()
        atexit.register(self.close)  # a worker still inside torch at interpreter exit aborts the process

    def close(self) -> None:
        """Stop the worker once the current batch is done (requests still queued end as "cancelled")."""
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
    def _joinable(self, rows: int) -> bool:
        return rows < self.max_batch_size and not self._pending.empty()

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
                    batch = self._join(batch, joining)
                if batch is not None:
                    self._decode(batch)
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
    def _join(self, batch: _Batch | None, streams: list[Stream]) -> _Batch:
        """Prefill the new prompts (all but their last token) and merge them into the running batch."""
        width = max(len(s.prompt_ids) for s in streams)
        if width > self.max_length:
            raise ValueError(f"a prompt has {width} tokens, the model's context is {self.max_length}")
        ids = torch.full((len(streams), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(streams), width), dtype=torch.long)
        for row, stream in enumerate(streams):
            ids[row, width - len(stream.prompt_ids):] = torch.tensor(stream.prompt_ids)
            mask[row, width - len(stream.prompt_ids):] = 1
        ids, mask = ids.to(self.model.device), mask.to(self.model.device)
        new = _Batch(ids, mask, [], streams)
        if width > 1:
            # A cache without the model's config keeps every position in every layer, sliding-window ones included
            # (their masks still see only the window), so batches merge and shrink position by position.
            cache = DynamicCache()
            positions = (mask[:, :-1].cumsum(-1) - 1).clamp(min=0)
            self.model(input_ids=ids[:, :-1], attention_mask=mask[:, :-1], position_ids=positions,
                       use_cache=True, logits_to_keep=1, **{CACHE_NAME: cache})
            new.keep_state(cache)
        if batch is None:
            return new
        total = max(batch.ids.shape[1], width)
        old_layers = batch.layers or _empty_layers(new.layers, len(batch.streams))
        new_layers = new.layers or _empty_layers(batch.layers, len(streams))
        merged = [(torch.cat([_left_pad(k0, total - 1, 0.0, 2), _left_pad(k1, total - 1, 0.0, 2)]),
                   torch.cat([_left_pad(v0, total - 1, 0.0, 2), _left_pad(v1, total - 1, 0.0, 2)]))
                  for (k0, v0), (k1, v1) in zip(old_layers, new_layers)]
        smear = None
        if batch.smear is not None or new.smear is not None:
            like = batch.smear if batch.smear is not None else new.smear
            smear = torch.cat([s if s is not None else like.new_zeros((len(b.streams), *like.shape[1:]))
                               for s, b in ((batch.smear, batch), (new.smear, new))])
        return _Batch(torch.cat([_left_pad(batch.ids, total, self.pad_id, 1), _left_pad(ids, total, self.pad_id, 1)]),
                      torch.cat([_left_pad(batch.mask, total, 0, 1), _left_pad(mask, total, 0, 1)]),
                      merged, batch.streams + streams, smear)

    @torch.inference_mode()
    def _decode(self, batch: _Batch) -> None:
        """One ``generate`` call from the batch's cache, until a row finishes or requests wait to join."""
        length = batch.ids.shape[1]
        budget = max(s.params.max_new_tokens - len(s._reply_ids) for s in batch.streams)
        budget = min(budget, self.max_length - length)
        if budget <= 0:
            for stream in batch.streams:
                stream._finish("length")
            return
        self.batches += 1
        sampler = _RowSampler(batch.streams, self.pad_id)
        config = GenerationConfig(do_sample=False, max_new_tokens=budget, eos_token_id=sorted(self.end_ids),
                                  pad_token_id=self.pad_id, use_cache=True)
        cache = batch.cache() if batch.layers else DynamicCache()
        output = self.model.generate(input_ids=batch.ids, attention_mask=batch.mask, **{CACHE_NAME: cache},
                                     generation_config=config, logits_processor=LogitsProcessorList([sampler]),
                                     stopping_criteria=StoppingCriteriaList([_RowStopper(self, batch.streams, sampler)]))
        grown = output.shape[1] - length
        batch.ids = output
        batch.mask = torch.cat([batch.mask, batch.mask.new_ones((len(batch.streams), grown))], dim=1)
        batch.keep_state(cache)

    def _retire(self, batch: _Batch) -> _Batch | None:
        """Drop finished rows, then the padding columns no remaining row needs."""
        for stream in batch.streams:
            if not stream.done and batch.ids.shape[1] >= self.max_length:
                stream._finish("length")
        keep = [row for row, stream in enumerate(batch.streams) if not stream.done]
        if not keep:
            return None
        index = torch.tensor(keep, device=batch.ids.device)
        mask = batch.mask.index_select(0, index)
        start = int((mask.sum(0) > 0).nonzero()[0])
        layers = [(k.index_select(0, index)[:, :, start:], v.index_select(0, index)[:, :, start:])
                  for k, v in batch.layers]
        smear = batch.smear.index_select(0, index) if batch.smear is not None else None
        return _Batch(batch.ids.index_select(0, index)[:, start:], mask[:, start:], layers,
                      [batch.streams[row] for row in keep], smear)


def _empty_layers(like: list[tuple[torch.Tensor, torch.Tensor]], rows: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Zero-length caches for ``rows`` one-token prompts, shaped like ``like``'s layers."""
    return [(k.new_zeros((rows, k.shape[1], 0, k.shape[3])), v.new_zeros((rows, v.shape[1], 0, v.shape[3])))
            for k, v in like]
