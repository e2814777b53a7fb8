"""lm-eval task definitions that read a local file, so lm-eval scores exactly the items `hfchat eval` scores.

lm-eval is the reference our formulations are checked against (the tests and the benchmarks); its own tasks
download their data, so `write_arc_task` writes lm-eval's arc_easy (``"Question: {question}\\nAnswer:"``,
continuations ``" {choice}"``, ``acc`` and ``acc_norm``) reading rows in `allenai/ai2_arc`'s schema from a JSON lines
file, and `write_local_task` any task of `LM_EVAL_YAML`: lm-eval's own definition (``include``), its data swapped for
the file (zero-shot).

Example:
    >>> import tempfile
    >>> from pathlib import Path
    >>> folder = write_arc_task(Path(tempfile.mkdtemp()), "arc.jsonl")
    >>> sorted(p.name for p in folder.iterdir())
    ['hfchat_arc_local.yaml']
"""

from pathlib import Path

ARC_TASK = "hfchat_arc_local"
_ARC_YAML = """task: {name}
dataset_path: json
dataset_kwargs:
  data_files:
    test: {data}
test_split: test
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
"""


# Our task -> lm-eval's definition of it (commonsense_qa is not here: lm-eval's default letters its choices, ours is
# cloze; MMLU's default is lettered too).
LM_EVAL_YAML = {"hellaswag": "hellaswag/hellaswag.yaml", "piqa": "piqa/piqa.yaml",
                "winogrande": "winogrande/default.yaml", "openbookqa": "openbookqa/openbookqa.yaml",
                "boolq": "super_glue/boolq/default.yaml", "copa": "super_glue/copa/default.yaml",
                "sciq": "sciq/sciq.yaml", "arc_easy": "arc/arc_easy.yaml",
                "arc_challenge": "arc/arc_challenge.yaml"}
_LOCAL_YAML = """include: {original}
task: {name}
dataset_path: json
dataset_name: null
dataset_kwargs:
  data_files:
    validation: {data}
training_split: null
validation_split: validation
test_split: null
"""


def lm_eval_task_folder() -> Path:
    """lm-eval's ``tasks`` folder (lm-eval is found, not imported: importing it takes seconds)."""
    import importlib.util

    spec = importlib.util.find_spec("lm_eval")
    if spec is None:
        raise ValueError("lm-eval is not installed: pip install 'hfchat[dev]'")
    return Path(next(iter(spec.submodule_search_locations))) / "tasks"


def local_task_name(task: str) -> str:
    return f"hfchat_{task}_local"


def write_local_task(folder: Path, task: str, data: str | Path) -> Path:
    """Write lm-eval's definition of ``task`` reading ``data`` (rows in its Hub schema) into ``folder`` as the task
    `local_task_name`."""
    folder.mkdir(parents=True, exist_ok=True)
    original = lm_eval_task_folder() / LM_EVAL_YAML[task]
    (folder / f"{local_task_name(task)}.yaml").write_text(
        _LOCAL_YAML.format(original=original, name=local_task_name(task), data=data))
    return folder


def write_arc_task(folder: Path, data: str | Path) -> Path:
    """Write the `ARC_TASK` definition reading ``data`` into ``folder`` (lm-eval's ``--include_path``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ARC_TASK}.yaml").write_text(_ARC_YAML.format(name=ARC_TASK, data=data))
    return folder
