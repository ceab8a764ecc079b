"""CBOW and SkipGram against the book's layer-by-layer versions (their twins),
on the same weights, with :mod:`models.shared.twin_check`'s measure."""
from __future__ import annotations

import numpy as np

from ..shared.twin_check import twin_errors
from .model import CBOW
from .twin import TwinCBOW, TwinSkipGram

__all__ = ["word2vec_twin_errors"]


def word2vec_twin_errors(cls, weights, contexts, target, negatives) -> dict:
    """CBOW or SkipGram (sparse) against the book's layer-by-layer version:
    relative differences of the loss and of W_in's and W_out's gradients."""
    twin = (TwinCBOW if issubclass(cls, CBOW) else TwinSkipGram)(weights)
    model = cls.from_weights(weights, contexts.shape[1] // 2, sample_size=negatives.shape[-1],
                             sparse=True, dtype=np.float64)
    return twin_errors(model, twin, [(contexts, target, negatives)])
