"""`hfchat serve`: the OpenAI and TGI HTTP APIs and a web chat page over one `Engine`.

Routes (docs/serving.md gives the fields):

- OpenAI: ``POST /v1/chat/completions`` (streaming with ``data: [DONE]``, ``usage``, ``stream_options``),
  ``POST /v1/completions``, ``GET /v1/models``.
- TGI: ``POST /`` (a list with one result, or a stream with ``"stream": true``), ``POST /generate``,
  ``POST /generate_stream``, ``GET /info``, ``GET /health``, ``GET /metrics`` (Prometheus), ``POST /tokenize``.
- ``GET /``: the web chat page.

Generation runs on the engine's worker thread, which batches the requests waiting at the same time. A client that
disconnects cancels its generation. Limits (input tokens, total tokens, concurrent requests: 429 when full),
``--api-key`` (401 without ``Authorization: Bearer KEY``) and CORS (off unless origins are given) come from
`ServeConfig`. Errors are JSON with the offending field: ``{"error": {"message", "type", "param"}}`` on ``/v1``,
``{"error": ..., "error_type": ...}`` on the TGI routes, as their clients expect.

Example (CPU, after the tiny speedrun):
    hfchat serve --model runs/tiny/sft --port 8000
    curl localhost:8000/v1/chat/completions -H 'content-type: application/json' \\
        -d '{"messages": [{"role": "user", "content": "Who are you?"}]}'
"""

from __future__ import annotations

import asyncio
import json
import secrets
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from sse_starlette.sse import EventSourceResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..inference import Engine, SamplingParams
from ..inference.chat import ChatTurn, ContextError, GenerationError, tool_call_json
from .body_guard import BodyGuard
from .config import ServeConfig
from .schemas import ChatCompletionRequest, CompletionRequest, GenerateRequest, TokenizeRequest

# an engine failure ("error") is never a finish reason here: it is a 500 JSON error, or an error event in a stream
OPENAI_FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length", "cancelled": "stop",
                 "tool_calls": "tool_calls"}


class ApiError(Exception):
    """An error answered as JSON: status, message, the offending field, and the TGI error type."""

    def __init__(self, status: int, message: str, param: str | None = None, error_type: str = "validation"):
        super().__init__(message)
        self.status, self.message, self.param, self.error_type = status, message, param, error_type


class _Metrics:
    def __init__(self):
        self.lock = threading.Lock()
        self.counters: dict[str, float] = {}
        self.active = 0

    def add(self, name: str, value: float = 1.0) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0.0) + value


def create_app(engine: Engine, config: ServeConfig | None = None) -> FastAPI:
    """The FastAPI application serving ``engine``."""
    config = config or ServeConfig()
    context = engine.max_length
    max_total = min(config.max_total_tokens or context, context)
    max_input = min(config.max_input_tokens or max_total - 1, max_total - 1)
    metrics = _Metrics()
    app = FastAPI(title="hfchat", description=__doc__.split("\n\n")[0])
    app.state.engine, app.state.config, app.state.metrics = engine, config, metrics
    if config.cors_allow_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=config.cors_allow_origins, allow_methods=["*"],
                           allow_headers=["*"])

    # ------------------------------------------------------------------------------------------- errors and auth
    def error_payload(path: str, error: ApiError) -> dict:
        metrics.add(f'hfchat_request_errors_total{{status="{error.status}"}}')
        if path.startswith("/v1"):
            kind = {401: "authentication_error", 429: "rate_limit_error", 500: "server_error"}.get(
                error.status, "invalid_request_error")
            return {"error": {"message": error.message, "type": kind, "param": error.param, "code": None}}
        return {"error": error.message, "error_type": error.error_type}

    def error_response(request: Request, error: ApiError) -> JSONResponse:
        return JSONResponse(error_payload(request.url.path, error), status_code=error.status)

    # Malformed bodies are answered before any route runs (inside the API-key check below, so 401 comes first).
    app.add_middleware(BodyGuard, max_body_bytes=config.max_body_bytes,
                       error_payload=lambda path, status, message: error_payload(
                           path, ApiError(status, message, "body", "validation")))

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, error: ApiError):
        return error_response(request, error)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, error: RequestValidationError):
        first = error.errors()[0]
        location = [str(part) for part in first.get("loc", ()) if part != "body"]
        param = ".".join(location) or "body"
        return error_response(request, ApiError(422, f"{param}: {first['msg']}", param))  # bodies are JSON here

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, error: StarletteHTTPException):
        return error_response(request, ApiError(error.status_code, str(error.detail), None, "http"))

    @app.middleware("http")
    async def _check_api_key(request: Request, call_next):
        open_route = request.method == "GET" and request.url.path in ("/", "/health")
        if config.api_key and not open_route and request.method != "OPTIONS":
            given = request.headers.get("authorization", "").encode("utf-8")
            if not secrets.compare_digest(given, f"Bearer {config.api_key}".encode("utf-8")):  # constant time
                return error_response(request, ApiError(401, "missing or wrong API key (Authorization: Bearer KEY)",
                                                        "authorization", "authentication"))
        return await call_next(request)

    # ------------------------------------------------------------------------------------------------- helpers
    def check_lengths(prompt_tokens: int, max_new_tokens: int, field_name: str) -> None:
        if max_new_tokens > max_total - 1:
            raise ApiError(422, f"{field_name} must be at most {max_total - 1} (the server's total token limit is "
                                f"{max_total}), got {max_new_tokens}", field_name)
        if prompt_tokens > max_input:
            raise ApiError(422, f"the input has {prompt_tokens} tokens; at most {max_input} are allowed", "inputs")
        if prompt_tokens + max_new_tokens > max_total:
            raise ApiError(422, f"input tokens ({prompt_tokens}) + {field_name} ({max_new_tokens}) must be at most "
                                f"{max_total}", field_name)

    def take_slot() -> None:
        """Count one more request in flight, or answer 429 when ``max_concurrent_requests`` are."""
        with metrics.lock:
            if metrics.active >= config.max_concurrent_requests:
                raise ApiError(429, "the server is at its limit of concurrent requests; retry later", None,
                               "overloaded")
            metrics.active += 1

    def free_slot() -> None:
        with metrics.lock:
            metrics.active -= 1

    def encode(text: str) -> list[int]:
        return engine.tokenizer(text, add_special_tokens=False)["input_ids"]

    def prompt_ids(prompt: str | list[int], field_name: str) -> list[int]:
        """A prompt given as text or as token ids (lm-eval sends ids), checked against the vocabulary."""
        if isinstance(prompt, str):
            return encode(prompt)
        vocabulary = len(engine.tokenizer)
        if not all(0 <= token < vocabulary for token in prompt):
            raise ApiError(422, f"{field_name}: token ids must be in [0, {vocabulary})", field_name)
        return list(prompt)

    def sampling(build, *args) -> SamplingParams:
        try:
            return build(*args)
        except ValueError as error:
            raise ApiError(422, str(error), str(error).split(" ", 1)[0]) from None

    def record(started: float, first: float | None) -> None:
        metrics.add("hfchat_request_duration_seconds_sum", time.perf_counter() - started)
        metrics.add("hfchat_request_duration_seconds_count")
        if first is not None:
            metrics.add("hfchat_time_to_first_token_seconds_sum", first - started)
            metrics.add("hfchat_time_to_first_token_seconds_count")

    # -------------------------------------------------------------------------------------------------- OpenAI
    @app.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": config.model_id, "object": "model", "created": 0,
                                            "owned_by": "hfchat", "max_model_len": max_total}]}

    @app.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        metrics.add('hfchat_requests_total{route="/v1/chat/completions"}')
        max_new = body.max_completion_tokens or body.max_tokens or min(config.default_max_new_tokens, max_total - 1)
        check_lengths(0, max_new, "max_tokens")
        params = sampling(body.sampling, max_new)
        messages = [m.as_template_message() for m in body.messages]
        client_tools = body.tools or None  # the client runs its own tools
        turn = ChatTurn(engine, messages, params, tools=client_tools,
                        execute_tools=config.execute_tools and client_tools is None,
                        max_prompt_tokens=min(max_input, max_total - max_new))
        take_slot()
        started, ident, created = time.perf_counter(), f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
        head = {"id": ident, "created": created, "model": config.model_id}
        events = _in_thread(turn, turn.cancel)
        try:
            first = await _peek(events)  # a prompt that cannot fit fails here, as a 422, before any streaming
        except ContextError as error:
            free_slot()
            raise ApiError(422, str(error), "messages") from None
        except GenerationError as error:
            free_slot()
            raise ApiError(500, str(error), None, "generation") from None
        except BaseException:
            free_slot()
            raise
        if body.stream:
            include_usage = bool(body.stream_options and body.stream_options.include_usage)
            return EventSourceResponse(_chat_chunks(first, events, head, include_usage, started, body.logprobs),
                                       ping=15, sep="\n")
        try:
            text, tokens, calls, results, done, first_time = [], [], [], [], None, None
            async for event in _chain(first, _cancel_on_disconnect(events, request, turn.cancel)):
                first_time = first_time or time.perf_counter()
                if event.type == "text":
                    text.append(event.text)
                    tokens.append(event.token)
                elif event.type == "tool_call":
                    calls.append(event.tool_call)
                elif event.type == "tool_result":
                    results.append({"name": event.tool_call["name"], "arguments": event.tool_call["arguments"],
                                    "content": event.result})
                elif event.type == "done":
                    done = event
        except GenerationError as error:
            raise ApiError(500, str(error), None, "generation") from None
        finally:
            free_slot()
        record(started, first_time)
        message = {"role": "assistant", "content": "".join(text)}
        if done.finish_reason == "tool_calls":
            message["tool_calls"] = [_openai_call(call, i) for i, call in enumerate(calls)]
        if results:
            message["tool_results"] = results  # calls the server ran (hfchat extension)
        logprobs = chat_logprobs(engine.tokenizer, tokens) if body.logprobs else None
        return {**head, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "logprobs": logprobs,
                             "finish_reason": OPENAI_FINISH[done.finish_reason]}],
                "usage": _usage(done.prompt_tokens, done.completion_tokens)}

    async def _chat_chunks(first, events, head, include_usage, started, with_logprobs) -> AsyncIterator[str]:
        def chunk(delta: dict, finish: str | None = None, logprobs: dict | None = None) -> str:
            return json.dumps({**head, "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": delta, "logprobs": logprobs,
                                            "finish_reason": finish}]})

        first_time, calls = None, 0
        try:
            yield chunk({"role": "assistant", "content": ""})
            async for event in _chain(first, events):
                if event.type == "text":
                    first_time = first_time or time.perf_counter()
                    if event.text or with_logprobs:
                        logprobs = chat_logprobs(engine.tokenizer, [event.token]) if with_logprobs else None
                        yield chunk({"content": event.text}, logprobs=logprobs)
                elif event.type == "tool_call":
                    yield chunk({"tool_calls": [_openai_call(event.tool_call, calls)]})
                    calls += 1
                elif event.type == "tool_result":
                    yield chunk({"tool_result": {"name": event.tool_call["name"], "content": event.result}})
                elif event.type == "done":
                    record(started, first_time)
                    yield chunk({}, OPENAI_FINISH[event.finish_reason])
                    if include_usage:
                        yield json.dumps({**head, "object": "chat.completion.chunk", "choices": [],
                                          "usage": _usage(event.prompt_tokens, event.completion_tokens)})
            yield "[DONE]"
        except GenerationError as error:
            yield json.dumps(error_payload("/v1", ApiError(500, str(error), None, "generation")))
        finally:
            free_slot()

    @app.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        metrics.add('hfchat_requests_total{route="/v1/completions"}')
        ids = prompt_ids(body.prompt, "prompt")
        max_new = 16 if body.max_tokens is None else body.max_tokens
        check_lengths(len(ids), max_new, "max_tokens")
        params = sampling(body.sampling, max(max_new, 1))
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": config.model_id}
        tokenizer, with_logprobs = engine.tokenizer, body.logprobs is not None
        echoed = tokenizer.decode(ids) if body.echo else ""
        take_slot()
        started = time.perf_counter()
        try:  # the prompt's own log-probabilities, for `echo` (lm-eval's log-likelihood requests read them)
            prefill = await asyncio.to_thread(engine.prompt_logprobs, ids, params.top_logprobs) \
                if body.echo and with_logprobs else []
        except BaseException:
            free_slot()
            raise
        stream = engine.submit(ids, params) if max_new > 0 else None

        def choice(text: str, finish: str | None, entries=(), offset=0) -> dict:
            logprobs = completion_logprobs(tokenizer, entries, offset) if with_logprobs else None
            return {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}

        prompt_entries = [(token, logprob, top) for token, (logprob, top) in zip(ids, prefill)]
        if body.stream:
            async def chunks():
                try:
                    if echoed:
                        yield json.dumps({**head, "object": "text_completion",
                                          "choices": [choice(echoed, None, prompt_entries)]})
                    offset = len(echoed)
                    async for token in stream.follow() if stream else _nothing():
                        if token.text or with_logprobs:
                            yield json.dumps({**head, "object": "text_completion", "choices": [
                                choice(token.text, None, [(token.id, token.logprob, token.top)], offset)]})
                            offset += len(tokenizer.decode([token.id]))
                    if stream and stream.error:
                        yield json.dumps(error_payload("/v1", ApiError(500, stream.error, None, "generation")))
                        return
                    if stream:
                        record(started, stream.first_token_time)
                    reason = OPENAI_FINISH[stream.finish_reason] if stream else "length"
                    yield json.dumps({**head, "object": "text_completion", "choices": [choice("", reason)]})
                    yield "[DONE]"
                finally:
                    free_slot()

            return EventSourceResponse(chunks(), ping=15, sep="\n")
        try:
            if stream:
                async for _ in _cancel_on_disconnect(stream.follow(), request, stream.cancel):
                    pass
        finally:
            free_slot()
        if stream is None:
            return {**head, "object": "text_completion", "choices": [choice(echoed, "length", prompt_entries)],
                    "usage": _usage(len(ids), 0)}
        if stream.error:
            raise ApiError(500, stream.error, None, "generation")
        record(started, stream.first_token_time)
        generated = [(token.id, token.logprob, token.top) for token in stream.tokens]
        return {**head, "object": "text_completion",
                "choices": [choice(echoed + stream.text, OPENAI_FINISH[stream.finish_reason],
                                   prompt_entries + generated)],
                "usage": _usage(len(ids), len(stream.tokens))}

    # ----------------------------------------------------------------------------------------------------- TGI
    def start_generate(body: GenerateRequest):
        ids = encode(body.inputs)
        params = sampling(body.parameters.sampling, min(config.default_max_new_tokens, 100))
        check_lengths(len(ids), params.max_new_tokens, "parameters.max_new_tokens")
        return ids, params, engine.submit(ids, params)

    def details(params, stream, prefill: list[dict] | None) -> dict:
        """TGI's ``details``: with ``prefill`` (the prompt's tokens), every token, and ``top_tokens`` with
        ``top_n_tokens``."""
        tokenizer = engine.tokenizer
        out = {"finish_reason": stream.finish_reason if stream.finish_reason in ("length", "eos_token",
                                                                                  "stop_sequence") else "length",
               "generated_tokens": len(stream.tokens), "seed": params.seed}
        if prefill is not None:
            out["prefill"] = prefill
            out["tokens"] = [tgi_token(tokenizer, t.id, t.logprob, t.special) for t in stream.tokens]
            out["top_tokens"] = [tgi_top_tokens(tokenizer, t) for t in stream.tokens] if params.top_logprobs else None
            out["best_of_sequences"] = None
        return out

    async def prefill_details(ids: list[int]) -> list[dict]:
        tokenizer = engine.tokenizer
        scored = await asyncio.to_thread(engine.prompt_logprobs, ids)
        return [{"id": token, "text": tokenizer.decode([token]), "logprob": logprob}
                for token, (logprob, _) in zip(ids, scored)]

    async def generate_once(body: GenerateRequest, request: Request) -> dict:
        take_slot()
        try:
            started = time.perf_counter()
            ids, params, stream = start_generate(body)
            async for _ in _cancel_on_disconnect(stream.follow(), request, stream.cancel):
                pass
            wants_prefill = body.parameters.details and body.parameters.decoder_input_details
            prefill = await prefill_details(ids) if wants_prefill else []
        finally:
            free_slot()
        record(started, stream.first_token_time)
        if stream.error:
            raise ApiError(500, stream.error, None, "generation")
        text = (body.inputs + stream.text) if body.parameters.return_full_text else stream.text
        result = {"generated_text": text}
        if body.parameters.details:
            result["details"] = details(params, stream, prefill)
        return result

    def generate_events(body: GenerateRequest):
        take_slot()
        try:
            started = time.perf_counter()
            ids, params, stream = start_generate(body)
        except BaseException:
            free_slot()
            raise

        async def events():
            try:
                index = 0
                async for token in stream.follow():
                    index += 1
                    event = {"index": index, "token": {"id": token.id, "text": token.text, "logprob": token.logprob,
                                                       "special": token.special},
                             "generated_text": None, "details": None,
                             "top_tokens": tgi_top_tokens(engine.tokenizer, token) if params.top_logprobs else None}
                    if stream.done and index == len(stream.tokens):
                        record(started, stream.first_token_time)
                        event["generated_text"] = stream.text
                        event["details"] = details(params, stream, None)
                    yield json.dumps(event)
                if stream.error:
                    yield json.dumps({"error": stream.error, "error_type": "generation"})
            finally:
                free_slot()

        return EventSourceResponse(events(), ping=15, sep="\n")

    @app.post("/generate")
    async def generate(body: GenerateRequest, request: Request):
        metrics.add('hfchat_requests_total{route="/generate"}')
        return await generate_once(body, request)

    @app.post("/generate_stream")
    async def generate_stream(body: GenerateRequest):
        metrics.add('hfchat_requests_total{route="/generate_stream"}')
        return generate_events(body)

    @app.post("/")
    async def compat_generate(body: GenerateRequest, request: Request):
        metrics.add('hfchat_requests_total{route="/"}')
        if body.stream:
            return generate_events(body)
        return [await generate_once(body, request)]

    @app.post("/tokenize")
    async def tokenize(body: TokenizeRequest):
        encoding = engine.tokenizer(body.inputs, add_special_tokens=False, return_offsets_mapping=True)
        return [{"id": i, "text": body.inputs[start:stop], "start": start, "stop": stop}
                for i, (start, stop) in zip(encoding["input_ids"], encoding["offset_mapping"])]

    @app.get("/info")
    async def info():
        from .. import __version__

        return {"model_id": config.model_id, "model_sha": None, "model_dtype": str(engine.model.dtype),
                "model_device_type": engine.model.device.type, "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": config.max_concurrent_requests, "max_best_of": 1,
                "max_stop_sequences": 4, "max_input_tokens": max_input, "max_total_tokens": max_total,
                "max_batch_size": engine.max_batch_size, "validation_workers": 1, "router": "hfchat",
                "version": __version__, "sha": None, "docker_label": None}

    @app.get("/health")
    async def health():
        return {}

    @app.get("/metrics")
    async def prometheus():
        lines = []
        with metrics.lock:
            counters, active = dict(metrics.counters), metrics.active
        values = {**counters, "hfchat_active_requests": active, "hfchat_generate_calls_total": engine.batches,
                  "hfchat_decode_steps_total": engine.decode_steps, "hfchat_decode_rows_total": engine.decode_rows,
                  "hfchat_queue_size": engine.queue_size}
        for reason, (requests, tokens) in sorted(engine.finished.items()):
            values[f'hfchat_finished_total{{reason="{reason}"}}'] = requests
            values[f'hfchat_finished_tokens_total{{reason="{reason}"}}'] = tokens
        values["hfchat_generated_tokens_total"] = sum(tokens for _, tokens in engine.finished.values())
        for name in sorted(values):
            base = name.split("{")[0]
            kind = "gauge" if base in ("hfchat_active_requests", "hfchat_queue_size") else "counter"
            if f"# TYPE {base} " not in "".join(lines):
                lines.append(f"# TYPE {base} {kind}\n")
            lines.append(f"{name} {values[name]:g}\n")
        return PlainTextResponse("".join(lines), media_type="text/plain; version=0.0.4")

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return HTMLResponse(resources.files("hfchat.serving").joinpath("chat.html").read_text(encoding="utf-8"))

    return app


def _openai_call(call: dict, index: int) -> dict:
    return {"index": index, "id": f"call_{uuid.uuid4().hex[:12]}", "type": "function",
            "function": {"name": call["name"], "arguments": tool_call_json(call)}}


def chat_logprobs(tokenizer, tokens: list) -> dict:
    """OpenAI's chat ``logprobs``: each token's text, log-probability, UTF-8 bytes and ``top_logprobs``."""
    def entry(token_id: int, logprob: float) -> dict:
        text = tokenizer.decode([token_id])
        return {"token": text, "logprob": logprob, "bytes": list(text.encode("utf-8", "surrogatepass"))}

    return {"content": [{**entry(t.id, t.logprob), "top_logprobs": [entry(i, lp) for i, lp in t.top]}
                        for t in tokens], "refusal": None}


def completion_logprobs(tokenizer, entries, offset: int = 0) -> dict:
    """OpenAI's completion ``logprobs`` for (token id, log-probability or None, top pairs) entries: tokens,
    token_logprobs, top_logprobs (text -> log-probability) and text_offset (from ``offset``)."""
    tokens, logprobs, tops, offsets = [], [], [], []
    for token_id, logprob, top in entries:
        text = tokenizer.decode([token_id])
        tokens.append(text)
        logprobs.append(logprob)
        alternatives: dict[str, float] = {}
        for i, lp in top:  # most likely first: tokens whose texts are equal keep the higher log-probability
            alternatives.setdefault(tokenizer.decode([i]), lp)
        tops.append(None if logprob is None else alternatives)
        offsets.append(offset)
        offset += len(text)
    return {"tokens": tokens, "token_logprobs": logprobs, "top_logprobs": tops, "text_offset": offsets}


def tgi_token(tokenizer, token_id: int, logprob: float, special: bool) -> dict:
    return {"id": token_id, "text": tokenizer.decode([token_id]), "logprob": logprob, "special": special}


def tgi_top_tokens(tokenizer, token) -> list[dict]:
    special = set(tokenizer.all_special_ids)
    return [tgi_token(tokenizer, i, lp, i in special) for i, lp in token.top]


async def _nothing():
    return
    yield


def _usage(prompt: int, completion: int) -> dict:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


_END = object()


async def _in_thread(iterable: Iterable, cancel) -> AsyncIterator:
    """Iterate a blocking iterable on its own thread; leaving early (a disconnect, an error) calls ``cancel``."""
    loop, queue = asyncio.get_running_loop(), asyncio.Queue()

    def put(item) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, item)
        except RuntimeError:  # the event loop is gone (server shutting down)
            cancel()

    def pump() -> None:
        try:
            for item in iterable:
                put((item, None))
            put((_END, None))
        except BaseException as error:  # handed to the awaiting side
            put((_END, error))

    threading.Thread(target=pump, daemon=True).start()
    finished = False
    try:
        while True:
            item, error = await queue.get()
            if item is _END:
                finished = True
                if error is not None:
                    raise error
                return
            yield item
    finally:
        if not finished:
            cancel()


async def _peek(events: AsyncIterator):
    """The first item of ``events`` (errors raised before anything is produced surface here)."""
    return await events.__anext__()


async def _chain(first, rest: AsyncIterator) -> AsyncIterator:
    yield first
    async for item in rest:
        yield item


async def _cancel_on_disconnect(events: AsyncIterator, request: Request, cancel) -> AsyncIterator:
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
