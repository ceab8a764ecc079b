"""Dot-product attention (the book's chapter 8), for every decoder step at once.

The book's ``Attention`` reads one decoder state h (N, H) against the encoder's
states hs (N, Te, H): scores ``s = sum over H of hs * h`` (AttentionWeight),
weights ``a = softmax over Te of s``, context ``c = sum over Te of a * hs``
(WeightSum); its ``TimeAttention`` loops over the Td decoder steps. With teacher
forcing every decoder state is known before attention runs, so here each of
those is one batched matrix product over all decoder steps:

    scores  = hs_dec @ hs_enc^T           (N, Td, H) @ (N, H, Te) -> (N, Td, Te)
    a       = softmax(scores, axis=-1)    (weights over encoder steps)
    context = a @ hs_enc                  (N, Td, Te) @ (N, Te, H) -> (N, Td, H)

They are compositions of recorded operations (MatMul, Transpose, Softmax and,
with a mask, an Add), so their gradients are the engine's: MatMul's backward
gives exactly the book's ``dhs = dt * hr`` summed over steps, and higher-order
gradients come for free.

A mask marks the encoder steps that may be attended to (True) per row; the
others (padding) get the score -inf before the softmax, hence weight 0 and a
gradient of exactly 0.
"""
from __future__ import annotations

import numpy as np

from ..backend import get_array_module
from ..core.arrays import array_of
from ..errors import ShapeError
from .linalg import matmul
from .loss import softmax
from .shape import reshape, transpose

__all__ = ["attention_weights", "weighted_sum", "attention"]


def _mask_bias(mask, N, Te, like):
    """0 where ``mask`` is True, -inf elsewhere: (N, 1, Te), a constant."""
    xp = get_array_module(like)
    mask = xp.asarray(array_of(mask))
    if mask.shape != (N, Te) or mask.dtype != np.bool_:
        raise ShapeError(f"attention: the mask must be a boolean array of shape (N, Te) = "
                         f"{(N, Te)} (True: an encoder step to attend to), got "
                         f"{mask.dtype} {tuple(mask.shape)}")
    empty = ~mask.any(axis=1)
    if empty.any():
        raise ValueError(f"attention: row {int(xp.argmax(empty))} of the mask hides every "
                         "encoder step; its weights would be 0 / 0. Keep at least one step "
                         "per row")
    bias = xp.where(mask, 0.0, -np.inf).astype(like.dtype)
    return bias.reshape(N, 1, Te)


def _check(hs_enc, hs_dec):
    if hs_enc.ndim != 3 or hs_dec.ndim != 3 or hs_enc.shape[0] != hs_dec.shape[0] or \
            hs_enc.shape[2] != hs_dec.shape[2]:
        raise ShapeError(f"attention: needs encoder states (N, Te, H) and decoder states "
                         f"(N, Td, H) (or (N, H)) with the same N and H, got "
                         f"{tuple(hs_enc.shape)} and {tuple(hs_dec.shape)}")


def attention_weights(hs_enc, hs_dec, mask=None):
    """The book's AttentionWeight for all decoder steps: (N, Td, Te) weights,
    the softmax over encoder steps of the scores ``hs_dec[n, t] . hs_enc[n, s]``.

    >>> import numpy as np, minigrad as mg
    >>> hs_enc = np.array([[[1.0, 0.0], [0.0, 1.0], [0.0, 0.0]]])      # N 1, Te 3, H 2
    >>> a = mg.functions.attention_weights(hs_enc, np.array([[[5.0, 0.0]]]))
    >>> a.shape, bool(a.data[0, 0].argmax() == 0)
    ((1, 1, 3), True)
    >>> mg.functions.attention_weights(hs_enc, np.array([[[5.0, 0.0]]]),
    ...                                mask=np.array([[False, True, True]]))
    variable([[[0. , 0.5, 0.5]]])
    """
    _check(hs_enc, hs_dec)
    scores = matmul(hs_dec, transpose(hs_enc, (0, 2, 1)))
    if mask is not None:
        N, Te = hs_enc.shape[:2]
        scores = scores + _mask_bias(mask, N, Te, array_of(scores))
    return softmax(scores, axis=-1)


def weighted_sum(hs_enc, a):
    """The book's WeightSum for all decoder steps: contexts (N, Td, H), the
    sum over encoder steps of ``a[n, t, s] * hs_enc[n, s]``."""
    if a.ndim != 3 or hs_enc.ndim != 3 or a.shape[0] != hs_enc.shape[0] or \
            a.shape[2] != hs_enc.shape[1]:
        raise ShapeError(f"weighted_sum: needs weights (N, Td, Te) and encoder states "
                         f"(N, Te, H), got {tuple(a.shape)} and {tuple(hs_enc.shape)}")
    return matmul(a, hs_enc)


def attention(hs_enc, hs_dec, mask=None):
    """Dot-product attention of decoder states ``hs_dec`` (N, Td, H), or one
    step (N, H), over encoder states ``hs_enc`` (N, Te, H): returns
    ``(context, weights)``, context of hs_dec's shape and weights (N, Td, Te)
    (or (N, Te)). ``mask`` (N, Te), boolean: False hides an encoder step.

    >>> import numpy as np, minigrad as mg
    >>> hs_enc = mg.Variable(np.random.default_rng(0).normal(size=(2, 4, 3)))
    >>> c, a = mg.functions.attention(hs_enc, np.ones((2, 5, 3)))
    >>> c.shape, a.shape, np.allclose(a.data.sum(axis=-1), 1)
    ((2, 5, 3), (2, 5, 4), True)
    """
    one_step = hs_dec.ndim == 2
    if one_step:
        hs_dec = reshape(hs_dec, (hs_dec.shape[0], 1, hs_dec.shape[1]))
    a = attention_weights(hs_enc, hs_dec, mask)
    c = weighted_sum(hs_enc, a)
    if one_step:
        return reshape(c, (c.shape[0], c.shape[2])), reshape(a, (a.shape[0], a.shape[2]))
    return c, a
