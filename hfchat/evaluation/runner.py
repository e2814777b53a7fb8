"""Run evaluation tasks on a model and write ``results.json`` plus per-item details.

    hfchat eval --model runs/tiny/sft --tasks builtin_math,builtin_preference --output-dir runs/tiny/eval/sft

Results are shaped ``{"model": ..., "results": {task: {metric: value, ..., "n": items, "stderr": ...,
"seconds": ...}}}``; ``stderr`` is the standard error of the task's main metric over its items.
"""

import functools
import math
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import torch

from ..files import write_json_atomic, write_jsonl_atomic
from ..inference.loading import load_model as load_for_inference
from . import builtin_tasks, chat_tasks, code_tasks, judge, language_modeling


def _ignores_source(function: Callable) -> Callable:
    def task(model, tokenizer, limit=None, batch_size=32, source=None):
        if source is not None:
            raise ValueError(f"--task-data: {function.__name__} reads only the builtin data")
        return function(model, tokenizer, limit=limit, batch_size=batch_size)
    return task


# task name -> (function(model, tokenizer, limit, batch_size, source) -> (metrics, details), main metric)
TASKS: dict[str, tuple[Callable, str]] = {
    "builtin_math": (_ignores_source(builtin_tasks.builtin_math), "accuracy"),
    "builtin_preference": (_ignores_source(builtin_tasks.builtin_preference), "win_rate"),
    "builtin_tools": (_ignores_source(builtin_tasks.builtin_tools), "call_accuracy"),
    "bpb": (language_modeling.bpb, "bits_per_byte"),
    "arc_easy": (functools.partial(chat_tasks.multiple_choice, "arc_easy"), "accuracy"),
    "arc_challenge": (functools.partial(chat_tasks.multiple_choice, "arc_challenge"), "accuracy"),
    "mmlu": (functools.partial(chat_tasks.multiple_choice, "mmlu"), "accuracy"),
    "gsm8k": (chat_tasks.gsm8k, "accuracy"),
    "humaneval": (code_tasks.humaneval, "pass@1"),
    "judge": (judge.judge, "score"),
}
# ChatCORE: the mean over these tasks (those that ran) of the main metric centred on the task's random baseline,
# (value - baseline) / (1 - baseline), as nanochat reports it.
CHATCORE_TASKS = ("arc_easy", "arc_challenge", "mmlu", "gsm8k", "humaneval")


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
             batch_size: int = 64, output_dir: str | os.PathLike | None = None,
             sources: Mapping[str, str | dict] | None = None, judge_endpoint: str | None = None,
             judge_model: str | None = None) -> dict:
    """Run ``tasks`` on ``model`` (``limit``: items per task, one number or one per task; ``sources``: task name ->
    a data source spec replacing the task's default dataset); with ``output_dir``, write ``results.json`` and
    ``details/<task>.jsonl``. Running any ChatCORE task adds a ``chatcore`` entry. The ``judge`` task asks the
    OpenAI-compatible server at ``judge_endpoint`` (model name ``judge_model``, if it serves several)."""
    names = parse_tasks(tasks)
    sources = dict(sources or {})
    stray = [name for name in sources if name not in names]
    if stray:
        raise ValueError(f"--task-data names {stray[0]!r}, which is not among --tasks {','.join(names)}")
    if "judge" in names and not judge_endpoint:
        raise ValueError("--tasks judge needs --judge-endpoint URL (an OpenAI-compatible server, e.g. hfchat serve)")
    loaded, tokenizer = load_model(model)
    results = {}
    for name in names:
        function, main_metric = TASKS[name]
        if name == "judge":
            function = functools.partial(function, endpoint=judge_endpoint, judge_model=judge_model)
        started = time.perf_counter()
        task_limit = limit.get(name) if isinstance(limit, Mapping) else limit
        metrics, details = function(loaded, tokenizer, limit=task_limit, batch_size=batch_size,
                                    source=sources.get(name))
        value = metrics[main_metric]
        stderr = _stderr(value, [d.get("score") for d in details])
        results[name] = {**metrics, "n": len(details), "stderr": stderr,
                         "seconds": round(time.perf_counter() - started, 2)}
        if output_dir is not None:
            write_jsonl_atomic(Path(output_dir) / "details" / f"{name}.jsonl", details)
    centred = [(results[t][TASKS[t][1]] - results[t]["random_baseline"]) / (1 - results[t]["random_baseline"])
               for t in CHATCORE_TASKS if t in results]
    if centred:
        results["chatcore"] = {"chatcore": sum(centred) / len(centred), "tasks": len(centred)}
    summary = {"model": str(model), "results": results}
    if output_dir is not None:
        write_json_atomic(Path(output_dir) / "results.json", summary)
    return summary


def _stderr(value: float, scores: list) -> float | None:
    """Standard error of a 0-1 mean (binomial), else of the mean of the items' numeric scores."""
    if 0 <= value <= 1:
        return math.sqrt(value * (1 - value) / max(len(scores), 1))
    numbers = [float(x) for x in scores if isinstance(x, (int, float))]
    if len(numbers) < 2:
        return None
    mean = sum(numbers) / len(numbers)
    return math.sqrt(sum((x - mean) ** 2 for x in numbers) / (len(numbers) - 1) / len(numbers))


def format_results(summary: dict) -> str:
    """A markdown table of every task's metrics."""
    lines = ["| task | metric | value |", "|---|---|---:|"]
    for task, metrics in summary["results"].items():
        for metric, value in metrics.items():
            if metric not in ("n", "stderr", "seconds"):
                lines.append(f"| {task} | {metric} | {value:.4f} |")
    return "\n".join(lines)
