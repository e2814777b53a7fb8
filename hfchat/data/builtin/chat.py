"""Chat conversations: small talk, questions about the stories' world, story requests, identity questions, and
arithmetic answered through a calculator tool call."""

import random
from collections.abc import Mapping
from types import MappingProxyType

from .facts import _ANIMAL_FACTS, _COLOUR_FACTS, _OPPOSITES, _SENSES, _legs
from .stories import _TOPICS, _story
from .words import _ANIMALS, _BOYS, _COLOURS, _GIRLS, _PETALS, _TOYS, _article, _cap

DEFAULT_IDENTITY = MappingProxyType({"name": "hfchat", "creator": "the hfchat developers"})
# The schema of the calculator the chat data calls; pass `tools=[CALCULATOR_TOOL]` to a chat template to list it.
CALCULATOR_TOOL = {
    "type": "function",
    "function": {
        "name": "calculator",
        "description": "Evaluate an arithmetic expression with integers, + - * and parentheses.",
        "parameters": {
            "type": "object",
            "properties": {"expression": {"type": "string", "description": "for example (3+4)*5"}},
            "required": ["expression"],
        },
    },
}

_GREETINGS = ((("Hi!", "Hello!", "Hey there!", "Hi there!", "Hello, friend!", "Hey!"),
               ("Hello! How can I help you today?", "Hi there! What would you like to talk about?",
                "Hello! It is nice to meet you. What can I do for you?")),
              (("Good morning!", "Good morning to you!"),
               ("Good morning! I hope you have a lovely day. How can I help?",
                "Good morning! What shall we do today?")),
              (("How are you?", "How are you today?", "Hi, how are you doing?"),
               ("I am doing well, thank you for asking! How are you?", "I am very well, thank you. How can I help?")),
              (("Thank you!", "Thanks a lot!", "Thanks!", "That was helpful, thank you."),
               ("You are welcome!", "You are very welcome. I am happy to help!", "Any time! Have a great day.")),
              (("Bye!", "Goodbye!", "See you later!", "Good night!"),
               ("Goodbye! Have a wonderful day.", "Bye! Come back any time.", "See you soon! Take care.")),
              (("I feel sad today.", "I am sad.", "I had a bad day."),
               ("I am sorry you feel sad. Would you like to hear a happy story?",
                "Oh no, I am sorry. Do you want to talk about it? I am here to listen.")),
              (("I am bored.", "I have nothing to do."),
               ("How about a short story? Or you can ask me some sums to solve.",
                "You could draw a picture, read a book, or ask me to tell you a story.")),
              (("Tell me a joke.", "Do you know a joke?"),
               ("Why did the cat sit on the computer? To keep an eye on the mouse!",
                "What do you call a sleeping bull? A bulldozer!", "Why are fish so smart? They live in schools!")),
              (("What is your favourite colour?", "Do you have a favourite colour?"),
               ("I do not have eyes, but I think blue sounds lovely, like the sky.",
                "I cannot see colours, but many people love green, like the grass.")))
_IDENTITY_QA = ((("Who are you?", "What are you?", "Tell me about yourself."),
                 ("I am {name}, a small AI assistant made by {creator}.",
                  "I am {name}, an AI assistant. I was made by {creator}.")),
                (("What is your name?", "What's your name?", "Do you have a name?"),
                 ("My name is {name}.", "I am called {name}.", "My name is {name}. How can I help you?")),
                (("Who made you?", "Who created you?", "Who built you?"),
                 ("I was made by {creator}.", "{Creator} made me.", "I was created by {creator}.")),
                (("Are you a person?", "Are you a human?", "Are you real?"),
                 ("No, I am not a person. I am {name}, an AI assistant made by {creator}.",
                  "I am not a human. I am {name}, a computer program made by {creator}.")),
                (("What can you do?", "How can you help me?"),
                 ("I am {name}. I can chat with you, answer simple questions, tell short stories and do sums with "
                  "a calculator.",)))
_SYSTEMS = ("You are a helpful assistant.", "You are {name}, a friendly assistant made by {creator}.",
            "You are a kind assistant for children. Keep your answers short and simple.",
            "Answer briefly and politely.", "You are {name}. Use the calculator tool for arithmetic.")
_CALC_ASKS = ("What is {e}?", "Can you work out {e}?", "Please calculate {e}.", "How much is {e}?",
              "What does {e} equal?", "Quick question: what is {e}?", "Solve {e} for me, please.",
              "Use the calculator to find {e}.", "I need to know {e}.", "What is the answer to {e}?")
_CALC_LEADS = ("", "", "", "Let me calculate that.", "I will use the calculator.", "Let me check with the calculator.",
               "Sure, let me work that out.")
_CALC_FOLLOWUPS = (("Now add {n} to that.", "+"), ("And if you add {n}?", "+"), ("Now take away {n}.", "-"),
                   ("What if you subtract {n}?", "-"), ("Now multiply that by {n}.", "*"),
                   ("And times {n}?", "*"))


def _expression(rng: random.Random) -> tuple[str, int, str | None]:
    """(spaced expression, its value, spoken form for a single operation). Never negative."""
    shape = rng.random()
    a, b, c = rng.randint(0, 99), rng.randint(0, 99), rng.randint(2, 12)
    if shape < 0.3:
        return f"{a} + {b}", a + b, f"{a} plus {b}"
    if shape < 0.5:
        a, b = max(a, b), min(a, b)
        return f"{a} - {b}", a - b, f"{a} minus {b}"
    if shape < 0.75:
        a, b = rng.randint(2, 20), rng.randint(2, 15)
        return f"{a} * {b}", a * b, f"{a} times {b}"
    a, b = a % 21, b % 21
    if shape < 0.85:
        return f"({a} + {b}) * {c}", (a + b) * c, None
    if shape < 0.93:
        return f"{a} * {c} + {b}", a * c + b, None
    a, b = max(a, b), min(a, b)
    return f"({a} - {b}) * {c}", (a - b) * c, None


def _tool_exchange(rng: random.Random, ask: str, expr: str, value: int) -> list[dict]:
    """A user question, the assistant's calculator call, the tool's result and the final answer."""
    call = {"type": "function", "function": {"name": "calculator", "arguments": {"expression": expr.replace(" ", "")}}}
    answer = rng.choice((f"{expr} = {value}.", f"The answer is {value}.", f"{expr} equals {value}.",
                         f"{expr} is {value}."))
    return [_msg("user", ask), _msg("assistant", rng.choice(_CALC_LEADS), tool_calls=[call]),
            _msg("tool", str(value), name="calculator"), _msg("assistant", answer)]


def _msg(role: str, content: str, *, name: str = "", tool_calls: list | None = None) -> dict:
    # Every message has the same four keys so that Arrow stores one struct type for all of them.
    return {"role": role, "content": content, "name": name, "tool_calls": tool_calls or []}


def _arithmetic_turns(rng: random.Random, follow_up: bool) -> list[dict]:
    expr, value, spoken = _expression(rng)
    shown = spoken if spoken and rng.random() < 0.3 else expr
    messages = _tool_exchange(rng, rng.choice(_CALC_ASKS).format(e=shown), expr, value)
    if follow_up:  # the next question refers back to the result: "Now add 5 to that."
        ask, op = rng.choice(_CALC_FOLLOWUPS)
        op = "+" if op == "-" and value == 0 else op
        n = rng.randint(1, min(value, 20)) if op == "-" else rng.randint(2, 9)
        result = value + n if op == "+" else value - n if op == "-" else value * n
        messages += _tool_exchange(rng, ask.format(n=n), f"{value} {op} {n}", result)
    return messages


def _fact_qa(rng: random.Random) -> tuple[str, str, str | None]:
    """A question about the stories' world, its correct answer, and a clearly wrong one of the same shape (None
    where a wrong answer could pass for right: pigs may well eat grass)."""
    kind = rng.randrange(6)
    if kind < 2:
        animal, plural, sound, legs, home, food = rng.choice(_ANIMAL_FACTS)
        a = _article(animal)
        legs_wrong = rng.choice([n for n in (0, 2, 4, 6, 8) if n != legs])
        sound_wrong = rng.choice([f[2] for f in _ANIMAL_FACTS if f[2] not in ("", sound)])
        choices = [(f"How many legs does {a} have?", f"{_cap(a)} has {_legs(legs)}.",
                    f"{_cap(a)} has {_legs(legs_wrong)}."),
                   (f"Where does {a} live?", f"{_cap(a)} lives {home}.", None),
                   (f"What do {plural} eat?", f"{_cap(plural)} eat {food}.", None)]
        if sound:
            choices.append((f"What sound does {a} make?", f"{_cap(a)} says {sound}.", f"{_cap(a)} says {sound_wrong}."))
        return rng.choice(choices)
    if kind < 4:
        thing, verb, colour = rng.choice(_COLOUR_FACTS)
        wrong = rng.choice([c for c in _PETALS + ("blue", "green", "black") if c != colour])
        return f"What colour {verb} {thing}?", f"{_cap(thing)} {verb} {colour}.", f"{_cap(thing)} {verb} {wrong}."
    if kind == 4:
        small, big = rng.choice(_OPPOSITES)
        wrong = rng.choice([w for pair in _OPPOSITES if small not in pair for w in pair])
        return (f"What is the opposite of {small}?", f"The opposite of {small} is {big}.",
                f"The opposite of {small} is {wrong}.")
    organ, verb = rng.choice(_SENSES)
    wrong = rng.choice([v for o, v in _SENSES if o != organ])
    return f"What do we use our {organ} for?", f"We use our {organ} to {verb}.", f"We use our {organ} to {wrong}."


def _story_request(rng: random.Random) -> tuple[str, str, dict]:
    """(request, topic, story() keyword arguments) for "Tell me a story about ..."."""
    kind = rng.randrange(4)
    if kind == 0:
        animal = rng.choice(_ANIMALS)[0]
        topic, pins = _article(animal), {"kind": animal, "pair": False}
    elif kind == 1:
        girl = rng.random() < 0.5
        name = rng.choice(_GIRLS if girl else _BOYS)
        topic, pins = f"{'a girl' if girl else 'a boy'} named {name}", {"kind": "girl" if girl else "boy",
                                                                          "name": name, "pair": False}
    elif kind == 2:
        obj, colour = rng.choice(_TOYS), rng.choice(_COLOURS)
        topic, pins = _article(f"{colour} {obj}"), {"obj": obj, "colour": colour}
    else:
        topic = rng.choice(list(_TOPICS))
        pins = {"plot": _TOPICS[topic]}
    ask = rng.choice(("Tell me a short story about {t}.", "Can you tell me a story about {t}?",
                      "Write a short story about {t}.", "Please tell me a story about {t}.",
                      "I want a story about {t}."))
    return ask.format(t=topic), topic, pins


def _story_reply(rng: random.Random, topic: str, pins: dict) -> str:
    text = _story(rng, **pins, max_words=220)
    lead = rng.choice(("", "", f"Here is a short story about {topic}.\n\n", "Sure! Here is a story.\n\n"))
    return lead + text


def _conversation(rng: random.Random, identity: Mapping[str, str]) -> list[dict]:
    """One to three user turns; a fifth of the conversations start with a system message."""
    messages = [_msg("system", _fill(rng.choice(_SYSTEMS), identity))] if rng.random() < 0.2 else []
    turns, asked = rng.choice((1, 1, 1, 2, 2, 3)), 0
    while asked < turns:
        if asked == 0 and turns > 1 and rng.random() < 0.4:
            kind = "small talk"  # longer chats often open with a greeting
        else:
            kind = rng.choices(("arithmetic", "story", "fact", "identity", "small talk"), (30, 15, 25, 12, 18))[0]
        if kind == "arithmetic":
            messages += _arithmetic_turns(rng, follow_up=turns - asked >= 2 and rng.random() < 0.4)
        elif kind == "story":
            ask, topic, pins = _story_request(rng)
            messages += [_msg("user", ask), _msg("assistant", _story_reply(rng, topic, pins))]
        elif kind == "fact":
            question, answer, _ = _fact_qa(rng)
            messages += [_msg("user", question), _msg("assistant", answer)]
        else:
            asks, replies = rng.choice(_IDENTITY_QA if kind == "identity" else _GREETINGS)
            messages += [_msg("user", rng.choice(asks)), _msg("assistant", _fill(rng.choice(replies), identity))]
        asked = sum(m["role"] == "user" for m in messages)
    return messages


def _fill(template: str, identity: Mapping[str, str]) -> str:
    return template.format(name=identity["name"], creator=identity["creator"], Creator=_cap(identity["creator"]))
