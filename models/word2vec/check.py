"""CBOW and SkipGram against the book's layer-by-layer versions (their twins),
on the same weights, with :mod:`models.shared.twin_check`'s measure."""
from __future__ import annotations

import numpy as np

from ..shared.twin_check import rel_err
from .twin import twin_cbow, twin_skipgram

__all__ = ["word2vec_twin_errors"]


def word2vec_twin_errors(cls, weights, contexts, target, negatives) -> dict:
    """CBOW or SkipGram (sparse) against the book's layer-by-layer version built
    from the twins: relative differences of the loss and of W_in's and W_out's
    gradients."""
    twin = twin_cbow if cls.__name__ == "CBOW" else twin_skipgram
    twin_loss, g_in, g_out = twin(weights["W_in"], weights["W_out"], contexts, target, negatives)
    C, k = contexts.shape[1], negatives.shape[-1]
    window = C // 2
    model = cls.from_weights(weights, window, sample_size=k, sparse=True, dtype=np.float64)
    loss = model.loss(contexts, target, negatives=negatives)
    loss.backward()
    return {"loss": rel_err(loss.data, twin_loss),
            "W_in": rel_err(model.in_embed.W.grad.to_dense(), g_in),
            "W_out": rel_err(model.ns_loss.W.grad.to_dense(), g_out)}
