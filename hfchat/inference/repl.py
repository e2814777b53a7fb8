"""`hfchat chat`: talk to a model in the terminal.

Replies stream as they are generated; calculator calls and their results show in brackets. Ctrl-C stops the
current reply (what was said so far stays in the conversation), Ctrl-D or ``/quit`` leaves. A line ending in a
backslash continues on the next line. Commands:

    /reset              forget the conversation (the system prompt stays)
    /set key=value ...  change sampling: temperature, top_k, top_p, min_p, repetition_penalty, max_new_tokens, seed
    /save FILE          write the conversation as JSON
    /help               this list

Example (CPU, after the tiny speedrun):
    hfchat chat --model runs/tiny/sft
    hfchat chat --model runs/tiny/sft -p "Who are you?"
"""

from __future__ import annotations

import json
import sys
from dataclasses import fields

from ..files import write_json_atomic
from .chat import ChatTurn, ContextError
from .engine import Engine
from .params import SamplingParams

HELP = __doc__.split("Commands:")[1].split("Example")[0].rstrip()
PROMPT, CONTINUATION = ">>> ", "... "


class Repl:
    """The conversation, its sampling parameters and the commands that change them."""

    def __init__(self, engine: Engine, params: SamplingParams, system: str | None = None, *, tools: bool = True,
                 out=sys.stdout):
        self.engine, self.params, self.system, self.tools, self.out = engine, params, system, tools, out
        self.messages: list[dict] = self._fresh()

    def _fresh(self) -> list[dict]:
        return [{"role": "system", "content": self.system}] if self.system else []

    def say(self, text: str) -> None:
        """Send one user message and print the reply as it streams."""
        self.messages.append({"role": "user", "content": text})
        turn, shown = ChatTurn(self.engine, self.messages, self.params, execute_tools=self.tools), []
        try:
            for event in turn:
                if event.type == "text":
                    shown.append(event.text)
                    self._write(event.text)
                elif event.type == "tool_call":
                    self._write(f"\n[{event.tool_call['name']}] {json.dumps(event.tool_call['arguments'])}")
                elif event.type == "tool_result":
                    self._write(f" -> {event.result}\n")
                elif event.type == "done":
                    self.messages.extend(event.messages)
                    if event.dropped_messages:
                        self._write(f"\n(the {event.dropped_messages} oldest messages no longer fit the context)")
        except KeyboardInterrupt:
            turn.cancel()
            self.messages.append({"role": "assistant", "content": "".join(shown)})
            self._write(" [stopped]")
        except ContextError as error:
            self.messages.pop()
            self._write(f"error: {error}")
        self._write("\n")

    def command(self, line: str) -> bool:
        """Run a /command; False when it asks to leave."""
        name, _, rest = line.partition(" ")
        rest = rest.strip()
        if name in ("/quit", "/exit"):
            return False
        if name == "/reset":
            self.messages = self._fresh()
            self._write("(conversation cleared)\n")
        elif name == "/set":
            self._write(self._set(rest) + "\n")
        elif name == "/save":
            if not rest:
                self._write("usage: /save FILE\n")
            else:
                write_json_atomic(rest, {"messages": self.messages})
                self._write(f"(saved {len(self.messages)} messages to {rest})\n")
        elif name == "/help":
            self._write(HELP.strip("\n") + "\n")
        else:
            self._write(f"unknown command {name}; /help lists them\n")
        return True

    def _set(self, assignments: str) -> str:
        if not assignments:
            return ", ".join(f"{f.name}={getattr(self.params, f.name)}" for f in fields(self.params))
        changes = {}
        for item in assignments.split():
            key, _, value = item.partition("=")
            if key not in SamplingParams.field_names() or not value:
                return f"usage: /set key=value (keys: {', '.join(SamplingParams.field_names())})"
            try:
                changes[key] = json.loads(value)
            except json.JSONDecodeError:
                changes[key] = value
        try:
            self.params = self.params.replace(**changes)
        except (ValueError, TypeError) as error:
            return f"error: {error}"
        return ", ".join(f"{key}={getattr(self.params, key)}" for key in changes)

    def _write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()


def read_message(first_prompt: str = PROMPT) -> str:
    """One user message from the terminal; a trailing backslash continues it on the next line."""
    lines, prompt = [], first_prompt
    while True:
        line = input(prompt)
        if line.endswith("\\"):
            lines.append(line[:-1])
            prompt = CONTINUATION
            continue
        lines.append(line)
        return "\n".join(lines)


def run(engine: Engine, params: SamplingParams, system: str | None = None, prompt: str | None = None,
        tools: bool = True) -> int:
    """One-shot (``prompt``) or interactive chat; returns the exit status."""
    repl = Repl(engine, params, system, tools=tools)
    if prompt is not None:
        repl.say(prompt)
        return 0
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    print(f"hfchat chat: {engine.model.name_or_path} ({engine.model.num_parameters():,} parameters). "
          "Ctrl-C stops a reply, Ctrl-D leaves, /help for commands.")
    while True:
        try:
            line = read_message()
        except KeyboardInterrupt:
            print()
            continue
        except EOFError:
            print()
            return 0
        if not line.strip():
            continue
        if line.startswith("/"):
            if not repl.command(line.strip()):
                return 0
            continue
        repl.say(line)
