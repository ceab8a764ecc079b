"""numpy's functions on Variables: minigrad's operations, never an array of objects.

numpy lets a type take over its calls. A ufunc (np.tanh, np.maximum, and the
operators of an ndarray: ``ndarray * v`` is np.multiply) calls the Variable's
``__array_ufunc__``; most other functions (np.concatenate, np.sum, np.where)
its ``__array_function__``; turning it into an array (np.asarray,
np.array([v, w]), np.mean([v, w]), any function that has no override) its
``__array__``. One rule answers all three:

1. A numpy call that minigrad has as an operation runs the operation:
   ``np.tanh(v)`` is ``F.tanh(v)``, recorded like any other call, so a
   backward written with numpy's functions also works under create_graph.
2. A call whose result carries no gradient (comparisons, np.isfinite, np.sign,
   np.floor, np.shape, np.zeros_like, np.allclose, ...) runs on the data and
   gives numpy's array, as comparing Variables does.
3. Anything else turns the Variables into arrays. One that needs no gradient
   (a constant, integer ids, a gradient) is its data, and numpy computes as on
   an array. One that needs a gradient raises a GraphError naming the call and
   what to write instead: numpy would silently drop its gradient.

Variable's ``__array_ufunc__``, ``__array_function__`` and ``__array__`` call
this module's answers through the ``ops`` table. The table of operations is filled by numpy_calls.py.
"""
from __future__ import annotations

import inspect

import numpy as np

from .. import backend
from ..core import ops
from ..core.variable import Variable
from ..errors import DeviceError, GraphError

# numpy ufunc or function -> (the minigrad function that replaces it, its name)
OPERATIONS: dict = {}
# the name of a numpy call ("np.dot", "np.add.reduce") -> what to write instead
HINTS: dict = {}

# Calls whose results carry no gradient: they run on the data.
VALUES_ONLY = frozenset(
    [np.less, np.less_equal, np.greater, np.greater_equal, np.equal, np.not_equal,
     np.isfinite, np.isnan, np.isinf, np.signbit, np.sign, np.floor, np.ceil, np.trunc,
     np.rint, np.logical_and, np.logical_or, np.logical_xor, np.logical_not,
     np.shape, np.ndim, np.size, np.zeros_like, np.ones_like, np.empty_like, np.full_like,
     np.any, np.all, np.allclose, np.isclose, np.array_equal, np.count_nonzero,
     np.nonzero, np.argwhere, np.argsort])


def register(numpy_function, operation, name=None):
    """Run ``operation`` for ``numpy_function`` called on Variables, with the
    call's arguments; a call whose arguments it cannot take falls under rule 3.
    ``name`` is how errors call it (default ``F.<its name>``)."""
    OPERATIONS[numpy_function] = (operation, name or f"F.{operation.__name__}")


def hint(call: str, text: str):
    """What to write instead of the numpy ``call`` (``"np.dot"``), which
    minigrad has no operation for."""
    HINTS[call] = text


def _unwrapped(args):
    """Arguments with every Variable replaced by its data (also inside lists
    and tuples, as np.concatenate takes them)."""
    out = []
    for a in args:
        if isinstance(a, Variable):
            a = a.data
        elif type(a) in (list, tuple) and any(isinstance(x, Variable) for x in a):
            a = type(a)([x.data if isinstance(x, Variable) else x for x in a])
        out.append(a)
    return out


def _needs_grad(args) -> bool:
    for a in args:
        if isinstance(a, Variable):
            if a.requires_grad:
                return True
        elif type(a) in (list, tuple):
            if any(isinstance(x, Variable) and x.requires_grad for x in a):
                return True
    return False


def _call_name(f, method="__call__") -> str:
    """How a user wrote the call: np.sum, np.linalg.norm, np.add.reduce."""
    path = (getattr(f, "__module__", None) or "numpy").split(".")[1:]
    if path and (path[0].startswith("_") or path[0] == "core"):
        path = []               # numpy's private modules: the public name is np.<name>
    suffix = "" if method == "__call__" else "." + method
    return ".".join(["np"] + path + [f.__name__]) + suffix


def _refuse(call, why, advice=None):
    advice = advice or HINTS.get(call)
    advice = (f"write {advice} instead" if advice else
              "write it with minigrad's operations (minigrad.functions) to keep the gradient")
    return GraphError(f"{call}(...) on a Variable that requires a gradient: {why}, and numpy "
                      f"would drop the gradient; {advice}, or call it on v.data for the "
                      "values alone")


_signatures: dict = {}


def _binds(operation, args, kwargs) -> str | None:
    """None if ``operation`` takes these arguments, else why not."""
    sig = _signatures.get(operation)
    if sig is None:
        sig = _signatures[operation] = inspect.signature(operation)
    try:
        sig.bind(*args, **kwargs)
    except TypeError as e:
        return f"takes {sig}, not these arguments ({e})"
    return None


def array_ufunc(ufunc, method, inputs, kwargs):
    if method == "__call__" and not kwargs:
        found = OPERATIONS.get(ufunc)
        if found is not None:
            return found[0](*inputs)
    out = kwargs.get("out", ())
    if any(isinstance(o, Variable) for o in out):
        raise GraphError(f"{_call_name(ufunc, method)}(..., out=...): a Variable cannot be "
                         "written in place; minigrad's operations make new Variables: "
                         "write v = ... instead")
    if ufunc in VALUES_ONLY or not _needs_grad(inputs):
        return getattr(ufunc, method)(*_unwrapped(inputs), **kwargs)
    call = _call_name(ufunc, method)
    found = OPERATIONS.get(ufunc)
    if "out" in kwargs:
        raise _refuse(call, "it would write the result into an array (out=, or an in-place "
                      "operator such as a += v)", "a = a + v (a new Variable)")
    if found is None:
        why = f"minigrad has no {ufunc.__name__} operation"
    elif method != "__call__":
        why = f"minigrad runs {_call_name(ufunc)} itself (as {found[1]}), not {call}"
    else:
        why = f"minigrad runs it as {found[1]}, which takes no {', '.join(kwargs)} argument"
    raise _refuse(call, why)


def array_function(func, args, kwargs):
    found = OPERATIONS.get(func)
    why = None
    if found is not None:
        why = _binds(found[0], args, kwargs)
        if why is None:
            return found[0](*args, **kwargs)
        why = f"minigrad runs it as {found[1]}, which {why}"
    if func in VALUES_ONLY or not _needs_grad(list(args) + list(kwargs.values())):
        return func(*_unwrapped(args), **dict(zip(kwargs, _unwrapped(kwargs.values()))))
    raise _refuse(_call_name(func), why or f"minigrad has no {func.__name__} operation")


def array(v, dtype=None, copy=None):
    """np.asarray(v): the data of a Variable that needs no gradient; for one
    that does, an error (numpy would silently drop its gradient)."""
    if v.requires_grad:
        raise GraphError(
            f"numpy was asked for the array of a Variable that requires a gradient (shape "
            f"{v.shape}, {v.dtype}), which numpy would drop: use v.data or v.numpy() for the "
            "values, v.item() or float(v) for a single number, and minigrad's operations to "
            "combine Variables (F.stack([a, b]), F.concat, v.mean(), ...)")
    data = v.data
    if type(data) is not np.ndarray and backend.is_cupy_array(data):
        raise DeviceError(f"numpy was asked for the array of a Variable on the GPU (shape "
                          f"{v.shape}): v.numpy() copies it to the CPU")
    if dtype is not None and data.dtype != dtype:
        return data.astype(dtype)
    return data.copy() if copy else data


ops.register(array_ufunc=array_ufunc, array_function=array_function, array=array)
