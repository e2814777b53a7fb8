"""DPO pairs in TRL's conversational preference format: the rejected reply has a wrong result, is off-topic or rude,
or tells a story about something else."""

import random

from .arithmetic import _math_item
from .chat import _GREETINGS, DEFAULT_IDENTITY, _fact_qa, _fill, _story_reply, _story_request
from .stories import _PLOTS, _story

_RUDE = ("What do you want? I am busy.", "No. Figure it out yourself.", "That is a silly question.",
         "I do not care. Go away.", "Why are you asking me that?", "Ugh, not again.")
_OFF_TOPIC = ("I like to eat apples.", "The weather is nice today.", "My favourite number is seven.",
              "Once there was a big red bus.", "I have a red hat.", "Let's sing a song!")


def _other_pins(rng: random.Random, pins: dict) -> dict:
    """A story request of the same sort (animal, named child or toy) about something else."""
    while True:
        other = _story_request(rng)[2]
        if other.keys() == pins.keys() and all(other[k] != pins[k] for k in ("kind", "name", "obj") if k in pins):
            return other


def _preference_row(rng: random.Random) -> dict:
    kind = rng.randrange(10)
    if kind < 4:  # a math problem worked out as SFT teaches; the rejected result is off by a little
        item = _math_item(rng)
        wrong = item.answer + rng.choice((-3, -2, -1, 1, 2, 3) if item.answer >= 3 else (1, 2, 3))
        prompt = item.prompt
        chosen, rejected = (f"{item.a} {item.op} {item.b} = {v}. The answer is {v}." for v in (item.answer, wrong))
    elif kind < 6:  # a fact: the rejected answer is wrong, off-topic or rude
        prompt, chosen, wrong = _fact_qa(rng)
        flavour = rng.randrange(3)
        rejected = wrong if flavour == 0 and wrong else rng.choice(_RUDE if flavour == 1 else _OFF_TOPIC)
    elif kind < 8:  # a story: the rejected one is about something else, or a refusal
        prompt, topic, pins = _story_request(rng)
        chosen = _story_reply(rng, topic, pins)
        if rng.random() < 0.2:
            rejected = rng.choice(("I do not want to tell stories.", "Stories are boring.", "No story today."))
        elif "plot" in pins:
            rejected = _story(rng, plot=rng.choice([p for p in _PLOTS if p != pins["plot"]]), max_words=220)
        else:  # about another animal, child or toy, and with no friend of the asked-for kind either
            rejected = _story(rng, **_other_pins(rng, pins), avoid=(pins.get("kind", ""),), max_words=220)
    else:  # small talk: polite vs rude
        asks, replies = rng.choice(_GREETINGS)
        prompt, chosen = rng.choice(asks), _fill(rng.choice(replies), DEFAULT_IDENTITY)
        rejected = rng.choice(_RUDE)
    return {"prompt": [{"role": "user", "content": prompt}], "chosen": [{"role": "assistant", "content": chosen}],
            "rejected": [{"role": "assistant", "content": rejected}]}
