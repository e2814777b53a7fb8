"""A Gradio chat demo for a model, as a folder that runs on Hugging Face Spaces.

    hfchat space --model me/tiny-chat --output runs/tiny/space --endpoint https://my-endpoint.example
    hfchat space --model me/tiny-chat --output runs/tiny/space --push --repo-id me/tiny-chat-demo

The folder holds ``app.py`` (a `gradio.ChatInterface`), ``requirements.txt`` and ``README.md`` whose front matter
tells the Hub how to run it (``sdk: gradio``, ``sdk_version``, ``app_file``, ``models``). With an endpoint the app
streams replies from it through `huggingface_hub.InferenceClient` (any OpenAI-compatible server: `hfchat serve`, TGI,
vLLM, an Inference Endpoint), so the Space itself needs no GPU; without one it loads the model in-process with
transformers. The app imports nothing of hfchat, because a Space does not have it installed. The templates live in
the repository's ``model_card/`` folder, beside the model card template.
"""

import json
import logging
import os
from importlib.metadata import version
from pathlib import Path

from ..files import shipped

logger = logging.getLogger(__name__)

TEMPLATES = shipped("model_card")
APP_TEMPLATE = "space_app.py.jinja"
README_TEMPLATE = "space_readme.md.jinja"
SPACE_FILES = ("app.py", "requirements.txt", "README.md")


def write_space(model: str, output: str | os.PathLike, endpoint: str | None = None, title: str | None = None) -> Path:
    """Write the Space folder for ``model`` (a Hub repo id; a local folder works for running the app locally) to
    ``output``, replacing any folder there only once the new one is complete. ``endpoint`` is the base URL of an
    OpenAI-compatible server to stream from; without it the app loads the model itself. Returns ``output``."""
    from hfchat.files import replace_folder

    if endpoint is not None and not endpoint.startswith(("http://", "https://")):
        raise ValueError(f"--endpoint must be an http:// or https:// URL, got {endpoint!r}")
    title = title or f"Chat with {Path(model).name if Path(model).exists() else model.split('/')[-1]}"
    app = _render(APP_TEMPLATE, model=model, endpoint=endpoint, title=title,
                  description=f"Chat with `{model}`" + (" through an OpenAI-compatible endpoint." if endpoint else "."))
    compile(app, "app.py", "exec")  # a template mistake fails here, not on the Space
    requirements = space_requirements(in_process=endpoint is None)
    readme = _readme(model, endpoint, title)

    def fill(folder: Path) -> None:
        (folder / "app.py").write_text(app, encoding="utf-8")
        (folder / "requirements.txt").write_text("\n".join(requirements) + "\n", encoding="utf-8")
        (folder / "README.md").write_text(readme, encoding="utf-8")
        check_front_matter(folder / "README.md")

    path = replace_folder(output, fill)
    logger.info("wrote the Space for %s to %s (%s)", model, path, f"endpoint {endpoint}" if endpoint else "in-process")
    return path


def space_requirements(in_process: bool) -> list[str]:
    """The app's pip requirements: the installed gradio exactly (the version the front matter names), and at least
    the installed versions of what the app imports."""
    names = ["huggingface_hub"] + (["transformers", "torch", "accelerate"] if in_process else [])
    return [f"gradio=={gradio_version()}"] + [f"{name}>={_major_minor(version(name))}" for name in names]


def gradio_version() -> str:
    """The installed gradio's version, which the Space pins (it is the one the app was tried with)."""
    from importlib.metadata import PackageNotFoundError

    try:
        return version("gradio")
    except PackageNotFoundError:
        raise ValueError("the Space pins the gradio version it runs, and gradio is not installed: "
                         "pip install 'hfchat[demo]'") from None


def check_front_matter(readme: str | os.PathLike) -> dict:
    """Parse the README's front matter back with huggingface_hub, as the Hub does, and check the keys a Space needs."""
    from huggingface_hub import metadata_load

    metadata = metadata_load(readme) or {}
    missing = [key for key in ("sdk", "sdk_version", "app_file") if not metadata.get(key)]
    if missing or metadata["sdk"] != "gradio":
        raise ValueError(f"{readme}: the front matter needs sdk: gradio, sdk_version and app_file; got {metadata}")
    return metadata


def space_operations(folder: str | os.PathLike) -> list:
    """The commit that uploads ``folder`` as a Space: one `CommitOperationAdd` per file, hidden files and caches left
    out (running the app locally leaves ``.gradio/`` and ``__pycache__/`` behind)."""
    from huggingface_hub import CommitOperationAdd

    folder = Path(folder)
    missing = [name for name in SPACE_FILES if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder} is not a Space folder written by `hfchat space`: no {', '.join(missing)}")
    files = sorted(p for p in folder.rglob("*") if p.is_file() and not any(
        part.startswith(".") or part == "__pycache__" for part in p.relative_to(folder).parts))
    return [CommitOperationAdd(path_in_repo=p.relative_to(folder).as_posix(), path_or_fileobj=p) for p in files]


def push_space(folder: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Create the Gradio Space ``repo_id`` (if needed) and upload ``folder`` to it in one commit; return its URL."""
    from huggingface_hub import HfApi

    operations = space_operations(folder)
    api = HfApi(token=token)
    url = api.create_repo(repo_id, repo_type="space", space_sdk="gradio", exist_ok=True, private=private)
    api.create_commit(url.repo_id, operations, commit_message="Chat demo from `hfchat space`", repo_type="space")
    logger.info("pushed %s to %s", folder, url)
    return str(url)


def _readme(model: str, endpoint: str | None, title: str) -> str:
    from huggingface_hub import SpaceCard, SpaceCardData

    on_hub = _is_repo_id(model)
    if not on_hub:
        logger.warning("%s is not a Hub repo id: the README names no model, and only a local run can load it", model)
    data = SpaceCardData(title=title, emoji="💬", colorFrom="indigo", colorTo="blue", sdk="gradio",
                         sdk_version=gradio_version(), app_file="app.py", pinned=False,
                         models=[model] if on_hub else None, tags=["hfchat"])
    template = _template(README_TEMPLATE).read_text(encoding="utf-8")
    card = SpaceCard.from_template(data, template_str=template, model=model, model_link=on_hub, endpoint=endpoint)
    return str(card).rstrip("\n") + "\n"


def _render(name: str, **values) -> str:
    import jinja2

    environment = jinja2.Environment(undefined=jinja2.StrictUndefined, trim_blocks=True, keep_trailing_newline=True)
    # values land in app.py as Python literals; a JSON string is one, in the double quotes ruff's style prefers
    environment.filters["pyrepr"] = lambda value: json.dumps(value, ensure_ascii=False)
    return environment.from_string(_template(name).read_text(encoding="utf-8")).render(**values)


def _template(name: str) -> Path:
    path = TEMPLATES / name
    if not path.is_file():
        raise FileNotFoundError(f"hfchat space: no template {path}; run hfchat from a clone of the repository "
                                "(the Spaces templates live in its model_card/ folder)")
    return path


def _is_repo_id(model: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if Path(model).exists():
        return False
    try:
        validate_repo_id(model)
    except HFValidationError:
        return False
    return True


def _major_minor(text: str) -> str:
    return ".".join(text.split("+")[0].split(".")[:2])
