"""lm-eval task definitions that read a local file, so lm-eval scores exactly the items `hfchat eval` scores.

lm-eval is the reference our formulations are checked against (the tests and `benchmarks/eval_speed.py`); its own
tasks download their data, so this one is lm-eval's arc_easy (``"Question: {question}\\nAnswer:"``, continuations
``" {choice}"``, ``acc`` and ``acc_norm``) reading rows in `allenai/ai2_arc`'s schema from a JSON lines file.

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


def write_arc_task(folder: Path, data: str | Path) -> Path:
    """Write the `ARC_TASK` definition reading ``data`` into ``folder`` (lm-eval's ``--include_path``)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{ARC_TASK}.yaml").write_text(_ARC_YAML.format(name=ARC_TASK, data=data))
    return folder
