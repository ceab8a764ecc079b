"""A whole RNN, LSTM or GRU sequence as one operation (fused), in the book's layouts.

Composed from small operations, one LSTM step is a dozen graph nodes, and its
recurrent weight Wh receives one (H, 4H) gradient per time step that the
engine must add up: at H = 650 that sum alone is ~35 passes over 7 MB per
layer and step. Here the time loop runs inside ``forward`` on arrays; the
backward loop keeps every step's pre-activation gradient in one (N, T, kH)
buffer, so dWh is ONE matmul over all steps and dxw is that buffer itself.
The book's hand-written TimeLSTM does the loop too, but sums T small dWh.

For the simple RNN (h' = f(x Wx + h Wh + b), f one of tanh, sigmoid, relu) a
step is only three or four nodes, but on the learners' typical workload (one
sample, a few steps, ~16 units: the course notes' binary adder) the cost of
recording and backpropagating each tiny node is most of the step; one node
for the whole loop removes it.

The step math is exactly ``rnn_step`` / ``lstm_step`` / ``gru_step`` of
``steps.py`` (the composed versions, which draw one cluster of
nodes per step); tests check values and gradients of both against each other
and against float64 central differences.

Higher order: ``backward_graph`` (the backward of ``create_graph=True``)
replays the sequence with the composed steps on Variables and differentiates
that, so second derivatives work; ordinary backward never pays for it.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..core.backward import grad
from ..core.function import Function
from ..core.variable import Variable
from .shape import reshape, split, stack
from .steps import gru_step, lstm_step, rnn_step

# The operations this module exports (minigrad.functions re-exports them).
__all__ = ["rnn", "lstm", "gru"]


def _sigmoid(a, out):
    """out = sigmoid(a) = 0.5 tanh(a / 2) + 0.5: one transcendental pass, no
    overflow for any a (the gates need absolute, not tail-relative, precision)."""
    xp = get_array_module(a)
    xp.multiply(a, 0.5, out=out)
    xp.tanh(out, out=out)
    out *= 0.5
    out += 0.5
    return out


# The simple RNN's nonlinearities, each as (in place on a raw array, its
# derivative from its output y = f(a)).
def _relu_(a):
    return get_array_module(a).maximum(a, 0, out=a)


def _tanh_(a):
    return get_array_module(a).tanh(a, out=a)


_RNN_ACTIVATIONS = {
    "tanh": (_tanh_, lambda y: 1 - y * y),
    "sigmoid": (lambda a: _sigmoid(a, a), lambda y: y * (1 - y)),
    "relu": (_relu_, lambda y: y > 0),    # 0 at a = 0, as F.relu
}
RNN_NONLINEARITIES = tuple(_RNN_ACTIVATIONS)


def check_nonlinearity(nonlinearity, owner):
    """The simple RNN's nonlinearity name, checked (one rule for the layers and F.rnn)."""
    if nonlinearity not in _RNN_ACTIVATIONS:
        raise ValueError(f"{owner}: nonlinearity must be one of {', '.join(RNN_NONLINEARITIES)}; "
                         f"got {nonlinearity!r}")
    return nonlinearity


def _check(name, xw, Wh, k, states):
    kH = "H" if k == 1 else f"{k}H"
    if xw.ndim != 3:
        raise ValueError(f"the input projection must be (N, T, {kH}), got shape {xw.shape}")
    H = Wh.shape[0]
    if Wh.shape != (H, k * H) or xw.shape[2] != k * H:
        raise ValueError(f"Wh must be (H, {kH}) and the input projection (N, T, {kH}) with the "
                         f"same H; got Wh {Wh.shape} and projection {xw.shape}")
    for label, s in states:
        if s is not None and s.shape != (xw.shape[0], H):
            raise ValueError(f"{label} must be (N, H) = {(xw.shape[0], H)}, got {s.shape}")


class _FusedSequence(Function):
    """Inputs: xw (N, T, kH) = x Wx + b for every step, Wh (H, kH), then the
    initial states that were given (None means zeros and no input)."""

    def __init__(self, has_h0=False, has_c0=False, trace=None):
        self.has_h0, self.has_c0 = has_h0, has_c0
        # A list to receive ||dL/dh_t|| per step during backward (trace_grads).
        self.trace = trace

    def _states(self, rest):
        rest = list(rest)
        h0 = rest.pop(0) if self.has_h0 else None
        c0 = rest.pop(0) if self.has_c0 else None
        return h0, c0

    def _record_norm(self, t, T, dh):
        if self.trace is not None:
            if len(self.trace) != T:
                self.trace[:] = [0.0] * T
            self.trace[t] = float(np.sqrt(np.sum(np.square(dh, dtype=np.float64))))

    def backward_graph(self, *gys):
        """Gradients as a recorded graph (create_graph=True): replay the steps
        with the composed operations on the input Variables and differentiate
        the replay (a plain array input is a constant: no gradient)."""
        wrt = [x for x in self.inputs if isinstance(x, Variable)]
        found = dict(zip(wrt, grad(self._replay(*self.inputs), wrt, grad_outputs=list(gys),
                                   create_graph=True)))
        return tuple([found.get(x) if isinstance(x, Variable) else None for x in self.inputs])


class RNNSequence(_FusedSequence):
    """The simple RNN over all T steps: h_t = f(xw_t + h_{t-1} Wh) with f the
    ``nonlinearity`` (tanh, sigmoid or relu). Output: hs (N, T, H)."""

    def __init__(self, nonlinearity="tanh", has_h0=False, trace=None):
        super().__init__(has_h0, False, trace)
        self.nonlinearity = check_nonlinearity(nonlinearity, "RNNSequence")

    def forward(self, xw, Wh, *rest):
        h, _ = self._states(rest)
        _check(self.name, xw, Wh, 1, (("h0", h),))
        xp = get_array_module(xw)
        N, T, H = xw.shape
        dtype = np.result_type(xw, Wh)
        activate = _RNN_ACTIVATIONS[self.nonlinearity][0]
        # Time-major states: states[0] = h_{-1} (h0, zeros if None), states[t + 1] = h_t.
        # Every step's slice is contiguous, and states[:-1] is every h_{t-1} at once.
        # The projections are copied in with one call; each step then adds h Wh.
        states = xp.empty((T + 1, N, H), dtype=dtype)
        states[0] = 0 if h is None else h
        states[1:] = xw.transpose(1, 0, 2)
        for t in range(T):
            a = states[t + 1]
            if h is not None:
                a += h @ Wh
            h = activate(a)
        self.save(states=states)
        hs = xp.empty((N, T, H), dtype=dtype)
        hs[...] = states[1:].transpose(1, 0, 2)
        return hs

    def backward(self, ghs):
        Wh = self.xs[1]
        states = self.states
        derivative = _RNN_ACTIVATIONS[self.nonlinearity][1]
        xp = get_array_module(states)
        T, N, H = states.shape[0] - 1, states.shape[1], states.shape[2]
        # dL/d(pre-activation), time-major, starting as dL/dh_t from the outputs; the
        # activation's derivative of every step in one call before the loop.
        da = xp.empty((T, N, H), dtype=states.dtype)
        da[...] = ghs.transpose(1, 0, 2)
        slopes = derivative(states[1:])
        WhT = Wh.T
        dh = None
        for t in range(T - 1, -1, -1):
            d = da[t]
            if dh is not None:
                d += dh
            self._record_norm(t, T, d)
            d *= slopes[t]
            dh = d @ WhT if (t > 0 or self.has_h0) else None
        # dWh = sum over t of h_{t-1}^T da_t: one product over all T * N rows
        # (from zeros, h_{-1} = 0 adds nothing).
        gWh = states[:-1].reshape(-1, H).T @ da.reshape(-1, H)
        gxw = xp.ascontiguousarray(da.transpose(1, 0, 2))
        return (gxw, gWh) + ((dh,) if self.has_h0 else ())

    def _replay(self, xw, Wh, *rest):
        h, _ = self._states(rest)
        N, T, H = xw.shape
        hs = []
        for xw_t in split(xw, T, axis=1):
            h = rnn_step(reshape(xw_t, (N, H)), h, Wh, self.nonlinearity)
            hs.append(h)
        return stack(hs, axis=1)


class LSTMSequence(_FusedSequence):
    """The book's LSTM over all T steps (gates f, g, i, o packed in Wh's columns).
    Outputs: hs (N, T, H) and the last cell state c_T (N, H)."""

    def forward(self, xw, Wh, *rest):
        h, c = self._states(rest)
        _check(self.name, xw, Wh, 4, (("h0", h), ("c0", c)))
        xp = get_array_module(xw)
        N, T, G = xw.shape
        H = G // 4
        dtype = np.result_type(xw, Wh)
        acts = xp.empty((T, N, G), dtype=dtype)     # f, g, i, o after their nonlinearity
        cs = xp.empty((T, N, H), dtype=dtype)
        tcs = xp.empty((T, N, H), dtype=dtype)      # tanh(c_t)
        hprev = _previous_states(xp, N, T, H, dtype, h)
        hs = xp.empty((N, T, H), dtype=dtype)
        for t in range(T):
            a = acts[t]
            if h is None:
                a[...] = xw[:, t]
            else:
                xp.matmul(h, Wh, out=a)
                a += xw[:, t]
            f, g, i, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            xp.tanh(g, out=g)
            _sigmoid(f, f)
            _sigmoid(a[:, 2 * H:], a[:, 2 * H:])        # i and o in one call
            c_next = cs[t]
            xp.multiply(g, i, out=c_next)
            if c is not None:
                c_next += f * c
            xp.tanh(c_next, out=tcs[t])
            h = hprev[t + 1] if t + 1 < T else xp.empty((N, H), dtype=dtype)
            xp.multiply(o, tcs[t], out=h)
            hs[:, t] = h
            c = c_next
        self.save(acts=acts, cs=cs, tcs=tcs, hprev=hprev)
        return hs, cs[-1].copy()

    def backward(self, ghs, gc):
        xw, Wh = self.xs[:2]
        h0, c0 = self._states(self.xs[2:])
        acts, cs, tcs = self.acts, self.cs, self.tcs
        xp = get_array_module(acts)
        T, N, G = acts.shape
        H = G // 4
        da = xp.empty_like(acts)                   # dL/d(pre-activation), time-major
        dc = gc.copy()
        dh = None
        WhT = Wh.T
        for t in range(T - 1, -1, -1):
            dh_t = ghs[:, t] if dh is None else ghs[:, t] + dh
            self._record_norm(t, T, dh_t)
            a, d = acts[t], da[t]
            f, g, i, o = a[:, :H], a[:, H:2 * H], a[:, 2 * H:3 * H], a[:, 3 * H:]
            tc = tcs[t]
            dc += dh_t * o * (1 - tc * tc)
            c_prev = cs[t - 1] if t > 0 else c0
            if c_prev is None:
                d[:, :H] = 0
            else:
                xp.multiply(dc, c_prev, out=d[:, :H])
                d[:, :H] *= f * (1 - f)
            xp.multiply(dc, i, out=d[:, H:2 * H])
            d[:, H:2 * H] *= 1 - g * g
            xp.multiply(dc, g, out=d[:, 2 * H:3 * H])
            d[:, 2 * H:3 * H] *= i * (1 - i)
            xp.multiply(dh_t, tc, out=d[:, 3 * H:])
            d[:, 3 * H:] *= o * (1 - o)
            dc *= f
            dh = d @ WhT if (t > 0 or h0 is not None) else None
        # dWh = sum over t of h_{t-1}^T da_t: one product over all T * N rows.
        gWh = self.hprev.reshape(-1, H).T @ da.reshape(-1, G)
        gxw = xp.ascontiguousarray(da.transpose(1, 0, 2))
        return (gxw, gWh) + ((dh,) if self.has_h0 else ()) + ((dc,) if self.has_c0 else ())

    def _replay(self, xw, Wh, *rest):
        h, c = self._states(rest)
        N, T, G = xw.shape
        hs = []
        for xw_t in split(xw, T, axis=1):
            h, c = lstm_step(reshape(xw_t, (N, G)), h, c, Wh)
            hs.append(h)
        return stack(hs, axis=1), c


class GRUSequence(_FusedSequence):
    """The book's GRU over all T steps (gates z, r, h~; the reset gate scales h
    before its product with Wh's h~ columns). Output: hs (N, T, H)."""

    def forward(self, xw, Wh, *rest):
        h, _ = self._states(rest)
        _check(self.name, xw, Wh, 3, (("h0", h),))
        xp = get_array_module(xw)
        N, T, G = xw.shape
        H = G // 3
        dtype = np.result_type(xw, Wh)
        Whzr, Whh = Wh[:, :2 * H], Wh[:, 2 * H:]
        zr = xp.empty((T, N, 2 * H), dtype=dtype)
        hh = xp.empty((T, N, H), dtype=dtype)       # h~
        rh = xp.empty((T, N, H), dtype=dtype)       # r * h_prev
        hprev = _previous_states(xp, N, T, H, dtype, h)
        hs = xp.empty((N, T, H), dtype=dtype)
        for t in range(T):
            s, cand, x_t = zr[t], hh[t], xw[:, t]
            h_next = hprev[t + 1] if t + 1 < T else xp.empty((N, H), dtype=dtype)
            if h is None:
                _sigmoid(x_t[:, :2 * H], s)
                xp.tanh(x_t[:, 2 * H:], out=cand)
                xp.multiply(s[:, :H], cand, out=h_next)    # h' = z * h~ from h = 0
                rh[t] = 0
            else:
                xp.matmul(h, Whzr, out=s)
                s += x_t[:, :2 * H]
                _sigmoid(s, s)
                xp.multiply(s[:, H:], h, out=rh[t])
                xp.matmul(rh[t], Whh, out=cand)
                cand += x_t[:, 2 * H:]
                xp.tanh(cand, out=cand)
                # (1 - z) * h + z * h~ as h + z * (h~ - h), as gru_step does.
                xp.subtract(cand, h, out=h_next)
                h_next *= s[:, :H]
                h_next += h
            hs[:, t] = h = h_next
        self.save(zr=zr, hh=hh, rh=rh, hprev=hprev)
        return hs

    def backward(self, ghs):
        xw, Wh = self.xs[:2]
        h0, _ = self._states(self.xs[2:])
        zr, hh, rh, hprev = self.zr, self.hh, self.rh, self.hprev
        xp = get_array_module(hh)
        T, N, H = hh.shape
        WzrT, WhhT = Wh[:, :2 * H].T, Wh[:, 2 * H:].T
        da = xp.empty((T, N, 3 * H), dtype=hh.dtype)   # time-major dxw
        dh = None
        for t in range(T - 1, -1, -1):
            dh_t = ghs[:, t] if dh is None else ghs[:, t] + dh
            self._record_norm(t, T, dh_t)
            z, r, cand, d = zr[t, :, :H], zr[t, :, H:], hh[t], da[t]
            h_prev = hprev[t] if t > 0 or h0 is not None else None
            dcand = d[:, 2 * H:]
            xp.multiply(dh_t, z, out=dcand)            # dL/dh~
            dz = dh_t * (cand if h_prev is None else cand - h_prev)
            dh = dh_t - dcand                          # through (1 - z) * h
            dcand *= 1 - cand * cand                   # through tanh
            xp.multiply(dz, z * (1 - z), out=d[:, :H])
            if h_prev is None:
                d[:, H:2 * H] = 0                      # r * 0: the reset gate had no effect
                dh = None
                continue
            drh = dcand @ WhhT
            xp.multiply(drh, h_prev, out=d[:, H:2 * H])
            d[:, H:2 * H] *= r * (1 - r)
            dh += drh * r
            dh += d[:, :2 * H] @ WzrT
        # One product over all T * N rows per block of Wh, written in place:
        # h_{t-1} for the z, r columns, rh_t = r_t * h_{t-1} for the h~ ones.
        da2 = da.reshape(-1, 3 * H)
        gWh = xp.empty(Wh.shape, dtype=da.dtype)
        xp.matmul(hprev.reshape(-1, H).T, da2[:, :2 * H], out=gWh[:, :2 * H])
        xp.matmul(rh.reshape(-1, H).T, da2[:, 2 * H:], out=gWh[:, 2 * H:])
        gxw = xp.ascontiguousarray(da.transpose(1, 0, 2))
        return (gxw, gWh) + ((dh,) if self.has_h0 else ())

    def _replay(self, xw, Wh, *rest):
        h, _ = self._states(rest)
        N, T, G = xw.shape
        Whzr, Whh = split(Wh, [2 * (G // 3)], axis=1)
        hs = []
        for xw_t in split(xw, T, axis=1):
            h = gru_step(reshape(xw_t, (N, G)), h, Whzr, Whh)
            hs.append(h)
        return stack(hs, axis=1)


def _previous_states(xp, N, T, H, dtype, h0):
    """A time-major (T, N, H) buffer whose step t holds h_{t-1}: h0 (zeros if
    None) at t = 0, the rest written by the loop. Time-major, every step's
    slice is contiguous (elementwise work on (N, T, .) slices measured 2.4x
    slower), and dWh is one product over all rows without copying."""
    hprev = xp.empty((T, N, H), dtype=dtype)
    hprev[0] = 0 if h0 is None else h0
    return hprev


def rnn(xw, Wh, h0=None, nonlinearity="tanh", trace=None):
    """The simple RNN over a whole sequence as one operation:
    h_t = f(xw_t + h_{t-1} Wh), f = ``nonlinearity`` ("tanh", "sigmoid" or
    "relu"). ``xw`` (N, T, H) is x Wx + b for every step, ``Wh`` (H, H),
    ``h0`` (N, H) defaults to zeros. Returns all hidden states (N, T, H).
    ``trace``: a list that backward fills with ||dL/dh_t|| per step.

    >>> import numpy as np, minigrad as mg
    >>> hs = mg.functions.rnn(np.zeros((2, 5, 3)), np.eye(3), nonlinearity="sigmoid")
    >>> hs.shape, hs.creator is None, float(hs.data[0, 0, 0])
    ((2, 5, 3), True, 0.5)
    """
    states = [] if h0 is None else [h0]
    return RNNSequence(nonlinearity, h0 is not None, trace).apply(xw, Wh, *states)


def lstm(xw, Wh, h0=None, c0=None, trace=None):
    """The book's LSTM over a whole sequence as one operation.

    ``xw`` (N, T, 4H) is x Wx + b for every step (gates f, g, i, o), ``Wh``
    (H, 4H); ``h0``, ``c0`` (N, H) default to zeros. Returns ``(hs, c_T)``:
    all hidden states (N, T, H) and the last cell state. ``trace``: a list that
    backward fills with ||dL/dh_t|| per step.

    >>> import numpy as np, minigrad as mg
    >>> xw = mg.Variable(np.zeros((2, 5, 12)))
    >>> hs, c = mg.functions.lstm(xw, np.eye(3, 12))
    >>> hs.shape, c.shape, hs.creator.name
    ((2, 5, 3), (2, 3), 'LSTMSequence')
    """
    states = [s for s in (h0, c0) if s is not None]
    return LSTMSequence(h0 is not None, c0 is not None, trace).apply(xw, Wh, *states)


def gru(xw, Wh, h0=None, trace=None):
    """The book's GRU over a whole sequence as one operation: ``xw`` (N, T, 3H)
    is x Wx + b (gates z, r, h~), ``Wh`` (H, 3H), ``h0`` (N, H) defaults to
    zeros. Returns all hidden states (N, T, H)."""
    states = [] if h0 is None else [h0]
    return GRUSequence(h0 is not None, False, trace).apply(xw, Wh, *states)
