"""The CORE base suite on a small eval bundle in DCLM's format: rendering against golden files, scoring against a
brute-force computation, centring and the aggregate, and clear errors for a broken bundle."""

import csv
import json
import math
from pathlib import Path

import pytest
import torch
import yaml

from hfchat.evaluation import core
from hfchat.evaluation.runner import evaluate
from tests.helpers import REPO_ROOT, run_recipe

GOLDEN = REPO_ROOT / "tests" / "golden" / "prompts"

MC_ROWS = [{"query": "Question: What do bees make?\nAnswer:", "choices": ["honey", "milk", "silk"], "gold": 0},
           {"query": "Question: What is frozen water?\nAnswer:", "choices": ["steam", "ice", "sand"], "gold": 1},
           {"query": "Question: Which animal barks?\nAnswer:", "choices": ["a cat", "a dog", "a fish"], "gold": 1},
           {"query": "Question: What color is grass?\nAnswer:", "choices": ["green", "blue", "red"], "gold": 0}]
SCHEMA_ROWS = [{"context_options": ["The ball broke the window because the ball",
                                    "The ball broke the window because the window"],
                "continuation": "was hard.", "gold": 0},
               {"context_options": ["Anna gave Mia a gift because Anna", "Anna gave Mia a gift because Mia"],
                "continuation": "had a birthday.", "gold": 1},
               {"context_options": ["The cup fell off the table because the cup",
                                    "The cup fell off the table because the table"],
                "continuation": "was near the edge.", "gold": 0}]
LM_ROWS = [{"context": "One, two, three, four, ", "continuation": "five"},
           {"context": "Monday, Tuesday, Wednesday, ", "continuation": "Thursday"},
           {"context": "red, orange, yellow, ", "continuation": "green"}]
TASKS = [("tiny_mc", "multiple_choice", 2, "mc.jsonl", MC_ROWS, 100 / 3),
         ("tiny_schema", "schema", 1, "schema.jsonl", SCHEMA_ROWS, 50.0),
         ("tiny_lm", "language_modeling", 1, "lm.jsonl", LM_ROWS, 0.0)]


def write_bundle(root: Path) -> Path:
    """An eval bundle laid out as DCLM's: core.yaml, eval_meta_data.csv and eval_data/<category>/<task>.jsonl."""
    (root / "eval_data" / "tiny").mkdir(parents=True)
    icl_tasks = []
    for label, kind, shots, name, rows, _ in TASKS:
        (root / "eval_data" / "tiny" / name).write_text("".join(json.dumps(r) + "\n" for r in rows))
        icl_tasks.append({"label": label, "dataset_uri": f"tiny/{name}", "num_fewshot": [shots],
                          "icl_task_type": kind, "continuation_delimiter": " "})
    (root / "core.yaml").write_text(yaml.safe_dump({"icl_tasks": icl_tasks}))
    with (root / "eval_meta_data.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["Eval Task", "Task Category", "Task Type", "#shots", "Random baseline"])
        for label, kind, shots, _, _, baseline in TASKS:
            writer.writerow([label, "tiny", kind, shots, baseline])
    return root


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    return write_bundle(tmp_path_factory.mktemp("eval_bundle"))


@pytest.fixture(scope="module")
def model_and_tokenizer(tiny_model_dir):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    return AutoModelForCausalLM.from_pretrained(tiny_model_dir).eval(), AutoTokenizer.from_pretrained(tiny_model_dir)


@pytest.mark.parametrize("label", ["tiny_mc", "tiny_schema", "tiny_lm"])
def test_rendered_fewshot_prompts_match_golden_files(bundle, label):
    task = next(t for t in core.load_bundle(bundle) if t["label"] == label)
    pairs = core.render(task, 1)
    rendered = "\n=====\n".join(context + continuation for context, continuation in pairs)
    assert rendered == (GOLDEN / f"core_{label}.txt").read_text(encoding="utf-8")
    assert core.render(task, 1) == pairs  # the few-shot draw is seeded


def _mean_logprob_brute_force(model, ids: list[int], first: int) -> tuple[float, bool]:
    """Mean log-probability of ids[first:] and whether greedy decoding predicts all of them, one sequence at a time."""
    with torch.no_grad():
        logprobs = torch.log_softmax(model(input_ids=torch.tensor([ids])).logits[0].float(), dim=-1)
    targets = ids[first:]
    picked = [logprobs[first - 1 + i, token].item() for i, token in enumerate(targets)]
    greedy = all(logprobs[first - 1 + i].argmax().item() == token for i, token in enumerate(targets))
    return sum(picked) / len(picked), greedy


def test_core_scores_equal_a_brute_force_computation(bundle, model_and_tokenizer):
    model, tokenizer = model_and_tokenizer
    details = core.core(model, tokenizer, source=str(bundle), batch_size=4)
    tasks = {t["label"]: t for t in core.load_bundle(bundle)}
    assert [d["task"] for d in details] == ["tiny_mc"] * 4 + ["tiny_schema"] * 3 + ["tiny_lm"] * 3
    for detail in details:
        task = tasks[detail["task"]]
        pairs = core.render(task, detail["line"] - 1)
        bos = [tokenizer.bos_token_id]
        if task["type"] == "language_modeling":
            context, continuation = pairs[0]
            context_ids = bos + tokenizer(context, add_special_tokens=False)["input_ids"]
            full = bos + tokenizer(context + continuation, add_special_tokens=False)["input_ids"]
            assert full[:len(context_ids)] == context_ids
            _, greedy = _mean_logprob_brute_force(model, full, len(context_ids))
            assert detail["score"] == float(greedy)
            continue
        sequences = [bos + tokenizer(c + x, add_special_tokens=False)["input_ids"] for c, x in pairs]
        if task["type"] == "multiple_choice":  # options share the context: score after the common prefix
            first = next(i for i in range(min(map(len, sequences))) if len({s[i] for s in sequences}) > 1)
            firsts = [first] * len(sequences)
        else:  # options share the continuation: score the common suffix
            suffix = next(i for i in range(1, min(map(len, sequences)) + 1) if len({s[-i] for s in sequences}) > 1) - 1
            firsts = [len(s) - suffix for s in sequences]
        means = [_mean_logprob_brute_force(model, s, f)[0] for s, f in zip(sequences, firsts)]
        best = max(range(len(means)), key=means.__getitem__)
        assert detail["prediction"] == best
        assert detail["score"] == float(best == task["rows"][detail["line"] - 1]["gold"])


def test_core_centres_each_task_on_its_random_baseline_and_averages():
    details = ([{"task": "a", "score": s, "baseline": 0.25} for s in (1, 1, 0, 1)]
               + [{"task": "b", "score": s, "baseline": 0.5} for s in (1, 0)]
               + [{"task": "c", "score": s, "baseline": 0.0} for s in (0, 0, 1, 0)])
    metrics = core.core_metrics(details)
    assert metrics["a"] == 0.75 and metrics["a_centered"] == pytest.approx(2 / 3)
    assert metrics["b_centered"] == 0.0 and metrics["c_centered"] == 0.25
    assert metrics["core"] == pytest.approx((2 / 3 + 0.0 + 0.25) / 3)
    variances = [0.75 * 0.25 / 4 / 0.75**2, 0.5 * 0.5 / 2 / 0.5**2, 0.25 * 0.75 / 4]
    assert metrics["stderr"] == pytest.approx(math.sqrt(sum(variances)) / 3)


def test_hfchat_eval_core_from_a_local_bundle(bundle, tiny_model_dir, tmp_path, monkeypatch):
    monkeypatch.setenv(core.BUNDLE_ENV, str(bundle))
    summary = evaluate(str(tiny_model_dir), "core", limit=2, output_dir=tmp_path / "out")
    results = summary["results"]["core"]
    assert results["n"] == 6  # two items per task
    centred = [results[f"{label}_centered"] for label in ("tiny_mc", "tiny_schema", "tiny_lm")]
    assert results["core"] == pytest.approx(sum(centred) / 3)
    assert all(math.isfinite(v) for v in centred)
    lines = (tmp_path / "out" / "details" / "core.jsonl").read_text().splitlines()
    assert {json.loads(line)["task"] for line in lines} == {"tiny_mc", "tiny_schema", "tiny_lm"}


def test_a_broken_bundle_is_a_clear_error(bundle, tmp_path, monkeypatch):
    monkeypatch.delenv(core.BUNDLE_ENV, raising=False)
    with pytest.raises(ValueError, match="HFCHAT_EVAL_BUNDLE"):
        core.load_bundle(None)
    with pytest.raises(ValueError, match="no such folder"):
        core.load_bundle(str(tmp_path / "missing"))
    broken = write_bundle(tmp_path / "broken")
    config = yaml.safe_load((broken / "core.yaml").read_text())
    config["icl_tasks"][1]["icl_task_type"] = "cloze"
    (broken / "core.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match=r"icl_tasks\[1\] \(tiny_schema\): icl_task_type 'cloze'"):
        core.load_bundle(broken)
    config["icl_tasks"][1]["icl_task_type"] = "schema"
    config["icl_tasks"][2]["dataset_uri"] = "tiny/nothing.jsonl"
    (broken / "core.yaml").write_text(yaml.safe_dump(config))
    with pytest.raises(ValueError, match="dataset_uri 'tiny/nothing.jsonl'"):
        core.load_bundle(broken)


@pytest.mark.slow
def test_recipe_under_accelerate_gathers_the_same_results_as_one_process(bundle, tiny_model_dir, tmp_path):
    """recipes/evaluate.py with 2 processes: each runs half of every task's items; the main process writes results
    equal to a single-process run, with every item's details in order."""
    config = tmp_path / "evaluate.yaml"
    config.write_text(yaml.safe_dump({"model_name_or_path": str(tiny_model_dir), "tasks": "core,builtin_math,bpb",
                                      "limit": 3, "batch_size": 4, "task_data": [f"core={bundle}"]}))
    run_recipe("evaluate", config, "--output_dir", str(tmp_path / "two"), processes=2)
    two = json.loads((tmp_path / "two" / "results.json").read_text())["results"]
    one = evaluate(str(tiny_model_dir), "core,builtin_math,bpb", limit=3, batch_size=4, sources={"core": str(bundle)},
                   output_dir=tmp_path / "one")["results"]
    for task in one:
        for metric, value in one[task].items():
            if metric != "seconds":
                assert two[task][metric] == pytest.approx(value, abs=1e-9), (task, metric)
    for task in ("core", "builtin_math"):
        lines = [(tmp_path / run / "details" / f"{task}.jsonl").read_text().splitlines() for run in ("one", "two")]
        assert [json.loads(x)["prompt"] for x in lines[0]] == [json.loads(x)["prompt"] for x in lines[1]]
