"""The backward pass: ordering, accumulation, freeing.

Ordering. An operation's generation is its newest input's, and its outputs'
are one above. A heap
keyed on generation pops the newest operation first; an operation is pushed
once, the first time one of its outputs receives a gradient, and by the time it
is popped every consumer of its outputs has been processed (they all have a
higher generation). No recursion, and each node costs O(log width), so a chain
of 10**6 operations and a fan-in of 16,000 branches are both fine.

Accumulation. Gradients waiting for their Variable's creator sit in a dict.
When a second gradient arrives the sum is a fresh array the engine owns, so
further gradients are added into it in place. Ownership ends when the sum is
handed to a backward (which may pass it on to several inputs, as Add does).

No aliasing. At the end of the pass the only places still holding gradient
arrays are the leaves' ``.grad`` (and retained ones). A gradient is copied
there unless the engine owns it or it is a fresh, writeable array that no other
``.grad`` and no caller-supplied seed shares. So two parameters never share one
gradient array (Add returns ``gy`` twice), and a ``.grad`` is never a read-only
broadcast view.

Freeing. With ``retain_graph=False`` each operation drops its saved arrays right
after its backward, which also lifts their read-only guard. The graph's
structure (and so every intermediate Variable with its data) stays until the
output is dropped, so that the graph can still be drawn with its gradients:
``del loss`` (or ``loss.unchain_backward()``) before the next forward keeps
peak memory at one graph.
"""
from __future__ import annotations

import sys
from heapq import heappop, heappush

import numpy as np

from .. import backend
from ..errors import DTypeError, GraphError, ShapeError
from .anomaly import check_backward
from .config import state
from .engine_ops import astype, sum_to
from .sparse import SparseRows
from .variable import Variable, _make


def backward(self, grad=None, retain_graph: bool | None = None, create_graph: bool = False):
    """Backpropagate from this Variable, accumulating into the leaves' ``grad``.

    ``grad`` is the seed dL/dself; it may be omitted only for a single-element
    output. ``create_graph=True`` records the backward computation itself, so
    the gradients are differentiable (higher-order derivatives); it implies
    ``retain_graph=True`` unless told otherwise, since the gradient's graph
    reaches back into the forward graph.

    (``Variable.backward``: it is defined here, beside the pass it starts.)
    """
    if retain_graph is None:
        retain_graph = create_graph
    _run((self,), (grad,), retain_graph, create_graph, capture=None)


Variable.backward = backward


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False):
    """Gradients of ``outputs`` with respect to ``inputs``, returned instead of
    accumulated into ``.grad`` (which is left untouched).

    ``inputs`` may be intermediate Variables too. A Variable that ``outputs`` do
    not depend on gets None.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.array(3.0))
    >>> y = x ** 3
    >>> gx, = mg.grad(y, [x], create_graph=True)
    >>> ggx, = mg.grad(gx, [x])
    >>> float(gx.data), float(ggx.data)
    (27.0, 18.0)
    """
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    capture = {x: None for x in inputs}
    _run(outputs, _as_tuple(grad_outputs), retain_graph, create_graph, capture)
    found = [capture[x] for x in inputs]
    shared = _shared_ids(found, ())
    return tuple(None if g is None else _as_grad_variable(_finished(g, shared, ())) for g in found)


def _as_grad_variable(g):
    if type(g) is np.ndarray:
        return _make(g, False)  # the common case: no Variable.__init__ conversions
    if isinstance(g, (Variable, SparseRows)):
        return g
    return Variable(g, requires_grad=False)


def _as_tuple(x):
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


def _seed(y, g, create_graph):
    """The starting gradient dL/dy, and whether the caller supplied it."""
    if g is None:
        if y.data.size != 1:
            raise GraphError(
                f"backward: the output has shape {y.shape}, not a single element; pass the "
                "seed gradient explicitly, e.g. y.backward(np.ones_like(y.data)), or reduce "
                "it first, e.g. y.sum().backward()")
        g = backend.get_array_module(y.data).ones_like(y.data)
        user = False
    else:
        user = True
        # A Variable seed in create_graph mode stays a Variable: a seed computed
        # from other Variables is then part of the gradient's graph (a fused
        # operation's create_graph backward relies on it).
        keep_graph = create_graph and isinstance(g, Variable)
        if not keep_graph:
            g = g.data if isinstance(g, Variable) else backend.as_array(g, y.data)
        if g.shape != y.shape:
            raise ShapeError(f"backward: the seed gradient has shape {g.shape} but the output "
                             f"has shape {y.shape}; they must match")
        if g.dtype != y.data.dtype:
            g = g.astype(y.data.dtype)
        if keep_graph:
            return g, user
    if create_graph:
        g = Variable(g, requires_grad=False)
    return g, user


def _run(outputs, seeds, retain_graph, create_graph, capture):
    if len(seeds) != len(outputs):
        raise GraphError(f"backward: {len(outputs)} outputs but {len(seeds)} seed gradients")
    pending = {}      # Variable -> gradient waiting for that Variable's creator
    owned = {}        # id -> sum the engine made itself (safe to add into in place)
    retained = []     # (Variable, gradient) finished during the pass
    user_seeds = []
    heap = []
    seen = set()
    order = 0
    for y, g in zip(outputs, seeds):
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
        g, user = _seed(y, g, create_graph)
        if user:
            user_seeds.append(g)
        _accumulate(pending, owned, y, g, create_graph)
        f = y.creator
        if f is not None and f not in seen:
            seen.add(f)
            heappush(heap, (-f.generation, order, f, y))
            order += 1

    saved_flags = (state.raw_backward, state.enable_backprop)
    state.raw_backward = not create_graph
    state.enable_backprop = create_graph
    anomaly_mode = state.detect_anomaly   # read once: no switch can change it mid-pass
    f = None          # the operation to run next when it need not wait in the heap,
    out = None        # and the output it was reached through
    try:
        while f is not None or heap:
            if f is None:
                _, _, f, out = heappop(heap)
            if f._released:
                raise GraphError(
                    f"backward: the graph through {f.name} was already freed by an earlier "
                    "backward; call that backward with retain_graph=True to backprop twice")
            outs = (out,) if f.outputs is None else [ref() for ref in f.outputs]
            gys = _output_grads(f, outs, pending, owned, retained, capture, create_graph)
            if create_graph:
                gxs = _graph_backward(f, outs, gys)
            else:
                gxs = f.backward(*gys)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if anomaly_mode:
                check_backward(f, gys, gxs)
            inputs = f.inputs
            if len(gxs) != len(inputs):
                raise GraphError(f"{f.name}.backward returned {len(gxs)} gradients for "
                                 f"{len(inputs)} inputs")
            found = via = None  # the first new creator reached, through input `via`
            for i in range(len(inputs)):
                x, gx = inputs[i], gxs[i]
                if gx is None or not isinstance(x, Variable) or not x.requires_grad:
                    continue    # (a plain array is a constant)
                gx = _fit(f, i, x, gx, create_graph)
                if x in pending:
                    _accumulate(pending, owned, x, gx, create_graph)
                else:
                    pending[x] = gx
                c = x.creator
                if c is not None and c not in seen:
                    seen.add(c)
                    if found is None:
                        found, via = c, x
                        continue
                    if found is not _MANY:
                        heappush(heap, (-found.generation, order, found, via))
                        order += 1
                        found = _MANY
                    heappush(heap, (-c.generation, order, c, x))
                    order += 1
            if f._saved and not retain_graph:
                f.release()
            f = None
            if found is not None and found is not _MANY:
                # A chain: the one creator found is newer than anything waiting,
                # so the heap would hand it back at once; it runs next, no trip.
                if not heap or found.generation > -heap[0][0]:
                    f, out = found, via
                else:
                    heappush(heap, (-found.generation, order, found, via))
                    order += 1
    finally:
        state.raw_backward, state.enable_backprop = saved_flags

    # What is left in ``pending`` waits at leaves (no creator): finish it.
    if capture is not None:
        for x, g in pending.items():
            if x in capture:
                capture[x] = g
        return
    finished = list(pending.items()) + retained
    shared = _shared_ids([g for _, g in finished], user_seeds)
    for x, g in finished:
        _store(x, _finished(g, shared, owned))


# References to a gradient array that only the engine holds, as counted inside
# _accumulate: the ``pending`` dict, the local ``old``, getrefcount's argument.
_ENGINE_ONLY = 3
_getrefcount = getattr(sys, "getrefcount", None)   # CPython's; elsewhere: never in place


def _accumulate(pending, owned, x, g, create_graph):
    old = pending.get(x)
    if old is None:
        pending[x] = g
    elif create_graph:
        pending[x] = old + g
    elif id(old) in owned or (
            # A fresh array no one else can reach (no other reference, no view
            # of it: a view holds a reference through .base) is the engine's
            # to add into, which saves allocating the sum (measured: the tied
            # (10000, 650) embedding of BetterRnnlm, ~20 ms a step).
            type(old) is np.ndarray and old.base is None and old.flags.writeable
            and _getrefcount is not None and _getrefcount(old) <= _ENGINE_ONLY):
        if type(g) is SparseRows:
            backend.scatter_add(old, g.indices, g.rows)
        else:
            old += g
        owned[id(old)] = old
    else:
        total = old + g
        if type(total) is SparseRows:
            pending[x] = total  # a fresh concatenation, but never added into in place
            return
        if type(total) is not np.ndarray:  # 0-d sums come back as numpy scalars
            total = backend.as_array(total)
        owned[id(total)] = total
        pending[x] = total


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


def _finished(g, shared, owned):
    """``g`` itself if nothing else can see it, else a copy."""
    key = id(g)
    if key in owned:
        return g
    data = g.data if isinstance(g, Variable) else g
    if key not in shared and backend.owns_exclusively(data):
        return g
    return g.copy()


def _store(x, g):
    """Accumulate a finished gradient into ``x.grad``."""
    g = _as_grad_variable(g)
    old = x.grad
    if old is None:
        x.grad = g
    elif isinstance(g, SparseRows) or isinstance(old, SparseRows):
        total = _raw(old) + _raw(g)
        x.grad = total if isinstance(total, SparseRows) else Variable(total, requires_grad=False)
    elif g.creator is None and old.creator is None:
        # Out of place: the old .grad may be held by the caller.
        x.grad = Variable(old.data + g.data, requires_grad=False)
    else:
        x.grad = old + g


def _raw(g):
    return g.data if isinstance(g, Variable) else g


_MANY = object()   # more than one new creator reached: they all wait in the heap
_ndarray = np.ndarray


def _output_grads(f, outs, pending, owned, retained, capture, create_graph):
    """The gradients waiting for ``f``'s outputs ``outs``, taken out of
    ``pending`` (zeros for an output that got none, when there are several)."""
    gys = []
    for out in outs:
        g = None if out is None else pending.pop(out, None)
        if g is not None:
            if owned:
                owned.pop(id(g), None)  # backward may hand it to several inputs: not ours now
            if capture is None:
                if out._retain:
                    retained.append((out, g))
            elif out in capture:
                capture[out] = g
        gys.append(g)
    if len(gys) > 1:
        gys = _fill_missing(f, gys, create_graph)
    return gys


def _graph_backward(f, outs, gys):
    """``f.backward_graph`` with the Variables in place of the saved arrays:
    the inputs in ``f.xs``, the output in ``f.y``, so that what backward
    computes from them is recorded, as the gradient's own graph."""
    d = f.__dict__
    xs, y = d.get("xs"), d.get("y")
    if xs is not None:
        f.xs = f.inputs
    if y is not None:
        out = outs[0]
        f.y = out if out is not None else Variable(y, requires_grad=False)
    try:
        return f.backward_graph(*gys)
    finally:
        if xs is not None:
            f.xs = xs
        if y is not None:
            f.y = y


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


def _fit(f, i, x, gx, create_graph):
    """Bring a gradient to its input's shape and dtype, or explain why not."""
    data = x.data
    if type(gx) is _ndarray and gx.shape == data.shape and (
            gx.dtype is data.dtype or gx.dtype == data.dtype):
        return gx  # the common case, first
    if isinstance(gx, SparseRows):
        if gx.shape != x.data.shape:
            raise ShapeError(f"{f.name}.backward returned sparse rows for a table of shape "
                             f"{gx.shape}, but input {i} has shape {x.data.shape}")
        return gx if gx.dtype == x.data.dtype else gx.astype(x.data.dtype)
    if create_graph:
        if not isinstance(gx, Variable):
            gx = Variable(backend.as_array(gx, x.data), requires_grad=False)
        data = gx.data
    else:
        if isinstance(gx, Variable):
            gx = gx.data
        elif type(gx) is not np.ndarray:
            gx = backend.as_array(gx, x.data)
        data = gx
    if data.shape != x.data.shape:
        if not _sums_to(data.shape, x.data.shape):
            raise ShapeError(
                f"{f.name}.backward returned a gradient of shape {data.shape} for input {i} of "
                f"shape {x.data.shape}; a gradient must have its input's shape (or a shape that "
                "sums down to it)")
        gx = sum_to(gx, x.data.shape)
        data = gx.data if create_graph else gx
    if data.dtype != x.data.dtype:
        # A gradient keeps its Variable's dtype: float64 never creeps into float32 models.
        gx = astype(gx, x.data.dtype)
    return gx


def _sums_to(big, small) -> bool:
    """True if an array of shape ``small`` broadcasts to shape ``big``."""
    if len(small) > len(big):
        return False
    for b, s in zip(big[len(big) - len(small):], small):
        if s != 1 and s != b:
            return False
    return True
