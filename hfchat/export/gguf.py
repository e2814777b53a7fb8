"""Export to GGUF, the single-file format of llama.cpp, Ollama, LM Studio and llama-cpp-python.

hfchat's layout is Qwen3's (with QK-norm) or Llama's (without), and both are architectures llama.cpp runs natively,
so the export only renames tensors and writes the metadata llama.cpp reads: shapes, rotary and norm settings, the
byte-level BPE vocabulary with its merges, the special tokens and the chat template. transformers' own Llama and
Qwen3 models (SmolLM2, Qwen3, a Llama without rotary scaling) export the same way, with their tokenizers when
llama.cpp has their pre-tokenizer (Llama 3's, Qwen2's, GPT-2's, SmolLM's).

Two facts about llama.cpp decide how the weights are written:

- its ``llama`` architecture rotates adjacent pairs of a head's channels, where transformers rotates channel ``i``
  with channel ``i + head_dim/2``; the rows of the query and key projections are reordered within each head so that
  both compute the same attention (dot products between queries and keys do not change when both are permuted alike).
  Its ``qwen3`` architecture rotates halves, as transformers does: nothing is reordered there.
- norms (1-D tensors) stay in float32 whatever the output type, as llama.cpp's own converter keeps them; ``q8_0``
  quantizes every matrix whose rows are a whole number of 32-value blocks and writes the others in float16.

Example (from the command line: ``hfchat export --model runs/tiny/sft --to gguf --outtype q8_0``)::

    from hfchat.export import export_gguf
    export_gguf("runs/tiny/sft", "runs/tiny/sft.q8_0.gguf", outtype="q8_0")
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from ..tokenizer import SPLIT_PATTERN, end_of_turn, end_of_turn_ids
from .transformers_export import ExportError, check_exportable

OUTTYPES = ("f32", "f16", "q8_0")

# llama.cpp's names for the pre-tokenizers it reproduces, keyed by the tokenizers pre-tokenizer steps (each step's
# type and settings, see `_pre_tokenizer_steps`) and the BPE model's `ignore_merges`:
# - a Split on Llama 3's regex (hfchat's `hfchat.tokenizer.SPLIT_PATTERN`) then ByteLevel: "llama-bpe" also looks a
#   whole pre-token up in the vocabulary before merging (``ignore_merges``), "smaug-bpe" applies the merges;
# - a Split on Qwen2's regex (Qwen 2, 2.5 and 3) then ByteLevel: "qwen2";
# - GPT-2's ByteLevel with its own regex: "gpt-2" (what transformers makes of a GGUF's gpt2 tokenizer, SmolLM2's);
# - single digits split off, then GPT-2's ByteLevel: "smollm" (SmolLM and SmolLM2 as published).
_QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|"
                r"\s*[\r\n]+|\s+(?!\S)|\s+")
_BYTES = ("ByteLevel", False)  # ByteLevel after a Split: bytes to characters only
_GPT2_BYTES = ("ByteLevel", True)  # ByteLevel splitting with GPT-2's regex itself
_PRE_TOKENIZERS = {
    ((("Split", SPLIT_PATTERN), _BYTES), True): "llama-bpe",
    ((("Split", SPLIT_PATTERN), _BYTES), False): "smaug-bpe",
    ((("Split", _QWEN2_SPLIT), _BYTES), False): "qwen2",
    ((_GPT2_BYTES,), False): "gpt-2",
    ((("Digits", True), _GPT2_BYTES), False): "smollm",
}
# normalizer -> the pre-tokenizer it may come with: Qwen's tokenizers normalise to NFC first; llama.cpp does not (nor
# does its own converter), so text that is not already NFC may tokenise differently there.
_NORMALIZERS = {None: None, "NFC": "qwen2"}


def _pre_tokenizer_steps(state: dict) -> tuple | None:
    """The pre-tokenizer as the `_PRE_TOKENIZERS` key describes it, or None for a step llama.cpp has no match for
    (a ByteLevel that adds a prefix space, a Split that is not isolating)."""
    pre = state.get("pre_tokenizer") or {}
    steps = []
    for step in pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else [pre]:
        kind = step.get("type")
        if kind == "Split" and step.get("behavior") in ("Isolated", None) and not step.get("invert"):
            steps.append(("Split", step.get("pattern", {}).get("Regex")))
        elif kind == "ByteLevel" and not step.get("add_prefix_space"):
            steps.append(("ByteLevel", bool(step.get("use_regex", True))))
        elif kind == "Digits":
            steps.append(("Digits", bool(step.get("individual_digits"))))
        else:
            return None
    return tuple(steps)


# Added tokens that llama.cpp should print like text rather than hide as control tokens: hfchat's chat engine shows
# the tool-call markup in replies, and llama.cpp's Hermes-style tool-call parser looks for it in the text.
_VISIBLE_SPECIAL = ("<tool_call>", "</tool_call>", "<tool_response>", "</tool_response>")

# The `{% generation %}` markers (transformers' extension for assistant masks) render their body unchanged, and not
# every engine that runs a GGUF's template knows them (plain jinja2 rejects the tag): the GGUF gets the template
# without them.
_GENERATION_TAG = re.compile(r"\{%-?\s*(?:end)?generation\s*-?%\}")


def _architecture(config, model) -> tuple[str, dict]:
    """(llama.cpp's architecture, the shape it is written with) of an hfchat, Llama or Qwen3 model; `ExportError`
    for one llama.cpp would run differently."""
    kind = config.model_type
    if kind == "hfchat":
        target = "qwen3" if config.qk_norm else "llama"
        check_exportable(config, target)
        rope_theta = config.rope_theta
    elif kind in ("llama", "qwen3"):
        target = kind
        rope = getattr(config, "rope_parameters", None) or {"rope_type": "default",
                                                            "rope_theta": getattr(config, "rope_theta", None)}
        refusals = {
            "rope_parameters.rope_type": (rope.get("rope_type", "default"), "default"),
            "hidden_act": (config.hidden_act, "silu"),
            "attention_bias": (bool(getattr(config, "attention_bias", False)), False),
            "mlp_bias": (bool(getattr(config, "mlp_bias", False)), False),
            "use_sliding_window": (bool(getattr(config, "use_sliding_window", False)), False),
        }
        for field, (value, supported) in refusals.items():
            if value != supported:
                raise ExportError(f"GGUF export of a {kind} model: {field}={value!r} is not supported yet (only "
                                  f"{supported!r}); llama.cpp's own convert_hf_to_gguf.py handles more variants")
        rope_theta = rope["rope_theta"]
    else:
        raise ExportError(f"--model {model}: a {kind!r} model; GGUF export takes hfchat, Llama and Qwen3 models")
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    shape = {"context": config.max_position_embeddings, "hidden": config.hidden_size,
             "ffn": config.intermediate_size, "layers": config.num_hidden_layers,
             "heads": config.num_attention_heads, "kv_heads": config.num_key_value_heads or config.num_attention_heads,
             "head_dim": head_dim, "rope_theta": float(rope_theta), "eps": float(config.rms_norm_eps)}  # fmt: skip
    return target, shape


def _rotate_pairs(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """Reorder the rows of a query/key projection from transformers' half rotation to llama.cpp's pair rotation:
    within each head, row ``i`` goes to ``2i`` and row ``i + head_dim/2`` to ``2i + 1``."""
    head_dim = weight.shape[0] // heads
    return weight.unflatten(0, (heads, 2, head_dim // 2)).transpose(1, 2).flatten(0, 2).contiguous()


def _tokenizer_fields(tokenizer, config) -> dict:
    """Everything llama.cpp needs to tokenise like ``tokenizer``; `ExportError` for a tokenizer it cannot match."""
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    bpe = state.get("model") or {}
    normalizer = (state.get("normalizer") or {}).get("type")
    if bpe.get("type") != "BPE" or normalizer not in _NORMALIZERS:
        raise ExportError(
            "GGUF export needs a byte-level BPE tokenizer without normalizer (or Qwen's NFC), got model "
            f"{bpe.get('type')!r} with normalizer {state.get('normalizer')!r}"
        )
    pre = _PRE_TOKENIZERS.get((_pre_tokenizer_steps(state), bool(bpe.get("ignore_merges"))))
    if pre is None or _NORMALIZERS[normalizer] not in (None, pre):
        raise ExportError(
            "GGUF export: this tokenizer's pre-tokenizer is not one llama.cpp implements (hfchat's, Llama 3's, "
            "Qwen2's, GPT-2's or SmolLM's); the exported model would tokenise differently"
        )

    vocab_size = config.vocab_size
    if len(tokenizer) > vocab_size:
        raise ExportError(f"the tokenizer has {len(tokenizer)} tokens but the model only {vocab_size} embeddings")
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [5] * vocab_size  # gguf.TokenType: NORMAL 1, CONTROL 3, USER_DEFINED 4, UNUSED 5
    for token, index in bpe["vocab"].items():
        tokens[index], types[index] = token, 1
    for added in state.get("added_tokens", []):
        tokens[added["id"]] = added["content"]
        visible = not added.get("special") or added["content"] in _VISIBLE_SPECIAL
        types[added["id"]] = 4 if visible else 3
    merges = [m if isinstance(m, str) else " ".join(m) for m in bpe.get("merges", [])]

    plain = tokenizer("hi", add_special_tokens=False)["input_ids"]
    marked = tokenizer("hi")["input_ids"]
    add_bos = tokenizer.bos_token_id is not None and marked[:1] == [tokenizer.bos_token_id] != plain[:1]
    add_eos = tokenizer.eos_token_id is not None and marked[-1:] == [tokenizer.eos_token_id] != plain[-1:]

    template = tokenizer.chat_template
    if isinstance(template, dict):
        template = template.get("default")
    return {
        "pre": pre, "tokens": tokens, "types": types, "merges": merges,
        "add_bos": add_bos, "add_eos": add_eos,
        "template": _GENERATION_TAG.sub("", template) if template else None,
    }  # fmt: skip


def export_gguf(model: str | os.PathLike, output: str | os.PathLike, outtype: str = "f16") -> Path:
    """Write ``model`` (an hfchat folder or Hub id) as one GGUF file at ``output`` and return its path.

    ``outtype`` is ``"f32"``, ``"f16"`` or ``"q8_0"`` (matrices; norms stay float32). The architecture is llama.cpp's
    ``qwen3`` for a model with QK-norm, ``llama`` without; a model neither runs (ReLU² MLP, logit soft-capping) is
    refused with `ExportError` before anything is written. The file is written under a temporary name next to
    ``output`` and renamed when complete.
    """
    if outtype not in OUTTYPES:
        raise ValueError(f"--outtype {outtype!r}: choose from {', '.join(OUTTYPES)}")
    try:
        import gguf
    except ImportError as error:
        raise ExportError("GGUF export needs the gguf package: pip install 'hfchat[export]'") from error

    from ..inference.loading import load_model

    source, tokenizer = load_model(str(model), device="cpu")
    config = source.config
    arch, shape = _architecture(config, model)
    vocab = _tokenizer_fields(tokenizer, config)
    matrix_type = {"f32": gguf.GGMLQuantizationType.F32, "f16": gguf.GGMLQuantizationType.F16,
                   "q8_0": gguf.GGMLQuantizationType.Q8_0}[outtype]  # fmt: skip
    file_type = {"f32": gguf.LlamaFileType.ALL_F32, "f16": gguf.LlamaFileType.MOSTLY_F16,
                 "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0}[outtype]  # fmt: skip

    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = output.with_name(f".{output.name}.tmp-{os.getpid()}")
    writer = gguf.GGUFWriter(
        tmp, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.QWEN3 if arch == "qwen3" else gguf.MODEL_ARCH.LLAMA]
    )
    try:
        writer.add_name(Path(str(model)).name or str(model))
        writer.add_file_type(file_type)
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
        writer.add_vocab_size(len(vocab["tokens"]))
        writer.add_context_length(shape["context"])
        writer.add_embedding_length(shape["hidden"])
        writer.add_feed_forward_length(shape["ffn"])
        writer.add_block_count(shape["layers"])
        writer.add_head_count(shape["heads"])
        writer.add_head_count_kv(shape["kv_heads"])
        writer.add_key_length(shape["head_dim"])
        writer.add_value_length(shape["head_dim"])
        writer.add_rope_dimension_count(shape["head_dim"])
        writer.add_rope_freq_base(shape["rope_theta"])
        writer.add_layer_norm_rms_eps(shape["eps"])

        writer.add_tokenizer_model("gpt2")
        writer.add_tokenizer_pre(vocab["pre"])
        writer.add_token_list(vocab["tokens"])
        writer.add_token_types(vocab["types"])
        writer.add_token_merges(vocab["merges"])
        if tokenizer.bos_token_id is not None:
            writer.add_bos_token_id(tokenizer.bos_token_id)
        ends = end_of_turn_ids(tokenizer, source)
        if ends:
            writer.add_eos_token_id(ends[0])
        turn_end = end_of_turn(tokenizer)
        if turn_end is not None:
            writer.add_eot_token_id(tokenizer.convert_tokens_to_ids(turn_end))
        if tokenizer.pad_token_id is not None:
            writer.add_pad_token_id(tokenizer.pad_token_id)
        writer.add_add_bos_token(vocab["add_bos"])
        writer.add_add_eos_token(vocab["add_eos"])
        if vocab["template"]:
            writer.add_chat_template(vocab["template"])

        names = gguf.get_tensor_name_map(
            gguf.MODEL_ARCH.QWEN3 if arch == "qwen3" else gguf.MODEL_ARCH.LLAMA, shape["layers"]
        )
        for name, tensor in source.state_dict().items():
            if name == "lm_head.weight" and config.tie_word_embeddings:
                continue  # llama.cpp reuses token_embd when there is no output tensor
            target = names.get_name(name, try_suffixes=(".weight",))
            if target is None:
                raise ExportError(f"GGUF export: no llama.cpp {arch} tensor for {name!r}")
            tensor = tensor.detach().to(torch.float32)
            if arch == "llama" and name.endswith(("q_proj.weight", "k_proj.weight")):
                heads = shape["heads"] if name.endswith("q_proj.weight") else shape["kv_heads"]
                tensor = _rotate_pairs(tensor, heads)
            data = tensor.numpy()
            kind = gguf.GGMLQuantizationType.F32 if data.ndim == 1 else matrix_type
            try:
                data = gguf.quants.quantize(data, kind)
            except gguf.QuantError:  # rows that are not whole q8_0 blocks
                kind = gguf.GGMLQuantizationType.F16
                data = gguf.quants.quantize(data, kind)
            writer.add_tensor(target, data, raw_dtype=kind)

        writer.write_header_to_file()
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.close()
        os.replace(tmp, output)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return output
