"""Higher-order gradients: the backward pass of ``create_graph=True``.

There the engine runs each operation's ``backward_graph`` (by default its
``backward``) with Variables where the ordinary pass gives arrays: the inputs
in ``self.xs``, the output in ``self.y``, the gradients themselves. Every
operation ``backward`` calls then records, so the gradient is a graph of its
own and ``backward`` or ``grad`` can run through it again.
"""
from __future__ import annotations

from . import explain
from .function import Function
from .variable import Variable


def backward_on_variables(f, outs, gys):
    """``f.backward_graph`` with the Variables in place of the saved arrays:
    the inputs in ``f.xs``, the output in ``f.y``, so that what backward
    computes from them is recorded, as the gradient's own graph."""
    kept = [name for name in f._saved if name not in ("xs", "y")]
    if kept and type(f).backward_graph is Function.backward_graph:
        raise explain.saved_constants(f, kept)
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
