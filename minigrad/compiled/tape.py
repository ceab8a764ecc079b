"""The tape of one recorded call: what a replay runs again, in order.

Three kinds of entries, each with a ``run()``:

* :class:`Forward`: one recorded operation. Its inputs are read live (the
  ``.data`` of its input Variables, so parameters updated in place and
  outputs of earlier entries are seen), its ``forward`` runs, the result goes
  into its recorded output Variables, and what backward reads is set as
  ``Function._record`` sets it.
* :class:`Backward`: one backward pass, run by the engine's own loop with
  the order of operations it logged (so accumulation, ``sum_to``, dtypes and
  sparse rows are the very same code as in an eager step).
* :class:`HostCall`: a method marked :func:`replayed` (an optimizer's update,
  ``zero_grad``, a gradient hook), called again because it reads live Python
  state: the learning rate, the step count, the optimizer's moments.
"""
from __future__ import annotations

import functools
import weakref

import numpy as np

from .. import backend
from ..core.anomaly import creation_site
from ..core.backward import Schedule, _run
from ..core.config import state
from ..core.gradients import Gradients
from ..core.variable import Variable
from .rules import refuse_create_graph, refuse_dropped_draw, refuse_read


class Forward:
    """One recorded operation. While the call records, the operation and its
    outputs are held weakly, so that one whose result the step drops is freed
    (with its read-only guard on the weights) when the eager step frees it;
    such an operation is left off the tape, as nothing reads its result.
    :meth:`keep` then holds the rest, with a stand-in for each output the step
    dropped (a Variable made outside the graph may still share its array: a
    recurrent layer's state)."""

    __slots__ = ("f", "outputs", "draws", "_f", "_refs", "_arrays")

    def __init__(self, f, outputs, draws):
        self.f, self.outputs, self.draws = None, (), draws
        self._f = weakref.ref(f)
        self._refs = [weakref.ref(out) for out in outputs]
        self._arrays = [out.data for out in outputs]

    def keep(self) -> bool:
        """Hold the operation for replays; False if the step dropped it."""
        f = self._f()
        if f is None:
            if self.draws:
                refuse_dropped_draw()
            return False
        outputs = [ref() for ref in self._refs]
        self.f = f
        self.outputs = tuple([Variable(a, requires_grad=False) if out is None else out
                              for out, a in zip(outputs, self._arrays)])
        self._refs = self._arrays = ()
        f._held = None               # no read-only guard: a replay refills the buffers
        return True

    def run(self):
        self.apply([x.data if isinstance(x, Variable) else x for x in self.f.inputs])

    def apply(self, arrays):
        """Run the operation's forward on ``arrays`` (its inputs' arrays)."""
        f = self.f
        f._saved = ()            # forward's save() adds to it, as when it was recorded
        ys = f.forward(*arrays)
        if type(ys) is tuple:
            for out, y in zip(self.outputs, ys):
                out.data = _as_data(y)
            y = self.outputs[0].data
        else:
            y = self.outputs[0].data = _as_data(ys)
        kept = ()
        if f.saves_inputs:
            f.xs = tuple(arrays)
            kept = ("xs",)
        if f.saves_output:
            f.y = y
            kept += ("y",)
        if kept:
            f._saved = kept + f._saved
        f._released = False

    def describe(self) -> str:
        shapes = ", ".join(_shape(x) for x in self.f.inputs)
        return f"{self.f.name}({shapes}) -> {', '.join(_shape(o) for o in self.outputs)}"


def _shape(x) -> str:
    return "x".join(str(n) for n in x.shape) or "scalar"


def _as_data(y):
    """What ``Variable(y)`` would hold."""
    return y if type(y) is np.ndarray else backend.as_array(y)


class Backward:
    __slots__ = ("outputs", "seeds", "retain_graph", "order")

    def __init__(self, outputs, seeds, retain_graph):
        self.outputs, self.seeds, self.retain_graph = outputs, seeds, retain_graph
        self.order = []          # (operation, the output it was reached through)

    def run(self):
        _run(self.outputs, self.seeds, self.retain_graph, Gradients(False, None),
             _Replaying(self.order))

    def describe(self) -> str:
        return "backward: " + ", ".join(f.name for f, _ in self.order)


class _Logging(Schedule):
    """The engine's schedule, logging the order it yields."""

    def __init__(self, log):
        super().__init__()
        self.log = log

    def __iter__(self):
        for step in super().__iter__():
            self.log.append(step)
            yield step


class _Replaying:
    """A schedule that yields a logged order; what the pass pushes is known already."""

    __slots__ = ("order",)

    def __init__(self, order):
        self.order = order

    def push(self, f, out):
        pass

    def __iter__(self):
        return iter(self.order)


class HostCall:
    __slots__ = ("method", "owner", "args", "kwargs")

    def __init__(self, method, owner, args, kwargs):
        self.method, self.owner, self.args, self.kwargs = method, owner, args, kwargs

    def run(self):
        self.method(self.owner, *self.args, **self.kwargs)

    @property
    def name(self) -> str:
        return f"{type(self.owner).__name__}.{self.method.__name__}"

    def describe(self) -> str:
        return f"host call: {self.name}"


class Recorder:
    """Set as ``state.recorder`` while a compiled step records one call; the
    engine tells it of each recorded operation, backward pass and value read
    into Python."""

    def __init__(self, sites=False):
        self.entries = []
        self.drawing = set()     # ids of operations whose forward drew random numbers
        self.sites = sites       # note the line that made each operation (for errors)

    def record(self, f, outputs):
        if self.sites and f.created_at is None:
            f.created_at = creation_site()
        draws = id(f) in self.drawing
        if draws:
            self.drawing.discard(id(f))
        self.entries.append(Forward(f, outputs, draws))

    def tape(self) -> list:
        """The entries a replay runs: the operations the step dropped left off."""
        return [e for e in self.entries if type(e) is not Forward or e.keep()]

    def backward_schedule(self, outputs, seeds, retain_graph, grads):
        if grads.create_graph or grads.capture is not None:
            refuse_create_graph()
        entry = Backward(outputs, seeds, retain_graph)
        self.entries.append(entry)
        return _Logging(entry.order)

    def host_call(self, method, owner, args, kwargs):
        self.entries.append(HostCall(method, owner, args, kwargs))

    def read(self, use):
        refuse_read(use)


def replayed(method):
    """Mark a method that a compiled step calls again on every replay (it reads
    live Python state, as an optimizer's update reads the learning rate).

    While a step records, the call is logged and then runs as usual, with
    recording paused: what it does inside (the hooks an update runs) belongs
    to it, not to the tape. Outside a recording it is the plain method."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        recorder = state.recorder
        if recorder is None:
            return method(self, *args, **kwargs)
        recorder.host_call(method, self, args, kwargs)
        state.recorder = None
        try:
            return method(self, *args, **kwargs)
        finally:
            state.recorder = recorder

    return call
