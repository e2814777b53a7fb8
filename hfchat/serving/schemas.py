"""Request bodies of the OpenAI and TGI routes, validated by pydantic (a wrong field is a 422 naming it).

Fields that would change what a request means but that hfchat does not implement (`UNSUPPORTED_OPENAI`,
`UNSUPPORTED_TGI`) are a 422 when set to anything but their neutral value; every other unknown field is a hint
and is ignored, as OpenAI-compatible servers do, so that clients sending newer options still work.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from ..inference import SamplingParams
from ..inference.params import MAX_TOP_LOGPROBS


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore")


# field -> its neutral values: anything else asks for behaviour hfchat does not have
UNSUPPORTED_OPENAI = {"logit_bias": (None, {}), "frequency_penalty": (None, 0, 0.0), "presence_penalty": (None, 0, 0.0),
                      "response_format": (None, {"type": "text"}), "suffix": (None, ""), "best_of": (None, 1)}
UNSUPPORTED_TGI = {"watermark": (None, False), "grammar": (None,), "truncate": (None,), "typical_p": (None,),
                   "frequency_penalty": (None, 0, 0.0), "adapter_id": (None,)}


def _refuse(data, unsupported: dict[str, tuple]):
    if isinstance(data, dict):
        for name, neutral in unsupported.items():
            if name in data and data[name] not in neutral:
                raise ValueError(f"{name} is not supported by hfchat serve (got {data[name]!r})")
    return data


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

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data):
        return _refuse(data, UNSUPPORTED_OPENAI)

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

    def top_alternatives(self) -> int:
        return 0

    def sampling(self, max_new_tokens: int) -> SamplingParams:
        return SamplingParams(max_new_tokens=max_new_tokens,
                              temperature=1.0 if self.temperature is None else self.temperature,
                              top_p=self.top_p or 1.0, top_k=self.top_k or 0, min_p=self.min_p or 0.0,
                              repetition_penalty=self.repetition_penalty or 1.0, stop=self.stop or [], seed=self.seed,
                              top_logprobs=self.top_alternatives())


class ChatCompletionRequest(_Sampling):
    model: str | None = None
    messages: list[ChatMessage] = Field(min_length=1)
    max_tokens: int | None = Field(None, ge=1)
    max_completion_tokens: int | None = Field(None, ge=1)
    tools: list[dict] | None = None
    tool_choice: str | dict | None = None
    logprobs: bool = False
    top_logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)

    @model_validator(mode="after")
    def _top_needs_logprobs(self):
        if self.top_logprobs and not self.logprobs:
            raise ValueError("top_logprobs needs logprobs: true")
        return self

    def top_alternatives(self) -> int:
        return self.top_logprobs or 0


class CompletionRequest(_Sampling):
    model: str | None = None
    prompt: str | list[str] | list[int] | list[list[int]]
    max_tokens: int | None = Field(None, ge=0)
    logprobs: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    echo: bool = False

    @field_validator("prompt")
    @classmethod
    def _one_prompt(cls, value):
        """One prompt: a string or its token ids (a list of one of either is the same prompt)."""
        if isinstance(value, list) and value and not isinstance(value[0], int):
            if len(value) != 1:
                raise ValueError("one prompt per request (a list of exactly one string or token-id list)")
            value = value[0]
        if not value:
            raise ValueError("prompt is empty")
        return value

    @model_validator(mode="after")
    def _nothing_to_do(self):
        if self.max_tokens == 0 and not self.echo:
            raise ValueError("max_tokens: 0 needs echo: true (the prompt's log-probabilities are then all there is)")
        return self

    def top_alternatives(self) -> int:
        return self.logprobs or 0


class GenerateParameters(_Lenient):
    """TGI's ``parameters`` object."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_unsupported(cls, data):
        return _refuse(data, UNSUPPORTED_TGI)

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
    top_n_tokens: int | None = Field(None, ge=0, le=MAX_TOP_LOGPROBS)
    return_full_text: bool = False
    best_of: int | None = Field(None, ge=1, le=1)

    def sampling(self, default_max_new_tokens: int) -> SamplingParams:
        sample = self.do_sample or any(v is not None for v in (self.temperature, self.top_k, self.top_p))
        return SamplingParams(
            max_new_tokens=self.max_new_tokens or default_max_new_tokens,
            temperature=(self.temperature or 1.0) if sample else 0.0, top_k=self.top_k or 0,
            top_p=self.top_p or 1.0, min_p=self.min_p or 0.0, repetition_penalty=self.repetition_penalty or 1.0,
            stop=[s for s in self.stop if s], seed=self.seed, top_logprobs=self.top_n_tokens or 0)


class GenerateRequest(_Lenient):
    inputs: str = Field(min_length=1)
    parameters: GenerateParameters = Field(default_factory=GenerateParameters)
    stream: bool = False


class TokenizeRequest(_Lenient):
    inputs: str
