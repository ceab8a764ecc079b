"""The book's TimeAttention as a layer: dot-product attention of every decoder
state over the encoder's states, in one batched product (see
``minigrad.functions.dot_attention``). It has no parameters; it keeps the weights
of its last call for pictures."""
from __future__ import annotations

from ..functions import attention
from .layer import Layer

__all__ = ["Attention"]


class Attention(Layer):
    """Contexts (N, Td, H) of decoder states (N, Td, H) over encoder states
    (N, Te, H); ``mask`` (N, Te), boolean, hides padded encoder steps.

    After a call, ``attention_weights`` holds its weights (N, Td, Te) as an
    array (no graph): row t of sample n says how much decoder step t read each
    encoder step, the book's attention map.

    >>> import numpy as np
    >>> att = Attention()
    >>> hs_enc = np.random.default_rng(0).normal(size=(2, 4, 3))
    >>> att(hs_enc, np.ones((2, 5, 3))).shape, att.attention_weights.shape
    ((2, 5, 3), (2, 5, 4))
    """

    def __init__(self):
        super().__init__()
        self.attention_weights = None

    def forward(self, hs_enc, hs_dec, mask=None):
        context, weights = attention(hs_enc, hs_dec, mask)
        self.attention_weights = weights.data
        return context
