"""Parameter: a Variable that a Layer owns and an optimizer updates; and the
rule that picks a layer's dtype."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.arrays import array_of
from ..core.variable import Variable
from ..errors import DTypeError, ShapeError

DEFAULT_DTYPE = np.dtype(np.float32)


class Parameter(Variable):
    """A trainable Variable. Layers register the Parameters assigned to their
    attributes; optimizers update them in place (``p.data``). Its repr names it.

    >>> import numpy as np
    >>> from minigrad.layers import Parameter
    >>> W = Parameter(np.zeros((2, 3), dtype=np.float32), name="W")
    >>> W.requires_grad, W.shape
    (True, (2, 3))
    >>> W
    parameter([[0., 0., 0.],
               [0., 0., 0.]], dtype=float32, name='W')
    """

    __slots__ = ()

    def __init__(self, data, name=None, requires_grad=True):
        # True by default, not inferred: an integer array is refused here with a
        # DTypeError instead of becoming a Parameter that is never trained.
        super().__init__(data, name=name, requires_grad=requires_grad)

    def __repr__(self):
        # Variable's text (one rule for the numbers and the dtype), renamed and
        # re-indented by the one letter "parameter(" is longer than "variable(".
        lines = super().__repr__().split("\n")
        lines = ["parameter(" + lines[0][len("variable("):]] + [" " + line for line in lines[1:]]
        text = "\n".join(lines)
        if self.name is not None:
            text = f"{text[:-1]}, name={self.name!r})"
        return text


def _dtype_of(a):
    """The dtype of a given weight (array, Variable or nested list), or None
    for one not given (None, or a shape tuple standing for a fresh draw)."""
    if a is None or isinstance(a, tuple):
        return None
    data = a.data if isinstance(a, Variable) else a
    return data.dtype if hasattr(data, "dtype") else np.asarray(data).dtype


def layer_dtype(owner: str, dtype, *given) -> np.dtype:
    """The dtype of a layer's parameters: ``dtype`` when given, else the dtype
    of the first floating-point array among the ``given`` weights (None for
    those not given), else float32. A layer built from float64 weights stays
    float64; ``dtype=`` casts them.

    >>> layer_dtype("Linear", None, np.zeros((2, 2)), None), layer_dtype("Linear", None, None)
    (dtype('float64'), dtype('float32'))
    >>> layer_dtype("Linear", np.float64, np.zeros(2, dtype=np.float32))
    dtype('float64')
    """
    if dtype is not None:
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise DTypeError(f"{owner}: dtype must be a floating-point type such as np.float32, "
                             f"got {dtype}")
        return dtype
    for a in given:
        found = _dtype_of(a)
        if found is not None and np.dtype(found).kind == "f":
            return np.dtype(found)
    return DEFAULT_DTYPE


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
