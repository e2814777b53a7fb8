"""nanochat's ``tokenizer.pkl`` (a pickled tiktoken ``Encoding``) as a transformers tokenizer, without tiktoken.

The pickle is read by an unpickler that builds exactly one kind of object, a holder for the ``Encoding``'s state
(its name, split pattern, byte ranks and special tokens), and refuses every other class by name: a pickle can run
any code it names, so a tokenizer someone sent you cannot do more than describe a tokenizer here.

The ranks become a byte-level BPE of the `tokenizers` library: tiktoken's bytes written in GPT-2's byte-to-character
alphabet, one merge per multi-byte token (the split the lower-ranked tokens produce, in rank order), nanochat's
split pattern as the pre-tokenizer and a pre-token that is a whole token taken as it is (``ignore_merges``), as
tiktoken does.
"""

from __future__ import annotations

import io
import os
import pickle

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers, processors
from transformers import PreTrainedTokenizerFast

from .template import BOS, CHAT_TEMPLATE, END_OF_TURN
from .weights import NanochatFormatError

_ENCODING_CLASS = ("tiktoken.core", "Encoding")
_STATE_FIELDS = ("name", "pat_str", "mergeable_ranks", "special_tokens")


class _EncodingState:
    """What unpickling a tiktoken ``Encoding`` yields here: the dict its ``__getstate__`` wrote, nothing run."""

    def __setstate__(self, state) -> None:
        self.state = state


class _TokenizerUnpickler(pickle.Unpickler):
    def __init__(self, file, source: str):
        super().__init__(file)
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) == _ENCODING_CLASS:
            return _EncodingState
        raise NanochatFormatError(f"{self.source}: the pickle names {module}.{name}; a nanochat tokenizer is a "
                                  f"tiktoken Encoding and names nothing else, so it is not unpickled")


def read_encoding(path: str | os.PathLike) -> dict:
    """The state of the tiktoken ``Encoding`` pickled at ``path``: name, pat_str, mergeable_ranks, special_tokens."""
    source = os.fspath(path)
    with open(source, "rb") as f:
        data = f.read()
    try:
        loaded = _TokenizerUnpickler(io.BytesIO(data), source).load()
    except NanochatFormatError:
        raise
    except Exception as error:  # a truncated or foreign file: pickle's own errors are many
        raise NanochatFormatError(f"{source}: not a pickled tiktoken Encoding ({error})") from None
    state = getattr(loaded, "state", None)
    if not isinstance(state, dict) or any(field not in state for field in _STATE_FIELDS):
        raise NanochatFormatError(f"{source}: a tiktoken Encoding's state has the fields {', '.join(_STATE_FIELDS)}")
    ranks, specials = state["mergeable_ranks"], state["special_tokens"]
    if not isinstance(state["pat_str"], str):
        raise NanochatFormatError(f"{source}: pat_str is not a string")
    if not all(isinstance(k, bytes) and isinstance(v, int) for k, v in ranks.items()):
        raise NanochatFormatError(f"{source}: mergeable_ranks must map bytes to ranks")
    if not all(isinstance(k, str) and isinstance(v, int) for k, v in specials.items()):
        raise NanochatFormatError(f"{source}: special_tokens must map strings to ids")
    return state


def byte_alphabet() -> dict[int, str]:
    """GPT-2's byte-to-character map: printable Latin-1 bytes stand for themselves, the others for the characters
    from U+0100 on, in byte order (what `tokenizers`' ByteLevel pre-tokenizer and decoder use)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(0xA1, 0xAC + 1), *range(0xAE, 0xFF + 1)]
    alphabet = {byte: chr(byte) for byte in printable}
    others = (byte for byte in range(256) if byte not in alphabet)
    alphabet.update({byte: chr(256 + index) for index, byte in enumerate(others)})
    return alphabet


def _split(token: bytes, ranks: dict[bytes, int]) -> tuple[bytes, bytes]:
    """The two parts tiktoken's merging reaches for ``token`` using only tokens ranked below it."""
    limit = ranks[token]
    parts = [bytes([byte]) for byte in token]
    while len(parts) > 2:
        pairs = [(ranks.get(a + b, limit), i) for i, (a, b) in enumerate(zip(parts, parts[1:]))]
        rank, i = min(pairs)
        if rank >= limit:
            break
        parts[i : i + 2] = [parts[i] + parts[i + 1]]
    if len(parts) != 2:
        raise NanochatFormatError(f"token {token!r} (rank {limit}) cannot be made from lower-ranked tokens")
    return parts[0], parts[1]


def bpe_tokenizer(state: dict) -> Tokenizer:
    """A `tokenizers` byte-level BPE that tokenizes every text as the tiktoken ``Encoding`` of ``state`` does."""
    ranks, specials = state["mergeable_ranks"], state["special_tokens"]
    alphabet = byte_alphabet()

    def spell(token: bytes) -> str:
        return "".join(alphabet[byte] for byte in token)

    missing = [byte for byte in range(256) if bytes([byte]) not in ranks]
    if missing:
        raise NanochatFormatError(f"mergeable_ranks lacks the single byte {missing[0]}: not a byte-level BPE")
    vocab = {spell(token): rank for token, rank in ranks.items()}
    vocab.update(specials)
    multi_byte = sorted((rank, token) for token, rank in ranks.items() if len(token) > 1)
    merges = [tuple(spell(part) for part in _split(token, ranks)) for _, token in multi_byte]
    tokenizer = Tokenizer(models.BPE(vocab=vocab, merges=merges, ignore_merges=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(state["pat_str"]), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token, _ in sorted(specials.items(), key=lambda item: item[1])])
    # nanochat's base model reads documents that start with <|bos|>, as hfchat's own tokenizer writes them.
    tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, specials[BOS])])
    return tokenizer


def transformers_tokenizer(path: str | os.PathLike, model_max_length: int) -> PreTrainedTokenizerFast:
    """nanochat's ``tokenizer.pkl`` at ``path`` as a `PreTrainedTokenizerFast` with nanochat's chat template."""
    state = read_encoding(path)
    needed = [token for token in (BOS, END_OF_TURN) if token not in state["special_tokens"]]
    if needed:
        raise NanochatFormatError(f"{os.fspath(path)}: special_tokens lacks {needed[0]}, which nanochat's "
                                  f"conversations use")
    return PreTrainedTokenizerFast(
        tokenizer_object=bpe_tokenizer(state),
        bos_token=BOS,
        eos_token=END_OF_TURN,
        pad_token=END_OF_TURN,
        additional_special_tokens=[t for t in state["special_tokens"] if t not in (BOS, END_OF_TURN)],
        chat_template=CHAT_TEMPLATE,
        model_input_names=["input_ids", "attention_mask"],
        model_max_length=model_max_length,
        clean_up_tokenization_spaces=False,
    )
