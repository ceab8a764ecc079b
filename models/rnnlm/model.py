"""The book's language models on minigrad's public API.

* ``SimpleRnnlm``: TimeEmbedding -> TimeRNN (stateful) -> TimeAffine.
* ``Rnnlm``: the same with an LSTM (the book trains it with D = H = 100).
* ``BetterRnnlm``: embedding -> dropout -> 2 x (LSTM or GRU -> dropout) ->
  affine whose weight is the embedding matrix, transposed (weight tying), plus
  its own bias.

Every model reads ``xs`` (N, T) word ids and gives scores (N, T, V);
``loss(xs, ts)`` is the softmax cross-entropy averaged over all N * T targets
(the book's TimeSoftmaxWithLoss). Recurrent layers are stateful: consecutive
calls continue each row's stream (truncated BPTT), ``reset_state()`` starts
again from zeros.

Weights use the book's layouts (everything is x @ W; LSTM gates f, g, i, o,
GRU gates z, r, h~) and travel as a flat dict of numpy arrays, so a hand-written
twin can be built from exactly the same numbers:

=================  ==========================  =======================================
model              keys                        shapes
=================  ==========================  =======================================
SimpleRnnlm        embed.W                     (V, D)
                   rnn.Wx, rnn.Wh, rnn.b       (D, H), (H, H), (H,)
                   affine.W, affine.b          (H, V), (V,)
Rnnlm              embed.W                     (V, D)
                   lstm.Wx, lstm.Wh, lstm.b    (D, 4H), (H, 4H), (4H,)
                   affine.W, affine.b          (H, V), (V,)
BetterRnnlm        embed.W                     (V, D)   also the output weight
                   {cell}0.Wx/.Wh/.b           (D, kH), (H, kH), (kH,)   k = 4 or 3
                   {cell}1.Wx/.Wh/.b           (H, kH), (H, kH), (kH,)
                   affine.b                    (V,)
=================  ==========================  =======================================

(``{cell}`` is ``lstm`` or ``gru``; BetterRnnlm needs D == H for the tying.)
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad.training import perplexity

from ..shared.weights import WeightsMixin

__all__ = ["SimpleRnnlm", "Rnnlm", "BetterRnnlm", "eval_perplexity"]


class _LanguageModel(L.Layer, WeightsMixin):
    """What the three language models share: loss, state, scoring."""

    def recurrent_layers(self):
        raise NotImplementedError

    def loss(self, xs, ts, **kwargs):
        """Softmax cross-entropy of ``forward(xs)`` against ``ts`` (N, T), the mean
        over the N * T targets (targets of -1 are skipped, as in the book)."""
        return F.softmax_cross_entropy(self.forward(xs, **kwargs), ts)

    def reset_state(self):
        for layer in self.recurrent_layers():
            layer.reset_state()

    def predict(self, xs):
        """Scores (N, T, V) as a numpy array, without a graph and with dropout off.
        The state is carried as in training, so a stream can be scored in pieces."""
        training = self.training
        self.eval()
        try:
            with mg.no_grad():
                return mg.to_cpu(self.forward(xs))
        finally:
            self.train(training)


class SimpleRnnlm(_LanguageModel):
    """The book's SimpleRnnlm: Embedding (V, D) -> RNN (D, H) -> Linear (H, V).

    Initialisation as the book: embedding 0.01 * normal, Wx normal / sqrt(D),
    Wh normal / sqrt(H), affine normal / sqrt(H), zero biases."""

    rnn_class = L.RNN
    rnn_name = "rnn"

    def __init__(self, vocab_size, wordvec_size, hidden_size, dtype=np.float32, rng=None):
        super().__init__()
        rng = mg.random.generator(rng)
        V, D, H = vocab_size, wordvec_size, hidden_size
        self.embed = L.Embedding(V, D, dtype=dtype, rng=rng)
        setattr(self, self.rnn_name, self.rnn_class(D, H, stateful=True, dtype=dtype, rng=rng))
        self.affine = L.Linear(H, V, dtype=dtype, rng=rng)

    @property
    def recurrent(self):
        return getattr(self, self.rnn_name)

    def recurrent_layers(self):
        return [self.recurrent]

    def forward(self, xs):
        return self.affine(self.recurrent(self.embed(xs)))

    @classmethod
    def from_weights(cls, weights: dict, dtype=np.float32):
        """A model holding copies of ``weights`` (keys in the module docstring)."""
        weights = cls._weights_in(weights, dtype)
        V, D = np.shape(weights["embed.W"])
        H = np.shape(weights[f"{cls.rnn_name}.Wh"])[0]
        return cls(V, D, H, dtype=dtype, rng=0).load_arrays(weights)


class Rnnlm(SimpleRnnlm):
    """The book's Rnnlm: SimpleRnnlm with an LSTM (gates f, g, i, o) in place
    of the RNN; the book trains it with wordvec_size = hidden_size = 100."""

    rnn_class = L.LSTM
    rnn_name = "lstm"

    def __init__(self, vocab_size=10000, wordvec_size=100, hidden_size=100, dtype=np.float32,
                 rng=None):
        super().__init__(vocab_size, wordvec_size, hidden_size, dtype=dtype, rng=rng)


class BetterRnnlm(_LanguageModel):
    """The book's BetterRnnlm::

        x -> Embedding -> Dropout -> RNN0 -> Dropout -> RNN1 -> Dropout
          -> x @ embed.W.T + affine.b

    with RNN0, RNN1 LSTMs (``cell="lstm"``) or the book's GRUs (``cell="gru"``).
    The output weight is the embedding matrix itself (TiedLinear), so it is one
    Parameter: listed once by ``params()``, its gradient the sum of both uses.

    Dropout draws its masks from ``minigrad.random`` in training mode. For
    tests and twin comparisons ``forward(xs, masks=...)`` takes the three masks
    (each of the shape of the tensor it multiplies, already scaled by
    1 / (1 - ratio)) in order: after the embedding, after RNN0, after RNN1.
    """

    def __init__(self, vocab_size=10000, wordvec_size=650, hidden_size=650, dropout_ratio=0.5,
                 cell="lstm", dtype=np.float32, rng=None):
        super().__init__()
        if cell not in ("lstm", "gru"):
            raise ValueError(f"BetterRnnlm: cell must be 'lstm' or 'gru', got {cell!r}")
        if wordvec_size != hidden_size:
            raise ValueError("BetterRnnlm: the output layer reuses the embedding (V, D) as its "
                             f"(H, V) weight, so wordvec_size ({wordvec_size}) must equal "
                             f"hidden_size ({hidden_size})")
        rng = mg.random.generator(rng)
        V, D, H = vocab_size, wordvec_size, hidden_size
        Seq = L.LSTM if cell == "lstm" else L.GRU
        self.cell, self.dropout_ratio = cell, dropout_ratio
        # sparse: the lookup's gradient is its 700 rows, added straight into the
        # output layer's dense (V, D) gradient of the same tied table, instead
        # of a second (V, D) table of mostly zeros.
        self.embed = L.Embedding(V, D, dtype=dtype, rng=rng, sparse=True)
        self.drop0 = L.Dropout(dropout_ratio)
        setattr(self, f"{cell}0", Seq(D, H, stateful=True, dtype=dtype, rng=rng))
        self.drop1 = L.Dropout(dropout_ratio)
        setattr(self, f"{cell}1", Seq(H, H, stateful=True, dtype=dtype, rng=rng))
        self.drop2 = L.Dropout(dropout_ratio)
        self.affine = L.TiedLinear(self.embed.W)

    def recurrent_layers(self):
        return [getattr(self, f"{self.cell}0"), getattr(self, f"{self.cell}1")]

    def _drop(self, layer, x, mask):
        if mask is None or not self.training:
            return layer(x)
        # Cast to the activations' dtype: a float64 mask would turn a float32 model float64.
        mask = mg.get_array_module(x.data).asarray(mask, dtype=x.dtype)
        return F.dropout(x, layer.ratio, training=True, mask=mask)

    def forward(self, xs, masks=None):
        m0, m1, m2 = masks if masks is not None else (None, None, None)
        rnn0, rnn1 = self.recurrent_layers()
        h = self._drop(self.drop0, self.embed(xs), m0)
        h = self._drop(self.drop1, rnn0(h), m1)
        h = self._drop(self.drop2, rnn1(h), m2)
        return self.affine(h)

    @classmethod
    def from_weights(cls, weights: dict, dropout_ratio=0.5, cell=None, dtype=np.float32):
        """A model holding copies of ``weights``; the cell is read off the keys."""
        weights = cls._weights_in(weights, dtype)
        if cell is None:
            cell = "gru" if "gru0.Wx" in weights else "lstm"
        V, D = np.shape(weights["embed.W"])
        H = np.shape(weights[f"{cell}0.Wh"])[0]
        return cls(V, D, H, dropout_ratio=dropout_ratio, cell=cell, dtype=dtype,
                   rng=0).load_arrays(weights)


# The book's name (its common/util.py) for the library's one definition.
eval_perplexity = perplexity
