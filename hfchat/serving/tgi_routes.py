"""The TGI routes of `hfchat serve`: ``POST /`` (a list with one result, or a stream with ``"stream": true``),
``POST /generate``, ``POST /generate_stream``, ``POST /tokenize``, ``GET /info``, ``GET /health`` and ``GET /metrics``
(Prometheus), with the fields `text-generation` and `huggingface_hub.InferenceClient` read."""

from __future__ import annotations

import asyncio
import json
import time

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse
from sse_starlette.sse import EventSourceResponse

from .schemas import GenerateRequest, TokenizeRequest
from .server import ApiError, Server, cancel_on_disconnect

TGI_FINISH = ("length", "eos_token", "stop_sequence")  # anything else (cancelled) reads as "length"


def tgi_router(server: Server) -> APIRouter:
    router = APIRouter()
    engine, config = server.engine, server.config

    def start_generate(body: GenerateRequest):
        ids = server.encode(body.inputs)
        params = server.sampling(body.parameters.sampling, min(config.default_max_new_tokens, 100))
        server.check_lengths(len(ids), params.max_new_tokens, "parameters.max_new_tokens")
        return ids, params, engine.submit(ids, params)

    def details(params, stream, prefill: list[dict] | None) -> dict:
        """TGI's ``details``: with ``prefill`` (the prompt's tokens), every token, and ``top_tokens`` with
        ``top_n_tokens``."""
        tokenizer = engine.tokenizer
        out = {"finish_reason": stream.finish_reason if stream.finish_reason in TGI_FINISH else "length",
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
        async with server.slot():
            started = time.perf_counter()
            ids, params, stream = start_generate(body)
            async for _ in cancel_on_disconnect(stream.follow(), request, stream.cancel):
                pass
            wants_prefill = body.parameters.details and body.parameters.decoder_input_details
            prefill = await prefill_details(ids) if wants_prefill else []
        server.record(started, stream.first_token_time)
        if stream.error:
            raise ApiError(500, stream.error, None, "generation")
        text = (body.inputs + stream.text) if body.parameters.return_full_text else stream.text
        result = {"generated_text": text}
        if body.parameters.details:
            result["details"] = details(params, stream, prefill)
        return result

    async def generate_events(body: GenerateRequest) -> EventSourceResponse:
        async with server.slot() as slot:
            started = time.perf_counter()
            ids, params, stream = start_generate(body)

            async def events():
                index = 0
                async for token in stream.follow():
                    index += 1
                    event = {"index": index, "token": {"id": token.id, "text": token.text, "logprob": token.logprob,
                                                       "special": token.special},
                             "generated_text": None, "details": None,
                             "top_tokens": tgi_top_tokens(engine.tokenizer, token) if params.top_logprobs else None}
                    if stream.done and index == len(stream.tokens):
                        server.record(started, stream.first_token_time)
                        event["generated_text"] = stream.text
                        event["details"] = details(params, stream, None)
                    yield json.dumps(event)
                if stream.error:
                    yield json.dumps({"error": stream.error, "error_type": "generation"})

            return EventSourceResponse(slot.stream(events()), ping=15, sep="\n")

    @router.post("/generate")
    async def generate(body: GenerateRequest, request: Request):
        server.count("/generate")
        return await generate_once(body, request)

    @router.post("/generate_stream")
    async def generate_stream(body: GenerateRequest):
        server.count("/generate_stream")
        return await generate_events(body)

    @router.post("/")
    async def compat_generate(body: GenerateRequest, request: Request):
        server.count("/")
        if body.stream:
            return await generate_events(body)
        return [await generate_once(body, request)]

    @router.post("/tokenize")
    async def tokenize(body: TokenizeRequest):
        encoding = engine.tokenizer(body.inputs, add_special_tokens=False, return_offsets_mapping=True)
        return [{"id": i, "text": body.inputs[start:stop], "start": start, "stop": stop}
                for i, (start, stop) in zip(encoding["input_ids"], encoding["offset_mapping"])]

    @router.get("/info")
    async def info():
        from .. import __version__

        return {"model_id": config.model_id, "model_sha": None, "model_dtype": str(engine.model.dtype),
                "model_device_type": engine.model.device.type, "model_pipeline_tag": "text-generation",
                "max_concurrent_requests": config.max_concurrent_requests, "max_best_of": 1,
                "max_stop_sequences": 4, "max_input_tokens": server.max_input, "max_total_tokens": server.max_total,
                "max_batch_size": engine.max_batch_size, "validation_workers": 1, "router": "hfchat",
                "version": __version__, "sha": None, "docker_label": None}

    @router.get("/health")
    async def health():
        return {}

    @router.get("/metrics")
    async def prometheus():
        return PlainTextResponse(prometheus_text(server), media_type="text/plain; version=0.0.4")

    return router


def prometheus_text(server: Server) -> str:
    """The server's counters and the engine's in Prometheus' text format."""
    engine, metrics = server.engine, server.metrics
    with metrics.lock:
        counters, active = dict(metrics.counters), metrics.active
    values = {**counters, "hfchat_active_requests": active, "hfchat_prefills_total": engine.prefills,
              "hfchat_decode_steps_total": engine.decode_steps, "hfchat_decode_rows_total": engine.decode_rows,
              "hfchat_queue_size": engine.queue_size}
    for reason, (requests, tokens) in sorted(engine.finished.items()):
        values[f'hfchat_finished_total{{reason="{reason}"}}'] = requests
        values[f'hfchat_finished_tokens_total{{reason="{reason}"}}'] = tokens
    values["hfchat_generated_tokens_total"] = sum(tokens for _, tokens in engine.finished.values())
    lines, typed = [], set()
    for name in sorted(values):
        base = name.split("{")[0]
        if base not in typed:
            typed.add(base)
            kind = "gauge" if base in ("hfchat_active_requests", "hfchat_queue_size") else "counter"
            lines.append(f"# TYPE {base} {kind}\n")
        lines.append(f"{name} {values[name]:g}\n")
    return "".join(lines)


def tgi_token(tokenizer, token_id: int, logprob: float, special: bool) -> dict:
    return {"id": token_id, "text": tokenizer.decode([token_id]), "logprob": logprob, "special": special}


def tgi_top_tokens(tokenizer, token) -> list[dict]:
    special = set(tokenizer.all_special_ids)
    return [tgi_token(tokenizer, i, lp, i in special) for i, lp in token.top]
