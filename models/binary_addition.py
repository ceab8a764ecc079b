"""A simple RNN that learns binary addition, bit by bit, least significant first.

At position t the RNN reads the two input bits (a_t, b_t) and predicts the
sum bit s_t. The carry is not an input: the hidden state must learn to hold it::

    h_t = tanh([a_t, b_t] Wx + h_{t-1} Wh + b)
    p_t = sigmoid(h_t Wo + bo)         loss = mean_t,n ce(p_t, s_t)

Trained with BPTT over all 8 positions of all 128 x 128 sums of 7-bit numbers
(an 8-bit result), the model gets every sum right.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad import data
from minigrad.optimizers import Adam

__all__ = ["BinaryAdditionRNN", "binary_addition_dataset", "train_binary_addition", "accuracy"]


def binary_addition_dataset(bits=7):
    """Every pair of ``bits``-bit numbers: inputs (N, bits + 1, 2) and float32
    targets (N, bits + 1), least significant bit first (minigrad.data's
    dataset, which counts the bits of the result)."""
    xs, ts = data.binary_addition_dataset(bits + 1)
    return xs, ts.astype(np.float32)


class BinaryAdditionRNN(L.Layer):
    """RNN (2 -> hidden_size) and a per-position logit of the sum bit."""

    def __init__(self, hidden_size=16, dtype=np.float32, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
        self.rnn = L.RNN(2, hidden_size, dtype=dtype, rng=rng)   # stateless: each sum from h = 0
        self.out = L.Linear(hidden_size, 1, dtype=dtype, rng=rng)

    def forward(self, xs):
        """Logits (N, T) of the sum bits of xs (N, T, 2)."""
        logits = self.out(self.rnn(xs))                          # (N, T, 1)
        return F.reshape(logits, logits.shape[:2])

    def loss(self, xs, ts):
        return F.sigmoid_cross_entropy(self.forward(xs), ts)

    def predict_bits(self, xs):
        with mg.no_grad():
            return (self.forward(xs).data > 0).astype(np.float32)


def accuracy(model, xs, ts):
    """The fraction of sums with every bit right."""
    return float((model.predict_bits(xs) == ts).all(axis=1).mean())


def train_binary_addition(epochs=40, lr=0.01, seed=0, hidden_size=16, batch_size=256,
                          verbose=False):
    """Adam on shuffled minibatches of all 128 x 128 sums until every sum is
    right (checked after each epoch) or ``epochs`` run out. Returns (model,
    accuracy over all 16,384 sums)."""
    mg.random.seed(seed)
    rng = np.random.default_rng(seed)
    xs, ts = binary_addition_dataset()
    model = BinaryAdditionRNN(hidden_size, rng=rng)
    opt = Adam(model.params(), lr=lr)
    acc = accuracy(model, xs, ts)
    for epoch in range(epochs):
        order = rng.permutation(len(xs))
        for start in range(0, len(xs), batch_size):
            idx = order[start:start + batch_size]
            loss = model.loss(xs[idx], ts[idx])
            model.cleargrads()
            loss.backward()
            opt.update()
        acc = accuracy(model, xs, ts)
        if verbose:
            print(f"epoch {epoch + 1}: loss {loss.item():.4f} accuracy {acc:.4f}")
        if acc == 1.0:
            break
    return model, acc
