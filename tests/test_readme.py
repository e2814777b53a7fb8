"""The documentation is the user's contract: README.md and every docs/*.md are checked as written.

- Every ```python block runs (in a temporary folder). Examples that need a running server are ```py blocks and are
  not run.
- Every line of a ```bash block that starts with `hfchat ` (continuation lines joined, cut at a comment, `&`, `|`,
  `>` or `;`) parses with the `hfchat` command's own argument parser; nothing is run. Placeholders such as `MODEL`
  or `USER/NAME` are ordinary strings to argparse, so no command needs an exception.
- Every `--config` / `--config_file` YAML named in those blocks exists in the repository.
- Every relative link points at an existing file and, with an `#anchor`, at one of its headings.
"""

import re
import shlex

import pytest

from hfchat.cli import build_parser
from tests.helpers import REPO_ROOT

DOCS = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
TEXTS = {path.relative_to(REPO_ROOT).as_posix(): path.read_text(encoding="utf-8") for path in DOCS}
FENCE = r"^```{}\n(.*?)^```"


def fenced(language: str) -> list[tuple[str, int, int, str]]:
    """(doc, index in the doc, line number of the first line, text) for every block in ``language``."""
    return [(doc, index, text.count("\n", 0, match.start(1)) + 1, match.group(1))
            for doc, text in TEXTS.items()
            for index, match in enumerate(re.finditer(FENCE.format(language), text, flags=re.S | re.M))]


def shell_commands() -> list[tuple[str, int, str]]:
    """(doc, line, command) for each command of a bash block, its continuation lines joined."""
    commands = []
    for doc, _, first, block in fenced("bash"):
        lines = block.splitlines()
        index = 0
        while index < len(lines):
            start, command = index, lines[index].strip()
            while command.endswith("\\") and index + 1 < len(lines):
                index += 1
                command = command[:-1].rstrip() + " " + lines[index].strip()
            commands.append((doc, first + start, command))
            index += 1
    return commands


PYTHON_BLOCKS = [(doc, index, block) for doc, index, _, block in fenced("python")]
HFCHAT_COMMANDS = [(doc, line, re.split(r" #|[&|>;]", command, maxsplit=1)[0].strip())
                   for doc, line, command in shell_commands() if command.startswith("hfchat ")]
CONFIGS = sorted({(doc, path) for doc, _, command in shell_commands()
                  for path in re.findall(r"--config(?:_file)?[ =](\S+\.ya?ml)", command)})


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def relative_links() -> list[tuple[str, str]]:
    """(doc, target) for every relative Markdown link outside code."""
    found = []
    for doc, text in TEXTS.items():
        prose = re.sub(r"`[^`\n]*`", "", re.sub(FENCE.format(r"\w*"), "", text, flags=re.S | re.M))
        found += [(doc, target) for target in re.findall(r"\]\(([^)\s]+)\)", prose)
                  if not re.match(r"[a-z]+:", target)]
    return found


LINKS = relative_links()


def test_docs_have_examples():
    assert PYTHON_BLOCKS and HFCHAT_COMMANDS and CONFIGS and LINKS


@pytest.mark.parametrize(("doc", "index", "block"), PYTHON_BLOCKS, ids=[f"{d}-{i}" for d, i, _ in PYTHON_BLOCKS])
def test_python_block_runs(doc, index, block, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(block, f"{doc} python block {index}", "exec"), {"__name__": "__docs__"})


@pytest.mark.parametrize(("doc", "line", "command"), HFCHAT_COMMANDS,
                         ids=[f"{d}:{n}" for d, n, _ in HFCHAT_COMMANDS])
def test_hfchat_command_parses(doc, line, command, capsys):
    try:
        build_parser().parse_args(shlex.split(command)[1:])
    except SystemExit as error:  # argparse exits 2 on an error, 0 after --help
        if error.code:
            pytest.fail(f"{doc} line {line}: `{command}` does not parse: {capsys.readouterr().err.strip()}")


@pytest.mark.parametrize(("doc", "path"), CONFIGS, ids=[f"{d}:{p}" for d, p in CONFIGS])
def test_config_exists(doc, path):
    assert (REPO_ROOT / path).is_file(), f"{doc} names {path}, which does not exist"


@pytest.mark.parametrize(("doc", "target"), LINKS, ids=[f"{d}->{t}" for d, t in LINKS])
def test_link_resolves(doc, target):
    path, _, anchor = target.partition("#")
    file = (REPO_ROOT / doc).parent / path if path else REPO_ROOT / doc
    assert file.exists(), f"{doc}: link {target}: no file {file}"
    if anchor:
        text = re.sub(FENCE.format(r"\w*"), "", file.read_text(encoding="utf-8"), flags=re.S | re.M)
        assert anchor in {slug(h) for h in re.findall(r"^#{1,6} (.+)$", text, flags=re.M)}, \
            f"{doc}: link {target}: no heading #{anchor} in {file.name}"
