"""Sequence layers RNN, LSTM and GRU: (N, T, D) in, (N, T, H) hidden states out.

The RNN's nonlinearity is tanh (the book's), sigmoid (the course notes') or
relu; ``bias=False`` leaves the bias out of any of the three.

Each is its cell (``cells.py``) run over time: it inherits the cell's packed
weights, its gate count and its step.
The input projection x Wx + b of all T steps is one matmul (a (N*T, D) by
(D, kH) product is far cheaper than T small ones); per step only h Wh is left.
The projection is cut into steps with one Split along the time axis: its
backward is one concatenation, where T GetItems would each scatter into a
zero array of the full (N, T, kH) size. Measured (N 20, T 35, D = H = 100,
forward + backward, one BLAS thread): LSTM 33 ms with Split, 40 ms with
GetItem; GRU 27 ms and 33 ms (at H 650 Split wins by 10-20% too).

Each step is recorded inside ``name_scope(f"t={t}")``, so the visualizer draws
one cluster per step.

Gradient-norm trace: with ``trace_grads=True`` each call keeps its hidden
states' gradients, and after backward :meth:`grad_norms` gives ||dL/dh_t|| for
every t (the book's picture of vanishing and exploding gradients);
``minigrad.viz.plot_grad_norms`` draws it. Off by default: it keeps T more
arrays per call.

Truncated BPTT: with ``stateful=True`` the last state of a call is carried
into the next one as a constant (same data, no graph), so a backward of a later
call stops at the batch boundary and the earlier graph can be freed.

Encoder-decoder models need the opposite: with ``return_state=True`` a call
also returns its final state *with* its graph (``(hs, h)``, or ``(hs, (h, c))``
for the LSTM), and a Variable passed as ``h0`` / ``c0`` (or to ``set_state``)
is used as it is, so a decoder started from an encoder's final state
backpropagates into the encoder.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import functions as F
from ..core.config import name_scope
from ..core.variable import Variable
from ..errors import ShapeError
from .cells import GRUCell, LSTMCell, RNNCell, _Recurrent

__all__ = ["RNN", "LSTM", "GRU"]


def _constant(state, like):
    """A state given as data: a constant Variable of the layer's dtype."""
    if state is None:
        return None
    if isinstance(state, Variable):
        return state
    return Variable(backend.as_array(state).astype(like.dtype, copy=False), requires_grad=False)


def _carried(v):
    """The state to carry into the next call: the same data, cut from its graph.
    A new Variable, not ``v.unchain()``: ``v`` still belongs to the caller's
    graph (it is an input of the output Stack), and cutting it in place would
    silently stop a later backward of that graph at the last step."""
    return Variable(v.data, requires_grad=False)


class _Sequence(_Recurrent):
    """Common part of RNN, LSTM and GRU: the state between calls and the time loop.
    A subclass also inherits its cell, whose ``step(xw, h, c, weights)`` runs
    at every time step with ``recurrent_weights()`` prepared once per call."""

    # The whole-sequence operation (F.rnn, F.lstm, F.gru), called as
    # fused_op(xw, Wh, h0, c0, trace) -> (hs, c_T or None).
    fused_op = None

    def __init__(self, in_size=None, hidden_size=None, *, stateful=False, trace_grads=False,
                 fused=True, **weights):
        # weights: Wx, Wh, b, bias, dtype, rng (and the RNN's nonlinearity), see _Recurrent.
        super().__init__(in_size, hidden_size, **weights)
        self.stateful = stateful
        self.trace_grads = trace_grads
        self.fused = fused and self.fused_op is not None
        self._traced = None   # the last call's hidden states (or fused norms), when tracing
        self.h = None   # the last state, carried into the next call if stateful (None: zeros)
        self.c = None

    def reset_state(self):
        """Start the next call from zeros."""
        self.h = self.c = None

    def set_state(self, h, c=None):
        """Start the next call from ``h`` (and ``c``). A Variable is used as
        given, graph included (a seq2seq decoder backpropagates into the encoder
        through it); an array becomes a constant."""
        self.h = _constant(h, self.Wx)
        self.c = _constant(c, self.Wx)

    def grad_norms(self):
        """||dL/dh_t|| (L2 over batch and units) for t = 0..T-1 of the last
        call, after its backward: a numpy array of T floats.

        >>> import numpy as np, minigrad as mg
        >>> lstm = mg.layers.LSTM(3, 4, trace_grads=True, rng=0)
        >>> hs = lstm(np.ones((2, 6, 3), dtype=np.float32))
        >>> hs[:, -1].sum().backward()          # the loss reads only the last step
        >>> norms = lstm.grad_norms()
        >>> norms.shape, bool(norms[0] < norms[-1])   # earlier steps get less
        ((6,), True)
        """
        owner = type(self).__name__
        if self._traced is None:
            raise RuntimeError(f"{owner}.grad_norms: no traced call; build the layer with "
                               "trace_grads=True (or set layer.trace_grads = True) and call it")
        if self.fused:
            if not self._traced:
                raise RuntimeError(f"{owner}.grad_norms: the last call has no gradients "
                                   "yet; call backward on a loss computed from its output")
            return np.array(self._traced)
        norms = []
        for t, h in enumerate(self._traced):
            if h.grad is None:
                if all(v.grad is None for v in self._traced):
                    raise RuntimeError(f"{owner}.grad_norms: the last call has no gradients "
                                       "yet; call backward on a loss computed from its output")
                norms.append(0.0)   # this step did not reach the loss
                continue
            g = backend.as_numpy(h.grad.data)
            norms.append(float(np.sqrt(np.sum(np.square(g, dtype=np.float64)))))
        return np.array(norms)

    def _run(self, xs, h0, c0, return_state=False):
        if xs.ndim != 3:
            raise ValueError(f"{type(self).__name__}: expects input of shape (N, T, D), got "
                             f"{xs.shape}")
        N, T, _ = xs.shape
        if h0 is not None or c0 is not None or not self.stateful:
            h, c = _constant(h0, self.Wx), _constant(c0, self.Wx)
        else:
            h, c = self.h, self.c
            if h is not None and h.shape[0] != N:
                raise ShapeError(
                    f"{type(self).__name__}(stateful=True): the state carried from the last "
                    f"call is for a batch of {h.shape[0]} ({tuple(h.shape)}), this batch has "
                    f"{N} rows ({tuple(xs.shape)}); call reset_state() before a batch of "
                    f"another size (a new text, a test set) so it starts from zeros")
        xw_all = F.linear(xs, self.Wx, self.b)        # (N, T, kH): one matmul for all steps
        if self.fused:
            return self._run_fused(xw_all, h, c, return_state)
        step_shape = (N, self.Wx.shape[1])
        xw_steps = F.split(xw_all, T, axis=1)         # one node; its backward: one concat
        W = self.recurrent_weights()   # once per call (GRU: one Split for all steps)
        hs = []
        for t in range(T):
            with name_scope(f"t={t}"):
                h, c = self.step(F.reshape(xw_steps[t], step_shape), h, c, W)
            hs.append(h)
        if self.trace_grads:
            self._traced = [h.retain_grad() for h in hs]
        self.h = _carried(h)
        self.c = None if c is None else _carried(c)
        return self._output(F.stack(hs, axis=1), h, c, return_state)

    def _run_fused(self, xw_all, h, c, return_state):
        trace = [] if self.trace_grads else None
        hs, c = self.fused_op(xw_all, self.Wh, h, c, trace)
        if trace is not None:
            self._traced = trace     # filled by the backward
        self.h = Variable(hs.data[:, -1], requires_grad=False)   # carried: data, no graph
        self.c = None if c is None else _carried(c)
        # The last step's h with its graph: a view of hs, recorded only when asked for.
        h = F.get_item(hs, (slice(None), -1)) if return_state else None
        return self._output(hs, h, c, return_state)

    def _output(self, hs, h, c, return_state):
        """``hs``, or ``(hs, state)`` with the final state as the layer's
        forward documents it (h, or (h, c) for the LSTM)."""
        if not return_state:
            return hs
        return hs, ((h, c) if self.gates == 4 else h)


class RNN(_Sequence, RNNCell):
    """The book's TimeRNN: h_t = f(x_t Wx + h_{t-1} Wh + b) for t = 0..T-1,
    with f = tanh (the book's, the default), sigmoid (the course notes') or
    relu (``nonlinearity=``); ``bias=False`` leaves b out.

    >>> import numpy as np
    >>> rnn = RNN(3, 4, rng=0)
    >>> rnn(np.ones((2, 5, 3), dtype=np.float32)).shape
    (2, 5, 4)
    >>> notes = RNN(2, 16, nonlinearity="sigmoid", bias=False, rng=0)
    >>> [name for name, _ in notes.named_params()]
    ['Wx', 'Wh']
    """

    def forward(self, xs, h0=None, return_state=False):
        """Hidden states (N, T, H) of xs (N, T, D), from ``h0`` if given, else
        from the carried state if stateful, else from zeros. With
        ``return_state``: ``(hs, h_T)``, h_T with its graph."""
        return self._run(xs, h0, None, return_state)

    def fused_op(self, xw, Wh, h0, c0, trace):
        return F.rnn(xw, Wh, h0, self.nonlinearity, trace), None


class LSTM(_Sequence, LSTMCell):
    """The book's TimeLSTM (gates f, g, i, o); ``self.c`` holds the cell state.

    >>> import numpy as np
    >>> lstm = LSTM(3, 4, stateful=True, rng=0)
    >>> lstm(np.ones((2, 5, 3), dtype=np.float32)).shape, lstm.c.shape
    ((2, 5, 4), (2, 4))
    """

    fused_op = staticmethod(F.lstm)

    def forward(self, xs, h0=None, c0=None, return_state=False):
        """Hidden states (N, T, H) of xs (N, T, D), from ``(h0, c0)`` if given,
        else from the carried state if stateful, else from zeros. With
        ``return_state``: ``(hs, (h_T, c_T))``, both with their graph.

        >>> import numpy as np, minigrad as mg
        >>> lstm = LSTM(3, 4, rng=0)
        >>> hs, (h, c) = lstm(np.ones((2, 5, 3), dtype=np.float32), return_state=True)
        >>> h.shape, c.shape, h.creator is not None, c.creator is not None
        ((2, 4), (2, 4), True, True)
        """
        return self._run(xs, h0, c0, return_state)


class GRU(_Sequence, GRUCell):
    """The book's TimeGRU (gates z, r, h~; reset applied before the matmul).

    >>> import numpy as np
    >>> GRU(3, 4, rng=0)(np.ones((2, 5, 3), dtype=np.float32)).shape
    (2, 5, 4)
    """

    fused_op = staticmethod(lambda xw, Wh, h0, c0, trace: (F.gru(xw, Wh, h0, trace), None))

    def forward(self, xs, h0=None, return_state=False):
        """Hidden states (N, T, H) of xs (N, T, D), from ``h0`` if given, else
        from the carried state if stateful, else from zeros. With
        ``return_state``: ``(hs, h_T)``, h_T with its graph."""
        return self._run(xs, h0, None, return_state)
