"""The errors of a failed operation: what failed, on what, and what to do.

numpy's own message (``matmul: Input operand 1 has a mismatch...``) names
neither the operation of the user's model nor the arrays it got; these name
both, and keep numpy's error as the cause.
"""
from __future__ import annotations

from .. import backend
from ..errors import DeviceError, GraphError, MinigradError, ShapeError, describe
from .variable import Variable


def forward_error(f, error, arrays):
    """The error of a failed forward, naming the operation and its inputs."""
    kinds = {backend.is_cupy_array(a) for a in arrays if hasattr(a, "shape")}
    if len(kinds) > 1:
        return DeviceError(
            f"{f.name}: inputs live on different devices (numpy arrays and device arrays: "
            f"{describe(arrays)}); move them together with .to_gpu() or .to_cpu()")
    hint = f.shape_hint(*arrays) if isinstance(error, ValueError) else None
    message = f"{f.name}: cannot apply to inputs {describe(arrays)}: {error}"
    if hint:
        message += f". {hint}"
    return _same_kind(error, message)


def backward_error(f, error, gys):
    """The error of a failed backward, naming the operation, its inputs,
    the gradients it got and where it was created."""
    inputs = [x.data if isinstance(x, Variable) else x for x in f.inputs]
    grads = [g.data if isinstance(g, Variable) else g for g in gys]
    where = (f"created at {f.created_at}" if f.created_at else
             "run with mg.detect_anomaly() to record the line that created it")
    return _same_kind(error, f"{f.name}.backward failed on inputs {describe(inputs)} and "
                             f"output gradients {describe(grads)} ({where}): {error}")


def _same_kind(error, message):
    """A new error of ``error``'s kind (ShapeError for numpy's ValueErrors)."""
    if isinstance(error, MinigradError):
        return type(error)(message)       # keep the precise kind (DTypeError, ...)
    if isinstance(error, IndexError):
        return IndexError(message)
    if isinstance(error, TypeError):
        return TypeError(message)
    return ShapeError(message)


class Unsaved:
    """Class-level stand-in for ``xs`` / ``y`` when an operation saved nothing:
    reading it explains which flag to set. Once an instance stores the
    attribute, the stored value wins and this is never consulted."""

    def __init__(self, flag):
        self.flag = flag

    def __set_name__(self, owner, name):
        self.attr = name

    def __get__(self, f, owner=None):
        if f is None:
            return self
        raise GraphError(_missing(f, self.attr, self.flag))


def _missing(f, attr, flag):
    if f._released:
        return (f"{f.name}: its saved arrays were freed by an earlier backward. "
                "Call the first backward with retain_graph=True to backprop twice.")
    return (f"{f.name}.backward reads f.{attr}, but the operation keeps nothing for it: "
            f"set `{flag} = True` on {f.name}.")


def saved_constants(f, kept):
    """create_graph through an operation whose backward reads arrays kept with save()."""
    return GraphError(
        f"{f.name}: backward(create_graph=True) would treat the arrays it keeps with save() "
        f"({', '.join(kept)}) as constants, so the second derivative would be wrong. Compute "
        f"them in backward from self.xs / self.y, or define {f.name}.backward_graph (if "
        "they are truly constants, such as a random mask, `def backward_graph(self, *gys): "
        "return self.backward(*gys)` says so)")


def freed(f):
    return GraphError(f"backward: the graph through {f.name} was already freed by an earlier "
                      "backward; call that backward with retain_graph=True to backprop twice")


def wrong_count(f, gxs):
    return GraphError(f"{f.name}.backward returned {len(gxs)} gradients for "
                      f"{len(f.inputs)} inputs")
