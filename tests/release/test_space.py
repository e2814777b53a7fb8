"""`hfchat space`: the generated Space folder and its planned upload, then the generated app run as a Space runs it
(``python app.py``) against `hfchat serve` and in-process, driven by gradio_client and by a headless browser."""

import contextlib
import os
import shutil
import sys
from importlib.metadata import version
from itertools import pairwise
from pathlib import Path

import pytest

from hfchat.export.space import push_space, space_operations, write_space
from hfchat.serving.launch import free_port, running_process, running_server
from tests.helpers import CHAT_CONVERSATIONS, REPO_ROOT

GREETING = CHAT_CONVERSATIONS[0][1]["content"]  # what the chat fixture answers to "Hello"
SCREENSHOT = REPO_ROOT / "benchmarks" / "results" / "space_demo.png"


def test_space_folder(tmp_path):
    from huggingface_hub import SpaceCard

    (tmp_path / "space").mkdir()
    (tmp_path / "space" / "stale.txt").write_text("from an earlier run")
    folder = write_space("someone/tiny-chat", tmp_path / "space", endpoint="http://127.0.0.1:8080")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "app.py", "requirements.txt"]
    card = SpaceCard.load(folder / "README.md")
    assert (card.data.sdk, card.data.sdk_version, card.data.app_file) == ("gradio", version("gradio"), "app.py")
    assert card.data.models == ["someone/tiny-chat"] and card.data.pinned is False and card.data.title
    app = (folder / "app.py").read_text()
    compile(app, "app.py", "exec")
    imports = [line.split()[1] for line in app.splitlines() if line.startswith(("import ", "from "))]
    assert not [name for name in imports if name.startswith("hfchat")]  # a Space does not have hfchat installed
    assert '"http://127.0.0.1:8080"' in app and "HFCHAT_ENDPOINT" in app and "InferenceClient" in app
    assert "transformers" not in app and "type=" not in app  # gradio 6's ChatInterface has no type=
    requirements = (folder / "requirements.txt").read_text().split()
    assert f"gradio=={version('gradio')}" in requirements and not any(r.startswith("torch") for r in requirements)

    local = write_space("someone/tiny-chat", tmp_path / "local")
    assert "AutoModelForCausalLM" in (local / "app.py").read_text()
    assert {r.split(">=")[0] for r in (local / "requirements.txt").read_text().split()} >= {"torch", "transformers"}
    with pytest.raises(ValueError, match="--endpoint"):
        write_space("someone/tiny-chat", tmp_path / "bad", endpoint="127.0.0.1:8080")
    assert not (tmp_path / "bad").exists()


def test_push_space_uploads_the_folder_in_one_commit(tmp_path, monkeypatch):
    from huggingface_hub import HfApi, RepoUrl

    folder = write_space("someone/tiny-chat", tmp_path / "space", endpoint="http://127.0.0.1:8080")
    (folder / "__pycache__").mkdir()
    (folder / "__pycache__" / "app.cpython-311.pyc").write_bytes(b"")  # left by a local run: not uploaded
    operations = space_operations(folder)
    assert [(op.path_in_repo, Path(op.path_or_fileobj)) for op in operations] == [
        (name, folder / name) for name in ("README.md", "app.py", "requirements.txt")]
    calls = []
    monkeypatch.setattr(HfApi, "create_repo", lambda self, repo_id, **kw: calls.append(("repo", repo_id, kw))
                        or RepoUrl(f"https://huggingface.co/spaces/{repo_id}"))
    monkeypatch.setattr(HfApi, "create_commit", lambda self, repo_id, ops, **kw: calls.append(("commit", repo_id, ops, kw)))
    assert push_space(folder, "someone/tiny-chat-demo") == "https://huggingface.co/spaces/someone/tiny-chat-demo"
    (_, repo_id, repo_kw), (_, commit_repo, ops, commit_kw) = calls
    assert repo_id == commit_repo == "someone/tiny-chat-demo" and commit_kw["repo_type"] == "space"
    assert repo_kw == {"repo_type": "space", "space_sdk": "gradio", "exist_ok": True, "private": False}
    assert [op.path_in_repo for op in ops] == ["README.md", "app.py", "requirements.txt"]
    with pytest.raises(FileNotFoundError, match="app.py"):
        space_operations(tmp_path)


@contextlib.contextmanager
def running_app(folder: Path, env: dict, timeout: float = 180):
    """``python app.py`` in ``folder`` on a free port, as a Space starts it; yields its URL once the page answers."""
    port = free_port()
    env = {**env, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "GRADIO_ANALYTICS_ENABLED": "False", "TOKENIZERS_PARALLELISM": "false"}
    url = f"http://127.0.0.1:{port}"
    with running_process([sys.executable, "app.py"], url, env=env, cwd=folder, timeout=timeout):
        yield url


def ask(url: str, message: str) -> list[str]:
    """Send one message through the app's API, greedy; return the reply as the client saw it grow."""
    from gradio_client import Client

    # ChatInterface(api_name="chat") takes the message, then the additional inputs (system prompt, max new tokens,
    # temperature); a fresh client starts a fresh conversation
    job = Client(url, verbose=False).submit(message, "", 64, 0, api_name="/chat")
    return list(job)


@pytest.mark.slow
def test_space_app_against_hfchat_serve(chat_model_dir, tmp_path):
    # InferenceClient refuses even localhost when HF_HUB_OFFLINE=1; neither the server nor the app needs the Hub
    online = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    with running_server(chat_model_dir, "--model-id", "tiny-chat", env=online) as server:
        folder = write_space("someone/tiny-chat", tmp_path / "space", endpoint=server, title="hfchat tiny chat")
        with running_app(folder, online) as url:
            replies = ask(url, "Hello")
            assert replies[-1] == GREETING
            assert len(replies) > 1 and all(b.startswith(a) for a, b in pairwise(replies))  # it streamed
            screenshot(url, tmp_path / "space_demo.png")


def screenshot(url: str, path: Path) -> None:
    """Send "Hello" through the page as a person would (greedy, from the settings accordion) and save the page."""
    chromium = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if os.path.exists(p)), None)
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (make setup installs it: apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1000, "height": 900})
        page.goto(url)
        page.get_by_text("Additional Inputs").click()
        temperature = page.get_by_label("number input for Temperature (0 = greedy)")
        temperature.fill("0")
        temperature.press("Enter")
        textbox = page.get_by_role("textbox").first
        textbox.fill("Hello")
        textbox.press("Enter")
        page.get_by_text(GREETING).wait_for(timeout=60000)
        page.screenshot(path=str(path))
        browser.close()
    assert path.stat().st_size > 1000
    if os.environ.get("HFCHAT_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, SCREENSHOT)


@pytest.mark.slow
def test_space_app_in_process(chat_model_dir, tmp_path):
    folder = write_space(str(chat_model_dir), tmp_path / "space")
    with running_app(folder, {**os.environ, "HF_HUB_OFFLINE": "1"}) as url:
        assert ask(url, "Hello")[-1] == GREETING
