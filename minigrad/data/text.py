"""Small text utilities in the book's style: tokenising a toy corpus, the
contexts/target pairs of word2vec, and nearest neighbours by cosine similarity.

>>> corpus, word_to_id, id_to_word = preprocess("You say goodbye and I say hello.")
>>> corpus
array([0, 1, 2, 3, 4, 1, 5, 6])
>>> id_to_word[6]
'.'
>>> contexts, target = create_contexts_target(corpus, window_size=1)
>>> contexts[:2]
array([[0, 2],
       [1, 3]])
>>> target[:2]
array([1, 2])
"""
from __future__ import annotations

import numpy as np

from ..errors import MinigradError, ShapeError

__all__ = ["preprocess", "create_contexts_target", "cos_similarity", "most_similar",
           "analogy", "UnknownWordError"]


class UnknownWordError(MinigradError, KeyError):
    """A word looked up that the vocabulary does not hold."""

    def __str__(self):
        # KeyError's own __str__ shows the repr, quotes and all.
        return str(self.args[0])


def preprocess(text: str):
    """Lower-case ``text``, split off full stops, give ids by first occurrence.

    Returns ``(corpus, word_to_id, id_to_word)`` like ``load_ptb``.
    """
    words = text.lower().replace(".", " .").split()
    word_to_id: dict = {}
    for w in words:
        if w not in word_to_id:
            word_to_id[w] = len(word_to_id)
    id_to_word = {i: w for w, i in word_to_id.items()}
    corpus = np.array([word_to_id[w] for w in words], dtype=np.int64)
    return corpus, word_to_id, id_to_word


def create_contexts_target(corpus, window_size: int = 1):
    """``contexts`` of shape (N, 2 * window_size) and ``target`` of shape (N,),
    N = len(corpus) - 2 * window_size: for every word with a full window, the
    words left of it then the words right of it, in corpus order (the book's
    layout).
    """
    if int(window_size) != window_size or window_size < 1:
        raise ValueError(f"window_size must be a positive integer, got {window_size!r}")
    corpus = np.asarray(corpus)
    if corpus.ndim != 1:
        raise ShapeError(f"create_contexts_target needs a 1-d corpus of word ids, "
                         f"got shape {corpus.shape}")
    w = int(window_size)
    if len(corpus) <= 2 * w:
        return (np.empty((0, 2 * w), dtype=corpus.dtype), np.empty((0,), dtype=corpus.dtype))
    windows = np.lib.stride_tricks.sliding_window_view(corpus, 2 * w + 1)
    contexts = np.concatenate([windows[:, :w], windows[:, w + 1:]], axis=1)
    return contexts, corpus[w:-w].copy()


def _normalize_rows(m, eps):
    m = np.asarray(m, dtype=np.float64)
    return m / (np.sqrt((m * m).sum(axis=-1, keepdims=True)) + eps)


def cos_similarity(x, y, eps: float = 1e-8) -> float:
    """Cosine of the angle between vectors ``x`` and ``y``; 0 for a zero vector."""
    return float(_normalize_rows(x, eps) @ _normalize_rows(y, eps))


def _lookup(word, word_to_id):
    try:
        return word_to_id[word]
    except KeyError:
        raise UnknownWordError(f"word {word!r} is not in the vocabulary") from None


def _ranked(query_vec, exclude, id_to_word, word_matrix, top, eps):
    sims = _normalize_rows(word_matrix, eps) @ _normalize_rows(query_vec, eps)
    sims[list(exclude)] = -np.inf
    # stable sort: ties keep id order, so results do not depend on the platform
    order = np.argsort(-sims, kind="stable")[:top]
    return [(id_to_word[int(i)], float(sims[i])) for i in order if np.isfinite(sims[i])]


def most_similar(query, word_to_id, id_to_word, word_matrix, top: int = 5, eps: float = 1e-8):
    """The ``top`` words nearest ``query`` by cosine similarity, as (word, cosine)
    pairs, best first, ``query`` itself left out.

    >>> w2i = {"cat": 0, "dog": 1, "car": 2}
    >>> i2w = {i: w for w, i in w2i.items()}
    >>> vecs = np.array([[1.0, 0.1], [0.9, 0.2], [0.0, 1.0]])
    >>> [(w, round(c, 3)) for w, c in most_similar("cat", w2i, i2w, vecs, top=2)]
    [('dog', 0.993), ('car', 0.1)]
    """
    qid = _lookup(query, word_to_id)
    word_matrix = np.asarray(word_matrix)
    return _ranked(word_matrix[qid], {qid}, id_to_word, word_matrix, top, eps)


def analogy(a, b, c, word_to_id, id_to_word, word_matrix, top: int = 5, eps: float = 1e-8,
            score: str = "book"):
    """Solve ``a : b = c : ?`` with the query ``b - a + c``, leaving ``a``, ``b``
    and ``c`` out. Returns (word, score) pairs, best first.

    ``score="book"`` (the default) is the book's method: the query built from
    the raw vectors is normalised and scored by its dot product with the raw
    word vectors, so the scores are the book's (king : man = queen : woman
    scores about 5 there). ``score="cosine"`` normalises every vector first and
    returns cosines, like ``most_similar``. The two can rank differently:
    frequent words have longer vectors and rank higher under "book".

    >>> w2i = {"king": 0, "man": 1, "queen": 2, "woman": 3}
    >>> i2w = {i: w for w, i in w2i.items()}
    >>> vecs = np.array([[1.0, 1.0], [1.0, 0.0], [-1.0, 1.0], [-1.0, 0.0]])
    >>> analogy("king", "man", "queen", w2i, i2w, vecs, top=1)[0][0]
    'woman'
    """
    ids = [_lookup(w, word_to_id) for w in (a, b, c)]
    word_matrix = np.asarray(word_matrix)
    if score == "cosine":
        va, vb, vc = _normalize_rows(word_matrix[ids], eps)
        return _ranked(vb - va + vc, set(ids), id_to_word, word_matrix, top, eps)
    if score != "book":
        raise ValueError(f"analogy: score must be 'book' or 'cosine', got {score!r}")
    va, vb, vc = np.asarray(word_matrix[ids], dtype=np.float64)
    sims = np.asarray(word_matrix, dtype=np.float64) @ _normalize_rows(vb - va + vc, eps)
    sims[ids] = -np.inf
    order = np.argsort(-sims, kind="stable")[:top]
    return [(id_to_word[int(i)], float(sims[i])) for i in order if np.isfinite(sims[i])]
