"""The builtin datasets: shapes, determinism across processes, disjoint splits, correct arithmetic, readable stories,
and chat rows that hfchat's chat template renders."""

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest

from hfchat.data.builtin import BUILTIN_NAMES, DEFAULT_IDENTITY, builtin_dataset, builtin_splits
from hfchat.data.builtin.builder import _math_items
from tests.helpers import REPO_ROOT

COLUMNS = {"stories": ["text"], "chat": ["messages"], "preference": ["prompt", "chosen", "rejected"],
           "math": ["prompt", "solution", "answer"], "multiple_choice": ["question", "choices", "answer"]}
MIN_ROWS = {"train": 5_000, "validation": 100, "test": 400}
SAFE_EXPRESSION = re.compile(r"^[0-9+\-*() ]+$")
# Builds datasets in a fresh interpreter. It loads the builtin package on its own: importing the hfchat package
# would cost seconds of torch import and add nothing to the check.
FINGERPRINT_SCRIPT = """
import hashlib, importlib.util, json, pathlib, sys
folder = pathlib.Path(sys.argv[1])
spec = importlib.util.spec_from_file_location("builtin", folder / "__init__.py", submodule_search_locations=[str(folder)])
builtin = importlib.util.module_from_spec(spec)
sys.modules["builtin"] = builtin
spec.loader.exec_module(builtin)
def fingerprint(ds):
    rows = ds.select(range(min(200, len(ds)))).to_list()
    return hashlib.sha256(json.dumps([len(ds), rows], sort_keys=True).encode()).hexdigest()
print(json.dumps([fingerprint(builtin.builtin_dataset(name, split)) for name, split in json.loads(sys.argv[2])]))
"""


def fingerprint(ds) -> str:
    """sha256 of the row count and the first 200 rows, as FINGERPRINT_SCRIPT computes it."""
    rows = ds.select(range(min(200, len(ds)))).to_list()
    return hashlib.sha256(json.dumps([len(ds), rows], sort_keys=True).encode()).hexdigest()


def user_key(messages: list[dict]) -> str:
    return json.dumps([m["content"] for m in messages if m["role"] in ("system", "user")])


@pytest.mark.parametrize("name", BUILTIN_NAMES)
def test_every_split_loads_with_its_columns(name):
    assert builtin_splits(name) == (("train", "validation") if name == "stories" else ("train", "test"))
    for split in builtin_splits(name):
        ds = builtin_dataset(name, split)
        assert ds.column_names == COLUMNS[name]
        assert len(ds) >= MIN_ROWS[split]
        assert ds.info.license == "Apache-2.0"
        assert builtin_dataset(name, split) is ds  # cached


def test_sizes_match_the_brief():
    text_mb = sum(len(t.encode()) for t in builtin_dataset("stories")["text"]) / 1e6
    assert 12 <= text_mb <= 16
    assert len(builtin_dataset("chat")) == 20_000 and len(builtin_dataset("chat", "test")) == 500
    for name in ("preference", "math"):
        assert len(builtin_dataset(name)) == 10_000 and len(builtin_dataset(name, "test")) == 500


def test_unknown_name_or_split_is_a_clear_error():
    with pytest.raises(ValueError, match="'poems'.*stories, chat, preference, math, multiple_choice"):
        builtin_dataset("poems")
    with pytest.raises(ValueError, match="'poems'"):
        builtin_splits("poems")
    with pytest.raises(ValueError, match="'validation'.*train, test"):
        builtin_dataset("math", "validation")
    with pytest.raises(ValueError, match="identity"):
        builtin_dataset("chat", identity={"nickname": "x"})


@pytest.mark.slow
def test_the_same_rows_in_every_process():
    """Two fresh interpreters with different hash seeds (and this one) build identical datasets."""
    pairs = [("stories", "train"), ("stories", "validation"), ("chat", "train"), ("preference", "test"),
             ("math", "test")]
    command = [sys.executable, "-c", FINGERPRINT_SCRIPT, str(REPO_ROOT / "hfchat" / "data" / "builtin"),
               json.dumps(pairs)]
    processes = [  # in parallel: each takes a few seconds
        subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": seed})
        for seed in ("0", "4242")
    ]
    outputs = [json.loads(p.communicate(timeout=120)[0]) for p in processes]
    assert [p.returncode for p in processes] == [0, 0]
    assert outputs[0] == outputs[1] == [fingerprint(builtin_dataset(name, split)) for name, split in pairs]


def test_every_split_is_byte_identical_to_its_recorded_hash():
    """The sha256 of every row of every split, recorded when the data was last changed on purpose: a refactoring of
    the generator that changes one row fails here (update the file only when the data is meant to change)."""
    recorded = json.loads((REPO_ROOT / "tests" / "fixtures" / "builtin_sha256.json").read_text())
    built = {f"{name}/{split}": hashlib.sha256(json.dumps(builtin_dataset(name, split).to_list(),
                                                          sort_keys=True).encode()).hexdigest()
             for name in BUILTIN_NAMES for split in builtin_splits(name)}
    assert built == recorded


def test_held_out_splits_are_disjoint_from_train():
    train = set(builtin_dataset("stories")["text"])
    assert not train & set(builtin_dataset("stories", "validation")["text"])
    train = {p[0]["content"] for p in builtin_dataset("math")["prompt"]}
    test = [p[0]["content"] for p in builtin_dataset("math", "test")["prompt"]]
    assert not train & set(test) and len(set(test)) == len(test)

    def pair(row):  # a held-out preference pair is new as a (prompt, chosen, rejected) triple
        return tuple(row[column][0]["content"] for column in ("prompt", "chosen", "rejected"))

    train = {pair(row) for row in builtin_dataset("preference")}
    test = [pair(row) for row in builtin_dataset("preference", "test")]
    assert not train & set(test) and len(set(test)) == len(test)
    train = {user_key(m) for m in builtin_dataset("chat")["messages"]}
    assert not train & {user_key(m) for m in builtin_dataset("chat", "test")["messages"]}


@pytest.mark.parametrize("split", ["train", "test"])
def test_math_answers_are_correct(split):
    ds = builtin_dataset("math", split)
    items = _math_items(split)
    assert [p[0]["content"] for p in ds["prompt"]] == [item.prompt for item in items]
    bare = worked = 0
    for row, item in zip(ds, items):
        prompt, answer = row["prompt"][0]["content"], int(row["answer"])
        assert row["prompt"][0]["role"] == "user" and answer >= 0
        assert answer == (item.a + item.b if item.op == "+" else item.a - item.b)
        assert row["solution"] in ("", f"{item.a} {item.op} {item.b} = {answer}.") and answer <= 10
        worked += bool(row["solution"])
        # Re-derive the answer from the text alone, without the generator's bookkeeping.
        if match := re.search(r"(\d+) (\+|-|plus|minus) (\d+)", prompt):
            a, op, b = int(match[1]), match[2], int(match[3])
            bare += 1
        else:
            a, b = map(int, re.findall(r"\d+", prompt))
            op = "+" if " more" in prompt or "in all" in prompt else "-"
        assert answer == (a + b if op in ("+", "plus") else a - b), prompt
    if split == "train":
        assert 0.3 < bare / len(ds) < 0.8  # both bare sums and word problems
    else:  # the few hundred bare sums within 10 are nearly all in train: held-out problems are word problems
        assert bare / len(ds) < 0.1
    assert 0.25 < worked / len(ds) < 0.42  # a third of the answers show their work
    assert len({row["answer"] for row in ds}) == 11  # every answer 0-10 occurs


@pytest.mark.parametrize("split", ["train", "test"])
def test_chat_tool_calls_compute_correctly(split):
    calls = 0
    for messages in builtin_dataset("chat", split)["messages"]:
        assert messages[0]["role"] in ("system", "user")
        assert set(messages[0]) == {"role", "content", "name", "tool_calls"}
        for i, message in enumerate(messages):
            assert all(isinstance(message[k], str) for k in ("role", "content", "name"))
            if not message["tool_calls"]:
                continue
            (call,) = message["tool_calls"]
            assert message["role"] == "assistant" and call["type"] == "function"
            assert call["function"]["name"] == "calculator"
            expression = call["function"]["arguments"]["expression"]
            assert SAFE_EXPRESSION.match(expression), expression
            value = eval(expression, {"__builtins__": {}})  # only digits, + - * and parentheses: checked above
            tool, final = messages[i + 1], messages[i + 2]
            assert tool["role"] == "tool" and tool["name"] == "calculator" and tool["content"] == str(value)
            assert final["role"] == "assistant" and str(value) in final["content"]
            calls += 1
    assert calls > 100


def test_chat_has_every_kind_of_conversation():
    rows = builtin_dataset("chat")["messages"]
    users = [sum(m["role"] == "user" for m in row) for row in rows]
    assert set(users) == {1, 2, 3}
    assert 0.1 < sum(row[0]["role"] == "system" for row in rows) / len(rows) < 0.4
    assert 0.2 < sum(any(m["role"] == "tool" for m in row) for row in rows) / len(rows) < 0.6
    contents = [m["content"] for row in rows for m in row]
    assert any(re.fullmatch(r"Tell me a short story about an? \w+\.", c) for c in contents)
    assert "My name is hfchat." in contents


def test_stories_read_like_stories():
    texts = builtin_dataset("stories")["text"]
    lengths = [len(t.split()) for t in texts]
    assert 60 <= min(lengths) and max(lengths) <= 300 and 90 <= sum(lengths) / len(lengths) <= 200
    words = {w.strip('.,!?"\'').lower() for t in texts[:5000] for w in t.split()}
    assert len(words) > 500
    for text in texts:
        assert text[0].isupper() and text[-1] in '.!?"', text
    sample = "\n".join(texts[:3000])
    assert not re.search(r"[{}]|  |\b[Aa] [aeiou](?!ni|se)|\ban [b-df-hj-np-tv-z]", sample)
    assert not re.search(r"[.!?] [a-z]", sample)  # sentences start with a capital
    assert "Once upon a time" in sample and '"' in sample  # story openings and dialogue
    assert re.search(r"\b(\d+) plus (\d+) is (\d+)\.", sample)  # sums in words, for numbers
    for a, b, total in re.findall(r"\b(\d+) plus (\d+) is (\d+)\.", sample):
        assert int(a) + int(b) == int(total)


def test_chat_rows_render_with_the_chat_template():
    from hfchat import train_tokenizer

    tokenizer = train_tokenizer(builtin_dataset("stories")["text"][:300], vocab_size=512)
    rows = builtin_dataset("chat", "test")["messages"]
    with_tools = [row for row in rows if any(m["role"] == "tool" for m in row)][:25]
    without = [row for row in rows if not any(m["role"] == "tool" for m in row)][:25]
    for messages in with_tools + without:
        text = tokenizer.apply_chat_template(messages, tokenize=False)
        assert text.count("<|im_start|>assistant") == sum(m["role"] == "assistant" for m in messages)
        assert ("<tool_call>" in text) == (messages in with_tools)
        encoded = tokenizer.apply_chat_template(messages, return_dict=True, return_assistant_tokens_mask=True)
        assert sum(encoded["assistant_masks"]) >= 1


def test_identity_override_changes_the_answers():
    custom = builtin_dataset("chat", "test", identity={"name": "Robo", "creator": "ACME Labs"})
    default = builtin_dataset("chat", "test")

    def answers(ds):
        return [m["content"] for row in ds["messages"] for m in row if m["role"] in ("assistant", "system")]

    assert any("Robo" in a for a in answers(custom)) and any("ACME Labs" in a for a in answers(custom))
    assert not any("hfchat" in a for a in answers(custom))
    assert any(DEFAULT_IDENTITY["name"] in a for a in answers(default))
    assert any(DEFAULT_IDENTITY["creator"] in a for a in answers(default))
    # Other datasets ignore the identity and share the default's cache entry.
    assert builtin_dataset("math", "test", identity={"name": "Robo"}) is builtin_dataset("math", "test")


@pytest.mark.parametrize("split", ["train", "test"])
def test_preference_pairs(split):
    ds = builtin_dataset("preference", split)
    kinds = {"sum": 0, "story": 0}
    for row in ds:
        assert [m["role"] for m in row["prompt"]] == ["user"]
        assert [m["role"] for m in row["chosen"]] == [m["role"] for m in row["rejected"]] == ["assistant"]
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert chosen and rejected and chosen != rejected
        if match := re.fullmatch(r"(\d+) ([+-]) (\d+) = (\d+)\. The answer is (\d+)\.", chosen):
            a, op, b, value, answer = match.groups()
            assert int(value) == int(answer) == (int(a) + int(b) if op == "+" else int(a) - int(b))
            assert rejected.startswith(f"{a} {op} {b} = ") and not rejected.endswith(f" {value}.")
            kinds["sum"] += 1
        kinds["story"] += "story" in row["prompt"][0]["content"]
    assert kinds["sum"] > 0.05 * len(ds) and kinds["story"] > 0.1 * len(ds)
