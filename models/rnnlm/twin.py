"""The book's language models assembled from the hand-written Time layers: the
twins of models.rnnlm's SimpleRnnlm, Rnnlm and BetterRnnlm."""
from __future__ import annotations

import numpy as np

from ..book_layers.time_layers import (TimeAffine, TimeDropout, TimeEmbedding, TimeGRU, TimeLSTM,
                                      TimeRNN, TimeSoftmaxWithLoss)

__all__ = ["TwinLM"]


class TwinLM:
    """SimpleRnnlm / Rnnlm / BetterRnnlm assembled from the twins' Time layers,
    with the book's backward: each layer's ``backward`` in reverse order.
    ``kind``: "rnn" (SimpleRnnlm), "lstm" (Rnnlm), "better-lstm" or "better-gru"
    (BetterRnnlm: two layers, three dropouts, the output weight tied to the
    embedding). ``weights`` are keyed like the autograd models' to_weights()."""

    def __init__(self, weights, kind, dropout_ratio=0.5):
        w = {k: np.array(a, copy=True) for k, a in weights.items()}
        time_layer = {"rnn": TimeRNN, "lstm": TimeLSTM, "gru": TimeGRU}
        self.kind = kind
        self.embed = TimeEmbedding(w["embed.W"])
        if kind in ("rnn", "lstm"):
            self.names = [kind]
            self.rnns = [time_layer[kind](w[f"{kind}.Wx"], w[f"{kind}.Wh"], w[f"{kind}.b"],
                                          stateful=True)]
            self.affine = TimeAffine(w["affine.W"], w["affine.b"])
            self.drops = []
        else:
            cell = kind.split("-")[1]
            self.names = [f"{cell}0", f"{cell}1"]
            self.rnns = [time_layer[cell](w[f"{n}.Wx"], w[f"{n}.Wh"], w[f"{n}.b"], stateful=True)
                         for n in self.names]
            # Tied: the output weight is a transposed view of the embedding matrix.
            self.affine = TimeAffine(w["embed.W"].T, w["affine.b"])
            self.drops = [TimeDropout(dropout_ratio) for _ in range(3)]
        self.loss_layer = TimeSoftmaxWithLoss()

    def forward(self, batch):
        """The loss of ``batch = (xs, ts)``, or ``(xs, ts, keeps)`` with BetterRnnlm's
        three boolean dropout masks."""
        xs, ts, *extra = batch
        keeps = extra[0] if extra else None
        h = self.embed.forward(xs)
        if self.drops:
            h = self.drops[0].forward(h, mask=keeps[0])
        for i, rnn in enumerate(self.rnns):
            h = rnn.forward(h)
            if self.drops:
                h = self.drops[i + 1].forward(h, mask=keeps[i + 1])
        return self.loss_layer.forward(self.affine.forward(h), ts)

    def backward(self):
        d = self.affine.backward(self.loss_layer.backward(1.0))
        for i in reversed(range(len(self.rnns))):
            if self.drops:
                d = self.drops[i + 1].backward(d)
            d = self.rnns[i].backward(d)
        if self.drops:
            d = self.drops[0].backward(d)
        self.embed.backward(d)

    def grads(self) -> dict:
        """Gradients keyed like the autograd model's weights."""
        g = {"embed.W": self.embed.grads[0].copy()}
        for name, rnn in zip(self.names, self.rnns):
            g.update(zip([f"{name}.Wx", f"{name}.Wh", f"{name}.b"], (a.copy() for a in rnn.grads)))
        if self.drops:
            # The tied matrix has two uses; its gradient is the sum of both.
            g["embed.W"] += self.affine.grads[0].T
        else:
            g["affine.W"] = self.affine.grads[0].copy()
        g["affine.b"] = self.affine.grads[1].copy()
        return g
