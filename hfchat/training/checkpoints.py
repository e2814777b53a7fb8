"""Checkpoint folders in ``output_dir``: written under a temporary name and renamed when complete.

A folder named ``checkpoint-<step>`` is therefore always complete; ``tmp-checkpoint-<step>`` is one a crash left
half written, removed at the next start.
"""

import json
import os
import re
import shutil
from pathlib import Path

from ..files import write_json_atomic

CHECKPOINT_PATTERN = re.compile(r"^checkpoint-(\d+)$")
TRAINER_STATE = "trainer_state.json"


def list_checkpoints(output_dir: str | os.PathLike) -> list[Path]:
    """Complete checkpoints, oldest first."""
    folder = Path(output_dir)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if p.is_dir() and (m := CHECKPOINT_PATTERN.match(p.name))]
    return [path for _, path in sorted(found)]


def latest_checkpoint(output_dir: str | os.PathLike) -> Path | None:
    checkpoints = list_checkpoints(output_dir)
    return checkpoints[-1] if checkpoints else None


def resolve_resume(resume_from_checkpoint: str | None, output_dir: str | os.PathLike) -> Path | None:
    """The checkpoint to resume from, or None for a fresh start.

    ``latest`` picks the newest complete checkpoint in ``output_dir`` (None if there is none). Starting fresh in an
    ``output_dir`` that already holds checkpoints is refused: it would mix two runs.
    """
    if resume_from_checkpoint is None:
        existing = list_checkpoints(output_dir)
        if existing:
            raise ValueError(
                f"output_dir {str(output_dir)!r} already holds checkpoints ({existing[-1].name}); pass "
                "--resume_from_checkpoint latest to continue that run, or choose another output_dir"
            )
        return None
    if resume_from_checkpoint == "latest":
        return latest_checkpoint(output_dir)
    path = Path(resume_from_checkpoint)
    if not (path / TRAINER_STATE).is_file():
        raise FileNotFoundError(f"resume_from_checkpoint {resume_from_checkpoint!r}: not a complete checkpoint folder")
    return path


def temporary_checkpoint_dir(output_dir: str | os.PathLike, step: int) -> Path:
    return Path(output_dir) / f"tmp-checkpoint-{step}"


def remove_incomplete(output_dir: str | os.PathLike) -> None:
    folder = Path(output_dir)
    if folder.is_dir():
        for path in folder.glob("tmp-checkpoint-*"):
            shutil.rmtree(path, ignore_errors=True)


def finalize_checkpoint(tmp_dir: Path, state: dict, save_total_limit: int) -> Path:
    """Write the trainer state, rename the folder to its final name, and drop the oldest checkpoints."""
    write_json_atomic(tmp_dir / TRAINER_STATE, state)
    final = tmp_dir.with_name(f"checkpoint-{state['step']}")
    if final.exists():
        shutil.rmtree(final)
    os.replace(tmp_dir, final)
    for old in list_checkpoints(tmp_dir.parent)[:-save_total_limit]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def read_trainer_state(checkpoint: Path) -> dict:
    return json.loads((checkpoint / TRAINER_STATE).read_text())
