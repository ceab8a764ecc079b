"""Lowering: a tape turned into a flat list of numpy kernels.

The first two replays of a signature run the tape once more, each on traced
arrays (tracing.py), and the two lists are compared (:func:`differ`). Every numpy call that the operations' ``forward`` and
``backward`` and the engine's sums make is noted with the buffer it writes;
host calls (the optimizer's update...) and the stores into ``.grad`` are
noted in their place. Later calls run that list and nothing else: no
``forward`` or ``backward`` method, no engine loop, no allocation but what a
kernel cannot avoid.

An operation whose forward draws random numbers (dropout, negative sampling)
stays one call: it runs its ``forward`` on every replay, so it draws afresh,
and its outputs and saved arrays are copied into the buffers the kernels
after it read.

If the traced call meets something a replay could not repeat, the call ends
untraced (its results are right all the same) and the step keeps the tape's
operation-level replay; ``CompiledStep.replayed_as()`` says why.
"""
from __future__ import annotations

import numpy as np

from ..core.backward import _run
from ..core.gradients import Gradients, _as_grad_variable, _store
from ..core.sparse import SparseRows
from ..core.variable import Variable
from .rules import CompileError
from .tape import Backward, Forward, HostCall
from . import memory, tracing
from .tracing import Lowering, plain


class LoweredTape:
    """A tape's kernels, run in order by :meth:`replay`."""

    __slots__ = ("tape", "kernels", "runs", "guards", "reads", "writes", "returned", "constants")

    def __init__(self, tape, kernels, guards, reads, returned, constants):
        self.tape, self.kernels, self.constants = tape, kernels, constants
        self.runs = [k.run for k in kernels]
        self.guards, self.reads, self.returned = guards, reads, returned
        # Carried state is pointed at its new value. The Variable may be another
        # signature's carried input too, so its array is set again each time.
        self.writes = [(c.layer, c.name, c.after, None if c.after is None else c.after.data)
                       for c in tape.carried]

    @property
    def entries(self):
        return self.tape.entries

    @property
    def result(self):
        return self.tape.result

    def summary(self):
        """What :func:`differ` compares: each kernel's name and its constants."""
        return [k.name for k in self.kernels], self.constants

    def replay(self):
        for v, a in self.guards:
            if v.data is not a:
                _rebind(v, a)
        for layer, name, src in self.reads:
            current = getattr(layer, name).data
            if current is not src:
                np.copyto(src, current)
        for var, buf in self.returned:
            var.data = buf          # host calls read the live value
        for run in self.runs:
            run()
        for layer, name, after, data in self.writes:
            if after is not None:
                after.data = data
            setattr(layer, name, after)
        for var, buf in self.returned:
            var.data = buf.copy()   # the caller may keep it past the next call
        return self.tape.result


def _rebind(v, a):
    """``v.data`` was replaced between calls (a checkpoint loaded): the kernels
    read ``a``, so the new values go there."""
    if v.data.shape != a.shape or v.data.dtype != a.dtype:
        raise CompileError(
            f"compile: an array the step reads was replaced by one of shape {v.data.shape} "
            f"and dtype {v.data.dtype} (it was {a.shape}, {a.dtype}); compile the step again")
    np.copyto(a, v.data)
    v.data = a


class _Store:
    """A gradient stored into ``x.grad``, as the engine's pass ends. Into an
    empty ``.grad`` (after ``zero_grad``) it is the same Variable each time,
    over the buffer the kernels refill."""

    __slots__ = ("x", "g", "grad")

    def __init__(self, x, g):
        self.x, self.g, self.grad = x, g, None

    def __call__(self):
        x = self.x
        if x.grad is None:
            x.grad = self.grad
        else:
            _store(x, self.g)


class _Stores:
    """The stores of one backward pass, in one call."""

    __slots__ = ("stores",)

    def __init__(self, stores):
        self.stores = stores

    def __call__(self):
        for store in self.stores:
            store()


class _Protect:
    """Before a backward pass's kernels: a ``.grad`` still holding the buffer
    they refill (the step does not zero its gradients: they add up over
    calls) becomes a copy, so that the sum adds the old gradient, not the new."""

    __slots__ = ("stores",)

    def __init__(self, stores):
        self.stores = stores

    def __call__(self):
        for store in self.stores:
            x = store.x
            if x.grad is not None and x.grad is store.grad:
                x.grad = _as_grad_variable(store.g.copy())


class _Opaque:
    """An operation whose forward draws: run again, results into the buffers."""

    __slots__ = ("entry", "arrays", "outs", "saved")

    def __init__(self, entry, arrays, outs, saved):
        self.entry, self.arrays, self.outs, self.saved = entry, arrays, outs, saved

    def remap(self, fn):
        self.arrays, self.outs, self.saved = fn(self.arrays), fn(self.outs), fn(self.saved)

    def __call__(self):
        entry = self.entry
        entry.apply(self.arrays)
        for out, buf in zip(entry.outputs, self.outs):
            _copy_into(buf, out.data, entry.f.name)
            out.data = buf
        for name, buf in self.saved.items():
            _copy_into(buf, getattr(entry.f, name), entry.f.name)


def _copy_into(buf, a, name):
    if a.shape != buf.shape:
        raise CompileError(f"compile: {name} made an array of shape {a.shape} where the "
                           f"recorded call made {buf.shape}; run this step eagerly")
    np.copyto(buf, a)


class _LoweringGradients(Gradients):
    def __init__(self, stores, lowering):
        super().__init__(False, None)
        self.stores, self.lowering = stores, lowering

    def store(self, x, g):
        with tracing.paused(self.lowering):    # a _Store does it on every replay
            _store(x, g)
        self.stores.append(_Store(x, g))


class _Naming:
    """The recorded backward order, naming each operation as it runs."""

    def __init__(self, order, lowering):
        self.order, self.lowering = order, lowering

    def push(self, f, out):
        pass

    def __iter__(self):
        for f, out in self.order:
            self.lowering.where = f"{f.name}.backward"
            yield f, out


def lower(tape) -> tuple[LoweredTape | None, str | None]:
    """Run ``tape`` once, traced: (its lowered form, None), or (None, the
    reason it cannot be lowered). Either way the call's results are right."""
    device = _device_of(tape)
    if device is not None:
        tape.replay()
        return None, f"the step's arrays are on a device ({device}): kernels are numpy's"
    lowering = Lowering()
    guards, stores = [], []
    for c in tape.carried:
        c.read()
    with tracing.active(lowering):
        # Carried state is read from buffers of its own, refilled before each replay.
        states = {id(c.before): (c, lowering.buffer(c.before.data)) for c in tape.carried
                  if c.before is not None}
        seen = set(states)
        for e in tape.entries:
            if type(e) is Forward:
                _forward(e, lowering, guards, seen, states)
            elif type(e) is Backward:
                _backward(e, lowering, stores)
            else:
                lowering.where = f"host call {e.name}"
                with tracing.paused(lowering):
                    e.run()
                lowering.add(e.name, e.run, (), None)
    for c in tape.carried:
        c.write()
    for v in tape.views:
        v.refresh()
    _untrace(tape, stores)
    if lowering.failed is not None:
        return None, lowering.failed
    # Parameters a step returns are current anyway; anything else is a buffer.
    returned = [(r, r.data) for r in _returned(tape.result)
                if r.creator is not None or not r.requires_grad]
    reads = [(c.layer, c.name, plain(buf)) for c, buf in states.values()]
    pinned = _seen_from_python(tape, stores) + [b for _, _, b in reads]
    lowering.kernels = memory.without_dead(lowering.kernels, pinned)
    constants = [lowering.constants_of(k) for k in lowering.kernels]
    memory.share(lowering.kernels, pinned)
    for var, buf in returned:
        var.data = buf.copy()
    return LoweredTape(tape, lowering.kernels, guards, reads, returned, constants), None


def _same_value(x, y) -> bool:
    x, y = np.asarray(x), np.asarray(y)
    return x.shape == y.shape and x.dtype == y.dtype and \
        np.array_equal(x, y, equal_nan=x.dtype.kind in "fc")


def differ(first, second) -> str | None:
    """Why two lowerings of one tape differ (``first``: the summary of the
    first one), or None if they agree."""
    names, constants = first
    if names != [k.name for k in second.kernels]:
        return "two calls of one signature made different numpy calls"
    for k, a, b in zip(second.kernels, constants, second.constants):
        if len(a) != len(b) or not all(map(_same_value, a, b)):
            return (f"{k.where} ({k.name}) reads a value computed in Python that differs "
                    "between two calls (made from the batch without numpy seeing it, e.g. "
                    "through np.asarray or a write into an array from outside)")
    return None


def _seen_from_python(tape, stores) -> list:
    """Arrays the caller or a host call can see: their buffers keep their memory."""
    seen = []
    for store in stores:
        seen += [store.g.indices, store.g.rows] if isinstance(store.g, SparseRows) else [store.g]
    seen += [r.data for r in _returned(tape.result)]
    for c in tape.carried:
        seen += [v.data for v in (c.before, c.after) if v is not None]
    seen += [v.var.data for v in tape.views]
    for e in tape.entries:
        if type(e) is HostCall:
            for a in list(e.args) + list(e.kwargs.values()):
                seen.append(a.data if isinstance(a, Variable) else a)
        elif type(e) is Forward and e.draws:
            seen += [a for a in vars(e.f).values() if isinstance(a, np.ndarray)]
    return seen


def _device_of(tape):
    """The module of a device array the step reads, or None if all are numpy's."""
    for e in tape.entries:
        if type(e) is Forward:
            for x in e.f.inputs:
                a = x.data if isinstance(x, Variable) else x
                if hasattr(a, "shape") and not isinstance(a, (np.ndarray, np.generic)):
                    return type(a).__module__
    return None


def _forward(e, lowering, guards, seen, states):
    f = e.f
    lowering.where = f"{f.name}.forward"
    arrays = []
    for x in f.inputs:
        if id(x) in states:
            arrays.append(states[id(x)][1])
            continue
        if isinstance(x, Variable):
            if type(x.data) is not tracing.Traced and id(x) not in seen:
                seen.add(id(x))
                guards.append((x, x.data))
            x = x.data
        arrays.append(lowering.source(x))
    for name, value in list(vars(f).items()):
        if isinstance(value, np.ndarray):   # read by forward as its inputs are: live
            setattr(f, name, lowering.source(value))
    if not e.draws or not lowering.tracing:
        e.apply(arrays)
        return
    ins = plain(arrays)
    with tracing.paused(lowering):
        e.apply(ins)
    outs = [lowering.buffer(out.data) for out in e.outputs]
    for out, buf in zip(e.outputs, outs):
        out.data = buf
    saved = {}
    for name in f._saved:
        if name in ("xs", "y"):
            continue
        a = getattr(f, name)
        if not isinstance(a, np.ndarray):
            lowering.give_up(f"keeps {name}, not an array, which a replay could not update")
            return
        saved[name] = buf = lowering.buffer(a)
        object.__setattr__(f, name, buf)
    if f.saves_inputs:
        f.xs = tuple(arrays)
    if f.saves_output:
        f.y = outs[0]
    saved = {n: plain(b) for n, b in saved.items()}
    lowering.add(f.name, _Opaque(e, ins, plain(outs), saved), ins,
                 plain(outs) + list(saved.values()))


def _backward(e, lowering, stores):
    mine = []
    lowering.where = "backward"
    lowering.add("keep .grad", _Protect(mine), (), None)
    _run(e.outputs, e.seeds, e.retain_graph, _LoweringGradients(mine, lowering),
         _Naming(e.order, lowering))
    lowering.where = "backward"
    lowering.add("store .grad", _Stores(mine), (), None)
    stores += mine


def _untrace(tape, stores):
    """Plain arrays everywhere a replay or the caller reads them."""
    for e in tape.entries:
        if type(e) is Forward:
            for out in e.outputs:
                out.data = plain(out.data)
            if not e.f._released:
                e.f.release()
            for name, value in list(vars(e.f).items()):
                if type(value) is tracing.Traced:
                    setattr(e.f, name, plain(value))
    for c in tape.carried:
        for v in (c.before, c.after):
            if v is not None:
                v.data = plain(v.data)
    for v in tape.views:
        v.var.data = plain(v.var.data)
    for store in stores:
        x, g = store.x, store.g
        held = x.grad
        # The Variable .grad holds now, when it is this store's: a replay stores it again.
        own = held is g or (isinstance(held, Variable) and held.data is g)
        store.g = _plain_gradient(g)
        if isinstance(held, Variable):
            held.data = plain(held.data)
        elif isinstance(held, SparseRows):
            x.grad = held = store.g if own else _plain_gradient(held)
        store.grad = held if own else _as_grad_variable(store.g)
    for r in _returned(tape.result):
        r.data = plain(r.data)


def _plain_gradient(g):
    if isinstance(g, SparseRows):
        return SparseRows(plain(g.indices), plain(g.rows), g.shape)
    return plain(g)


def _returned(result):
    items = result if isinstance(result, (tuple, list)) else (result,)
    return [r for r in items if isinstance(r, Variable)]
