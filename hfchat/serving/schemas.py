"""Request bodies of the OpenAI and TGI routes, validated by pydantic (a wrong field is a 422 naming it).

Unknown fields are ignored, as OpenAI-compatible servers do, so that clients sending newer options still work.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..inference import SamplingParams


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ContentPart(_Lenient):
    type: str
    text: str = ""


class ToolCallFunction(_Lenient):
    name: str
    arguments: str | dict


class ToolCall(_Lenient):
    id: str | None = None
    type: str = "function"
    function: ToolCallFunction


class ChatMessage(_Lenient):
    role: Literal["system", "user", "assistant", "tool"]
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None

    def as_template_message(self) -> dict:
        """The message as our chat template reads it (text parts joined, tool-call arguments as objects)."""
        content = self.content
        if isinstance(content, list):
            content = "".join(part.text for part in content if part.type == "text")
        message = {"role": self.role, "content": content or ""}
        if self.name:
            message["name"] = self.name
        if self.tool_calls:
            message["tool_calls"] = [{"type": "function", "function": {"name": call.function.name,
                                                                       "arguments": _arguments(call.function)}}
                                     for call in self.tool_calls]
        return message


def _arguments(function: ToolCallFunction) -> dict | str:
    if isinstance(function.arguments, dict):
        return function.arguments
    import json

    try:
        return json.loads(function.arguments)
    except json.JSONDecodeError:
        return function.arguments


class StreamOptions(_Lenient):
    include_usage: bool = False


class _Sampling(_Lenient):
    """The sampling fields shared by the OpenAI routes (plus vLLM-style top_k, min_p, repetition_penalty)."""

    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, gt=0, le=1)
    top_k: int | None = Field(None, ge=0)
    min_p: float | None = Field(None, ge=0, lt=1)
    repetition_penalty: float | None = Field(None, gt=0)
    stop: str | list[str] | None = None
    seed: int | None = None
    n: int = Field(1, ge=1, le=1)
    stream: bool = False
    stream_options: StreamOptions | None = None

    @field_validator("stop")
    @classmethod
    def _stops(cls, value):
        if isinstance(value, str):
            value = [value]
        if value is not None and (len(value) > 4 or not all(value)):
            raise ValueError("at most 4 non-empty stop strings")
        return value

    def sampling(self, max_new_tokens: int) -> SamplingParams:
        return SamplingParams(max_new_tokens=max_new_tokens,
                              temperature=1.0 if self.temperature is None else self.temperature,
                              top_p=self.top_p or 1.0, top_k=self.top_k or 0, min_p=self.min_p or 0.0,
                              repetition_penalty=self.repetition_penalty or 1.0, stop=self.stop or [], seed=self.seed)


class ChatCompletionRequest(_Sampling):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[dict] | None = None
    tool_choice: str | dict | None = None


class CompletionRequest(_Sampling):
    model: str | None = None
    prompt: str | list[str]
    max_tokens: int | None = Field(None, ge=1)

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value):
        if isinstance(value, list):
            if len(value) != 1:
                raise ValueError("one prompt per request (a list of exactly one string)")
            value = value[0]
        if not value:
            raise ValueError("prompt is empty")
        return value


class GenerateParameters(_Lenient):
    """TGI's ``parameters`` object."""

    max_new_tokens: int | None = Field(None, ge=1)
    do_sample: bool = False
    temperature: float | None = Field(None, gt=0)
    top_k: int | None = Field(None, gt=0)
    top_p: float | None = Field(None, gt=0, lt=1)
    min_p: float | None = Field(None, ge=0, lt=1)
    repetition_penalty: float | None = Field(None, gt=0)
    stop: list[str] = Field(default_factory=list, max_length=4)
    seed: int | None = None
    details: bool = False
    decoder_input_details: bool = False
    return_full_text: bool = False
    best_of: int | None = Field(None, ge=1, le=1)

    def sampling(self, default_max_new_tokens: int) -> SamplingParams:
        sample = self.do_sample or any(v is not None for v in (self.temperature, self.top_k, self.top_p))
        return SamplingParams(
            max_new_tokens=self.max_new_tokens or default_max_new_tokens,
            temperature=(self.temperature or 1.0) if sample else 0.0, top_k=self.top_k or 0,
            top_p=self.top_p or 1.0, min_p=self.min_p or 0.0, repetition_penalty=self.repetition_penalty or 1.0,
            stop=[s for s in self.stop if s], seed=self.seed)


class GenerateRequest(_Lenient):
    inputs: str = Field(min_length=1)
    parameters: GenerateParameters = Field(default_factory=GenerateParameters)
    stream: bool = False


class TokenizeRequest(_Lenient):
    inputs: str
