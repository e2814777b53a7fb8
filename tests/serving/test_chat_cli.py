"""`hfchat chat` driven as a user drives it: a pseudo-terminal, typed lines, Ctrl-C, Ctrl-D."""

import json
import subprocess

import pexpect
import pytest

from tests.helpers import HFCHAT

pytestmark = pytest.mark.slow


def test_interactive_session(chat_model_dir, tmp_path):
    saved = tmp_path / "conversation.json"
    child = pexpect.spawn(HFCHAT, ["chat", "--model", str(chat_model_dir), "--temperature", "0",
                                   "--max-new-tokens", "1500"], encoding="utf-8", timeout=60, dimensions=(40, 200))
    try:
        child.expect_exact("Ctrl-D leaves")
        child.expect_exact(">>> ")
        child.sendline("Hello")
        child.expect_exact("Hi! How can I help you today?")
        child.expect_exact(">>> ")

        child.sendline("/reset")  # the tiny model knows each conversation only from its start
        child.expect_exact("(conversation cleared)")
        child.sendline("What is 17 * 23?")  # the model calls the calculator; the sandbox answers; the model goes on
        child.expect_exact('[calculator] {"expression": "17*23"} -> 391')
        child.expect_exact("The answer is 391.")
        child.expect_exact(">>> ")

        child.sendline("/set temperature=0.5 top_k=3")
        child.expect_exact("temperature=0.5, top_k=3")
        child.sendline("/set top_p=7")
        child.expect_exact("error: top_p must be in (0, 1], got 7")
        child.sendline("/set temperature=0")
        child.expect_exact("temperature=0")
        child.sendline("/frobnicate")
        child.expect_exact("unknown command /frobnicate")

        # Ctrl-C stops the reply, not the program. The song runs about a thousand tokens (two seconds here) before
        # it ends by itself; on a loaded machine the key can arrive after that, so the song starts again.
        for _ in range(5):
            child.sendline("/reset")
            child.sendline("Sing")
            child.expect_exact("la la la")
            child.sendintr()
            if child.expect_exact(["[stopped]", ">>> "]) == 0:
                break
        else:
            pytest.fail("Ctrl-C never stopped a reply in five songs")
        child.expect_exact(">>> ")

        child.sendline("first line \\")  # a trailing backslash continues the message
        child.expect_exact("... ")
        child.sendline("second line")
        child.expect_exact(">>> ")
        child.sendline(f"/save {saved}")
        child.expect_exact(f"to {saved}")
        child.sendline("/reset")
        child.expect_exact("(conversation cleared)")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    messages = json.loads(saved.read_text())["messages"]
    roles = [m["role"] for m in messages]
    assert roles[:3] == ["user", "assistant", "user"]  # Sing, what Ctrl-C kept of the song, the two-line message
    assert messages[0]["content"] == "Sing" and messages[1]["content"].startswith("la la")
    assert messages[2] == {"role": "user", "content": "first line \nsecond line"}


def test_one_shot_prompt_and_bad_flags(chat_model_dir):
    result = subprocess.run([HFCHAT, "chat", "--model", str(chat_model_dir), "--temperature", "0", "-p", "Hello"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "Hi! How can I help you today?"
    result = subprocess.run([HFCHAT, "chat", "--model", str(chat_model_dir), "--min-p", "2", "-p", "Hello"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "min_p must be in [0, 1), got 2.0" in result.stderr
    result = subprocess.run([HFCHAT, "chat", "--model", "./no/such/model", "-p", "Hello"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and "--model './no/such/model': no such folder" in result.stderr
