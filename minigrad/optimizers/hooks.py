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

from .. import backend
from ..core.sparse import SparseRows


def _values(grad):
    """The gradient's numbers: a dense array, or the rows of a (coalesced)
    SparseRows, whose indices are unique so its norm is the dense norm."""
    return grad.rows if isinstance(grad, SparseRows) else grad.data


class ClipGradNorm:
    """Scale all gradients together so that their global L2 norm is at most
    ``max_norm`` (the book's ``clip_grads``)::

        norm = sqrt(sum of g * g over every element of every gradient)
        rate = max_norm / (norm + 1e-6)
        if rate < 1: every g *= rate

    The norm before clipping is kept in ``last_norm`` (handy for logging).
    """

    # A coalesced sparse gradient's rows have the dense gradient's norm, and
    # scaling them scales it: no dense array needed (see Optimizer.add_hook).
    exact_on_rows = True

    def __init__(self, max_norm: float):
        self.max_norm = float(max_norm)
        self.last_norm = None

    def __call__(self, params):
        total = 0.0
        for p in params:
            g = _values(p.grad).ravel()
            total += float(backend.get_array_module(g).vdot(g, g).real)
        self.last_norm = math.sqrt(total)
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

    def __init__(self, rate: float):
        self.rate = float(rate)

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
