"""Run evaluation tasks on a model and write ``results.json`` plus per-item details.

    hfchat eval --model runs/tiny/sft --tasks builtin_math,builtin_preference --output-dir runs/tiny/eval/sft

Results are shaped ``{"model": ..., "results": {task: {metric: value, ..., "n": items, "stderr": ...,
"seconds": ...}}}``; ``stderr`` is the standard error of the task's main metric over its items.
"""

import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..files import write_json_atomic, write_jsonl_atomic
from ..inference.loading import load_model as load_for_inference
from . import builtin_tasks

# task name -> (function(model, tokenizer, limit, batch_size) -> (metrics, details), main metric)
TASKS: dict[str, tuple[Callable, str]] = {
    "builtin_math": (builtin_tasks.builtin_math, "accuracy"),
    "builtin_preference": (builtin_tasks.builtin_preference, "win_rate"),
    "builtin_tools": (builtin_tasks.builtin_tools, "call_accuracy"),
}


def parse_tasks(spec: str | list[str]) -> list[str]:
    names = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [name for name in names if name not in TASKS]
    if unknown or not names:
        raise ValueError(f"--tasks: unknown task {unknown[0] if unknown else spec!r}; choose from {', '.join(TASKS)}")
    return names


def load_model(model: str, dtype: torch.dtype = torch.float32):
    """(model, tokenizer) from a folder or Hub id; a model that does not load is a `ValueError` naming it."""
    return load_for_inference(model, dtype=dtype)


def evaluate(model: str, tasks: str | list[str], *, limit: int | Mapping[str, int] | None = None,
             batch_size: int = 64, output_dir: str | os.PathLike | None = None) -> dict:
    """Run ``tasks`` on ``model`` (``limit``: items per task, one number or one per task); with ``output_dir``,
    write ``results.json`` and ``details/<task>.jsonl``."""
    names = parse_tasks(tasks)
    loaded, tokenizer = load_model(model)
    results = {}
    for name in names:
        function, main_metric = TASKS[name]
        started = time.perf_counter()
        task_limit = limit.get(name) if isinstance(limit, Mapping) else limit
        metrics, details = function(loaded, tokenizer, limit=task_limit, batch_size=batch_size)
        value = metrics[main_metric]
        stderr = math.sqrt(value * (1 - value) / len(details)) if 0 <= value <= 1 else None
        results[name] = {**metrics, "n": len(details), "stderr": stderr,
                         "seconds": round(time.perf_counter() - started, 2)}
        if output_dir is not None:
            write_jsonl_atomic(Path(output_dir) / "details" / f"{name}.jsonl", details)
    summary = {"model": str(model), "results": results}
    if output_dir is not None:
        write_json_atomic(Path(output_dir) / "results.json", summary)
    return summary


def format_results(summary: dict) -> str:
    """A markdown table of every task's metrics."""
    lines = ["| task | metric | value |", "|---|---|---:|"]
    for task, metrics in summary["results"].items():
        for metric, value in metrics.items():
            if metric not in ("n", "stderr", "seconds"):
                lines.append(f"| {task} | {metric} | {value:.4f} |")
    return "\n".join(lines)
