"""Sampling text from a trained language model, word by word (the book's RnnlmGen):
``generate`` is the library's (:func:`minigrad.training.generate`).

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

from minigrad.training import generate

__all__ = ["generate", "ids_to_text"]


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
