"""Task data in every recognised schema becomes the rows TRL's trainers read; bad rows fail naming row and column."""

import json

import datasets
import pytest
from trl import DatasetMixtureConfig

from hfchat.data.builtin import CALCULATOR_TOOL, builtin_dataset
from hfchat.data.formatters import format_for_stage
from hfchat.data.mixture import load_identity, load_mixture


def test_builtin_chat_keeps_tool_calls_and_lists_the_calculator(tiny_tokenizer):
    chat = builtin_dataset("chat", "train").select(range(60))
    rows = format_for_stage(chat, "sft", source="builtin:chat")
    with_tools = [row for row in rows if any(m["tool_calls"] for m in row["messages"])]
    assert with_tools, "the builtin chat data should call the calculator"
    row = with_tools[0]
    assert json.loads(row["tools"]) == [CALCULATOR_TOOL]
    call = next(m for m in row["messages"] if m["tool_calls"])["tool_calls"][0]
    assert call["function"]["name"] == "calculator"
    assert set(json.loads(call["function"]["arguments"])) == {"expression"}
    # the template renders the canonical row exactly as it renders the original builtin row
    original = next(r for r in chat if any(m["tool_calls"] for m in r["messages"]))
    assert tiny_tokenizer.apply_chat_template(original["messages"], tools=[CALCULATOR_TOOL], tokenize=False) == \
        tiny_tokenizer.apply_chat_template(row["messages"], tools=json.loads(row["tools"]), tokenize=False)
    assert all(row["tools"] is None for row in rows if not any(m["tool_calls"] for m in row["messages"]))


def test_math_rows_for_sft_and_grpo():
    math = builtin_dataset("math", "test").select(range(3))
    sft = format_for_stage(math, "sft")
    assert [m["role"] for m in sft[0]["messages"]] == ["user", "assistant"]
    assert sft[0]["messages"][1]["content"] == f"The answer is {math[0]['answer']}."
    grpo = format_for_stage(math, "grpo")
    assert grpo.column_names == ["prompt", "answer"] and grpo[0]["answer"] == math[0]["answer"]


def test_gsm8k_mmlu_and_math_schemas():
    gsm8k = datasets.Dataset.from_list([{"question": "Tom has 2 bags of 3 apples. How many apples?",
                                         "answer": "2 bags of 3 is <<2*3=6>>6 apples.\n#### 6"}])
    sft = format_for_stage(gsm8k, "sft")[0]["messages"]
    assert sft[1]["content"] == "2 bags of 3 is 6 apples.\nThe answer is 6."
    assert format_for_stage(gsm8k, "grpo")[0]["answer"] == "6"
    mmlu = datasets.Dataset.from_list([{"question": "2 + 2?", "choices": ["3", "4"], "answer": 1, "subject": "x"}])
    messages = format_for_stage(mmlu, "sft")[0]["messages"]
    assert "A. 3\nB. 4" in messages[0]["content"] and messages[1]["content"] == "B"
    arc = datasets.Dataset.from_list([{"question": "2 + 2?", "answerKey": "2",
                                       "choices": {"text": ["3", "4"], "label": ["1", "2"]}}])
    assert format_for_stage(arc, "sft")[0]["messages"] == messages  # ARC's schema, numbered labels: the same row
    competition = datasets.Dataset.from_list([{"problem": "1+1?", "solution": "$\\boxed{2}$", "level": "1"}])
    assert format_for_stage(competition, "grpo")[0] == {"prompt": [{"role": "user", "content": "1+1?"}],
                                                         "answer": "$\\boxed{2}$"}


def test_preference_schemas():
    explicit = builtin_dataset("preference", "test").select(range(2))
    assert format_for_stage(explicit, "dpo")[0] == explicit[0]
    text = datasets.Dataset.from_list([{"prompt": "Hi?", "chosen": "Hello!", "rejected": "Go away."}])
    assert format_for_stage(text, "dpo")[0]["chosen"] == [{"role": "assistant", "content": "Hello!"}]
    implicit = datasets.Dataset.from_list([{
        "chosen": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Hello!"}],
        "rejected": [{"role": "user", "content": "Hi?"}, {"role": "assistant", "content": "Go away."}]}])
    row = format_for_stage(implicit, "dpo")[0]
    assert row["prompt"] == [{"role": "user", "content": "Hi?"}]
    assert row["rejected"] == [{"role": "assistant", "content": "Go away."}]


def test_missing_column_names_the_dataset_and_the_columns():
    no_messages = datasets.Dataset.from_list([{"text": "hello"}])
    with pytest.raises(ValueError, match=r"dataset 'mine.jsonl' has columns \['text'\]; the sft stage needs columns"):
        format_for_stage(no_messages, "sft", source="mine.jsonl")
    no_chosen = datasets.Dataset.from_list([{"prompt": "Hi", "rejected": "Go away."}])
    with pytest.raises(ValueError, match="the dpo stage needs columns chosen\\+rejected"):
        format_for_stage(no_chosen, "dpo", source="prefs")


def test_bad_rows_are_named():
    rows = datasets.Dataset.from_list([
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"messages": [{"role": "user", "content": "Anyone there?"}]},
    ])
    with pytest.raises(ValueError, match="dataset 'chats' row 1: column 'messages' has no assistant message"):
        format_for_stage(rows, "sft", source="chats")
    empty = datasets.Dataset.from_list([{"prompt": "Hi", "chosen": "Hello", "rejected": "No"},
                                        {"prompt": "Hi", "chosen": "", "rejected": "No"}])
    with pytest.raises(ValueError, match="dataset 'prefs' row 1: column 'chosen' is empty"):
        format_for_stage(empty, "dpo", source="prefs")


def test_mixture_of_builtin_and_local_files(tmp_path):
    local = tmp_path / "chats.jsonl"
    local.write_text("".join(json.dumps({"messages": [{"role": "user", "content": f"q{i}"},
                                                      {"role": "assistant", "content": f"a{i}"}]}) + "\n"
                             for i in range(30)))
    mixture = DatasetMixtureConfig(datasets=[
        {"path": "builtin:math", "split": "train[:100]", "fraction": 0.5},
        {"path": "json", "data_files": str(local), "fraction": 0.5},
    ])
    train = load_mixture(mixture, "sft")["train"]
    assert len(train) == 60  # 30 of each: no source is repeated to reach its share
    assert train[59]["messages"][0]["content"] == "q29"
    split = load_mixture(DatasetMixtureConfig(datasets=[{"path": "builtin:math", "split": "test[:50]"}],
                                              test_split_size=0.2), "grpo")
    assert (len(split["train"]), len(split["test"])) == (40, 10)


def test_mixture_errors():
    with pytest.raises(ValueError, match="unknown builtin dataset 'builtin:poems'"):
        load_mixture(DatasetMixtureConfig(datasets=[{"path": "builtin:poems"}]), "sft")
    with pytest.raises(ValueError, match="set `fraction` on every entry"):
        load_mixture(DatasetMixtureConfig(datasets=[{"path": "builtin:chat", "fraction": 1.0},
                                                    {"path": "builtin:math"}]), "sft")
    with pytest.raises(ValueError, match="split 'train\\[:x\\]' must be a name"):
        load_mixture(DatasetMixtureConfig(datasets=[{"path": "builtin:math", "split": "train[:x]"}]), "sft")


def test_identity_file(tmp_path):
    path = tmp_path / "identity.yaml"
    path.write_text("name: Pip\ncreator: the Example Lab\n")
    identity = load_identity(path)
    assert identity == {"name": "Pip", "creator": "the Example Lab"}
    chat = load_mixture(DatasetMixtureConfig(datasets=[{"path": "builtin:chat", "split": "train[:400]"}]), "sft",
                        identity=identity)["train"]
    replies = " ".join(m["content"] for row in chat for m in row["messages"] if m["role"] == "assistant")
    assert "Pip" in replies and "the Example Lab" in replies and "hfchat" not in replies
    path.write_text("name: Pip\n")
    with pytest.raises(ValueError, match="identity_file .* must map exactly \\['creator', 'name'\\]"):
        load_identity(path)
    with pytest.raises(FileNotFoundError, match="identity_file"):
        load_identity(tmp_path / "missing.yaml")
