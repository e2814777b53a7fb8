"""Pages of simple facts for the stories data: animals, colours, opposites, senses, sums with correct results, and
counting stories worked out as "3 + 4 = 7."."""

import random

from .words import _BOYS, _GIRLS, _OP_WORDS, _article, _cap, _count, _number_words

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
