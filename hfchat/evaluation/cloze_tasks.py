"""The base-model suite that SmolLM2, OLMo and lm-eval report, in the cloze formulations of lm-eval.

Each item is a context and its choices as continuations (or, for ``winogrande``, one continuation after each
choice's context); the prediction is the choice with the highest summed log-probability (``acc``) or the highest
log-probability per character of the choice (``acc_norm``: lm-eval's normalisation, the choice's characters
without the space before it).

Each task, its Hub dataset (split), the context and the choices:

- ``hellaswag``, `Rowan/hellaswag` (validation): ``"{activity_label}: {ctx_a} {ctx_b capitalised}"`` (WikiHow's
  bracket artefacts removed); ``" {ending}"``.
- ``piqa``, `ybisk/piqa` (validation): ``"Question: {goal}\\nAnswer:"``; ``" {sol1}"``, ``" {sol2}"``.
- ``winogrande``, `allenai/winogrande` winogrande_xl (validation): the sentence up to ``_`` with each option;
  ``" {the rest of the sentence}"``.
- ``openbookqa``, `allenai/openbookqa` main (test): ``"{question_stem}"``; ``" {choice}"``.
- ``commonsense_qa``, `tau/commonsense_qa` (validation): ``"Question: {question}\\nAnswer:"``; ``" {choice}"``.
- ``boolq``, `google/boolq` (validation): ``"{passage}\\nQuestion: {question}?\\nAnswer:"``; ``" no"``, ``" yes"``.
- ``copa``, `aps/super_glue` copa (validation): the premise without its full stop, then ``" because"`` (cause) or
  ``" therefore"`` (effect); ``" {choice, first letter lower-cased}"``.
- ``sciq``, `allenai/sciq` (test): ``"{support}\\nQuestion: {question}\\nAnswer:"``; the three distractors, then the
  answer.

These are lm-eval's task definitions, with two differences: ``commonsense_qa`` is scored in cloze form (lm-eval's
default letters the choices), and ``copa``'s choices get one space before them (lm-eval's get two). ``boolq`` also
reads super_glue's schema (``label``) besides google/boolq's (``answer``).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .registry import FACTS
from .scoring import means


@dataclass(frozen=True)
class ClozeItem:
    """Contexts and continuations to score (one context for all choices, or one per choice) and the answer."""

    contexts: list[str]
    continuations: list[str]
    answer: int

    def pairs(self) -> list[tuple[str, str]]:
        n = max(len(self.contexts), len(self.continuations))
        return [(self.contexts[i % len(self.contexts)], self.continuations[i % len(self.continuations)])
                for i in range(n)]


def _hellaswag_text(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def hellaswag(row: dict) -> ClozeItem:
    context = _hellaswag_text(f"{row['activity_label']}: {row['ctx_a']} {row['ctx_b'].capitalize()}")
    return ClozeItem([context], [" " + _hellaswag_text(e) for e in row["endings"]], int(row["label"]))


def piqa(row: dict) -> ClozeItem:
    return ClozeItem([f"Question: {row['goal']}\nAnswer:"], [f" {row['sol1']}", f" {row['sol2']}"], int(row["label"]))


def winogrande(row: dict) -> ClozeItem:
    blank = row["sentence"].index("_")
    contexts = [row["sentence"][:blank] + option for option in (row["option1"], row["option2"])]
    return ClozeItem(contexts, [" " + row["sentence"][blank + 1:].strip()], int(row["answer"]) - 1)


def _lettered(row: dict, context: str) -> ClozeItem:
    labels = [str(label) for label in row["choices"]["label"]]
    return ClozeItem([context], [f" {text}" for text in row["choices"]["text"]], labels.index(row["answerKey"].strip()))


def openbookqa(row: dict) -> ClozeItem:
    return _lettered(row, row["question_stem"])


def commonsense_qa(row: dict) -> ClozeItem:
    return _lettered(row, f"Question: {row['question'].strip()}\nAnswer:")


def boolq(row: dict) -> ClozeItem:
    answer = row["label"] if "label" in row else row["answer"]
    answer = {"true": 1, "false": 0}.get(str(answer).lower(), answer)
    return ClozeItem([f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:"], [" no", " yes"], int(answer))


def copa(row: dict) -> ClozeItem:
    connector = {"cause": "because", "effect": "therefore"}[row["question"]]
    choices = [" " + c[0].lower() + c[1:] for c in (row["choice1"], row["choice2"])]
    return ClozeItem([row["premise"].strip()[:-1] + f" {connector}"], choices, int(row["label"]))


def sciq(row: dict) -> ClozeItem:
    choices = [row["distractor1"], row["distractor2"], row["distractor3"], row["correct_answer"]]
    return ClozeItem([f"{row['support'].lstrip()}\nQuestion: {row['question']}\nAnswer:"],
                     [f" {c}" for c in choices], 3)


# task -> (how a row of its Hub schema becomes an item, its Hub dataset, its main metric)
# task -> its row to `ClozeItem` (the rows in the schema of the task's Hub dataset, `registry.FACTS[task].source`)
CLOZE_TASKS: dict[str, Callable[[dict], ClozeItem]] = {
    "hellaswag": hellaswag, "piqa": piqa, "winogrande": winogrande, "openbookqa": openbookqa,
    "commonsense_qa": commonsense_qa, "boolq": boolq, "copa": copa, "sciq": sciq,
}


def best(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)


def cloze_scores(items: list[ClozeItem], logprobs: list[float]) -> list[dict]:
    """``acc`` and ``acc_norm`` of each item from the summed log-probabilities of its pairs, in order."""
    details, offset = [], 0
    for item in items:
        pairs = item.pairs()
        sums = logprobs[offset:offset + len(pairs)]
        offset += len(pairs)
        lengths = [max(len(continuation.removeprefix(" ")), 1) for _, continuation in pairs]
        if len(item.continuations) == 1:  # one continuation after each choice's context: the lengths are equal
            lengths = [1] * len(pairs)
        pick, pick_norm = best(sums), best([s / n for s, n in zip(sums, lengths)])
        details.append({"target": item.answer, "prediction": pick, "acc": float(pick == item.answer),
                        "acc_norm": float(pick_norm == item.answer), "random_baseline": 1 / len(pairs),
                        "choice_logprobs": sums})
    return details


def cloze(task: str, model, tokenizer, limit: int | None = None, batch_size: int = 32, source=None,
          shard: tuple[int, int] | None = None) -> list[dict]:
    from .chat_tasks import continuation_logprobs, task_rows  # chat_tasks scores its choices with this module

    to_item, default, main = CLOZE_TASKS[task], FACTS[task].source, FACTS[task].main
    rows, name = task_rows(task, source or default, limit, shard)
    try:
        items = [to_item(row) for row in rows]
    except (KeyError, ValueError, TypeError, IndexError) as error:
        raise ValueError(f"{name}: a row is not a {task} item in the schema of {default['path']} "
                         f"({type(error).__name__}: {error}); columns: {sorted(rows[0]) if len(rows) else []}") \
            from None
    flat = continuation_logprobs(model, tokenizer, [pair for item in items for pair in item.pairs()], batch_size)
    details = cloze_scores(items, flat)
    for item, detail in zip(items, details):
        detail["prompt"] = item.contexts[0]
        detail["score"] = detail[main]
    return details


def cloze_metrics(details: list[dict]) -> dict[str, float]:
    return means(details, {"acc": "acc", "acc_norm": "acc_norm", "random_baseline": "random_baseline"})
