"""The gradients of one backward pass: where they wait, how they add up, and
how they end in ``.grad`` without sharing memory.

Waiting. A gradient for a Variable waits here until the Variable's creator
runs its backward, which takes it (``take``). What is left at the end waits at
leaves, and is stored into their ``.grad`` (``finish``).

Adding up. A Variable used several times gets several gradients. The second
one makes a new array, the sum; from the third on, gradients are added into
that sum in place (the speed switch ``IN_PLACE_SUMS``), since the engine made
it and nothing else holds it. Ownership is explicit: the engine owns exactly
the sums it made, until it hands one to a backward (which may pass it on to
several inputs, as Add does). Sparse rows (sparse.py) add into a dense sum
row by row.

No aliasing. At the end the only places holding gradient arrays are the
leaves' ``.grad`` (and retained ones). A gradient is copied there unless the
engine owns it or it is a fresh, writeable array that no other ``.grad`` and
no caller-supplied seed shares. So two parameters never share one gradient
array (Add returns ``gy`` twice), and a ``.grad`` is never a read-only
broadcast view.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import DTypeError, GraphError, ShapeError
from .engine_ops import astype
from .sparse import SparseRows
from .variable import Variable

# Speed switch: add later gradients into the engine's own sum (measured on
# the per-op chain with fan-out, benchmarks/engine_overhead.py). Off, every
# sum is a new array; the results are the same, bit for bit.
IN_PLACE_SUMS = True

# A watch over some leaves' gradients (minigrad.distributed sets one to start
# averaging a bucket of gradients while the backward pass goes on), or None.
# ``watch.expected``: {leaf: how many gradients it gets in a pass; 0 while
# that is learned}; ``watch.ready(leaf)`` when one is complete and stored at
# its home; ``watch.between()`` between operations; ``watch.finished(counts)``
# at the end of a pass. Ordinary passes only: create_graph and grad() leave
# ``.grad`` alone.
watch = None


class Gradients:
    def __init__(self, create_graph: bool, capture: dict | None):
        self.create_graph = create_graph
        self.capture = capture  # grad(): Variable -> its gradient, instead of .grad
        self.pending = {}       # Variable -> gradient waiting for that Variable's creator
        self.owned = {}         # id -> a sum this pass made (safe to add into in place)
        self.retained = []      # (Variable, gradient) of retain_grad() Variables
        self.seeds = []         # gradients the caller supplied: never stored uncopied
        self.watch = watch if not create_graph and capture is None else None
        self.arrivals = {}      # watched leaf -> gradients so far (-1: complete, stored)
        if self.watch is not None:     # the unwatched pass keeps the plain methods
            self.add, self.take = self._add_watched, self._take_watched

    def seed(self, y, g):
        """The starting gradient dL/dy (ones for a single-element output)."""
        if not isinstance(y, Variable):
            raise TypeError(f"backward: expected Variables, got {type(y).__name__}")
        if y.data.dtype.kind not in "fc":
            raise DTypeError(f"backward: the output has dtype {y.data.dtype}; gradients need a "
                             "floating-point output")
        if not y.requires_grad:
            raise GraphError(
                "backward: this output does not require a gradient: it was computed under "
                "no_grad(), only from constants (arrays and Variables with requires_grad=False), "
                "or through an integer or boolean value (astype to int, comparisons), which "
                "carries no gradient and cuts the graph there")
        if g is None:
            if y.data.size != 1:
                raise GraphError(
                    f"backward: the output has shape {y.shape}, not a single element; pass the "
                    "seed gradient explicitly, e.g. y.backward(np.ones_like(y.data)), or reduce "
                    "it first, e.g. y.sum().backward()")
            g = backend.get_array_module(y.data).ones_like(y.data)
            return Variable(g, requires_grad=False) if self.create_graph else g
        # A Variable seed in create_graph mode stays a Variable: a seed computed from
        # other Variables is then part of the gradient's graph (a fused operation's
        # create_graph backward relies on it).
        keep_graph = self.create_graph and isinstance(g, Variable)
        if not keep_graph:
            g = g.data if isinstance(g, Variable) else backend.as_array(g, y.data)
        if g.shape != y.shape:
            raise ShapeError(f"backward: the seed gradient has shape {g.shape} but the output "
                             f"has shape {y.shape}; they must match")
        if g.dtype != y.data.dtype:
            g = astype(g, y.data.dtype) if keep_graph else g.astype(y.data.dtype)
        if self.create_graph and not keep_graph:
            g = Variable(g, requires_grad=False)
        self.seeds.append(g)   # the caller's: never stored in a .grad uncopied
        return g

    def add(self, x, g):
        """One more gradient for ``x``."""
        old = self.pending.get(x)
        if old is None:
            self.pending[x] = g
        elif IN_PLACE_SUMS and id(old) in self.owned:
            if type(g) is SparseRows:
                backend.scatter_add(old, g.indices, g.rows)
            else:
                old += g
        else:
            total = _sum_at_home(x, old, g) if self.capture is None else None
            if total is None:
                total = old + g
            if isinstance(total, np.generic):
                total = np.asarray(total)   # a 0-d sum comes back as a numpy scalar
            if type(total) is np.ndarray:
                self.owned[id(total)] = total
            self.pending[x] = total

    def _add_watched(self, x, g):
        """``add``, then count a gradient of a watched leaf; the last one it
        had in the pass the count was learned from completes it: stored at
        its home now, and the watch told."""
        Gradients.add(self, x, g)
        expected = self.watch.expected.get(x)
        if expected is None:
            return
        n = self.arrivals.get(x, 0)
        if n < 0:
            raise GraphError(
                f"backward: a parameter of shape {x.shape} got a gradient after the "
                f"{expected} it got in the step its count was learned from, and its "
                f"average over the ranks had started: the graph differs from step to step. "
                f"Build the DistributedOptimizer with overlap=False")
        n += 1
        if n == expected and x.grad is None:
            g = self.pending.pop(x)
            if _stored_at_home(x, g):
                self.owned.pop(id(g), None)
                self.arrivals[x] = -1
                self.watch.ready(x)
                return
            self.pending[x] = g
        self.arrivals[x] = n

    def take(self, f, outs):
        """The gradients waiting for ``outs``, the outputs of ``f`` (None for
        one that is gone), handed over to its backward; zeros for an output
        that got none, when there are several."""
        gys = []
        for out in outs:
            g = None if out is None else self.pending.pop(out, None)
            if g is not None:
                if self.owned:
                    self.owned.pop(id(g), None)   # backward may pass it on: no longer ours
                if self.capture is not None:
                    if out in self.capture:
                        self.capture[out] = g
                elif out._retain:
                    self.retained.append((out, g))
            gys.append(g)
        return _fill_missing(f, gys, self.create_graph) if len(gys) > 1 else gys

    def _take_watched(self, f, outs):
        self.watch.between()            # between operations: MPI may progress
        return Gradients.take(self, f, outs)

    def finish(self):
        """Store what waits at leaves (and retained gradients) into ``.grad``,
        or, for grad(), into the capture dict."""
        if self.capture is not None:
            for x, g in self.pending.items():
                if x in self.capture:
                    self.capture[x] = g
            found = list(self.capture.values())
            shared = _shared_ids(found, ())
            for x, g in self.capture.items():
                if g is not None:
                    self.capture[x] = _as_grad_variable(_unshared(g, shared, self.owned))
            return
        finished = list(self.pending.items()) + self.retained
        shared = _shared_ids([g for _, g in finished], self.seeds)
        for x, g in finished:
            # only a Parameter has the attribute; read here, not in a call, for the others
            if getattr(x, "home", None) is not None and x.grad is None and _stored_at_home(x, g):
                continue
            self.store(x, _unshared(g, shared, self.owned))
        if self.watch is not None:
            del self.add, self.take     # the bound methods would keep this pass alive
            self.watch.finished(self.arrivals)

    def store(self, x, g):
        """Accumulate ``g`` into ``x.grad`` (a compiled step notes each store)."""
        _store(x, g)


def _shared_ids(grads, seeds) -> set:
    """ids of gradient objects that more than one place would hold."""
    seen, shared = set(), {id(s) for s in seeds}
    for g in grads:
        if g is None:
            continue
        key = id(g)
        if key in seen:
            shared.add(key)
        seen.add(key)
    return shared


def _unshared(g, shared, owned):
    """``g`` itself if nothing else can see it, else a copy."""
    key = id(g)
    if key in owned:
        return g
    data = g.data if isinstance(g, Variable) else g
    if key not in shared and backend.owns_exclusively(data):
        return g
    return g.copy()


def _as_grad_variable(g):
    """A gradient as ``.grad`` holds it: a Variable, or sparse rows as they are."""
    if isinstance(g, (Variable, SparseRows)):
        return g
    return Variable(g, requires_grad=False)


def _stored_at_home(x, g) -> bool:
    """Copy a dense gradient into ``x``'s home, if it has one that fits, and
    make ``.grad`` a Variable over it. Sparse rows, a Variable (create_graph)
    or a gradient of another device, shape or dtype keeps the usual path."""
    home = getattr(x, "home", None)
    if home is None or type(g) is not type(home) or g.shape != home.shape \
            or g.dtype != home.dtype:
        return False
    if g is not home:                     # a sum may have been made there already
        home[...] = g
    x.grad = Variable(home, requires_grad=False)
    return True


def _sum_at_home(x, old, g):
    """The sum of two gradients of ``x`` made in its home, if it has one that
    fits and its ``.grad`` is empty (later gradients are then added into it in
    place, as into any sum the engine owns); else None. Two sparse rows stay
    sparse rows (None); dense plus sparse is the dense copied in and the rows
    added, as SparseRows' own ``+`` does."""
    home = getattr(x, "home", None)
    if home is None or x.grad is not None:
        return None
    dense, rows = (g, old) if type(old) is SparseRows else (old, g)
    if type(dense) is not type(home) or dense.shape != home.shape or dense.dtype != home.dtype:
        return None
    if type(rows) is SparseRows:
        if rows.rows.dtype != home.dtype:
            return None
        home[...] = dense
        return backend.scatter_add(home, rows.indices, rows.rows)
    if type(rows) is not type(home) or rows.shape != home.shape or rows.dtype != home.dtype:
        return None
    return backend.get_array_module(home).add(dense, rows, out=home)


def _store(x, g):
    """Accumulate a finished gradient into ``x.grad``, out of place: the old
    ``.grad`` may be held by the caller."""
    g = _as_grad_variable(g)
    old = x.grad
    if old is None:
        x.grad = g
    elif isinstance(old, Variable) and isinstance(g, Variable) and (
            old.creator is not None or g.creator is not None):
        x.grad = old + g   # create_graph: the sum is recorded too
    else:
        x.grad = _as_grad_variable(_raw(old) + _raw(g))


def _raw(g):
    return g.data if isinstance(g, Variable) else g


def _fill_missing(f, gys, create_graph):
    """Zeros for the outputs of a multi-output operation that got no gradient."""
    xp = backend.get_array_module(*[g.data if isinstance(g, Variable) else g
                                    for g in gys if g is not None])
    filled = []
    for (shape, dtype), g in zip(f.output_specs, gys):
        if g is None:
            g = xp.zeros(shape, dtype=dtype)
            if create_graph:
                g = Variable(g, requires_grad=False)
        filled.append(g)
    return filled
