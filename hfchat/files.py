"""Writing files so that a crash never leaves a half-written one: write ``<name>.tmp``, then rename."""

import json
import os
from collections.abc import Iterable
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
# The clone hfchat runs from, when it runs from one (the report card names its git commit).
REPO_ROOT = PACKAGE.parent


# Folders of the clone that the wheel ships inside the package (pyproject.toml maps them there).
SHIPPED_FOLDERS = ("recipes", "accelerate_configs", "model_card")


def shipped(name: str) -> Path:
    """``recipes``, ``accelerate_configs`` or ``model_card``: in a clone the folder beside the package, in an
    installed wheel the copy inside it."""
    if name not in SHIPPED_FOLDERS:
        raise ValueError(f"{name!r} is not one of the shipped folders {SHIPPED_FOLDERS}")
    inside = PACKAGE / name
    return inside if inside.is_dir() else REPO_ROOT / name


def resolve_shipped(path: str | os.PathLike) -> Path:
    """``path`` itself when it exists; otherwise a relative path into a shipped folder (a preset's
    ``recipes/identity.yaml``) is the installed copy, so presets name their files the same way in a clone and in a
    wheel."""
    path = Path(path)
    if path.exists() or path.is_absolute() or len(path.parts) < 2 or path.parts[0] not in SHIPPED_FOLDERS:
        return path
    installed = shipped(path.parts[0]).joinpath(*path.parts[1:])
    return installed if installed.exists() else path


def write_json_atomic(path: str | os.PathLike, data: dict) -> None:
    """Write ``data`` as indented JSON to ``path`` (parent folders created)."""
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def write_jsonl_atomic(path: str | os.PathLike, rows: Iterable[dict]) -> None:
    """Write one JSON object per line to ``path`` (parent folders created)."""
    write_text_atomic(path, "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows))


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def move_into(staged: str | os.PathLike, folder: str | os.PathLike) -> None:
    """Move every entry of the complete folder ``staged`` into ``folder`` by rename (an entry of the same name is
    replaced), then remove ``staged``: for a folder that keeps other files (a training run's ``output_dir`` with its
    checkpoints), where `replace_folder` would replace them all."""
    import shutil

    staged, folder = Path(staged), Path(folder)
    for entry in staged.iterdir():
        target = folder / entry.name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        os.replace(entry, target)
    staged.rmdir()


def replace_folder(path: str | os.PathLike, fill) -> Path:
    """Build a folder at ``path`` without ever leaving a half-written one there: ``fill(tmp)`` writes into a fresh
    sibling temporary folder, which then takes the place of ``path`` (an existing ``path`` is replaced only after
    ``fill`` succeeded; on an error the temporary folder is removed and ``path`` is untouched)."""
    import shutil
    import tempfile

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.tmp-", dir=path.parent))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private (0700); the result is an ordinary folder
    try:
        fill(tmp)
        if path.exists():
            old = path.with_name(f".{path.name}.old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path
