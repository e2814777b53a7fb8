"""Turn task data into the rows TRL's trainers read, recognising each source by its columns.

One canonical row shape per stage, so that sources with different schemas concatenate into one mixture:

- ``sft``: ``messages`` (role, content, tool_calls with JSON-string arguments) and ``tools`` (a JSON string listing
  the tools the conversation may call, or None). SFTTrainer passes ``tools`` to the chat template.
- ``dpo``: ``prompt``, ``chosen``, ``rejected``, each a list of {role, content} messages.
- ``grpo``: ``prompt`` (a list of messages) and ``answer`` (the gold answer as a string, for the rewards).

Recognised sources (any column names not listed are dropped):

| stage | columns | example |
|---|---|---|
| sft | ``messages`` | builtin chat, SmolTalk |
| sft, grpo | ``prompt`` (messages or text) + ``answer`` | builtin math |
| sft, grpo | ``question`` + ``answer`` ending in ``#### N`` | GSM8K |
| sft | ``question`` + ``choices`` + ``answer`` (index or letter) | MMLU (`multiple_choice_messages`, the bare letter) |
| sft | ``question`` + ``choices`` (``text``, ``label``) + ``answerKey`` | ARC (the same) |
| grpo | ``problem`` + ``solution`` | MATH |
| dpo | ``chosen`` + ``rejected`` (+ ``prompt``), messages or text | builtin preference, UltraFeedback |

Example:
    >>> from hfchat.data.builtin import builtin_dataset
    >>> rows = format_for_stage(builtin_dataset("math", "test").select(range(2)), "sft", source="builtin:math")
    >>> rows[0]["messages"][-1]["content"].startswith("The answer is ")
    True
"""

import json
import re
from collections.abc import Callable

import datasets
from datasets import Features, List, Value

from ..rewards import answer_sentence
from ..run_folder import POST_TRAINING_STAGES
from .builtin import CALCULATOR_TOOL

STAGES = POST_TRAINING_STAGES  # the stages whose rows a formatter writes
MULTIPLE_CHOICE_LETTERS = "ABCDEFGHIJ"
MULTIPLE_CHOICE_INSTRUCTION = "Answer with the letter of the correct choice."

_TOOL_CALL = {"type": Value("string"), "function": {"name": Value("string"), "arguments": Value("string")}}
_SFT_MESSAGE = {"role": Value("string"), "content": Value("string"), "tool_calls": List(_TOOL_CALL)}
_MESSAGE = {"role": Value("string"), "content": Value("string")}
FEATURES = {
    "sft": Features({"messages": List(_SFT_MESSAGE), "tools": Value("string")}),
    "dpo": Features({"prompt": List(_MESSAGE), "chosen": List(_MESSAGE), "rejected": List(_MESSAGE)}),
    "grpo": Features({"prompt": List(_MESSAGE), "answer": Value("string")}),
}
_GSM8K_CALCULATION = re.compile(r"<<[^>]*>>")


def _as_messages(value, role: str) -> list[dict]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    return [{"role": m["role"], "content": m.get("content") or ""} for m in value]


def _sft_message(message: dict) -> dict:
    calls = []
    for call in message.get("tool_calls") or []:
        function = call.get("function", call)
        arguments = function.get("arguments")
        if not isinstance(arguments, str):
            arguments = json.dumps(arguments)
        calls.append({"type": call.get("type") or "function", "function": {"name": function["name"],
                                                                           "arguments": arguments}})
    return {"role": message["role"], "content": message.get("content") or "", "tool_calls": calls}


def _conversation(row: dict) -> dict:
    messages = [_sft_message(m) for m in row["messages"]]
    uses_tools = any(m["tool_calls"] for m in messages)
    tools = row.get("tools")
    if tools is not None and not isinstance(tools, str):
        tools = json.dumps(tools)
    if tools is None and uses_tools:
        tools = json.dumps([CALCULATOR_TOOL])  # the builtin chat data calls the calculator without listing it
    return {"messages": messages, "tools": tools}


def gsm8k_answer(answer: str) -> tuple[str, str]:
    """(worked solution with the calculator annotations removed, final number after the last ``####``, without
    thousands separators) of a GSM8K answer: what SFT trains on, GRPO rewards and the evaluation scores against."""
    reasoning, _, final = answer.rpartition("####")
    return _GSM8K_CALCULATION.sub("", reasoning).strip(), final.strip().replace(",", "")


def _question_answer_to_sft(row: dict) -> dict:
    if "question" in row:
        reasoning, final = gsm8k_answer(row["answer"])
        reply = f"{reasoning}\n{answer_sentence(final)}" if reasoning else answer_sentence(final)
        prompt = [{"role": "user", "content": row["question"]}]
    else:  # builtin math: the worked sum ("3 + 4 = 7.") when given, then the answer sentence
        reply = " ".join(filter(None, [row.get("solution"), answer_sentence(str(row["answer"]))]))
        prompt = _as_messages(row["prompt"], "user")
    messages = prompt + [{"role": "assistant", "content": reply}]
    return {"messages": [_sft_message(m) for m in messages], "tools": None}


def multiple_choice_messages(question: str, choices: list[str]) -> list[dict]:
    """The one multiple-choice prompt, trained on (SFT rows) and measured (ARC/MMLU's ``accuracy``): a user turn
    with the question, the lettered choices and `MULTIPLE_CHOICE_INSTRUCTION`. The reply trained is the bare letter,
    the token evaluation reads at the reply's first position (as nanochat trains and scores it)."""
    options = "\n".join(f"{MULTIPLE_CHOICE_LETTERS[i]}. {choice}" for i, choice in enumerate(choices))
    return [{"role": "user", "content": f"{question}\n\n{options}\n\n{MULTIPLE_CHOICE_INSTRUCTION}"}]


def multiple_choice_item(row: dict, source: str) -> tuple[str, list[str], int]:
    """(question, choices, index of the answer) from an ARC row (``choices: {text, label}``, ``answerKey``) or an MMLU
    row (``choices: [...]``, ``answer``: index or letter)."""
    try:
        question, choices = row["question"], row["choices"]
        if isinstance(choices, dict):  # ARC
            texts, labels = list(choices["text"]), [str(label) for label in choices["label"]]
            return question, texts, labels.index(str(row["answerKey"]))
        answer = row["answer"]
        letter = isinstance(answer, str) and answer in MULTIPLE_CHOICE_LETTERS
        index = MULTIPLE_CHOICE_LETTERS.index(answer) if letter else int(answer)
        if not 0 <= index < len(choices):
            raise ValueError(f"answer {answer!r} is not one of {len(choices)} choices")
        return question, list(choices), index
    except (KeyError, ValueError, TypeError) as error:
        raise ValueError(f"{source}: row {row!r:.200} is not a multiple-choice item (question, choices and "
                         f"answerKey or answer): {error}") from None


def _multiple_choice_to_sft(row: dict) -> dict:
    question, choices, answer = multiple_choice_item(row, "sft")
    messages = multiple_choice_messages(question, choices) + \
        [{"role": "assistant", "content": MULTIPLE_CHOICE_LETTERS[answer]}]
    return {"messages": [_sft_message(m) for m in messages], "tools": None}


def _preference(row: dict) -> dict:
    chosen, rejected = _as_messages(row["chosen"], "assistant"), _as_messages(row["rejected"], "assistant")
    if row.get("prompt") is not None:
        return {"prompt": _as_messages(row["prompt"], "user"), "chosen": chosen, "rejected": rejected}
    shared = 0  # implicit prompt: the messages both conversations start with
    while shared < min(len(chosen), len(rejected)) - 1 and chosen[shared] == rejected[shared]:
        shared += 1
    return {"prompt": chosen[:shared], "chosen": chosen[shared:], "rejected": rejected[shared:]}


def _prompt_answer(row: dict) -> dict:
    if "problem" in row:
        return {"prompt": [{"role": "user", "content": row["problem"]}], "answer": row["solution"]}
    if "question" in row:
        return {"prompt": [{"role": "user", "content": row["question"]}], "answer": gsm8k_answer(row["answer"])[1]}
    return {"prompt": _as_messages(row["prompt"], "user"), "answer": str(row["answer"])}


# stage -> ordered (required columns, formatter); the first whose columns a source has is used
_FORMATTERS: dict[str, tuple[tuple[frozenset[str], Callable[[dict], dict]], ...]] = {
    "sft": ((frozenset({"messages"}), _conversation),
            (frozenset({"question", "choices", "answer"}), _multiple_choice_to_sft),
            (frozenset({"question", "choices", "answerKey"}), _multiple_choice_to_sft),
            (frozenset({"question", "answer"}), _question_answer_to_sft),
            (frozenset({"prompt", "answer"}), _question_answer_to_sft)),
    "dpo": ((frozenset({"chosen", "rejected"}), _preference),),
    "grpo": ((frozenset({"prompt", "answer"}), _prompt_answer), (frozenset({"question", "answer"}), _prompt_answer),
             (frozenset({"problem", "solution"}), _prompt_answer)),
}


def _pick_formatter(columns: list[str], stage: str, source: str) -> Callable[[dict], dict]:
    if stage not in _FORMATTERS:
        raise ValueError(f"unknown stage {stage!r}; choose one of {', '.join(STAGES)}")
    for required, formatter in _FORMATTERS[stage]:
        if required <= set(columns):
            return formatter
    wanted = " or ".join("+".join(sorted(required)) for required, _ in _FORMATTERS[stage])
    raise ValueError(f"dataset {source!r} has columns {sorted(columns)}; the {stage} stage needs columns {wanted}")


def _is_empty(value) -> bool:
    if isinstance(value, list):
        return all(isinstance(m, dict) and not m.get("content") and not m.get("tool_calls") for m in value)
    return value is None or value == ""


def _check_row(row: dict, index: int, stage: str, source: str) -> None:
    """Fail on the first row that cannot train, naming it and the column."""
    where = f"dataset {source!r} row {index}"
    for column, value in row.items():
        if column == "tools" or (column == "prompt" and stage == "dpo"):
            continue
        if _is_empty(value):
            raise ValueError(f"{where}: column {column!r} is empty")
    if stage == "sft":
        roles = [m["role"] for m in row["messages"]]
        if "assistant" not in roles:
            raise ValueError(f"{where}: column 'messages' has no assistant message (roles: {roles})")
        unknown = sorted(set(roles) - {"system", "user", "assistant", "tool"})
        if unknown:
            raise ValueError(f"{where}: column 'messages' has unknown roles {unknown}")


def format_for_stage(dataset: datasets.Dataset, stage: str, *, source: str = "dataset") -> datasets.Dataset:
    """Rows of ``dataset`` in ``stage``'s canonical shape; a missing column or an empty row is a `ValueError`
    naming ``source``, the row and the column."""
    formatter = _pick_formatter(dataset.column_names, stage, source)

    def convert(row: dict, index: int) -> dict:
        try:
            formatted = formatter(row)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"dataset {source!r} row {index}: cannot read it for {stage}: {error!r}") from error
        _check_row(formatted, index, stage, source)
        return formatted

    return dataset.map(convert, with_indices=True, remove_columns=dataset.column_names, features=FEATURES[stage],
                       desc=f"Formatting {source} for {stage}")
