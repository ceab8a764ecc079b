"""The language models and their twins built from the same weights, for the
comparison of :mod:`models.shared.twin_check`."""
from __future__ import annotations

import numpy as np

from ..shared.twin_check import random_weights
from .model import BetterRnnlm, Rnnlm, SimpleRnnlm
from .twin import TwinLM

__all__ = ["build_lm_pair", "dropout_keeps", "LM_KINDS"]

f64 = np.float64
LM_KINDS = ("rnn", "lstm", "better-lstm", "better-gru")


def build_lm_pair(kind, vocab_size, hidden_size, wordvec_size=None, seed=0, dropout_ratio=0.5):
    """(autograd model, twin, weights): the same random float64 weights in both.
    ``kind``: "rnn" (SimpleRnnlm), "lstm" (Rnnlm), "better-lstm" or
    "better-gru" (BetterRnnlm, which ties D to H)."""
    V, H = vocab_size, hidden_size
    D = H if kind.startswith("better") or wordvec_size is None else wordvec_size
    if kind == "rnn":
        model = SimpleRnnlm(V, D, H, dtype=f64, rng=0)
    elif kind == "lstm":
        model = Rnnlm(V, D, H, dtype=f64, rng=0)
    elif kind in ("better-lstm", "better-gru"):
        model = BetterRnnlm(V, D, H, dropout_ratio=dropout_ratio, cell=kind.split("-")[1],
                            dtype=f64, rng=0)
    else:
        raise ValueError(f"build_lm_pair: kind must be one of {LM_KINDS}, got {kind!r}")
    w = random_weights(model, seed=seed)
    model.load_arrays(w)
    return model, TwinLM(w, kind, dropout_ratio), w


def dropout_keeps(model, rng, N, T):
    """BetterRnnlm's three boolean keep-masks (after the embedding, RNN0, RNN1)."""
    sizes = [model.embed.dim] + [layer.hidden_size for layer in model.recurrent_layers()]
    return [rng.random((N, T, s)) >= model.dropout_ratio for s in sizes]
