"""Sharded evaluation: each rank scores its own rows, the sums are added up.

A mean over the whole evaluation set is exact only if every rank's loss is
weighted by how many targets it counted; so each rank adds up
``loss * count`` and ``count`` and the two sums are all-reduced. Targets equal
to ``ignore_index`` are not counted, as softmax_cross_entropy skips them.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..core.config import no_grad
from ..data import TBPTTBatcher
from .data import ShardedBatches

__all__ = ["LossSum", "perplexity"]


class LossSum:
    """Running ``sum(loss * count)`` and ``sum(count)`` on one rank;
    :meth:`mean` all-reduces both and divides.

    >>> s = LossSum()
    >>> s.add(2.0, count=3); s.add(4.0, count=1)
    >>> s.total, s.count
    (10.0, 4)
    """

    def __init__(self):
        self.total, self.count = 0.0, 0

    def add(self, mean_loss, count: int):
        self.total += float(backend.as_numpy(getattr(mean_loss, "data", mean_loss))) * count
        self.count += int(count)

    def add_targets(self, mean_loss, targets, ignore_index=-1):
        """Add a mean loss over ``targets``, counting those not ignored."""
        self.add(mean_loss, int((backend.as_numpy(targets) != ignore_index).sum()))

    def mean(self, comm) -> float:
        """The mean over every rank's targets (the same number on every rank)."""
        total, count = comm.sum([self.total, self.count])
        return total / count if count else 0.0


def perplexity(model, corpus, comm, batch_size: int = 10, time_size: int = 35,
               ignore_index=-1) -> float:
    """The perplexity of a stateful language model over ``corpus``, the rows of
    the evaluation batches spread over the ranks.

    The batches are those of ``minigrad.training.perplexity`` (``batch_size``
    streams read ``time_size`` steps at a time, from a reset state, without
    dropout); rank r scores its rows of each (every row, when ``batch_size``
    does not divide over the ranks). The result is
    exp(sum of losses / number of targets) over the whole corpus, the same on
    every rank; with every target counted it equals the one-process
    ``minigrad.training.perplexity``.
    """
    batcher = TBPTTBatcher(np.asarray(corpus), batch_size, time_size)
    if batch_size % comm.size == 0:
        batcher = ShardedBatches(batcher, comm.rank, comm.size)
    # else every rank scores every row: the same number, without the speed-up
    training = model.training
    model.eval()
    model.reset_state()
    sums = LossSum()
    try:
        with no_grad():
            for xs, ts in batcher:
                sums.add_targets(model.loss(xs, ts), ts, ignore_index)
    finally:
        model.reset_state()
        model.train(training)
    return math.exp(sums.mean(comm))
