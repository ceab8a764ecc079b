"""Each rank's share of the data, and each rank's own random stream.

* :func:`shard`: this rank's equal, contiguous part of a global batch.
* :class:`ShardedBatches`: this rank's shard of every batch of a batcher of
  :mod:`minigrad.data`: of a shuffled data set (every rank draws the same
  permutation from a shared seed), or of the truncated-BPTT streams (each
  rank keeps its own rows). The ranks together see exactly the batches one
  process would.
* :func:`seed`: minigrad.random seeded differently on each rank, so dropout
  masks and negative samples are independent draws, not copies.
"""
from __future__ import annotations

import numpy as np

from .. import random as mg_random

__all__ = ["shard", "ShardedBatches", "seed", "rank_seed"]


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


class ShardedBatches:
    """This rank's rows of every batch of ``batches``, a batcher of
    :mod:`minigrad.data` for the *global* batch (``next_batch()`` giving
    arrays whose first axis is the batch).

    * :class:`~minigrad.data.ShuffledBatches`: every rank must draw the same
      order, so it must be given a shared ``rng`` (a seed), not minigrad's
      generator, which :func:`seed` makes differ per rank.
    * :class:`~minigrad.data.TBPTTBatcher`: rank r keeps rows
      ``shard(batch_size, r, size)``, its own streams, and its recurrent
      layers carry only their state.

    Length, position (``state_dict``) and ``digest`` are the global batcher's,
    so a resume file written by one rank resumes every rank.

    >>> import numpy as np
    >>> from minigrad.data import TBPTTBatcher
    >>> b = ShardedBatches(TBPTTBatcher(np.arange(13), batch_size=2, time_size=3), rank=1, size=2)
    >>> b.next_batch()       # the second row of the one-process batch
    (array([[6, 7, 8]]), array([[7, 8, 9]]))
    """

    def __init__(self, batches, rank: int = 0, size: int = 1):
        if getattr(batches, "rng", False) is None:
            raise ValueError(f"ShardedBatches: the {type(batches).__name__} draws its order from "
                             f"minigrad.random, which differs per rank; give it a shared seed "
                             f"(rng=SEED) so that every rank shuffles alike")
        self.batches = batches
        self.rank, self.size = rank, size
        self.rows = shard(batches.batch_size, rank, size)

    @property
    def batch_size(self) -> int:
        """The global batch size (this rank's share is ``batch_size // size``)."""
        return self.batches.batch_size

    def __len__(self) -> int:
        return len(self.batches)

    def next_batch(self) -> tuple:
        return tuple(a[self.rows] for a in self.batches.next_batch())

    def __iter__(self):
        for batch in self.batches:
            yield tuple(a[self.rows] for a in batch)

    def digest(self) -> str:
        return self.batches.digest()

    def state_dict(self) -> dict:
        return self.batches.state_dict()

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state)


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
