"""The OpenAI routes of `hfchat serve`: ``POST /v1/chat/completions`` (streaming with ``data: [DONE]``, ``usage``,
``stream_options``, tool calls), ``POST /v1/completions`` (``echo`` and ``logprobs`` for lm-eval) and
``GET /v1/models``. An engine failure is a 500 JSON error, or an error event once a stream has begun."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Request
from sse_starlette.sse import EventSourceResponse

from ..inference.chat import ChatTurn, ContextError, GenerationError, tool_call_json
from .schemas import ChatCompletionRequest, CompletionRequest
from .server import ApiError, Server, cancel_on_disconnect, usage

# an engine failure ("error") is never a finish reason here: it is a 500 JSON error, or an error event in a stream
OPENAI_FINISH = {"eos_token": "stop", "stop_sequence": "stop", "length": "length", "cancelled": "stop",
                 "tool_calls": "tool_calls"}


def openai_router(server: Server) -> APIRouter:
    router = APIRouter()
    engine, config = server.engine, server.config

    def generation_error(message: str) -> ApiError:
        return ApiError(500, message, None, "generation")

    def stream_error(message: str) -> str:
        return json.dumps(server.error_payload("/v1", generation_error(message)))

    @router.get("/v1/models")
    async def models():
        return {"object": "list", "data": [{"id": config.model_id, "object": "model", "created": 0,
                                            "owned_by": "hfchat", "max_model_len": server.max_total}]}

    @router.post("/v1/chat/completions")
    async def chat_completions(body: ChatCompletionRequest, request: Request):
        server.count("/v1/chat/completions")
        max_new = body.max_completion_tokens or body.max_tokens or min(config.default_max_new_tokens,
                                                                       server.max_total - 1)
        server.check_lengths(0, max_new, "max_tokens")
        params = server.sampling(body.sampling, max_new)
        messages = [m.as_template_message() for m in body.messages]
        client_tools = body.tools or None  # the client runs its own tools
        turn = ChatTurn(engine, messages, params, tools=client_tools,
                        execute_tools=config.execute_tools and client_tools is None,
                        max_prompt_tokens=min(server.max_input, server.max_total - max_new))
        async with server.slot() as slot:
            started, ident, created = time.perf_counter(), f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
            head = {"id": ident, "created": created, "model": config.model_id}
            events = turn.events()
            try:
                first = await anext(events)  # a prompt that cannot fit fails here, as a 422, before any streaming
            except ContextError as error:
                raise ApiError(422, str(error), "messages") from None
            except GenerationError as error:
                raise generation_error(str(error)) from None
            if body.stream:
                include_usage = bool(body.stream_options and body.stream_options.include_usage)
                chunks = chat_chunks(_chain(first, events), head, include_usage, started, body.logprobs)
                return EventSourceResponse(slot.stream(chunks), ping=15, sep="\n")
            text, tokens, calls, results, done, first_time = [], [], [], [], None, None
            try:
                async for event in _chain(first, cancel_on_disconnect(events, request, turn.cancel)):
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
                raise generation_error(str(error)) from None
        server.record(started, first_time)
        message = {"role": "assistant", "content": "".join(text)}
        if done.finish_reason == "tool_calls":
            message["tool_calls"] = [_openai_call(call, i) for i, call in enumerate(calls)]
        if results:
            message["tool_results"] = results  # calls the server ran (hfchat extension)
        logprobs = chat_logprobs(engine.tokenizer, tokens) if body.logprobs else None
        return {**head, "object": "chat.completion",
                "choices": [{"index": 0, "message": message, "logprobs": logprobs,
                             "finish_reason": OPENAI_FINISH[done.finish_reason]}],
                "usage": usage(done.prompt_tokens, done.completion_tokens)}

    async def chat_chunks(events, head, include_usage, started, with_logprobs) -> AsyncIterator[str]:
        def chunk(delta: dict, finish: str | None = None, logprobs: dict | None = None) -> str:
            return json.dumps({**head, "object": "chat.completion.chunk",
                               "choices": [{"index": 0, "delta": delta, "logprobs": logprobs,
                                            "finish_reason": finish}]})

        first_time, calls = None, 0
        try:
            yield chunk({"role": "assistant", "content": ""})
            async for event in events:
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
                    server.record(started, first_time)
                    yield chunk({}, OPENAI_FINISH[event.finish_reason])
                    if include_usage:
                        yield json.dumps({**head, "object": "chat.completion.chunk", "choices": [],
                                          "usage": usage(event.prompt_tokens, event.completion_tokens)})
            yield "[DONE]"
        except GenerationError as error:
            yield stream_error(str(error))

    @router.post("/v1/completions")
    async def completions(body: CompletionRequest, request: Request):
        server.count("/v1/completions")
        ids = server.prompt_ids(body.prompt, "prompt")
        max_new = 16 if body.max_tokens is None else body.max_tokens
        server.check_lengths(len(ids), max_new, "max_tokens")
        params = server.sampling(body.sampling, max(max_new, 1))
        head = {"id": f"cmpl-{uuid.uuid4().hex}", "created": int(time.time()), "model": config.model_id}
        tokenizer, with_logprobs = engine.tokenizer, body.logprobs is not None
        echoed = tokenizer.decode(ids) if body.echo else ""

        def choice(text: str, finish: str | None, entries=(), offset=0) -> dict:
            logprobs = completion_logprobs(tokenizer, entries, offset) if with_logprobs else None
            return {"index": 0, "text": text, "logprobs": logprobs, "finish_reason": finish}

        async with server.slot() as slot:
            started = time.perf_counter()
            # the prompt's own log-probabilities, for `echo` (lm-eval's log-likelihood requests read them)
            prefill = await asyncio.to_thread(engine.prompt_logprobs, ids, params.top_logprobs) \
                if body.echo and with_logprobs else []
            prompt_entries = [(token, logprob, top) for token, (logprob, top) in zip(ids, prefill)]
            stream = engine.submit(ids, params) if max_new > 0 else None  # 0: lm-eval's log-likelihoods
            if body.stream:
                async def chunks():
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
                        yield stream_error(stream.error)
                        return
                    if stream:
                        server.record(started, stream.first_token_time)
                    reason = OPENAI_FINISH[stream.finish_reason] if stream else "length"
                    yield json.dumps({**head, "object": "text_completion", "choices": [choice("", reason)]})
                    yield "[DONE]"

                return EventSourceResponse(slot.stream(chunks()), ping=15, sep="\n")
            if stream:
                async for _ in cancel_on_disconnect(stream.follow(), request, stream.cancel):
                    pass
        if stream is None:
            return {**head, "object": "text_completion", "choices": [choice(echoed, "length", prompt_entries)],
                    "usage": usage(len(ids), 0)}
        if stream.error:
            raise generation_error(stream.error)
        server.record(started, stream.first_token_time)
        generated = [(token.id, token.logprob, token.top) for token in stream.tokens]
        return {**head, "object": "text_completion",
                "choices": [choice(echoed + stream.text, OPENAI_FINISH[stream.finish_reason],
                                   prompt_entries + generated)],
                "usage": usage(len(ids), len(stream.tokens))}

    return router


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


async def _chain(first, rest: AsyncIterator) -> AsyncIterator:
    yield first
    async for item in rest:
        yield item


async def _nothing() -> AsyncIterator:
    return
    yield
