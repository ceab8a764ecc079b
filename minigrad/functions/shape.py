"""Nodes that move, copy or select values without arithmetic: reshape,
transpose, the book's Repeat and Branch nodes, broadcast/sum_to, indexing,
concat/split/stack."""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..core.engine_ops import BroadcastTo, SumTo, broadcast_to, sum_to  # noqa: F401
from ..core.function import Function
from ..core.variable import Variable
from ..errors import ShapeError

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["reshape", "transpose", "flatten", "squeeze", "expand_dims", "broadcast_to", "sum_to",
           "repeat", "branch", "get_item", "concat", "split", "stack"]


def _normalize_axis(axis, ndim, op):
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for an array of {ndim} dimensions")
    return axis % ndim


class Reshape(Function):
    saves_inputs = False
    drawn = ("shape",)

    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, gy):
        return reshape(gy, self.in_shape)


class Transpose(Function):
    saves_inputs = False
    drawn = ("axes",)

    def __init__(self, axes=None):
        self.axes = None if axes is None else tuple(axes)

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, gy):
        if self.axes is None:
            return transpose(gy)
        inverse = tuple(np.argsort([a % len(self.axes) for a in self.axes]))
        return transpose(gy, inverse)


class Repeat(Function):
    """The book's Repeat node: copy ``repeats`` times along ``axis`` (numpy's
    ``repeat``). Backward sums the copies, which is why a bias added to every
    row of a batch gets the sum of the rows' gradients."""

    saves_inputs = False
    drawn = ("repeats", "axis")

    def __init__(self, repeats, axis):
        self.repeats, self.axis = repeats, axis

    def forward(self, x):
        self.in_shape = x.shape
        self.axis = _normalize_axis(self.axis, x.ndim, "Repeat")
        return backend.get_array_module(x).repeat(x, self.repeats, axis=self.axis)

    def backward(self, gy):
        a, n = self.axis, self.in_shape[self.axis]
        split_shape = self.in_shape[:a] + (n, self.repeats) + self.in_shape[a + 1:]
        return reshape(gy, split_shape).sum(axis=a + 1)


class Branch(Function):
    """The book's Branch node: one value handed to ``n`` consumers. Backward is
    the sum of the consumers' gradients. (Any Variable used twice is implicitly
    a branch: the engine sums its gradients the same way.)"""

    saves_inputs = False

    def __init__(self, n):
        self.n = n

    def forward(self, x):
        # Views, not x itself: an output is a computed value and may be frozen
        # read-only when saved, which must never reach the input's own array.
        return tuple([x.view() for _ in range(self.n)])

    def backward(self, *gys):
        total = gys[0]
        for g in gys[1:]:
            total = total + g
        return total


def _has_array(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(not isinstance(p, (slice, int, type(None), type(Ellipsis))) for p in parts)


class GetItem(Function):
    """x[index] for slices, integers and integer arrays. With integer arrays an
    index may repeat; the gradients of repeated rows accumulate (an Embedding's
    backward)."""

    saves_inputs = False

    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, gy):
        return GetItemGrad(self.index, self.in_shape).apply(gy)


class GetItemGrad(Function):
    """Scatter ``gy`` into zeros of the indexed array's shape (GetItem's backward);
    its own backward is GetItem again, so indexing has higher-order gradients."""

    saves_inputs = False

    def __init__(self, index, shape):
        self.index, self.shape = index, shape

    def forward(self, gy):
        xp = backend.get_array_module(gy)
        gx = xp.zeros(self.shape, dtype=gy.dtype)
        if _has_array(self.index):
            backend.scatter_add(gx, self.index, gy)
        else:
            gx[self.index] = gy  # basic indexing selects each element at most once
        return gx

    def backward(self, ggx):
        return get_item(ggx, self.index)


class Concat(Function):
    saves_inputs = False
    drawn = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.axis = _normalize_axis(self.axis, xs[0].ndim, "Concat")
        self.cuts = np.cumsum([x.shape[self.axis] for x in xs])[:-1].tolist()
        return backend.get_array_module(xs[0]).concatenate(xs, axis=self.axis)

    def backward(self, gy):
        return split(gy, self.cuts, axis=self.axis)


class Split(Function):
    """Cut along ``axis`` at the given indices (or into equal sections); the
    outputs are views. Backward concatenates (zeros for unused pieces)."""

    saves_inputs = False
    drawn = (("indices_or_sections", "sections"), "axis")

    def __init__(self, indices_or_sections, axis):
        self.indices_or_sections, self.axis = indices_or_sections, axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        return tuple(xp.split(x, self.indices_or_sections, axis=self.axis))

    def backward(self, *gys):
        return concat(gys, axis=self.axis)


class Stack(Function):
    saves_inputs = False
    drawn = ("axis",)

    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.axis = _normalize_axis(self.axis, xs[0].ndim + 1, "Stack")
        return backend.get_array_module(xs[0]).stack(xs, axis=self.axis)

    def backward(self, gy):
        lead = (slice(None),) * self.axis
        return tuple(get_item(gy, lead + (i,)) for i in range(gy.shape[self.axis]))


def reshape(x, shape):
    if not isinstance(shape, tuple):
        shape = tuple(shape) if isinstance(shape, list) else (shape,)
    if getattr(x, "shape", None) == shape:
        return x
    return Reshape(shape).apply(x)


def transpose(x, axes=None):
    return Transpose(axes).apply(x)


# flatten, squeeze and expand_dims only change the shape: each is a Reshape
# to the shape numpy's function of the same name gives.

def _shape_of(x):
    return x.shape if hasattr(x, "shape") else np.shape(x)


def flatten(x):
    """All elements along one axis, in order (numpy's ``flatten``, ``ravel``).

    >>> import numpy as np, minigrad as mg
    >>> mg.Variable(np.ones((2, 3))).flatten().shape
    (6,)
    """
    return reshape(x, (math.prod(_shape_of(x)),))


def squeeze(x, axis=None):
    """Drop axes of length 1: all of them, or those of ``axis`` (an int or a
    tuple), which must have length 1 (numpy's ``squeeze``).

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.ones((2, 1, 3, 1)))
    >>> x.squeeze().shape, x.squeeze(axis=1).shape
    ((2, 3), (2, 3, 1))
    """
    shape = _shape_of(x)
    if axis is None:
        axes = {i for i, n in enumerate(shape) if n == 1}
    else:
        axes = {_normalize_axis(a, len(shape), "squeeze")
                for a in (axis if isinstance(axis, tuple) else (axis,))}
        longer = sorted(a for a in axes if shape[a] != 1)
        if longer:
            raise ShapeError(f"squeeze: axis {longer[0]} of shape {shape} has length "
                             f"{shape[longer[0]]}, not 1; only axes of length 1 can be dropped "
                             "(reduce it with sum or mean, or select with x[...])")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in axes))


def expand_dims(x, axis):
    """Insert axes of length 1 at ``axis`` (an int or a tuple, positions in the
    result), as numpy's ``expand_dims``: (3,) becomes (1, 3) with axis 0.

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.expand_dims(np.ones(3), (0, -1)).shape
    (1, 3, 1)
    """
    shape = _shape_of(x)
    axes = axis if isinstance(axis, tuple) else (axis,)
    ndim = len(shape) + len(axes)
    new = {_normalize_axis(a, ndim, "expand_dims") for a in axes}
    if len(new) != len(axes):
        raise ValueError(f"expand_dims: axis {axis} names a position twice")
    rest = iter(shape)
    return reshape(x, tuple(1 if i in new else next(rest) for i in range(ndim)))


def repeat(x, repeats: int, axis: int = 0, new_axis: bool = False):
    """Copy ``x`` ``repeats`` times along ``axis`` (the book's Repeat node).

    With ``new_axis=True`` a new axis of length ``repeats`` is inserted at
    ``axis`` (a D-vector becomes an (N, D) matrix, as in the book' figure).

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.repeat(np.array([1.0, 2.0]), 3, axis=0, new_axis=True).shape
    (3, 2)
    """
    if not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"Repeat: repeats must be a positive integer, got {repeats!r}")
    if new_axis:
        xs = x.shape
        a = axis % (len(xs) + 1)
        x = reshape(x, xs[:a] + (1,) + xs[a:])
    return Repeat(int(repeats), axis)(x)


def branch(x, n: int = 2):
    """Hand ``x`` to ``n`` consumers explicitly (the book's Branch node)."""
    if n < 1:
        raise ValueError(f"Branch: n must be at least 1, got {n}")
    out = Branch(n).apply(x)
    return out if isinstance(out, tuple) else (out,)


def get_item(x, index):
    if isinstance(index, Variable):
        index = index.data
    elif isinstance(index, tuple):
        index = tuple(i.data if isinstance(i, Variable) else i for i in index)
    elif isinstance(index, list):
        index = backend.as_array(index)
    return GetItem(index).apply(x)


def concat(xs, axis: int = 0):
    xs = tuple(xs)
    if not xs:
        raise ValueError("Concat: needs at least one input")
    return Concat(axis).apply(*xs)


def split(x, indices_or_sections, axis: int = 0):
    """Split along ``axis`` at ``indices_or_sections`` (as numpy's split); returns
    a tuple of Variables."""
    if isinstance(indices_or_sections, (list, tuple)):
        indices_or_sections = list(indices_or_sections)
    out = Split(indices_or_sections, axis).apply(x)
    return out if isinstance(out, tuple) else (out,)


def stack(xs, axis: int = 0):
    xs = tuple(xs)
    if not xs:
        raise ValueError("Stack: needs at least one input")
    return Stack(axis).apply(*xs)
