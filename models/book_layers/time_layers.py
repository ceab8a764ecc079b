"""Book-style recurrent layers with hand-written backward passes, in plain numpy.

Layouts are the book's (everything is x @ W, weights packed per gate):

* RNN:  Wx (D, H),  Wh (H, H),  b (H)
* LSTM: Wx (D, 4H), Wh (H, 4H), b (4H), gates in the order f, g, i, o
* GRU:  Wx (D, 3H), Wh (H, 3H), b (3H), gates in the order z, r, h~

A cell (RNN, LSTM, GRU) is one time step; a Time layer (TimeRNN, ...) runs one
cell per step over xs of shape (N, T, D) and backpropagates through all of
them (BPTT). With ``stateful=True`` the last state of a call is where the next
call starts (truncated BPTT: the gradient stops at the call boundary, and
``dh`` holds the gradient that reached the first state).

All buffers take the dtype of the weights; none is forced to float32, so
float64 gradient checks pass for the Time layers too, not only for the cells.
"""
from __future__ import annotations

import numpy as np

from .layers import Embedding, sigmoid, softmax_cross_entropy

__all__ = ["RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeEmbedding",
           "TimeAffine", "TimeSoftmaxWithLoss", "TimeDropout", "TimeBiLSTM"]


# ---------------------------------------------------------------- cells
class RNN:
    """h' = tanh(x Wx + h Wh + b).

    backward(dh') returns (dx, dh) and writes dWx, dWh, db into ``grads``.
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        h_next = np.tanh(x @ Wx + h_prev @ Wh + b)
        self.cache = (x, h_prev, h_next)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _ = self.params
        x, h_prev, h_next = self.cache
        da = dh_next * (1 - h_next ** 2)          # tanh node: tanh' = 1 - tanh^2
        self.grads[2][...] = da.sum(axis=0)       # bias Repeat node: sum over the batch
        self.grads[1][...] = h_prev.T @ da        # MatMul h Wh
        self.grads[0][...] = x.T @ da             # MatMul x Wx
        dh_prev = da @ Wh.T
        dx = da @ Wx.T
        return dx, dh_prev


class LSTM:
    """The book's LSTM step; A = x Wx + h Wh + b cut into f, g, i, o (in this order)::

        f = sigmoid(A_f)   g = tanh(A_g)   i = sigmoid(A_i)   o = sigmoid(A_o)
        c' = f * c + g * i
        h' = o * tanh(c')

    backward(dh', dc') returns (dx, dh, dc).
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev, c_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        A = x @ Wx + h_prev @ Wh + b              # all four gates in one matmul each
        f = sigmoid(A[:, :H])
        g = np.tanh(A[:, H:2 * H])
        i = sigmoid(A[:, 2 * H:3 * H])
        o = sigmoid(A[:, 3 * H:])
        c_next = f * c_prev + g * i
        tanh_c_next = np.tanh(c_next)
        h_next = o * tanh_c_next
        self.cache = (x, h_prev, c_prev, f, g, i, o, tanh_c_next)
        return h_next, c_next

    def backward(self, dh_next, dc_next):
        Wx, Wh, _ = self.params
        x, h_prev, c_prev, f, g, i, o, tanh_c_next = self.cache
        # h' = o * tanh(c'): c' gets gradient from h' (through tanh) and from the
        # next step's cell state directly (the "highway" that fights vanishing).
        ds = dc_next + dh_next * o * (1 - tanh_c_next ** 2)
        do = dh_next * tanh_c_next                 # Mul node o * tanh(c')
        # c' = f * c + g * i: two Mul nodes and an Add (which copies ds to both).
        dc_prev = ds * f
        df = ds * c_prev
        dg = ds * i
        di = ds * g
        # Through the gate nonlinearities, back to the pre-activations A.
        df *= f * (1 - f)                          # sigmoid' = y (1 - y)
        dg *= 1 - g ** 2                           # tanh' = 1 - y^2
        di *= i * (1 - i)
        do *= o * (1 - o)
        dA = np.hstack((df, dg, di, do))           # Slice node backward: reassemble f, g, i, o
        # A = x Wx + h Wh + b: same three nodes as the RNN cell.
        self.grads[2][...] = dA.sum(axis=0)
        self.grads[1][...] = h_prev.T @ dA
        self.grads[0][...] = x.T @ dA
        dh_prev = dA @ Wh.T
        dx = dA @ Wx.T
        return dx, dh_prev, dc_prev


class GRU:
    """The book's GRU step (gates z, r, h~; the reset gate scales h *before* Whh)::

        z  = sigmoid(x Wxz + h Whz + bz)
        r  = sigmoid(x Wxr + h Whr + br)
        h~ = tanh(x Wxh + (r * h) Whh + bh)
        h' = (1 - z) * h + z * h~

    backward(dh') returns (dx, dh).
    """

    def __init__(self, Wx, Wh, b):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.cache = None

    def forward(self, x, h_prev):
        Wx, Wh, b = self.params
        H = Wh.shape[0]
        xw = x @ Wx + b                            # the x-part of all three gates
        zr = sigmoid(xw[:, :2 * H] + h_prev @ Wh[:, :2 * H])
        z, r = zr[:, :H], zr[:, H:]
        rh = r * h_prev
        h_hat = np.tanh(xw[:, 2 * H:] + rh @ Wh[:, 2 * H:])
        h_next = (1 - z) * h_prev + z * h_hat
        self.cache = (x, h_prev, z, r, rh, h_hat)
        return h_next

    def backward(self, dh_next):
        Wx, Wh, _ = self.params
        H = Wh.shape[0]
        x, h_prev, z, r, rh, h_hat = self.cache
        Whzr, Whh = Wh[:, :2 * H], Wh[:, 2 * H:]

        # h' = (1 - z) * h + z * h~: h gets the direct share (1 - z) of dh'.
        dh_prev = dh_next * (1 - z)
        dh_hat = dh_next * z

        # The tanh part: h~ = tanh(a_h), a_h = x Wxh + (r * h) Whh + bh.
        da_h = dh_hat * (1 - h_hat ** 2)
        dWhh = rh.T @ da_h                         # MatMul (r * h) Whh
        drh = da_h @ Whh.T
        dh_prev += drh * r                         # Mul node r * h, towards h
        dr = drh * h_prev                          # Mul node r * h, towards r

        # The update gate: h' depends on z through z * (h~ - h).
        dz = dh_next * (h_hat - h_prev)
        da_z = dz * z * (1 - z)

        # The reset gate: r = sigmoid(a_r).
        da_r = dr * r * (1 - r)

        # a_z, a_r = x Wxz + h Whz + bz, x Wxr + h Whr + br: one (H, 2H) matmul.
        da_zr = np.hstack((da_z, da_r))
        dWhzr = h_prev.T @ da_zr
        dh_prev += da_zr @ Whzr.T

        # The x-side of all three gates is one (D, 3H) matmul plus the bias.
        da = np.hstack((da_zr, da_h))
        self.grads[0][...] = x.T @ da
        self.grads[1][:, :2 * H] = dWhzr
        self.grads[1][:, 2 * H:] = dWhh
        self.grads[2][...] = da.sum(axis=0)
        dx = da @ Wx.T
        return dx, dh_prev


# ---------------------------------------------------------------- time layers
class _TimeRecurrent:
    """What TimeRNN, TimeLSTM and TimeGRU share: the parameters, the state kept
    between calls, and the loop over time. A subclass names its ``cell`` class
    and whether it carries a cell state ``c``."""

    cell = None
    has_c = False

    def __init__(self, Wx, Wh, b, stateful=False):
        self.params = [Wx, Wh, b]
        self.grads = [np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)]
        self.layers = None
        self.stateful = stateful
        self.h = self.c = None      # the last state; None means zeros
        self.dh = self.dc = None    # gradient reaching the first state, after backward

    def reset_state(self):
        """Start the next call from zeros."""
        self.h = self.c = None

    def set_state(self, h, c=None):
        """Start the next call of a stateful layer from ``h`` (and ``c``).
        A layer that is not stateful starts every call from zeros, as in the book."""
        self.h, self.c = h, c

    def forward(self, xs):
        """Hidden states (N, T, H) of xs (N, T, D)."""
        Wx, Wh, _ = self.params
        N, T, _ = xs.shape
        H = Wh.shape[0]
        dtype = np.result_type(xs, Wx)
        zeros = np.zeros((N, H), dtype=dtype)
        if not self.stateful or self.h is None:
            self.h = zeros
        if self.has_c and (not self.stateful or self.c is None):
            self.c = zeros

        hs = np.empty((N, T, H), dtype=dtype)
        self.layers = []
        for t in range(T):
            # Every step's cell reads the *same* weight arrays; only its grads are its own.
            layer = self.cell(*self.params)
            if self.has_c:
                self.h, self.c = layer.forward(xs[:, t], self.h, self.c)
            else:
                self.h = layer.forward(xs[:, t], self.h)
            hs[:, t] = self.h
            self.layers.append(layer)
        return hs

    def backward(self, dhs):
        """dxs (N, T, D) from dhs (N, T, H); the weight gradients are the sums
        over the steps, because every step used the same weights."""
        Wx, _, _ = self.params
        N, T, _ = dhs.shape
        dxs = np.empty((N, T, Wx.shape[0]), dtype=np.result_type(dhs, Wx))
        grads = [np.zeros_like(g) for g in self.grads]
        # Gradients flowing backwards in time; the last step has none from the future.
        dh = np.zeros_like(dhs[:, 0])
        dc = np.zeros_like(dh) if self.has_c else None
        for t in reversed(range(T)):
            layer = self.layers[t]
            # h_t feeds two places: the output hs[:, t] and the next step (Copy node).
            if self.has_c:
                dx, dh, dc = layer.backward(dhs[:, t] + dh, dc)
            else:
                dx, dh = layer.backward(dhs[:, t] + dh)
            dxs[:, t] = dx
            for total, g in zip(grads, layer.grads):
                total += g
        for own, total in zip(self.grads, grads):
            own[...] = total
        self.dh, self.dc = dh, dc
        return dxs


class TimeRNN(_TimeRecurrent):
    """h_t = tanh(x_t Wx + h_{t-1} Wh + b) for t = 0..T-1; Wx (D, H), Wh (H, H), b (H)."""

    cell = RNN


class TimeLSTM(_TimeRecurrent):
    """The LSTM cell over T steps; Wx (D, 4H), Wh (H, 4H), b (4H), gates f, g, i, o.
    ``self.c`` holds the last cell state (carried too when stateful)."""

    cell = LSTM
    has_c = True


class TimeGRU(_TimeRecurrent):
    """The book's GRU cell over T steps; Wx (D, 3H), Wh (H, 3H), b (3H), gates z, r, h~."""

    cell = GRU


class TimeEmbedding(Embedding):
    """out[n, t] = W[xs[n, t]]; duplicate ids accumulate in dW (np.add.at).

    The same layer as Embedding, applied to (N, T) ids in one scatter, where the
    book runs one Embedding per step, each zeroing a full (V, D) gradient
    buffer: that zeroing is most of the cost of the book's embedding backward.
    """


class TimeAffine:
    """out[n, t] = x[n, t] W + b: the N*T rows in one matmul."""

    def __init__(self, W, b):
        self.params = [W, b]
        self.grads = [np.zeros_like(W), np.zeros_like(b)]
        self.x = None

    def forward(self, x):
        W, b = self.params
        N, T, D = x.shape
        self.x = x
        return (x.reshape(N * T, D) @ W + b).reshape(N, T, -1)

    def backward(self, dout):
        W, _ = self.params
        N, T, D = self.x.shape
        dout = dout.reshape(N * T, -1)
        self.grads[0][...] = self.x.reshape(N * T, D).T @ dout
        self.grads[1][...] = dout.sum(axis=0)
        return (dout @ W.T).reshape(N, T, D)


class TimeSoftmaxWithLoss:
    """Cross-entropy of xs (N, T, V) against integer targets ts (N, T), the mean
    over the targets that are not ``ignore_label`` (padding)::

        L = -(1/K) sum over kept (n, t) of log softmax(x[n, t])[ts[n, t]]

    where K is the number of kept targets; ignored positions get zero gradient.
    """

    def __init__(self, ignore_label=-1):
        self.params, self.grads = [], []
        self.ignore_label = ignore_label
        self.cache = None

    def forward(self, xs, ts):
        N, T, V = xs.shape
        loss, p, kept, t_safe, count = softmax_cross_entropy(
            xs.reshape(N * T, V), np.asarray(ts).reshape(N * T), self.ignore_label)
        self.cache = (p, kept, t_safe, count, (N, T, V))
        return loss

    def backward(self, dout=1):
        p, kept, t_safe, count, shape = self.cache
        dx = p.copy()
        dx[np.arange(len(t_safe)), t_safe] -= 1     # softmax - onehot at the targets only
        dx *= (dout / max(count, 1)) * kept[:, None]  # the mean over kept targets; mask
        return dx.reshape(shape)


class TimeDropout:
    """Inverted dropout: while ``train_flg``, out = xs * mask / (1 - ratio) with
    mask ~ Bernoulli(1 - ratio), so the expected output equals xs and evaluation
    needs no rescaling; the identity otherwise.

    ``forward(xs, mask=...)`` uses a given keep mask (booleans or 0/1 of xs's
    shape) instead of a random one, so a test can run the same mask through
    two implementations.
    """

    def __init__(self, dropout_ratio=0.5, rng=None):
        if not 0.0 <= dropout_ratio < 1.0:
            raise ValueError(f"TimeDropout: ratio must be in [0, 1), got {dropout_ratio}")
        self.params, self.grads = [], []
        self.dropout_ratio = dropout_ratio
        self.train_flg = True
        self.rng = np.random.default_rng(rng)
        self.mask = None

    def forward(self, xs, mask=None):
        if not self.train_flg:
            self.mask = None
            return xs
        if mask is None:
            mask = self.rng.random(xs.shape) >= self.dropout_ratio
        elif np.shape(mask) != xs.shape:
            raise ValueError(f"TimeDropout: mask must have shape {xs.shape}, got {np.shape(mask)}")
        # The scale folded into the mask once: forward and backward are one multiply each.
        self.mask = np.asarray(mask).astype(xs.dtype) / xs.dtype.type(1 - self.dropout_ratio)
        return xs * self.mask

    def backward(self, dout):
        return dout if self.mask is None else dout * self.mask


class TimeBiLSTM:
    """The book's bidirectional LSTM: one TimeLSTM reads xs left to right, a
    second (weights of its own) reads it right to left; the second's outputs
    are put back in input order and concatenated after the first's::

        out[:, t] = [ h_forward_t , h_backward_t ]        (N, T, 2H)

    where h_backward_t has read steps T-1 down to t. Both read every input
    step, so dxs is the sum of both layers' input gradients (the second's
    reversed back). ``params`` / ``grads``: the forward layer's, then the
    backward layer's.
    """

    def __init__(self, Wx1, Wh1, b1, Wx2, Wh2, b2, stateful=False):
        self.forward_lstm = TimeLSTM(Wx1, Wh1, b1, stateful)
        self.backward_lstm = TimeLSTM(Wx2, Wh2, b2, stateful)
        self.params = self.forward_lstm.params + self.backward_lstm.params
        self.grads = self.forward_lstm.grads + self.backward_lstm.grads

    def forward(self, xs):
        left_to_right = self.forward_lstm.forward(xs)
        right_to_left = self.backward_lstm.forward(xs[:, ::-1])[:, ::-1]
        return np.concatenate((left_to_right, right_to_left), axis=2)

    def backward(self, dhs):
        H = dhs.shape[2] // 2
        # Concat node: each half of the gradient goes back to its own layer.
        dxs = self.forward_lstm.backward(dhs[:, :, :H])
        # The reversal is undone on the way back: the backward layer saw step t
        # of its input at position T-1-t.
        dxs_reversed = self.backward_lstm.backward(dhs[:, ::-1, H:])
        return dxs + dxs_reversed[:, ::-1]
