"""Parameter: a Variable that a Layer owns and an optimizer updates."""
from __future__ import annotations

from .. import backend
from ..core.variable import Variable, array_of
from ..errors import ShapeError


class Parameter(Variable):
    """A trainable Variable. Layers register the Parameters assigned to their
    attributes; optimizers update them in place (``p.data``).

    >>> import numpy as np
    >>> from minigrad.layers import Parameter
    >>> W = Parameter(np.zeros((2, 3), dtype=np.float32), name="W")
    >>> W.requires_grad, W.shape
    (True, (2, 3))
    """

    __slots__ = ()

    def __init__(self, data, name=None, requires_grad=True):
        # True by default, not inferred: an integer array is refused here with a
        # DTypeError instead of becoming a Parameter that is never trained.
        super().__init__(data, name=name, requires_grad=requires_grad)


def given_array(owner: str, what: str, a, shape, dtype):
    """A copy of a user-supplied weight (an array or a Variable, on either
    device), of ``dtype``, checked against the shape the layer needs. Copied
    so that the caller's array and the layer's Parameter never alias: the
    optimizers update Parameters in place."""
    data = array_of(a)
    data = backend.get_array_module(data).array(data, dtype=dtype, copy=True)
    if tuple(data.shape) != tuple(shape):
        raise ShapeError(f"{owner}: {what} must have shape {tuple(shape)}, got "
                         f"{tuple(data.shape)} (the book's layout: y = x @ W)")
    return data
