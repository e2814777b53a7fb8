"""The words of the stories' world (names, animals, toys, places), the words drawn afresh at each use, pronouns,
number words, and the grammar helpers that fill templates with them."""

import hashlib
import random
import re

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


def _digest(text: str) -> bytes:
    """A stable 16-byte digest of ``text`` (Python's `hash` changes with every process)."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
