"""compile(step, model): record a training step once, replay it afterwards.

The first two calls with a new signature run the step eagerly and record it
(twice, to check that the step takes one path); later calls replay the tape
without running the step's Python and without making a Variable or a
Function. See docs/compiled-step.md.
"""
from __future__ import annotations

import warnings
from collections import OrderedDict

import numpy as np

from .. import backend
from .. import random as mg_random
from ..core.config import state
from ..core.variable import Variable
from .carried import carried_between, present_state, state_signature, walk
from .compare import compare
from .rules import CompileError, refuse_draw
from .lowering import differ, lower
from .python_state import watching
from .tape import Forward, Recorder
from .views import OutputView, place

__all__ = ["compile", "CompiledStep", "ScheduleEvictedWarning"]


class ScheduleEvictedWarning(UserWarning):
    """A compiled step met more signatures than its cache holds and dropped one."""


def compile(step, model, *, cache_size: int = 8, kernels: bool = True) -> "CompiledStep":
    """``step(*arrays)`` recorded once per signature and replayed afterwards.

    ``step`` runs the forward pass, ``loss.backward()`` and the optimizer's
    update on the arrays it is given, and returns what it returns (the loss
    Variable, usually: a replay returns the same Variable, its value updated).
    ``model`` is the Layer it trains: its carried state (a stateful RNN's
    ``h``) is part of the signature and is carried from call to call.

    >>> import numpy as np, minigrad as mg
    >>> from minigrad import functions as F, layers as L, optimizers as O
    >>> model = L.Linear(3, 1, rng=0)
    >>> opt = O.SGD(model, lr=0.1)
    >>> def train_step(x, t):
    ...     model.zero_grad()
    ...     loss = F.mean((model(x) - t) ** 2)
    ...     loss.backward()
    ...     opt.update()
    ...     return loss
    >>> fast = mg.compile(train_step, model)
    >>> x, t = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    >>> losses = [float(fast(x, t).data) for _ in range(3)]   # record, record, replay
    >>> fast.replays, losses[2] < losses[0]
    (1, True)
    """
    return CompiledStep(step, model, cache_size=cache_size, kernels=kernels)


class _Entry:
    """One signature: the argument buffers, and the tape once recorded."""

    __slots__ = ("buffers", "tape", "recordings", "lowered", "first_lowering")

    def __init__(self, buffers):
        self.buffers, self.tape, self.recordings = buffers, None, 0
        self.lowered = None      # after two replays: True, or why the tape stays as it is
        self.first_lowering = None


class CompiledStep:
    """See :func:`compile`. ``replays`` and ``recordings`` count the calls of
    each kind (handy in tests and benchmarks)."""

    def __init__(self, step, model, *, cache_size: int = 8, kernels: bool = True):
        if not callable(getattr(model, "layers", None)):
            raise TypeError(f"compile: model must be the Layer the step trains, got "
                            f"{type(model).__name__}")
        if int(cache_size) < 1:
            raise ValueError(f"compile: cache_size must be at least 1, got {cache_size!r}")
        # The step's own Python is watched while it records (rule 4: python_state.py).
        self.step, self.model, self.cache_size = watching(step, model), model, int(cache_size)
        self.kernels = bool(kernels)
        self._entries = OrderedDict()
        self._warned = False
        self.replays = self.recordings = 0
        self._params = {id(p): p for p in model.params()}

    def __call__(self, *args):
        layers = walk(self.model)
        # The parameters as of the last recording: one made since then would count
        # as state, which changes the signature, so it is recorded again.
        params = self._params
        found = present_state(layers, params)
        key = (tuple(_spec(a) for a in args), state_signature(found),
               tuple(layer.training for layer in layers))
        entry = self._entries.get(key)
        if entry is None:
            entry = self._entries[key] = _Entry([_buffer(a) for a in args])
            self._evict()
        else:
            self._entries.move_to_end(key)
            for buf, a in zip(entry.buffers, args):
                if buf is not None:
                    buf[...] = a
        if entry.recordings >= 2:
            self.replays += 1
            if entry.lowered is None and self.kernels:
                return self._lower(entry)
            return entry.tape.replay()
        self.recordings += 1
        return self._record(entry, args, layers, found)

    def _record(self, entry, args, layers, before):
        call_args = [a if buf is None else buf for a, buf in zip(args, entry.buffers)]
        # The second recording notes each operation's line, to name it if the two differ.
        recorder = Recorder(sites=entry.tape is not None)
        state.recorder = recorder
        mg_random.set_draw_check(refuse_draw)
        try:
            result = self.step(*call_args)
        finally:
            state.recorder = None
            mg_random.set_draw_check(None)
        entries = recorder.tape()
        outputs = {id(out.data): out for e in entries if type(e) is Forward
                   for out in e.outputs}
        buffers = [b for b in entry.buffers if b is not None]

        def argument(a):
            for i, buf in enumerate(buffers):
                where = place(a, buf)
                if where is not None:
                    return i, where
            return None

        is_argument = lambda a: argument(a) is not None   # noqa: E731
        # Parameters made during the call (on a layer's first forward) are not state.
        self._params = {id(p): p for p in self.model.params()}   # (held: ids stay theirs)
        after = present_state(layers, self._params)
        before = {k: v for k, v in before.items() if id(v[1]) not in self._params}
        carried = carried_between(before, after, outputs, is_argument)
        tape = Tape(entries, carried, result, _returned_views(result, outputs, is_argument))
        if entry.tape is not None:
            compare(entry.tape, tape, argument, entry.tape.carried_inputs(), tape.carried_inputs())
        entry.tape = tape
        entry.recordings += 1
        return result

    def _lower(self, entry):
        """The first two replays of a signature lower its tape to kernels, and
        compare the two lists, as the two recordings are compared: the same
        kernels, and every array a kernel reads that neither a kernel nor the
        step's arguments, parameters and state make holding the same values
        (one computed from the batch outside the tracing would be frozen)."""
        lowered, reason = lower(entry.tape)
        if lowered is not None and entry.first_lowering is None:
            entry.first_lowering = lowered.summary()   # not its buffers: half the memory
            return entry.tape.result
        if lowered is not None:
            reason = differ(entry.first_lowering, lowered)
        entry.first_lowering = None
        entry.lowered = reason or True
        if reason is None:
            entry.tape = lowered
        return entry.tape.result

    def describe(self) -> str:
        """The tape of the signature used last, one entry a line, in the order
        a replay runs them."""
        if not self._entries:
            return "(nothing recorded yet)"
        tape = next(reversed(self._entries.values())).tape
        return "\n".join(f"{k:3d}  {e.describe()}" for k, e in enumerate(tape.entries))

    def replayed_as(self) -> str:
        """How the signature used last is replayed: as numpy kernels, as
        operations (and why not as kernels), or not yet."""
        if not self._entries:
            return "nothing recorded yet"
        entry = next(reversed(self._entries.values()))
        if entry.lowered is None:
            return ("operations (kernels=False)" if not self.kernels and entry.recordings >= 2
                    else "not yet: the first two replays lower the tape to kernels")
        if entry.lowered is True:
            return f"kernels: {len(entry.tape.kernels)} numpy kernels and host calls"
        return f"operations: {entry.lowered}"

    def _evict(self):
        if len(self._entries) <= self.cache_size:
            return
        (specs, _, _), _ = self._entries.popitem(last=False)
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"compile: more than {self.cache_size} signatures (shapes, dtypes, carried "
                f"state); the least recently used one ({_words(specs)}) was dropped and will be "
                f"recorded again if it comes back. Pass compile(..., cache_size=) to keep more "
                f"(said once)", ScheduleEvictedWarning, stacklevel=3)


class Tape:
    """One recorded call: its entries, its carried state, what it returned."""

    __slots__ = ("entries", "carried", "result", "views")

    def __init__(self, entries, carried, result, views):
        self.entries, self.carried, self.result, self.views = entries, carried, result, views

    def carried_inputs(self) -> set:
        return {id(c.before) for c in self.carried if c.before is not None}

    def replay(self):
        for c in self.carried:
            c.read()
        for e in self.entries:
            e.run()
        for c in self.carried:
            c.write()
        for v in self.views:
            v.refresh()
        return self.result


def _spec(a):
    """What of an argument makes its signature."""
    if isinstance(a, Variable):
        raise CompileError(f"compile: the step's arguments are arrays, got a Variable of shape "
                           f"{tuple(a.shape)}; pass its .data")
    if isinstance(a, np.ndarray) or backend.is_cupy_array(a):
        device = getattr(getattr(a, "device", None), "id", "cpu")
        return ("array", tuple(a.shape), a.dtype.str, type(a).__module__, device)
    try:
        hash(a)
    except TypeError:
        raise CompileError(f"compile: the step's arguments are arrays or fixed settings "
                           f"(numbers, strings), got a {type(a).__name__}") from None
    return ("value", type(a).__name__, a)


def _buffer(a):
    """The array the recorded step reads this argument from (refilled at each
    call), or None for a setting passed as it is."""
    if isinstance(a, np.ndarray) or backend.is_cupy_array(a):
        return backend.get_array_module(a).array(a, copy=True)
    return None


def _returned_views(result, outputs, is_argument) -> list:
    """The returned Variables that are not outputs of recorded operations but
    views of them (``detach()``), to remake after each replay; refuses values
    a replay could not update."""
    items = result if isinstance(result, (tuple, list)) else (result,)
    views = []
    for r in items:
        if isinstance(r, Variable):
            if id(r.data) in outputs or is_argument(r.data) or (
                    r.creator is None and r.requires_grad):
                continue   # an output, an argument, or a parameter: all current after a replay
            view = OutputView.find(r, outputs)
            if view is None:
                raise CompileError(
                    f"compile: the step returned a Variable of shape {tuple(r.shape)} that no "
                    "operation of the step computed; a replay could not update it")
            views.append(view)
        elif isinstance(r, (float, np.ndarray, np.generic)) or backend.is_cupy_array(r):
            raise CompileError(
                f"compile: the step returned a {type(r).__name__}, a value a replay would "
                "return unchanged; return the Variable (loss, not float(loss)) and read it "
                "after the call")
    return views


def _words(specs) -> str:
    return ", ".join(f"{s[1]} {np.dtype(s[2])}" if s[0] == "array" else repr(s[2])
                     for s in specs)
