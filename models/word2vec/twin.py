"""The book's CBOW and skip-gram, layer by layer from the hand-written layers:
the twins of models.word2vec's CBOW and SkipGram.

Like every model's twin: built from the model's weight dict, ``forward(batch)``
gives the loss of ``batch = (contexts, target, negatives)`` (the negatives
given, so that both sides score the same words), ``backward()`` runs the
book's backward pass and ``grads()`` gives the gradients keyed like the weights.
"""
from __future__ import annotations

import numpy as np

from ..book_layers.layers import Embedding, NegativeSamplingLoss

__all__ = ["TwinCBOW", "TwinSkipGram"]


class _TwinWord2Vec:
    def __init__(self, weights):
        self.W_in = np.array(weights["W_in"], copy=True)
        self.W_out = np.array(weights["W_out"], copy=True)


class TwinCBOW(_TwinWord2Vec):
    """The book's CBOW: one Embedding per context position, h their mean;
    negatives have shape (N, k)."""

    def forward(self, batch):
        contexts, target, negatives = batch
        self.ins = [Embedding(self.W_in) for _ in range(contexts.shape[1])]
        self.ns = NegativeSamplingLoss(self.W_out, negatives.shape[-1])
        h = sum(layer.forward(contexts[:, i]) for i, layer in enumerate(self.ins)) / len(self.ins)
        return self.ns.forward(h, target, negatives)

    def backward(self):
        dh = self.ns.backward(1.0) / len(self.ins)
        for layer in self.ins:
            layer.backward(dh)

    def grads(self) -> dict:
        return {"W_in": sum(layer.grads[0] for layer in self.ins), "W_out": self.ns.grads[0]}


class TwinSkipGram(_TwinWord2Vec):
    """The book's skip-gram: one loss layer per context position, all sharing
    W_out; negatives have shape (N, 2w, k)."""

    def forward(self, batch):
        contexts, target, negatives = batch
        self.emb = Embedding(self.W_in)
        self.losses = [NegativeSamplingLoss(self.W_out, negatives.shape[-1])
                       for _ in range(contexts.shape[1])]
        h = self.emb.forward(target)
        return sum(layer.forward(h, contexts[:, i], negatives[:, i])
                   for i, layer in enumerate(self.losses))

    def backward(self):
        self.emb.backward(sum(layer.backward(1.0) for layer in self.losses))

    def grads(self) -> dict:
        return {"W_in": self.emb.grads[0], "W_out": sum(layer.grads[0] for layer in self.losses)}
