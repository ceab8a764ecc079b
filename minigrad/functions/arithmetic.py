"""The arithmetic nodes: Add and Mul are the book's first two graph nodes.

Broadcasting needs no code here: a gradient returned with the broadcast shape
is summed down to each input's shape by the engine.
"""
from __future__ import annotations

from ..core.function import Function

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["add", "sub", "mul", "div", "neg", "pow"]


class Add(Function):
    """z = a + b. The book's add node: backward passes dz on to both inputs unchanged."""

    saves_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, gz):
        return gz, gz


class Sub(Function):
    saves_inputs = False

    def forward(self, a, b):
        return a - b

    def backward(self, gz):
        return gz, -gz


class Mul(Function):
    """z = a * b. The book's multiply node: each input's gradient is dz times the
    other input ("swapped")."""

    def forward(self, a, b):
        return a * b

    def backward(self, gz):
        a, b = self.xs
        need_a, need_b = self.needs_input_grad
        return (gz * b if need_a else None), (gz * a if need_b else None)


class Div(Function):
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
