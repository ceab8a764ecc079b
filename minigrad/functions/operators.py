"""Python's operators and the ndarray-like methods of Variable.

``a + b``, ``a @ W``, ``x[i]``, ``x.reshape(...)``, ``x.sum()``, ... are the
operations of this package, so they are bound to Variable here, where those
operations are defined (the engine in ``minigrad.core`` knows no operation but
the few it applies to gradients). Backward code reads the same on arrays and
on Variables because Variables have these methods.
"""
from __future__ import annotations

from ..core.variable import Variable
from .arithmetic import Add, Div, Mul, Sub, add, div, mul, neg, pow, sub
from .elementwise import (abs, astype, clip, copy, cos, exp, leaky_relu, log, log1p, relu,
                          sigmoid, sin, sqrt, tanh)
from .linalg import matmul
from .reduction import argmax, argmin, logsumexp, max, mean, min, sum
from .shape import expand_dims, flatten, get_item, reshape, squeeze, transpose


def _radd(self, other):
    return Add().apply(other, self)


def _rsub(self, other):
    return Sub().apply(other, self)


def _rmul(self, other):
    return Mul().apply(other, self)


def _rtruediv(self, other):
    return Div().apply(other, self)


def _rmatmul(self, other):
    return matmul(other, self)


def _reshape(self, *shape):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    return reshape(self, shape)


def _transpose(self, *axes):
    if len(axes) == 0:
        axes = None
    elif len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
        axes = axes[0]
    return transpose(self, axes)


def _sum(self, axis=None, keepdims=False):
    return sum(self, axis=axis, keepdims=keepdims)


def _mean(self, axis=None, keepdims=False):
    return mean(self, axis=axis, keepdims=keepdims)


def _max(self, axis=None, keepdims=False):
    return max(self, axis=axis, keepdims=keepdims)


def _min(self, axis=None, keepdims=False):
    return min(self, axis=axis, keepdims=keepdims)


Variable.__add__, Variable.__radd__ = add, _radd
Variable.__sub__, Variable.__rsub__ = sub, _rsub
Variable.__mul__, Variable.__rmul__ = mul, _rmul
Variable.__truediv__, Variable.__rtruediv__ = div, _rtruediv
Variable.__neg__ = neg
Variable.__pow__ = pow
Variable.__matmul__, Variable.__rmatmul__ = matmul, _rmatmul
Variable.__getitem__ = get_item
Variable.reshape, Variable.transpose, Variable.T = _reshape, _transpose, property(transpose)
Variable.sum, Variable.mean, Variable.max, Variable.min = _sum, _mean, _max, _min
Variable.astype, Variable.copy = astype, copy
Variable.flatten, Variable.squeeze, Variable.expand_dims = flatten, squeeze, expand_dims
Variable.argmax, Variable.argmin, Variable.logsumexp = argmax, argmin, logsumexp
Variable.clip = clip                                        # v.clip(lo, hi), as ndarray's
Variable.__abs__ = Variable.abs = abs
# The element-wise functions as methods, as PyTorch's tensors have them.
Variable.exp, Variable.log, Variable.log1p, Variable.sqrt = exp, log, log1p, sqrt
Variable.sin, Variable.cos, Variable.tanh, Variable.sigmoid = sin, cos, tanh, sigmoid
Variable.relu, Variable.leaky_relu = relu, leaky_relu
