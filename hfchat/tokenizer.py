"""Train a byte-level BPE tokenizer with a ChatML chat template.

The tokenizer is a plain `PreTrainedTokenizerFast` saved as `tokenizer.json` + `tokenizer_config.json`, so
`AutoTokenizer`, TRL, vLLM, TGI and llama.cpp read it without hfchat.

Example:
    >>> from hfchat import train_tokenizer
    >>> tok = train_tokenizer(["hello world", "hello there"] * 50, vocab_size=300)
    >>> tok.decode(tok("hello world", add_special_tokens=False)["input_ids"])
    'hello world'
"""

import itertools
import json
import logging
import os
import re
import shutil
from collections.abc import Iterable, Iterator

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

logger = logging.getLogger(__name__)

# Marks document starts (every pretraining document begins with it) and ends a base model's text.
BOS_TOKEN = "<|endoftext|>"
PAD_TOKEN = "<|pad|>"
# ChatML turns, recognised by vLLM, TGI and llama.cpp.
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"
# Tool calls and results in the Hermes/Qwen format that vLLM's and llama.cpp's tool parsers read.
TOOL_CALL_START, TOOL_CALL_END = "<tool_call>", "</tool_call>"
TOOL_RESPONSE_START, TOOL_RESPONSE_END = "<tool_response>", "</tool_response>"
SPECIAL_TOKENS = [
    BOS_TOKEN,
    PAD_TOKEN,
    IM_START,
    IM_END,
    TOOL_CALL_START,
    TOOL_CALL_END,
    TOOL_RESPONSE_START,
    TOOL_RESPONSE_END,
]

# Llama 3's pre-tokenisation split (GPT-4's, digits in groups of at most three): llama.cpp implements exactly this
# regex, and its pre-tokenizer "smaug-bpe" also merges as ours does ("llama-bpe" first looks whole words up in the
# vocabulary), so a GGUF export tokenises identically (hfchat/export/gguf.py).
SPLIT_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)

# ChatML with tool calls. `{% generation %}` wraps what the assistant writes (reply, tool calls and the closing
# <|im_end|>) so that `return_assistant_tokens_mask` and TRL's `assistant_only_loss` train on exactly that.
CHAT_TEMPLATE = """{{- bos_token }}
{%- if tools %}
{{- '<|im_start|>system\\n' }}
{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}
{{- 'You can call these tools. Put each call in <tool_call></tool_call> tags as a JSON object with "name" and "arguments":\\n<tools>' }}
{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}
{{- '\\n</tools><|im_end|>\\n' }}
{%- elif messages[0].role == 'system' %}
{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
{%- endif %}
{%- for message in messages %}
{%- if message.role == 'user' or (message.role == 'system' and not loop.first) %}
{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}
{%- elif message.role == 'assistant' %}
{{- '<|im_start|>assistant\\n' }}
{%- generation %}
{%- if message.content %}{{- message.content }}{%- endif %}
{%- for tool_call in message.tool_calls or [] %}
{%- set call = tool_call.function if tool_call.function is defined else tool_call %}
{%- if loop.first and message.content %}{{- '\\n' }}{%- endif %}
{{- '<tool_call>\\n{"name": "' + call.name + '", "arguments": ' }}
{%- if call.arguments is string %}{{- call.arguments }}{%- else %}{{- call.arguments | tojson }}{%- endif %}
{{- '}\\n</tool_call>' }}
{%- endfor %}
{{- '<|im_end|>' }}
{%- endgeneration %}
{{- '\\n' }}
{%- elif message.role == 'tool' %}
{{- '<|im_start|>tool\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}
{%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
{{- '<|im_start|>assistant\\n' }}
{%- endif %}"""


_TOOL_CALL = re.compile(re.escape(TOOL_CALL_START) + r"\s*(.*?)\s*" + re.escape(TOOL_CALL_END), re.DOTALL)


def parse_tool_calls(text: str) -> list[dict]:
    r"""The tool calls in an assistant reply as the chat template writes them, each ``{"name": ..., "arguments":
    {...}}``; a call that is not a JSON object with a string ``name`` and object ``arguments`` is left out.

    Example:
        >>> parse_tool_calls('Let me check.\n<tool_call>\n{"name": "calculator", "arguments": {"expression": "2+3"}}'
        ...                  '\n</tool_call>')
        [{'name': 'calculator', 'arguments': {'expression': '2+3'}}]
    """
    calls = []
    for body in _TOOL_CALL.findall(text):
        try:
            call = json.loads(body)
        except json.JSONDecodeError:
            continue
        if isinstance(call, dict) and isinstance(call.get("name"), str) and isinstance(call.get("arguments"), dict):
            calls.append({"name": call["name"], "arguments": call["arguments"]})
    return calls


def end_of_turn(tokenizer) -> str | None:
    """The token that ends an assistant turn: hfchat's `IM_END`, else the tokenizer's own end-of-sequence token (an
    imported nanochat model's ``<|assistant_end|>``); None when there is neither."""
    if IM_END in tokenizer.get_vocab():
        return IM_END
    return tokenizer.eos_token


def end_of_turn_ids(tokenizer, model=None) -> list[int]:
    """The token ids that end a reply, each once, the main one first: ``model``'s generation-config end tokens (else
    its config's), then the end-of-turn token (`end_of_turn`) and the tokenizer's end-of-sequence token."""
    ends = []
    if model is not None:
        configured = model.generation_config.eos_token_id if model.generation_config is not None else None
        configured = model.config.eos_token_id if configured is None else configured
        ends += configured if isinstance(configured, list) else [configured]
    turn_end = end_of_turn(tokenizer)
    ends += [tokenizer.convert_tokens_to_ids(turn_end) if turn_end is not None else None, tokenizer.eos_token_id]
    return list(dict.fromkeys(int(end) for end in ends if end is not None))


def build_tokenizer(tokenizer_object: Tokenizer, model_max_length: int = 2048) -> PreTrainedTokenizerFast:
    """Wrap a trained `tokenizers.Tokenizer` with hfchat's special tokens and chat template."""
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer_object,
        bos_token=BOS_TOKEN,
        eos_token=BOS_TOKEN,
        pad_token=PAD_TOKEN,
        additional_special_tokens=SPECIAL_TOKENS[2:],
        chat_template=CHAT_TEMPLATE,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )


def _batches(texts: Iterable[str], batch_size: int, counter: list[int]) -> Iterator[list[str]]:
    iterator = iter(texts)
    while batch := list(itertools.islice(iterator, batch_size)):
        for i, text in enumerate(batch):
            if not isinstance(text, str):
                raise TypeError(f"train_tokenizer: texts[{counter[0] + i}] is {type(text).__name__}, not str")
        counter[0] += len(batch)
        yield batch


def train_tokenizer(
    texts: Iterable[str],
    vocab_size: int,
    *,
    min_frequency: int = 2,
    batch_size: int = 1000,
    model_max_length: int = 2048,
    show_progress: bool = False,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer on ``texts`` and return it ready for `save_pretrained`.

    ``texts`` is any iterable of strings (a list, a generator, a `datasets` column): it is read once, in batches of
    ``batch_size``, never materialised whole. The 256 byte tokens are always in the vocabulary, so any UTF-8 text
    round-trips exactly; ``vocab_size`` counts them, the merges and the special tokens.

    Args:
        texts: the training text.
        vocab_size: the final vocabulary size (at least 256 + the number of special tokens).
        min_frequency: a pair must occur this often to be merged.
        batch_size: how many texts are handed to the trainer at a time.
        model_max_length: the context length recorded in the tokenizer config.
        show_progress: show the trainer's progress bar.
    """
    minimum = len(pre_tokenizers.ByteLevel.alphabet()) + len(SPECIAL_TOKENS)
    if not isinstance(vocab_size, int) or vocab_size < minimum:
        raise ValueError(
            f"train_tokenizer: vocab_size must be at least {minimum} (256 byte tokens + {len(SPECIAL_TOKENS)} "
            f"special tokens), got {vocab_size!r}"
        )
    if isinstance(texts, str):
        raise TypeError("train_tokenizer: texts must be an iterable of strings, not a single string")

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=show_progress,
    )
    counter = [0]
    tokenizer.train_from_iterator(_batches(texts, batch_size, counter), trainer=trainer)
    if counter[0] == 0:
        raise ValueError("train_tokenizer: texts is empty; give it at least one string to learn from")
    bos_id = tokenizer.token_to_id(BOS_TOKEN)
    # Like pretraining documents, text encoded with special tokens starts with the BOS token.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS_TOKEN} $A", pair=f"{BOS_TOKEN} $A {BOS_TOKEN} $B", special_tokens=[(BOS_TOKEN, bos_id)]
    )
    logger.info("trained a %d-token BPE on %d texts", tokenizer.get_vocab_size(), counter[0])
    return build_tokenizer(tokenizer, model_max_length=model_max_length)


def save_tokenizer(tokenizer: PreTrainedTokenizerFast, directory: str | os.PathLike) -> None:
    """`save_pretrained`, then make ``tokenizer_config.json`` readable by transformers 4.x as well.

    transformers 5 records the class as ``TokenizersBackend`` and the extra special tokens as
    ``extra_special_tokens``; serving images that ship transformers 4.x (TGI, older vLLM) know neither. The
    names written here (``PreTrainedTokenizerFast``, ``additional_special_tokens``) load in both.
    """
    tokenizer.save_pretrained(directory)
    path = os.path.join(directory, "tokenizer_config.json")
    with open(path, encoding="utf-8") as f:
        config = json.load(f)
    config["tokenizer_class"] = "PreTrainedTokenizerFast"
    extra = config.pop("extra_special_tokens", None)
    if isinstance(extra, list):
        config["additional_special_tokens"] = extra
    elif extra:
        config["extra_special_tokens"] = extra
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(config, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.write("\n")
    os.replace(tmp, path)


def train_and_save_tokenizer(
    texts: Iterable[str], vocab_size: int, directory: str | os.PathLike, **options
) -> PreTrainedTokenizerFast:
    """`train_tokenizer`, then `save_tokenizer` into a temporary folder renamed to ``directory`` when complete."""
    tokenizer = train_tokenizer(texts, vocab_size, **options)
    directory = os.fspath(directory)
    tmp = directory.rstrip("/") + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    save_tokenizer(tokenizer, tmp)
    shutil.rmtree(directory, ignore_errors=True)
    os.replace(tmp, directory)
    return tokenizer


def bytes_per_token(tokenizer: PreTrainedTokenizerFast, texts: Iterable[str], batch_size: int = 1000) -> float:
    """UTF-8 bytes per token over ``texts`` (special tokens not counted): the compression ratio.

    Example:
        >>> tok = train_tokenizer(["abc abc abc"] * 20, vocab_size=300)
        >>> bytes_per_token(tok, ["abc abc"]) > 1.0
        True
    """
    n_bytes = n_tokens = 0
    for batch in _batches(texts, batch_size, [0]):
        encoded = tokenizer(batch, add_special_tokens=False)["input_ids"]
        n_bytes += sum(len(text.encode("utf-8")) for text in batch)
        n_tokens += sum(len(ids) for ids in encoded)
    if n_tokens == 0:
        raise ValueError("bytes_per_token: texts produced no tokens")
    return n_bytes / n_tokens
