"""What is known about each evaluation task apart from the code that runs it, in one place: its main metric, the
data it reads by default, the name model cards give that data, and which result fields are bookkeeping, not
scores. The runner (`hfchat eval`), the report card, the speedrun's summary and the model card all read it; it
imports nothing, so reading it costs nothing.

Example:
    >>> FACTS["hellaswag"].main, FACTS["hellaswag"].source["path"]
    ('acc_norm', 'Rowan/hellaswag')
    >>> MAIN_METRICS["chatcore"]
    'chatcore'
    >>> scores({"accuracy": 0.5, "n": 200, "stderr": 0.035, "seconds": 3.2})
    {'accuracy': 0.5}
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TaskFacts:
    """``main``: the metric the task's ``stderr`` is about (and that the report card plots); ``binary``: the items'
    scores are 0/1 (binomial standard error); ``source``: its default data, as ``datasets.load_dataset`` keywords
    (``path``, ``name``, ``split``) or, for data read otherwise, the dataset it is reported on; ``dataset_name``:
    that dataset's name on model cards (None: not reported in the model-index)."""

    main: str
    source: dict | None = None
    dataset_name: str | None = None
    binary: bool = True


FACTS: dict[str, TaskFacts] = {
    "builtin_math": TaskFacts("accuracy", {"path": "builtin:math", "split": "test"}, "hfchat builtin math"),
    "builtin_preference": TaskFacts("win_rate", {"path": "builtin:preference", "split": "test"},
                                    "hfchat builtin preference"),
    "builtin_tools": TaskFacts("call_accuracy", {"path": "builtin:chat", "split": "test"}, "hfchat builtin tool calls"),
    "bpb": TaskFacts("bits_per_byte", {"path": "builtin:stories", "split": "validation"}, "hfchat builtin stories",
                     binary=False),
    "core": TaskFacts("core", {"path": "mosaicml/eval-gauntlet"}, "CORE (DCLM)"),
    "arc_easy": TaskFacts("accuracy", {"path": "allenai/ai2_arc", "name": "ARC-Easy", "split": "test"}, "ARC-Easy"),
    "arc_challenge": TaskFacts("accuracy", {"path": "allenai/ai2_arc", "name": "ARC-Challenge", "split": "test"},
                               "ARC-Challenge"),
    "mmlu": TaskFacts("accuracy", {"path": "cais/mmlu", "name": "all", "split": "test"}, "MMLU"),
    "hellaswag": TaskFacts("acc_norm", {"path": "Rowan/hellaswag", "split": "validation"}, "HellaSwag"),
    "piqa": TaskFacts("acc_norm", {"path": "ybisk/piqa", "split": "validation"}, "PIQA"),
    "winogrande": TaskFacts("acc", {"path": "allenai/winogrande", "name": "winogrande_xl", "split": "validation"},
                            "WinoGrande"),
    "openbookqa": TaskFacts("acc_norm", {"path": "allenai/openbookqa", "name": "main", "split": "test"}, "OpenBookQA"),
    "commonsense_qa": TaskFacts("acc_norm", {"path": "tau/commonsense_qa", "split": "validation"}, "CommonsenseQA"),
    "boolq": TaskFacts("acc", {"path": "google/boolq", "split": "validation"}, "BoolQ"),
    "copa": TaskFacts("acc", {"path": "aps/super_glue", "name": "copa", "split": "validation"}, "COPA"),
    "sciq": TaskFacts("acc_norm", {"path": "allenai/sciq", "split": "test"}, "SciQ"),
    "gsm8k": TaskFacts("accuracy", {"path": "openai/gsm8k", "name": "main", "split": "test"}, "GSM8K"),
    "humaneval": TaskFacts("pass@1", {"path": "openai/openai_humaneval", "split": "test"}, "HumanEval"),
    "judge": TaskFacts("score", binary=False),
}
# ChatCORE is not a task of its own: the runner computes it from these tasks' main metrics (those that ran).
CHATCORE_TASKS = ("arc_easy", "arc_challenge", "mmlu", "gsm8k", "humaneval")
MAIN_METRICS = {**{name: facts.main for name, facts in FACTS.items()}, "chatcore": "chatcore"}
# Result fields that describe a task's run, not the model: sizes, times, error bars, baselines, counts.
BOOKKEEPING = ("n", "stderr", "seconds", "bytes", "tokens", "nats", "tasks", "core_tasks", "random_baseline",
               "unscored")


def scores(metrics: dict) -> dict:
    """``metrics`` without the bookkeeping fields."""
    return {metric: value for metric, value in metrics.items() if metric not in BOOKKEEPING}
