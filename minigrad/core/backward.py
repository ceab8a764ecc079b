"""The backward pass: ordering, accumulation, freeing.

Ordering. Every operation has a generation one above its newest input. A heap
keyed on generation pops the newest operation first; an operation is pushed
once, the first time one of its outputs receives a gradient, and by the time it
is popped every consumer of its outputs has been processed (they all have a
higher generation). No recursion, and each node costs O(log width), so a chain
of 10**6 operations and a fan-in of 16,000 branches are both fine.

Accumulation. Gradients waiting for their Variable's creator sit in a dict.
When a second gradient arrives, the sum is a fresh array the engine owns, so a
third one is added in place. A gradient array reaching a leaf is copied only if
something else may also hold it: another Variable received the same array (Add
returns ``gy`` twice), the seed came from the user, or the array is a view or
read-only (``broadcast_to``). Two parameters therefore never share one gradient
array, and every ``.grad`` is writeable.

Freeing. With ``retain_graph=False`` each operation drops its saved arrays right
after its backward, which also lifts their read-only guard.
"""
from __future__ import annotations

import heapq

import numpy as np

from .. import backend
from ..errors import DTypeError, GraphError, ShapeError
from .config import state
from .variable import Variable


def backward(outputs, seeds, retain_graph=False, create_graph=False):
    """Backpropagate from ``outputs`` and accumulate into every reached leaf's
    (and every retained Variable's) ``grad``."""
    _run(outputs, seeds, retain_graph, create_graph, capture=None)


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
    return tuple(None if capture[x] is None else _as_variable_copy(capture[x]) for x in inputs)


def _as_variable_copy(g):
    if isinstance(g, Variable):
        return g
    return Variable(g if backend.owns_exclusively(g) else g.copy(), requires_grad=False)


def _as_tuple(x):
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)


class _Pass:
    """The bookkeeping of one backward pass."""

    def __init__(self, create_graph, capture):
        self.create_graph = create_graph
        self.capture = capture
        self.pending = {}   # Variable -> gradient waiting for the Variable's creator
        self.holders = {}   # id(gradient array) -> how many places hold it
        self.owned = set()  # id of sums the engine made itself (safe to add into in place)

    def add(self, x, g):
        """Add gradient ``g`` (already of x's shape and dtype) to ``x``'s pending sum."""
        pending = self.pending
        old = pending.get(x)
        if old is None:
            pending[x] = g
            key = id(g)
            self.holders[key] = self.holders.get(key, 0) + 1
        elif self.create_graph:
            pending[x] = old + g
        elif id(old) in self.owned:
            old += g
        else:
            total = old + g
            if type(total) is not np.ndarray:
                total = backend.as_array(total)
            self.owned.add(id(total))
            self._drop(old)
            pending[x] = total

    def pop(self, y):
        g = self.pending.pop(y, None)
        if g is None:
            return None
        self.owned.discard(id(g))
        if y._retain and self.capture is None:
            _store(y, self.exclusive(g))
        else:
            self._drop(g)
        return g

    def _drop(self, g):
        key = id(g)
        n = self.holders.get(key, 0) - 1
        if n > 0:
            self.holders[key] = n
        else:
            self.holders.pop(key, None)

    def exclusive(self, g):
        """``g`` itself if nothing else can see it, else a copy."""
        data = g.data if isinstance(g, Variable) else g
        if id(g) in self.owned or (self.holders.get(id(g), 0) <= 1 and backend.owns_exclusively(data)):
            return g
        return g.copy()


def _store(x, g):
    """Accumulate a finished gradient into ``x.grad``."""
    if not isinstance(g, Variable):
        g = Variable(g, requires_grad=False)
    if x.grad is None:
        x.grad = g
    elif g.creator is None and x.grad.creator is None:
        # Out of place: the old .grad may be held by the caller.
        x.grad = Variable(x.grad.data + g.data, requires_grad=False)
    else:
        x.grad = x.grad + g


def _seed(y, g, create_graph):
    if y.data.dtype.kind not in "fc":
        raise DTypeError(f"backward: the output has dtype {y.data.dtype}; gradients need a "
                         "floating-point output")
    if g is None:
        if y.data.size != 1:
            raise GraphError(
                f"backward: the output has shape {y.shape}, not a single element; pass the "
                "seed gradient explicitly, e.g. y.backward(np.ones_like(y.data)), or reduce "
                "it first, e.g. y.sum().backward()")
        xp = backend.get_array_module(y.data)
        g = xp.ones_like(y.data)
        user = False
    else:
        user = True
        g = g.data if isinstance(g, Variable) else backend.as_array(g, y.data)
        if g.shape != y.shape:
            raise ShapeError(f"backward: the seed gradient has shape {g.shape} but the output "
                             f"has shape {y.shape}; they must match")
        if g.dtype != y.data.dtype:
            g = g.astype(y.data.dtype)
    if create_graph:
        g = Variable(g, requires_grad=False)
    return g, user


def _run(outputs, seeds, retain_graph, create_graph, capture):
    if len(seeds) != len(outputs):
        raise GraphError(f"backward: {len(outputs)} outputs but {len(seeds)} seed gradients")
    p = _Pass(create_graph, capture)
    heap = []
    seen = set()
    order = 0
    for y, g in zip(outputs, seeds):
        if not isinstance(y, Variable):
            raise TypeError(f"backward: expected Variables, got {type(y).__name__}")
        if not y.requires_grad:
            raise GraphError(
                "backward: this output does not require a gradient: it was computed under "
                "no_grad() or only from constants (arrays and Variables with requires_grad=False)")
        g, user = _seed(y, g, create_graph)
        p.add(y, g)
        if user:  # the caller may still hold the seed: never hand it out as a .grad
            p.holders[id(g)] = p.holders.get(id(g), 0) + 1
        f = y.creator
        if f is not None and f not in seen:
            seen.add(f)
            heapq.heappush(heap, (-f.generation, order, f))
            order += 1

    saved_flags = (state.raw_backward, state.create_graph, state.enable_backprop)
    state.raw_backward = not create_graph
    state.create_graph = create_graph
    state.enable_backprop = create_graph
    try:
        while heap:
            f = heapq.heappop(heap)[2]
            if f._released or f.inputs is None:
                raise GraphError(
                    f"backward: the graph through {f.name} was already freed by an earlier "
                    "backward; call that backward with retain_graph=True to backprop twice")
            gys = []
            for ref in f.outputs:
                out = ref()
                g = p.pop(out) if out is not None else None
                if capture is not None and out in capture and g is not None:
                    capture[out] = g
                gys.append(g)
            if len(gys) > 1:
                gys = _fill_missing(f, gys, create_graph)
            gxs = f.backward(*gys)
            if not isinstance(gxs, tuple):
                gxs = (gxs,)
            inputs = f.inputs
            if len(gxs) != len(inputs):
                raise GraphError(f"{f.name}.backward returned {len(gxs)} gradients for "
                                 f"{len(inputs)} inputs")
            for i, (x, gx) in enumerate(zip(inputs, gxs)):
                if gx is None or not x.requires_grad:
                    continue
                gx = _fit(f, i, x, gx, create_graph)
                p.add(x, gx)
                c = x.creator
                if c is not None and c not in seen:
                    seen.add(c)
                    heapq.heappush(heap, (-c.generation, order, c))
                    order += 1
            if not retain_graph:
                f.release()
    finally:
        state.raw_backward, state.create_graph, state.enable_backprop = saved_flags

    # What is left is waiting at leaves (no creator): finish it.
    for x, g in list(p.pending.items()):
        if capture is not None:
            if x in capture:
                capture[x] = g
            continue
        _store(x, p.exclusive(g))


def _fill_missing(f, gys, create_graph):
    """Zeros for the outputs of a multi-output operation that got no gradient."""
    filled = []
    for ref, g in zip(f.outputs, gys):
        if g is None:
            out = ref()
            shape_src = out.data if out is not None else None
            if shape_src is None:
                raise GraphError(f"{f.name}: an output was freed before backward")
            xp = backend.get_array_module(shape_src)
            g = xp.zeros_like(shape_src)
            if create_graph:
                g = Variable(g, requires_grad=False)
        filled.append(g)
    return filled


def _fit(f, i, x, gx, create_graph):
    """Bring a gradient to its input's shape and dtype, or explain why not."""
    from .. import functions as F

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
        gx = F.sum_to(gx, x.data.shape)
        data = gx.data if create_graph else gx
    if data.dtype != x.data.dtype:
        # A gradient keeps its Variable's dtype: float64 never creeps into float32 models.
        gx = F.astype(gx, x.data.dtype)
    return gx


def _sums_to(big, small) -> bool:
    """True if an array of shape ``small`` broadcasts to shape ``big``."""
    if len(small) > len(big):
        return False
    for b, s in zip(big[len(big) - len(small):], small):
        if s != 1 and s != b:
            return False
    return True
