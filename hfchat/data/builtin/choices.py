"""The multiple-choice rows (MMLU's schema): which of four words is a number."""

import random

from .words import _ANIMALS, _COLOURS, _TOYS

_WORDS = tuple(sorted({*_COLOURS, *(a for a, _ in _ANIMALS), *(t for t in _TOYS if " " not in t)}))


def _multiple_choice_row(rng: random.Random) -> dict:
    """A number among three words of the stories, the answer anywhere: the smallest multiple-choice task, one a
    tiny model learns in a hundred SFT steps (it has to read the choices to find the letter)."""
    choices = rng.sample(_WORDS, 3)
    answer = rng.randrange(4)
    choices.insert(answer, str(rng.randrange(2, 100)))
    return {"question": "Which of these is a number?", "choices": choices, "answer": answer}
