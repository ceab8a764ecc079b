"""Element-wise functions of one input."""
from __future__ import annotations

from ..backend import get_array_module
from ..core.engine_ops import AsType, astype  # noqa: F401
from ..core.function import Function
from ..core.arrays import array_of

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["exp", "log", "log1p", "sqrt", "abs", "sin", "cos", "tanh", "sigmoid", "softplus",
           "relu", "leaky_relu", "clip", "copy", "astype"]


class Exp(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, x):
        return get_array_module(x).exp(x)

    def backward(self, gy):
        return gy * self.y


class Log(Function):
    def forward(self, x):
        return get_array_module(x).log(x)

    def backward(self, gy):
        x, = self.xs
        return gy / x


class Log1p(Function):
    """log(1 + x), exact for tiny x where log(1 + x) rounds 1 + x first."""

    def forward(self, x):
        return get_array_module(x).log1p(x)

    def backward(self, gy):
        x, = self.xs
        return gy / (x + 1)


class Abs(Function):
    """|x|. At exactly 0 the gradient is 0 (sign(0), as PyTorch's)."""

    def forward(self, x):
        return get_array_module(x).abs(x)

    def backward(self, gy):
        # The sign is a constant of the values, raw even under create_graph.
        x = array_of(self.xs[0])
        return gy * get_array_module(x).sign(x)


class Sin(Function):
    def forward(self, x):
        return get_array_module(x).sin(x)

    def backward(self, gy):
        x, = self.xs
        return gy * cos(x)


class Cos(Function):
    def forward(self, x):
        return get_array_module(x).cos(x)

    def backward(self, gy):
        x, = self.xs
        return -(gy * sin(x))


class Sqrt(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, x):
        return get_array_module(x).sqrt(x)

    def backward(self, gy):
        return gy / (self.y * 2)


class Tanh(Function):
    saves_inputs = False
    saves_output = True

    def forward(self, x):
        return get_array_module(x).tanh(x)

    def backward(self, gy):
        y = self.y
        return gy * (1 - y * y)


class Sigmoid(Function):
    """1 / (1 + exp(-x)), computed as e / (1 + e) with e = exp(-|x|) on the
    negative side: no overflow for any x, and full relative precision in both
    tails (0.5 * tanh(x / 2) + 0.5 rounds to 0 below x = -37)."""

    saves_inputs = False
    saves_output = True

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(-xp.abs(x))
        return xp.where(x >= 0, 1.0, e) / (1.0 + e)

    def backward(self, gy):
        y = self.y
        return gy * y * (1 - y)


class Softplus(Function):
    """log(1 + exp(x)), stable for any x: max(x, 0) + log1p(exp(-|x|))."""

    def forward(self, x):
        xp = get_array_module(x)
        return xp.maximum(x, 0) + xp.log1p(xp.exp(-xp.abs(x)))

    def backward(self, gy):
        x, = self.xs
        return gy * sigmoid(x)


class ReLU(Function):
    """max(x, 0). At exactly 0 the gradient is 0 (the subgradient PyTorch uses too).
    The gradient passes where the output is positive: backward reads the
    output, so forward makes no mask (nor under no_grad)."""

    saves_inputs = False
    saves_output = True

    def forward(self, x):
        return get_array_module(x).maximum(x, 0)

    def backward(self, gy):
        # The mask is a constant of the values, raw even under create_graph.
        return gy * (array_of(self.y) > 0)


class LeakyReLU(Function):
    """x where x > 0, else ``slope * x``. At exactly 0 the gradient is
    ``slope``: the side ReLU takes too (its gradient is 0 there)."""

    drawn = ("slope",)

    def __init__(self, slope):
        self.slope = slope

    def forward(self, x):
        return get_array_module(x).where(x > 0, x, x * x.dtype.type(self.slope))

    def backward(self, gy):
        x = array_of(self.xs[0])
        one, slope = x.dtype.type(1), x.dtype.type(self.slope)
        return gy * get_array_module(x).where(x > 0, one, slope)


class Clip(Function):
    """Clamp into [lo, hi]; the gradient passes where lo <= x <= hi. A bound
    of None is no bound (as numpy's ``clip``)."""

    drawn = ("lo", "hi")

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, gy):
        x = array_of(self.xs[0])
        return gy * ((x >= self.lo) & (x <= self.hi))


class Copy(Function):
    saves_inputs = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        return gy


def exp(x):
    return Exp().apply(x)


def log(x):
    return Log().apply(x)


def log1p(x):
    """log(1 + x), accurate where x is tiny."""
    return Log1p().apply(x)


def sqrt(x):
    return Sqrt().apply(x)


def abs(x):
    """|x| element by element; the gradient at 0 is 0. ``abs(v)`` and
    ``v.abs()`` call it too."""
    return Abs().apply(x)


def sin(x):
    return Sin().apply(x)


def cos(x):
    return Cos().apply(x)


def tanh(x):
    return Tanh().apply(x)


def sigmoid(x):
    """Logistic sigmoid, stable at any magnitude.

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.sigmoid(np.array([-1000.0, 0.0, 1000.0]))
    variable([0. , 0.5, 1. ])
    """
    return Sigmoid().apply(x)


def softplus(x):
    return Softplus().apply(x)


def relu(x):
    return ReLU().apply(x)


def leaky_relu(x, slope: float = 0.2):
    """x for x > 0, else ``slope * x``. The default slope, 0.2, is DeZero's
    (PyTorch's is 0.01); the gradient at 0 is ``slope``.

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.leaky_relu(np.array([-1.0, 0.0, 2.0]))
    variable([-0.2,  0. ,  2. ])
    """
    return LeakyReLU(slope).apply(x)


def clip(x, lo, hi):
    lo = -float("inf") if lo is None else lo
    hi = float("inf") if hi is None else hi
    if lo > hi:
        raise ValueError(f"Clip: lo={lo} is greater than hi={hi}")
    return Clip(lo, hi).apply(x)


def copy(x):
    """A copy that keeps the graph: the gradient passes through unchanged."""
    return Copy().apply(x)
