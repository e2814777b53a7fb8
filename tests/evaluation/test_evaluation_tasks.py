"""The standard tasks: their formulations checked against brute force and known answers, their prompts against
golden files, and `hfchat eval` over local files in the hub datasets' schemas."""

import json
import math
import subprocess
from pathlib import Path

import pytest
import torch

from hfchat.data.formatters import gsm8k_answer
from hfchat.evaluation import chat_tasks, code_tasks, language_modeling
from hfchat.evaluation.runner import evaluate
from tests.helpers import HFCHAT, REPO_ROOT

GOLDEN = REPO_ROOT / "tests" / "golden" / "prompts"

ARC_ROWS = [
    {"id": "a1", "question": "Which gas do plants take in?", "answerKey": "B",
     "choices": {"text": ["oxygen", "carbon dioxide", "helium", "neon"], "label": ["A", "B", "C", "D"]}},
    {"id": "a2", "question": "What melts ice fastest?", "answerKey": "3",
     "choices": {"text": ["shade", "wind", "sunlight"], "label": ["1", "2", "3"]}},
]
MMLU_ROWS = [{"question": "2 + 2 =", "subject": "math", "choices": ["3", "4", "5", "6"], "answer": 1},
             {"question": "The capital of France is", "subject": "geo", "choices": ["Paris", "Rome", "Oslo", "Bern"],
              "answer": 0}]
GSM8K_ROWS = [{"question": "Tom has 3 apples and buys 4 more. How many apples?", "answer": "3 + 4 = 7\n#### 7"},
              {"question": "A box holds 1,200 pens; 200 are sold. How many are left?", "answer": "#### 1,000"}]


def _jsonl(path: Path, rows: list[dict]) -> str:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return str(path)


def test_multiple_choice_rows_from_both_schemas_and_bad_rows_are_named():
    assert chat_tasks.multiple_choice_item(ARC_ROWS[1], "arc") == ("What melts ice fastest?",
                                                                   ["shade", "wind", "sunlight"], 2)
    assert chat_tasks.multiple_choice_item(MMLU_ROWS[0], "mmlu")[2] == 1
    assert chat_tasks.multiple_choice_item({**MMLU_ROWS[0], "answer": "C"}, "mmlu")[2] == 2
    with pytest.raises(ValueError, match="my.jsonl: row .* is not a multiple-choice item"):
        chat_tasks.multiple_choice_item({"question": "q", "choices": ["a"], "answer": 4}, "my.jsonl")
    assert gsm8k_answer("so <<2*500=1000>>1,000 left\n#### 1,000") == ("so 1,000 left", "1000")


def test_log_likelihood_scores_equal_brute_force_per_choice(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    pairs = [("Question: Which gas do plants take in?\nAnswer:", f" {c}") for c in ARC_ROWS[0]["choices"]["text"]]
    pairs.append(("Question: 2 + 2 =\nAnswer:", " 4"))
    batched = chat_tasks.continuation_logprobs(model, tokenizer, pairs, batch_size=3)
    for (context, continuation), got in zip(pairs, batched):
        context_ids = tokenizer(context)["input_ids"]
        full = tokenizer(context + continuation)["input_ids"]
        assert full[:len(context_ids)] == context_ids  # the split is clean for these texts
        with torch.no_grad():
            logprobs = torch.log_softmax(model(input_ids=torch.tensor([full])).logits[0].float(), -1)
        expected = sum(float(logprobs[i - 1, full[i]]) for i in range(len(context_ids), len(full)))
        assert got == pytest.approx(expected, abs=1e-4)


def test_letter_scoring_reads_the_logit_after_the_chat_prompt(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    prompts = [chat_tasks.multiple_choice_messages(r["question"], r["choices"]) for r in MMLU_ROWS]
    picks = chat_tasks.letter_scores(model, tokenizer, prompts, [4, 2], batch_size=2)  # batched, left-padded
    for prompt, n, pick in zip(prompts, [4, 2], picks):
        text = tokenizer.apply_chat_template(prompt, tokenize=False, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False, return_tensors="pt")["input_ids"]
        with torch.no_grad():
            last = model(input_ids=ids).logits[0, -1]
        letters = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(x))[0] for x in "ABCD"[:n]]
        assert pick == int(last[letters].argmax())


def test_humaneval_canonical_solutions_pass_and_empty_completions_fail():
    problems = code_tasks.load_problems()
    assert len(problems) == 164
    assert all(code_tasks.score(problems, [p["canonical_solution"] for p in problems]))
    assert not any(code_tasks.score(problems[:16], [""] * 16))
    # A chat reply with the whole function in a code block runs as well as a bare continuation.
    first = problems[0]
    reply = f"Here it is:\n```python\n{first['prompt']}{first['canonical_solution']}```\nDone."
    assert code_tasks.passes(first, reply)
    assert not code_tasks.passes(first, "```python\ndef nothing():\n    pass\n```")


def test_bits_per_byte_of_a_uniform_model_is_log2_vocab_over_bytes_per_token(tiny_model_dir, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval()
    with torch.no_grad():
        model.lm_head.weight.zero_()  # every logit 0: uniform over the whole vocabulary
    texts = ["The quick brown fox jumps over the lazy dog. " * 30, "Ünïcödé àccents, naïve café 🙂 " * 20]
    source = _jsonl(tmp_path / "texts.jsonl", [{"text": t} for t in texts])
    metrics = language_modeling.bpb_metrics(language_modeling.bpb(model, tokenizer, source=source))
    tokens = sum(len(tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    vocab = model.config.vocab_size
    assert metrics["tokens"] == tokens and metrics["bytes"] == n_bytes
    assert metrics["bits_per_byte"] == pytest.approx(math.log2(vocab) / (n_bytes / tokens), rel=1e-6)
    assert metrics["perplexity"] == pytest.approx(vocab, rel=1e-4)


@pytest.mark.parametrize("task", ["arc_easy", "mmlu", "gsm8k", "humaneval"])
def test_rendered_prompts_match_golden_files(task, tiny_tokenizer):
    if task == "arc_easy":
        question, choices, _ = chat_tasks.multiple_choice_item(ARC_ROWS[0], "arc")
        messages = chat_tasks.multiple_choice_messages(question, choices)
    elif task == "mmlu":
        question, choices, _ = chat_tasks.multiple_choice_item(MMLU_ROWS[1], "mmlu")
        messages = chat_tasks.multiple_choice_messages(question, choices)
    elif task == "gsm8k":
        messages = [{"role": "user", "content": GSM8K_ROWS[0]["question"]}]
    else:
        problem = code_tasks.load_problems()[0]
        messages = [{"role": "user", "content": f"{code_tasks.INSTRUCTION}\n\n```python\n{problem['prompt']}```"}]
    rendered = tiny_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert rendered == (GOLDEN / f"{task}.txt").read_text(encoding="utf-8")


@pytest.mark.slow
def test_hfchat_eval_runs_every_task_from_local_files(chat_model_dir, tmp_path):
    arc = _jsonl(tmp_path / "arc.jsonl", ARC_ROWS)
    mmlu = _jsonl(tmp_path / "mmlu.jsonl", MMLU_ROWS)
    gsm8k = _jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS)
    out = tmp_path / "eval"
    result = subprocess.run(
        [HFCHAT, "eval", "--model", str(chat_model_dir), "--tasks", "arc_easy,arc_challenge,mmlu,gsm8k,humaneval,bpb",
         "--task-data", f"arc_easy={arc}", "--task-data", f"arc_challenge={arc}", "--task-data", f"mmlu={mmlu}",
         "--task-data", f"gsm8k={gsm8k}", "--limit", "4", "--output-dir", str(out)],
        capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    results = json.loads((out / "results.json").read_text())["results"]
    assert results["arc_easy"]["n"] == 2 and results["mmlu"]["n"] == 2 and results["humaneval"]["n"] == 4
    for task in ("arc_easy", "mmlu"):
        assert {"accuracy", "acc", "acc_norm", "stderr", "seconds"} <= set(results[task])
    assert results["bpb"]["bits_per_byte"] > 0 and results["chatcore"]["tasks"] == 5
    details = [json.loads(line) for line in (out / "details" / "gsm8k.jsonl").read_text().splitlines()]
    assert [d["target"] for d in details] == ["7", "1000"]
    assert all({"prompt", "target", "prediction", "score"} <= set(d) for d in details)

    bad = subprocess.run([HFCHAT, "eval", "--model", str(chat_model_dir), "--tasks", "gsm8k",
                          "--task-data", f"mmlu={mmlu}"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "--task-data names 'mmlu', which is not among --tasks gsm8k" in bad.stderr
    wrong = _jsonl(tmp_path / "wrong.jsonl", [{"prompt": "x", "completion": "y"}])
    bad = subprocess.run([HFCHAT, "eval", "--model", str(chat_model_dir), "--tasks", "gsm8k",
                          "--task-data", f"gsm8k={wrong}"], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and "gsm8k rows need columns question and answer" in bad.stderr


def test_judge_scores_are_parsed_and_items_are_checked(tmp_path):
    from hfchat.evaluation.judge import judge_items, parse_score

    assert [parse_score(r) for r in ("85", "Score: 72/100", "I give it 7.5 then 40", "200 then 90", "great")] == [
        85, 72, 40, 90, None]
    assert len(judge_items(limit=5)) == 5 and all(item["reference"] for item in judge_items(limit=5))
    bad = _jsonl(tmp_path / "bad.jsonl", [{"instruction": "Say hi", "answer": "hi"}])
    with pytest.raises(ValueError, match="bad.jsonl: row 0 needs an instruction and a reference answer"):
        judge_items(bad)
    with pytest.raises(ValueError, match="`tasks` judge needs `judge_endpoint`"):
        evaluate("unused", "judge")


@pytest.mark.slow
def test_judge_task_against_a_local_hfchat_serve(chat_model_dir, tmp_path, monkeypatch):
    import os

    import huggingface_hub.constants

    from hfchat.serving.launch import running_server
    from tests.helpers import CHAT_CONVERSATIONS

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)  # InferenceClient refuses even localhost when offline
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    greeting = CHAT_CONVERSATIONS[0]
    items = _jsonl(tmp_path / "items.jsonl", [{"instruction": greeting[0]["content"],
                                                "output": greeting[1]["content"]}] * 2)
    with running_server(chat_model_dir, env=dict(os.environ)) as url:
        summary = evaluate(str(chat_model_dir), "judge", sources={"judge": items}, judge_endpoint=url,
                           output_dir=tmp_path / "out")
    result = summary["results"]["judge"]
    assert result["score"] == 85 and result["unscored"] == 0 and result["n"] == 2
    details = [json.loads(line) for line in (tmp_path / "out" / "details" / "judge.jsonl").read_text().splitlines()]
    assert details[0]["prediction"] == greeting[1]["content"] and details[0]["judge_reply"] == "85"


def test_sampled_pass_at_k_is_reproducible_and_agrees_with_the_evaluate_metric_modules(chat_model_dir, tmp_path):
    from hfchat.evaluation import metrics

    gsm8k = _jsonl(tmp_path / "gsm8k.jsonl", GSM8K_ROWS)
    runs = [evaluate(str(chat_model_dir), "gsm8k,bpb", sources={"gsm8k": gsm8k}, samples=5, temperature=1.0,
                     limit=4, output_dir=tmp_path / name) for name in ("a", "b")]
    results = runs[0]["results"]["gsm8k"]
    assert set(results) >= {"accuracy", "pass@1", "pass@5"}
    assert results["accuracy"] == pytest.approx(results["pass@1"])
    details = [(tmp_path / name / "details" / "gsm8k.jsonl").read_text() for name in ("a", "b")]
    assert details[0] == details[1]  # same seed, same samples
    rows = [json.loads(line) for line in details[0].splitlines()]
    assert all(row["samples"] == 5 and 0 <= row["correct"] <= 5 for row in rows)
    module = metrics.load("pass_at_k").compute(correct=[r["correct"] for r in rows], samples=[5] * len(rows), k=[1, 5])
    assert module == pytest.approx({"pass@1": results["pass@1"], "pass@5": results["pass@5"]})
    chunks = [json.loads(line) for line in (tmp_path / "a" / "details" / "bpb.jsonl").read_text().splitlines()]
    bpb = metrics.load("bits_per_byte").compute(**{key: [c[key] for c in chunks] for key in ("nats", "bytes", "tokens")})
    assert bpb["bits_per_byte"] == pytest.approx(runs[0]["results"]["bpb"]["bits_per_byte"])
    with pytest.raises(ValueError, match="`temperature` > 0"):
        evaluate(str(chat_model_dir), "gsm8k", samples=2, temperature=0.0)


def test_centered_accuracy_module_matches_chatcore(chat_model_dir, tmp_path):
    from hfchat.evaluation import metrics

    arc = _jsonl(tmp_path / "arc.jsonl", ARC_ROWS * 2)
    summary = evaluate(str(chat_model_dir), "arc_easy", sources={"arc_easy": arc}, output_dir=tmp_path / "out")
    rows = [json.loads(line) for line in (tmp_path / "out" / "details" / "arc_easy.jsonl").read_text().splitlines()]
    baseline = summary["results"]["arc_easy"]["random_baseline"]
    module = metrics.load("centered_accuracy").compute(
        predictions=[ord(r["prediction"]) for r in rows], references=[ord(r["target"]) for r in rows],
        random_baseline=baseline)
    assert module["accuracy"] == summary["results"]["arc_easy"]["accuracy"]
    assert module["centered_accuracy"] == pytest.approx(summary["results"]["chatcore"]["chatcore"])


def test_multiple_choice_sft_rows_train_the_token_accuracy_reads(tiny_tokenizer):
    """The SFT formatter and the evaluation share one prompt, and the first token the SFT row trains is the letter
    whose logit ``accuracy`` reads right after the generation prompt."""
    import datasets

    from hfchat.chat_encoding import encode_chat_with_mask
    from hfchat.data.formatters import format_for_stage
    from hfchat.evaluation.builtin_tasks import chat_prompts

    row = {"question": "2 + 2?", "choices": ["3", "4", "5"], "answer": 1}
    messages = format_for_stage(datasets.Dataset.from_list([row]), "sft")[0]["messages"]
    ids, mask = encode_chat_with_mask(tiny_tokenizer, messages)
    [prompt] = chat_prompts(tiny_tokenizer, [chat_tasks.multiple_choice_messages(row["question"], row["choices"])])
    assert ids[:len(prompt)] == prompt and mask.index(1) == len(prompt)
    assert ids[len(prompt)] == tiny_tokenizer.convert_tokens_to_ids(tiny_tokenizer.tokenize("B"))[0]
