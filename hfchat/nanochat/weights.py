"""A nanochat checkpoint's config and state dict as an `HFChatConfig` and an `HFChatForCausalLM` state dict.

What maps to what (nanochat's ``GPT`` -> hfchat's model):

- ``transformer.wte`` / ``lm_head`` / ``value_embeds.<i>``: the same tables with nanochat's padding rows (to a
  multiple of 64) sliced off; logits are soft-capped at 15 after that, as nanochat does.
- ``attn.c_q/c_k/c_v/c_proj``, ``mlp.c_fc/c_proj``: ``q/k/v/o_proj``, ``mlp.up_proj/down_proj`` (ReLU², 4x).
  nanochat rotates the pair (x1, x2) of each head by the opposite angle to transformers' "rotate half": negating the
  second half of every query and key head turns one into the other, and leaves every attention score as it was.
- nanochat's norms have no weights: here they are RMSNorms with weights of one, with float32's epsilon (what
  ``F.rms_norm`` uses when given none); the query and key norms come after the rotary embedding, as nanochat's do,
  and carry its 1.2 scale in their weights. Before 2026 nanochat kept its rotary tables in bfloat16; the import of
  such a checkpoint rounds them the same way (``rotary_table_dtype``).
- ``ve_gate``, ``smear_gate``, ``smear_lambda``, ``resid_lambdas``, ``x0_lambdas``, ``backout_lambda``: the
  options of the same names in `HFChatConfig`, which hfchat's model implements.
- ``window_pattern``: ``S`` layers slide over ``short + 1`` keys (transformers counts the query's own key, nanochat
  does not), ``short`` being a quarter of ``sequence_len`` rounded up to 128; ``L`` layers (the last one always)
  are full attention. Up to ``sequence_len + 1`` tokens this is nanochat's attention exactly; past that, nanochat's
  long layers keep sliding over ``sequence_len`` keys where hfchat's see them all.
"""

from __future__ import annotations

import math

import torch

from ..modeling import HFChatConfig

# nanochat's GPTConfig fields this importer knows; a newer nanochat's extra field is refused by name.
KNOWN_CONFIG_KEYS = frozenset({"sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd",
                               "window_pattern"})
REQUIRED_CONFIG_KEYS = ("sequence_len", "vocab_size", "n_layer", "n_head", "n_kv_head", "n_embd")
LOGIT_SOFTCAP = 15.0
FLOAT32_EPS = torch.finfo(torch.float32).eps


class NanochatFormatError(ValueError):
    """A checkpoint this importer cannot convert; the message names the file, field or tensor."""


def _architecture(state: dict[str, torch.Tensor]) -> str:
    return "current" if "resid_lambdas" in state else "classic"


def rope_theta(architecture: str) -> float:
    """nanochat's rotary base: 100,000 since value embeddings arrived, 10,000 before."""
    return 100_000.0 if architecture == "current" else 10_000.0


def qk_scale(architecture: str) -> float:
    """The factor nanochat multiplies normalised queries and keys by (1.2 in the current architecture)."""
    return 1.2 if architecture == "current" else 1.0


def window_layers(model_config: dict) -> tuple[list[str] | None, int | None]:
    """(layer_types, sliding_window) for nanochat's ``window_pattern``; (None, None) when every layer is full."""
    pattern = str(model_config.get("window_pattern", "L")).upper()
    if not pattern or set(pattern) - {"S", "L"}:
        raise NanochatFormatError(f"model_config.window_pattern: only S and L are known, got {pattern!r}")
    layers = model_config["n_layer"]
    kinds = [pattern[i % len(pattern)] for i in range(layers)]
    kinds[-1] = "L"
    if "S" not in kinds:
        return None, None
    short = math.ceil(model_config["sequence_len"] / 4 / 128) * 128
    return ["sliding_attention" if kind == "S" else "full_attention" for kind in kinds], short + 1


def check_model_config(model_config, source: str) -> dict:
    """The checkpoint's ``model_config``, with every field this importer needs and none it does not know."""
    if not isinstance(model_config, dict):
        raise NanochatFormatError(f"{source}: no `model_config` object (nanochat's base_train.py writes one)")
    unknown = sorted(set(model_config) - KNOWN_CONFIG_KEYS)
    if unknown:
        raise NanochatFormatError(f"{source}: model_config.{unknown[0]} is not a field this importer knows (a newer "
                                  f"nanochat?); known: {', '.join(sorted(KNOWN_CONFIG_KEYS))}")
    for key in REQUIRED_CONFIG_KEYS:
        value = model_config.get(key)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise NanochatFormatError(f"{source}: model_config.{key} must be a positive integer, got {value!r}")
    return model_config


def hfchat_config(model_config: dict, state: dict[str, torch.Tensor], **token_ids) -> HFChatConfig:
    """The `HFChatConfig` of a nanochat model; the optional parts are read off the state dict."""
    layers, width, heads = model_config["n_layer"], model_config["n_embd"], model_config["n_head"]
    architecture = _architecture(state)
    layer_types, sliding_window = window_layers(model_config)
    value_layers = sorted(int(key.split(".")[1]) for key in state if key.startswith("value_embeds."))
    gate = state.get(f"transformer.h.{value_layers[0]}.attn.ve_gate.weight") if value_layers else None
    smear = state.get("smear_gate.weight")
    return HFChatConfig(
        vocab_size=model_config["vocab_size"],
        hidden_size=width,
        intermediate_size=4 * width,
        num_hidden_layers=layers,
        num_attention_heads=heads,
        num_key_value_heads=model_config["n_kv_head"],
        head_dim=width // heads,
        hidden_act="relu2",
        qk_norm=True,
        qk_norm_after_rope=True,
        rotary_table_dtype="bfloat16" if architecture == "classic" else None,
        max_position_embeddings=model_config["sequence_len"],
        rope_theta=rope_theta(architecture),
        rms_norm_eps=FLOAT32_EPS,
        tie_word_embeddings=False,
        final_logit_softcapping=LOGIT_SOFTCAP,
        layer_types=layer_types,
        sliding_window=sliding_window,
        embedding_norm=True,
        value_embedding_layers=value_layers or None,
        value_gate_channels=gate.shape[1] if gate is not None else 12,
        smear_channels=smear.shape[1] if smear is not None else None,
        layer_scalars="resid_lambdas" in state,
        backout_layer=layers // 2 if "backout_lambda" in state else None,
        **token_ids,
    )


def _negate_second_halves(weight: torch.Tensor, head_dim: int) -> torch.Tensor:
    """Rows of a query/key projection with the second half of every head negated (see the module docstring)."""
    heads = weight.view(-1, head_dim, weight.shape[1]).clone()
    heads[:, head_dim // 2 :] *= -1
    return heads.view_as(weight)


def hfchat_state_dict(state: dict[str, torch.Tensor], config: HFChatConfig) -> dict[str, torch.Tensor]:
    """nanochat's tensors under hfchat's names, every one of them used (an unknown tensor is refused by name)."""
    vocab, head_dim = config.vocab_size, config.head_dim
    scale = qk_scale(_architecture(state))
    left = dict(state)

    def take(name: str) -> torch.Tensor:
        if name not in left:
            raise NanochatFormatError(f"the checkpoint has no tensor {name!r}")
        return left.pop(name)

    def table(name: str) -> torch.Tensor:
        tensor = take(name)
        if tensor.shape[0] < vocab:
            raise NanochatFormatError(f"{name} has {tensor.shape[0]} rows, fewer than model_config.vocab_size {vocab}")
        return tensor[:vocab]

    ones = torch.ones(config.hidden_size)
    out = {
        "model.embed_tokens.weight": table("transformer.wte.weight"),
        "lm_head.weight": table("lm_head.weight"),
        "model.embed_norm.weight": ones,
        "model.norm.weight": ones,
    }
    for i in range(config.num_hidden_layers):
        source, target = f"transformer.h.{i}.", f"model.layers.{i}."
        out[target + "self_attn.q_proj.weight"] = _negate_second_halves(take(source + "attn.c_q.weight"), head_dim)
        out[target + "self_attn.k_proj.weight"] = _negate_second_halves(take(source + "attn.c_k.weight"), head_dim)
        out[target + "self_attn.v_proj.weight"] = take(source + "attn.c_v.weight")
        out[target + "self_attn.o_proj.weight"] = take(source + "attn.c_proj.weight")
        out[target + "self_attn.q_norm.weight"] = torch.full((head_dim,), scale)
        out[target + "self_attn.k_norm.weight"] = torch.full((head_dim,), scale)
        out[target + "mlp.up_proj.weight"] = take(source + "mlp.c_fc.weight")
        out[target + "mlp.down_proj.weight"] = take(source + "mlp.c_proj.weight")
        out[target + "input_layernorm.weight"] = ones
        out[target + "post_attention_layernorm.weight"] = ones
        if i in (config.value_embedding_layers or ()):
            out[target + "self_attn.value_gate.weight"] = take(source + "attn.ve_gate.weight")
            out[f"model.value_embeds.{i}.weight"] = table(f"value_embeds.{i}.weight")
    for name in ("smear_gate.weight", "smear_lambda", "resid_lambdas", "x0_lambdas", "backout_lambda"):
        if name in left:
            out["model." + name] = take(name)
    if left:
        raise NanochatFormatError(f"the checkpoint holds {sorted(left)[0]!r}, which this importer does not know "
                                  f"({len(left)} unknown tensors; a newer nanochat?)")
    return {name: tensor.float().contiguous().clone() for name, tensor in out.items()}


def strip_compile_prefix(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Names without the ``_orig_mod.`` prefix that ``torch.compile`` adds (as nanochat's own loader strips it)."""
    return {name.removeprefix("_orig_mod."): tensor for name, tensor in state.items()}
