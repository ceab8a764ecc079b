"""The encoder-decoder models and their twins built from the same weights, for
the comparison of :mod:`models.shared.twin_check`."""
from __future__ import annotations

import numpy as np

from ..shared.twin_check import random_weights
from .model import AttentionSeq2seq, PeekySeq2seq, Seq2seq
from .twin import TwinSeq2seq

__all__ = ["build_seq2seq_pair", "SEQ2SEQ_KINDS"]

f64 = np.float64
SEQ2SEQ_KINDS = ("seq2seq", "peeky", "attention", "attention-bi")


def build_seq2seq_pair(kind, vocab_size, wordvec_size, hidden_size, seed=0, fused=True):
    """(autograd model, twin, weights) of an encoder-decoder model, the same
    random float64 weights in both. ``kind``: "seq2seq", "peeky", "attention"
    or "attention-bi" (the bidirectional encoder, directions concatenated)."""
    V, D, H = vocab_size, wordvec_size, hidden_size
    if kind == "seq2seq":
        model = Seq2seq(V, D, H, fused=fused, dtype=f64, rng=0)
    elif kind == "peeky":
        model = PeekySeq2seq(V, D, H, fused=fused, dtype=f64, rng=0)
    elif kind in ("attention", "attention-bi"):
        model = AttentionSeq2seq(V, D, H, bidirectional=kind == "attention-bi", fused=fused,
                                 dtype=f64, rng=0)
    else:
        raise ValueError(f"build_seq2seq_pair: kind must be one of {SEQ2SEQ_KINDS}, "
                         f"got {kind!r}")
    w = random_weights(model, seed=seed)
    model.load_arrays(w)
    return model, TwinSeq2seq(w, kind.split("-")[0]), w
