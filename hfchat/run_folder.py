"""The layout of a run folder: `hfchat speedrun` writes it, the report card and `hfchat push` read it.

    RUN/tokenizer/                      the trained tokenizer
    RUN/base/ RUN/sft/ RUN/dpo/ RUN/grpo/   one Hugging Face model folder per stage, in `STAGES` order
    RUN/eval/<stage>.json               the speedrun's evaluation summary after each stage (details in eval/<stage>/)
    RUN/stages.json                     the wall time of each step that completed ({name: {"seconds": ...}})
    RUN/report.md                       the report card (and its plots, report_*.png)

Example:
    >>> from hfchat import run_folder
    >>> run_folder.eval_summary("runs/tiny", "sft").as_posix()
    'runs/tiny/eval/sft.json'
    >>> run_folder.run_of("runs/tiny/notastage")
    (None, None)
"""

import json
import os
from pathlib import Path

STAGES = ("base", "sft", "dpo", "grpo")
POST_TRAINING_STAGES = STAGES[1:]
TOKENIZER = "tokenizer"
TIMINGS = "stages.json"
REPORT = "report.md"


def eval_summary(run: str | os.PathLike, stage: str) -> Path:
    """Where the speedrun writes its evaluation summary of ``stage``."""
    return Path(run) / "eval" / f"{stage}.json"


def eval_details(run: str | os.PathLike, stage: str) -> Path:
    """The folder of that evaluation's per-item details."""
    return Path(run) / "eval" / stage


def read_timings(run: str | os.PathLike) -> dict:
    """``stages.json`` of ``run`` ({} when there is none yet)."""
    path = Path(run) / TIMINGS
    return json.loads(path.read_text()) if path.is_file() else {}


def read_eval_results(run: str | os.PathLike, stage: str) -> dict:
    """The ``results`` of ``eval/<stage>.json`` ({} when that stage was not evaluated)."""
    path = eval_summary(run, stage)
    return json.loads(path.read_text())["results"] if path.is_file() else {}


def run_of(model_dir: str | os.PathLike) -> tuple[Path | None, str | None]:
    """(run folder, stage) when ``model_dir`` is a stage folder of a run (``RUN/<stage>`` beside ``RUN/eval`` or
    ``RUN/base``), else (None, None)."""
    model_dir = Path(model_dir)
    run = model_dir.parent
    if model_dir.name in STAGES and ((run / "eval").is_dir() or (run / "base").is_dir()):
        return run, model_dir.name
    return None, None
