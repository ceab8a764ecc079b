"""One time step of the book's recurrent layers, composed from operations.

Layouts are the book's (everything is x @ W, weights packed per gate):

* RNN:  Wx (D, H),  Wh (H, H),  b (H); nonlinearity tanh (the book's), sigmoid or relu
* LSTM: Wx (D, 4H), Wh (H, 4H), b (4H), gates in the order f, g, i, o
* GRU:  Wx (D, 3H), Wh (H, 3H), b (3H), gates in the order z, r, h~

Each step takes the input projection ``xw = x Wx + b`` already computed, so a
sequence can project all its time steps with one matmul. A state of None
means zeros: the step then skips ``h Wh`` (its product would be zero). The
cells and sequence layers of ``minigrad.layers`` run these steps; the fused
sequences (``recurrent.py``) run the same math on arrays and replay these
steps for higher-order gradients.
"""
from __future__ import annotations

from .elementwise import relu, sigmoid, tanh
from .linalg import matmul
from .shape import split

__all__ = ["rnn_step", "lstm_step", "gru_step"]


_RNN_ACTIVATION = {"tanh": tanh, "sigmoid": sigmoid, "relu": relu}


def rnn_step(xw, h, Wh, nonlinearity="tanh"):
    """h' = f(x Wx + h Wh + b), given xw = x Wx + b; f is tanh (the book's),
    sigmoid (the course notes') or relu."""
    f = _RNN_ACTIVATION[nonlinearity]
    if h is None:
        return f(xw)
    return f(xw + matmul(h, Wh))


def lstm_step(xw, h, c, Wh):
    """The book's LSTM step, given xw = x Wx + b; returns (h', c')::

        f, g, i, o = split(x Wx + h Wh + b)      (packed in this order)
        c' = sigmoid(f) * c + tanh(g) * sigmoid(i)
        h' = sigmoid(o) * tanh(c')
    """
    a = xw if h is None else xw + matmul(h, Wh)
    f, g, i, o = split(a, 4, axis=1)
    g, i, o = tanh(g), sigmoid(i), sigmoid(o)
    if c is None:
        c_next = g * i            # f * 0 dropped: the forget gate has nothing to forget
    else:
        c_next = sigmoid(f) * c + g * i
    return o * tanh(c_next), c_next


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
    xzr, xh = split(xw, [2 * H], axis=1)
    if h is None:
        z, _ = split(sigmoid(xzr), 2, axis=1)
        return z * tanh(xh)     # (1 - z) * 0 + z * tanh(xh + (r * 0) Whh)
    z, r = split(sigmoid(xzr + matmul(h, Whzr)), 2, axis=1)
    h_hat = tanh(xh + matmul(r * h, Whh))
    # (1 - z) * h + z * h~ rearranged: three operations instead of four.
    return h + z * (h_hat - h)
