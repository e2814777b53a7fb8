"""Sampling parameters of one generation request, validated with errors that name the field.

Example:
    >>> from hfchat.inference.params import SamplingParams
    >>> SamplingParams(temperature=0.7, top_p=0.9, max_new_tokens=64).greedy
    False
    >>> SamplingParams(temperature=-1)
    Traceback (most recent call last):
    ...
    ValueError: temperature must be >= 0 (0 means greedy), got -1
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

# The most alternatives a request may ask for at each position (OpenAI's `top_logprobs` limit).
MAX_TOP_LOGPROBS = 20


@dataclass
class SamplingParams:
    """How to pick each next token and when to stop (each field's ``help`` says what it does; ``hfchat chat``'s
    flags are made from them)."""

    max_new_tokens: int = field(default=256, metadata={"help": "at most this many generated tokens per reply"})
    temperature: float = field(default=0.0, metadata={"help": "0 for greedy decoding, else the softmax temperature"})
    top_k: int = field(default=0, metadata={"help": "keep the k most likely tokens (0: all)"})
    top_p: float = field(default=1.0, metadata={
        "help": "keep the smallest set of tokens whose probability reaches p (1.0: all)"})
    min_p: float = field(default=0.0, metadata={
        "help": "drop tokens less likely than min_p times the most likely one (0.0: none)"})
    repetition_penalty: float = field(default=1.0, metadata={
        "help": "CTRL-style penalty: above 1 discourages tokens already in the prompt or reply (1.0: none)"})
    stop: list[str] = field(default_factory=list, metadata={
        "help": "strings that end the reply when generated (not included in the returned text)"})
    seed: int | None = field(default=None, metadata={
        "help": "seed of this request's own random generator (reproducible sampling even inside a batch)"})
    top_logprobs: int = field(default=0, metadata={
        "help": "with each generated token, the log-probabilities of this many most likely tokens at its position "
                "(0: none; at most MAX_TOP_LOGPROBS)"})

    def __post_init__(self):
        self.validate()

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def validate(self) -> None:
        """Raise ValueError naming the first field with a wrong type or an out-of-range value."""
        checks = (
            ("max_new_tokens", int, lambda v: v >= 1, ">= 1"),
            ("temperature", (int, float), lambda v: v >= 0, ">= 0 (0 means greedy)"),
            ("top_k", int, lambda v: v >= 0, ">= 0 (0 means no limit)"),
            ("top_p", (int, float), lambda v: 0 < v <= 1, "in (0, 1]"),
            ("min_p", (int, float), lambda v: 0 <= v < 1, "in [0, 1)"),
            ("repetition_penalty", (int, float), lambda v: v > 0, "> 0"),
            ("top_logprobs", int, lambda v: 0 <= v <= MAX_TOP_LOGPROBS, f"in [0, {MAX_TOP_LOGPROBS}]"),
        )
        for name, kind, ok, expected in checks:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, kind):
                raise ValueError(f"{name} must be a number, got {value!r}")
            if not ok(value):
                raise ValueError(f"{name} must be {expected}, got {value!r}")
        if isinstance(self.stop, str):
            self.stop = [self.stop]
        if not isinstance(self.stop, (list, tuple)) or not all(isinstance(s, str) and s for s in self.stop):
            raise ValueError(f"stop must be a list of non-empty strings, got {self.stop!r}")
        self.stop = list(self.stop)
        if self.seed is not None and (isinstance(self.seed, bool) or not isinstance(self.seed, int)):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")

    def replace(self, **changes) -> SamplingParams:
        """A copy with some fields changed (validated)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def field_names(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]
