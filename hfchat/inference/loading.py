"""Loading a model folder or Hub id for generation, with one clear error when it does not load."""

from __future__ import annotations

import os

import torch


def load_model(name_or_path: str, dtype: torch.dtype | str | None = None, device: str | None = None):
    """(model in eval mode, tokenizer) from a folder or Hub id; `ValueError` naming it when it does not load.

    ``dtype`` defaults to the checkpoint's own ("auto"), ``device`` to cuda when available, else cpu.
    """
    from transformers import AutoModelForCausalLM, AutoTokenizer

    import hfchat.modeling  # noqa: F401  (registers the architecture, so no remote code is run for our models)

    looks_local = name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1  # hub ids: "org/name"
    if looks_local and not os.path.isdir(os.path.expanduser(name_or_path)):
        raise ValueError(f"--model {name_or_path!r}: no such folder")
    try:
        tokenizer = AutoTokenizer.from_pretrained(name_or_path, trust_remote_code=True)
        model = AutoModelForCausalLM.from_pretrained(name_or_path, trust_remote_code=True, dtype=dtype or "auto")
    except (OSError, ValueError, KeyError) as error:
        raise ValueError(f"--model {name_or_path!r} does not load as a causal language model: {error}") from error
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    return model.eval(), tokenizer
