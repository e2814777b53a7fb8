"""Loading a model folder or Hub id for generation, with one clear error when it does not load."""

from __future__ import annotations

import os

import torch

QUANTIZATION = ("4bit", "8bit")


TRUST_REMOTE_CODE_HELP = ("run the Python code stored with a model that is not hfchat's (off by default: hfchat's own "
                          "architecture and transformers' need none)")


def load_model(name_or_path: str, dtype: torch.dtype | str | None = None, device: str | None = None,
               quantization: str | None = None, trust_remote_code: bool = False):
    """(model in eval mode, tokenizer) from a folder or Hub id; `ValueError` naming it when it does not load.

    A repository's own Python code runs only with ``trust_remote_code`` (``--trust-remote-code``): hfchat models load
    through the architecture registered on import, transformers' models through transformers; anything else with
    code of its own is refused with an error that names the flag.

    ``dtype`` defaults to the checkpoint's own ("auto"), ``device`` to cuda when available, else cpu.
    ``quantization`` "4bit" (NF4, computing in float32 on CPU and bfloat16 on GPU) or "8bit" (LLM.int8) loads the
    linear layers through bitsandbytes, on CPU as on GPU.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import hfchat.modeling  # noqa: F401  (registers the architecture, so no remote code is run for our models)

    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1  # hub ids: "org/name"
    if looks_local and not os.path.isdir(os.path.expanduser(name_or_path)):
        raise ValueError(f"--model {name_or_path!r}: no such folder")
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    options = {"dtype": dtype or "auto"}
    if quantization is not None:
        options.update(_quantization_options(quantization, device))
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=trust_remote_code)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=trust_remote_code, **options)
    except (OSError, ValueError, KeyError) as error:
        if not trust_remote_code and "trust_remote_code" in str(error):
            raise ValueError(f"--model {name_or_path!r} contains its own Python code, which hfchat runs only when "
                             "asked: pass --trust-remote-code (trust_remote_code: true in a recipe) if you trust "
                             "it") from None
        raise ValueError(f"--model {name_or_path!r} does not load as a causal language model: {error}") from error
    if quantization is None:
        model.to(device)
    return model.eval(), tokenizer


def _quantization_options(quantization: str, device: str) -> dict:
    """``from_pretrained`` keywords that quantize with bitsandbytes onto ``device``."""
    import logging
    import warnings

    from transformers import BitsAndBytesConfig

    if quantization not in QUANTIZATION:
        raise ValueError(f"quantization {quantization!r}: choose from {', '.join(QUANTIZATION)} (--load-in-4bit, "
                         "--load-in-8bit)")
    # On CPUs with AVX-512 BF16, bitsandbytes asks the `kernels` package for a faster 4-bit kernel downloaded from
    # the Hub at run time (code hfchat does not install or run unasked) and warns when it cannot; its own CPU kernel
    # then runs, with the same results. The warning is about that download, so it is not shown.
    logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
    try:
        import bitsandbytes  # noqa: F401
    except ImportError as error:
        raise ValueError(f"--load-in-4bit/--load-in-8bit need the {error.name or 'bitsandbytes'} package: "
                         "pip install 'hfchat[quant]'") from None
    on_cpu = torch.device(device).type == "cpu"
    if quantization == "4bit":
        config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4",
                                    bnb_4bit_compute_dtype=torch.float32 if on_cpu else torch.bfloat16)
    else:
        config = BitsAndBytesConfig(load_in_8bit=True)
        # int8 matmuls take float16 inputs; bitsandbytes says so on every call
        warnings.filterwarnings("ignore", message="MatMul8bitLt: inputs will be cast")
    return {"quantization_config": config, "device_map": {"": device}}


def gguf_to_folder(gguf_file: str | os.PathLike, output: str | os.PathLike):
    """A GGUF file (llama.cpp's format: a Llama, Qwen, ... model) as a float32 transformers folder at ``output``.

    transformers dequantizes GGUF weights on load but refuses to ``save_pretrained`` a model loaded that way, so the
    model is rebuilt from its config (without the GGUF quantization record) and given the dequantized weights. The
    tokenizer, its chat template and the generation config come along. Returns ``output`` as a `Path`.
    """
    from pathlib import Path

    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..files import replace_folder

    gguf_file = Path(gguf_file)
    if not gguf_file.is_file():
        raise ValueError(f"{gguf_file}: no such GGUF file")
    options = {"gguf_file": gguf_file.name}
    loaded = AutoModelForCausalLM.from_pretrained(gguf_file.parent, dtype=torch.float32, **options)
    tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, **options)
    config = loaded.config
    config.__dict__.pop("quantization_config", None)
    model = type(loaded)(config)
    model.load_state_dict(loaded.state_dict())
    model.generation_config = loaded.generation_config

    def fill(folder: Path) -> None:
        model.save_pretrained(folder)
        tokenizer.save_pretrained(folder)

    return replace_folder(output, fill)
