"""Activation layers: Sigmoid, Tanh and ReLU as Layers, for ``Sequential``
(and for the printed tree of a model). Each is its function of
``minigrad.functions``, with nothing to learn.

>>> import numpy as np
>>> from minigrad.layers import ReLU
>>> ReLU()(np.array([-1.0, 2.0]))
variable([0., 2.])
"""
from __future__ import annotations

from .. import functions as F
from .layer import Layer

__all__ = ["Sigmoid", "Tanh", "ReLU"]


class Sigmoid(Layer):
    """y = 1 / (1 + exp(-x)), elementwise."""

    def forward(self, x):
        return F.sigmoid(x)


class Tanh(Layer):
    """y = tanh(x), elementwise."""

    def forward(self, x):
        return F.tanh(x)


class ReLU(Layer):
    """y = max(x, 0), elementwise."""

    def forward(self, x):
        return F.relu(x)
