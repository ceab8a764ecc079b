"""The book's attention layers (chapter 8) with hand-written backward passes.

One decoder step reads a decoder state h (N, H) against the encoder's states
hs (N, T, H), T the encoder's steps:

* AttentionWeight: scores s[n, t] = sum over H of hs[n, t] * h[n]
  (a Repeat of h over T, a Mul, a Sum over H), then a = softmax over t of s;
* WeightSum: context c[n] = sum over t of a[n, t] * hs[n, t]
  (a Repeat of a over H, a Mul, a Sum over T);
* Attention: the two in a row; TimeAttention: one Attention per decoder step,
  in a Python loop, as the book runs it.

Optionally a boolean mask (N, T), False at encoder steps to hide: their scores
become -inf before the softmax. Plain numpy, the dtype of the inputs.
"""
from __future__ import annotations

import numpy as np

from .layers import softmax

__all__ = ["WeightSum", "AttentionWeight", "Attention", "TimeAttention"]


class WeightSum:
    """c = sum over t of a[:, t] * hs[:, t]; backward(dc) returns (dhs, da)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, a):
        N, T, H = hs.shape
        ar = a.reshape(N, T, 1)                # broadcast over H: the Repeat node
        self.cache = (hs, ar)
        return (hs * ar).sum(axis=1)           # Mul, then Sum over the T steps

    def backward(self, dc):
        hs, ar = self.cache
        N, T, H = hs.shape
        dt = np.broadcast_to(dc.reshape(N, 1, H), (N, T, H))   # Sum's backward: copy over T
        dhs = dt * ar                          # Mul node, towards hs
        da = (dt * hs).sum(axis=2)             # Mul node towards a, then the Repeat's sum
        return dhs, da


class AttentionWeight:
    """a = softmax over t of (sum over H of hs[:, t] * h); backward(da) returns
    (dhs, dh)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.cache = None

    def forward(self, hs, h, mask=None):
        N, T, H = hs.shape
        hr = h.reshape(N, 1, H)                # the Repeat of h over the T steps
        s = (hs * hr).sum(axis=2)              # Mul, then Sum over H
        if mask is not None:
            s = np.where(mask, s, -np.inf)     # hidden steps: exp(-inf) = 0
        a = softmax(s)
        self.cache = (hs, hr, a)
        return a

    def backward(self, da):
        hs, hr, a = self.cache
        # Softmax: ds_t = a_t (da_t - sum_k a_k da_k); a hidden step has a = 0.
        ds = a * (da - (a * da).sum(axis=1, keepdims=True))
        dt = ds[:, :, None]                    # Sum over H's backward: copy over H
        dhs = dt * hr                          # Mul node, towards hs
        dh = (dt * hs).sum(axis=1)             # Mul node towards h, then the Repeat's sum
        return dhs, dh


class Attention:
    """The context of one decoder state: AttentionWeight then WeightSum.
    Both read hs, so its gradient is the sum of the two (a Branch)."""

    def __init__(self):
        self.params, self.grads = [], []
        self.attention_weight_layer = AttentionWeight()
        self.weight_sum_layer = WeightSum()
        self.attention_weight = None

    def forward(self, hs, h, mask=None):
        a = self.attention_weight_layer.forward(hs, h, mask)
        self.attention_weight = a
        return self.weight_sum_layer.forward(hs, a)

    def backward(self, dc):
        dhs_sum, da = self.weight_sum_layer.backward(dc)
        dhs_weight, dh = self.attention_weight_layer.backward(da)
        return dhs_sum + dhs_weight, dh


class TimeAttention:
    """One Attention per decoder step, over the same encoder states:
    forward(hs_enc (N, Te, H), hs_dec (N, Td, H)) -> contexts (N, Td, H);
    backward(dout) -> (dhs_enc, dhs_dec), dhs_enc summed over the steps."""

    def __init__(self):
        self.params, self.grads = [], []
        self.layers = None
        self.attention_weights = None

    def forward(self, hs_enc, hs_dec, mask=None):
        N, T, H = hs_dec.shape
        out = np.empty_like(hs_dec)
        self.layers, self.attention_weights = [], []
        for t in range(T):
            layer = Attention()
            out[:, t] = layer.forward(hs_enc, hs_dec[:, t], mask)
            self.layers.append(layer)
            self.attention_weights.append(layer.attention_weight)
        return out

    def backward(self, dout):
        dhs_enc = 0
        dhs_dec = np.empty_like(dout)
        for t, layer in enumerate(self.layers):
            dhs, dh = layer.backward(dout[:, t])
            dhs_enc = dhs_enc + dhs            # every step read the same encoder states
            dhs_dec[:, t] = dh
        return dhs_enc, dhs_dec
