"""minigrad.layers (imported as L): the pieces models are made of."""
from .layer import Layer
from .parameter import Parameter

__all__ = ["Parameter", "Layer"]
