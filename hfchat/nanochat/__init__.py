"""Import a nanochat checkpoint as a Hugging Face model folder (``hfchat import-nanochat``).

nanochat saves ``model_<step>.pt`` (the state dict) and ``meta_<step>.json`` (``model_config`` and training
metadata) in a checkpoint folder such as ``~/.cache/nanochat/base_checkpoints/d20`` (or ``chatsft_checkpoints``),
and its tokenizer as ``tokenizer/tokenizer.pkl``. `import_nanochat` turns them into a folder that
``AutoModelForCausalLM.from_pretrained`` loads: safetensors weights, an hfchat config with nanochat's options (see
`hfchat.nanochat.weights`), the tokenizer with nanochat's chat template (`hfchat.nanochat.template`) and a
generation config that stops at ``<|assistant_end|>``. Covered: checkpoints of nanochat from December 2025
(10231df, the architecture transformers' ``NanoChat`` also covers) to 92d63d4 (value embeddings, smear, backout,
per-layer scalars, sliding windows).

Both inputs are pickles, neither runs code: the state dict is read with ``torch.load(weights_only=True)`` and the
tokenizer by an unpickler that builds nothing but a tiktoken ``Encoding``'s state (`hfchat.nanochat.tokenizer`).

Example (from the clone: a checkpoint nanochat's own code wrote, on CPU in a second):
    >>> import tempfile
    >>> from hfchat.nanochat import import_nanochat
    >>> folder = import_nanochat("tests/fixtures/nanochat/d4/base_checkpoints/d4",
    ...                          "tests/fixtures/nanochat/d4/tokenizer", tempfile.mkdtemp() + "/d4-hf")
    >>> sorted(p.name for p in folder.iterdir())[:3]
    ['chat_template.jinja', 'config.json', 'configuration_hfchat.py']
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import torch

from ..files import replace_folder
from .template import BOS, END_OF_TURN
from .tokenizer import transformers_tokenizer
from .weights import NanochatFormatError, check_model_config, hfchat_config, hfchat_state_dict, strip_compile_prefix

DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
_MODEL_FILE = re.compile(r"model_(\d+)\.pt")


def checkpoint_files(checkpoint: str | os.PathLike, step: int | None = None) -> tuple[Path, Path]:
    """(``model_<step>.pt``, ``meta_<step>.json``) in ``checkpoint``; the latest step when ``step`` is None."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise NanochatFormatError(f"--checkpoint {folder}: not a folder")
    found = {int(m.group(1)): p for p in folder.iterdir() if (m := _MODEL_FILE.fullmatch(p.name))}
    if not found:
        raise NanochatFormatError(f"--checkpoint {folder}: no model_<step>.pt in it")
    if step is None:
        step = max(found)
    elif step not in found:
        raise NanochatFormatError(f"--step {step}: {folder} has the steps {', '.join(map(str, sorted(found)))}")
    model = found[step]
    meta = folder / f"meta_{_MODEL_FILE.fullmatch(model.name).group(1)}.json"
    if not meta.exists():
        raise NanochatFormatError(f"--checkpoint {folder}: {meta.name} is missing (nanochat writes it beside "
                                  f"{model.name})")
    return model, meta


def _tokenizer_file(tokenizer: str | os.PathLike) -> Path:
    path = Path(tokenizer)
    path = path / "tokenizer.pkl" if path.is_dir() else path
    if not path.is_file():
        raise NanochatFormatError(f"--tokenizer {tokenizer}: no tokenizer.pkl there")
    return path


def _read_meta(path: Path) -> dict:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as error:
        raise NanochatFormatError(f"{path}: not readable JSON ({error})") from None
    return check_model_config(meta.get("model_config") if isinstance(meta, dict) else None, str(path))


def _read_state(path: Path) -> dict[str, torch.Tensor]:
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # weights_only refuses anything but tensors and plain containers
        raise NanochatFormatError(f"{path}: not a state dict torch can load safely ({error})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise NanochatFormatError(f"{path}: not a state dict (a mapping of names to tensors)")
    return strip_compile_prefix(state)


def import_nanochat(checkpoint: str | os.PathLike, tokenizer: str | os.PathLike, output: str | os.PathLike, *,
                    step: int | None = None, dtype: str = "float32") -> Path:
    """Convert a nanochat checkpoint and tokenizer into a Hugging Face model folder at ``output``.

    Everything is read and checked before anything is written; the folder appears whole or not at all.
    Raises `NanochatFormatError`, naming the file, field or tensor, on input this importer cannot convert.
    """
    from transformers import GenerationConfig

    from ..modeling import HFChatForCausalLM
    from ..tokenizer import save_tokenizer

    if dtype not in DTYPES:
        raise NanochatFormatError(f"--dtype {dtype}: one of {', '.join(DTYPES)}")
    model_file, meta_file = checkpoint_files(checkpoint, step)
    model_config = _read_meta(meta_file)
    tokenizer_file = _tokenizer_file(tokenizer)
    hf_tokenizer = transformers_tokenizer(tokenizer_file, model_max_length=model_config["sequence_len"])
    if len(hf_tokenizer) != model_config["vocab_size"]:
        raise NanochatFormatError(f"{meta_file}: model_config.vocab_size is {model_config['vocab_size']} but "
                                  f"{tokenizer_file} has {len(hf_tokenizer)} tokens: not this model's tokenizer")
    state = _read_state(model_file)
    ids = {"bos_token_id": hf_tokenizer.convert_tokens_to_ids(BOS),
           "eos_token_id": hf_tokenizer.convert_tokens_to_ids(END_OF_TURN)}
    # nanochat has no padding token; <|assistant_end|> pads (a <|bos|> would be taken for padding at the start of
    # every text by `generate`, which infers the attention mask from the padding id when none is given).
    config = hfchat_config(model_config, state, pad_token_id=ids["eos_token_id"], **ids)
    weights = hfchat_state_dict(state, config)
    model = HFChatForCausalLM(config)
    model.load_state_dict(weights, strict=True)
    model = model.to(DTYPES[dtype]).eval()
    # nanochat's engine ends a reply at <|assistant_end|>, and a base model's text at the next document's <|bos|>.
    model.generation_config = GenerationConfig(bos_token_id=ids["bos_token_id"], pad_token_id=ids["eos_token_id"],
                                               eos_token_id=[ids["eos_token_id"], ids["bos_token_id"]])

    def fill(folder: Path) -> None:
        model.save_pretrained(folder)
        save_tokenizer(hf_tokenizer, folder)

    return replace_folder(output, fill)


__all__ = ["NanochatFormatError", "import_nanochat", "checkpoint_files"]
