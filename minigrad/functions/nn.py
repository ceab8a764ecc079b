"""Neural-network building blocks that are compositions of other nodes."""
from __future__ import annotations

from .. import backend
from .. import random as mg_random
from ..core.function import Function
from ..core.sparse import SparseRows
from ..core.arrays import array_of, as_variable
from ..core.variable import Variable
from ..errors import DTypeError, GraphError
from .shape import GetItemGrad, get_item

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["dropout", "embedding"]


def dropout(x, ratio: float = 0.5, training: bool = True, mask=None):
    """Inverted dropout: zero each element with probability ``ratio`` and scale
    the rest by 1 / (1 - ratio), so evaluation needs no rescaling.

    The mask is a constant of the graph (no gradient flows into it). Pass
    ``mask`` to reuse a fixed mask (already scaled); the random draws come from
    ``minigrad.random`` (seed it with ``minigrad.random.seed``).
    """
    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"Dropout: ratio must be in [0, 1), got {ratio}")
    x = as_variable(x)
    if not training or ratio == 0.0:
        return x
    if mask is not None:
        return x * array_of(mask)  # a constant of the graph, even if given as a Variable
    return Dropout(ratio).apply(x)


class Dropout(Function):
    """x * mask, the mask drawn in ``forward`` from ``minigrad.random``: a
    compiled step, which runs forward again on every replay, draws a new mask
    each time, in the order an eager step would."""

    saves_inputs = False
    drawn = ("ratio",)

    def __init__(self, ratio):
        self.ratio = ratio

    def forward(self, x):
        xp = backend.get_array_module(x)
        keep = mg_random.uniform(xp, x.shape, x.dtype) >= self.ratio
        mask = keep.astype(x.dtype) * x.dtype.type(1.0 / (1.0 - self.ratio))
        self.save(mask=mask)
        return x * mask

    def backward(self, gy):
        return gy * self.mask

    def backward_graph(self, gy):
        return gy * self.mask     # the mask is a constant of the gradient's graph


def check_ids(owner, ids, W):
    """Refuse ids that are not integers or not rows of the table ``W``."""
    if ids.dtype.kind not in "iu":
        raise DTypeError(f"{owner}: ids must be integers, got dtype {ids.dtype}")
    V = W.shape[0]
    if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= V):
        bad = int(ids.min()) if int(ids.min()) < 0 else int(ids.max())
        raise IndexError(f"{owner}: id {bad} is out of range for a table of {V} rows "
                         f"(shape {tuple(W.shape)})")


class SparseEmbedding(Function):
    """W[ids] whose backward gives W a SparseRows gradient: only the looked-up
    rows, instead of a (V, D) buffer of zeros written at a few rows."""

    saves_inputs = False

    def __init__(self, ids):
        self.ids = ids

    def forward(self, W):
        self.shape = W.shape
        return W[self.ids]

    def backward(self, gy):
        return SparseRows(self.ids, gy, self.shape)

    def backward_graph(self, gy):
        raise GraphError("Embedding: sparse gradients cannot be differentiated again; "
                         "use sparse=False for higher-order gradients")


class LookupRows(Function):
    """W[ids] with the ids an input of the operation rather than a constant of
    it: ids that an operation computed (a greedy decoder's argmax) are read
    afresh each time the lookup runs, as a compiled replay runs it. The ids
    get no gradient; W gets a dense one, or SparseRows with ``sparse``."""

    saves_inputs = False

    def __init__(self, sparse):
        self.sparse = sparse

    def forward(self, W, ids):
        self.shape = W.shape
        self.save(ids=ids)
        return W[ids]

    def backward(self, gy):
        if self.sparse:
            return SparseRows(self.ids, gy, self.shape), None
        return GetItemGrad(self.ids, self.shape).apply(gy), None

    def backward_graph(self, gy):
        if self.sparse:
            raise GraphError("Embedding: sparse gradients cannot be differentiated again; "
                             "use sparse=False for higher-order gradients")
        return GetItemGrad(self.ids, self.shape).apply(gy), None


def embedding(W, ids, sparse: bool = False):
    """Rows of ``W`` picked by integer ``ids`` (any shape): W[ids], of shape
    ids.shape + (D,). Repeated ids accumulate their gradients.

    With ``sparse=True`` W's gradient is a :class:`minigrad.SparseRows` (the
    looked-up rows only); optimizers then update only those rows.

    Ids that an operation computed (a Variable with a creator, such as the
    ids of :func:`argmax_ids`) stay an input of the lookup rather than
    becoming a constant of it, so that a compiled step reads them afresh on
    every replay.

    >>> import numpy as np, minigrad as mg
    >>> W = mg.Variable(np.arange(6.0).reshape(3, 2))
    >>> y = mg.functions.embedding(W, np.array([2, 0, 2]))
    >>> y.sum().backward()
    >>> W.grad
    variable([[1., 1.],
              [0., 0.],
              [2., 2.]])
    """
    # The ids go where the table is: the book's batches come from numpy, and a
    # numpy index into a cupy table would mix devices in the backward's scatter.
    given = ids
    ids = backend.get_array_module(array_of(W)).asarray(array_of(ids))
    check_ids("Embedding", ids, W)
    if isinstance(given, Variable) and given.creator is not None:
        return LookupRows(sparse).apply(W, given)
    if sparse:
        return SparseEmbedding(ids).apply(W)
    return get_item(W, ids)
