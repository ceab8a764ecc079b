"""The two measures the book reports, defined once: the perplexity of a
language model over a corpus (chapters 5 and 6) and the accuracy of guesses
against answers (chapter 1's classes, the course notes' sums, chapter 7's
answers).

>>> import numpy as np
>>> accuracy(np.array([2, 0, 1]), np.array([2, 1, 1]))                  # one class per row
0.6666666666666666
>>> accuracy(np.array([[1, 0, 1], [0, 0, 1]]), np.array([[1, 0, 1], [0, 1, 1]]))   # every bit
0.5
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..core.arrays import get_array_module, to_cpu
from ..core.config import no_grad

__all__ = ["perplexity", "accuracy"]


def accuracy(guesses, answers) -> float:
    """The fraction of examples (rows) whose guess equals the answer entirely:
    every element along the axes after the first. One class per row gives the
    book's classification accuracy; a row of bits or characters counts only
    when all of it is right, as the notes and chapter 7 count a sum or an
    answer. An empty set scores 0."""
    guesses, answers = backend.as_numpy(guesses), backend.as_numpy(answers)
    if guesses.shape != answers.shape:
        raise ValueError(f"accuracy: guesses of shape {guesses.shape} against answers of shape "
                         f"{answers.shape}; one guess per answer, of the same shape")
    if len(answers) == 0:
        return 0.0
    right = (guesses == answers).reshape(len(answers), -1).all(axis=1)
    return float(right.mean())


def perplexity(model, corpus, batch_size=10, time_size=35, comm=None) -> float:
    """The book's eval_perplexity: exp of the mean loss over ``corpus`` read as
    ``batch_size`` parallel streams (row i starts at i * (len // batch_size)),
    ``time_size`` steps at a time, from a reset state, without dropout. The
    corpus may be on either device; each batch goes to the model's. With
    ``comm``, the rows are spread over the ranks
    (:func:`minigrad.distributed.perplexity`), the same number on every rank."""
    if comm is not None:
        from ..distributed import perplexity as over_ranks

        return over_ranks(model, corpus, comm, batch_size=batch_size, time_size=time_size)
    corpus = to_cpu(corpus)
    xp = get_array_module(*model.params())
    corpus_size = len(corpus)
    jump = (corpus_size - 1) // batch_size
    max_iters = (corpus_size - 1) // (batch_size * time_size)
    if max_iters == 0:
        raise ValueError(f"perplexity: a corpus of {len(corpus)} words is shorter than one "
                         f"batch of {batch_size} x {time_size}")
    offsets = np.arange(batch_size)[:, None] * jump
    steps = np.arange(time_size)[None, :]
    training = model.training
    model.eval()
    model.reset_state()
    total = 0.0
    try:
        with no_grad():
            for it in range(max_iters):
                idx = offsets + it * time_size + steps
                xs, ts = (xp.asarray(corpus[i % corpus_size]) for i in (idx, idx + 1))
                total += float(model.loss(xs, ts).data)
    finally:
        model.train(training)
    return math.exp(total / max_iters)
