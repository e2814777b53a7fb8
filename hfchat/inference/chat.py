"""One assistant turn of a conversation: prompt fitting, streamed text, and calculator calls run in the sandbox.

`ChatTurn` renders the conversation with the model's chat template, drops the oldest turns (never the system
prompt or the newest user turn) when it would not leave room for ``max_new_tokens``, and streams `ChatEvent`s:

- ``text``: reply text as it is generated (tool-call markup is not shown as text);
- ``tool_call``: the model called a tool (``{"name": ..., "arguments": {...}}``);
- ``tool_result``: the tool's answer, which goes back to the model as a ``tool`` turn before it continues;
- ``done``: the finish reason, token counts, and the messages this turn adds to the conversation.

Example (CPU):
    >>> from hfchat.inference import Engine, SamplingParams
    >>> from hfchat.inference.chat import ChatTurn
    >>> engine = Engine.from_pretrained("runs/tiny/sft")                          # doctest: +SKIP
    >>> turn = ChatTurn(engine, [{"role": "user", "content": "What is 17 * 23?"}])  # doctest: +SKIP
    >>> for event in turn: print(event.type, event.text or event.tool_call or event.result or "")  # doctest: +SKIP
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import AsyncIterator, Generator, Iterator
from dataclasses import dataclass, field

from ..chat_encoding import encode_chat
from ..tokenizer import TOOL_CALL_START, parse_tool_calls
from ..tools.calculator import run_tool_call
from .engine import Engine, Stream, Token
from .params import SamplingParams


@dataclass
class ChatEvent:
    """One thing that happened in a turn; which fields are set depends on ``type`` (see the module docstring)."""

    type: str
    text: str = ""
    token: Token | None = None  # "text" events: the generated token the text came with
    tool_call: dict | None = None
    result: str | None = None
    finish_reason: str | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped_messages: int = 0
    messages: list[dict] = field(default_factory=list)


class GenerationError(RuntimeError):
    """The engine failed while generating a reply (the message names the error)."""


class ContextError(ValueError):
    """The newest turn alone does not fit the model's context with room for the reply."""


def fit_conversation(tokenizer, messages: list[dict], max_prompt_tokens: int,
                     tools: list[dict] | None = None) -> tuple[list[int], int]:
    """(prompt token ids, number of messages dropped): the oldest turns after the system prompt go first, a user
    message together with the replies and tool turns that follow it, until the prompt fits."""
    system = [m for m in messages[:1] if m.get("role") == "system"]
    rest = messages[len(system):]
    starts = [0] + [i for i, m in enumerate(rest) if m.get("role") == "user" and i > 0]
    for start in starts:
        ids = encode_prompt(tokenizer, system + rest[start:], tools)
        if len(ids) <= max_prompt_tokens:
            return ids, start
    raise ContextError(f"the newest message needs {len(ids)} prompt tokens but only {max_prompt_tokens} fit "
                       f"(context minus max_new_tokens); shorten it or lower max_new_tokens")


def encode_prompt(tokenizer, messages: list[dict], tools: list[dict] | None = None) -> list[int]:
    """Token ids of ``messages`` rendered by the chat template, ending with the assistant's generation prompt; what
    the messages say is text, never control tokens (`hfchat.chat_encoding`)."""
    return encode_chat(tokenizer, messages, tools=tools, add_generation_prompt=True)


class ChatTurn:
    """Generate the assistant's next turn for ``messages``; iterate for `ChatEvent`s, `cancel` from any thread.

    Args:
        engine: the `Engine` that generates.
        messages: the conversation so far (OpenAI-style dicts: role, content, optional tool_calls).
        params: sampling parameters (``max_new_tokens`` is per generation round).
        tools: tool schemas listed in the prompt (None: none listed; the builtin chat data calls the calculator
            without a list).
        execute_tools: run calls to the tools hfchat has (the calculator) and continue; else stop at the call.
        max_tool_rounds: at most this many tool calls per turn.
        max_prompt_tokens: a prompt limit below the model's (the server's ``--max-input-tokens``).
    """

    def __init__(self, engine: Engine, messages: list[dict], params: SamplingParams | None = None, *,
                 tools: list[dict] | None = None, execute_tools: bool = True, max_tool_rounds: int = 4,
                 max_prompt_tokens: int | None = None):
        if not messages:
            raise ValueError("messages is empty: a conversation needs at least one message")
        self.engine, self.messages, self.params = engine, list(messages), params or SamplingParams()
        self.tools, self.execute_tools, self.max_tool_rounds = tools, execute_tools, max_tool_rounds
        self.max_prompt_tokens = max_prompt_tokens
        self._tool_start = engine.tokenizer.convert_tokens_to_ids(TOOL_CALL_START)
        self._stream: Stream | None = None
        self._cancelled = threading.Event()

    def cancel(self) -> None:
        self._cancelled.set()
        if self._stream is not None:
            self._stream.cancel()

    def __iter__(self) -> Iterator[ChatEvent]:
        """The turn's events, blocking: for a thread (the REPL, tests)."""
        plan, reply = self._plan(), None
        while (step := _advance(plan, reply)) is not None:
            reply = None
            if isinstance(step, Stream):
                watch = _ToolCallWatch(self._tool_start)
                for token in step:
                    if event := watch.text_event(token):
                        yield event
                reply = watch.in_call
            elif isinstance(step, _ToolRun):
                reply = run_tool_call(step.call)
            else:
                yield step

    async def events(self) -> AsyncIterator[ChatEvent]:
        """The turn's events in an event loop (the server): tokens come through `Stream.follow`, tools run in a
        worker thread, and leaving early cancels the generation."""
        plan, reply = self._plan(), None
        try:
            while (step := _advance(plan, reply)) is not None:
                reply = None
                if isinstance(step, Stream):
                    watch = _ToolCallWatch(self._tool_start)
                    async for token in step.follow():
                        if event := watch.text_event(token):
                            yield event
                    reply = watch.in_call
                elif isinstance(step, _ToolRun):
                    reply = await asyncio.to_thread(run_tool_call, step.call)
                else:
                    yield step
        finally:
            self.cancel()  # a no-op once the turn is over

    def _plan(self) -> Generator[ChatEvent | Stream | _ToolRun, object, None]:
        """The turn without waiting on anything: yields a `Stream` to follow (then receives whether a tool call
        began in it), a `_ToolRun` to run (then receives its result), or an event to pass on."""
        tokenizer, budget = self.engine.tokenizer, self.engine.max_length - self.params.max_new_tokens
        budget = min(budget, self.max_prompt_tokens or budget)
        if budget < 1:
            raise ContextError(f"max_new_tokens {self.params.max_new_tokens} leaves no room for a prompt in the "
                               f"model's context of {self.engine.max_length} tokens")
        conversation, added = list(self.messages), []
        prompt_ids, dropped = fit_conversation(tokenizer, conversation, budget, self.tools)
        prompt_tokens, completion_tokens, reason = len(prompt_ids), 0, "length"
        for round_ in range(self.max_tool_rounds + 1):
            self._stream = stream = self.engine.submit(prompt_ids, self.params, tool_markup=True)
            if self._cancelled.is_set():
                stream.cancel()
            in_call = yield stream
            completion_tokens += len(stream.tokens)
            reason = stream.finish_reason
            if stream.error:
                raise GenerationError(stream.error)
            visible, calls = _split_tool_calls(stream.text)
            if in_call and not calls:  # unparseable call: show what the model wrote rather than lose it
                yield ChatEvent("text", text=stream.text[len(visible):])
            if not calls or reason not in ("eos_token", "stop_sequence"):
                added.append({"role": "assistant", "content": stream.text if not calls else visible})
                break
            added.append({"role": "assistant", "content": visible, "tool_calls": [
                {"type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}} for c in calls]})
            for call in calls:
                yield ChatEvent("tool_call", tool_call=call)
            if not self.execute_tools or round_ == self.max_tool_rounds or self._cancelled.is_set():
                reason = "tool_calls" if not self._cancelled.is_set() else "cancelled"
                break
            for call in calls:
                result = yield _ToolRun(call)
                added.append({"role": "tool", "name": call["name"], "content": result})
                yield ChatEvent("tool_result", tool_call=call, result=result)
            prompt_ids, more = fit_conversation(tokenizer, conversation + added, budget, self.tools)
            dropped = max(dropped, more)
        yield ChatEvent("done", finish_reason=reason, prompt_tokens=prompt_tokens,
                        completion_tokens=completion_tokens, dropped_messages=dropped, messages=added)


@dataclass(frozen=True)
class _ToolRun:
    """A tool call the turn's driver runs; the result is sent back into the plan."""

    call: dict


class _ToolCallWatch:
    """Text events for the tokens of one generation, until a tool call begins (its markup is not text)."""

    def __init__(self, tool_start: int | None):
        self.tool_start, self.in_call = tool_start, False

    def text_event(self, token: Token) -> ChatEvent | None:
        self.in_call = self.in_call or token.id == self.tool_start
        if self.in_call or token.special:
            return None
        return ChatEvent("text", text=token.text, token=token)  # text may be "" while a character is incomplete


def _advance(plan: Generator, reply: object):
    """The plan's next step, having sent it ``reply``; None when the turn is over."""
    try:
        return plan.send(reply)
    except StopIteration:
        return None


def _split_tool_calls(text: str) -> tuple[str, list[dict]]:
    """(the text before the first tool call, the parsed calls)."""
    head = text.split(TOOL_CALL_START, 1)[0]
    return head.rstrip("\n"), parse_tool_calls(text)


def tool_call_json(call: dict) -> str:
    """The ``arguments`` of a parsed call as the JSON string the OpenAI API carries."""
    return json.dumps(call.get("arguments", {}), ensure_ascii=False)
