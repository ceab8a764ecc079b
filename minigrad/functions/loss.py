"""Softmax, log-softmax, the two cross-entropy losses and the mean squared error."""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module, opaque_kernel
from ..core.function import Function
from ..core.arrays import array_of
from ..errors import DTypeError, ShapeError
from .elementwise import exp, softplus
from .reduction import _kept_shape, mean
from .shape import broadcast_to, reshape

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["softmax", "log_softmax", "softmax_cross_entropy", "sigmoid_cross_entropy",
           "mean_squared_error"]


class Softmax(Function):
    saves_inputs = False
    saves_output = True
    drawn = ("axis",)

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        e = xp.exp(x - x.max(axis=self.axis, keepdims=True))
        e /= e.sum(axis=self.axis, keepdims=True)
        return e

    def backward(self, gy):
        y = self.y
        return y * (gy - (y * gy).sum(axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    saves_inputs = False
    saves_output = True
    drawn = ("axis",)

    def __init__(self, axis=-1):
        self.axis = axis

    def forward(self, x):
        xp = get_array_module(x)
        z = x - x.max(axis=self.axis, keepdims=True)
        z -= xp.log(xp.exp(z).sum(axis=self.axis, keepdims=True))
        return z

    def backward(self, gy):
        return gy - exp(self.y) * gy.sum(axis=self.axis, keepdims=True)


class SoftmaxCrossEntropy(Function):
    """Mean over the kept targets of -log softmax(x)[t], x of shape (..., V) and
    integer targets t of shape (...); targets equal to ``ignore_index`` are
    skipped. If every target is ignored the loss and its gradient are 0.

    Backward is (softmax(x) - onehot(t)) * dy / n without building a one-hot
    matrix (DeZero's eye(V)[t] costs most of a language-model step)."""

    def __init__(self, ignore_index=-1):
        self.ignore_index = ignore_index

    def forward(self, x, t):
        xp = get_array_module(x)
        V = x.shape[-1]
        if t.ndim >= 1 and t.shape == x.shape:
            # In forward, not before it: a compiled step replays this for each batch.
            _check_one_hot(t)
            t = xp.argmax(t, axis=-1)
        if t.dtype.kind not in "iu":
            raise DTypeError(f"targets must be integers, got dtype {t.dtype}")
        if t.shape != x.shape[:-1]:
            raise ValueError(f"targets of shape {t.shape} do not match scores of shape {x.shape}: "
                             f"expected targets of shape {x.shape[:-1]}")
        scores = x.reshape(-1, V)
        t = t.reshape(-1)
        _check_targets(t, V, self.ignore_index)
        keep = t != self.ignore_index
        safe_t = xp.where(keep, t, 0)
        # The count of kept targets stays an array (at least 1): no value is read
        # into Python, so a compiled step's kernels recount it for each batch.
        # Counted in float32 at least: float16 ends at 65,504.
        count = np.promote_types(x.dtype, np.float32)
        n = xp.maximum(keep.sum(dtype=count), count.type(1))
        # One (rows, V) buffer, overwritten in place: at V = 10,000 each pass
        # over it costs as much as a small matmul, and a fresh one page faults.
        e = scores - scores.max(axis=1, keepdims=True)
        z_t = e[xp.arange(len(t)), safe_t]          # shifted target scores, before exp
        xp.exp(e, out=e)
        s = e.sum(axis=1)
        logp = z_t - xp.log(s)
        loss = -(logp * keep).sum() / n
        # backward turns exp(x - max) into its gradient in place
        self.save(keep=keep, safe_t=safe_t, exps=e, sums=s, n=n)
        return xp.asarray(loss, dtype=x.dtype)

    def backward(self, gy):
        x = self.xs[0]
        g = self.take("exps")    # the (rows, V) buffer becomes the gradient: no copy
        if g is None:            # a second backward (retain_graph) recomputes it
            g = softmax(x.reshape(-1, x.shape[-1]), axis=1)
            g *= (self.keep * gy / self.n)[:, None]
        else:
            # softmax * dy / n in one pass, the mean's 1/n folded into the
            # normalisation; an ignored target's row is multiplied by 0
            g *= (self.keep * gy / (self.sums * self.n))[:, None]
        xp = get_array_module(g)
        g[xp.arange(len(self.safe_t)), self.safe_t] -= self.keep * gy / self.n
        return g.reshape(x.shape), None

    def backward_graph(self, gy):
        """The same gradient as recorded operations, for higher orders."""
        x = self.inputs[0]
        xp = get_array_module(self.keep)
        onehot = xp.zeros((len(self.safe_t), x.shape[-1]), dtype=x.dtype)
        onehot[xp.arange(len(self.safe_t)), self.safe_t] = 1
        keep = self.keep.astype(x.dtype).reshape(x.shape[:-1] + (1,))
        return (softmax(x) - onehot.reshape(x.shape)) * (keep * (gy / self.n)), None


class MeanSquaredError(Function):
    """mean((x - t)**2) over ``axis`` (every axis if None); x and t of one shape.
    Backward: 2 (x - t) / n * dy for x (n: the elements averaged into each
    output value) and its negative for t."""

    drawn = ("axis",)

    def __init__(self, axis=None):
        self.axis = axis

    def forward(self, x, t):
        if x.shape != t.shape:
            # No broadcasting: an (N, 1) output against (N,) targets would
            # silently average an (N, N) table of differences.
            raise ShapeError(f"the targets must have the shape of x: x is {x.shape}, t is "
                             f"{t.shape}; reshape one of them")
        d = x - t
        y = get_array_module(d).mean(d * d, axis=self.axis)
        self.scale = 2 * y.size / x.size if x.size else 0.0
        return y

    def backward(self, gy):
        x, t = self.xs
        g = broadcast_to(reshape(gy, _kept_shape(x.shape, self.axis)), x.shape) * (
            (x - t) * self.scale)
        return g, (-g if self.needs_input_grad[1] else None)


def softmax(x, axis=-1):
    """Softmax along ``axis``, stable for large scores.

    >>> import numpy as np, minigrad as mg
    >>> mg.functions.softmax(np.array([1000.0, 1000.0]))
    variable([0.5, 0.5])
    """
    return Softmax(axis).apply(x)


def log_softmax(x, axis=-1):
    return LogSoftmax(axis).apply(x)


def softmax_cross_entropy(x, t, ignore_index=-1):
    """Cross-entropy of scores x (..., V) against integer targets t (...), the
    mean over targets that are not ``ignore_index``.

    One-hot targets of the scores' shape (..., V) are accepted too, as the
    book's SoftmaxWithLoss accepts them (its spiral data set of chapter 1 comes
    one-hot): each row's 1 marks its class. A target of that shape that is not
    one-hot (soft labels) is refused rather than silently rounded.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.zeros((2, 4)))
    >>> loss = mg.functions.softmax_cross_entropy(x, np.array([1, 3]))
    >>> round(float(loss.data), 6) == round(float(np.log(4)), 6)
    True
    >>> onehot = np.array([[0, 1, 0, 0], [0, 0, 0, 1]])
    >>> float(mg.functions.softmax_cross_entropy(x, onehot).data) == float(loss.data)
    True
    """
    return SoftmaxCrossEntropy(ignore_index).apply(x, t)


@opaque_kernel
def _check_one_hot(t):
    """Targets of the scores' shape must be one-hot rows."""
    if t.dtype.kind not in "biuf" or not bool(((t == 0) | (t == 1)).all()) \
            or not bool((t.sum(axis=-1) == 1).all()):
        raise ShapeError(
            f"SoftmaxCrossEntropy: targets of shape {t.shape} ({t.dtype}) have the scores' "
            "shape, so they are read as one-hot rows, but they are not one-hot (every row "
            "needs exactly one 1 and zeros elsewhere); pass integer class labels of shape "
            f"{t.shape[:-1]} instead, or t.argmax(axis=-1) if these are soft labels you "
            "mean to round")


@opaque_kernel
def _check_targets(t, V, ignore_index):
    """Every target is a class of the V, or ignore_index."""
    kept = t[t != ignore_index]
    if kept.size and ((kept < 0).any() or (kept >= V).any()):
        bad = kept[(kept < 0) | (kept >= V)][0]
        raise IndexError(f"target {int(bad)} is out of range for {V} classes (use "
                         f"ignore_index={ignore_index} to mark targets to skip)")


def sigmoid_cross_entropy(x, t):
    """Mean binary cross-entropy of logits x against targets t in {0, 1}.

    Written as mean(softplus(x) - x * t), so it is finite for any logit and its
    gradient is exactly (sigmoid(x) - t) / N (DeZero returns inf and NaN at 40).

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.array([100.0, -100.0]))
    >>> loss = mg.functions.sigmoid_cross_entropy(x, np.array([0.0, 1.0]))
    >>> loss.backward()
    >>> float(loss.data), x.grad
    (100.0, variable([ 0.5, -0.5]))
    """
    data, t = array_of(x), array_of(t)
    if t.shape != data.shape:
        raise ShapeError(f"SigmoidCrossEntropy: targets of shape {t.shape} do not match logits "
                         f"of shape {data.shape}")
    t = t.astype(data.dtype, copy=False)
    return mean(softplus(x) - x * t)


def mean_squared_error(x, t, axis=None):
    """The mean of (x - t)**2 over ``axis`` (an int, a tuple, or None for every
    axis, as ``F.mean``), x and t of the same shape (no broadcasting). The
    gradient of x is 2 (x - t) / n, n the number of elements averaged.

    No factor 1/2, as the usual definition and PyTorch's ``MSELoss``. The
    course notes' ``mean_squared_error`` is half of it,
    ``np.mean(np.square(d - y)) / 2``, so that the gradient of one element
    is ``y - d`` (their ``d_mean_squared_error``); their binary adder's loss,
    the mean over the bits of each step summed over the steps and halved, is
    ``F.sum(F.mean_squared_error(y, d, axis=0)) / 2`` for y, d of shape
    (bits, steps):

    >>> import numpy as np, minigrad as mg
    >>> y = mg.Variable(np.array([[0.9, 0.2, 0.6]]))    # one bit at each of 3 steps
    >>> d = np.array([[1.0, 0.0, 0.0]])
    >>> mg.functions.mean_squared_error(y, d)           # (0.01 + 0.04 + 0.36) / 3
    variable(0.13666667)
    >>> loss = mg.functions.sum(mg.functions.mean_squared_error(y, d, axis=0)) / 2
    >>> loss.backward()
    >>> y.grad                                          # y - d
    variable([[-0.1,  0.2,  0.6]])
    """
    return MeanSquaredError(axis).apply(x, t)
