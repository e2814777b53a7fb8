"""hfchat installed from its wheel, without the clone: the wheel holds the package, the recipes, the accelerate
configs and the model card templates, and from a folder outside the checkout the main job runs (every stage for a
few steps, then again, skipping what is done), `hfchat push --dry-run` lays out the upload and `hfchat space`
writes the Space."""

import json
import os
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from hfchat.files import SHIPPED_FOLDERS
from tests.helpers import REFUSE_HFCHAT, REPO_ROOT

SAMPLES = ("recipes/tiny/pretrain.yaml", "recipes/tiny/grpo.yaml", "recipes/pretrain.py", "recipes/identity.yaml",
           "accelerate_configs/cpu.yaml", "model_card/model_card.md.jinja", "model_card/space_app.py.jinja",
           "modeling/modeling_hfchat.py", "serving/chat.html")


def test_pyproject_lists_every_package():
    """pyproject.toml names hfchat's packages one by one (it maps the shipped folders into the wheel, which a
    package search cannot): a new subpackage missing from the list would be missing from the wheel."""
    packages = set(tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    inits = (REPO_ROOT / "hfchat").rglob("__init__.py")
    on_disk = {".".join(init.parent.relative_to(REPO_ROOT).parts) for init in inits}
    assert packages == on_disk | {f"hfchat.{name}" for name in SHIPPED_FOLDERS}


@pytest.fixture(scope="module")
def wheel_env(tmp_path_factory):
    """The wheel built from this checkout, installed (not editable) with its required dependencies from the lock
    into a new virtual environment: (wheel, the environment's bin/, its pip install command)."""
    root = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--quiet",
                    "--disable-pip-version-check", "-w", str(root / "dist"), str(REPO_ROOT)], check=True, timeout=600)
    (wheel,) = (root / "dist").glob("hfchat-*.whl")
    subprocess.run([sys.executable, "-m", "venv", str(root / "venv")], check=True, timeout=300)
    python = root / "venv" / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
           "-c", str(REPO_ROOT / "constraints.txt")]
    subprocess.run([*pip, "torch==2.13.0"], check=True, timeout=900)
    subprocess.run([*pip, str(wheel)], check=True, timeout=900)
    return wheel, root / "venv" / "bin", pip


@pytest.mark.slow
def test_the_wheel_holds_the_shipped_folders(wheel_env):
    names = set(zipfile.ZipFile(wheel_env[0]).namelist())
    for path in SAMPLES:
        assert f"hfchat/{path}" in names, path
    assert not any(name.startswith(("tests/", "benchmarks/")) for name in names)


@pytest.mark.slow
@pytest.mark.timeout(1800)
def test_the_wheel_runs_the_speedrun_push_and_space_outside_the_clone(wheel_env, tmp_path):
    bin_dir = wheel_env[1]
    hfchat = str(bin_dir / "hfchat")
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONPATH"}, "HF_HUB_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    where = subprocess.run([str(bin_dir / "python"), "-c", "import hfchat; print(hfchat.__file__)"],
                           capture_output=True, text=True, cwd=work, env=env, check=True)
    assert "site-packages" in where.stdout and str(REPO_ROOT) not in where.stdout

    out = work / "runs" / "tiny"
    command = [hfchat, "speedrun", "--preset", "tiny", "--output-dir", "runs/tiny", "--eval-limit", "8"]
    first = subprocess.run([*command, "--max-steps", "2"], capture_output=True, text=True, env=env, cwd=work,
                           timeout=1200)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-6000:]
    assert str(REPO_ROOT) not in first.stdout  # every recipe and config came from the installed package
    assert "[hfchat] sample: 'Once upon a time'" in first.stdout
    assert json.loads((out / "base" / "metrics.jsonl").read_text().splitlines()[-1])["world_size"] == 2
    for stage in ("sft", "dpo", "grpo"):
        assert json.loads((out / stage / "train_results.json").read_text())["world_size"] == 2
    for stage in ("base", "sft", "dpo", "grpo"):
        summary = json.loads((out / "eval" / f"{stage}.json").read_text())
        assert summary["model"] == str(Path("runs/tiny") / stage)
        assert 0 <= summary["results"]["builtin_math"]["accuracy"] <= 1
        assert 0 <= summary["results"]["builtin_preference"]["win_rate"] <= 1
        assert summary["results"]["builtin_math"]["n"] == 8
        assert summary["results"]["bpb"]["bits_per_byte"] > 0
    report = (out / "report.md").read_text()
    assert "| builtin_math | accuracy |" in report and "| base | sft | dpo | grpo |" in report
    timings = json.loads((out / "stages.json").read_text())
    assert set(timings) == {"tokenizer", "base", "sft", "dpo", "grpo", "eval/base", "eval/sft", "eval/dpo", "eval/grpo"}
    for stage in ("base", "sft", "dpo", "grpo"):  # wall time, steps and final loss of every stage
        row = next(line for line in report.splitlines() if line.startswith(f"| {stage} |"))
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        assert cells[1].endswith((" s", " min")) and cells[2] != "-" and cells[6] != "-", row
    assert "## Environment" in report and "torch 2." in report
    assert (out / "report_loss.png").stat().st_size > 1000 and (out / "report_eval.png").stat().st_size > 1000
    (out / "report.md").unlink()
    rewritten = subprocess.run([hfchat, "report", "--run", "runs/tiny"], capture_output=True, text=True, env=env,
                               cwd=work, timeout=120)
    assert rewritten.returncode == 0 and (out / "report.md").is_file(), rewritten.stderr
    again = subprocess.run(command, capture_output=True, text=True, env=env, cwd=work, timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stdout.count("exists, skipped") == 9  # tokenizer, 4 models, 4 evaluations
    assert "sample:" not in again.stdout  # nothing trained again

    # The chat model loads where hfchat is not importable, through its saved code.
    child = REFUSE_HFCHAT + "from transformers import AutoModelForCausalLM\n" \
        "print(type(AutoModelForCausalLM.from_pretrained(sys.argv[1], trust_remote_code=True)).__name__)\n"
    loaded = subprocess.run([str(bin_dir / "python"), "-c", child, str(out / "grpo")], capture_output=True, text=True,
                            env=env, cwd=work, timeout=300)
    assert loaded.stdout.strip() == "HFChatForCausalLM", loaded.stderr[-3000:]

    dry = subprocess.run([hfchat, "push", "--model", "runs/tiny/grpo", "--repo-id", "me/tiny-chat", "--dry-run",
                          "planned"], capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert dry.returncode == 0, dry.stderr[-3000:]
    card = (work / "planned" / "README.md").read_text()
    assert "me/tiny-chat" in card and "builtin_math" in card  # the card template shipped in the wheel
    planned = {path.name for path in (work / "planned").iterdir()}
    assert {"model.safetensors", "modeling_hfchat.py", "tokenizer.json"} <= planned

    space_command = [hfchat, "space", "--model", "me/tiny-chat", "--output", "space"]
    without_gradio = subprocess.run(space_command, capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert without_gradio.returncode == 2 and "pip install 'hfchat[demo]'" in without_gradio.stderr
    assert len(without_gradio.stderr.strip().splitlines()) == 1, without_gradio.stderr
    subprocess.run([*wheel_env[2], f"{wheel_env[0]}[demo]"], check=True, timeout=900)
    space = subprocess.run(space_command, capture_output=True, text=True, env=env, cwd=work, timeout=300)
    assert space.returncode == 0, space.stderr[-3000:]
    app = (work / "space" / "app.py").read_text()
    assert "me/tiny-chat" in app
    compile(app, "app.py", "exec")
