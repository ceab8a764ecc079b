"""Parameter: a Variable that a Layer owns and an optimizer updates; and the
rule that picks a layer's dtype."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.arrays import array_of
from ..core.config import is_grad_enabled
from ..core.sparse import SparseRows
from ..core.variable import Variable
from ..errors import DTypeError, GraphError, ShapeError

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

    In-place arithmetic (``-=``, ``+=``, ``*=``, ``/=``) updates the
    parameter's own array under ``no_grad``, the update PyTorch users write
    by hand; it is the same Parameter afterwards, still registered in its
    layer and its optimizer:

    >>> import minigrad as mg
    >>> W.grad = mg.Variable(np.ones((2, 3), dtype=np.float32))
    >>> with mg.no_grad():
    ...     W -= 0.5 * W.grad
    >>> W.data
    array([[-0.5, -0.5, -0.5],
           [-0.5, -0.5, -0.5]], dtype=float32)
    """

    # ``home``: an array a communicator lends the parameter (its region of a
    # flat gradient buffer, see minigrad.distributed.buckets); the backward
    # pass copies a fresh dense gradient there (core/gradients.py). None
    # here: an unset slot would read as None too, but slowly.
    __slots__ = ("home",)

    def __init__(self, data, name=None, requires_grad=True):
        # True by default, not inferred: an integer array is refused here with a
        # DTypeError instead of becoming a Parameter that is never trained.
        super().__init__(data, name=name, requires_grad=requires_grad)
        self.home = None

    def __repr__(self):
        # Variable's text (one rule for the numbers and the dtype), renamed and
        # re-indented by the one letter "parameter(" is longer than "variable(".
        lines = super().__repr__().split("\n")
        lines = ["parameter(" + lines[0][len("variable("):]] + [" " + line for line in lines[1:]]
        text = "\n".join(lines)
        if self.name is not None:
            text = f"{text[:-1]}, name={self.name!r})"
        return text

    # A Variable's ``p -= x`` would make a new Variable and rebind the name,
    # leaving the weights as they were: for a parameter the update is meant.
    def __iadd__(self, other):
        return self._in_place("+=", other)

    def __isub__(self, other):
        return self._in_place("-=", other)

    def __imul__(self, other):
        return self._in_place("*=", other)

    def __itruediv__(self, other):
        return self._in_place("/=", other)

    def _in_place(self, op, other):
        """``self.data <op> other`` in place, under the rules PyTorch applies to
        a leaf tensor: refused where the graph would record it."""
        what = f"Parameter {self.name + ' ' if self.name else ''}{tuple(self.shape)}"
        if is_grad_enabled() and self.requires_grad:
            raise GraphError(
                f"{op} on {what}: an in-place change of a parameter that requires grad is "
                f"not recorded in the graph. For an update by hand write it under no_grad "
                f"(with minigrad.no_grad(): p {op} ...), or change the array (p.data {op} ...)")
        if isinstance(other, SparseRows):
            raise TypeError(f"{op} on {what}: the operand is a sparse gradient (SparseRows); "
                            "use other.to_dense(), or let an optimizer apply it")
        value = array_of(other)
        shape = value.shape
        try:
            fits = np.broadcast_shapes(tuple(shape), tuple(self.shape)) == tuple(self.shape)
        except ValueError:
            fits = False
        if not fits:
            raise ShapeError(f"{op} on {what}: the operand has shape {tuple(shape)}, which does "
                             f"not broadcast to the parameter's shape; an update must keep it "
                             f"{tuple(self.shape)}")
        data = self.data
        if isinstance(data, np.ndarray) and not data.flags.writeable:
            # The engine's guard: a live graph saved this array for its backward.
            raise GraphError(
                f"{op} on {what}: its array is saved by a graph that has not run backward "
                f"yet, and changing it would make that backward wrong. Call backward() "
                f"first (or drop the graph: del the loss), then update")
        if op == "+=":
            data += value
        elif op == "-=":
            data -= value
        elif op == "*=":
            data *= value
        else:
            data /= value
        return self


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
