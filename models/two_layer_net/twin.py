"""The twin of models.two_layer_net.TwoLayerNet, as the book writes it in
chapter 1: a list of layers, forward in order, backward in reverse."""
from __future__ import annotations

import numpy as np

from ..book_layers.layers import Affine, Sigmoid, SoftmaxWithLoss

__all__ = ["TwinTwoLayerNet"]


class TwinTwoLayerNet:
    """Affine -> Sigmoid -> Affine -> SoftmaxWithLoss on the given weights
    (keys W1, b1, W2, b2). ``forward((x, t))`` gives the loss (one-hot targets
    are turned into labels, as the book's SoftmaxWithLoss does), ``backward()``
    runs the book's backward pass and ``grads()`` gives the gradients keyed like
    the weights."""

    def __init__(self, weights):
        w = {k: np.array(a, copy=True) for k, a in weights.items()}
        self.layers = [Affine(w["W1"], w["b1"]), Sigmoid(), Affine(w["W2"], w["b2"])]
        self.loss_layer = SoftmaxWithLoss()

    def predict(self, x):
        for layer in self.layers:
            x = layer.forward(x)
        return x

    def forward(self, batch):
        x, t = batch
        t = np.asarray(t)
        if t.ndim == 2:
            t = t.argmax(axis=1)
        return self.loss_layer.forward(self.predict(x), t)

    def backward(self, dout=1):
        dout = self.loss_layer.backward(dout)
        for layer in reversed(self.layers):
            dout = layer.backward(dout)
        return dout

    def grads(self) -> dict:
        first, _, second = self.layers
        return {"W1": first.grads[0], "b1": first.grads[1],
                "W2": second.grads[0], "b2": second.grads[1]}
