import json
import os
import subprocess
import sys

import datasets
import pytest
from transformers import AutoTokenizer

from hfchat import bytes_per_token, save_tokenizer, train_tokenizer
from hfchat.tokenizer import BOS_TOKEN, IM_END, SPECIAL_TOKENS
from tests.helpers import REPO_ROOT, TOKENIZER_CORPUS, TRANSFORMERS4_PATH

GOLDEN = REPO_ROOT / "tests" / "golden"

CONVERSATION = [
    {"role": "system", "content": "You are a helpful assistant."},
    {"role": "user", "content": "What is 12 * 7?"},
    {
        "role": "assistant",
        "content": "Let me calculate.",
        "tool_calls": [{"type": "function", "function": {"name": "calculator", "arguments": {"expression": "12*7"}}}],
    },
    {"role": "tool", "name": "calculator", "content": "84"},
    {"role": "assistant", "content": "12 * 7 = 84."},
    {"role": "user", "content": "Thanks!"},
    {"role": "assistant", "content": "You're welcome."},
]

ROUND_TRIP = [
    "안녕하세요, 세계! 오늘 날씨가 좋네요.",
    "Emoji: 🙂🚀👩‍👩‍👧 and flags 🇰🇷",
    "def f(x):\n\treturn {'a': [x ** 2 for _ in range(10)]}\n",
    "   leading, trailing   \n\n\n  \t\t  ",
    "",
    "numbers 1234567890 3.14159 -42",
    "mixed 日本語 العربية עברית",
    "\x00\x01 control \u200b zero-width",
    "<|im_start|> looks special but is text",
]


def test_round_trip_is_exact(tiny_tokenizer):
    for text in ROUND_TRIP:
        ids = tiny_tokenizer(text, add_special_tokens=False)["input_ids"]
        assert tiny_tokenizer.decode(ids) == text


def test_special_tokens_and_inputs(tiny_tokenizer):
    assert tiny_tokenizer.bos_token == BOS_TOKEN and tiny_tokenizer.eos_token == BOS_TOKEN
    assert tiny_tokenizer.pad_token == "<|pad|>"
    for token in SPECIAL_TOKENS:
        ids = tiny_tokenizer(token, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1, token
    assert tiny_tokenizer.model_input_names == ["input_ids", "attention_mask"]
    encoded = tiny_tokenizer("hello")
    assert set(encoded) == {"input_ids", "attention_mask"}
    assert encoded["input_ids"][0] == tiny_tokenizer.bos_token_id


def test_digits_split_in_groups_of_three(tiny_tokenizer):
    pieces = tiny_tokenizer.backend_tokenizer.pre_tokenizer.pre_tokenize_str("1234567")
    assert [piece for piece, _ in pieces] == ["123", "456", "7"]


def test_chat_template_matches_golden(tiny_tokenizer):
    rendered = tiny_tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert rendered == (GOLDEN / "chat_template_conversation.txt").read_text(encoding="utf-8")
    prompt = tiny_tokenizer.apply_chat_template(CONVERSATION[:2], tokenize=False, add_generation_prompt=True)
    assert prompt == (GOLDEN / "chat_template_generation_prompt.txt").read_text(encoding="utf-8")


def test_chat_template_renders_tools(tiny_tokenizer):
    tools = [
        {
            "type": "function",
            "function": {
                "name": "calculator",
                "description": "Evaluate an arithmetic expression.",
                "parameters": {"type": "object", "properties": {"expression": {"type": "string"}}},
            },
        }
    ]
    rendered = tiny_tokenizer.apply_chat_template(CONVERSATION[1:2], tools=tools, tokenize=False)
    assert rendered == (GOLDEN / "chat_template_tools.txt").read_text(encoding="utf-8")


def test_assistant_mask_covers_exactly_the_replies_and_their_end_tokens(tiny_tokenizer):
    out = tiny_tokenizer.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    ids, mask = out["input_ids"], out["assistant_masks"]
    assert len(ids) == len(mask)
    # Split the masked tokens into contiguous spans, one per assistant turn.
    spans, current = [], []
    for token, masked in zip(ids, mask):
        if masked:
            current.append(token)
        elif current:
            spans.append(current)
            current = []
    assert spans == [
        tiny_tokenizer(text + IM_END, add_special_tokens=False)["input_ids"]
        for text in (
            'Let me calculate.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "12*7"}}\n</tool_call>',
            "12 * 7 = 84.",
            "You're welcome.",
        )
    ]


def test_save_and_load_with_auto_tokenizer(tiny_tokenizer, tmp_path):
    save_tokenizer(tiny_tokenizer, tmp_path)
    config = json.loads((tmp_path / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"
    loaded = AutoTokenizer.from_pretrained(tmp_path)
    text = TOKENIZER_CORPUS[1]
    assert loaded(text)["input_ids"] == tiny_tokenizer(text)["input_ids"]
    assert loaded.apply_chat_template(CONVERSATION, tokenize=False) == tiny_tokenizer.apply_chat_template(
        CONVERSATION, tokenize=False
    )
    assert loaded.pad_token == tiny_tokenizer.pad_token
    assert loaded.model_input_names == ["input_ids", "attention_mask"]


def test_saved_tokenizer_loads_on_transformers_4_57(tiny_tokenizer, tmp_path):
    if not (TRANSFORMERS4_PATH / "transformers").is_dir():
        message = f"transformers 4.57 not installed at {TRANSFORMERS4_PATH} (run `make setup`)"
        pytest.fail(message) if os.environ.get("CI") else pytest.skip(message)
    save_tokenizer(tiny_tokenizer, tmp_path)
    child = (
        "import json, sys\n"
        "from transformers import AutoTokenizer\n"
        "tok = AutoTokenizer.from_pretrained(sys.argv[1])\n"
        "conv = json.loads(sys.argv[2])\n"
        "out = tok.apply_chat_template(conv, return_dict=True, return_assistant_tokens_mask=True)\n"
        "print(json.dumps({'ids': out['input_ids'], 'mask': out['assistant_masks'], 'pad': tok.pad_token}))\n"
    )
    env = {**os.environ, "PYTHONPATH": str(TRANSFORMERS4_PATH), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", child, str(tmp_path), json.dumps(CONVERSATION)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    got = json.loads(result.stdout.strip().splitlines()[-1])
    expected = tiny_tokenizer.apply_chat_template(CONVERSATION, return_dict=True, return_assistant_tokens_mask=True)
    assert got["ids"] == expected["input_ids"]
    assert got["mask"] == expected["assistant_masks"]
    assert got["pad"] == "<|pad|>"


def test_trains_from_a_datasets_column_and_a_generator():
    dataset = datasets.Dataset.from_dict({"text": TOKENIZER_CORPUS * 10})
    from_column = train_tokenizer(dataset["text"], vocab_size=400, batch_size=7)
    from_generator = train_tokenizer((row["text"] for row in dataset), vocab_size=400)
    assert from_column.get_vocab() == from_generator.get_vocab()
    assert len(from_column) == 400


def test_empty_input_is_a_clear_error():
    with pytest.raises(ValueError, match="texts is empty"):
        train_tokenizer([], vocab_size=512)
    with pytest.raises(ValueError, match="texts is empty"):
        train_tokenizer(iter(()), vocab_size=512)


def test_vocabulary_smaller_than_bytes_and_specials_is_a_clear_error():
    with pytest.raises(ValueError, match=r"vocab_size must be at least 264"):
        train_tokenizer(TOKENIZER_CORPUS, vocab_size=100)


def test_non_string_input_is_a_clear_error():
    with pytest.raises(TypeError, match=r"texts\[1\] is int"):
        train_tokenizer(["ok", 5], vocab_size=300)
    with pytest.raises(TypeError, match="not a single string"):
        train_tokenizer("just one string", vocab_size=300)


def test_bytes_per_token_is_bytes_over_tokens(tiny_tokenizer):
    texts = TOKENIZER_CORPUS[:3]
    n_tokens = sum(len(tiny_tokenizer(t, add_special_tokens=False)["input_ids"]) for t in texts)
    n_bytes = sum(len(t.encode()) for t in texts)
    assert bytes_per_token(tiny_tokenizer, texts) == pytest.approx(n_bytes / n_tokens)
    assert bytes_per_token(tiny_tokenizer, texts) > 1.5  # the merges learned something
