"""Small built-in English datasets, generated on the fly by the seeded code in this file.

Five datasets let every stage of hfchat run offline, with nothing downloaded:

- ``stories`` (column ``text``; splits ``train``, ``validation``): short children's stories in the spirit of
  TinyStories (a hero, a problem, its resolution, often a moral; dialogue in quotes), plus one document in five of
  simple facts (animals, colours, sums with correct results, counting stories worked out as "3 + 4 = 7.").
  22,000 documents, about 14 MB of text (about 3.4 million tokens for a 4k BPE) in ``train``; 220 in
  ``validation``.
- ``chat`` (column ``messages``; ``train`` 20,000, ``test`` 500): one to three user turns of small talk, questions
  about the stories' world, story requests, identity questions ("Who made you?", answered from ``identity``), and
  arithmetic answered through a ``calculator`` tool call and its result.
- ``preference`` (``prompt``, ``chosen``, ``rejected``; 10,000 / 500): TRL's conversational preference format for
  DPO; the rejected reply has a wrong result, is off-topic or rude, or tells a story about something else.
- ``math`` (``prompt``, ``solution``, ``answer``; 10,000 / 500): first-grade addition and subtraction within 10,
  bare and as word problems, for SFT, GRPO and accuracy evals; ``solution`` is the worked sum ("7 - 3 = 4.") for
  about a third of the problems and empty for the rest.
- ``multiple_choice`` (``question``, ``choices``, ``answer``: MMLU's schema; 5,000 / 500): "Which of these is a
  number?", a number among three words (colours, animals, toys), the answer at any letter; for SFT rows trained on
  the bare letter and the ``accuracy`` that ARC and MMLU report (``--task-data mmlu=builtin:multiple_choice`` with
  the ``test`` split).

Nothing comes from an external source: the word lists and templates are written here and combined by
``random.Random`` instances with fixed seeds, so every machine builds the same rows in the same order (in a few
seconds; each split is cached in-process). Held-out splits use their own seeds and leave out anything train has.
The data is licensed like the project, Apache-2.0.

Example:
    >>> from hfchat.data.builtin import builtin_dataset
    >>> ds = builtin_dataset("math", "test")
    >>> ds.column_names
    ['prompt', 'solution', 'answer']
    >>> builtin_dataset("stories", "validation")[0]["text"][:29]
    'Once upon a time, there was a'
"""

import functools
import hashlib
import json
import random
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

import datasets
from datasets import Features, List, Value

BUILTIN_NAMES = ("stories", "chat", "preference", "math", "multiple_choice")
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

_SPLITS = {"stories": ("train", "validation"), "chat": ("train", "test"), "preference": ("train", "test"),
           "math": ("train", "test"), "multiple_choice": ("train", "test")}
_SIZES = {("stories", "train"): 22_000, ("stories", "validation"): 220, ("chat", "train"): 20_000,
          ("chat", "test"): 500, ("preference", "train"): 10_000, ("preference", "test"): 500,
          ("math", "train"): 10_000, ("math", "test"): 500, ("multiple_choice", "train"): 5_000,
          ("multiple_choice", "test"): 500}
# One fixed seed per (name, split): held-out splits never share a random stream with train.
_SEEDS = {key: 20240 + i for i, key in enumerate(_SIZES)}

# ----------------------------------------------------------------------------------------------- words of the world

_GIRLS = ("Lily", "Mia", "Emma", "Sara", "Anna", "Lucy", "Zoe", "Ella", "Amy", "Kate", "Rose", "Maya", "Nora", "Ruby",
          "Ivy", "Grace", "Chloe", "Sophie", "Hannah", "Leah", "Julia", "Clara", "Alice", "Molly", "Lena", "Tina",
          "Jenny", "Nina", "Amara", "Priya", "Mei", "Aisha", "Sofia", "Elena", "Yuki", "Layla", "Olivia", "Emily")
_BOYS = ("Tom", "Ben", "Sam", "Max", "Leo", "Jack", "Tim", "Luke", "Noah", "Finn", "Jake", "Oscar", "Theo", "Adam",
         "Eli", "Owen", "Liam", "Ryan", "Danny", "Kai", "Omar", "Ravi", "Hugo", "Felix", "Oliver", "Henry", "Lucas",
         "Mateo", "Kenji", "Amir", "Joe", "Bobby", "Charlie", "Peter", "Paul", "David", "Arjun", "Wei", "Carlos")
_PET_NAMES = ("Pip", "Spot", "Fluffy", "Coco", "Biscuit", "Buddy", "Whiskers", "Bubbles", "Sunny", "Patch", "Pepper",
              "Ginger", "Snowy", "Bella", "Rocky", "Dot", "Nibbles", "Ziggy", "Muffin", "Button", "Peanut", "Tiny",
              "Shadow", "Honey", "Maple", "Clover", "Toffee", "Pebble", "Bingo", "Pickles", "Acorn", "Oreo")
_ANIMALS = (("cat", "cats"), ("dog", "dogs"), ("rabbit", "rabbits"), ("bunny", "bunnies"), ("bird", "birds"),
            ("fox", "foxes"), ("bear", "bears"), ("mouse", "mice"), ("frog", "frogs"), ("duck", "ducks"),
            ("owl", "owls"), ("squirrel", "squirrels"), ("lion", "lions"), ("elephant", "elephants"), ("pig", "pigs"),
            ("puppy", "puppies"), ("kitten", "kittens"), ("turtle", "turtles"), ("horse", "horses"),
            ("monkey", "monkeys"), ("tiger", "tigers"), ("penguin", "penguins"), ("hedgehog", "hedgehogs"),
            ("deer", "deer"), ("goat", "goats"), ("lamb", "lambs"), ("chick", "chicks"), ("unicorn", "unicorns"),
            ("dragon", "dragons"), ("octopus", "octopuses"), ("giraffe", "giraffes"), ("koala", "koalas"))
_HERO_ADJ = ("little", "small", "happy", "kind", "brave", "curious", "shy", "friendly", "playful", "clever", "silly",
             "gentle", "tiny", "young", "sleepy", "cheerful", "busy", "smart", "funny", "quiet")
_TRAITS = ("kind", "brave", "curious", "friendly", "helpful", "cheerful", "gentle", "clever", "funny", "polite",
           "careful", "busy")
_COLOURS = ("red", "blue", "green", "yellow", "orange", "purple", "pink", "white", "brown", "black", "golden", "silver")
_TOYS = ("ball", "kite", "teddy bear", "doll", "toy car", "toy boat", "toy train", "robot", "drum", "balloon",
         "yo-yo", "spinning top", "wagon", "paper plane", "puppet", "hat", "scarf", "umbrella", "bucket", "shovel",
         "book", "music box", "flute", "bike", "frisbee", "jump rope", "box of crayons", "toy truck", "blanket")
_FLYING = ("ball", "kite", "balloon", "paper plane", "hat", "frisbee", "scarf")
_BREAKABLE = ("doll", "toy car", "toy boat", "toy train", "robot", "drum", "kite", "wagon", "music box", "toy truck",
              "puppet", "flute", "umbrella")
_PETALS = ("red", "yellow", "pink", "purple", "white", "orange")
_PERSON_HOMES = ("a small village", "a busy town", "a big city", "a little house by the sea", "a quiet town",
                 "a house near the woods", "a yellow house on a hill", "a house on a farm",
                 "a tall building in the city", "a cozy cottage")
_ANIMAL_HOMES = ("a green forest", "a big forest", "a sunny meadow", "a quiet farm", "a hole under an old tree",
                 "a cozy barn", "a garden full of flowers", "a house with a big yard", "a warm nest", "the jungle")
# (place, the preposition for being there): "in the garden", "at the park"
_PLACES = (("the park", "at"), ("the garden", "in"), ("the beach", "at"), ("the forest", "in"), ("the meadow", "in"),
           ("the playground", "at"), ("the lake", "by"), ("the hill", "on"), ("the farm", "on"),
           ("the backyard", "in"), ("the river", "by"), ("the field", "in"))
_SPOTS = ("under a bench", "behind a big tree", "in the tall grass", "near the gate", "under a pile of leaves",
          "behind a rock", "next to the flowers", "under a bush", "by the fence", "near the pond", "inside a log")
_ACTIVITIES = (("play outside", "played outside"), ("run in the grass", "ran in the grass"),
               ("jump in puddles", "jumped in puddles"), ("sing songs", "sang songs"),
               ("draw pictures", "drew pictures"), ("read books", "read books"), ("climb trees", "climbed trees"),
               ("play hide and seek", "played hide and seek"), ("build sandcastles", "built sandcastles"),
               ("pick flowers", "picked flowers"), ("watch the clouds", "watched the clouds"),
               ("dance to music", "danced to music"), ("look at the stars", "looked at the stars"),
               ("bake cookies", "baked cookies"), ("chase butterflies", "chased butterflies"),
               ("paint pictures", "painted pictures"), ("feed the ducks", "fed the ducks"),
               ("plant seeds", "planted seeds"), ("play in the snow", "played in the snow"),
               ("count the birds", "counted the birds"), ("help in the garden", "helped in the garden"),
               ("make up funny songs", "made up funny songs"), ("collect shiny stones", "collected shiny stones"))
# Drawn afresh each time a template names them, so repeated beats still vary.
_FRESH = {
    "sad": ("sad", "very sad", "upset", "unhappy"),
    "happy": ("happy", "very happy", "so happy", "glad"),
    "oneday": ("One day", "One morning", "One afternoon", "One sunny day", "One bright morning", "One fine day",
               "One Saturday", "One day in spring", "One summer afternoon"),
    "soon": ("Soon", "After a while", "A little later", "Before long"),
    "smiled": ("smiled", "smiled a big smile", "laughed", "grinned"),
    "gently": ("gently", "softly", "kindly"),
    "weather": ("The sun was shining and the birds were singing.", "The sky was blue and there were no clouds.",
                "Butterflies were dancing over the flowers.", "A soft wind was blowing through the trees.",
                "The grass was green and the air smelled sweet.", "Everything was bright and green."),
}

# -------------------------------------------------------------------------------------------------- grammar helpers

_PRONOUNS = {
    "he": {"he": "he", "him": "him", "his": "his", "himself": "himself", "was": "was", "i": "I", "me": "me",
           "my": "my", "am": "am", "im": "I'm"},
    "she": {"he": "she", "him": "her", "his": "her", "himself": "herself", "was": "was", "i": "I", "me": "me",
            "my": "my", "am": "am", "im": "I'm"},
    "they": {"he": "they", "him": "them", "his": "their", "himself": "themselves", "was": "were", "i": "we",
             "me": "us", "my": "our", "am": "are", "im": "we're"},
}
_ONES = ("zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen "
         "seventeen eighteen nineteen").split()
_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
_OP_WORDS = {"+": "plus", "-": "minus", "*": "times"}


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _article(phrase: str) -> str:
    """``phrase`` with "a" or "an" in front, by its first sound: "an owl", "a unicorn", "an hour"."""
    word = phrase.split()[0].lower()
    vowel_sound = word[0] in "aeiou" and not word.startswith(("uni", "use", "one")) or word.startswith("hour")
    return ("an " if vowel_sound else "a ") + phrase


def _number_words(n: int) -> str:
    """English words for 0 <= n <= 100: 42 -> "forty-two"."""
    if n < 20:
        return _ONES[n]
    if n == 100:
        return "one hundred"
    tens, ones = divmod(n, 10)
    return _TENS[tens] + ("-" + _ONES[ones] if ones else "")


def _count(n: int, noun: tuple[str, str]) -> str:
    return f"{n} {noun[0] if n == 1 else noun[1]}"


class _Ctx(dict):
    """Template fields of one story. "{He}" is "{he}" capitalised; keys of `_FRESH` draw a new word at every use."""

    def __init__(self, rng: random.Random, **fields: str):
        super().__init__(fields)
        self.rng = rng

    set = dict.update

    def __missing__(self, key: str) -> str:
        if key in _FRESH:
            return self.rng.choice(_FRESH[key])
        low = key[:1].lower() + key[1:]
        if low != key:
            return _cap(self[low])
        raise KeyError(key)


_SENTENCE_START = re.compile(r"([.!?] )([a-z])")


def _render(template: str, ctx: _Ctx, capitalise: bool = True) -> str:
    text = template.format_map(ctx)
    return _cap(text) if capitalise else text


def _capitalise_sentences(text: str) -> str:
    """A field can open a sentence mid-template ("... tired. {he} slept."): capitalise every sentence start."""
    return _SENTENCE_START.sub(lambda m: m.group(1) + m.group(2).upper(), text)


def _pick(rng: random.Random, beat: tuple[str, ...], ctx: _Ctx) -> str:
    return _render(rng.choice(beat), ctx)


# ------------------------------------------------------------------------------------------------------- the stories


def _beats(text: str) -> tuple[tuple[tuple[str, ...], ...], ...]:
    """Parse a plot: paragraphs are separated by blank lines, each line is a beat, " | " separates alternative
    templates (a line starting with "|" continues the beat above), and "? " marks a beat that may be left out."""
    paragraphs = []
    for block in text.strip().split("\n\n"):
        beats: list[list[str]] = []
        for line in block.strip().splitlines():
            line = line.strip()
            if line.startswith("|"):
                beats[-1] += [alt.strip() for alt in line[1:].split(" | ")]
                continue
            optional = line.startswith("? ")
            beats.append([alt.strip() for alt in line.removeprefix("? ").split(" | ")] + [""] * optional)
        paragraphs.append(tuple(tuple(beat) for beat in beats))
    return tuple(paragraphs)


@dataclass(frozen=True)
class _Plot:
    """One kind of story arc: the beats (see `_beats`), the morals that fit it, and what it needs."""

    text: str
    morals: tuple[str, ...]
    objects: tuple[str, ...] = ()  # the toys the story can be about; empty: not about a toy
    options: tuple[dict[str, str], ...] = ()  # one is drawn and rendered into the fields before the beats
    friend: str = "any"  # "known": the setting must introduce the friend; "new": it must not
    sunny: bool = False  # the first scene is outdoors, so a fine-weather sentence fits

    @functools.cached_property
    def paragraphs(self) -> tuple[tuple[tuple[str, ...], ...], ...]:
        return _beats(self.text)


_PLOTS = {
    "lost": _Plot("""
        {Oneday}, {name} took {his} {obj} to {place}. | {Oneday}, {name} went to {place} with {his} {cobj}.
        | {Oneday}, {his} {parent} took {him} to {place}. {Name} brought {his} {obj}.
        ? {He} played with it for a long time. | {He} {activity_past} and had lots of fun.
        When it was time to go home, {he} could not find {his} {obj} anywhere.
        | But when {he} looked around, the {obj} was gone! | After a while, {name} saw that {his} {obj} was not there.

        "Oh no! Where is {my} {obj}?" {name} cried. | {Name} felt {sad}. "{I} lost {my} {obj}," {he} said.
        | "{My} {obj} is gone!" {name} said, and tears filled {his} eyes.
        {Friend} saw {him} and came over. "What is wrong?" {fhe} asked.
        | Just then, {friend} walked by. "Why are you sad?" {fhe} asked. | {Friend} heard {him} and ran over to help.
        "Don't worry," said {fname}. "I will help you look." | "Let's look for it together," said {fname}.
        They looked {spot1}. They looked {spot2}. But the {obj} was not there.
        | First they looked {spot1}. Then they looked {spot2}. There was no {obj}.
        At last, {fname} saw something {colour} {spot3}. It was the {obj}!
        | Then {name} saw a bit of {colour} {spot3}. There was the {obj}!
        | {Soon}, {fname} shouted, "I see it!" The {obj} was {spot3}.
        "Thank you, {fname}!" {name} said. | {Name} hugged {fname}. "Thank you so much!" {he} said.
        | {Name} {smiled}. "You are a good friend, {fname}," {he} said.""",
        morals=("From that day on, {name} always kept {his} {obj} close.",
                "{Name} learned to be careful with {his} things.",
                "{Name} learned that a good friend is always ready to help."),
        objects=_TOYS, sunny=True),
    "stuck": _Plot("""
        {Oneday}, {name} {was} playing with {his} {cobj} {at_place}. | {Oneday}, {name} took {his} {cobj} to {place}.
        Suddenly, a big wind came. The {obj} flew up high and got stuck in a tall tree.
        | The {obj} went up, up, up and landed in the branches of a tall tree.
        | Oh no! The {obj} flew over the fence and got stuck at the top of a tree.

        {Name} jumped and jumped, but {he} could not reach it. | {Name} tried to climb the tree, but it was too tall.
        | {Name} stretched up high, but {he} {was} too small.
        ? "Come down, {obj}!" {name} called. But the {obj} did not move.
        | "{I} want {my} {obj} back," {name} said sadly.
        {Friend} came by and saw the {obj}. {Fhe} found a long stick and gave the {obj} a gentle push. Down it came!
        | A little bird sat in the tree. "I can help," said the bird. It pushed the {obj} with its beak.
        | {Name} ran home to get {his} {parent}, who brought a ladder and got the {obj} down.
        | {Friend} was very tall. {Fhe} stood on a big rock, reached up and pulled the {obj} down.
        {Name} {was} {happy} to have {his} {obj} back. | {Name} caught the {obj} and hugged it.""",
        morals=("After that, {name} always played with {his} {obj} far away from the trees.",
                "{Name} learned that when a problem is too big, it is good to ask for help."),
        objects=_FLYING, sunny=True),
    "broken": _Plot("""
        {Oneday}, {name} {was} playing with {his} {cobj}.
        | {Oneday}, {name} {was} showing {his} {cobj} to {his} {parent}.
        {He} dropped it by mistake, and it broke! | The {obj} fell on the floor and broke into two pieces.
        | Then there was a loud crack. The {obj} was broken.

        "Oh no!" cried {name}. "{My} {obj} is broken!" | {Name} started to cry. {He} loved that {obj}.
        | {Name} looked at the pieces and felt {sad}.
        {His} {parent} came to see what was wrong. "Let me help," {phe} said {gently}.
        | {Friend} came over. "Maybe we can fix it," {fhe} said.
        They got some glue and some tape. Piece by piece, they put the {obj} back together.
        | Together, they fixed the {obj} with glue. They waited for the glue to dry.
        | They worked slowly and carefully until the {obj} was fixed.
        The {obj} was not perfect, but {name} loved it even more.
        | {Soon}, the {obj} was as good as new. {Name} {smiled}.""",
        morals=("{Name} learned that broken things can often be fixed with a little help.",
                "{Name} learned to be gentle with {his} toys."),
        objects=_BREAKABLE),
    "scared": _Plot("""
        {fear_start}
        {fear_feel}

        {fear_help}
        {fear_end}""",
        morals=("{Name} learned that being brave means trying even when you feel scared.",
                "From that day on, {name} {was} not afraid of {fear} anymore."),
        options=(
            {"fear": "the dark",
             "fear_start": "One night, it was bedtime. {His} {parent} turned off the light and left the room.",
             "fear_feel": "The room was very dark, and {name} felt scared. \"{Im} afraid of the dark,\" {he} "
                          "whispered.",
             "fear_help": "{His} {parent} came back and sat on the bed. \"The dark is just your room without the "
                          "light,\" {phe} said. {Phe} gave {him} a little night light shaped like a star.",
             "fear_end": "{Name} looked around. Everything was the same as in the day. {He} closed {his} eyes and "
                         "fell asleep."},
            {"fear": "storms",
             "fear_start": "{Oneday}, a big storm came. The thunder went boom, and the rain hit the windows.",
             "fear_feel": "{Name} hid under a blanket. \"{I} don't like the thunder,\" {he} said.",
             "fear_help": "{His} {parent} sat next to {him}. \"Thunder is just a loud noise. It can't hurt you,\" "
                          "{phe} said. They counted the seconds between the flashes and the booms.",
             "fear_end": "{Soon}, the storm was over. A big rainbow came out, and {name} {smiled}."},
            {"fear": "big dogs",
             "fear_start": "{Oneday}, {name} saw a big dog {at_place}. The dog barked loudly.",
             "fear_feel": "{Name} {was} scared and hid behind {his} {parent}.",
             "fear_help": "The dog's owner smiled. \"This is Bruno. He is very friendly,\" she said. Bruno wagged "
                          "his tail and licked {names} hand.",
             "fear_end": "{Name} laughed. The big dog was not scary at all. They played with Bruno until it was "
                         "time to go home."},
            {"fear": "the water",
             "fear_start": "{Oneday}, {name} went to the lake with {his} {parent}. The other children were "
                           "swimming and splashing.",
             "fear_feel": "But {name} stayed on the sand. \"The water is too deep,\" {he} said.",
             "fear_help": "{His} {parent} held {his} hand. \"We will go slowly, one step at a time,\" {phe} said.",
             "fear_end": "Step by step, {name} walked into the water. It was cool and nice. {Soon}, {name} {was} "
                         "splashing and laughing too."},
            {"fear": "spiders",
             "fear_start": "{Oneday}, {name} saw a spider on the wall. It had eight long legs.",
             "fear_feel": "{Name} jumped back. \"A spider!\" {he} cried.",
             "fear_help": "{His} {parent} came over. \"This little spider eats flies. It is more afraid of you than "
                          "you are of it,\" {phe} said. {Phe} put the spider outside in the garden.",
             "fear_end": "{Name} watched the spider make a web. It was like silver lace."})),
    "share": _Plot("""
        {Oneday}, {name} {was} playing with {his} {cobj} {at_place}.
        | {Oneday}, {name} took {his} {cobj} to {place} to play.
        {Friend} came over. "Can I play with your {obj}?" {fhe} asked.
        | {Friend} saw the {obj}. "Wow! Can I have a turn?" {fhe} asked.

        "No! It is {my} {obj}!" said {name}, and {he} held it tight. | {Name} did not want to share. {He} turned away.
        {Fname} looked {sad} and walked away. | {Fname} sat down on the grass all alone.
        {Name} played alone, but it was not fun anymore. | {Soon}, {name} felt lonely. Playing alone was boring.

        {Name} ran after {fname}. "{Im} sorry," {he} said. "Let's play together."
        | {Name} thought about it. Then {he} gave the {obj} to {fname}. "You can have a turn," {he} said.
        {Fname} {smiled}. They took turns with the {obj} and laughed all afternoon.
        | They played together until the sun went down. It was much more fun than playing alone.""",
        morals=("{Name} learned that sharing makes playing more fun.",
                "From that day on, {group} always shared their toys."),
        objects=_TOYS, sunny=True),
    "help": _Plot("""
        {Oneday}, {name} went for a walk {at_place}. | {Oneday}, {name} {was} playing {at_place}.
        {trouble}

        {rescue}
        {thanks}""",
        morals=("{Name} felt warm inside. Helping others made {him} happy.",
                "{Name} learned that even a small helper can do a big thing.", "It feels good to help others."),
        options=(
            {"trouble": "{Name} heard a small sound. It was a baby bird. It had fallen out of its nest.",
             "rescue": "{Name} picked up the bird very gently. With help from {his} {parent}, {he} put it back in "
                       "the nest.",
             "thanks": "The mother bird came back and sang a happy song."},
            {"trouble": "{Name} saw a little puppy sitting alone. The puppy was lost, and it was crying.",
             "rescue": "{Name} read the tag on the puppy's collar. It said where the puppy lived, so {name} walked "
                       "the puppy home.",
             "thanks": "The puppy's family was so happy. \"Thank you for bringing him home!\" they said."},
            {"trouble": "{Name} saw a little duck that could not find its mother. It went round and round, "
                        "quacking.",
             "rescue": "{Name} looked around and saw the mother duck near the pond. {He} led the little duck to "
                       "her.",
             "thanks": "The mother duck said, \"Quack, quack!\" It sounded like thank you."},
            {"trouble": "{Name} saw an old man drop his bag. Apples rolled all over the path.",
             "rescue": "{Name} ran to help and picked up every apple, one by one.",
             "thanks": "The old man smiled. \"Thank you, you are very kind,\" he said. He gave {name} a shiny red "
                       "apple."},
            {"trouble": "{Name} saw a turtle lying on its back. It could not turn over.",
             "rescue": "{Name} carefully turned the turtle over.",
             "thanks": "The turtle blinked slowly and walked back to the water."}),
        sunny=True),
    "try": _Plot("""
        {Name} wanted to learn to {skill}. | More than anything, {name} wanted to {skill}.
        {Oneday}, {he} tried for the first time. | {Oneday}, {he} decided to try.
        But {he} fell down. | It was hard, and {he} could not do it. | But it did not work.

        "I can't do it!" {name} said. | {Name} felt {sad} and wanted to give up.
        {His} {parent} said, "Keep trying. You get better every time."
        | {Friend} said, "Try again! I know you can do it."
        {Name} tried again and again. At last, {he} did it!
        | So {name} practised every day. One week later, {he} could do it!
        "{I} did it!" {name} shouted. | {Name} {was} very proud of {himself}.""",
        morals=("{Name} learned that if you keep trying, you can do hard things.", "{Name} learned never to give up."),
        options=tuple({"skill": s} for s in ("ride a bike", "swim", "tie {his} shoes", "fly a kite", "whistle",
                                             "jump rope", "climb the big hill", "catch a ball", "read a whole book"))),
    "rain": _Plot("""
        {Oneday}, {name} wanted to go to {place} for a picnic.
        | {Oneday}, {his} {parent} said they could have a picnic {at_place}.
        But when {he} looked out of the window, it was raining. | But then dark clouds came, and it started to rain.

        "Now we can't go!" {name} said sadly. | {Name} felt {sad}. {He} watched the raindrops on the window.
        {His} {parent} had an idea. "Let's have a picnic inside!" {phe} said.
        They put a blanket on the floor and ate sandwiches and apples.
        | They built a fort with pillows and told stories inside it.
        It was the best rainy day ever. | {Name} laughed and laughed.""",
        morals=("{Name} learned that you can have fun on any day.",)),
    "gift": _Plot("""
        {Oneday}, {name} saw that {fname} looked {sad}.
        | It was {fname}'s birthday soon. {Name} wanted to give {fhim} a present.
        {Name} had an idea.

        {He} drew a picture of the two of them playing {at_place}. | {He} made a card with a big {petal} heart on it.
        | {He} picked some flowers and tied them with {a_colour} ribbon.
        "This is for you," {name} said, and gave it to {fname}.
        {Fname} {smiled}. "I love it! Thank you!" {fhe} said.
        | {Fname} hugged {name}. "This is the best present ever," {fhe} said.""",
        morals=("{Name} learned that the best gifts come from the heart.",), friend="known"),
    "race": _Plot("""
        {Oneday}, {group} decided to have a race to the big tree.
        | {Oneday}, {group} were {at_place}. "Let's race!" said {fname}.
        "Ready, set, go!" They ran as fast as they could.

        {Fname} was in front, but then {fhe} tripped and fell.
        {Name} stopped running and helped {fname} get up.
        ? "Are you okay?" {name} asked. "Yes," said {fname}. "Thank you for stopping."
        They walked to the tree together, side by side.""",
        morals=("Being a good friend is more important than winning.",
                "{Name} learned that helping a friend is better than winning a race."), friend="known", sunny=True),
    "mess": _Plot("""
        {accident}
        {Name} {was} scared. {He} thought about hiding what {he} had done. | {Name} did not know what to do.

        But then {name} went to {his} {parent}. "{I} made a mess. {Im} sorry," {he} said.
        {His} {parent} gave {him} a hug. "Thank you for telling the truth," {phe} said.
        Together, they cleaned everything up. | Then they cleaned up together, and it did not take long.""",
        morals=("{Name} learned that it is always best to tell the truth.",),
        options=({"accident": "{Oneday}, {name} {was} playing ball in the house. The ball hit a vase, and the vase "
                              "fell and broke."},
                 {"accident": "{Oneday}, {name} {was} carrying a big cup of juice. {He} tripped, and the juice spilled "
                              "all over the carpet."},
                 {"accident": "{Oneday}, {name} drew a big {colour} sun on the wall with crayons."},
                 {"accident": "{Oneday}, {name} ate all the cookies that were for the party."})),
    "new friend": _Plot("""
        {Oneday}, {name} saw {a_fkind} {at_place}. {Fhe} was sitting all alone.
        | {Oneday}, a new {fkind} came to {place}.
        {Fhe} did not talk to anyone. {Fhe} just looked at the ground.

        {Name} felt a little shy too. But {he} walked over. | {Name} wanted to say hello, so {he} walked over slowly.
        "Hi, {im} {name}," {he} said. "What is your name?"
        "I'm {fname}," said the {fkind} quietly. "I am new here."
        "Do you want to play with {me}?" asked {name}. | "Come and play with {me}!" said {name}.

        {Fname} {smiled} and nodded. They {activity_past} together until it was time to go home.
        ? {Fname} was not alone anymore.""",
        morals=("{Name} learned that saying hello can be the start of a new friendship.",
                "From that day on, {group} were best friends."), friend="new", sunny=True),
    "seed": _Plot("""
        {Oneday}, {his} {parent} gave {him} a little seed. | {Oneday}, {name} found a tiny seed {spot1}.
        {He} planted it in a pot and gave it some water.
        | {Name} dug a small hole in the garden and put the seed inside.

        Every day, {name} looked at the seed. But nothing happened. | {Name} waited and waited, but nothing grew.
        ? "Why is it not growing?" {name} asked.
        "Plants need time, water and sun," said {his} {parent}. "Be patient."
        So {name} watered the seed every morning. | So {name} gave the seed water every day and sang it a song.

        One morning, {name} saw a tiny green leaf! | Then one day, a little green leaf popped out of the ground!
        {Soon}, the plant grew tall, and a big {petal} flower opened at the top.""",
        morals=("{Name} learned that good things take time.", "{Name} learned to be patient."), sunny=True),
    "bake": _Plot("""
        {Oneday}, {his} {parent} asked {him} to help bake a cake.
        | {Oneday}, {name} wanted to bake cookies with {his} {parent}.
        They put flour, sugar, eggs and milk in a big bowl. {Name} stirred and stirred.

        Oops! {Name} dropped the bag of flour. There was white flour everywhere, even on {his} nose!
        | Oh no! {Name} knocked over the bowl, and the eggs fell on the floor.
        {His} {parent} laughed. "Don't worry. We can clean it up and try again," {phe} said.
        ? They cleaned the kitchen together and started again, very carefully this time.

        When it came out of the oven, the kitchen smelled wonderful.
        | {Soon}, everything was ready, and it smelled so good.
        {Name} shared it with the whole family. Everyone said it was delicious.
        | They ate it together, and it was the best ever.""",
        morals=("{Name} learned that mistakes are okay when you fix them.", "{Name} learned that baking is more fun "
                "together.")),
}
# What users ask for in chat ("a story about sharing") and the arc that answers it.
_TOPICS = {"sharing": "share", "being brave": "scared", "helping others": "help", "not giving up": "try",
           "telling the truth": "mess", "a rainy day": "rain", "a lost toy": "lost", "friendship": "race",
           "a present": "gift", "a broken toy": "broken", "making a new friend": "new friend",
           "growing a flower": "seed", "baking a cake": "bake"}

_INTROS = ("Once upon a time, there {was} {a_hero}.", "Once upon a time, in {home}, there lived {a_hero}.",
           "There {was} once {a_hero} who lived in {home}.", "In {home}, there lived {a_hero}.",
           "Long ago, there {was} {a_hero}.", "This is a story about {a_hero}.", "{A_hero} lived in {home}.",
           "Once there {was} {a_hero}.", "Not long ago, in {home}, there lived {a_hero}.",
           "Once upon a time, {a_hero} lived in {home}.", "Far away, in {home}, there lived {a_hero}.",
           "Once upon a time, there {was} {a_hero}. {He} lived in {home}.", "There {was} once {a_hero}.",
           "Let me tell you about {a_hero}.", "Once upon a time, in {home}, there {was} {a_hero}.",
           "{A_hero} lived in {home} with {his} {parent}.")
_SETTINGS = ("{He} loved to {activity}.", "Every day, {name} liked to {activity} with {his} {parent}.",
             "{His} favourite colour was {fav}.", "{He} had {a_cobj} that {he} loved very much.",
             "{Name} {was} always {trait} and {trait2}.", "{His} house had {a_fav} door and a little garden.",
             "{Name} liked to {activity}, but most of all, {he} liked to {activity2}.",
             "Every morning, {name} woke up early and looked out of the window.",
             "{Name} {was} {trait}, and everyone liked {him}.", "{His} {parent} called {him} {pet_name}.",
             "{Name} liked {fav} things best of all.", "{Name} {was} small, but very brave.",
             "{Name} never went anywhere without {his} {obj}.", "{He} liked to {activity} when the weather was nice.",
             "{His} favourite toy was {a_cobj}.", "{Name} {was} very {trait}. {He} always said please and thank you.",
             "Every evening, {his} {parent} read {him} a story before bed.",
             "{Name} {was} {trait2} and liked to ask lots of questions.",
             "After breakfast, {name} always went outside to {activity}.",
             "{His} {parent} always said that {he} {was} very {trait}.")
_FRIEND_INTROS = ("{His} best friend was {a_friend}.", "{Name} had a good friend, {a_friend}.",
                  "On most days, {name} played with {a_friend}.", "{Name} {was} best friends with {a_friend}.")
_AFTERS = ("\"What a day!\" said {name}.", "{Name} thought about everything that had happened.",
           "\"Today was a good day,\" {name} said.", "{Name} felt proud and happy.", "", "")
# Only after a day out: the parent was not there to see it.
_AFTERS_OUTDOORS = ("Later, {name} told {his} {parent} all about it.",
                    "When {name} got home, {his} {parent} gave {him} a big hug.")
_ENDINGS = ("That night, {name} went to sleep with {smile_face}.", "It was a very good day.",
            "{Name} {was} very happy.", "{Name} would never forget that day.", "It had been the best day ever.",
            "And they all lived happily ever after.", "The end.", "{Name} could not stop smiling.",
            "When the sun went down, everyone was tired but happy.", "It was a day full of surprises.",
            "Everyone {smiled}. It had been a happy day.", "{Name} {was} happy, and so was everyone.",
            "And that is how {name} had the best day of all.", "{He} hoped that tomorrow would be just as much fun.")


def _hero_fields(rng: random.Random, kind: str | None, name: str | None, pair: bool) -> tuple[dict[str, str], bool]:
    """Who the story is about (names, kind, pronouns, how the intro presents them) and whether they are people."""
    if pair:
        style = rng.choice(("friends", "siblings", "animals"))
        if style == "animals":
            n1, n2 = rng.sample(_PET_NAMES, 2)
            size = rng.choice(("little ", "small ", "young ", ""))
            a_hero = f"two {size}{rng.choice(_ANIMALS)[1]} named {n1} and {n2}"
        elif style == "siblings":
            n1, n2 = rng.choice(_BOYS), rng.choice(_GIRLS)
            a_hero = f"a brother and sister named {n1} and {n2}"
        else:
            n1, n2 = rng.sample(_GIRLS + _BOYS, 2)
            a_hero = f"two friends named {n1} and {n2}"
        fields = {"name": f"{n1} and {n2}", "names": f"{n1} and {n2}'s", "kind": "friends", "a_hero": a_hero}
        return fields | _PRONOUNS["they"], style != "animals"
    if kind is None:
        kind = rng.choice(("girl", "boy", "girl", "boy", "animal"))
        if kind == "animal":
            kind = rng.choice(_ANIMALS)[0]
    pron = {"girl": "she", "boy": "he"}.get(kind) or rng.choice(("he", "she"))
    if name is None:
        name = rng.choice(_GIRLS if kind == "girl" else _BOYS if kind == "boy" else _PET_NAMES)
    a_hero = _article(f"{rng.choice(_HERO_ADJ + ('',) * 6)} {kind}".strip()) + f" named {name}"
    fields = {"name": name, "names": f"{name}'s", "kind": kind, "a_hero": a_hero}
    return fields | _PRONOUNS[pron], kind in ("girl", "boy")


def _story_ctx(rng: random.Random, kind: str | None, name: str | None, obj: str, colour: str, pair: bool,
               avoid: tuple[str, ...]) -> _Ctx:
    hero, people = _hero_fields(rng, kind, name, pair)
    ctx = _Ctx(rng, **hero)
    # The friend: another child or an animal, never one of the hero's names (nor a kind the caller keeps out).
    taken = hero["name"].split(" and ")
    if rng.random() < 0.5:
        fkind = rng.choice(("girl", "boy"))
        fname = rng.choice([n for n in (_GIRLS if fkind == "girl" else _BOYS) if n not in taken])
        friend = f"{hero['his']} friend {fname}"
    else:
        fkind = rng.choice([a for a, _ in _ANIMALS if a not in avoid and a != hero["kind"]])
        fname = rng.choice([n for n in _PET_NAMES if n not in taken])
        friend = f"{fname} the {fkind}"
    fpron = "she" if fkind == "girl" else "he" if fkind == "boy" else rng.choice(("he", "she"))
    ctx.set(fname=fname, fkind=fkind, a_fkind=_article(fkind), friend=friend,
            a_friend=f"{_article(fkind)} named {fname}",
            group=f"{hero['name'].replace(' and ', ', ')} and {fname}",
            **{"f" + k: v for k, v in _PRONOUNS[fpron].items()})
    parent = rng.choice(("mom", "dad", "grandma", "grandpa") if people else ("mom", "dad"))
    ppron = _PRONOUNS["she" if parent in ("mom", "grandma") else "he"]
    ctx.set(parent=parent, **{"p" + k: v for k, v in ppron.items()})
    activity, activity2 = rng.sample(_ACTIVITIES, 2)
    spots, traits, fav = rng.sample(_SPOTS, 3), rng.sample(_TRAITS, 2), rng.choice(_COLOURS)
    place, at = rng.choice(_PLACES)
    ctx.set(obj=obj, colour=colour, cobj=f"{colour} {obj}", a_cobj=_article(f"{colour} {obj}"),
            a_colour=_article(colour), fav=fav, a_fav=_article(fav), petal=rng.choice(_PETALS),
            home=rng.choice(_PERSON_HOMES if people else _ANIMAL_HOMES), place=place, at_place=f"{at} {place}",
            activity=activity[0], activity2=activity2[0], activity_past=activity[1],
            spot1=spots[0], spot2=spots[1], spot3=spots[2], trait=traits[0], trait2=traits[1],
            pet_name=rng.choice(("little bugs", "sweeties", "little stars", "buddies") if pair else
                                 ("little bug", "sunshine", "sweetie", "little star", "buddy")),
            smile_face=f"big smiles on {hero['his']} faces" if pair else f"a big smile on {hero['his']} face")
    return ctx


_TOPIC_FIELDS = {"activity": "a", "activity2": "a", "trait": "t", "trait2": "t", "fav": "f", "a_fav": "f", "obj": "o",
                 "cobj": "o", "a_cobj": "o"}


def _distinct_settings(candidates: list[str], k: int) -> list[str]:
    """The first ``k`` setting templates that each talk about something new (no two about the hero's toy)."""
    chosen, used = [], set()
    for template in candidates:
        topics = {_TOPIC_FIELDS[f] for f in re.findall(r"\{(\w+)\}", template) if f in _TOPIC_FIELDS}
        if not topics & used:
            chosen.append(template)
            used |= topics
    return chosen[:k]


_SENTENCE_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z\"])")


def _vary_subjects(paragraph: str, name: str, pronoun: str) -> str:
    """Turn every second of several sentences in a row that start with the hero's name into the pronoun, so that
    "Mia ran. Mia fell. Mia cried." reads "Mia ran. She fell. Mia cried."."""
    sentences, previous = _SENTENCE_SPLIT.split(paragraph), False
    for i, sentence in enumerate(sentences):
        opens = sentence.startswith(name + " ") and not sentence.startswith(name + " and ")
        if opens and previous:
            sentences[i] = pronoun + sentence[len(name):]
        # "One day, Mia ran." also makes Mia the subject a pronoun can refer to next.
        previous = not (opens and previous) and (opens or bool(re.match(r"[A-Z][a-z ]*, " + name + " ", sentence)))
    return " ".join(sentences)


def _story(rng: random.Random, *, kind: str | None = None, name: str | None = None, obj: str | None = None,
           colour: str | None = None, plot: str | None = None, pair: bool | None = None,
           avoid: tuple[str, ...] = (), min_words: int = 60, max_words: int = 300) -> str:
    """One story drawn from ``rng``; the keyword arguments pin what a chat request asked for.

    ``kind`` is "girl", "boy" or an animal ("cat"), ``obj`` a toy from `_TOYS`, ``plot`` a key of `_PLOTS`, ``avoid``
    animal kinds the friend must not be. Stories are redrawn until their length is within [min_words, max_words].
    """
    while True:
        arc = _PLOTS[plot or rng.choice([p for p, arc in _PLOTS.items() if obj is None or obj in arc.objects])]
        is_pair = (kind is None and name is None and rng.random() < 0.12) if pair is None else pair
        ctx = _story_ctx(rng, kind, name, obj or rng.choice(arc.objects or _TOYS), colour or rng.choice(_COLOURS),
                         is_pair, avoid)
        if arc.options:
            ctx.set(**{k: _render(v, ctx, capitalise=False) for k, v in rng.choice(arc.options).items()})
        settings = _distinct_settings(rng.sample(_SETTINGS, 6), rng.choice((1, 2, 2, 3, 3)))
        if arc.friend == "known" or arc.friend == "any" and rng.random() < 0.25:
            settings.insert(rng.randint(0, len(settings)), rng.choice(_FRIEND_INTROS))
        paragraphs = [" ".join(_render(t, ctx) for t in [rng.choice(_INTROS)] + settings)]
        for i, beats in enumerate(arc.paragraphs):
            sentences = [s for s in (_pick(rng, beat, ctx) for beat in beats) if s]
            if i == 0 and arc.sunny and rng.random() < 0.35:
                sentences.insert(1, ctx["weather"])
            paragraphs.append(" ".join(sentences))
        afters = _AFTERS + _AFTERS_OUTDOORS if arc.sunny else _AFTERS
        ending = [_pick(rng, afters, ctx), _render(rng.choice(arc.morals), ctx), _render(rng.choice(_ENDINGS), ctx)]
        if rng.random() < 0.3:  # not every story states its moral
            del ending[1]
        paragraphs.append(" ".join(s for s in ending if s))
        text = _capitalise_sentences("\n\n".join(_vary_subjects(p, ctx["name"], ctx["He"]) for p in paragraphs))
        if min_words <= len(text.split()) <= max_words:
            return text


# ---------------------------------------------------------------------------------------------------- facts & sums

# (animal, plural, sound or "", legs, where it lives, what it eats)
_ANIMAL_FACTS = (
    ("cow", "cows", "moo", 4, "on a farm", "grass"), ("dog", "dogs", "woof", 4, "in a house", "meat"),
    ("cat", "cats", "meow", 4, "in a house", "fish"), ("duck", "ducks", "quack", 2, "on a pond", "plants"),
    ("sheep", "sheep", "baa", 4, "on a farm", "grass"), ("pig", "pigs", "oink", 4, "on a farm", "vegetables"),
    ("horse", "horses", "neigh", 4, "in a stable", "hay"), ("hen", "hens", "cluck", 2, "on a farm", "seeds"),
    ("owl", "owls", "hoot", 2, "in a tree", "mice"), ("lion", "lions", "roar", 4, "on the grasslands", "meat"),
    ("frog", "frogs", "ribbit", 4, "near a pond", "bugs"), ("bee", "bees", "buzz", 6, "in a hive", "nectar"),
    ("spider", "spiders", "", 8, "in a web", "bugs"), ("snake", "snakes", "hiss", 0, "in the grass", "mice"),
    ("mouse", "mice", "squeak", 4, "in a hole", "seeds"), ("bird", "birds", "tweet", 2, "in a nest", "worms"),
    ("fish", "fish", "", 0, "in the water", "tiny plants"), ("bear", "bears", "growl", 4, "in a cave", "berries"),
    ("wolf", "wolves", "howl", 4, "in the forest", "meat"), ("monkey", "monkeys", "", 4, "in the jungle", "bananas"),
)
# (thing, verb, colour): "The sky is blue."
_COLOUR_FACTS = (("the sky", "is", "blue"), ("grass", "is", "green"), ("snow", "is", "white"),
                 ("a banana", "is", "yellow"), ("the sun", "is", "yellow"), ("a strawberry", "is", "red"),
                 ("an orange", "is", "orange"), ("a carrot", "is", "orange"), ("milk", "is", "white"),
                 ("a leaf", "is", "green"), ("a lemon", "is", "yellow"), ("a tomato", "is", "red"),
                 ("chocolate", "is", "brown"), ("a frog", "is", "green"), ("a pumpkin", "is", "orange"),
                 ("a plum", "is", "purple"), ("coal", "is", "black"), ("clouds", "are", "white"),
                 ("cherries", "are", "red"), ("the sea", "is", "blue"))
_OPPOSITES = (("hot", "cold"), ("big", "small"), ("up", "down"), ("day", "night"), ("happy", "sad"), ("fast", "slow"),
              ("wet", "dry"), ("open", "closed"), ("loud", "quiet"), ("light", "dark"), ("old", "young"),
              ("tall", "short"), ("full", "empty"), ("soft", "hard"), ("in", "out"))
_SENSES = (("eyes", "see"), ("ears", "hear"), ("nose", "smell"), ("tongue", "taste"), ("hands", "hold things"),
           ("feet", "walk"))
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_SEASONS = ("spring", "summer", "autumn", "winter")
_ITEMS = (("apple", "apples"), ("sticker", "stickers"), ("marble", "marbles"), ("cookie", "cookies"),
          ("crayon", "crayons"), ("balloon", "balloons"), ("shell", "shells"), ("book", "books"),
          ("flower", "flowers"), ("strawberry", "strawberries"), ("egg", "eggs"), ("block", "blocks"),
          ("pencil", "pencils"), ("button", "buttons"), ("coin", "coins"), ("feather", "feathers"),
          ("leaf", "leaves"), ("toy car", "toy cars"), ("candy", "candies"), ("orange", "oranges"),
          ("card", "cards"), ("rock", "rocks"), ("bead", "beads"), ("cupcake", "cupcakes"), ("grape", "grapes"))


def _legs(n: int) -> str:
    return "no legs" if n == 0 else f"{_number_words(n)} legs"


def _animal_fact(rng: random.Random) -> str:
    animal, plural, sound, legs, home, food = rng.choice(_ANIMAL_FACTS)
    lines = [f"This is {_article(animal)}.", f"{_cap(_article(animal))} has {_legs(legs)}.",
             f"{_cap(plural)} live {home}.", f"{_cap(plural)} eat {food}."]
    if sound:
        lines.insert(2, f"{_cap(_article(animal))} says {sound}.")
    return " ".join(lines)


def _colour_fact(rng: random.Random) -> str:
    thing, verb, colour = rng.choice(_COLOUR_FACTS)
    return f"{_cap(thing)} {verb} {colour}."


def _sum_sentence(rng: random.Random) -> str:
    """A correct sum in words, digits or symbols: "12 plus 5 is 17.", "Seven minus two is five.", "3 + 4 = 7."."""
    a, b = rng.randint(0, 20), rng.randint(0, 20)
    op = rng.choice("+-*") if rng.random() < 0.3 else rng.choice("+-")
    if op == "-" and b > a:
        a, b = b, a
    if op == "*":
        a, b = a % 11, b % 11
    value = a + b if op == "+" else a - b if op == "-" else a * b
    word = _OP_WORDS[op]
    style = rng.random()
    if style < 0.4:
        return f"{a} {word} {b} is {value}."
    if style < 0.7 and value <= 100:
        return _cap(f"{_number_words(a)} {word} {_number_words(b)} is {_number_words(value)}.")
    return f"{a} {op.replace('*', 'x')} {b} = {value}."


def _counting_story(rng: random.Random) -> str:
    """ "Mia had 3 apples. She got 4 more. 3 + 4 = 7. Now she has 7 apples." chained a few times, always correct:
    the word problems of the math data, worked out, so that pretraining teaches what SFT and GRPO build on."""
    name, pron = (rng.choice(_GIRLS), "she") if rng.random() < 0.5 else (rng.choice(_BOYS), "he")
    item, have = rng.choice(_ITEMS), rng.randint(1, 10)
    sentences = [f"{name} had {_count(have, item)}."]
    for _ in range(rng.randint(2, 4)):
        if have > 1 and rng.random() < 0.45:
            n = rng.randint(1, have - 1)
            verb = rng.choice((f"gave {n} to a friend", f"lost {n}", f"gave {n} away"))
            have -= n
        else:
            n = rng.randint(1, 9)
            verb = rng.choice((f"got {n} more", f"found {n} more", f"was given {n} more"))
            have += n
        before = have + n if "more" not in verb else have - n
        sentences += [f"{_cap(pron)} {verb}.", f"{before} {'+' if 'more' in verb else '-'} {n} = {have}.",
                      f"Now {pron} has {_count(have, item)}."]
    return " ".join(sentences)


def _other_fact(rng: random.Random) -> str:
    kind = rng.randrange(5)
    if kind == 0:
        small, big = rng.choice(_OPPOSITES) if rng.random() < 0.5 else rng.choice(_OPPOSITES)[::-1]
        return f"The opposite of {small} is {big}."
    if kind == 1:
        organ, verb = rng.choice(_SENSES)
        return f"We use our {organ} to {verb}."
    if kind == 2:
        i = rng.randrange(7)
        return f"{_DAYS[(i + 1) % 7]} comes after {_DAYS[i]}."
    if kind == 3:
        a, b = rng.sample(range(21), 2)
        return f"{max(a, b)} is bigger than {min(a, b)}."
    i = rng.randrange(4)
    return f"After {_SEASONS[i]} comes {_SEASONS[(i + 1) % 4]}."


_FACT_TITLES = {_animal_fact: ("Let us learn about animals.", "Animals are our friends.", "Here are some animals."),
                _colour_fact: ("The world is full of colours.", "Let us learn our colours.", "What colour is it?"),
                _sum_sentence: ("Let us learn to add.", "Here are some sums.", "Numbers are fun!", "Let us count."),
                _counting_story: ("Let us count with a friend.", "Here is a counting story."),
                _other_fact: ("Here are some things to know.", "Let us learn something new.", "Did you know?")}


def _fact_page(rng: random.Random) -> str:
    """A short page of a children's book: a title line and facts of one kind, 60-200 words."""
    make = rng.choices(list(_FACT_TITLES), weights=(1, 1, 2, 3, 1))[0]  # arithmetic most: the math data needs it
    lines, seen, words = [rng.choice(_FACT_TITLES[make])], set(), 0
    while words < rng.randint(60, 140):
        line = make(rng)
        if line not in seen:
            seen.add(line)
            lines.append(line)
            words += len(line.split())
    return " ".join(lines)


# ------------------------------------------------------------------------------------------------------------ chat

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


_MESSAGE = {"role": Value("string"), "content": Value("string"), "name": Value("string"),
            "tool_calls": List({"type": Value("string"), "function": {"name": Value("string"), "arguments": {
                "expression": Value("string")}}})}
_CONVERSATIONAL = List({"role": Value("string"), "content": Value("string")})
_FEATURES = {"stories": Features({"text": Value("string")}), "chat": Features({"messages": List(_MESSAGE)}),
             "preference": Features({"prompt": _CONVERSATIONAL, "chosen": _CONVERSATIONAL,
                                     "rejected": _CONVERSATIONAL}),
             "math": Features({"prompt": _CONVERSATIONAL, "solution": Value("string"),
                                       "answer": Value("string")}),
             "multiple_choice": Features({"question": Value("string"), "choices": List(Value("string")),
                                          "answer": Value("int64")})}

# ------------------------------------------------------------------------------------------------- multiple choice

_WORDS = tuple(sorted({*_COLOURS, *(a for a, _ in _ANIMALS), *(t for t in _TOYS if " " not in t)}))


def _multiple_choice_row(rng: random.Random) -> dict:
    """A number among three words of the stories, the answer anywhere: the smallest multiple-choice task, one a
    tiny model learns in a hundred SFT steps (it has to read the choices to find the letter)."""
    choices = rng.sample(_WORDS, 3)
    answer = rng.randrange(4)
    choices.insert(answer, str(rng.randrange(2, 100)))
    return {"question": "Which of these is a number?", "choices": choices, "answer": answer}


# ------------------------------------------------------------------------------------------------------ preference

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


# ------------------------------------------------------------------------------------------------------------ math

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


# ------------------------------------------------------------------------------------------------------- the builder


def _math_row(item: _MathItem) -> dict:
    # Like real SFT data, some answers show their work and most do not: the worked sum ("7 - 3 = 4.") is given for
    # about a third of the problems (fixed by the prompt's digest), "" for the rest, so an SFT model answers at once
    # and GRPO can find that working it out pays.
    worked = _digest(item.prompt)[0] < 86
    solution = f"{item.a} {item.op} {item.b} = {item.answer}." if worked else ""
    return {"prompt": [{"role": "user", "content": item.prompt}], "solution": solution, "answer": str(item.answer)}


# name -> (make one item, turn an item into a row); items differ from rows only for math, whose tests need a, op, b.
_MAKERS: dict[str, tuple[Callable, Callable[[object], dict]]] = {
    "stories": (lambda rng, _: _fact_page(rng) if rng.random() < 0.2 else _story(rng), lambda text: {"text": text}),
    "chat": (lambda rng, identity: {"messages": _conversation(rng, identity)}, lambda row: row),
    "preference": (lambda rng, _: _preference_row(rng), lambda row: row),
    "math": (lambda rng, _: _math_item(rng), _math_row),
    "multiple_choice": (lambda rng, _: _multiple_choice_row(rng), lambda row: row),
}


def _key(name: str, row: dict) -> str:
    """What must not repeat across splits: the text, or everything the user (and system) said."""
    if name == "stories":
        return row["text"]
    if name == "chat":
        return json.dumps([m["content"] for m in row["messages"] if m["role"] in ("system", "user")])
    if name == "preference":  # a held-out pair is new as a pair: small talk and facts have few distinct prompts
        return json.dumps([row[column][0]["content"] for column in ("prompt", "chosen", "rejected")])
    if name == "multiple_choice":
        return json.dumps([row["question"], row["choices"]])
    return row["prompt"][0]["content"]


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


_TRAIN_DIGESTS: dict[tuple[str, str], frozenset[bytes]] = {}


def _generate(name: str, split: str, identity_json: str) -> list:
    """The items of one split, in order. Held-out splits skip anything train has (and their own repeats)."""
    make, to_row = _MAKERS[name]
    identity = json.loads(identity_json)
    rng = random.Random(_SEEDS[name, split])
    if split == "train":
        items = [make(rng, identity) for _ in range(_SIZES[name, split])]
        _TRAIN_DIGESTS[name, identity_json] = frozenset(_digest(_key(name, to_row(item))) for item in items)
        return items
    if (name, identity_json) not in _TRAIN_DIGESTS:
        _build(name, "train", identity_json)
    exclude, seen, items = _TRAIN_DIGESTS[name, identity_json], set(), []
    while len(items) < _SIZES[name, split]:
        item = make(rng, identity)
        digest = _digest(_key(name, to_row(item)))
        if digest not in exclude and digest not in seen:
            seen.add(digest)
            items.append(item)
    return items


@functools.lru_cache(maxsize=16)
def _build(name: str, split: str, identity_json: str) -> datasets.Dataset:
    to_row = _MAKERS[name][1]
    rows = [to_row(item) for item in _generate(name, split, identity_json)]
    info = datasets.DatasetInfo(description=f"hfchat builtin {name!r}, generated by hfchat/data/builtin.py",
                                license="Apache-2.0", features=_FEATURES[name])
    return datasets.Dataset.from_list(rows, info=info, split=split)


def _math_items(split: str) -> list[_MathItem]:
    """The structured problems behind ``builtin_dataset("math", split)``, row for row (for checking answers)."""
    builtin_dataset("math", split)
    return _generate("math", split, _DEFAULT_JSON)


def builtin_splits(name: str) -> tuple[str, ...]:
    """The splits of builtin dataset ``name``: ("train", "validation") for stories, ("train", "test") otherwise."""
    if name not in _SPLITS:
        raise ValueError(f"unknown builtin dataset {name!r}; choose one of {', '.join(BUILTIN_NAMES)}")
    return _SPLITS[name]


def builtin_dataset(name: str, split: str = "train", *, identity: Mapping[str, str] | None = None) -> datasets.Dataset:
    """Build (or return the cached copy of) one split of a builtin dataset.

    Args:
        name: one of `BUILTIN_NAMES`: "stories", "chat", "preference", "math".
        split: one of `builtin_splits(name)`.
        identity: for "chat" only (ignored by the others): overrides of `DEFAULT_IDENTITY`'s "name" and "creator",
            used in the assistant's answers to "Who are you?" and in system prompts.

    Returns:
        A `datasets.Dataset`, identical on every call and every machine. Repeat calls return the same object.

    Example:
        >>> builtin_dataset("math", "test")[0]["prompt"][0]["role"]
        'user'
    """
    if split not in builtin_splits(name):
        raise ValueError(f"unknown split {split!r} of builtin dataset {name!r}; choose one of "
                         f"{', '.join(builtin_splits(name))}")
    merged = dict(DEFAULT_IDENTITY)
    if identity is not None:
        unknown = sorted(set(identity) - set(DEFAULT_IDENTITY))
        if unknown or not all(isinstance(v, str) and v.strip() for v in identity.values()):
            raise ValueError(f"identity must map {' and '.join(map(repr, DEFAULT_IDENTITY))} to non-empty strings, "
                             f"got {dict(identity)!r}")
        if name == "chat":
            merged.update(identity)
    return _build(name, split, json.dumps(merged, sort_keys=True))


_DEFAULT_JSON = json.dumps(dict(DEFAULT_IDENTITY), sort_keys=True)
