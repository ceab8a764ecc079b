"""Embedding: rows of a (vocab, dim) matrix picked by integer ids."""
from __future__ import annotations

from ..functions import embedding
from .layer import Layer
from .. import random as mg_random
from .parameter import Parameter, given_array, layer_dtype


class Embedding(Layer):
    """W[ids] for integer ``ids`` of any shape: output ids.shape + (dim,).

    A repeated id receives the sum of its rows' gradients. W starts as a normal
    draw scaled by 0.01 (the book's choice); pass ``W`` (vocab, dim) to start from
    given values, ``rng`` (a Generator or an int seed) to make the draw repeatable.
    ``dtype=None`` (the default) keeps the given W's dtype, else float32.

    ``sparse=True`` keeps W's gradient as a :class:`minigrad.SparseRows` (only
    the looked-up rows), which the optimizers apply lazily to those rows: no
    (vocab, dim) zero buffer per step and no sweep of the whole table.

    >>> import numpy as np
    >>> from minigrad.layers import Embedding
    >>> emb = Embedding(3, 2, W=np.arange(6.0).reshape(3, 2))     # float64, as W
    >>> y = emb(np.array([2, 0, 2]))
    >>> y.sum().backward()
    >>> emb.W.grad
    variable([[1., 1.],
              [0., 0.],
              [2., 2.]])
    """

    def __init__(self, vocab: int, dim: int, dtype=None, W=None, rng=None,
                 sparse: bool = False):
        super().__init__()
        dtype = layer_dtype("Embedding", dtype, W)
        self.vocab, self.dim, self.sparse = vocab, dim, sparse
        if W is None:
            W = 0.01 * mg_random.generator(rng).standard_normal((vocab, dim))
        self.W = Parameter(given_array("Embedding", "W", W, (vocab, dim), dtype), name="W")

    def forward(self, ids):
        return embedding(self.W, ids, sparse=self.sparse)

    def extra_repr(self):
        return f"{self.vocab}, {self.dim}" + (", sparse=True" if self.sparse else "")
