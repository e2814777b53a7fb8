"""GRPO reward functions, by name, with TRL's signature ``f(completions, **kwargs) -> list[float | None]``.

A recipe YAML names them (``reward_funcs: [accuracy, format]``, weighted by GRPOConfig's ``reward_weights``):

- ``accuracy``: 1.0 when the reply's final answer equals the row's ``answer`` column by `math-verify` (so ``12``,
  ``12.0`` and ``\\boxed{12}`` all match), else 0.0; None when the gold answer cannot be parsed (the row then
  counts for the other rewards only).
- ``format``: 1.0 when the reply ends with an answer sentence ("... The answer is 12."), else 0.0.
- ``length``: shorter than the other replies to the same prompt is better: 0.5 for the shortest, -0.5 for the
  longest, linear in token count between (Kimi k1.5's length penalty without its correctness term); 0 when all are
  equally long.

Completions are plain strings or TRL's conversational form (a list holding one assistant message).

Example:
    >>> accuracy([[{"role": "assistant", "content": "3 + 4 = 7. The answer is 7."}]], answer=["7"])
    [1.0]
    >>> format(["The answer is 7."])
    [1.0]
"""

import re
from collections import defaultdict
from collections.abc import Callable, Sequence

ANSWER_PREFIX = "The answer is"
RewardFunction = Callable[..., list[float | None]]
# "The answer is X." closing the reply; X may hold a decimal point ("7.5") but no sentence end
_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_ANSWER_SENTENCE = re.compile(rf"{re.escape(ANSWER_PREFIX)} ((?:[^\n.]|\.(?=\d))+)\.?\s*$")


def answer_sentence(answer: str) -> str:
    """The form hfchat's task data answers in ("The answer is 12."), which `format` and `final_answer` read."""
    return f"{ANSWER_PREFIX} {answer}."


def completion_text(completion) -> str:
    """The text of a completion, plain or conversational."""
    if isinstance(completion, str):
        return completion
    return "".join(message.get("content") or "" for message in completion)


def final_answer(text: str) -> str:
    """The reply's answer: what follows the last "The answer is", else the last ``\\boxed{...}``, else the last
    number ("" when there is none). Never the whole reply: math-verify would evaluate an unfinished "6 - 1 =" to 5,
    which a GRPO run finds and exploits."""
    head, found, tail = text.rpartition(ANSWER_PREFIX)
    if found:
        return tail.strip().rstrip(".")
    if "\\boxed" in text:
        return text[text.rindex("\\boxed"):]
    numbers = _NUMBER.findall(text)
    return numbers[-1] if numbers else ""


def is_correct(reply: str, gold: str) -> bool | None:
    """Whether ``reply``'s final answer equals ``gold`` by math-verify; None if ``gold`` does not parse."""
    from math_verify import parse, verify

    gold_parsed = parse(str(gold))
    if not gold_parsed:
        return None
    answer = final_answer(reply)
    predicted = parse(answer) if answer else []
    return bool(predicted) and verify(gold_parsed, predicted)


def accuracy(completions: Sequence, answer: Sequence[str], **kwargs) -> list[float | None]:
    """1.0 for a correct final answer, 0.0 for a wrong or missing one, None for an unparseable gold answer."""
    scores = []
    for completion, gold in zip(completions, answer, strict=True):
        correct = is_correct(completion_text(completion), gold)
        scores.append(None if correct is None else float(correct))
    return scores


def format(completions: Sequence, **kwargs) -> list[float]:  # noqa: A001 (the name the YAML uses)
    """1.0 when the reply ends with "The answer is X.", else 0.0."""
    return [float(bool(_ANSWER_SENTENCE.search(completion_text(c).strip()))) for c in completions]


def length(completions: Sequence, prompts: Sequence | None = None, completion_ids: Sequence | None = None,
           **kwargs) -> list[float]:
    """0.5 - (n - shortest) / (longest - shortest) among the replies to the same prompt (n: tokens, or characters
    when token ids are not given)."""
    sizes = [len(ids) for ids in completion_ids] if completion_ids is not None else [
        len(completion_text(c)) for c in completions]
    groups: dict[str, list[int]] = defaultdict(list)
    for index, prompt in enumerate(prompts if prompts is not None else [""] * len(completions)):
        groups[repr(prompt)].append(index)
    scores = [0.0] * len(completions)
    for members in groups.values():
        shortest, longest = min(sizes[i] for i in members), max(sizes[i] for i in members)
        if longest > shortest:
            for i in members:
                scores[i] = 0.5 - (sizes[i] - shortest) / (longest - shortest)
    return scores


REWARDS: dict[str, RewardFunction] = {"accuracy": accuracy, "format": format, "length": length}


def get_reward_functions(names: Sequence[str]) -> list[RewardFunction]:
    """The reward functions called ``names``; an unknown name is a `ValueError` that lists the known ones."""
    if not names:
        raise ValueError(f"reward_funcs: name at least one reward; choose from {', '.join(REWARDS)}")
    unknown = [name for name in names if name not in REWARDS]
    if unknown:
        raise ValueError(f"reward_funcs: unknown reward {unknown[0]!r}; choose from {', '.join(REWARDS)}")
    return [REWARDS[name] for name in names]
