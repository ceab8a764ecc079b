"""The course notes' binary adder with its backward pass written by hand (BPTT).

Plain numpy, one pair of numbers at a time, as the notes write it. The input
at step t is the two bits (a_t, b_t), least significant first; z_{-1} = 0::

    u_t = x_t W_in + z_{t-1} W          z_t = f(u_t)      (f: sigmoid in the notes)
    y_t = sigmoid(z_t W_out)            no biases
    loss = sum over t of the mean over the bits of (d_t - y_t)^2 / 2

The notes' mean squared error is halved, so its derivative is y - d. The
backward pass, run from the last step to the first with delta_T = 0::

    delta_out_t = (y_t - d_t) * y_t (1 - y_t)
    delta_t     = (delta_{t+1} W^T + delta_out_t W_out^T) * f'(u_t)
    dW_out = sum_t z_t^T delta_out_t,   dW = sum_t z_{t-1}^T delta_t,   dW_in = sum_t x_t^T delta_t

f'(u_t) is read off z_t = f(u_t): z (1 - z) for sigmoid, 1 - z^2 for tanh,
[z > 0] for relu. Nothing here imports minigrad: this is the reference the
autograd model (models.binary_addition.NotesAdder) is checked against.
"""
from __future__ import annotations

import numpy as np

__all__ = ["BinaryAdderBPTT"]


def _sigmoid(u):
    e = np.exp(-np.abs(u))
    return np.where(u >= 0, 1.0, e) / (1.0 + e)


_HIDDEN = {
    # f(u) and f'(u) written from z = f(u)
    "sigmoid": (_sigmoid, lambda z: z * (1.0 - z)),
    "tanh": (np.tanh, lambda z: 1.0 - z * z),
    "relu": (lambda u: np.maximum(u, 0.0), lambda z: (z > 0).astype(z.dtype)),
}


class BinaryAdderBPTT:
    """The notes' RNN, book style, from the weights ``{"W_in": (2, H), "W": (H,
    H), "W_out": (H, 1)}``: ``params`` = [W_in, W, W_out] (copies, updated in
    place by an optimizer), ``param_grads`` of the same shapes written in place
    by :meth:`backward`; ``grads()`` gives them keyed like the weights.

    ``forward((x, d))`` takes one pair: x (T, 2) and the target bits d (T, 1)
    (or (T,)), least significant first, and returns the loss."""

    KEYS = ("W_in", "W", "W_out")

    def __init__(self, weights, nonlinearity="sigmoid"):
        self.params = [np.array(weights[k], copy=True) for k in self.KEYS]
        self.param_grads = [np.zeros_like(p) for p in self.params]
        self.f, self.f_prime = _HIDDEN[nonlinearity]
        self.cache = None

    def forward(self, batch):
        x, d = batch
        W_in, W, W_out = self.params
        T, H = len(x), W.shape[0]
        d = np.asarray(d, dtype=W_out.dtype).reshape(T, -1)
        z = np.zeros((T + 1, H), dtype=W.dtype)         # z[t + 1] = z_t; z[0] = z_{-1} = 0
        y = np.empty((T, W_out.shape[1]), dtype=W_out.dtype)
        delta_out = np.empty_like(y)
        loss = 0.0
        for t in range(T):
            u = x[t] @ W_in + z[t] @ W
            z[t + 1] = self.f(u)
            y[t] = _sigmoid(z[t + 1] @ W_out)
            loss += np.mean(np.square(d[t] - y[t])) / 2
            # dMSE (the mean's 1 / bits, halved square) times the output sigmoid's derivative
            delta_out[t] = (y[t] - d[t]) / y.shape[1] * y[t] * (1.0 - y[t])
        self.cache = (x, z, y, delta_out)
        return loss

    def predict(self):
        """The predicted bits of the last forward: round(y_t)."""
        return np.round(self.cache[2])

    def backward(self):
        W_in, W, W_out = self.params
        gW_in, gW, gW_out = self.param_grads
        x, z, _, delta_out = self.cache
        gW_in[...] = 0
        gW[...] = 0
        gW_out[...] = 0
        delta = np.zeros(W.shape[0], dtype=W.dtype)     # delta_T: nothing after the last step
        for t in range(len(x) - 1, -1, -1):
            delta = (delta @ W.T + delta_out[t] @ W_out.T) * self.f_prime(z[t + 1])
            gW_out += np.outer(z[t + 1], delta_out[t])
            gW += np.outer(z[t], delta)
            gW_in += np.outer(x[t], delta)

    def grads(self) -> dict:
        return {k: g.copy() for k, g in zip(self.KEYS, self.param_grads)}
