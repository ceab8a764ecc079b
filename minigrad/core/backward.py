"""The backward pass: which operation runs next, and what it hands on.

Order. An operation's generation is its newest input's, and its outputs' are
one above. The schedule runs the operation of newest generation first: by then
every consumer of its outputs (all of a higher generation) has run, so the
gradients of its outputs are complete. A heap makes each step O(log width), and
a loop replaces recursion, so a chain of 10**6 operations and a fan-in of
16,000 branches are both fine.

Each step: take the gradients waiting for the operation's outputs (gradients.py),
call its ``backward``, bring each input gradient to its input's shape and
dtype (``_fit``: this is where broadcasting is undone), and hand it to the
input, whose creator is then scheduled. With ``retain_graph=False`` the
operation then drops its saved arrays.

Modes. An ordinary backward runs ``backward`` on raw arrays (``state.raw_backward``:
operations called there compute without recording). ``create_graph=True``
records it instead, with Variables in ``self.xs`` and ``self.y``, so the
gradients can be differentiated again.

The graph's structure (and so every intermediate Variable with its data) stays
until the output is dropped, so that it can still be drawn with its gradients:
``del loss`` (or ``loss.unchain_backward()``) before the next forward keeps
only one graph alive at a time.
"""
from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from .. import backend
from ..errors import DTypeError, GraphError, ShapeError
from . import anomaly
from .config import using_config, state
from .engine_ops import astype, sum_to
from .function import Function
from .gradients import Gradients
from .ops import ops
from .sparse import SparseRows
from .variable import Variable

# Speed switch: when an operation's backward reaches exactly the operation the
# heap would return next (a chain), run it without the trip through the heap.
# Off, the order and the results are the same.
CHAIN_SHORTCUT = True


def backward(y, grad=None, retain_graph=None, create_graph=False):
    """``y.backward(...)``: see Variable.backward."""
    if retain_graph is None:
        retain_graph = create_graph
    _run((y,), (grad,), retain_graph, Gradients(create_graph, capture=None))


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
    outputs, inputs = _as_tuple(outputs), _as_tuple(inputs)
    if grad_outputs is None:
        grad_outputs = (None,) * len(outputs)
    if retain_graph is None:
        retain_graph = create_graph
    capture = {x: None for x in inputs}
    _run(outputs, _as_tuple(grad_outputs), retain_graph, Gradients(create_graph, capture))
    return tuple(capture[x] for x in inputs)


ops.register(backward=backward)


def _run(outputs, seeds, retain_graph, grads):
    create_graph = grads.create_graph
    if len(seeds) != len(outputs):
        raise GraphError(f"backward: {len(outputs)} outputs but {len(seeds)} seed gradients")
    schedule = Schedule()
    for y, g in zip(outputs, seeds):
        grads.add(y, _seed(y, g, grads))
        schedule.push(y.creator, y)
    with using_config("raw_backward", not create_graph), \
            using_config("enable_backprop", create_graph):
        for f, out in schedule:
            if f._released:
                raise GraphError(
                    f"backward: the graph through {f.name} was already freed by an earlier "
                    "backward; call that backward with retain_graph=True to backprop twice")
            outs = (out,) if f.outputs is None else [ref() for ref in f.outputs]
            gys = grads.take(outs)
            if len(gys) > 1:
                gys = _fill_missing(f, gys, create_graph)
            gxs = _call_backward(f, outs, gys, create_graph)
            for i, x in enumerate(f.inputs):
                gx = gxs[i]
                if gx is None or not isinstance(x, Variable) or not x.requires_grad:
                    continue    # (a plain array is a constant)
                grads.add(x, _fit(f, i, x, gx, create_graph))
                schedule.push(x.creator, x)
            if f._saved and not retain_graph:
                f.release()
    grads.finish()


class Schedule:
    """The operations waiting for their backward, newest generation first.

    ``push`` adds an operation (once, however often it is reached); iterating
    yields ``(operation, the output it was reached through)``, and may go on
    while more are pushed."""

    def __init__(self):
        self.heap = []
        self.seen = set()
        self.order = 0          # ties in generation pop in push order: deterministic sums
        self.next = None        # the latest push, held out of the heap (CHAIN_SHORTCUT)

    def push(self, f, out):
        if f is None or f in self.seen:
            return
        self.seen.add(f)
        if self.next is not None:
            self._heap_push(self.next)
        self.next = (f, out)
        if not CHAIN_SHORTCUT:
            self._heap_push(self.next)
            self.next = None

    def _heap_push(self, item):
        heappush(self.heap, (-item[0].generation, self.order, item))
        self.order += 1

    def __iter__(self):
        heap = self.heap
        while True:
            item, self.next = self.next, None
            if item is not None:
                if not heap or item[0].generation > -heap[0][0]:
                    yield item
                    continue
                self._heap_push(item)
            if not heap:
                return
            yield heappop(heap)[2]


def _call_backward(f, outs, gys, create_graph):
    """``f``'s input gradients as a tuple, with errors that name ``f``."""
    try:
        gxs = _graph_backward(f, outs, gys) if create_graph else f.backward(*gys)
    except (ValueError, TypeError, IndexError) as e:
        raise f.explain_backward(e, gys) from e
    if type(gxs) is not tuple:
        gxs = (gxs,)
    if len(gxs) != len(f.inputs):
        raise GraphError(f"{f.name}.backward returned {len(gxs)} gradients for "
                         f"{len(f.inputs)} inputs")
    if state.detect_anomaly:
        anomaly.check_backward(f, gys, gxs)
    return gxs


def _graph_backward(f, outs, gys):
    """``f.backward_graph`` with the Variables in place of the saved arrays:
    the inputs in ``f.xs``, the output in ``f.y``, so that what backward
    computes from them is recorded, as the gradient's own graph."""
    kept = [name for name in f._saved if name not in ("xs", "y")]
    if kept and type(f).backward_graph is Function.backward_graph:
        raise GraphError(
            f"{f.name}: backward(create_graph=True) would treat the arrays it keeps with save() "
            f"({', '.join(kept)}) as constants, so the second derivative would be wrong. Compute "
            f"them in backward from self.xs / self.y, or define {f.name}.backward_graph (if "
            "they are truly constants, such as a random mask, `def backward_graph(self, *gys): "
            "return self.backward(*gys)` says so)")
    d = f.__dict__
    xs, y = d.get("xs"), d.get("y")
    if xs is not None:
        f.xs = f.inputs
    if y is not None:
        f.y = outs[0] if outs[0] is not None else Variable(y, requires_grad=False)
    try:
        return f.backward_graph(*gys)
    finally:
        if xs is not None:
            f.xs = xs
        if y is not None:
            f.y = y


def _seed(y, g, grads):
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
        return Variable(g, requires_grad=False) if grads.create_graph else g
    # A Variable seed in create_graph mode stays a Variable: a seed computed from
    # other Variables is then part of the gradient's graph (a fused operation's
    # create_graph backward relies on it).
    keep_graph = grads.create_graph and isinstance(g, Variable)
    if not keep_graph:
        g = g.data if isinstance(g, Variable) else backend.as_array(g, y.data)
    if g.shape != y.shape:
        raise ShapeError(f"backward: the seed gradient has shape {g.shape} but the output "
                         f"has shape {y.shape}; they must match")
    if g.dtype != y.data.dtype:
        g = astype(g, y.data.dtype) if keep_graph else g.astype(y.data.dtype)
    if grads.create_graph and not keep_graph:
        g = Variable(g, requires_grad=False)
    grads.seeds.append(g)   # the caller's: never stored in a .grad uncopied
    return g


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
    if type(gx) is np.ndarray and gx.shape == data.shape and gx.dtype == data.dtype:
        return gx  # the common case, first
    if isinstance(gx, SparseRows):
        if gx.shape != data.shape:
            raise ShapeError(f"{f.name}.backward returned sparse rows for a table of shape "
                             f"{gx.shape}, but input {i} has shape {data.shape}")
        return gx if gx.dtype == data.dtype else gx.astype(data.dtype)
    if create_graph and not isinstance(gx, Variable):
        gx = Variable(backend.as_array(gx, data), requires_grad=False)
    elif not create_graph:
        gx = gx.data if isinstance(gx, Variable) else backend.as_array(gx, data)
    if gx.shape != data.shape:
        if not _sums_to(gx.shape, data.shape):
            raise ShapeError(
                f"{f.name}.backward returned a gradient of shape {gx.shape} for input {i} of "
                f"shape {data.shape}; a gradient must have its input's shape (or a shape that "
                "sums down to it)")
        gx = sum_to(gx, data.shape)
    if gx.dtype != data.dtype:
        # A gradient keeps its Variable's dtype: float64 never creeps into float32 models.
        gx = astype(gx, data.dtype)
    return gx


def _sums_to(big, small) -> bool:
    """True if an array of shape ``small`` broadcasts to shape ``big``."""
    if len(small) > len(big):
        return False
    for b, s in zip(big[len(big) - len(small):], small):
        if s != 1 and s != b:
            return False
    return True


def _as_tuple(x):
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)
