"""SparseRows: the gradient of a (V, D) table when only some rows received one.

An embedding lookup touches a few rows of a large table. Its gradient kept
dense is a (V, D) buffer of zeros written at those rows, every step, and an
optimizer then sweeps the whole table. Kept as (row indices, rows) it costs
only what was looked up, and optimizers update only the touched rows.

The engine accumulates SparseRows like any gradient: sparse + sparse
concatenates (duplicate indices are summed when coalesced), sparse + dense is
dense. A Parameter that received only sparse gradients has a SparseRows as its
``.grad``; ``to_dense()`` gives the ordinary array.
"""
from __future__ import annotations

from .. import backend


class SparseRows:
    """dL/dW for a table W of ``shape`` (V, D...): row ``indices[i]`` receives
    ``rows[i]``; repeated indices add up.

    >>> import numpy as np
    >>> g = SparseRows(np.array([2, 0, 2]), np.ones((3, 2)), (4, 2))
    >>> g.to_dense()
    array([[1., 1.],
           [0., 0.],
           [2., 2.],
           [0., 0.]])
    >>> idx, rows = g.coalesce()
    >>> idx.tolist(), rows.tolist()
    ([0, 2], [[1.0, 1.0], [2.0, 2.0]])
    """

    __slots__ = ("indices", "rows", "shape")
    # ndarray + SparseRows must reach our reflected operators, not numpy's.
    __array_ufunc__ = None

    def __init__(self, indices, rows, shape):
        self.indices = indices.reshape(-1)
        self.rows = rows.reshape((self.indices.shape[0],) + tuple(shape[1:]))
        self.shape = tuple(shape)

    @property
    def dtype(self):
        return self.rows.dtype

    def to_dense(self):
        xp = backend.get_array_module(self.rows)
        dense = xp.zeros(self.shape, dtype=self.rows.dtype)
        return backend.scatter_add(dense, self.indices, self.rows)

    def coalesce(self):
        """(unique sorted indices, their summed rows)."""
        xp = backend.get_array_module(self.rows)
        if not backend.is_cupy_array(self.rows):
            return backend.coalesce_rows(self.indices, self.rows)
        unique, inverse = xp.unique(self.indices, return_inverse=True)
        summed = xp.zeros((unique.shape[0],) + self.shape[1:], dtype=self.rows.dtype)
        backend.scatter_add(summed, inverse.reshape(-1), self.rows)
        return unique, summed

    def coalesced(self) -> "SparseRows":
        """The same gradient with each index once (sorted), its rows summed."""
        unique, summed = self.coalesce()
        return SparseRows(unique, summed, self.shape)

    def astype(self, dtype):
        return SparseRows(self.indices, self.rows.astype(dtype), self.shape)

    def copy(self):
        return SparseRows(self.indices.copy(), self.rows.copy(), self.shape)

    def moved(self, convert) -> "SparseRows":
        """The same gradient with indices and rows passed through ``convert``
        (``backend.as_cupy`` or ``backend.as_numpy``: a device move)."""
        return SparseRows(convert(self.indices), convert(self.rows), self.shape)

    def __add__(self, other):
        if isinstance(other, SparseRows):
            xp = backend.get_array_module(self.rows)
            return SparseRows(xp.concatenate([self.indices, other.indices]),
                              xp.concatenate([self.rows, other.rows]), self.shape)
        xp = backend.get_array_module(self.rows)
        if isinstance(other, xp.ndarray) and other.shape == self.shape:
            # A copy of the dense side with the rows added in: one pass, where
            # to_dense() + other would fill zeros and then add two tables.
            out = other.astype(xp.result_type(other, self.rows), copy=True)
            return backend.scatter_add(out, self.indices, self.rows)
        return self.to_dense() + other

    __radd__ = __add__

    def __repr__(self):
        return (f"SparseRows({self.indices.shape[0]} rows of a {self.shape} table, "
                f"dtype={self.rows.dtype})")
