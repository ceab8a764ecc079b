"""Gradient buckets: the dense gradients live in the buffers that are averaged.

A :class:`Buckets` holds one flat buffer per dtype (and device) for the
parameters whose gradients are dense, and lends each Parameter its region of
the buffer as its ``home``. The backward pass copies each parameter's fresh
gradient into its home (minigrad/core/gradients.py), so when the optimizer
averages, the buffer already holds every gradient: it is scaled by this
rank's share and reduced in place, and each ``.grad`` is then the mean. No
pass packs the gradients into the buffer and none unpacks the mean, as with
PyTorch's ``gradient_as_bucket_view``.

Which parameters have dense gradients is learned from a step (the first
averages through a copy into the new buffers); an embedding with
``sparse=True`` stays out. A gradient that did not arrive home (a second
backward added into ``.grad``, a gradient set by hand, a parameter that is not
a Parameter) is copied in before the exchange, so the result is the same.

One consequence for code that keeps gradients: the next backward writes into
the same arrays, so a ``.grad`` kept across steps changes; copy it to keep it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..core.sparse import SparseRows
from ..core.variable import Variable

__all__ = ["Buckets"]


class Bucket:
    """One flat buffer and the parameters whose homes are regions of it."""

    def __init__(self, params):
        first = params[0].data
        xp = backend.get_array_module(first)
        self.params = params
        self.buffer = xp.zeros(sum(p.data.size for p in params), dtype=first.dtype)
        self.homes, start = [], 0
        for p in params:
            n = math.prod(p.shape)
            self.homes.append(self.buffer[start:start + n].reshape(p.shape))
            start += n


class Buckets:
    """Buffers for ``params`` (the ones with dense gradients, in order),
    grouped by dtype and device; each Parameter gets its ``home``."""

    def __init__(self, params):
        self.params = list(params)      # held, so that the ids in the key stay theirs
        self.key = _key(self.params)
        groups = {}
        for p in self.params:
            kind = (backend.get_array_module(p.data).__name__, np.dtype(p.dtype).str)
            groups.setdefault(kind, []).append(p)
        self.buckets = [Bucket(group) for group in groups.values()]
        for bucket in self.buckets:
            for p, home in zip(bucket.params, bucket.homes):
                _lend(p, home)

    def fits(self, params) -> bool:
        """True if these are still the parameters (and shapes, dtypes, devices)."""
        return _key(params) == self.key

    def release(self):
        """Take the homes back: later gradients go to fresh arrays again."""
        for bucket in self.buckets:
            for p, home in zip(bucket.params, bucket.homes):
                if getattr(p, "home", None) is home:
                    _lend(p, None)

    def fill(self, bucket):
        """Bring every gradient of ``bucket`` into its home: one that arrived
        there stays; a dense one elsewhere is copied in; a parameter without a
        gradient on this rank contributes zeros, and sparse rows (where another
        rank's gradient is dense) their rows over zeros."""
        for p, home in zip(bucket.params, bucket.homes):
            g = p.grad
            if isinstance(g, SparseRows):
                home.fill(0)
                backend.scatter_add(home, g.indices, g.rows)
            elif g is None:
                home.fill(0)
            elif g.data is not home:
                home[...] = g.data

    @staticmethod
    def settle(bucket):
        """After the exchange: every ``.grad`` of ``bucket`` is its home."""
        for p, home in zip(bucket.params, bucket.homes):
            if getattr(p.grad, "data", None) is not home:     # None or sparse rows
                p.grad = Variable(home, requires_grad=False)


def _lend(p, home):
    try:
        p.home = home
    except AttributeError:      # a plain Variable has no home: its gradient is copied in
        pass


def _key(params):
    return [(id(p), tuple(p.shape), np.dtype(p.dtype).str,
             backend.get_array_module(p.data).__name__) for p in params]
