"""hfchat/evaluation/lighteval_tasks.py under the real `lighteval accelerate` (0.13, in its own environment with
transformers 4.57, where hfchat is not installed) scores a saved hfchat model exactly as `hfchat eval` does."""

import glob
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO_ROOT

pytestmark = pytest.mark.slow

# Built by `make setup` (see the Makefile); HFCHAT_LIGHTEVAL_ENV points elsewhere.
LIGHTEVAL_ENV = Path(os.environ.get("HFCHAT_LIGHTEVAL_ENV", Path(sys.prefix) / "lighteval-env"))
TASKS_MODULE = REPO_ROOT / "hfchat" / "evaluation" / "lighteval_tasks.py"
ARC_ROWS = [
    ("Which gas do plants take in from the air?", ["oxygen", "carbon dioxide", "nitrogen", "helium"], "B"),
    ("What is the boiling point of water at sea level?", ["50 degrees", "100 degrees", "150 degrees"], "B"),
    ("Which planet is closest to the Sun?", ["Mercury", "Venus", "Earth", "Mars"], "A"),
    ("What do bees make?", ["milk", "silk", "honey", "wax paper"], "C"),
    ("Which animal is a mammal?", ["shark", "whale", "trout", "frog", "newt"], "B"),
    ("What force pulls objects toward Earth?", ["magnetism", "friction", "gravity", "tension"], "D"),
]
GSM8K_ROWS = [
    {"question": "Tom has 3 apples and buys 4 more. How many apples does he have?", "answer": "3 + 4 = 7\n#### 7"},
    {"question": "A box holds 12 pens. How many pens are in 2 boxes?", "answer": "12 * 2 = 24\n#### 24"},
]


def write_jsonl(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture(scope="module")
def lighteval_run(tmp_path_factory, tiny_model_dir):
    """One `lighteval accelerate` run of hfchat_arc_easy and hfchat_gsm8k on local fixtures: (folder, results, details
    per task)."""
    lighteval = LIGHTEVAL_ENV / "bin" / "lighteval"
    if not lighteval.exists():
        message = f"lighteval 0.13 is not installed at {LIGHTEVAL_ENV} (run `make setup`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    folder = tmp_path_factory.mktemp("lighteval")
    # A copy under a relative name: lighteval caches responses under cache_dir/model_name, and an absolute
    # model_name would put that cache inside the model folder.
    shutil.copytree(tiny_model_dir, folder / "model")
    write_jsonl(folder / "data" / "arc_easy" / "test.jsonl", [
        {"id": f"q{i}", "question": q, "choices": {"text": choices, "label": list("ABCDE"[:len(choices)])},
         "answerKey": key} for i, (q, choices, key) in enumerate(ARC_ROWS)])
    write_jsonl(folder / "data" / "gsm8k" / "test.jsonl", GSM8K_ROWS)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(folder / "datasets-cache"),
               HFCHAT_LIGHTEVAL_DATA=str(folder / "data"), CUDA_VISIBLE_DEVICES="", TOKENIZERS_PARALLELISM="false")
    model_args = (f"model_name=model,trust_remote_code=True,override_chat_template=False,dtype=float32,batch_size=1,"
                  f"cache_dir={folder / 'cache'}")
    command = [str(lighteval), "accelerate", model_args, "hfchat_arc_easy|0,hfchat_gsm8k|0", "--custom-tasks",
               str(TASKS_MODULE), "--output-dir", str(folder / "out"), "--max-samples", "6", "--save-details"]
    result = subprocess.run(command, check=False, capture_output=True, text=True, env=env, cwd=folder, timeout=300)
    assert result.returncode == 0, (result.stdout + result.stderr)[-6000:]
    [results_file] = glob.glob(str(folder / "out" / "results" / "**" / "results_*.json"), recursive=True)
    import pyarrow.parquet as pq

    details = {}
    for path in glob.glob(str(folder / "out" / "details" / "**" / "details_*.parquet"), recursive=True):
        task = Path(path).name.removeprefix("details_").split("|")[0]
        details[task] = pq.read_table(path).to_pylist()
    return folder, json.loads(Path(results_file).read_text())["results"], details


@pytest.fixture(scope="module")
def ours(lighteval_run):
    """hfchat's own harness on the same model and fixtures, with its per-item details."""
    from hfchat.evaluation.runner import evaluate

    folder = lighteval_run[0]
    sources = {"arc_easy": str(folder / "data" / "arc_easy" / "test.jsonl"),
               "gsm8k": str(folder / "data" / "gsm8k" / "test.jsonl")}
    summary = evaluate(str(folder / "model"), ["arc_easy", "gsm8k"], sources=sources, batch_size=1,
                       output_dir=folder / "ours")
    details = {task: [json.loads(line) for line in (folder / "ours" / "details" / f"{task}.jsonl").open()]
               for task in sources}
    return summary["results"], details


def test_arc_easy_matches_hfchat_eval(lighteval_run, ours):
    folder, results, details = lighteval_run
    assert len(details["hfchat_arc_easy"]) == len(ARC_ROWS)
    for metric in ("acc", "acc_norm"):
        assert results["hfchat_arc_easy|0"][metric] == pytest.approx(ours[0]["arc_easy"][metric], abs=1e-9)

    # Per item: lighteval's summed log-probability of every choice is hfchat's (same BOS + context, same tokens).
    import torch

    from hfchat.evaluation.chat_tasks import continuation_logprobs
    from hfchat.evaluation.runner import load_model

    model, tokenizer = load_model(str(folder / "model"))
    for item in details["hfchat_arc_easy"]:
        question, choices, _ = ARC_ROWS[int(item["doc"]["id"])]
        assert item["doc"]["query"] == f"Question: {question}\nAnswer:"
        assert item["model_response"]["input_tokens"] == tokenizer(item["doc"]["query"])["input_ids"]
        expected = continuation_logprobs(model, tokenizer, [(item["doc"]["query"], f" {c}") for c in choices], 8)
        torch.testing.assert_close(torch.tensor(item["model_response"]["logprobs"]), torch.tensor(expected),
                                   atol=1e-4, rtol=1e-5)


def test_gsm8k_generates_end_to_end(lighteval_run, ours):
    folder, results, details = lighteval_run
    assert 0.0 <= results["hfchat_gsm8k|0"]["accuracy"] <= 1.0
    assert results["hfchat_gsm8k|0"]["accuracy"] == pytest.approx(ours[0]["gsm8k"]["accuracy"])
    from hfchat.evaluation.runner import load_model

    _, tokenizer = load_model(str(folder / "model"))
    by_question = {d["prompt"]: d for d in ours[1]["gsm8k"]}
    assert len(details["hfchat_gsm8k"]) == len(GSM8K_ROWS)
    for item in details["hfchat_gsm8k"]:
        question = item["doc"]["query"].split("user\n", 1)[1].split("<|im_end|>", 1)[0]
        # The prompt is the token sequence hfchat eval generates from: its chat template for one user turn.
        text = tokenizer.apply_chat_template([{"role": "user", "content": question}], tokenize=False,
                                             add_generation_prompt=True)
        assert item["model_response"]["input_tokens"] == tokenizer(text, add_special_tokens=False)["input_ids"]
        assert item["model_response"]["text"][0], "lighteval generated nothing"
        assert item["model_response"]["text"][0] == by_question[question]["prediction"]
