"""Lossless export to transformers' own Llama or Qwen3 classes.

hfchat's default layout (gated SiLU MLP, RMSNorm, rotary embeddings, no biases, QK-norm) is exactly Qwen3's, and
with ``qk_norm=False`` exactly Llama's: the weights keep their names and values, only ``config.json`` changes (no
``auto_map``, so the folder loads without ``trust_remote_code``). A model that those classes cannot run (ReLU² MLP,
logit soft-capping, or QK-norm for Llama) is refused with the reason.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from ..files import replace_folder

TARGETS = ("llama", "qwen3")


class ExportError(ValueError):
    """The model cannot be exported to the asked format; the message says why."""


def check_exportable(config, target: str) -> None:
    """Raise `ExportError` when transformers' ``target`` class would not compute the same function."""
    if target not in TARGETS:
        raise ExportError(f"--to {target!r}: choose from {', '.join(TARGETS)} (or gguf)")
    if config.hidden_act != "silu":
        raise ExportError(f"hidden_act={config.hidden_act!r}: Llama and Qwen3 have a gated SiLU MLP, which a "
                          f"{config.hidden_act} MLP cannot be converted to; load this model with "
                          "trust_remote_code=True instead")
    if config.final_logit_softcapping:
        raise ExportError(f"final_logit_softcapping={config.final_logit_softcapping}: Llama and Qwen3 have no logit "
                          "soft-capping, so their logits would differ; load this model with trust_remote_code=True")
    if target == "llama" and config.qk_norm:
        raise ExportError("qk_norm=True: Llama has no QK-norm; export --to qwen3, whose layout this is")
    if target == "qwen3" and not config.qk_norm:
        raise ExportError("qk_norm=False: Qwen3 always normalises queries and keys; export --to llama, whose "
                          "layout this is")


def reference_config(config, target: str):
    """The `LlamaConfig` / `Qwen3Config` with the same shape, tokens and rotary settings as ``config``."""
    from transformers import LlamaConfig, Qwen3Config

    check_exportable(config, target)
    shape = {
        "vocab_size": config.vocab_size, "hidden_size": config.hidden_size,
        "intermediate_size": config.intermediate_size, "num_hidden_layers": config.num_hidden_layers,
        "num_attention_heads": config.num_attention_heads, "num_key_value_heads": config.num_key_value_heads,
        "head_dim": config.head_dim, "hidden_act": "silu", "rms_norm_eps": config.rms_norm_eps,
        "max_position_embeddings": config.max_position_embeddings,
        "rope_parameters": {"rope_type": "default", "rope_theta": config.rope_theta},
        "tie_word_embeddings": config.tie_word_embeddings, "attention_bias": False,
        "bos_token_id": config.bos_token_id, "eos_token_id": config.eos_token_id, "pad_token_id": config.pad_token_id,
    }  # fmt: skip
    if target == "llama":
        return LlamaConfig(**shape, mlp_bias=False)
    return Qwen3Config(**shape, use_sliding_window=False)


def export_transformers(model: str | os.PathLike, target: str, output: str | os.PathLike) -> Path:
    """Write ``model`` (an hfchat folder or Hub id) as a ``target`` ("llama" or "qwen3") folder at ``output``:
    weights (safetensors, same dtype), config, generation config and tokenizer with its chat template."""
    from transformers import LlamaForCausalLM, Qwen3ForCausalLM

    from ..inference.loading import load_model

    source, tokenizer = load_model(str(model), device="cpu")
    if source.config.model_type != "hfchat":
        raise ExportError(f"--model {model}: a {source.config.model_type!r} model, not an hfchat one")
    config = reference_config(source.config, target)
    exported = (LlamaForCausalLM if target == "llama" else Qwen3ForCausalLM)(config).to(source.dtype)
    exported.load_state_dict(source.state_dict(), strict=True)
    exported.generation_config = source.generation_config

    def fill(folder: Path) -> None:
        exported.save_pretrained(folder)
        tokenizer.save_pretrained(folder)
        # transformers 5 writes rope_parameters only; older readers (transformers 4.x, vLLM, llama.cpp's converter)
        # look for rope_theta
        config_path = folder / "config.json"
        fields = json.loads(config_path.read_text())
        fields.setdefault("rope_theta", source.config.rope_theta)
        config_path.write_text(json.dumps(fields, indent=2) + "\n")

    return replace_folder(output, fill)


@torch.inference_mode()
def compare_logits(model: str | os.PathLike, exported: str | os.PathLike, prompt: str = "The quick brown fox",
                   new_tokens: int = 16) -> dict:
    """Load both folders (the export without remote code) and compare them on ``prompt``: the largest absolute
    logit difference over the prompt and the greedy continuation, and whether ``new_tokens`` greedy tokens agree."""
    from transformers import AutoModelForCausalLM

    from ..inference.loading import load_model

    ours, tokenizer = load_model(str(model), device="cpu")
    theirs = AutoModelForCausalLM.from_pretrained(exported, dtype=ours.dtype).eval()
    inputs = tokenizer(prompt, return_tensors="pt")
    settings = {"max_new_tokens": new_tokens, "do_sample": False, "eos_token_id": None, "pad_token_id":
                tokenizer.pad_token_id, "min_new_tokens": new_tokens}
    ours_tokens = ours.generate(**inputs, **settings)[0]
    theirs_tokens = theirs.generate(**inputs, **settings)[0]
    difference = (ours(ours_tokens[None]).logits.float() - theirs(ours_tokens[None]).logits.float()).abs().max()
    return {"class": type(theirs).__name__, "max_abs_logit_diff": difference.item(),
            "greedy_tokens_equal": bool(torch.equal(ours_tokens, theirs_tokens)), "tokens": len(ours_tokens)}
