"""First-grade addition and subtraction within 10, bare and as word problems, with the worked sum for about a third."""

import random
from dataclasses import dataclass

from .facts import _ITEMS
from .words import _BOYS, _GIRLS, _PRONOUNS, _cap, _count, _digest

_BARE = ("What is {a} {op} {b}?", "What is {a} {word} {b}?", "Calculate {a} {op} {b}.", "How much is {a} {op} {b}?",
         "What is {a} {op} {b} equal to?", "Work out {a} {word} {b}.")
_ADD_STORIES = ("{name} has {a_items} and gets {b} more. How many {items} does {name} have now?",
                "{name} had {a_items}. {His} friend gave {him} {b} more. How many {items} does {name} have now?",
                "There are {a_animals} {where}. {b_more} {come}. How many {animals} are there now?",
                "{name} found {a_items} in the morning and {b} in the afternoon. How many {items} did {name} find "
                "in all?",
                "{name} has {a_items} in one box and {b_items} in another box. How many {items} are there in all?")
_SUB_STORIES = ("{name} has {a_items} and gives {b} to a friend. How many {items} does {name} have left?",
                "{name} had {a_items}. {He} lost {b} of them. How many {items} does {name} have now?",
                "There are {a_animals} {where}. {b} of them {go} away. How many {animals} are left?",
                "{name} baked {a_items}. {His} family ate {b} of them. How many {items} are left?")
_COUNTED = (("duck", "ducks", "on the pond"), ("bird", "birds", "in the tree"), ("cow", "cows", "in the field"),
            ("frog", "frogs", "on the log"), ("sheep", "sheep", "on the hill"), ("cat", "cats", "in the yard"),
            ("rabbit", "rabbits", "in the garden"), ("butterfly", "butterflies", "in the garden"),
            ("fish", "fish", "in the pond"), ("hen", "hens", "on the farm"))


@dataclass(frozen=True)
class _MathItem:
    """One `math` problem as generated: ``a op b`` and the prompt that states it."""

    a: int
    op: str
    b: int
    prompt: str

    @property
    def answer(self) -> int:
        return self.a + self.b if self.op == "+" else self.a - self.b


def _math_item(rng: random.Random) -> _MathItem:
    # First-grade arithmetic within 10: a + b <= 10 and a - b with a <= 10, 132 facts in all, so that the tiny
    # preset's 4.5M-parameter model learns many of them in minutes and GRPO can practise every one.
    # The answer is drawn first, uniformly from 0-10, so that no answer pays off as a guess (a reward-hacking GRPO
    # run otherwise learns to say "10" to every sum).
    op, answer = rng.choice("+-"), rng.randint(0, 10)
    if op == "+":
        a = rng.randint(0, answer)
        b = answer - a
    else:
        b = rng.randint(0, 10 - answer)
        a = answer + b
    if rng.random() < 0.55 or a == 0 or b == 0:  # "has 0 stickers" reads oddly
        template = rng.choice(_BARE)
        prompt = template.format(a=a, op=op, b=b, word="plus" if op == "+" else "minus")
        return _MathItem(a, op, b, prompt)
    template = rng.choice(_ADD_STORIES if op == "+" else _SUB_STORIES)
    girl = rng.random() < 0.5
    item, (animal, animals, where) = rng.choice(_ITEMS), rng.choice(_COUNTED)
    pron = _PRONOUNS["she" if girl else "he"]
    noun = (animal, animals)
    fields = {"name": rng.choice(_GIRLS if girl else _BOYS), "a_items": _count(a, item), "b_items": _count(b, item),
              "b": b, "items": item[1], "a_animals": _count(a, noun),
              "b_more": f"{b} more {noun[b != 1]}",
              "animals": animals, "where": where, "come": "comes" if b == 1 else "come",
              "go": "goes" if b == 1 else "go", "He": _cap(pron["he"]), "His": _cap(pron["his"]), "him": pron["him"]}
    return _MathItem(a, op, b, template.format(**fields).replace("There are 1 ", "There is 1 "))




def _math_row(item: _MathItem) -> dict:
    # Like real SFT data, some answers show their work and most do not: the worked sum ("7 - 3 = 4.") is given for
    # about a third of the problems (fixed by the prompt's digest), "" for the rest, so an SFT model answers at once
    # and GRPO can find that working it out pays.
    worked = _digest(item.prompt)[0] < 86
    solution = f"{item.a} {item.op} {item.b} = {item.answer}." if worked else ""
    return {"prompt": [{"role": "user", "content": item.prompt}], "solution": solution, "answer": str(item.answer)}
