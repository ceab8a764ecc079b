"""Book-style layers with hand-written backward passes, in plain numpy.

Every layer follows the convention of "Deep Learning from Scratch 2":

* ``params``: a list of weight arrays; ``grads``: a list of arrays of the same
  shapes, allocated once;
* ``forward(...)`` computes the output and caches what backward needs;
* ``backward(dout)`` returns the gradient of the input and writes the parameter
  gradients *in place* (``grads[i][...] = ...``), so an optimizer that holds
  references to ``grads`` sees the new values.

Unlike the book, nothing forces float32: every buffer takes the dtype of the
weights (or of the data), so the layers can be gradient-checked in float64.
These twins import nothing from minigrad: they are the independent reference
the autograd models are checked against.
"""
from __future__ import annotations

import numpy as np

__all__ = ["MatMul", "Affine", "Sigmoid", "SoftmaxWithLoss", "Embedding", "EmbeddingDot",
           "SigmoidWithLoss", "NegativeSamplingLoss",
           "sigmoid", "softmax", "log_softmax", "softmax_cross_entropy"]


# ---------------------------------------------------------------- functions
def sigmoid(x):
    """1 / (1 + exp(-x)), without overflow warnings for large |x|:
    exp is only ever taken of a non-positive number."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def log_softmax(x):
    """log softmax over the last axis; the max is subtracted first so exp cannot
    overflow, and the log is exact (no epsilon needed, no -inf for tiny p)."""
    x = x - x.max(axis=-1, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=-1, keepdims=True))


def softmax(x):
    """softmax over the last axis."""
    return np.exp(log_softmax(x))


def softmax_cross_entropy(x, t, ignore_label=-1):
    """Mean cross-entropy of rows x (M, V) against integer targets t (M,),
    over the rows whose target is not ``ignore_label``.

    Returns (loss, p, kept, t_safe, count): the softmax p, the keep mask and the
    targets with ignored ones replaced by 0 are what the backward pass needs;
    ``count`` is the number of kept rows.
    """
    t = np.asarray(t)
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"targets must be integer class ids, got dtype {t.dtype}")
    kept = t != ignore_label if ignore_label is not None else np.ones(t.shape, dtype=bool)
    # Ignored rows may carry any label (e.g. -1): index them with class 0 and
    # let the mask remove them, instead of indexing out of range.
    t_safe = np.where(kept, t, 0)
    logp = log_softmax(x)
    rows = np.arange(len(t))
    count = int(kept.sum())
    # max(count, 1): a batch with every target ignored has loss 0, not 0/0.
    loss = -(logp[rows, t_safe] * kept).sum() / max(count, 1)
    return loss, np.exp(logp), kept, t_safe, count


# ---------------------------------------------------------------- layers
class MatMul:
    """out = x W;  dx = dout W^T,  dW = x^T dout."""

    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.x = None

    def forward(self, x):
        W, = self.params
        self.x = x
        return x @ W

    def backward(self, dout):
        W, = self.params
        self.grads[0][...] = self.x.T @ dout
        return dout @ W.T


class Affine:
    """out = x W + b.

    The bias is broadcast (repeated) over the N rows in forward, so its
    gradient is the *sum* of dout over the rows (the Repeat node's backward).
    """

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        W, b = self.params
        self.x = x
        return x @ W + b

    def backward(self, dout):
        W, _ = self.params
        self.grads[0][...] = self.x.T @ dout      # MatMul node
        self.grads[1][...] = dout.sum(axis=0)     # Repeat node: sum over the batch
        return dout @ W.T


class Sigmoid:
    """y = 1 / (1 + exp(-x));  dx = dout * y (1 - y), so only y is cached."""

    def __init__(self):
        self.params, self.grads = [], []
        self.out = None

    def forward(self, x):
        self.out = sigmoid(x)
        return self.out

    def backward(self, dout):
        return dout * self.out * (1 - self.out)


class SoftmaxWithLoss:
    """L = -(1/M) sum_n log softmax(x_n)[t_n] over the M rows whose target is not
    ``ignore_label``;  dx = (softmax(x) - onehot(t)) / M on those rows, 0 elsewhere.

    The log comes from log_softmax, so a tiny probability gives a large finite
    loss instead of the book's log(0) = -inf. No one-hot matrix is built: the
    1 is subtracted at the target entries only.
    """

    def __init__(self, ignore_label=-1):
        self.params, self.grads = [], []
        self.ignore_label = ignore_label
        self.cache = None

    def forward(self, x, t):
        loss, p, kept, t_safe, count = softmax_cross_entropy(x, t, self.ignore_label)
        self.cache = (p, kept, t_safe, count)
        return loss

    def backward(self, dout=1):
        p, kept, t_safe, count = self.cache
        dx = p.copy()
        dx[np.arange(len(t_safe)), t_safe] -= 1   # softmax - onehot, without the one-hot
        dx *= (dout / max(count, 1)) * kept[:, None]
        return dx


class SigmoidWithLoss:
    """Binary cross-entropy of logits x against labels t in {0, 1}, mean over the batch:

        L = (1/N) sum_n [ softplus(x_n) - t_n x_n ]  ( = -t log y - (1-t) log(1-y) )
        dx = (y - t) / N

    Written with softplus = logaddexp(0, x), so a logit of +-40 gives a finite
    loss and the exact gradient (the book's log(y + 1e-7) saturates there).
    """

    def __init__(self):
        self.params, self.grads = [], []
        self.y = self.t = None

    def forward(self, x, t):
        self.t = t
        self.y = sigmoid(x)
        return np.mean(np.logaddexp(0, x) - t * x)

    def backward(self, dout=1):
        return (self.y - self.t) * (dout / self.t.size)


class Embedding:
    """out = W[idx];  dW = sum of dout rows scattered back to their ids.

    The same id may appear several times in a batch; its row of dW must receive
    the *sum* of those gradients, hence np.add.at (``dW[idx] = dout`` would keep
    only the last one).
    """

    def __init__(self, W):
        self.params = [W]
        self.grads = [np.zeros_like(W)]
        self.idx = None

    def forward(self, idx):
        W, = self.params
        self.idx = idx
        return W[idx]

    def backward(self, dout):
        dW, = self.grads
        dW[...] = 0
        np.add.at(dW, self.idx, dout)
        return None   # ids are integers: no gradient flows to them


class EmbeddingDot:
    """out_n = W[idx_n] . h_n: the score of one word per row, without the full
    (N, V) product h W^T. Graph: Embedding -> multiply by h -> sum over D."""

    def __init__(self, W):
        self.embed = Embedding(W)
        self.params = self.embed.params
        self.grads = self.embed.grads
        self.cache = None

    def forward(self, h, idx):
        target_W = self.embed.forward(idx)        # (N, D)
        self.cache = (h, target_W)
        return np.sum(target_W * h, axis=1)       # (N,)

    def backward(self, dout):
        h, target_W = self.cache
        dout = dout.reshape(-1, 1)                # Sum node: dout copied over D
        dtarget_W = dout * h                      # Mul node, towards the embedding
        self.embed.backward(dtarget_W)
        return dout * target_W                    # Mul node, towards h


class NegativeSamplingLoss:
    """The book's negative-sampling loss with the negatives given explicitly:

        L = BCE(h . W_out[target], 1) + sum_{j<k} BCE(h . W_out[neg_j], 0)

    where each BCE is a mean over the batch (one SigmoidWithLoss per term), so L
    is the sum over 1 + k terms of per-term batch means.

    The 1 + k EmbeddingDot layers share the one parameter W_out (V, D); each
    writes its own gradient buffer, and backward sums them into ``grads[0]``
    (listing W_out 1 + k times would make an optimizer update it 1 + k times).
    """

    def __init__(self, W_out, sample_size=5):
        self.sample_size = sample_size
        self.params = [W_out]
        self.grads = [np.zeros_like(W_out)]
        self.loss_layers = [SigmoidWithLoss() for _ in range(sample_size + 1)]
        self.embed_dot_layers = [EmbeddingDot(W_out) for _ in range(sample_size + 1)]

    def forward(self, h, target, negatives):
        negatives = np.asarray(negatives)
        if negatives.shape != (len(target), self.sample_size):
            raise ValueError(f"NegativeSamplingLoss: negatives must have shape "
                             f"({len(target)}, {self.sample_size}), got {negatives.shape}")
        N = len(target)
        # Positive term: label 1.
        score = self.embed_dot_layers[0].forward(h, target)
        loss = self.loss_layers[0].forward(score, np.ones(N, dtype=h.dtype))
        # Negative terms: label 0, one per column of `negatives`.
        zeros = np.zeros(N, dtype=h.dtype)
        for j in range(self.sample_size):
            score = self.embed_dot_layers[1 + j].forward(h, negatives[:, j])
            loss += self.loss_layers[1 + j].forward(score, zeros)
        return loss

    def backward(self, dout=1):
        dh = 0
        dW = self.grads[0]
        dW[...] = 0
        # h feeds every term: its gradient is the sum over the 1 + k branches;
        # so is W_out's, because every branch reads the same matrix.
        for loss_layer, embed_dot in zip(self.loss_layers, self.embed_dot_layers):
            dscore = loss_layer.backward(dout)
            dh = dh + embed_dot.backward(dscore)
            dW += embed_dot.grads[0]
        return dh
