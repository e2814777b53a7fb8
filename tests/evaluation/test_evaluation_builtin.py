"""The builtin held-out tasks and `hfchat eval`: scores are what they claim, results.json has the promised shape."""

import json
import os
import subprocess
import sys

import pytest
import torch

from hfchat.evaluation import builtin_tasks
from hfchat.evaluation.runner import evaluate, parse_tasks
from hfchat.tokenizer import IM_END
from tests.helpers import HFCHAT, REPO_ROOT, tiny_model


def test_reply_logprobs_batched_equal_one_at_a_time(tiny_tokenizer):
    model = tiny_model(vocab_size=len(tiny_tokenizer))
    prompts = [[{"role": "user", "content": "Hi!"}], [{"role": "user", "content": "What is 2 + 2? Tell me now."}]]
    replies = [[{"role": "assistant", "content": "Hello there, friend."}], [{"role": "assistant", "content": "4"}]]
    batched = builtin_tasks.reply_logprobs(model, tiny_tokenizer, prompts, replies, batch_size=2)
    for prompt, reply, score in zip(prompts, replies, batched):
        head = tiny_tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tiny_tokenizer(head, add_special_tokens=False)["input_ids"]
        reply_ids = tiny_tokenizer(reply[0]["content"] + IM_END, add_special_tokens=False)["input_ids"]
        total = 0.0
        with torch.no_grad():
            for token in reply_ids:  # next-token log-probabilities, one token at a time, no padding
                logits = model(input_ids=torch.tensor([ids])).logits[0, -1]
                total += torch.log_softmax(logits.float(), -1)[token].item()
                ids.append(token)
        assert score == pytest.approx(total, abs=1e-3)


def test_builtin_tasks_score_every_item(tiny_model_dir, tmp_path):
    model_dir = tiny_model_dir
    summary = evaluate(str(model_dir), "builtin_math,builtin_preference", limit=6, batch_size=4,
                       output_dir=tmp_path / "eval")
    math, preference = summary["results"]["builtin_math"], summary["results"]["builtin_preference"]
    assert math["n"] == preference["n"] == 6
    assert {"accuracy", "ends_turn", "format", "stderr", "seconds"} <= set(math)
    written = json.loads((tmp_path / "eval" / "results.json").read_text())
    assert written == summary and written["model"] == str(model_dir)
    details = [json.loads(line) for line in (tmp_path / "eval" / "details" / "builtin_preference.jsonl").open()]
    assert len(details) == 6 and preference["win_rate"] == sum(d["score"] for d in details) / 6
    assert all((d["chosen_logprob"] > d["rejected_logprob"]) == (d["score"] == 1.0) for d in details)
    math_details = [json.loads(line) for line in (tmp_path / "eval" / "details" / "builtin_math.jsonl").open()]
    assert {"prompt", "target", "prediction", "score"} <= set(math_details[0])


def test_unknown_task_and_unloadable_model_are_named(tmp_path):
    with pytest.raises(ValueError, match="`tasks`: unknown task 'mathh'; choose from builtin_math"):
        parse_tasks("builtin_math,mathh")
    with pytest.raises(ValueError, match="--model '.*nothing-here': no such folder"):
        evaluate(str(tmp_path / "nothing-here"), "builtin_math")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="--model '.*empty' does not load as a causal language model"):
        evaluate(str(tmp_path / "empty"), "builtin_math")
    result = subprocess.run([HFCHAT, "eval", "--model", str(tmp_path),
                             "--tasks", "nope"], capture_output=True, text=True)
    assert result.returncode == 2 and "unknown task 'nope'" in result.stderr
    result = subprocess.run([HFCHAT, "eval", "--model", str(tmp_path / "none"),
                             "--tasks", "builtin_math"], capture_output=True, text=True)
    assert result.returncode == 2 and "hfchat eval: --model" in result.stderr and "Traceback" not in result.stderr


def test_errors_name_each_front_ends_own_flag(tmp_path):
    """The library names the field (`task_data`); hfchat eval says --task-data, recipes/evaluate.py --task_data."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cli = subprocess.run([HFCHAT, "eval", "--model", str(tmp_path), "--tasks", "builtin_math", "--task-data",
                          "bpb"], capture_output=True, text=True, env=env)
    assert cli.returncode == 2 and "hfchat eval: --task-data 'bpb': expected TASK=SOURCE" in cli.stderr
    recipe = subprocess.run([sys.executable, str(REPO_ROOT / "recipes" / "evaluate.py"), "--model_name_or_path",
                             str(tmp_path), "--tasks", "builtin_math", "--task_data", "bpb"],
                            capture_output=True, text=True, env=env)
    assert recipe.returncode == 1 and "recipes/evaluate.py: --task_data 'bpb': expected TASK=SOURCE" in recipe.stderr


def test_builtin_tools_reads_the_calls_the_template_writes(tiny_model_dir, tiny_tokenizer):
    from hfchat.data.builtin import CALCULATOR_TOOL
    from hfchat.tokenizer import parse_tool_calls

    call = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": "2+3"}}}
    rendered = tiny_tokenizer.apply_chat_template(
        [{"role": "user", "content": "2 + 3?"}, {"role": "assistant", "content": "Let me check.", "tool_calls": [call]}],
        tools=[CALCULATOR_TOOL], tokenize=False)
    reply = rendered.split("<|im_start|>assistant\n")[-1]
    assert parse_tool_calls(reply) == [{"name": "calculator", "arguments": {"expression": "2+3"}}]
    assert parse_tool_calls("<tool_call>\n{not json}\n</tool_call>") == []
    summary = evaluate(str(tiny_model_dir), "builtin_tools", limit=3, batch_size=3)
    metrics = summary["results"]["builtin_tools"]
    assert metrics["n"] == 3 and 0 <= metrics["call_accuracy"] <= metrics["calls_tool"] <= 1
