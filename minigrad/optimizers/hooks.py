"""Gradient hooks: ``optimizer.add_hook(hook)`` runs ``hook(params)`` on the
parameters that have a gradient, before each update. Sparse gradients
(SparseRows) arrive coalesced (each row once); where the optimizer applies the
dense rule (``lazy=False``) they arrive as dense arrays, unless the hook says
``exact_on_rows = True``.

They change gradients in place. That is safe because the engine never lets two
parameters share one gradient array and never leaves a read-only one, and an
optimizer lists a tied parameter once: each hook acts once per parameter.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..compiled import replayed
from ..core.sparse import SparseRows
from ..core.variable import Variable


def _values(grad):
    """The gradient's numbers: a dense array, or the rows of a (coalesced)
    SparseRows, whose indices are unique so its norm is the dense norm."""
    return grad.rows if isinstance(grad, SparseRows) else grad.data


# The squares of a gradient are summed in blocks of rows, each block by one
# BLAS call of at most this many elements, and the global norm adds the block
# sums one after another in float64. A rank that holds whole blocks of a
# parameter (a sharded optimizer) computes the very same block sums, so its
# norm is the one-process norm, bit for bit.
NORM_BLOCK = 1 << 14


def block_rows(shape) -> int:
    """How many rows (of the first axis) one block of a gradient of ``shape`` has.

    >>> block_rows((10_000, 650)), block_rows((650,)), block_rows(())
    (25, 16384, 16384)
    """
    row = math.prod(shape[1:]) if len(shape) > 1 else 1
    return max(1, NORM_BLOCK // max(row, 1))


def block_count(shape) -> int:
    """The number of blocks of a gradient of ``shape`` (a 0-d one is one row)."""
    rows = shape[0] if len(shape) else 1
    return -(-rows // block_rows(shape))


def block_sums(grad, shape=None):
    """The sum of squares of each block of ``grad`` (a dense array, or a
    coalesced SparseRows, whose sorted rows fall into the blocks of the
    table), as float64 numbers: one per block of a gradient of ``shape``
    (default: ``grad``'s), zero for a block without rows."""
    shape = tuple(grad.shape if shape is None else shape)
    step, count = block_rows(shape), block_count(shape)
    if isinstance(grad, SparseRows):
        xp = backend.get_array_module(grad.rows)
        flat = grad.rows.reshape(grad.rows.shape[0], -1)
        cuts = backend.as_numpy(xp.searchsorted(grad.indices, xp.arange(count + 1) * step))
        pieces = [(b, flat[cuts[b]:cuts[b + 1]]) for b in range(count) if cuts[b + 1] > cuts[b]]
    else:
        data = grad.data if isinstance(grad, Variable) else grad
        xp = backend.get_array_module(data)
        flat = data.reshape(max(data.shape[0], 1) if data.ndim else 1, -1)
        pieces = [(b, flat[b * step:(b + 1) * step]) for b in range(count)]
    out = np.zeros(count, dtype=np.float64)
    if pieces:
        # One transfer for all blocks when the gradient is on a GPU.
        sums = xp.stack([xp.vdot(rows.ravel(), rows.ravel()).real for _, rows in pieces])
        out[[b for b, _ in pieces]] = backend.as_numpy(sums)
    return out


def add_in_order(values) -> float:
    """The float64 sum of ``values``, added one after another from the first:
    one definition of the order, which the sharded optimizer repeats."""
    total = 0.0
    for v in np.asarray(values, dtype=np.float64).tolist():
        total += v
    return total


class ClipGradNorm:
    """Scale all gradients together so that their global L2 norm is at most
    ``max_norm`` (the book's ``clip_grads``)::

        norm = sqrt(sum of g * g over every element of every gradient)
        rate = max_norm / (norm + 1e-6)
        if rate < 1: every g *= rate

    The norm before clipping is kept in ``last_norm`` (handy for logging).
    The squares are summed in blocks of rows (:func:`block_sums`), so that a
    sharded optimizer, each rank holding some blocks, finds the same norm.
    """

    # A coalesced sparse gradient's rows have the dense gradient's norm, and
    # scaling them scales it: no dense array needed (see Optimizer.add_hook).
    exact_on_rows = True

    def __init__(self, max_norm: float):
        self.max_norm = float(max_norm)
        self.last_norm = None

    @replayed   # called in a compiled step by hand, it runs again on every replay
    def __call__(self, params):
        sums = [block_sums(p.grad) for p in params]
        self.clip_to(params, add_in_order(np.concatenate(sums) if sums else []))

    def clip_to(self, params, sum_of_squares: float):
        """Scale the gradients of ``params`` for a global sum of squares
        ``sum_of_squares`` (all gradients', of which these may be a part)."""
        self.last_norm = math.sqrt(sum_of_squares)
        rate = self.max_norm / (self.last_norm + 1e-6)
        if rate < 1:
            for p in params:
                _values(p.grad)[...] *= rate

    def __repr__(self):
        return f"ClipGradNorm(max_norm={self.max_norm!r})"


class WeightDecay:
    """L2 weight decay added to the gradient: ``g += rate * p``.

    Every row of a sparse gradient's table decays, as in the dense rule,
    unless the optimizer is lazy: then only the rows looked up this step."""

    # Each element's new gradient needs only its own gradient and weight: a
    # sharded optimizer may run it on each rank's slice of the parameters.
    elementwise = True

    def __init__(self, rate: float):
        self.rate = float(rate)

    @replayed
    def __call__(self, params):
        for p in params:
            g = p.grad
            if isinstance(g, SparseRows):
                # Lazy, like the sparse update: only the rows looked up this step decay.
                g.rows += self.rate * p.data[g.indices]
            else:
                g.data += self.rate * p.data

    def __repr__(self):
        return f"WeightDecay(rate={self.rate!r})"
