"""One time step of the book's recurrent layers: RNNCell, LSTMCell, GRUCell.

Layouts are the book's (everything is x @ W, weights packed per gate):

* RNN:  Wx (D, H),  Wh (H, H),  b (H); nonlinearity tanh (the book's), sigmoid or relu
* LSTM: Wx (D, 4H), Wh (H, 4H), b (4H), gates in the order f, g, i, o
* GRU:  Wx (D, 3H), Wh (H, 3H), b (3H), gates in the order z, r, h~

Each step is a module-level function taking the input projection ``xw = x Wx + b``
already computed, so the sequence layers (``rnn.py``) can project all time
steps with one matmul and share exactly the same step code. A state of None
means zeros: the step then skips ``h Wh`` (its product would be zero).
``bias=False`` builds a layer without b (the course notes' RNN has none); the
projection is then x Wx alone.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from .. import random as mg_random
from ..core.variable import Variable
from ..functions.recurrent import check_nonlinearity
from .layer import Layer
from .parameter import Parameter, layer_dtype

__all__ = ["RNNCell", "LSTMCell", "GRUCell", "rnn_step", "lstm_step", "gru_step"]


# ---------------------------------------------------------------- the steps
_RNN_ACTIVATION = {"tanh": F.tanh, "sigmoid": F.sigmoid, "relu": F.relu}


def rnn_step(xw, h, Wh, nonlinearity="tanh"):
    """h' = f(x Wx + h Wh + b), given xw = x Wx + b; f is tanh (the book's),
    sigmoid (the course notes') or relu."""
    f = _RNN_ACTIVATION[nonlinearity]
    if h is None:
        return f(xw)
    return f(xw + F.matmul(h, Wh))


def lstm_step(xw, h, c, Wh):
    """The book's LSTM step, given xw = x Wx + b; returns (h', c')::

        f, g, i, o = split(x Wx + h Wh + b)      (packed in this order)
        c' = sigmoid(f) * c + tanh(g) * sigmoid(i)
        h' = sigmoid(o) * tanh(c')
    """
    a = xw if h is None else xw + F.matmul(h, Wh)
    f, g, i, o = F.split(a, 4, axis=1)
    g, i, o = F.tanh(g), F.sigmoid(i), F.sigmoid(o)
    if c is None:
        c_next = g * i            # f * 0 dropped: the forget gate has nothing to forget
    else:
        c_next = F.sigmoid(f) * c + g * i
    return o * F.tanh(c_next), c_next


def gru_step(xw, h, Whzr, Whh):
    """The book's GRU step, given xw = x Wx + b and Wh cut into its z, r columns
    (Whzr, (H, 2H)) and its h~ columns (Whh, (H, H))::

        z  = sigmoid(x Wxz + h Whz + bz)
        r  = sigmoid(x Wxr + h Whr + br)
        h~ = tanh(x Wxh + (r * h) Whh + bh)
        h' = (1 - z) * h + z * h~

    The reset gate scales h before the product with Whh (unlike PyTorch's GRU),
    so h Wh cannot be one matmul: h Whzr and (r * h) Whh are two.
    """
    H = Whh.shape[0]
    xzr, xh = F.split(xw, [2 * H], axis=1)
    if h is None:
        z, _ = F.split(F.sigmoid(xzr), 2, axis=1)
        return z * F.tanh(xh)     # (1 - z) * 0 + z * tanh(xh + (r * 0) Whh)
    z, r = F.split(F.sigmoid(xzr + F.matmul(h, Whzr)), 2, axis=1)
    h_hat = F.tanh(xh + F.matmul(r * h, Whh))
    # (1 - z) * h + z * h~ rearranged: three operations instead of four.
    return h + z * (h_hat - h)


# ---------------------------------------------------------------- weights
def _given(name, array, shape, dtype, owner):
    # A copy: optimizers update parameters in place, and the caller's array
    # must not change under them.
    a = np.array(array.data if isinstance(array, Variable) else array, dtype=dtype, copy=True)
    if a.shape != shape:
        raise ValueError(f"{owner}: {name} must have shape {shape} (the book's layout), "
                         f"got {a.shape}")
    return a


class _Recurrent(Layer):
    """Wx (D, kH), Wh (H, kH), b (kH): built from given arrays or initialised
    like the book (normal / sqrt(D), normal / sqrt(H), zeros). With
    ``bias=False`` there is no b (``self.b`` is None). ``dtype=None`` (the
    default) keeps the given weights' dtype, else float32."""

    gates = 1  # k, the number of packed gates

    def __init__(self, in_size=None, hidden_size=None, *, Wx=None, Wh=None, b=None, bias=True,
                 dtype=None, rng=None):
        super().__init__()
        owner, k = type(self).__name__, self.gates
        # Sizes not given are read off the given arrays.
        if in_size is None and Wx is not None:
            in_size = np.shape(Wx.data if isinstance(Wx, Variable) else Wx)[0]
        if hidden_size is None and Wh is not None:
            hidden_size = np.shape(Wh.data if isinstance(Wh, Variable) else Wh)[0]
        if in_size is None or hidden_size is None:
            raise ValueError(f"{owner}: give in_size and hidden_size, or the weights Wx and Wh")
        D, H = int(in_size), int(hidden_size)
        dtype = layer_dtype(owner, dtype, Wx, Wh, b)
        gen = mg_random.generator(rng) if Wx is None or Wh is None else None
        if Wx is None:
            Wx = (gen.standard_normal((D, k * H)) / np.sqrt(D)).astype(dtype)
        else:
            Wx = _given("Wx", Wx, (D, k * H), dtype, owner)
        if Wh is None:
            Wh = (gen.standard_normal((H, k * H)) / np.sqrt(H)).astype(dtype)
        else:
            Wh = _given("Wh", Wh, (H, k * H), dtype, owner)
        if not bias and b is not None:
            raise ValueError(f"{owner}: b was given but bias=False")
        self.in_size, self.hidden_size = D, H
        self.Wx = Parameter(Wx, name="Wx")
        self.Wh = Parameter(Wh, name="Wh")
        if bias:
            b = np.zeros(k * H, dtype=dtype) if b is None else _given("b", b, (k * H,), dtype,
                                                                      owner)
            self.b = Parameter(b, name="b")
        else:
            self.b = None

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

    def forward(self, x, h=None):
        """One step from h (None: zeros); returns h'."""
        return rnn_step(F.linear(x, self.Wx, self.b), h, self.Wh, self.nonlinearity)


class LSTMCell(_Recurrent):
    """The book's LSTM step; Wx (D, 4H), Wh (H, 4H), b (4H), gates f, g, i, o.

    >>> import numpy as np
    >>> h, c = LSTMCell(3, 4, rng=0)(np.ones((2, 3), dtype=np.float32))
    >>> h.shape, c.shape
    ((2, 4), (2, 4))
    """

    gates = 4

    def forward(self, x, h=None, c=None):
        """One step from (h, c) (None: zeros); returns (h', c')."""
        return lstm_step(F.linear(x, self.Wx, self.b), h, c, self.Wh)


class GRUCell(_Recurrent):
    """The book's GRU step; Wx (D, 3H), Wh (H, 3H), b (3H), gates z, r, h~.

    >>> import numpy as np
    >>> GRUCell(3, 4, rng=0)(np.ones((2, 3), dtype=np.float32)).shape
    (2, 4)
    """

    gates = 3

    def forward(self, x, h=None):
        """One step from h (None: zeros); returns h'."""
        Whzr, Whh = F.split(self.Wh, [2 * self.hidden_size], axis=1)
        return gru_step(F.linear(x, self.Wx, self.b), h, Whzr, Whh)
