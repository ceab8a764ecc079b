"""Sequential: layers applied one after the other."""
from __future__ import annotations

from .layer import Layer

__all__ = ["Sequential"]


class Sequential(Layer):
    """``Sequential(a, b, c)(x)`` is ``c(b(a(x)))``. The layers are registered
    under the names "0", "1", ... (their dotted parameter names are "0.W",
    ...), and can be indexed, iterated and appended to.

    >>> import numpy as np
    >>> from minigrad.layers import Linear, Sequential, Tanh
    >>> model = Sequential(Linear(3, 4, rng=0), Tanh(), Linear(4, 2, rng=1))
    >>> model(np.ones((5, 3))).shape, len(model), type(model[1]).__name__
    ((5, 2), 3, 'Tanh')
    >>> print(model)
    Sequential: 26 parameters
      0: Linear(3, 4, bias=True)
        W: (3, 4) float32
        b: (4,) float32
      1: Tanh()
      2: Linear(4, 2, bias=True)
        W: (4, 2) float32
        b: (2,) float32
    """

    def __init__(self, *layers):
        super().__init__()
        object.__setattr__(self, "_layers", [])
        for layer in layers:
            self.append(layer)

    def append(self, layer):
        """Add ``layer`` at the end; returns self."""
        if not isinstance(layer, Layer):
            what = getattr(layer, "__name__", type(layer).__name__)
            raise TypeError(f"Sequential: item {len(self._layers)} is {what}, not a Layer; "
                            "functions go in as layers, e.g. minigrad.layers.ReLU() for "
                            "functions.relu")
        setattr(self, str(len(self._layers)), layer)
        self._layers.append(layer)
        return self

    def forward(self, x):
        for layer in self._layers:
            x = layer(x)
        return x

    def __getitem__(self, i):
        return self._layers[i]

    def __len__(self):
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)
