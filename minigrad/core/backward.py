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

from ..errors import GraphError
from . import anomaly, explain
from .config import using_config, state
from .engine_ops import fit_gradient
from .gradients import Gradients
from .higher_order import backward_on_variables
from . import ops
from .variable import Variable

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


def _run(outputs, seeds, retain_graph, grads, schedule=None):
    """The backward pass. ``schedule`` (default: a new :class:`Schedule`)
    says which operation runs next; a compiled step passes one that replays
    an order it recorded, and, while it records, supplies one that logs it."""
    create_graph = grads.create_graph
    if len(seeds) != len(outputs):
        raise GraphError(f"backward: {len(outputs)} outputs but {len(seeds)} seed gradients")
    if schedule is None:
        recorder = state.recorder
        schedule = Schedule() if recorder is None else \
            recorder.backward_schedule(outputs, seeds, retain_graph, grads)
    for y, g in zip(outputs, seeds):
        grads.add(y, grads.seed(y, g))
        schedule.push(y.creator, y)
    with using_config("raw_backward", not create_graph), \
            using_config("enable_backprop", create_graph):
        for f, out in schedule:
            if f._released:
                raise explain.freed(f)
            outs = (out,) if f.outputs is None else [ref() for ref in f.outputs]
            gys = grads.take(f, outs)
            try:
                gxs = backward_on_variables(f, outs, gys) if create_graph else f.backward(*gys)
            except (ValueError, TypeError, IndexError) as e:
                raise explain.backward_error(f, e, gys) from e   # names f and the shapes
            if type(gxs) is not tuple:
                gxs = (gxs,)
            if len(gxs) != len(f.inputs):
                raise explain.wrong_count(f, gxs)
            if state.detect_anomaly:
                anomaly.check_backward(f, gys, gxs)
            for i, x in enumerate(f.inputs):
                gx = gxs[i]
                if gx is None or not isinstance(x, Variable) or not x.requires_grad:
                    continue    # (a plain array is a constant)
                grads.add(x, fit_gradient(f, i, x, gx, create_graph))
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

    def push(self, f, out):
        if f is None or f in self.seen:
            return
        self.seen.add(f)
        heappush(self.heap, (-f.generation, self.order, f, out))
        self.order += 1

    def __iter__(self):
        heap = self.heap
        while heap:
            _, _, f, out = heappop(heap)
            yield f, out


def _as_tuple(x):
    if isinstance(x, (list, tuple)):
        return tuple(x)
    return (x,)
