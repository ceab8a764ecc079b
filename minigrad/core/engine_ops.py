"""The operations the backward pass itself applies to a gradient: ``sum_to``
undoes broadcasting (a gradient of the broadcast shape is summed down to its
input's shape), ``broadcast_to`` is its backward, and ``astype`` keeps a
gradient in its Variable's dtype. They live in core because the engine needs
them; ``minigrad.functions`` exports them with the other operations."""
from __future__ import annotations

from .. import backend
from .function import Function

__all__ = ["BroadcastTo", "SumTo", "AsType", "broadcast_to", "sum_to", "astype"]


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
