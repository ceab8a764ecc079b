"""Dropout: inverted dropout, active only in training mode."""
from __future__ import annotations

from ..functions import dropout
from .layer import Layer


class Dropout(Layer):
    """Zero each element with probability ``ratio`` and scale the rest by
    1 / (1 - ratio) while ``self.training``; the identity after ``eval()``.
    The masks come from ``minigrad.random`` (seed it for repeatable runs).

    >>> import numpy as np
    >>> from minigrad.layers import Dropout
    >>> drop = Dropout(0.5).eval()
    >>> drop(np.ones(3))
    variable([1., 1., 1.])
    """

    def __init__(self, ratio: float = 0.5):
        super().__init__()
        if not 0.0 <= ratio < 1.0:
            raise ValueError(f"Dropout: ratio must be in [0, 1), got {ratio}")
        self.ratio = ratio

    def forward(self, x):
        return dropout(x, self.ratio, training=self.training)

    def extra_repr(self):
        return f"{self.ratio}"
