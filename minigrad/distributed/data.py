"""Each rank's share of the data, and each rank's own random stream.

* :func:`shard`: this rank's equal, contiguous part of a global batch.
* :class:`ShardedSampler`: minibatches of a shuffled data set; every rank
  computes the same permutation from a shared seed and takes its shard of
  each global batch, so the ranks together see exactly the batches one
  process would.
* :class:`ShardedTBPTTBatcher`: the truncated-BPTT batcher of one process,
  each rank keeping its own rows (its own streams) of every batch.
* :func:`seed`: minigrad.random seeded differently on each rank, so dropout
  masks and negative samples are independent draws, not copies.
"""
from __future__ import annotations

import numpy as np

from .. import random as mg_random
from ..data.batching import TBPTTBatcher

__all__ = ["shard", "ShardedSampler", "ShardedTBPTTBatcher", "seed", "rank_seed"]


def shard(global_size: int, rank: int, size: int) -> slice:
    """Rank ``rank``'s contiguous share of ``global_size`` items: equal shares,
    in rank order. ``global_size`` must divide evenly, so that every rank's
    mean counts the same number of items (the plain mean of the ranks' means
    is then the mean of the whole batch).

    >>> shard(20, 1, 2)
    slice(10, 20, None)
    """
    if global_size % size:
        raise ValueError(f"a global batch of {global_size} does not split evenly over {size} "
                         f"ranks; choose a batch size that is a multiple of {size}")
    per = global_size // size
    return slice(rank * per, (rank + 1) * per)


class ShardedSampler:
    """Index batches over ``n`` items, ``batch_size`` per global batch, for
    rank ``rank`` of ``size``.

    Epoch ``e``'s order is ``default_rng([seed, e]).permutation(n)`` on every
    rank; its ``n // batch_size`` global batches are consecutive slices of it
    (the rest is dropped, as the book's Trainer does), and this rank gets its
    :func:`shard` of each.

    >>> s = ShardedSampler(12, batch_size=4, rank=1, size=2, seed=0)
    >>> len(s)
    3
    >>> whole = ShardedSampler(12, batch_size=4, rank=0, size=1, seed=0)
    >>> [b.tolist() for b in s.epoch(0)][0] == next(iter(whole.epoch(0))).tolist()[2:]
    True
    """

    def __init__(self, n: int, batch_size: int, rank: int = 0, size: int = 1, seed: int = 0):
        self.n, self.batch_size, self.seed = int(n), int(batch_size), int(seed)
        self.rows = shard(self.batch_size, rank, size)
        if len(self) == 0:
            raise ValueError(f"{n} items are fewer than one global batch of {batch_size}")

    def __len__(self) -> int:
        return self.n // self.batch_size

    def order(self, epoch: int) -> np.ndarray:
        """The global permutation of epoch ``epoch`` (the same on every rank)."""
        return np.random.default_rng([self.seed, int(epoch)]).permutation(self.n)

    def epoch(self, epoch: int):
        """This rank's index arrays for every global batch of epoch ``epoch``."""
        order = self.order(epoch)
        for i in range(len(self)):
            yield order[i * self.batch_size:(i + 1) * self.batch_size][self.rows]


class ShardedTBPTTBatcher(TBPTTBatcher):
    """A :class:`~minigrad.data.TBPTTBatcher` of the *global* ``batch_size``
    that hands out only this rank's rows: rank r gets rows
    ``shard(batch_size, r, size)`` of every batch. Position, length and
    ``state_dict`` are the global batcher's, so a checkpoint written by one
    rank resumes every rank.

    >>> import numpy as np
    >>> b = ShardedTBPTTBatcher(np.arange(13), batch_size=2, time_size=3, rank=1, size=2)
    >>> b.next_batch()       # the second row of the one-process batch
    (array([[6, 7, 8]]), array([[7, 8, 9]]))
    """

    def __init__(self, corpus, batch_size: int, time_size: int, rank: int = 0, size: int = 1):
        super().__init__(corpus, batch_size, time_size)
        self.rank, self.size = rank, size
        self.offsets = self.offsets[shard(self.batch_size, rank, size)]


def rank_seed(value: int, rank: int) -> int:
    """The seed of rank ``rank`` in a job seeded with ``value``: ``value``
    itself on rank 0 (a job of one rank repeats the one-process run), a
    number derived from both on the others.

    >>> rank_seed(7, 0), rank_seed(7, 1) == rank_seed(7, 2)
    (7, False)
    """
    if rank == 0:
        return int(value)
    return int(np.random.SeedSequence([int(value), int(rank)]).generate_state(1)[0])


def seed(value: int, rank: int) -> int:
    """Seed minigrad.random with :func:`rank_seed` (dropout masks, negative
    samples: independent on each rank). Returns the seed used."""
    s = rank_seed(value, rank)
    mg_random.seed(s)
    return s
