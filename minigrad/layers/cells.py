"""One time step of the book's recurrent layers: RNNCell, LSTMCell, GRUCell.

Layouts are the book's (everything is x @ W, weights packed per gate):

* RNN:  Wx (D, H),  Wh (H, H),  b (H); nonlinearity tanh (the book's), sigmoid or relu
* LSTM: Wx (D, 4H), Wh (H, 4H), b (4H), gates in the order f, g, i, o
* GRU:  Wx (D, 3H), Wh (H, 3H), b (3H), gates in the order z, r, h~

A cell runs one step of ``minigrad.functions.steps`` (re-exported here) on its
input projection ``x Wx + b``. Each cell class is the one place that knows its
kind: how many gates its weights pack (``gates``), how its step is called
(``step``) and how it cuts Wh for it (``recurrent_weights``); the sequence
layers of ``rnn.py`` inherit their cell and run the same step over time.
``bias=False`` builds a layer without b (the course notes' RNN has none); the
projection is then x Wx alone.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from .. import random as mg_random
from ..core.arrays import array_of
from ..functions.recurrent import check_nonlinearity
from ..functions.steps import gru_step, lstm_step, rnn_step
from .layer import Layer
from .parameter import Parameter, given_array, layer_dtype

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "rnn_step", "lstm_step", "gru_step"]


# ---------------------------------------------------------------- weights
class _Recurrent(Layer):
    """Wx (D, kH), Wh (H, kH), b (kH): built from given arrays or initialised
    like the book (normal / sqrt(D), normal / sqrt(H), zeros). With
    ``bias=False`` there is no b (``self.b`` is None). ``dtype=None`` (the
    default) keeps the given weights' dtype, else float32."""

    numeric_input = True   # integer arrays and lists are numbers here, cast to the dtype

    def __init__(self, in_size=None, hidden_size=None, *, Wx=None, Wh=None, b=None, bias=True,
                 dtype=None, rng=None):
        super().__init__()
        owner, k = type(self).__name__, self.gates
        # Sizes not given are read off the given arrays.
        if in_size is None and Wx is not None:
            in_size = array_of(Wx).shape[0]
        if hidden_size is None and Wh is not None:
            hidden_size = array_of(Wh).shape[0]
        if in_size is None or hidden_size is None:
            raise ValueError(f"{owner}: give in_size and hidden_size, or the weights Wx and Wh")
        D, H = int(in_size), int(hidden_size)
        dtype = layer_dtype(owner, dtype, Wx, Wh, b)
        gen = mg_random.generator(rng) if Wx is None or Wh is None else None
        if Wx is None:
            Wx = (gen.standard_normal((D, k * H)) / np.sqrt(D)).astype(dtype)
        else:
            Wx = given_array(owner, "Wx", Wx, (D, k * H), dtype)
        if Wh is None:
            Wh = (gen.standard_normal((H, k * H)) / np.sqrt(H)).astype(dtype)
        else:
            Wh = given_array(owner, "Wh", Wh, (H, k * H), dtype)
        if not bias and b is not None:
            raise ValueError(f"{owner}: b was given but bias=False")
        self.in_size, self.hidden_size = D, H
        self.Wx = Parameter(Wx, name="Wx")
        self.Wh = Parameter(Wh, name="Wh")
        if bias:
            if b is None:
                b = np.zeros(k * H, dtype=dtype)
            else:
                b = given_array(owner, "b", b, (k * H,), dtype)
            self.b = Parameter(b, name="b")
        else:
            self.b = None

    def recurrent_weights(self):
        """Wh as the step takes it."""
        return self.Wh

    def _repr_options(self):
        return "" if self.b is not None else ", bias=False"

    def extra_repr(self):
        return f"{self.in_size}, {self.hidden_size}{self._repr_options()}"


# ---------------------------------------------------------------- the cells
class _SimpleRecurrent(_Recurrent):
    """The simple RNN's weights plus its nonlinearity ("tanh", "sigmoid" or "relu")."""

    gates = 1

    def __init__(self, in_size=None, hidden_size=None, *, nonlinearity="tanh", **kwargs):
        super().__init__(in_size, hidden_size, **kwargs)
        self.nonlinearity = check_nonlinearity(nonlinearity, type(self).__name__)

    def _repr_options(self):
        f = "" if self.nonlinearity == "tanh" else f", nonlinearity={self.nonlinearity!r}"
        return f + super()._repr_options()


class RNNCell(_SimpleRecurrent):
    """h' = f(x Wx + h Wh + b); Wx (D, H), Wh (H, H), b (H); f = tanh (the
    book's, the default), sigmoid or relu (``nonlinearity=``); ``bias=False``
    leaves b out.

    >>> import numpy as np
    >>> cell = RNNCell(3, 4, rng=0)
    >>> cell(np.ones((2, 3), dtype=np.float32)).shape
    (2, 4)
    >>> RNNCell(2, 16, nonlinearity="sigmoid", bias=False, rng=0)
    RNNCell(2, 16, nonlinearity='sigmoid', bias=False): 288 parameters
      Wx: (2, 16) float32
      Wh: (16, 16) float32
    """

    def step(self, xw, h, c, Wh):
        return rnn_step(xw, h, Wh, self.nonlinearity), None

    def forward(self, x, h=None):
        """One step from h (None: zeros); returns h'."""
        return self.step(F.linear(x, self.Wx, self.b), h, None, self.Wh)[0]


class LSTMCell(_Recurrent):
    """The book's LSTM step; Wx (D, 4H), Wh (H, 4H), b (4H), gates f, g, i, o.

    >>> import numpy as np
    >>> h, c = LSTMCell(3, 4, rng=0)(np.ones((2, 3), dtype=np.float32))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    gates = 4

    def step(self, xw, h, c, Wh):
        return lstm_step(xw, h, c, Wh)

    def forward(self, x, h=None, c=None):
        """One step from (h, c) (None: zeros); returns (h', c')."""
        return self.step(F.linear(x, self.Wx, self.b), h, c, self.Wh)


class GRUCell(_Recurrent):
    """The book's GRU step; Wx (D, 3H), Wh (H, 3H), b (3H), gates z, r, h~.

    >>> import numpy as np
    >>> GRUCell(3, 4, rng=0)(np.ones((2, 3), dtype=np.float32)).shape
    (2, 4)
    """

    gates = 3

    def step(self, xw, h, c, Wh_parts):
        return gru_step(xw, h, *Wh_parts), None

    def recurrent_weights(self):
        """Wh cut into its z, r columns and its h~ columns (one Split)."""
        return F.split(self.Wh, [2 * self.hidden_size], axis=1)

    def forward(self, x, h=None):
        """One step from h (None: zeros); returns h'."""
        return self.step(F.linear(x, self.Wx, self.b), h, None, self.recurrent_weights())[0]
