"""What every route of `hfchat serve` shares: the engine, the token limits, the metrics, request slots and JSON errors.

Both routers (`openai_routes`, `tgi_routes`) take a `Server`. A request holds a slot while it generates:
``async with server.slot() as slot:`` answers 429 when ``max_concurrent_requests`` are in flight and frees the slot
when the block ends, or, for a streamed reply, when the stream that `Slot.stream` wraps ends.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable

from fastapi import Request

from ..inference import Engine, SamplingParams
from .config import ServeConfig


class ApiError(Exception):
    """An error answered as JSON: status, message, the offending field, and the TGI error type."""

    def __init__(self, status: int, message: str, param: str | None = None, error_type: str = "validation"):
        super().__init__(message)
        self.status, self.message, self.param, self.error_type = status, message, param, error_type


class Metrics:
    """Counters for ``/metrics`` and the number of requests in flight."""

    def __init__(self):
        self.lock = threading.Lock()
        self.counters: dict[str, float] = {}
        self.active = 0

    def add(self, name: str, value: float = 1.0) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0.0) + value


class Slot:
    """One request in flight. Entering takes the slot (429 when the server is full); leaving frees it, unless
    `stream` handed it to a streamed reply, which frees it when the stream ends."""

    def __init__(self, server: Server):
        self.server, self._handed, self._freed = server, False, False

    async def __aenter__(self) -> Slot:
        metrics = self.server.metrics
        with metrics.lock:
            if metrics.active >= self.server.config.max_concurrent_requests:
                raise ApiError(429, "the server is at its limit of concurrent requests; retry later", None,
                               "overloaded")
            metrics.active += 1
        return self

    async def __aexit__(self, *exc_info) -> None:
        if not self._handed:
            self._free()

    def stream(self, events: AsyncIterator) -> AsyncIterator:
        """``events``, holding the slot until they end (or the client leaves)."""
        self._handed = True

        async def held():
            try:
                async for item in events:
                    yield item
            finally:
                self._free()

        return held()

    def _free(self) -> None:
        if not self._freed:
            self._freed = True
            with self.server.metrics.lock:
                self.server.metrics.active -= 1


class Server:
    """The engine and what the routes check requests against.

    Args:
        engine: the `Engine` that generates.
        config: limits, model id and tool execution (`ServeConfig`).
    """

    def __init__(self, engine: Engine, config: ServeConfig):
        self.engine, self.config, self.metrics = engine, config, Metrics()
        context = engine.max_length
        self.max_total = min(config.max_total_tokens or context, context)
        self.max_input = min(config.max_input_tokens or self.max_total - 1, self.max_total - 1)

    def slot(self) -> Slot:
        return Slot(self)

    def count(self, route: str) -> None:
        self.metrics.add(f'hfchat_requests_total{{route="{route}"}}')

    def error_payload(self, path: str, error: ApiError) -> dict:
        """The JSON body of an error, as the route's clients expect it (OpenAI's on ``/v1``, TGI's elsewhere)."""
        self.metrics.add(f'hfchat_request_errors_total{{status="{error.status}"}}')
        if path.startswith("/v1"):
            kind = {401: "authentication_error", 429: "rate_limit_error", 500: "server_error"}.get(
                error.status, "invalid_request_error")
            return {"error": {"message": error.message, "type": kind, "param": error.param, "code": None}}
        return {"error": error.message, "error_type": error.error_type}

    def check_lengths(self, prompt_tokens: int, max_new_tokens: int, field_name: str) -> None:
        max_total, max_input = self.max_total, self.max_input
        if max_new_tokens > max_total - 1:
            raise ApiError(422, f"{field_name} must be at most {max_total - 1} (the server's total token limit is "
                                f"{max_total}), got {max_new_tokens}", field_name)
        if prompt_tokens > max_input:
            raise ApiError(422, f"the input has {prompt_tokens} tokens; at most {max_input} are allowed", "inputs")
        if prompt_tokens + max_new_tokens > max_total:
            raise ApiError(422, f"input tokens ({prompt_tokens}) + {field_name} ({max_new_tokens}) must be at most "
                                f"{max_total}", field_name)

    def encode(self, text: str) -> list[int]:
        return self.engine.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(self, prompt: str | list[int], field_name: str) -> list[int]:
        """A prompt given as text or as token ids (lm-eval sends ids), checked against the vocabulary."""
        if isinstance(prompt, str):
            return self.encode(prompt)
        vocabulary = len(self.engine.tokenizer)
        if not all(0 <= token < vocabulary for token in prompt):
            raise ApiError(422, f"{field_name}: token ids must be in [0, {vocabulary})", field_name)
        return list(prompt)

    @staticmethod
    def sampling(build: Callable[..., SamplingParams], *args) -> SamplingParams:
        """``build(*args)``, with a bad sampling value answered as a 422 naming its field."""
        try:
            return build(*args)
        except ValueError as error:
            raise ApiError(422, str(error), str(error).split(" ", 1)[0]) from None

    def record(self, started: float, first: float | None) -> None:
        """Request duration and time to first token, for ``/metrics``."""
        self.metrics.add("hfchat_request_duration_seconds_sum", time.perf_counter() - started)
        self.metrics.add("hfchat_request_duration_seconds_count")
        if first is not None:
            self.metrics.add("hfchat_time_to_first_token_seconds_sum", first - started)
            self.metrics.add("hfchat_time_to_first_token_seconds_count")


def usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


async def cancel_on_disconnect(events: AsyncIterator, request: Request, cancel: Callable[[], None]) -> AsyncIterator:
    """Pass ``events`` through; when the client goes away, ``cancel`` the generation."""
    done = asyncio.Event()

    async def watch():
        while not done.is_set():
            if await request.is_disconnected():
                cancel()
                return
            await asyncio.sleep(0.1)

    watcher = asyncio.create_task(watch())
    try:
        async for item in events:
            yield item
    finally:
        done.set()
        watcher.cancel()
