"""A small English corpus that ships with minigrad, generated from a tiny grammar.

Made for the tour and the tests: a few thousand tokens over a few hundred
words, with relations a word2vec model (or a count-based one) can find in
seconds: words of one kind share their sentence frames (``cat``/``dog``,
``monday``/``tuesday``, ``red``/``blue``). People carry three relations, each
within two words of the person, where a window of 2 sees it: royals differ
from commoners by their frames (``the king wears his golden crown``), men from
women by their pronouns (``the queen said she``), and the two of a pair share
a home (``the duke of york``, ``the duchess of york``, ``at dover the man
said``, ``at dover the woman said``). So ``king : man = queen : woman`` and
``man : woman = king : queen`` have something to find.

The generator uses its own integer PRNG, not numpy's, so the text is the same
on every platform and numpy version.

>>> corpus, word_to_id, id_to_word = load_small_corpus()
>>> " ".join(id_to_word[int(i)] for i in corpus[:11])
'the people bow when the king enters the royal hall .'
"""
from __future__ import annotations

from .text import preprocess

__all__ = ["load_small_corpus", "small_corpus_text"]

# (male, female, home) triples: the gender direction is the pronoun each one
# takes, the pair's identity its home. Few pairs, so that each person word is
# seen often enough in a corpus of a few thousand sentences for word2vec to
# find all three relations.
ROYALS = [("king", "queen", "avalon"), ("prince", "princess", "camelot"),
          ("duke", "duchess", "york"), ("emperor", "empress", "byzantium")]
COMMONERS = [("man", "woman", "dover"), ("boy", "girl", "leeds"), ("father", "mother", "bath"),
             ("son", "daughter", "derby"), ("brother", "sister", "ely")]
PETS = ["cat", "dog", "rabbit", "hamster", "kitten", "puppy", "parrot", "goldfish"]
WILD = ["lion", "tiger", "wolf", "bear", "fox", "eagle", "deer", "elephant"]
DAYS = ["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
MONTHS = ["january", "february", "march", "april", "may", "june", "july", "august",
          "september", "october", "november", "december"]
COLOURS = ["red", "blue", "green", "yellow", "white", "black", "orange", "purple"]
NUMBERS = ["two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
FOODS = ["bread", "cheese", "rice", "soup", "cake", "fish", "pasta", "salad", "apples",
         "eggs"]
DRINKS = ["tea", "coffee", "milk", "water", "juice", "wine"]
CITIES = ["london", "paris", "tokyo", "rome", "berlin", "madrid", "cairo", "lima"]
JOBS_PLACES = ["school", "office", "shop", "farm", "hospital", "bakery", "library", "market"]
THINGS = [("car", "cars"), ("book", "books"), ("house", "houses"), ("tree", "trees"),
          ("child", "children"), ("box", "boxes"), ("city", "cities"), ("apple", "apples")]
VERBS = [("go", "went"), ("take", "took"), ("see", "saw"), ("eat", "ate"), ("come", "came"),
         ("give", "gave"), ("write", "wrote"), ("find", "found")]
MOODS = ["happy", "tired", "hungry", "busy", "sad", "calm"]

_PERSON_FRAMES = [
    "the {p} said {he} was {mood} .",
    "the {p} and {his} {pet} sleep in the garden .",
    "the {p} {himself} {past} to {city} .",
    "yesterday the {p} and {his} family {past} to {city} .",
    "in the morning the {p} drinks {drink} and reads .",
    "{he} said the {p} will {verb} the {thing} on {day} .",
    "the {p} of {home} {past} to {city} .",
    "the {p} of {home} is {mood} today .",
    "in {home} the {p} {himself} {past} to {city} .",
    "at {home} the {p} said {he} was {mood} .",
]
_ROYAL_FRAMES = [
    "the {p} {himself} rules the kingdom from the palace .",
    "the {p} wears {his} golden crown and sits on the throne .",
    "the people bow when the {p} enters the royal hall .",
    "the {p} commands {his} royal army and guards the realm .",
]
_COMMON_FRAMES = [
    "the {p} {himself} works at the {work} every day .",
    "the {p} buys {food} at the market .",
    "after work the {p} walks home and {he} cooks dinner .",
]
_OTHER_FRAMES = [
    "the {pet} plays with a ball in the garden .",
    "the {pet} eats from a small bowl and sleeps on the sofa .",
    "the wild {wild} hunts in the forest at night .",
    "a {wild} lives in the jungle far from the village .",
    "on {day} we go to the {work} .",
    "every {day} morning the market opens early .",
    "see you next {day} after lunch .",
    "in {month} the weather is {weather} .",
    "her birthday is in {month} every year .",
    "the {thing} is {colour} and the sky is blue .",
    "she painted the door {colour} .",
    "i have {number} {things} at home .",
    "there are {number} {things} in the street .",
    "we ate {food} and drank {drink} for dinner .",
    "i {verb} to {city} today and i {past} to {city2} last year .",
    "the train from {city} to {city2} leaves at {number} .",
]
_WEATHER = ["cold", "warm", "rainy", "sunny", "windy"]


class _Rng:
    """A 64-bit linear congruential generator (Knuth's MMIX constants): tiny,
    and the same everywhere, which numpy's Generator does not promise."""

    def __init__(self, seed: int):
        self.state = seed & (2**64 - 1)

    def below(self, n: int) -> int:
        self.state = (6364136223846793005 * self.state + 1442695040888963407) & (2**64 - 1)
        return (self.state >> 33) % n  # high bits: the low bits of an LCG cycle fast

    def choice(self, seq):
        return seq[self.below(len(seq))]


def _sentence(rng: _Rng) -> str:
    kind = rng.below(10)
    if kind < 5:  # about half the sentences are about people
        royal = rng.below(3) == 0
        male, female_word, home = rng.choice(ROYALS if royal else COMMONERS)
        female = rng.below(2)
        person = female_word if female else male
        frames = _PERSON_FRAMES + (_ROYAL_FRAMES if royal else _COMMON_FRAMES)
        frame = rng.choice(frames)
    else:
        person, female, home = "", 0, ""
        frame = rng.choice(_OTHER_FRAMES)
    verb, past = rng.choice(VERBS)
    thing, things = rng.choice(THINGS)
    city = rng.choice(CITIES)
    city2 = rng.choice([c for c in CITIES if c != city])
    return frame.format(
        p=person, he="she" if female else "he", his="her" if female else "his",
        himself="herself" if female else "himself", home=home, mood=rng.choice(MOODS), pet=rng.choice(PETS), wild=rng.choice(WILD),
        drink=rng.choice(DRINKS), food=rng.choice(FOODS), city=city, city2=city2,
        verb=verb, past=past, thing=thing, things=things, day=rng.choice(DAYS),
        month=rng.choice(MONTHS), weather=rng.choice(_WEATHER),
        colour=rng.choice(COLOURS), number=rng.choice(NUMBERS),
        work=rng.choice(JOBS_PLACES))


def small_corpus_text(sentences: int = 500, seed: int = 0) -> str:
    """The corpus as text, one sentence per line; the same for the same arguments."""
    rng = _Rng(seed * 0x9E3779B97F4A7C15 + 1)
    return "\n".join(_sentence(rng) for _ in range(sentences)) + "\n"


def load_small_corpus(sentences: int = 500, seed: int = 0):
    """``(corpus, word_to_id, id_to_word)`` like ``load_ptb``, ids by first occurrence.

    Sentences end with ``.``, which is a token (no ``<eos>``: ``preprocess`` rules).
    """
    return preprocess(small_corpus_text(sentences, seed))
