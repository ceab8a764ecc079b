"""The arithmetic nodes (Add and Mul are the book's first two graph nodes) and
the other operations that combine inputs element by element: maximum,
minimum, where.

Broadcasting needs no code here: a gradient returned with the broadcast shape
is summed down to each input's shape by the engine. ``broadcasts = True``
tells the drawer to show the book's Repeat node where an input was broadcast.
"""
from __future__ import annotations

from ..backend import get_array_module
from ..core.function import Function
from ..core.arrays import array_of
from ..core.variable import Variable

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["add", "sub", "mul", "div", "neg", "pow", "maximum", "minimum", "where"]


class Add(Function):
    """z = a + b. The book's add node: backward passes dz on to both inputs unchanged."""

    saves_inputs = False
    broadcasts = True

    def forward(self, a, b):
        return a + b

    def backward(self, gz):
        return gz, gz


class Sub(Function):
    saves_inputs = False
    broadcasts = True

    def forward(self, a, b):
        return a - b

    def backward(self, gz):
        return gz, -gz


class Mul(Function):
    """z = a * b. The book's multiply node: each input's gradient is dz times the
    other input ("swapped")."""

    broadcasts = True

    def forward(self, a, b):
        return a * b

    def backward(self, gz):
        a, b = self.xs
        need_a, need_b = self.needs_input_grad
        return (gz * b if need_a else None), (gz * a if need_b else None)


class Div(Function):
    broadcasts = True

    def forward(self, a, b):
        return a / b

    def backward(self, gz):
        a, b = self.xs
        ga = gz / b
        return ga, (-(ga * a) / b if self.needs_input_grad[1] else None)


class Neg(Function):
    saves_inputs = False

    def forward(self, x):
        return -x

    def backward(self, gy):
        return -gy


class Pow(Function):
    """y = x ** c for a constant exponent c."""

    drawn = ("c",)

    def __init__(self, c):
        self.c = c

    def forward(self, x):
        return x ** self.c

    def backward(self, gy):
        x, = self.xs
        c = self.c
        # x ** 1 would be a needless node in a create_graph backward
        return gy * c * (x if c == 2 else x ** (c - 1))


class Maximum(Function):
    """The larger of a and b, element by element. Where they tie, each gets half
    of the gradient (as PyTorch does, and as Max shares it among tied
    elements), so the two always sum to dz."""

    broadcasts = True
    pick = "maximum"

    def forward(self, a, b):
        return getattr(get_array_module(a, b), self.pick)(a, b)

    def backward(self, gz):
        # Who won is a constant of the values, read raw even under create_graph.
        a, b = array_of(self.xs[0]), array_of(self.xs[1])
        won = (a > b) if self.pick == "maximum" else (a < b)
        share = (won + 0.5 * (a == b)).astype(gz.dtype)
        need_a, need_b = self.needs_input_grad
        return (gz * share if need_a else None), (gz * (1 - share) if need_b else None)


class Minimum(Maximum):
    """The smaller of a and b, element by element; a tie splits the gradient."""

    pick = "minimum"


class Where(Function):
    """a where ``cond`` holds, else b, with broadcasting. ``cond`` is a constant
    (a mask: it gets no gradient); a's gradient is dz where cond holds, b's
    elsewhere. Its inputs are (a, b, cond), so Python numbers take a's or b's
    dtype, not the mask's."""

    broadcasts = True

    def forward(self, a, b, cond):
        return get_array_module(a, b, cond).where(cond, a, b)

    def backward(self, gz):
        cond = array_of(self.xs[2])
        need_a, need_b, _ = self.needs_input_grad
        return (where(cond, gz, 0.0) if need_a else None,
                where(cond, 0.0, gz) if need_b else None, None)


def add(a, b):
    """a + b with broadcasting.

    >>> import numpy as np, minigrad as mg
    >>> a, b = mg.Variable(np.ones((2, 3))), mg.Variable(np.ones(3))
    >>> z = mg.functions.add(a, b)
    >>> z.sum().backward()
    >>> b.grad                     # summed over the broadcast axis
    variable([2., 2., 2.])
    """
    return Add().apply(a, b)


def sub(a, b):
    return Sub().apply(a, b)


def mul(a, b):
    return Mul().apply(a, b)


def div(a, b):
    return Div().apply(a, b)


def neg(x):
    return Neg().apply(x)


def pow(x, c):
    """x ** c for a constant (Python number) exponent c."""
    if not isinstance(c, (int, float)):
        raise TypeError(f"Pow: the exponent must be a Python number, got {type(c).__name__}; "
                        "for a variable exponent write exp(c * log(x))")
    return Pow(c).apply(x)


def maximum(a, b):
    """The larger of a and b, element by element, with broadcasting (numpy's
    ``maximum``); a tie splits the gradient in half.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.array([-1.0, 0.0, 2.0]))
    >>> mg.functions.maximum(x, 0.0).backward(np.ones(3))
    >>> x.grad
    variable([0. , 0.5, 1. ])
    """
    return Maximum().apply(a, b)


def minimum(a, b):
    """The smaller of a and b, element by element (numpy's ``minimum``)."""
    return Minimum().apply(a, b)


def where(cond, a, b):
    """a where ``cond`` is true, else b, with broadcasting (numpy's ``where``).
    ``cond`` (a boolean array, or a comparison such as ``x > 0``) is a constant.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.array([-2.0, 3.0]))
    >>> y = mg.functions.where(x > 0, x, x * 0.1)
    >>> y.backward(np.ones(2))
    >>> y, x.grad
    (variable([-0.2,  3. ]), variable([0.1, 1. ]))
    """
    if isinstance(cond, Variable):
        cond = cond.data
    return Where().apply(a, b, cond)
