"""Reductions: the book's Sum node (backward repeats), mean, max, min and
log-sum-exp; argmax and argmin, which have no gradient (and argmax_ids, the
argmax as an operation)."""
from __future__ import annotations

from ..backend import get_array_module
from ..core.function import Function
from ..core.arrays import array_of
from .elementwise import exp
from .shape import broadcast_to, reshape

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["sum", "mean", "max", "min", "logsumexp", "argmax", "argmin", "argmax_ids"]


def _kept_shape(shape, axis):
    """``shape`` with the reduced axes kept as length 1."""
    if axis is None:
        return (1,) * len(shape)
    axes = (axis,) if isinstance(axis, int) else axis
    axes = {a % len(shape) for a in axes}
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


class Sum(Function):
    """The book's Sum node: y = sum of x over ``axis``. Backward copies dy back
    to every summed element (a Repeat)."""

    saves_inputs = False
    drawn = ("axis",)

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        self.in_shape = x.shape
        return x.sum(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        gy = reshape(gy, _kept_shape(self.in_shape, self.axis))
        return broadcast_to(gy, self.in_shape)


class Mean(Sum):
    def forward(self, x):
        self.in_shape = x.shape
        y = x.mean(axis=self.axis, keepdims=self.keepdims)
        # 1 / (elements averaged into each output value)
        self.scale = y.size / x.size if x.size else 0.0
        return y

    def backward(self, gy):
        return super().backward(gy) * self.scale


class Max(Function):
    """Maximum over ``axis``. Tie policy: the gradient is shared equally among
    the tied maximal elements (as PyTorch does), so it always sums to dy."""

    saves_output = True
    reduce = "max"
    drawn = ("axis",)

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return getattr(x, self.reduce)(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        # The selection is a constant of the input values, computed on raw arrays
        # even when the backward pass builds a graph.
        x, y = array_of(self.xs[0]), array_of(self.y)
        kept = _kept_shape(x.shape, self.axis)
        chosen = x == y.reshape(kept)
        weight = chosen / chosen.sum(axis=self.axis, keepdims=True)
        return broadcast_to(reshape(gy, kept), x.shape) * weight.astype(x.dtype)


class Min(Max):
    reduce = "min"


class LogSumExp(Function):
    """log(sum(exp(x))) over ``axis``, stable for any x: the maximum is taken
    out first. The gradient is the softmax of x along ``axis``, exp(x - y)."""

    saves_output = True
    drawn = ("axis",)

    def __init__(self, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        xp = get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        m = xp.where(xp.isfinite(m), m, m.dtype.type(0))  # a row of -inf: no inf - inf
        y = xp.log(xp.exp(x - m).sum(axis=self.axis, keepdims=True)) + m
        if self.keepdims:
            return y
        return y.reshape(()) if self.axis is None else y.squeeze(axis=self.axis)

    def backward(self, gy):
        x, = self.xs
        kept = _kept_shape(x.shape, self.axis)
        return reshape(gy, kept) * exp(x - reshape(self.y, kept))


def sum(x, axis=None, keepdims=False):
    """Sum over ``axis`` (all axes by default).

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.ones((2, 3)))
    >>> mg.functions.sum(x, axis=0)
    variable([2., 2., 2.])
    """
    return Sum(axis, keepdims).apply(x)


def mean(x, axis=None, keepdims=False):
    return Mean(axis, keepdims).apply(x)


def max(x, axis=None, keepdims=False):
    return Max(axis, keepdims).apply(x)


def min(x, axis=None, keepdims=False):
    return Min(axis, keepdims).apply(x)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over ``axis`` (all axes by default), without overflow.

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.logsumexp(np.array([[0.0, 0.0], [1000.0, 1000.0]]), axis=1).data.round(4).tolist()
    [0.6931, 1000.6931]
    """
    return LogSumExp(axis, keepdims).apply(x)


def argmax(x, axis=None, keepdims=False):
    """Where the maximum is along ``axis`` (the first one of a tie), as
    numpy's (or cupy's) ``argmax`` gives it: an integer array, or a numpy
    integer for the whole array. An index has no gradient, so nothing is
    recorded: use it to select (``x[i]``) or to score (accuracy).

    >>> import numpy as np, minigrad as mg
    >>> scores = mg.Variable(np.array([[0.1, 2.0, 2.0], [3.0, 0.0, 1.0]]))
    >>> scores.argmax(axis=1), float((scores.argmax(axis=1) == np.array([1, 2])).mean())
    (array([1, 0]), 0.5)
    """
    return array_of(x).argmax(axis=axis, keepdims=keepdims)


class ArgmaxIds(Function):
    """argmax along ``axis`` as an operation: integer ids, no gradient. Made
    by an operation, the ids are recomputed whenever the operation runs again,
    as a compiled replay runs it (see :func:`argmax_ids`)."""

    saves_inputs = False
    drawn = ("axis",)

    def __init__(self, axis, keepdims):
        self.axis, self.keepdims = axis, keepdims

    def forward(self, x):
        return x.argmax(axis=self.axis, keepdims=self.keepdims)

    def backward(self, gy):
        return None    # a choice of index: nothing flows back through it


def argmax_ids(x, axis=-1, keepdims=False):
    """The ids of the best scores along ``axis``, as a Variable that an
    operation made (:func:`argmax` gives a plain array). A greedy decoder
    feeds them to the next step's Embedding: made by an operation, they are
    part of a compiled step's recording, so a replay picks them afresh from
    each call's scores instead of reusing the recorded call's ids.

    >>> import numpy as np, minigrad as mg
    >>> ids = mg.functions.argmax_ids(np.array([[0.1, 2.0, 0.3], [3.0, 0.0, 1.0]]), keepdims=True)
    >>> ids.data.tolist()
    [[1], [0]]
    """
    return ArgmaxIds(axis, keepdims).apply(x)


def argmin(x, axis=None, keepdims=False):
    """Where the minimum is along ``axis`` (the first of a tie), with no
    gradient (see :func:`argmax`)."""
    return array_of(x).argmin(axis=axis, keepdims=keepdims)
