"""`ServeConfig`: the limits and options of one server, importable without the ``serve`` extra (the ``hfchat``
command builds its flags from it)."""

from dataclasses import dataclass, field

from .body_guard import DEFAULT_MAX_BODY_BYTES


@dataclass
class ServeConfig:
    """Limits and options of one server (`hfchat serve`'s flags are made from these fields)."""

    model_id: str = field(default="hfchat", metadata={
        "help": "the name /v1/models and /info report (default: the --model given)"})
    max_input_tokens: int | None = field(default=None, metadata={
        "help": "longest prompt accepted (default: the model's context minus one)"})
    max_total_tokens: int | None = field(default=None, metadata={
        "help": "prompt plus new tokens (default: the model's context)"})
    max_concurrent_requests: int = field(default=64, metadata={"help": "requests beyond this many get 429"})
    default_max_new_tokens: int = field(default=256, metadata={"help": "new tokens when a request names none"})
    api_key: str | None = field(default=None, metadata={
        "help": "require 'Authorization: Bearer KEY' on every route but the page and /health"})
    cors_allow_origins: list[str] = field(default_factory=list, metadata={
        "nargs": "*", "help": "origins allowed by CORS (default: none, CORS off)"})
    execute_tools: bool = field(default=True, metadata={"help": "run the calculator when the model calls it"})
    max_body_bytes: int = field(default=DEFAULT_MAX_BODY_BYTES, metadata={"help": "larger request bodies get 413"})
