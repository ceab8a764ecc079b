"""Helpers that take arrays and Variables alike."""
from __future__ import annotations

from .. import backend
from .variable import Variable


def as_variable(x, like=None) -> Variable:
    """``x`` if it is a Variable, else a constant Variable (requires_grad=False).

    Python numbers take the dtype of ``like`` (a reference array) when given."""
    if isinstance(x, Variable):
        return x
    return Variable(backend.as_array(x, like), requires_grad=False)


def array_of(x):
    """The raw array behind ``x``: Variable.data, or ``x`` itself as an array.
    (Never getattr(x, "data"): an ndarray's .data is its memoryview.)"""
    if isinstance(x, Variable):
        return x.data
    return backend.as_array(x)


def get_array_module(*xs):
    """numpy, or cupy if any argument (an array or a Variable) lives on the GPU.

    >>> import numpy as np
    >>> get_array_module(Variable(np.zeros(2)), 2.0).__name__
    'numpy'
    """
    return backend.get_array_module(*[x.data if isinstance(x, Variable) else x for x in xs])


def to_gpu(x):
    """An array's (or a Variable's data's) copy on the GPU; ``Variable.to_gpu()``
    moves a Variable in place."""
    return backend.as_cupy(x.data if isinstance(x, Variable) else x)


def to_cpu(x):
    """An array's (or a Variable's data's) numpy version, copied from the GPU if needed."""
    return backend.as_numpy(x.data if isinstance(x, Variable) else x)
