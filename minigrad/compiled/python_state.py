"""Python state a step changes while it is recorded (rule 4 of
docs/compiled-step.md).

A replay runs the recorded operations and host calls, not the step's Python:
a counter the step increments, a list it appends to, a flag it sets would
change on the recorded calls only. What can be seen of that is watched: the
plain values (numbers, strings, bools, None, tuples of those) and the lengths
of the lists, dicts and sets held by

* the model and each of its sub-layers,
* the step's closure (its free variables) and, for a method, its object and
  the closures of the functions that object holds (a trainer's loss), and
  the objects those closures hold directly.

If one of them changes during a recorded call, recording stops with a
CompileError that names it. Not watched, because the compiled step handles
them: a layer's registry of parameters and sub-layers (which grows when a
layer makes its parameters on its first call), Variables (carried state, e.g. an RNN's ``h``), and every
object whose ``replayed`` method the call ran (an optimizer's step count and
learning rate: its method runs again on every replay), ``zero_grad`` aside,
which clears gradients only. A value set for the
first time (a new attribute, or one that was None) is a first call's set-up,
not a change. A layer's training mode is watched: a step may switch it
(to evaluate inside the step) if it switches it back, since the mode a call
starts in is part of the signature, but a mode left changed would not be
left so by a replay.
"""
from __future__ import annotations

import functools
import types

import numpy as np

from ..core.config import state
from .carried import walk
from .rules import CompileError
from .tape import HostCall

__all__ = ["watching"]

_PLAIN = (bool, int, float, complex, str, bytes, type(None), np.generic)
_SIZED = (list, dict, set)
# The registry of a layer's parameters and sub-layers grows when it makes its
# parameters on its first call; the compiled step lists them at each recording.
_HANDLED = frozenset({"_children"})
_SKIP = object()


class _Length:
    """What a snapshot keeps of a list, dict or set: its kind and length."""

    __slots__ = ("kind", "n")

    def __init__(self, kind, n):
        self.kind, self.n = kind, n

    def __eq__(self, other):
        return type(other) is _Length and (self.kind, self.n) == (other.kind, other.n)

    def __repr__(self):
        return f"a {self.kind} of length {self.n}"


def _kept(value):
    """What a snapshot keeps of ``value``, or _SKIP."""
    if isinstance(value, _PLAIN):
        return value
    if isinstance(value, tuple):
        items = tuple(_kept(v) for v in value)
        return _SKIP if any(i is _SKIP for i in items) else items
    if isinstance(value, _SIZED):
        return _Length(type(value).__name__, len(value))
    return _SKIP


def _same(a, b) -> bool:
    return a == b or repr(a) == repr(b)   # (NaN is not == NaN; its repr is its repr)


def _layer_names(model) -> dict:
    """{id(layer): its dotted path in the model}, the model itself ''."""
    names, stack = {id(model): ""}, [("", model)]
    while stack:
        base, layer = stack.pop()
        for name, child in layer._children.items():
            if id(child) not in names and hasattr(child, "_children"):
                names[id(child)] = base + name
                stack.append((base + name + ".", child))
    return names


def _function(step):
    return getattr(step, "__func__", step)


def _watched_objects(step, model) -> list:
    """[(object, how an error names it)]: the layers, the step's object and
    the objects its closure holds."""
    names = _layer_names(model)
    out = [(layer, f"{type(layer).__name__} {names.get(id(layer)) or 'model'!r}")
           for layer in walk(model)]
    seen = {id(obj) for obj, _ in out}
    owner = getattr(step, "__self__", None)
    if owner is not None and id(owner) not in seen:
        out.append((owner, f"the step's object ({type(owner).__name__})"))
        seen.add(id(owner))
    for name, value in _closure(step):
        if id(value) not in seen and _has_attributes(value):
            out.append((value, f"{type(value).__name__}, {name}"))
            seen.add(id(value))
    return out


def _has_attributes(value) -> bool:
    return hasattr(value, "__dict__") and not callable(value) and \
        not isinstance(value, type(functools))


def _closure(step) -> list:
    """[(how an error names a free variable, its value)] of the step function
    and, for a method, of the functions its object holds (a trainer's loss)."""
    functions = [("the step's closure", _function(step))]
    owner = getattr(step, "__self__", None)
    if owner is not None:
        functions += [(f"the closure of {name}", _function(f)) for name, f in vars(owner).items()
                      if isinstance(_function(f), types.FunctionType)]
    out = []
    for where, fn in functions:
        for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
            try:
                out.append((f"the variable {name!r} of {where}", cell.cell_contents))
            except ValueError:      # not bound yet
                continue
    return out


def _snapshot(step, model) -> dict:
    """{key: (object or None, how an error names it, kept value)}."""
    snap = {}
    for obj, label in _watched_objects(step, model):
        for name, value in vars(obj).items():
            if name in _HANDLED:
                continue
            kept = _kept(value)
            if kept is not _SKIP:
                snap[(id(obj), name)] = (obj, f"{label}, attribute {name!r}", kept)
    for name, value in _closure(step):
        kept = _kept(value)
        if kept is not _SKIP:
            snap[("closure", name)] = (None, name, kept)
    return snap


def _host_call_owners() -> set:
    """The objects whose replayed methods the call ran, but for ``zero_grad``,
    which clears gradients only: the model calls it in nearly every step, and
    its plain state stays watched."""
    recorder = state.recorder
    entries = recorder.entries if recorder is not None else ()
    return {id(e.owner) for e in entries
            if type(e) is HostCall and e.method.__name__ != "zero_grad"}


def _check(before, after, replayed_owners):
    for key, (obj, what, old) in before.items():
        if key not in after or old is None or id(obj) in replayed_owners:
            continue
        new = after[key][2]
        if not _same(old, new):
            raise CompileError(
                f"compile: the step changed Python state while it was recorded: {what} went "
                f"from {old!r} to {new!r}. A replay runs the recorded operations, not the "
                "step's Python, so this change would happen on the recorded calls only. Keep "
                "such bookkeeping outside the step (after the call, or in TrainingLoop's "
                "after_step=), in a method marked minigrad.compiled.replayed, or run the step "
                "eagerly (compiled=False, --eager on the command line)")


def watching(step, model):
    """``step`` that, while a compiled step records it, checks that it changed
    no watched Python state (see the module's docstring)."""

    @functools.wraps(step)
    def recorded(*args):
        before = _snapshot(step, model)
        result = step(*args)
        _check(before, _snapshot(step, model), _host_call_owners())
        return result

    return recorded
