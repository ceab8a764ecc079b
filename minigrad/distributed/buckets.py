"""Gradient buckets: the dense gradients live in the buffers that are averaged.

A :class:`Buckets` holds flat buffers (per dtype and device, cut at
``bucket_bytes``) for the parameters whose gradients are dense, and lends
each Parameter its region of a buffer as its ``home``. The backward pass
copies each parameter's gradient into its home (minigrad/core/gradients.py),
so when the optimizer averages, the buffers already hold every gradient:
each is scaled by this rank's share and reduced in place, and each ``.grad``
is then the mean. No pass packs the gradients into the buffer and none
unpacks the mean, as with PyTorch's ``gradient_as_bucket_view``.

Which parameters have dense gradients is learned from a step (the first
averages through a copy into the new buffers); an embedding with
``sparse=True`` stays out. A gradient that did not arrive home (a second
backward added into ``.grad``, a gradient set by hand, a parameter that is not
a Parameter) is copied in before the exchange, so the result is the same.

**Overlap.** The parameters are laid out in reverse order (the backward pass
finishes the last layers first), so the buckets fill in the order the
backward pass completes them. With overlap, the Buckets is the engine's
``watch``: it learns from one backward pass how many gradients each
parameter gets, and in the next passes the engine tells it when a
parameter's gradient is complete. A bucket whose gradients are all complete
is scaled and its non-blocking Allreduce started at once (in bucket order,
the same on every rank), MPI is given a chance to progress between
operations, and the optimizer waits for the requests just before its update.

One consequence for code that keeps gradients: the next backward writes into
the same arrays, so a ``.grad`` kept across steps changes; copy it to keep it.
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..core import gradients as engine
from ..core.sparse import SparseRows
from ..core.variable import Variable

__all__ = ["Buckets", "DEFAULT_BUCKET_BYTES"]

# The size at which the buffers are cut when the exchange overlaps the
# backward pass (one buffer per dtype otherwise). Chosen by
# benchmarks/distributed.py (the exchange section of
# benchmarks/results/distributed-shared.md): on 2 ranks over shared memory
# BetterRnnlm's overlapped step took 1.50x the one-process speed in buckets
# of 16 MiB, 1.35x in 4 MiB, 0.82x in 1 MiB (1.54x without overlap); Open
# MPI's non-blocking Allreduce moves data only when it is called, and many
# small ones cost more than they hide.
DEFAULT_BUCKET_BYTES = 16 << 20


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
        self.waiting = len(params)      # gradients not yet complete in this pass
        self.requests = None            # the Allreduce in flight, once started

    def fill(self):
        """Bring every gradient into its home: one that arrived there stays;
        a dense one elsewhere is copied in; a parameter without a gradient on
        this rank contributes zeros, and sparse rows (where another rank's
        gradient is dense) their rows over zeros."""
        for p, home in zip(self.params, self.homes):
            g = p.grad
            if isinstance(g, SparseRows):
                home.fill(0)
                backend.scatter_add(home, g.indices, g.rows)
            elif g is None:
                home.fill(0)
            elif g.data is not home:
                home[...] = g.data

    def settle(self):
        """After the exchange: every ``.grad`` is its home."""
        for p, home in zip(self.params, self.homes):
            if getattr(p.grad, "data", None) is not home:     # None or sparse rows
                p.grad = Variable(home, requires_grad=False)
        self.waiting, self.requests = len(self.params), None


class Buckets:
    """Buffers for ``params`` (the ones with dense gradients), laid out in
    reverse order, grouped by dtype and device, cut after ``bucket_bytes``
    (None: one buffer per group); each Parameter gets its ``home``."""

    def __init__(self, params, bucket_bytes=None):
        self.params = list(params)      # held, so that the ids in the key stay theirs
        self.key = _key(self.params)
        self.bucket_bytes = bucket_bytes
        groups = {}
        for p in reversed(self.params):
            kind = (backend.get_array_module(p.data).__name__, np.dtype(p.dtype).str)
            groups.setdefault(kind, []).append(p)
        self.buckets = [Bucket(part) for group in groups.values()
                        for part in _cut(group, bucket_bytes)]
        self.bucket_of = {}
        for bucket in self.buckets:
            for p, home in zip(bucket.params, bucket.homes):
                _lend(p, home)
                self.bucket_of[p] = bucket
        self.expected = {}      # the engine's watch: see overlap()
        self.started = 0        # buckets started in this pass, in order
        self.started_early = 0  # of all passes, the buckets started during the backward pass
        self._start = None

    def fits(self, params) -> bool:
        """True if these are still the parameters (and shapes, dtypes, devices)."""
        return _key(params) == self.key

    def release(self):
        """Take the homes back (later gradients go to fresh arrays) and stop watching."""
        for bucket in self.buckets:
            for p, home in zip(bucket.params, bucket.homes):
                if getattr(p, "home", None) is home:
                    _lend(p, None)
        if engine.watch is self:
            engine.watch = None
        self._start = None

    def reduce(self, start, wait):
        """Average every bucket: ``start(bucket)`` scales it and starts (or
        completes) its exchange, after it is filled; ``wait(requests)``
        completes one. (``start`` None: every bucket is started already.)"""
        self.flush(start)
        for bucket in self.buckets:
            if bucket.requests:
                wait(bucket.requests)
            bucket.settle()
        self.started = 0

    def flush(self, start):
        """Start every bucket not started yet, in order."""
        for bucket in self.buckets[self.started:]:
            bucket.fill()
            bucket.requests = start(bucket) or ()
        self.started = len(self.buckets)

    # ------------------------------------------------------------ the engine's watch
    @property
    def overlapping(self) -> bool:
        return self._start is not None

    def overlap(self, start, test):
        """Start each bucket's exchange as soon as the backward pass completes
        it: ``start(bucket)`` as in :meth:`reduce`, ``test(requests)`` lets
        MPI progress. The first pass learns how many gradients each
        parameter gets."""
        self._start, self._test = start, test
        self.expected = {p: 0 for p in self.params}
        engine.watch = self

    def ready(self, p):
        bucket = self.bucket_of[p]
        bucket.waiting -= 1
        while self.started < len(self.buckets) and self.buckets[self.started].waiting == 0:
            ready = self.buckets[self.started]
            ready.requests = self._start(ready) or ()
            self.started += 1
            self.started_early += 1

    def between(self):
        if self.started:
            for bucket in self.buckets[:self.started]:
                if bucket.requests:
                    self._test(bucket.requests)

    def finished(self, arrivals):
        for p, n in self.expected.items():
            if n == 0:
                self.expected[p] = max(arrivals.get(p, 0), 0)


def _cut(params, bucket_bytes):
    """``params`` in runs of about ``bucket_bytes`` (a run ends after the
    parameter that reaches it)."""
    if bucket_bytes is None:
        return [params]
    runs, run, size = [], [], 0
    for p in params:
        run.append(p)
        size += p.data.nbytes
        if size >= bucket_bytes:
            runs.append(run)
            run, size = [], 0
    return runs + ([run] if run else [])


def _lend(p, home):
    try:
        p.home = home
    except AttributeError:      # a plain Variable has no home: its gradient is copied in
        pass


def _key(params):
    return [(id(p), tuple(p.shape), np.dtype(p.dtype).str,
             backend.get_array_module(p.data).__name__) for p in params]
