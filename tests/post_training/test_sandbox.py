"""The sandbox stops what model-written code must not do, and the calculator runs in it."""

import os

import pytest

from hfchat.tools.calculator import CalculatorError, calculate, check_expression, run_tool_call
from hfchat.tools.sandbox import run_python


def test_runs_code_and_returns_output():
    result = run_python("import sys\nprint(input() * 2)\nprint('oops', file=sys.stderr)", stdin="ab\n")
    assert result.ok and result.stdout == "abab\n" and result.stderr == "oops\n"
    failed = run_python("raise SystemExit(3)")
    assert failed.status == "error" and failed.returncode == 3


def test_infinite_loop_is_killed_at_the_wall_time_limit():
    result = run_python("while True:\n    pass", timeout=1)
    assert result.status == "timeout" and result.seconds < 5


def test_memory_bomb_fails_with_memory_error():
    result = run_python("x = bytearray(4 * 1024**3)\nprint('allocated')", memory_mb=256)
    assert not result.ok and "MemoryError" in result.stderr and "allocated" not in result.stdout


def test_fork_bomb_and_subprocesses_are_refused():
    result = run_python("import os\nwhile True:\n    os.fork()", timeout=5)
    assert not result.ok and "os.fork is not allowed" in result.stderr
    result = run_python("import subprocess\nsubprocess.run(['echo', 'hi'])")
    assert not result.ok and "subprocess is not allowed" in result.stderr
    result = run_python("import os\nos.system('echo hi')")
    assert not result.ok and "not allowed" in result.stderr and "hi" not in result.stdout


def test_children_die_with_the_timeout(tmp_path):
    # Even code that gets a thread going cannot outlive its run.
    result = run_python("import threading, time\nthreading.Thread(target=time.sleep, args=(60,)).start()\n"
                        "time.sleep(60)", timeout=1)
    assert result.status == "timeout"


def test_writes_outside_the_working_directory_are_refused(tmp_path):
    target = tmp_path / "escaped.txt"
    for code in (f"open({str(target)!r}, 'w').write('x')",
                 f"import os\nos.close(os.open({str(target)!r}, os.O_CREAT | os.O_WRONLY))",
                 f"import shutil\nopen('a.txt', 'w').write('x')\nshutil.copy('a.txt', {str(target)!r})",
                 f"import pathlib\npathlib.Path({str(target)!r}).write_text('x')"):
        result = run_python(code)
        assert not result.ok and "outside the working directory" in result.stderr, code
    assert not target.exists()
    inside = run_python("open('notes.txt', 'w').write('kept')\nprint(open('notes.txt').read())")
    assert inside.ok and inside.stdout == "kept\n"


def test_each_run_gets_a_fresh_directory_and_a_scrubbed_environment(monkeypatch):
    monkeypatch.setenv("HFCHAT_SECRET", "do-not-leak")
    first = run_python("import os\nopen('left.txt', 'w').write('x')\nprint(os.getcwd())")
    second = run_python("import os\nprint(os.listdir('.'), sorted(os.environ))")
    assert first.ok and second.ok and not os.path.exists(first.stdout.strip())
    assert "left.txt" not in second.stdout and "HFCHAT_SECRET" not in second.stdout


def test_sockets_are_refused():
    result = run_python("import socket\ns = socket.socket()\ns.connect(('127.0.0.1', 80))")
    assert not result.ok and "network access is not allowed" in result.stderr
    result = run_python("import urllib.request\nurllib.request.urlopen('http://127.0.0.1:9/')")
    assert not result.ok and "network access is not allowed" in result.stderr


def test_output_is_capped():
    result = run_python("print('x' * 100_000)", max_output=1000)
    assert result.truncated and len(result.stdout) == 1000


def test_bad_limits_are_named():
    with pytest.raises(ValueError, match="timeout, memory_mb and max_output must be positive"):
        run_python("print(1)", timeout=0)


@pytest.mark.parametrize("expression, value", [
    ("(3+4)*5", "35"), ("17*23", "391"), ("2**10", "1024"), ("7/2", "3.5"), ("-3 + 10 % 4", "-1"),
    ("'abc'.upper() + 'd' * 2", "ABCdd"), ("len('hello')", "5"), ("'stressed'[::-1]", "desserts"),
    ("max(3, 9, 4)", "9"),
])
def test_calculator_evaluates_arithmetic_and_string_operations(expression, value):
    assert calculate(expression) == value


@pytest.mark.parametrize("expression, message", [
    ("__import__('os')", "unknown name '__import__'"), ("().__class__", "unknown method '__class__'"),
    ("x + 1", "unknown name 'x'"), ("lambda: 1", "Lambda is not allowed"), ("2 +", "cannot parse"),
    ("", "non-empty string"), ("[i for i in 'ab']", "is not allowed"),
])
def test_calculator_refuses_what_is_not_arithmetic(expression, message):
    with pytest.raises(CalculatorError, match=message):
        check_expression(expression)
    assert calculate(expression).startswith("error: ")


def test_calculator_errors_are_answers_not_exceptions():
    assert calculate("1/0") == "error: ZeroDivisionError: division by zero"
    assert calculate("9**9**9", timeout=1) == "error: the calculation took longer than 1 s"
    assert calculate("'a' * 10**10").startswith("error: MemoryError")
    assert run_tool_call({"name": "calculator", "arguments": {"expression": "6*7"}}) == "42"
    assert run_tool_call({"name": "search", "arguments": {}}) == "error: unknown tool 'search' (available: calculator)"
    assert run_tool_call({"name": "calculator", "arguments": "6*7"}) == "error: arguments must be a JSON object"
