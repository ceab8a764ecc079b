"""Sampling text from a trained language model, word by word (the book's RnnlmGen).

>>> import numpy as np
>>> from models.rnnlm import Rnnlm
>>> model = Rnnlm(vocab_size=12, wordvec_size=4, hidden_size=4, rng=0)
>>> ids = generate(model, start_id=0, length=6, skip_ids=[3], rng=1)
>>> len(ids), ids[0], 3 in ids
(6, 0, False)
>>> ids_to_text([0, 1, 2, 1], {0: "hello", 1: "<eos>", 2: "world"})
'hello\\nworld\\n'
"""
from __future__ import annotations

import numpy as np

import minigrad.random as mg_random

__all__ = ["generate", "ids_to_text"]


def generate(model, start_id, length, skip_ids=(), rng=None, temperature=1.0):
    """``length`` word ids, the first ``start_id``, each next one drawn from the
    softmax of the model's scores for the last word, divided by ``temperature``
    (below 1: more likely words; above 1: more varied ones).

    The model's state is reset first and carried from word to word (the model
    must be stateful, as the book's language models are). ``skip_ids`` (e.g.
    ``<unk>``, ``N``) are never drawn: their probability is set to zero before
    sampling. (The book redraws instead, feeding the previous word again, which
    also moves the state on; zeroing them keeps one step per word.)
    ``rng``: an int seed or a Generator for repeatable text; None uses
    minigrad.random's generator.
    """
    if length < 1:
        raise ValueError(f"length must be at least 1, got {length}")
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    rng = mg_random.generator(rng)
    skip = np.asarray(sorted({int(i) for i in skip_ids}), dtype=np.int64)
    ids = [int(start_id)]
    model.reset_state()
    while len(ids) < length:
        scores = np.asarray(model.predict(np.array([[ids[-1]]])), dtype=np.float64).reshape(-1)
        if skip.size and (skip.min() < 0 or skip.max() >= scores.size):
            raise ValueError(f"skip_ids must lie in [0, {scores.size}), got {skip.tolist()}")
        logits = scores / temperature
        logits[skip] = -np.inf
        if not np.isfinite(logits).any():
            raise ValueError("skip_ids leave no word to sample")
        p = np.exp(logits - logits.max())    # shifted: no overflow at low temperature
        p /= p.sum()
        ids.append(int(rng.choice(p.size, p=p)))
    model.reset_state()
    return ids


def ids_to_text(ids, id_to_word, eos="<eos>"):
    """The words of ``ids`` joined by spaces, each ``eos`` a line break."""
    lines, words = [], []
    for i in ids:
        word = id_to_word[int(i)]
        if word == eos:
            lines.append(" ".join(words) + "\n")
            words = []
        else:
            words.append(word)
    return "".join(lines) + " ".join(words)
