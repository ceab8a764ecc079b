"""Anomaly mode: stop at the first NaN or Inf and say which operation made it.

While the mode is on, every operation checks its outputs after ``forward`` and
the backward pass checks every gradient an operation's ``backward`` returns.
The first non-finite value raises :class:`AnomalyError`, naming the operation,
the shapes and dtypes of its inputs and outputs, and the line of user code that
created the operation. That line is recorded only while the mode is on (walking
the stack costs a few microseconds per operation), so a normal run pays one
flag test per operation and nothing else.

>>> import numpy as np, minigrad as mg
>>> x = mg.Variable(np.array([1.0, 0.0]))
>>> with mg.detect_anomaly(), np.errstate(divide="ignore"):
...     y = mg.functions.log(x)              # log(0) = -inf  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
minigrad.errors.AnomalyError: Log produced -inf in its output ...
"""
from __future__ import annotations

import contextlib
import os
import sys

from .. import backend
from ..errors import AnomalyError, describe
from .config import state
from .sparse import SparseRows
from .variable import Variable

__all__ = ["detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled"]

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep
# (compiled: a compiled step's refusals name the user's line, not their own)
_QUIET_DIRS = tuple(_PACKAGE_DIR + part for part in
                    ("core" + os.sep, "functions" + os.sep, "compiled" + os.sep, "random.py"))


def set_detect_anomaly(enabled: bool) -> None:
    """Turn anomaly mode on or off for the whole process (the global switch)."""
    state.detect_anomaly = bool(enabled)


def is_anomaly_enabled() -> bool:
    return state.detect_anomaly


@contextlib.contextmanager
def detect_anomaly(enabled: bool = True):
    """Context manager: anomaly mode on (or off, with ``enabled=False``)
    inside the block, restored afterwards."""
    old = state.detect_anomaly
    state.detect_anomaly = bool(enabled)
    try:
        yield
    finally:
        state.detect_anomaly = old


# ----------------------------------------------------------------- where
def creation_site() -> str:
    """'train.py:42 in step' for the innermost frame outside minigrad; when
    minigrad's own code (a layer, a cell) made the call, its line follows, and
    when the call came from an operation's backward (create_graph), its name."""
    frame = sys._getframe(1)
    inner = during = None
    while frame is not None:
        path = os.path.abspath(frame.f_code.co_filename)
        here = f"{path}:{frame.f_lineno} in {frame.f_code.co_name}"
        if not path.startswith(_PACKAGE_DIR):
            if inner is not None:
                here += f" (through {inner})"
            if during is not None:
                here += f", while computing {during}"
            return here
        if during is None and frame.f_code.co_name == "backward" and \
                _is_operation(frame.f_locals.get("self")):
            during = f"{frame.f_locals['self'].name}.backward"
        # Lines in the engine and in the F.* wrappers say nothing; a layer's do.
        if inner is None and not path.startswith(_QUIET_DIRS):
            inner = f"minigrad/{os.path.relpath(path, _PACKAGE_DIR)}:{frame.f_lineno}"
        frame = frame.f_back
    return inner or "an unknown place"


def _is_operation(obj) -> bool:
    """An operation (a Function) by what it has: anomaly.py sits below
    function.py, which calls it."""
    return hasattr(obj, "backward_graph") and hasattr(obj, "forward")


# ----------------------------------------------------------------- what
def _array(g):
    if isinstance(g, Variable):
        return g.data
    if isinstance(g, SparseRows):
        return g.rows
    return g


def _bad_values(a) -> str | None:
    """'nan', 'inf', '-inf' (the kinds found, joined), or None if all finite."""
    a = _array(a)
    if not hasattr(a, "dtype") or a.dtype.kind not in "fc":
        return None
    xp = backend.get_array_module(a)
    if bool(xp.isfinite(a).all()):
        return None
    kinds = []
    if bool(xp.isnan(a).any()):
        kinds.append("nan")
    if bool(xp.isposinf(a.real).any()):
        kinds.append("inf")
    if bool(xp.isneginf(a.real).any()):
        kinds.append("-inf")
    return " and ".join(kinds)


def _where(f) -> str:
    site = getattr(f, "created_at", None)
    return f"created at {site}" if site else "created before anomaly mode was turned on"


def check_forward(f, arrays, ys) -> None:
    """Raise if the operation ``f`` produced a non-finite output from ``arrays``."""
    outputs = ys if type(ys) is tuple else (ys,)
    for k, y in enumerate(outputs):
        found = _bad_values(y)
        if found is None:
            continue
        which = "its output" if len(outputs) == 1 else f"output {k}"
        inputs = [i for i, a in enumerate(arrays) if _bad_values(a) is not None]
        if inputs:
            cause = (f"input(s) {inputs} were already not finite: they came from data or a "
                     "Variable computed before anomaly mode was on, not from an operation")
        else:
            cause = "every input was finite, so this operation made it"
        raise AnomalyError(
            f"{f.name} produced {found} in {which} (shape {tuple(y.shape)} {y.dtype}) from "
            f"inputs {describe(arrays)}; {cause}. The operation was {_where(f)}. "
            "Look for log/division of zero, exp overflow or a too-large learning rate there.")


def check_backward(f, gys, gxs) -> None:
    """Raise if ``f.backward`` returned a non-finite gradient."""
    for i, gx in enumerate(gxs):
        if gx is None:
            continue
        found = _bad_values(gx)
        if found is None:
            continue
        incoming = [g for g in gys if g is not None]
        if any(_bad_values(g) is not None for g in incoming):
            cause = "its incoming gradient was already not finite"
        else:
            cause = "its incoming gradient was finite, so this backward made it"
        x = f.inputs[i]
        raise AnomalyError(
            f"{f.name}.backward produced {found} in the gradient for input {i} (shape "
            f"{tuple(x.shape)} {x.dtype}); {cause}. The operation was {_where(f)}; its "
            f"incoming gradient(s): {describe([_array(g) for g in incoming])}.")
