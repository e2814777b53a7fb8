"""The text of a reply as its tokens arrive: incremental detokenization and stop strings.

`ReplyText` turns token ids into text one token at a time without decoding the whole reply again: it decodes a short
window of ids and keeps only complete characters (a multi-byte character split over two tokens waits for the
second). Stop strings are searched in the new text only; the reply ends before the first one, and a tail that may
still grow into a stop string is held back until it is decided.

Example (any tokenizer):
    >>> from hfchat.tokenizer import train_tokenizer
    >>> tokenizer = train_tokenizer(["the cat sat on the mat. the end."] * 20, vocab_size=300)
    >>> text = ReplyText(tokenizer.decode, stops=[" the end"])
    >>> shown = [text.add(i) for i in tokenizer("the cat sat. the end.", add_special_tokens=False)["input_ids"]]
    >>> "".join(shown) + text.take(final=True), text.stopped
    ('the cat sat.', True)
"""

from collections.abc import Callable


class ReplyText:
    """The reply's text so far. `add` one shown token at a time; ``text`` is the reply (cut before a stop string),
    ``stopped`` whether a stop string ended it, and `take` hands out the text not handed out yet."""

    def __init__(self, decode: Callable[[list[int]], str], stops: list[str] = ()):
        self.decode, self.stops = decode, list(stops)
        self.stopped = False
        self._longest_stop = max((len(stop) for stop in self.stops), default=0)
        self._ids: list[int] = []  # the tokens whose text is part of the reply
        self._decoded = ""  # their text, complete characters only
        self._cut: int | None = None  # where the first stop string begins
        self._prefix = self._read = 0  # the decoding window into _ids
        self._visible = 0  # characters already handed out

    @property
    def text(self) -> str:
        return self._decoded if self._cut is None else self._decoded[:self._cut]

    def add(self, token_id: int) -> str:
        """Append one token's text and return what can be shown now."""
        before = len(self._decoded)
        self._ids.append(token_id)
        known = self.decode(self._ids[self._prefix:self._read])
        window = self.decode(self._ids[self._prefix:])
        if len(window) > len(known) and not window.endswith("\ufffd"):
            self._decoded += window[len(known):]
            self._prefix, self._read = self._read, len(self._ids)
        if self.stops and not self.stopped:
            cut = _find_stop(self._decoded, self.stops, max(0, before - self._longest_stop))
            if cut is not None:
                self._cut, self.stopped = cut, True
        return self.take(final=self.stopped)

    def take(self, final: bool = False) -> str:
        """The text not handed out yet; unless ``final``, without a tail that may begin a stop string."""
        text = self.text
        safe = len(text) if final else len(text) - _held_back(text, self.stops)
        delta = text[self._visible:safe] if safe > self._visible else ""
        self._visible = max(self._visible, safe)
        return delta


def _find_stop(text: str, stops: list[str], start: int = 0) -> int | None:
    hits = [text.find(stop, start) for stop in stops]
    hits = [hit for hit in hits if hit >= 0]
    return min(hits) if hits else None


def _held_back(text: str, stops: list[str]) -> int:
    """Characters at the end of ``text`` not to show yet: the longest tail that begins a stop string."""
    longest = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), longest, -1):
            if text.endswith(stop[:size]):
                longest = size
                break
    return longest
