"""The book's graphs ("Deep Learning from Scratch 2", chapters 1, 5 and 6) built
from minigrad operations.

Each function returns the Variables to draw, so ``to_dot(*examples.gru_cell())``
draws the GRU cell. The same graphs give the golden DOT files of the tests and
the pictures of ``docs/seeing-the-graph.md``. Data are fixed float32 ramps, not
random draws, so every graph is the same on every run.

>>> from minigrad.viz import examples
>>> y, = examples.affine()
>>> y.shape, y.creator.name
((10, 4), 'Add')
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from ..core.config import name_scope
from ..core.variable import Variable


def _leaf(name, *shape, requires_grad=True):
    data = np.linspace(-1.0, 1.0, int(np.prod(shape)), dtype=np.float32).reshape(shape)
    return Variable(data, name=name, requires_grad=requires_grad)


def _named(v, name):
    v.name = name
    return v


def add():
    """z = x + y: the book's add node."""
    x = Variable(np.array(2.0, dtype=np.float32), name="x")
    y = Variable(np.array(3.0, dtype=np.float32), name="y")
    return (_named(x + y, "z"),)


def branch():
    """The book's Branch node as an explicit operation: x copied to two uses."""
    x = _leaf("x", 1, 8)
    return F.branch(x, 2)


def reuse():
    """y = x * sigmoid(x): x has two uses, so the drawer adds a Branch node."""
    x = _leaf("x", 1, 8)
    return (_named(x * F.sigmoid(x), "y"),)


def repeat(N=7, D=8):
    """The book's Repeat node: a (1, D) row copied N times."""
    x = _leaf("x", 1, D)
    return (_named(F.repeat(x, N, axis=0), "y"),)


def sum(N=7, D=8):
    """The book's Sum node: an (N, D) array summed over its rows."""
    x = _leaf("x", N, D)
    return (_named(F.sum(x, axis=0, keepdims=True), "y"),)


def matmul(N=10, D=2, H=4):
    """The book's MatMul node: y = xW."""
    x, W = _leaf("x", N, D), _leaf("W", D, H)
    return (_named(F.matmul(x, W), "y"),)


def affine(N=10, D=2, H=4):
    """The book's Affine layer from its nodes: y = xW + b, written as numpy
    code is; the drawer shows the broadcast of b as the book's Repeat node."""
    x, W, b = _leaf("x", N, D), _leaf("W", D, H), _leaf("b", H)
    return (_named(x @ W + b, "y"),)


def linear(N=10, D=2, H=4):
    """The same layer as one fused Linear node."""
    x, W, b = _leaf("x", N, D), _leaf("W", D, H), _leaf("b", H)
    return (_named(F.linear(x, W, b), "y"),)


def gru_cell(N=2, D=3, H=4):
    """One GRU step in the book's layout: Wx (D, 3H), Wh (H, 3H), b (3H), gates
    in the order z, r, h~::

        z  = sigmoid(x Wxz + h Whz + bz)
        r  = sigmoid(x Wxr + h Whr + br)
        h~ = tanh(x Wxh + (r * h) Whh + bh)
        h' = (1 - z) * h + z * h~
    """
    x, h = _leaf("x", N, D), _leaf("h", N, H)
    Wx, Wh, b = _leaf("Wx", D, 3 * H), _leaf("Wh", H, 3 * H), _leaf("b", 3 * H)
    xz, xr, xh = F.split(F.matmul(x, Wx) + b, 3, axis=1)
    Whz, Whr, Whh = F.split(Wh, 3, axis=1)
    z = _named(F.sigmoid(xz + F.matmul(h, Whz)), "z")
    r = _named(F.sigmoid(xr + F.matmul(h, Whr)), "r")
    h_hat = _named(F.tanh(xh + F.matmul(r * h, Whh)), "h~")
    return (_named((1 - z) * h + z * h_hat, "h'"),)


def rnn(T=3, N=2, D=3, H=4):
    """A simple RNN unrolled over T steps, each in ``name_scope(f"t={t}")``:
    h_t = tanh(x_t Wx + h_{t-1} Wh + b), from a zero state."""
    Wx, Wh, b = _leaf("Wx", D, H), _leaf("Wh", H, H), _leaf("b", H)
    h = Variable(np.zeros((N, H), dtype=np.float32), name="h (zeros)", requires_grad=False)
    hs = []
    for t in range(T):
        x = _leaf(f"x{t}", N, D, requires_grad=False)
        with name_scope(f"t={t}"):
            h = _named(F.tanh(F.matmul(x, Wx) + F.matmul(h, Wh) + b), f"h{t}")
        hs.append(h)
    return tuple(hs)


def second_order():
    """The gradient's own graph: y = x**4 - 2 x**2 at x = 2, after
    ``y.backward(create_graph=True)``; returns gx = 4 x**3 - 4 x (= 24)."""
    x = Variable(np.array(2.0, dtype=np.float32), name="x")
    y = x ** 4 - 2 * x ** 2
    y.backward(create_graph=True)
    return (_named(x.grad, "gx"),)


# Every example, by the file name of its golden DOT file and picture.
ALL = {
    "add": add, "branch": branch, "reuse": reuse, "repeat": repeat, "sum": sum,
    "matmul": matmul, "affine": affine, "linear": linear, "gru_cell": gru_cell,
    "rnn": rnn, "second_order": second_order,
}
