"""Sampling from a language model, one word at a time (the book's chapter 7,
``RnnlmGen.generate``), for any model that gives next-word scores.

>>> import numpy as np, minigrad as mg
>>> from minigrad import layers as L
>>> class Bigram(L.Layer):                 # scores of the next word from the last one
...     def __init__(self):
...         super().__init__()
...         self.embed = L.Embedding(5, 5, W=np.eye(5)[[1, 2, 3, 4, 0]] * 10)
...     def forward(self, ids):
...         return self.embed(ids)
>>> generate(Bigram(), start_id=0, length=6, greedy=True)
[0, 1, 2, 3, 4, 0]
>>> generate(Bigram(), start_id=0, length=3, greedy=True, skip_ids=[2])   # 2 never drawn
[0, 1, 0]
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import random as mg_random
from ..core.config import no_grad
from ..core.variable import Variable
from .protocol import check_model

__all__ = ["generate"]


def generate(model, start_id, length, skip_ids=(), rng=None, temperature=1.0, greedy=False):
    """``length`` word ids, the first ``start_id``; each next one is drawn from
    the softmax of the model's scores for it, divided by ``temperature``
    (below 1: likelier words; above 1: more varied ones), or with
    ``greedy=True`` is the best-scored word.

    The scores come from ``model.predict(ids)`` (or ``model(ids)`` when it has
    no ``predict``), shape (N, T, V), the last time step's being read. A
    stateful model (one with ``reset_state()``, as the book's language models)
    is reset first, fed one word per step, carrying its state, and reset
    again at the end; a model without ``reset_state`` is fed every word so far
    at each step. It runs under ``no_grad`` and in eval mode (no dropout),
    and leaves the model in the mode it found it.

    ``skip_ids`` (e.g. ``<unk>``, ``N``) are never drawn: their probability
    is set to zero before sampling (the book redraws instead, feeding the
    previous word again, which also moves the state on). ``rng``: an int seed
    or a Generator for repeatable text; None uses minigrad.random's generator.
    """
    check_model(model, "generate", generating=True)
    if length < 1:
        raise ValueError(f"generate: length must be at least 1, got {length}")
    if not greedy and not temperature > 0:
        raise ValueError(f"generate: temperature must be positive, got {temperature} "
                         "(greedy=True takes the best-scored word)")
    rng = mg_random.generator(rng)
    skip = np.asarray(sorted({int(i) for i in skip_ids}), dtype=np.int64)
    scores_of = getattr(model, "predict", None) or model
    stateful = callable(getattr(model, "reset_state", None))
    ids = [int(start_id)]
    training = getattr(model, "training", False)
    model.eval()
    try:
        with no_grad():
            if stateful:
                model.reset_state()
            while len(ids) < length:
                fed = ids[-1:] if stateful else ids
                ids.append(_next_id(scores_of(np.array([fed])), skip, rng, temperature, greedy))
    finally:
        if stateful:
            model.reset_state()
        model.train(training)
    return ids


def _next_id(scores, skip, rng, temperature, greedy) -> int:
    if isinstance(scores, Variable):
        scores = scores.data
    scores = np.array(backend.as_numpy(scores), dtype=np.float64)   # a copy: edited below
    if scores.ndim < 1:
        raise ValueError(f"generate: the model's scores must end with the vocabulary axis, "
                         f"(N, T, V), got shape {scores.shape}")
    scores = scores.reshape(-1, scores.shape[-1])[-1]     # the last word's scores
    if skip.size and (skip.min() < 0 or skip.max() >= scores.size):
        raise ValueError(f"generate: skip_ids must lie in [0, {scores.size}), got "
                         f"{skip.tolist()}")
    logits = scores if greedy else scores / temperature
    logits[skip] = -np.inf
    if not np.isfinite(logits).any():
        raise ValueError("generate: skip_ids leave no word to sample")
    if greedy:
        return int(np.argmax(logits))
    p = np.exp(logits - logits.max())    # shifted: no overflow at low temperature
    p /= p.sum()
    return int(rng.choice(p.size, p=p))
