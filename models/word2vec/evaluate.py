"""The book's word2vec evaluation (its ch04/eval.py): the nearest words of four
queries and four analogies, each with the rank of the book's answer.

The book's answers are what its shipped CBOW vectors (ch04/cbow_params.pkl,
trained with the book's code on PTB) give: for the nearest words its top five,
for each analogy its first word. A rank is the position of that word in the
whole ranking of the vocabulary (1 = first), so a run that puts ``went``
fifth is told apart from one that puts it 300th.

>>> import numpy as np
>>> w2i = {w: i for i, w in enumerate(["king", "man", "queen", "woman", "veto"])}
>>> i2w = {i: w for w, i in w2i.items()}
>>> vecs = np.array([[1., 1.], [1., 0.], [-1., 1.], [-1., 0.], [0., -1.]])
>>> analogy_rank(("king", "man", "queen", "woman"), w2i, i2w, vecs)["rank"]
1
"""
from __future__ import annotations

import zipfile
from typing import NamedTuple

import numpy as np

import minigrad.data
from minigrad.data import analogy, most_similar
from minigrad.layers import CheckpointError, load_weights
from minigrad.layers.serialization import PICKLE_MARK

from .model import WordVectors

__all__ = ["BOOK_NEIGHBOURS", "BOOK_ANALOGIES", "BOOK_QUERIES", "SMALL_CORPUS_QUERIES",
           "Queries", "evaluate_vectors", "analogy_rank", "format_report", "load_model",
           "load_vectors"]

# The book's shipped CBOW vectors, read with the book's eval.py queries.
BOOK_NEIGHBOURS = {
    "you": ("we", "someone", "i", "something", "anyone"),
    "year": ("month", "week", "spring", "summer", "decade"),
    "car": ("luxury", "arabia", "auto", "disk-drive", "travel"),
    "toyota": ("ford", "instrumentation", "mazda", "bethlehem", "nissan"),
}
BOOK_ANALOGIES = (("king", "man", "queen", "woman"), ("take", "took", "go", "went"),
                  ("car", "cars", "child", "children"), ("good", "better", "bad", "more"))


def _rank(word, ranking):
    """1-based position of ``word`` in a list of (word, score); None if absent."""
    for i, (w, _) in enumerate(ranking, 1):
        if w == word:
            return i
    return None


class Queries(NamedTuple):
    """Nearest-word queries with the words expected near each, analogies with
    their expected answers, and whose expectations they are."""
    expected_by: str
    neighbours: dict
    analogies: tuple


BOOK_QUERIES = Queries("the book's", BOOK_NEIGHBOURS, BOOK_ANALOGIES)
# The small corpus that ships with minigrad (a --quick run without PTB): words of
# one kind share their sentence frames, and its people carry the analogies.
SMALL_CORPUS_QUERIES = Queries(
    "expected",
    {"monday": ("tuesday", "wednesday", "thursday", "friday", "saturday"),
     "cat": ("dog", "rabbit", "hamster", "kitten", "puppy"),
     "king": ("queen", "prince", "duke", "emperor", "princess")},
    (("king", "man", "queen", "woman"), ("man", "woman", "king", "queen")))


def neighbour_ranks(query, expected, word_to_id, id_to_word, word_vecs, top=5) -> dict:
    """``query``'s ``top`` nearest words and the rank of each ``expected`` word."""
    ranking = most_similar(query, word_to_id, id_to_word, word_vecs, top=len(word_to_id))
    return {"top": ranking[:top], "book": [(w, _rank(w, ranking)) for w in expected]}


def analogy_rank(question, word_to_id, id_to_word, word_vecs, top=5) -> dict:
    """``question`` = (a, b, c, the expected answer): the ``top`` words of
    a : b = c : ? (the book's scoring) and the rank of the expected answer."""
    a, b, c, answer = question
    ranking = analogy(a, b, c, word_to_id, id_to_word, word_vecs, top=len(word_to_id))
    return {"top": ranking[:top], "answer": answer, "rank": _rank(answer, ranking)}


def evaluate_vectors(word_vecs, word_to_id, id_to_word, top=5, queries=BOOK_QUERIES) -> dict:
    """The queries (by default the book's) on ``word_vecs`` (V, H):
    ``{"most_similar": {query: {"top", "book"}}, "analogy": {"a:b=c:?": {"top",
    "answer", "rank"}}, "expected_by": ...}``, plain Python values (JSON-ready)."""
    word_vecs = np.asarray(word_vecs)
    return {
        "most_similar": {q: neighbour_ranks(q, near, word_to_id, id_to_word, word_vecs, top)
                         for q, near in queries.neighbours.items()},
        "analogy": {f"{a}:{b}={c}:?": analogy_rank((a, b, c, d), word_to_id, id_to_word,
                                                   word_vecs, top)
                    for a, b, c, d in queries.analogies},
        "expected_by": queries.expected_by,
    }


def format_report(result) -> str:
    """The evaluation as text, one block per query."""
    by = result.get("expected_by", BOOK_QUERIES.expected_by)
    lines = []
    for q, r in result["most_similar"].items():
        lines.append(f"[query] {q}: " + ", ".join(f"{w} ({s:.3f})" for w, s in r["top"]))
        lines.append(f"  {by} nearest, rank here: "
                     + ", ".join(f"{w} {_text(k)}" for w, k in r["book"]))
    for name, r in result["analogy"].items():
        lines.append(f"[analogy] {name} " + ", ".join(f"{w} ({s:.2f})" for w, s in r["top"]))
        lines.append(f"  {by} answer {r['answer']}: rank {_text(r['rank'])}")
    return "\n".join(lines)


def _text(rank):
    return "-" if rank is None else str(rank)


def load_model(path, cls, vocab_size):
    """A ``cls`` (CBOW or SkipGram) holding the weights that ``python -m
    models train`` saved at ``path``; its hidden size is read from the file.
    A file that is not such a checkpoint raises CheckpointError."""
    try:
        with np.load(path, allow_pickle=False) as npz:
            shape = npz["in_embed.W"].shape if "in_embed.W" in npz.files else None
            names = list(npz.files)
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"evaluate: cannot read {path} as an .npz of weights: "
                              f"{type(e).__name__}: {e}") from e
    if shape is None or len(shape) != 2:
        raise CheckpointError(f"evaluate: {path} holds no word vectors (no 2-d 'in_embed.W'; "
                              f"it has {names}); pass the .npz that `python -m models train "
                              f"{cls.__name__.lower()}` wrote")
    model = cls(vocab_size, shape[1], 1, None, counts=np.ones(vocab_size))
    load_weights(model, path)   # checks every name, shape and dtype
    return model


def load_vectors(path, cls, data_dir=None) -> WordVectors:
    """The word vectors at ``path`` with their vocabulary: a pickle of the
    book's (``cbow_params.pkl``) carries its own; a checkpoint of ``python -m
    models train`` takes PTB's (from ``data_dir``, as ``load_ptb`` finds it)."""
    with open(path, "rb") as f:
        if f.read(1) == PICKLE_MARK:
            return cls.from_book(path)
    # Looked up at each call, so a test can stand in a small vocabulary.
    _, word_to_id, id_to_word = minigrad.data.load_ptb("train", data_dir=data_dir)
    model = load_model(path, cls, len(word_to_id))
    return WordVectors(model.word_vecs, word_to_id, id_to_word)
