"""The exact command that serves a model in TGI, vLLM or llama.cpp (``hfchat serve-command``).

>>> print(serve_command("me/tiny-chat-qwen3", "vllm", exported=True))
vllm serve me/tiny-chat-qwen3 --port 8080
>>> print(serve_command("me/tiny-chat", "vllm", exported=False))
vllm serve me/tiny-chat --port 8080 --model-impl transformers --trust-remote-code

An hfchat model (``model_type: hfchat``) runs through the engines' transformers backends with its remote code; its
Llama/Qwen3 export (``hfchat export``) runs on their native, fastest kernels. For a local folder the kind is read
from its ``config.json``; for a Hub id, ``exported`` says which it is (default: the hfchat model).
"""

from __future__ import annotations

import json
import shlex
from pathlib import Path

ENGINES = ("tgi", "vllm", "llamacpp")
TGI_IMAGE = "ghcr.io/huggingface/text-generation-inference:latest"
QUANTIZE = {  # engine -> --quantize values and the engine's own flag for each
    "tgi": {"bnb-4bit": "--quantize bitsandbytes-nf4", "bnb-8bit": "--quantize bitsandbytes",
            "fp8": "--quantize fp8", "eetq": "--quantize eetq"},
    "vllm": {"bnb-4bit": "--quantization bitsandbytes", "fp8": "--quantization fp8"},
    "llamacpp": {"q8_0": "q8_0", "f16": "f16", "f32": "f32"},
}


def is_exported(model: str) -> bool | None:
    """Whether a local folder holds a Llama/Qwen3 export (None for a Hub id, which is not read offline)."""
    config = Path(model).expanduser() / "config.json"
    if not config.is_file():
        return None
    return json.loads(config.read_text()).get("model_type") != "hfchat"


def _context(model: str) -> int | None:
    config = Path(model).expanduser() / "config.json"
    return json.loads(config.read_text()).get("max_position_embeddings") if config.is_file() else None


def serve_command(model: str, engine: str, *, exported: bool | None = None, quantize: str | None = None,
                  port: int = 8080) -> str:
    """The shell command(s) that serve ``model`` (a Hub id, a folder, or for llama.cpp a ``.gguf`` file) with
    ``engine`` on ``port``, with the OpenAI-compatible API."""
    if engine not in ENGINES:
        raise ValueError(f"--engine {engine!r}: choose from {', '.join(ENGINES)}")
    if quantize is not None and quantize not in QUANTIZE[engine]:
        raise ValueError(f"--quantize {quantize!r} is not available for {engine}; choose from "
                         f"{', '.join(QUANTIZE[engine])}")
    local = Path(model).expanduser().exists()
    found = is_exported(model)
    exported = found if found is not None else bool(exported)
    if engine == "llamacpp":
        return _llamacpp(model, quantize or "f16", port)
    if model.endswith(".gguf"):
        raise ValueError(f"--model {model}: a GGUF file is served by llama.cpp (--engine llamacpp)")
    context = _context(model)
    if engine == "vllm":
        parts = ["vllm", "serve", shlex.quote(model), "--port", str(port)]
        if context:
            parts += ["--max-model-len", str(context)]
        if not exported:
            parts += ["--model-impl", "transformers", "--trust-remote-code"]
    else:
        mount = ["-v", f"{Path(model).expanduser().resolve()}:/model"] if local else ["-v", "$PWD/tgi-data:/data"]
        parts = ["docker", "run", "--gpus", "all", "--shm-size", "1g", "-p", f"{port}:80", *mount, TGI_IMAGE,
                 "--model-id", "/model" if local else shlex.quote(model)]
        if context:
            parts += ["--max-input-tokens", str(context - 1), "--max-total-tokens", str(context)]
        if not exported:
            parts.append("--trust-remote-code")
    if quantize:
        parts += QUANTIZE[engine][quantize].split()
    return " ".join(parts)


def _llamacpp(model: str, outtype: str, port: int) -> str:
    if model.endswith(".gguf"):
        gguf, steps = model, []
    else:
        gguf = f"{Path(model).name or 'model'}-{outtype}.gguf"
        steps = [f"hfchat export --model {shlex.quote(model)} --to gguf --outtype {outtype} --output {gguf}"]
    context = _context(model)
    steps.append(f"llama-server -m {shlex.quote(gguf)} --port {port} --jinja" + (f" -c {context}" if context else ""))
    return "\n".join(steps)
