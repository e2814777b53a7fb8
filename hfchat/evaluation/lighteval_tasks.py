"""hfchat's chat benchmarks as lighteval custom tasks, formulated exactly as ``hfchat eval`` runs them.

Load this file with ``lighteval accelerate ... --custom-tasks hfchat/evaluation/lighteval_tasks.py``. It imports
only lighteval and the standard library: lighteval 0.13 cannot be installed beside hfchat's stack (it pins
``latex2sympy2_extended==1.0.6`` against math-verify 0.9 and breaks on huggingface_hub 2.x), so it runs in its own
environment where hfchat is not installed (``make setup`` builds one as ``.venv/lighteval-env``, see the Makefile),
and it loads an hfchat model through its remote code (``trust_remote_code=True``)::

    .venv/lighteval-env/bin/lighteval accelerate \\
        "model_name=runs/tiny/sft,trust_remote_code=True,override_chat_template=False,dtype=float32,batch_size=8" \\
        "hfchat_arc_easy|0,hfchat_arc_challenge|0,hfchat_mmlu|0,hfchat_gsm8k|0" \\
        --custom-tasks hfchat/evaluation/lighteval_tasks.py --output-dir runs/tiny/lighteval --max-samples 100

    HF_HUB_OFFLINE=1 HF_DATASETS_OFFLINE=1 HFCHAT_LIGHTEVAL_DATA=data/eval \\
        .venv/lighteval-env/bin/lighteval accelerate \\
        "model_name=runs/tiny/sft,trust_remote_code=True,override_chat_template=False,dtype=float32,batch_size=8" \\
        "hfchat_arc_easy|0,hfchat_gsm8k|0" \\
        --custom-tasks hfchat/evaluation/lighteval_tasks.py --output-dir runs/tiny/lighteval

(``HF_HUB_OFFLINE=1`` with local data, see below; without it the datasets come from the Hub. ``--max-samples``
is a quick-look limit.) ``override_chat_template=False`` is required: the tasks write their prompts themselves.
lighteval caches model responses under ``cache_dir/model_name`` keyed by the model arguments, not the weights: pass
a fresh ``cache_dir=...`` (or delete it) after retraining a model in place, and give ``model_name`` as a relative
path (an absolute one puts that cache inside the model folder).

Tasks (results ``acc``/``acc_norm``/``accuracy`` mean the same as in ``hfchat eval``'s results):

- ``hfchat_arc_easy``, ``hfchat_arc_challenge`` (`allenai/ai2_arc` ARC-Easy / ARC-Challenge, test) and
  ``hfchat_mmlu`` (`cais/mmlu` all, test): log-likelihood multiple choice. Context ``"Question: {question}\\nAnswer:"``
  (after the tokenizer's BOS, as lighteval's ``add_special_tokens=True`` default adds it), continuations
  ``" {choice}"``; ``acc``: the choice with the highest summed log-probability; ``acc_norm``: the highest
  log-probability per character of the choice (without the space before it, as lm-eval counts).
- ``hfchat_gsm8k`` (`openai/gsm8k` main, test): the question as one user turn in hfchat's ChatML, written into the
  prompt (``<|im_start|>user\\n{question}<|im_end|>\\n<|im_start|>assistant\\n`` after BOS, the text hfchat's chat
  template gives), a greedy reply of up to 256 tokens stopped at ``<|im_end|>``; ``accuracy``: the reply's final
  answer ("#### N", the last "The answer is N", a ``\\boxed{N}``, else the last number) equals the gold number
  after ``####`` by value. lighteval stops a batch only when every row has ended its turn and decodes without
  special tokens, so with ``batch_size`` > 1 a reply that ended early carries on past its ``<|im_end|>``; use
  ``batch_size=1`` for replies identical to ``hfchat eval``'s.

Local data (offline, or your own rows with the same columns: ARC ``question``, ``choices{text,label}``,
``answerKey``; MMLU ``question``, ``choices`` list, ``answer`` index or letter; gsm8k ``question``, ``answer``):

- ``HFCHAT_LIGHTEVAL_DATA=DIR``: each task reads the folder ``DIR/arc_easy``, ``DIR/arc_challenge``, ``DIR/mmlu``,
  ``DIR/gsm8k`` when it exists (else its Hub dataset);
- ``HFCHAT_LIGHTEVAL_ARC_EASY``, ``HFCHAT_LIGHTEVAL_ARC_CHALLENGE``, ``HFCHAT_LIGHTEVAL_MMLU``,
  ``HFCHAT_LIGHTEVAL_GSM8K=FOLDER``: one task's folder (wins over ``HFCHAT_LIGHTEVAL_DATA``).

A folder is read with ``datasets.load_dataset(FOLDER)``, so its rows must form a ``test`` split: a file named
``test.jsonl``/``test.json``/``test.parquet``/``test.csv`` (or ``test-*.parquet``, a ``test/`` folder). For example
``HFCHAT_LIGHTEVAL_DATA=data/eval`` with ``data/eval/arc_easy/test.jsonl``.
"""

from __future__ import annotations

import os
import re
import statistics
from fractions import Fraction
from pathlib import Path

from lighteval.metrics.metrics import Metrics
from lighteval.metrics.metrics_sample import SampleLevelComputation
from lighteval.metrics.utils.metric_utils import SampleLevelMetric
from lighteval.tasks.lighteval_task import LightevalTaskConfig
from lighteval.tasks.requests import Doc, SamplingMethod

LETTERS = "ABCDEFGHIJ"
DATA_VARIABLE = "HFCHAT_LIGHTEVAL_DATA"
GSM8K_MAX_NEW_TOKENS = 256
# hfchat task name -> (Hub dataset, subset, splits it has, split for few-shot examples); tasks evaluate on "test".
HUB = {
    "arc_easy": ("allenai/ai2_arc", "ARC-Easy", ("train", "validation", "test"), "train"),
    "arc_challenge": ("allenai/ai2_arc", "ARC-Challenge", ("train", "validation", "test"), "train"),
    "mmlu": ("cais/mmlu", "all", ("auxiliary_train", "dev", "validation", "test"), "dev"),
    "gsm8k": ("openai/gsm8k", "main", ("train", "test"), "train"),
}


def task_variable(task: str) -> str:
    return f"HFCHAT_LIGHTEVAL_{task.upper()}"


def data_location(task: str) -> dict:
    """The dataset fields of ``task``'s config: a local folder named by the environment (see the module docstring),
    else the Hub dataset."""
    folder, variable = os.environ.get(task_variable(task)), task_variable(task)
    if not folder and os.environ.get(DATA_VARIABLE):
        candidate = Path(os.environ[DATA_VARIABLE]) / task
        folder, variable = (str(candidate), DATA_VARIABLE) if candidate.is_dir() else (None, None)
    if not folder:
        repo, subset, splits, few_shots = HUB[task]
        return {"hf_repo": repo, "hf_subset": subset, "hf_avail_splits": splits, "few_shots_split": few_shots}
    path = Path(folder).expanduser().resolve()
    if not path.is_dir():
        raise ValueError(f"{variable}: {path} is not a folder (it must hold the {task} rows as e.g. test.jsonl)")
    if not any(part.startswith("test") for item in path.rglob("*") for part in item.relative_to(path).parts):
        raise ValueError(f"{variable}: {path} has no test split (name its file test.jsonl, test.parquet, ...)")
    return {"hf_repo": str(path), "hf_subset": None, "hf_avail_splits": ("test",), "few_shots_split": None}


def multiple_choice_item(row: dict) -> tuple[str, list[str], int]:
    """(question, choices, index of the answer) from an ARC row or an MMLU row, as hfchat reads them."""
    question, choices = row["question"], row["choices"]
    if isinstance(choices, dict):  # ARC: choices {text, label}, answerKey
        labels = [str(label) for label in choices["label"]]
        return question, list(choices["text"]), labels.index(str(row["answerKey"]))
    answer = row["answer"]  # MMLU: choices list, answer index (or letter)
    index = LETTERS.index(answer) if isinstance(answer, str) and answer in LETTERS else int(answer)
    if not 0 <= index < len(choices):
        raise ValueError(f"answer {answer!r} is not one of {len(choices)} choices in {row!r:.200}")
    return question, list(choices), index


def multiple_choice_prompt(line: dict, task_name: str | None = None) -> Doc:
    question, choices, answer = multiple_choice_item(line)
    return Doc(task_name=task_name, query=f"Question: {question}\nAnswer:", choices=[f" {c}" for c in choices],
               gold_index=answer)


def gsm8k_gold(answer: str) -> str:
    """The final number of a GSM8K answer (a copy of `hfchat.data.formatters.gsm8k_answer`'s: this file cannot
    import hfchat)."""
    return answer.split("####")[-1].strip().replace(",", "")


def gsm8k_prompt(line: dict, task_name: str | None = None) -> Doc:
    gold = gsm8k_gold(line["answer"])
    return Doc(task_name=task_name, query=f"<|im_start|>user\n{line['question']}<|im_end|>\n<|im_start|>assistant\n",
               choices=[gold], gold_index=0, specific={"gold": gold})


class PerCharacterLoglikelihoodAcc(SampleLevelComputation):
    """1 when the choice with the highest log-probability per character of the choice (its continuation without
    the leading space, as lm-eval counts) is the gold one."""

    def compute(self, doc: Doc, model_response, **kwargs) -> int:
        n = len(doc.choices)
        scores = [lp / max(len(c.removeprefix(" ")), 1) for lp, c in zip(model_response.logprobs[:n], doc.choices)]
        best = max(range(n), key=scores.__getitem__)
        golds = doc.gold_index if isinstance(doc.gold_index, list) else [doc.gold_index]
        return int(best in golds)


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
ANSWER_PREFIX = "The answer is"


def final_answer(text: str) -> str:
    """What follows the last "The answer is" ("####" counts as one), else the last ``\\boxed{...}``, else the last
    number ("" when there is none)."""
    text = text.replace("####", ANSWER_PREFIX)
    _, found, tail = text.rpartition(ANSWER_PREFIX)
    if found:
        return tail.strip().rstrip(".")
    if "\\boxed" in text:
        return text[text.rindex("\\boxed"):]
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else ""


def as_number(text: str) -> Fraction | None:
    match = _NUMBER.search(text)
    if match is None:
        return None
    try:
        return Fraction(match.group().replace(",", ""))
    except (ValueError, ZeroDivisionError):
        return None


class FinalNumberMatch(SampleLevelComputation):
    """1 when the reply's final answer is the gold number (compared by value: "1,000", "1000.0" and "$1000" match
    1000)."""

    def compute(self, doc: Doc, model_response, **kwargs) -> int:
        gold = as_number(doc.specific["gold"])
        predicted = as_number(final_answer(model_response.final_text[0])) if model_response.final_text else None
        return int(gold is not None and predicted == gold)


acc_norm = SampleLevelMetric(metric_name="acc_norm", sample_level_fn=PerCharacterLoglikelihoodAcc(),
                             category=SamplingMethod.LOGPROBS, corpus_level_fn=statistics.mean, higher_is_better=True)
gsm8k_accuracy = SampleLevelMetric(metric_name="accuracy", sample_level_fn=FinalNumberMatch(),
                                   category=SamplingMethod.GENERATIVE, corpus_level_fn=statistics.mean,
                                   higher_is_better=True)


def multiple_choice_task(task: str) -> LightevalTaskConfig:
    return LightevalTaskConfig(name=f"hfchat_{task}", prompt_function=multiple_choice_prompt, **data_location(task),
                               evaluation_splits=["test"], few_shots_select="random_sampling_from_train",
                               generation_size=1, metrics=[Metrics.loglikelihood_acc, acc_norm],
                               stop_sequence=["\n"], version=0)


def gsm8k_task() -> LightevalTaskConfig:
    return LightevalTaskConfig(name="hfchat_gsm8k", prompt_function=gsm8k_prompt, **data_location("gsm8k"),
                               evaluation_splits=["test"], few_shots_select="random_sampling_from_train",
                               generation_size=GSM8K_MAX_NEW_TOKENS, metrics=[gsm8k_accuracy],
                               stop_sequence=["<|im_end|>"], version=0)


TASKS_TABLE = [multiple_choice_task("arc_easy"), multiple_choice_task("arc_challenge"), multiple_choice_task("mmlu"),
               gsm8k_task()]
