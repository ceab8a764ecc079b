"""Bidirectional sequence layers: the book's TimeBiLSTM, for the LSTM, the GRU
and the plain RNN.

One layer reads the sequence left to right; a second one, with weights of its
own, reads it right to left (its input reversed along time) and its output is
reversed back, so step t of both outputs belongs to input step t. The two are
concatenated, (N, T, 2H) as in the book, or summed, (N, T, H). Reversal is an
indexing node (a view forward, its gradient written back reversed), so the
gradient of the input is the sum of both directions' gradients, as the book's
backward adds ``dxs1 + dxs2``. Each direction runs the fused whole-sequence
operation (``fused=True``, the default) or the composed steps.
"""
from __future__ import annotations

import numpy as np

from .. import functions as F
from .. import random as mg_random
from .layer import Layer
from .rnn import GRU, LSTM, RNN

__all__ = ["BiLSTM", "BiGRU", "BiRNN"]

MERGES = ("concat", "sum")
_REVERSED_TIME = (slice(None), slice(None, None, -1))


def reverse_time(xs):
    """xs (N, T, ...) with the time axis reversed, as a recorded view."""
    return F.get_item(xs, _REVERSED_TIME)


class _Bidirectional(Layer):
    layer_class = None   # LSTM, GRU or RNN
    prefix = None        # "lstm": the directions are forward_lstm and backward_lstm

    def __init__(self, in_size, hidden_size, *, merge="concat", fused=True, dtype=np.float32,
                 rng=None):
        super().__init__()
        if merge not in MERGES:
            raise ValueError(f"{type(self).__name__}: merge must be one of {MERGES}, "
                             f"got {merge!r}")
        rng = mg_random.generator(rng)
        self.merge, self.in_size, self.hidden_size = merge, int(in_size), int(hidden_size)
        for direction in ("forward", "backward"):
            setattr(self, f"{direction}_{self.prefix}",
                    self.layer_class(in_size, hidden_size, fused=fused, dtype=dtype, rng=rng))

    def directions(self):
        """The two sequence layers: left to right, right to left."""
        return (getattr(self, f"forward_{self.prefix}"), getattr(self, f"backward_{self.prefix}"))

    @property
    def output_size(self) -> int:
        return 2 * self.hidden_size if self.merge == "concat" else self.hidden_size

    def forward(self, xs, return_state=False):
        """Outputs (N, T, 2H) (``merge="concat"``, forward direction first) or
        (N, T, H) (``"sum"``). With ``return_state``: ``(out, (state_forward,
        state_backward))``, each direction's final state with its graph (the
        backward direction's is the one after reading step 0)."""
        fwd, bwd = self.directions()
        o1 = fwd(xs, return_state=return_state)
        o2 = bwd(reverse_time(xs), return_state=return_state)
        if return_state:
            (o1, s1), (o2, s2) = o1, o2
        o2 = reverse_time(o2)
        out = F.concat((o1, o2), axis=2) if self.merge == "concat" else o1 + o2
        return (out, (s1, s2)) if return_state else out

    def __repr__(self):
        return (f"{type(self).__name__}({self.in_size}, {self.hidden_size}, "
                f"merge={self.merge!r})")


class BiLSTM(_Bidirectional):
    """The book's TimeBiLSTM: two LSTMs (``forward_lstm``, ``backward_lstm``,
    each Wx (D, 4H), Wh (H, 4H), b (4H)), the second over reversed time.

    >>> import numpy as np
    >>> bi = BiLSTM(3, 4, rng=0)
    >>> bi(np.ones((2, 5, 3), dtype=np.float32)).shape
    (2, 5, 8)
    >>> [name for name, _ in bi.named_params()][:4]
    ['forward_lstm.Wx', 'forward_lstm.Wh', 'forward_lstm.b', 'backward_lstm.Wx']
    """

    layer_class, prefix = LSTM, "lstm"


class BiGRU(_Bidirectional):
    """Two of the book's GRUs (``forward_gru``, ``backward_gru``), the second
    over reversed time."""

    layer_class, prefix = GRU, "gru"


class BiRNN(_Bidirectional):
    """Two of the book's RNNs (``forward_rnn``, ``backward_rnn``), the second
    over reversed time."""

    layer_class, prefix = RNN, "rnn"
