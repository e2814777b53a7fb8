"""Children's stories: a hero and a friend (`_story_ctx`), an arc from plots.yaml, an intro, settings and an ending."""

import functools
import random
import re
from dataclasses import dataclass
from importlib import resources

import yaml

from .words import (
    _ACTIVITIES,
    _ANIMAL_HOMES,
    _ANIMALS,
    _BOYS,
    _BREAKABLE,
    _COLOURS,
    _FLYING,
    _GIRLS,
    _HERO_ADJ,
    _PERSON_HOMES,
    _PET_NAMES,
    _PETALS,
    _PLACES,
    _PRONOUNS,
    _SPOTS,
    _TOYS,
    _TRAITS,
    _article,
    _capitalise_sentences,
    _Ctx,
    _pick,
    _render,
)


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


def _load_plots() -> dict[str, _Plot]:
    """The arcs of plots.yaml, in file order (the order stories draw them in)."""
    objects = {"toys": _TOYS, "flying": _FLYING, "breakable": _BREAKABLE}
    entries = yaml.safe_load(resources.files(__package__).joinpath("plots.yaml").read_text(encoding="utf-8"))
    return {key: _Plot(entry["beats"], tuple(entry["morals"]), objects[entry["objects"]] if "objects" in entry else (),
                       tuple(entry.get("options", ())), entry.get("friend", "any"), entry.get("sunny", False))
            for key, entry in entries.items()}


_PLOTS = _load_plots()
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
