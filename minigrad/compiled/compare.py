"""Two recordings of one signature must take the same path.

The first two calls of a signature are both recorded and compared entry by
entry: the same operations (class, input shapes and dtypes), backward passes
and host calls, in the same order, with the same constants. A constant is an
array an operation holds that no operation computed: a plain operand, or an
array attribute given to it when it was made (an index, word ids). It is live
when it is the same object both times (a parameter's array, updated in place)
or a view of the same place in a step argument (refilled at each call);
otherwise its values must be equal, else it was computed in Python from the
call's data and a replay would freeze it."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.variable import Variable
from .rules import CompileError
from .tape import Backward, Forward, HostCall

# What the engine sets on a recorded operation; the rest was given to it.
_ENGINE_ATTRIBUTES = {"inputs", "outputs", "output_specs", "generation", "scope", "_held",
                      "_saved", "_released", "created_at", "xs", "y"}


def compare(first, second, arguments, carried_first, carried_second):
    """Raise a CompileError naming the first entry where two recordings differ."""
    for k, (a, b) in enumerate(zip(first.entries, second.entries)):
        if type(a) is not type(b):
            _differ(f"entry {k} is {_what(a)} in the first call and {_what(b)} in the second")
        if type(a) is Forward:
            _same_operation(k, a.f, b.f, arguments, carried_first, carried_second)
        elif type(a) is HostCall:
            if a.method is not b.method or a.owner is not b.owner:
                _differ(f"entry {k}: {a.name} in the first call, {b.name} in the second")
        elif len(a.order) != len(b.order):
            _differ(f"entry {k}: a backward pass through {len(a.order)} operations in the "
                    f"first call, through {len(b.order)} in the second")
    n, m = len(first.entries), len(second.entries)
    if n != m:
        extra = (first if n > m else second).entries[min(n, m)]
        _differ(f"entry {min(n, m)} is {_what(extra)} in the {'first' if n > m else 'second'} "
                f"call only (the first recorded {_count(first)}, the second {_count(second)})")


def _same_operation(k, f, g, arguments, carried_f, carried_g):
    where = f"entry {k}, {g.name}{_site(g)}"
    if type(f) is not type(g) or len(f.inputs) != len(g.inputs):
        _differ(f"entry {k} is {f.name} in the first call and {g.name}{_site(g)} in the second")
    for i, (x, y) in enumerate(zip(f.inputs, g.inputs)):
        if isinstance(x, Variable) != isinstance(y, Variable):
            _differ(f"{where}: input {i} is a Variable in one call, an array in the other")
        if isinstance(x, Variable):
            if x.shape != y.shape or x.dtype != y.dtype:
                _differ(f"{where}: input {i} is {tuple(x.shape)} {x.dtype} in the first call "
                        f"and {tuple(y.shape)} {y.dtype} in the second")
            if x is y or x.creator is not None or (id(x) in carried_f and id(y) in carried_g):
                continue
            x, y = x.data, y.data
        _same_constant(f"{where}, input {i}", x, y, arguments)
    names = [n for n in vars(f) if n not in _ENGINE_ATTRIBUTES and n not in f._saved]
    for name in names:
        a, b = vars(f)[name], vars(g).get(name)
        if _is_array(a) or _is_array(b):
            _same_constant(f"{where}, its constant {name!r}", a, b, arguments)


def _is_array(a) -> bool:
    return isinstance(a, np.ndarray) or backend.is_cupy_array(a)


def _same_constant(what, a, b, arguments):
    if a is b:
        return
    if not (_is_array(a) and _is_array(b)):
        _differ(f"{what} is {type(a).__name__} in one call, {type(b).__name__} in the other")
    pa, pb = arguments(a), arguments(b)
    if pa is not None or pb is not None:
        if pa != pb:
            _differ(f"{what} reads step argument {_argument(pa)} in the first call and "
                    f"{_argument(pb)} in the second")
        return
    if a.shape == b.shape and a.dtype == b.dtype and \
            np.array_equal(backend.as_numpy(a), backend.as_numpy(b)):
        return   # a true constant: the same values every call
    raise CompileError(
        f"compile: {what} ({tuple(a.shape)} {a.dtype}) has other values in the second call "
        "than in the first, but no operation computed it: it was computed in Python from the "
        "call's data (a NumPy call on .data, astype on an argument, a random draw), and a "
        "replay would freeze it. Compute it with minigrad operations on the arguments, pass "
        "it in as an argument in the dtype the model uses, or run this step eagerly")


def _argument(p) -> str:
    return "none" if p is None else f"{p[0]} at byte {p[1][0]}, shape {p[1][1]}"


def _count(tape) -> str:
    kinds = [type(e) for e in tape.entries]
    return (f"{kinds.count(Forward)} operations, {kinds.count(Backward)} backward pass(es) and "
            f"{kinds.count(HostCall)} host call(s)")


def _site(f) -> str:
    return f" (made at {f.created_at})" if f.created_at else ""


def _what(e) -> str:
    if type(e) is Forward:
        return f"operation {e.f.name}{_site(e.f)}"
    if type(e) is HostCall:
        return f"host call {e.name}"
    return "a backward pass"


def _differ(detail):
    raise CompileError(
        f"compile: two calls with the same signature (shapes, dtypes, carried state) took "
        f"different paths: {detail}. A replay repeats one recorded path, so the step's "
        "Python must not branch on the data; make the branch an argument of another shape, "
        "or run this step eagerly")
