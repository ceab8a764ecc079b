"""The book's MatMul node and the fused Affine (linear) layer."""
from __future__ import annotations

from ..core.function import Function
from .shape import reshape, transpose

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["matmul", "linear"]


def _swap_last(x):
    """x with its last two axes swapped (the matrix transpose of a batch)."""
    if x.ndim == 2:
        return x.T
    axes = list(range(x.ndim))
    axes[-1], axes[-2] = axes[-2], axes[-1]
    return transpose(x, axes)


def _flat_matmul(a, B, reshape=reshape):
    """a @ B for a of shape (..., K) and a 2-D B, computed as ONE (rows, K)
    product: numpy runs a 3-D @ 2-D product as a loop of small per-batch
    GEMMs, measured 2x slower at (20, 35, 650) @ (650, 10000). In backward
    ``reshape`` is F.reshape (arrays or, under create_graph, Variables);
    forward passes the plain array method."""
    if a.ndim <= 2 or B.ndim != 2:
        return a @ B
    lead = a.shape[:-1]
    return reshape(reshape(a, (-1, a.shape[-1])) @ B, lead + (B.shape[-1],))


def _array_reshape(a, shape):
    return a.reshape(shape)


def _check_inner(op, a, b):
    if a.ndim < 2 or b.ndim < 2:
        one = (f"; a single sample of shape {a.shape} is the batch x[None], shape (1, {a.shape[0]})"
               if a.ndim == 1 and b.ndim == 2 else "")
        raise ValueError(f"{op} needs operands of at least 2 dimensions, a batch of rows "
                         f"(F.matmul and @ also take vectors){one}")
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"the inner dimensions {a.shape[-1]} and {b.shape[-2]} differ: for x @ W with x of "
            f"shape {a.shape}, W must have shape ({a.shape[-1]}, ...)")


class MatMul(Function):
    """The book's MatMul node: y = x @ W, with dx = dy W^T and dW = x^T dy.

    x may carry leading batch axes, (N, T, D) @ (D, H) as in the book' TimeAffine;
    W's gradient then sums over them."""

    def forward(self, x, W):
        _check_inner(self.name, x, W)
        return _flat_matmul(x, W, _array_reshape)

    def backward(self, gy):
        x, W = self.xs
        need_x, need_W = self.needs_input_grad
        gx = _flat_matmul(gy, _swap_last(W)) if need_x else None
        gW = None
        if need_W:
            if W.ndim == 2 and x.ndim > 2:
                k, m = x.shape[-1], gy.shape[-1]
                gW = reshape(x, (-1, k)).T @ reshape(gy, (-1, m))
            else:
                gW = _swap_last(x) @ gy
        return gx, gW


class Linear(Function):
    """The book's Affine layer as one node: y = x @ W + b.

    x is (..., D), W is (D, H), b is (H,). b's gradient is the sum of dy over
    every leading axis (the Repeat node that adds b to each row).

    ``transposed=True`` takes W as (H, D) and computes x @ W.T + b, for a
    weight shared with an embedding table (weight tying): W's gradient is then
    computed directly in W's own (H, D) layout, where a Transpose node would
    hand the engine a strided view to add into the embedding's gradient."""

    def __init__(self, transposed=False):
        self.transposed = transposed

    def forward(self, x, W, b=None):
        Wm = W.T if self.transposed else W
        _check_inner(self.name, x, Wm)
        y = _flat_matmul(x, Wm, _array_reshape)
        if b is not None:
            y += b  # y is a fresh array: adding in place saves one allocation
        return y

    def backward(self, gy):
        x, W = self.xs[:2]
        needs = self.needs_input_grad
        gx = None
        if needs[0]:
            gx = _flat_matmul(gy, W if self.transposed else W.T)
        gW = None
        if needs[1]:
            x2, gy2 = reshape(x, (-1, x.shape[-1])), reshape(gy, (-1, gy.shape[-1]))
            gW = gy2.T @ x2 if self.transposed else x2.T @ gy2
        if len(needs) == 2:
            return gx, gW
        gb = reshape(gy, (-1, gy.shape[-1])).sum(axis=0) if needs[2] else None
        return gx, gW, gb


def matmul(a, b):
    """a @ b. Vectors are treated as numpy does (1-D a as a row, 1-D b as a column).

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.matmul(np.ones((20, 100)), np.ones((650, 2600)))
    Traceback (most recent call last):
    ...
    minigrad.errors.ShapeError: MatMul: cannot apply to inputs (20, 100) float64 and (650, 2600) float64: the inner dimensions 100 and 650 differ: for x @ W with x of shape (20, 100), W must have shape (100, ...)
    """
    if a.ndim == 1:
        y = matmul(reshape(a, (1, -1)), b)     # (..., 1, m), or (1,) when b is a vector too
        return reshape(y, y.shape[:-2] + y.shape[-1:] if y.ndim >= 2 else ())
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, (-1, 1))), a.shape[:-1])
    return MatMul().apply(a, b)


def linear(x, W, b=None, transposed=False):
    """x @ W + b in one node (the book's Affine layer); with ``transposed=True``
    W is (out, in) and the result x @ W.T + b (a tied embedding table)."""
    if W.ndim != 2:
        layout = "(out, in)" if transposed else "(in, out)"
        raise ValueError(f"Linear: W must be 2-D {layout}, got shape {W.shape}")
    if b is None:
        return Linear(transposed).apply(x, W)
    return Linear(transposed).apply(x, W, b)
