"""Post-training data: a TRL `DatasetMixtureConfig` (``datasets:`` in a recipe YAML) loaded into one stage's rows.

Each entry is loaded on its own with TRL's `get_dataset` (so ``path``, ``name``, ``data_dir``, ``data_files``,
``split`` and ``columns`` mean what they mean there and in `datasets.load_dataset`), or from
`hfchat.data.builtin` when ``path`` is ``builtin:<name>``; then `format_for_stage` brings every entry to the
stage's row shape, and the entries are mixed by ``fraction`` with TRL's rule (fractions normalised; the mixture is as
large as it can be without repeating rows).

    datasets:
      - path: builtin:chat            # generated offline, identity from identity_file
        fraction: 0.8
      - path: openai/gsm8k            # a Hub id
        name: main
        fraction: 0.2
      - path: json                    # local files
        data_files: my_chats.jsonl

Example:
    >>> from trl import DatasetMixtureConfig
    >>> mixture = DatasetMixtureConfig(datasets=[{"path": "builtin:math", "split": "test"}])
    >>> load_mixture(mixture, "grpo")["train"].column_names
    ['prompt', 'answer']
"""

import json
import os
import re
from collections.abc import Mapping
from dataclasses import replace

import datasets
import yaml
from trl import DatasetMixtureConfig, get_dataset

from ..files import resolve_shipped
from .builtin import BUILTIN_NAMES, DEFAULT_IDENTITY, builtin_dataset
from .formatters import format_for_stage
from .sources import BUILTIN_PREFIX

_SLICE = re.compile(r"(\w+)(?:\[(\d*):(\d*)\])?")


def load_identity(path: str | os.PathLike | None) -> dict[str, str] | None:
    """The model's ``name`` and ``creator`` from a small JSON or YAML file (None: the defaults)."""
    if path is None:
        return None
    path = resolve_shipped(path)
    if not path.is_file():
        raise FileNotFoundError(f"identity_file {str(path)!r} does not exist")
    identity = yaml.safe_load(path.read_text())  # YAML reads JSON too
    if not isinstance(identity, dict) or set(identity) != set(DEFAULT_IDENTITY):
        raise ValueError(f"identity_file {str(path)!r} must map exactly {sorted(DEFAULT_IDENTITY)} to strings, got "
                         f"{identity!r}")
    return {key: str(value) for key, value in identity.items()}


def _split_slice(split: str) -> tuple[str, int | None, int | None]:
    """``"train[100:2000]"`` -> ("train", 100, 2000): the row-slice form of `datasets` split names."""
    match = _SLICE.fullmatch(split)
    if not match:
        raise ValueError(f"datasets: split {split!r} must be a name with an optional row slice, like train[:1000]")
    name, start, stop = match.groups()
    return name, int(start) if start else None, int(stop) if stop else None


def _load_entry(entry, identity: Mapping[str, str] | None) -> datasets.Dataset:
    if entry.path.startswith(BUILTIN_PREFIX):
        name = entry.path[len(BUILTIN_PREFIX):]
        if name not in BUILTIN_NAMES:
            raise ValueError(f"datasets: unknown builtin dataset {entry.path!r}; choose one of "
                             f"{', '.join(BUILTIN_PREFIX + n for n in BUILTIN_NAMES)}")
        split, start, stop = _split_slice(entry.split)
        dataset = builtin_dataset(name, split, identity=identity if name == "chat" else None)
        dataset = dataset.select(range(*slice(start, stop).indices(len(dataset))))
        return dataset.select_columns(entry.columns) if entry.columns else dataset
    single = DatasetMixtureConfig(datasets=[replace(entry, fraction=None)])
    return get_dataset(single)["train"]


def load_mixture(
    mixture: DatasetMixtureConfig, stage: str, *, identity: Mapping[str, str] | None = None
) -> datasets.DatasetDict:
    """``{"train": rows}`` (plus ``"test"`` when ``mixture.test_split_size`` is set) for ``stage``: sft, dpo or
    grpo."""
    if not mixture.datasets:
        raise ValueError("datasets: the recipe names no datasets (a YAML list of {path: ...} entries)")
    if mixture.streaming:
        raise ValueError("streaming: post-training mixtures are loaded in full; set streaming: false")
    fractions = [entry.fraction for entry in mixture.datasets]
    if any(f is None for f in fractions) and any(f is not None for f in fractions):
        raise ValueError("datasets: set `fraction` on every entry of the mixture or on none")
    if any(f is not None and not f > 0 for f in fractions):
        raise ValueError(f"datasets: every `fraction` must be positive, got {fractions}")
    parts = [format_for_stage(_load_entry(entry, identity), stage, source=entry.path) for entry in mixture.datasets]
    if fractions[0] is not None:
        weights = [f / sum(fractions) for f in fractions]
        total = min(len(part) / weight for part, weight in zip(parts, weights))
        parts = [part.select(range(round(weight * total))) for part, weight in zip(parts, weights)]
    combined = datasets.concatenate_datasets(parts)
    if mixture.test_split_size is not None:
        return combined.train_test_split(test_size=mixture.test_split_size, seed=0)
    return datasets.DatasetDict({"train": combined})


def describe(dataset: datasets.Dataset) -> str:
    """One line for the log: row count and the first row, shortened."""
    first = json.dumps(dataset[0], ensure_ascii=False)
    return f"{len(dataset)} rows; first: {first[:300]}{'...' if len(first) > 300 else ''}"
