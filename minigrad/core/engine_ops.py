"""What the backward pass does to each gradient an operation returns
(``fit_gradient``), and the operations it uses for that: ``sum_to`` undoes
broadcasting (a gradient of the broadcast shape is summed down to its input's
shape), ``broadcast_to`` is its backward, and ``astype`` keeps a gradient in
its Variable's dtype. They live in core because the engine needs them;
``minigrad.functions`` exports them with the other operations."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import ShapeError
from .function import Function
from .sparse import SparseRows
from .variable import Variable

__all__ = ["BroadcastTo", "SumTo", "AsType", "broadcast_to", "sum_to", "astype", "fit_gradient"]


class BroadcastTo(Function):
    """Copy along broadcast axes; backward sums (see SumTo)."""

    saves_inputs = False
    drawn = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, gy):
        return sum_to(gy, self.in_shape)


class SumTo(Function):
    """Sum down to ``shape`` (the inverse of broadcasting); backward broadcasts."""

    saves_inputs = False
    drawn = ("shape",)

    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        self.in_shape = x.shape
        lead = x.ndim - len(self.shape)
        if lead < 0:
            raise ValueError(f"cannot sum shape {x.shape} down to the longer shape {self.shape}")
        axes = tuple(range(lead)) + tuple(
            lead + i for i, n in enumerate(self.shape) if n == 1 and x.shape[lead + i] != 1)
        for i, n in enumerate(self.shape):
            if n != 1 and x.shape[lead + i] != n:
                raise ValueError(f"cannot sum shape {x.shape} down to {self.shape}")
        y = x.sum(axis=axes, keepdims=True) if axes else x.view()
        if lead:
            y = y.reshape(self.shape)
        return y

    def backward(self, gy):
        return broadcast_to(gy, self.in_shape)


class AsType(Function):
    """Cast to ``dtype``; backward casts the gradient back."""

    saves_inputs = False
    drawn = ("dtype",)

    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.in_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, gy):
        return astype(gy, self.in_dtype)


def broadcast_to(x, shape):
    shape = tuple(shape)
    if getattr(x, "shape", None) == shape:
        return x
    return BroadcastTo(shape).apply(x)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``, the shape it was broadcast from.

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.sum_to(np.ones((2, 3)), (1, 3))
    variable([[2., 2., 2.]])
    """
    shape = tuple(shape)
    if getattr(x, "shape", None) == shape:
        return x
    return SumTo(shape).apply(x)


def astype(x, dtype):
    """Cast to ``dtype``; the gradient is cast back to the input's dtype."""
    return AsType(dtype).apply(x)


def fit_gradient(f, i, x, gx, create_graph):
    """Bring a gradient to its input's shape and dtype, or explain why not."""
    data = x.data
    if type(gx) is np.ndarray and gx.shape == data.shape and (
            gx.dtype is data.dtype or gx.dtype == data.dtype):
        return gx  # the common case, first (one dtype object is usually both)
    if isinstance(gx, SparseRows):
        if gx.shape != data.shape:
            raise ShapeError(f"{f.name}.backward returned sparse rows for a table of shape "
                             f"{gx.shape}, but input {i} has shape {data.shape}")
        return gx if gx.dtype == data.dtype else gx.astype(data.dtype)
    if create_graph and not isinstance(gx, Variable):
        gx = Variable(backend.as_array(gx, data), requires_grad=False)
    elif not create_graph:
        gx = gx.data if isinstance(gx, Variable) else backend.as_array(gx, data)
    if gx.shape != data.shape:
        if not _sums_to(gx.shape, data.shape):
            raise ShapeError(
                f"{f.name}.backward returned a gradient of shape {gx.shape} for input {i} of "
                f"shape {data.shape}; a gradient must have its input's shape (or a shape that "
                "sums down to it)")
        gx = sum_to(gx, data.shape)
    if gx.dtype != data.dtype:
        # A gradient keeps its Variable's dtype: float64 never creeps into float32 models.
        gx = astype(gx, data.dtype)
    return gx


def _sums_to(big, small) -> bool:
    """True if an array of shape ``small`` broadcasts to shape ``big``."""
    if len(small) > len(big):
        return False
    for b, s in zip(big[len(big) - len(small):], small):
        if s != 1 and s != b:
            return False
    return True
