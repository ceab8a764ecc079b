"""The book's encoder-decoder models (chapters 7 and 8) assembled from the
hand-written layers: the twins of models.seq2seq's Seq2seq, PeekySeq2seq and
AttentionSeq2seq.

Every layer is built from given weight arrays (no initialisation here), keeps
``params`` / ``grads`` lists and runs an explicit backward, as the book's do.
The decoder reads the answer shifted by one (teacher forcing): input
``ts[:, :-1]``, target ``ts[:, 1:]``. ``generate`` is the book's: one question
at a time, one character at a time, greedy.
"""
from __future__ import annotations

import numpy as np

from ..book_layers.attention import TimeAttention
from ..book_layers.time_layers import (TimeAffine, TimeBiLSTM, TimeEmbedding, TimeLSTM,
                                      TimeSoftmaxWithLoss)

__all__ = ["Encoder", "Decoder", "PeekyDecoder", "AttentionEncoder", "AttentionDecoder",
           "TwinSeq2seq", "KINDS"]

KINDS = ("seq2seq", "peeky", "attention")


class Encoder:
    """Embedding -> LSTM (starting from zeros every call); the output is the
    last hidden state only, so backward puts dh at the last step and zeros
    at every other."""

    def __init__(self, embed_W, Wx, Wh, b):
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(Wx, Wh, b, stateful=False)
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads
        self.hs = None

    def forward(self, xs):
        self.hs = self.lstm.forward(self.embed.forward(xs))
        return self.hs[:, -1]

    def backward(self, dh):
        dhs = np.zeros_like(self.hs)
        dhs[:, -1] = dh                        # only the last step was read
        self.embed.backward(self.lstm.backward(dhs))


class Decoder:
    """Embedding -> LSTM (h from the encoder, c from zeros) -> Affine.
    backward returns dh, the gradient that reached the LSTM's first state."""

    def __init__(self, embed_W, Wx, Wh, b, affine_W, affine_b):
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(Wx, Wh, b, stateful=True)
        self.affine = TimeAffine(affine_W, affine_b)
        self.params, self.grads = [], []
        for layer in (self.embed, self.lstm, self.affine):
            self.params += layer.params
            self.grads += layer.grads

    def forward(self, xs, h):
        self.lstm.set_state(h)
        return self.affine.forward(self.lstm.forward(self.embed.forward(xs)))

    def backward(self, dscore):
        self.embed.backward(self.lstm.backward(self.affine.backward(dscore)))
        return self.lstm.dh

    def step(self, x):
        """Scores (1, V) of one character x (1, 1), the LSTM's state carried."""
        return self.affine.forward(self.lstm.forward(self.embed.forward(x)))[:, -1]

    def generate(self, h, start_id, length):
        self.lstm.set_state(h)
        return _greedy(self.step, start_id, length)


class PeekyDecoder(Decoder):
    """The Decoder whose LSTM and Affine also read the encoder's h at every
    step ("peeking"): the LSTM's input is [h, embedding] (Wx (H + D, 4H)) and
    the Affine's [h, LSTM output] ((2H, V)), h first both times. h reaches the
    loss through three paths: the LSTM's first state and the two peeks at
    every step, so dh is their sum."""

    def forward(self, xs, h):
        N, T = xs.shape
        self.lstm.set_state(h)
        peek = np.broadcast_to(h[:, None, :], (N, T, h.shape[1]))   # h repeated over T
        out = self.lstm.forward(np.concatenate((peek, self.embed.forward(xs)), axis=2))
        return self.affine.forward(np.concatenate((peek, out), axis=2))

    def backward(self, dscore):
        H = self.lstm.params[1].shape[0]
        dout = self.affine.backward(dscore)
        dpeek_affine, dout = dout[:, :, :H], dout[:, :, H:]
        dx = self.lstm.backward(dout)
        dpeek_lstm, dembed = dx[:, :, :H], dx[:, :, H:]
        self.embed.backward(dembed)
        # The Repeat of h over T: its gradient is the sum over the steps.
        return self.lstm.dh + (dpeek_affine + dpeek_lstm).sum(axis=1)

    def generate(self, h, start_id, length):
        self.lstm.set_state(h)
        peek = h[:, None, :]

        def step(x):
            out = self.lstm.forward(np.concatenate((peek, self.embed.forward(x)), axis=2))
            return self.affine.forward(np.concatenate((peek, out), axis=2))[:, -1]
        return _greedy(step, start_id, length)


class AttentionEncoder:
    """Embedding -> LSTM, or the book's TimeBiLSTM (``bidirectional``); all
    hidden states are the output."""

    def __init__(self, embed_W, *lstm_weights):
        self.embed = TimeEmbedding(embed_W)
        self.lstm = (TimeBiLSTM(*lstm_weights) if len(lstm_weights) == 6 else
                     TimeLSTM(*lstm_weights, stateful=False))
        self.params = self.embed.params + self.lstm.params
        self.grads = self.embed.grads + self.lstm.grads

    def forward(self, xs):
        return self.lstm.forward(self.embed.forward(xs))

    def backward(self, dhs):
        self.embed.backward(self.lstm.backward(dhs))


class AttentionDecoder:
    """Embedding -> LSTM (h from the encoder's last state) -> TimeAttention over
    the encoder's states -> Affine on [context, LSTM output] ((2H, V), context
    first). backward returns the encoder states' gradient: the attention's,
    plus the LSTM's dh at the last step (where its first state came from)."""

    def __init__(self, embed_W, Wx, Wh, b, affine_W, affine_b):
        self.embed = TimeEmbedding(embed_W)
        self.lstm = TimeLSTM(Wx, Wh, b, stateful=True)
        self.attention = TimeAttention()
        self.affine = TimeAffine(affine_W, affine_b)
        self.params, self.grads = [], []
        for layer in (self.embed, self.lstm, self.attention, self.affine):
            self.params += layer.params
            self.grads += layer.grads
        self.mask = None

    def forward(self, xs, hs_enc, mask=None):
        self.lstm.set_state(hs_enc[:, -1])
        self.mask = mask
        hs_dec = self.lstm.forward(self.embed.forward(xs))
        context = self.attention.forward(hs_enc, hs_dec, mask)
        return self.affine.forward(np.concatenate((context, hs_dec), axis=2))

    def backward(self, dscore):
        dout = self.affine.backward(dscore)
        H = dout.shape[2] // 2
        dcontext, dhs_dec = dout[:, :, :H], dout[:, :, H:]
        dhs_enc, dhs_dec_attention = self.attention.backward(dcontext)
        # The LSTM's outputs feed both the attention and the Affine (a Branch).
        dx = self.lstm.backward(dhs_dec + dhs_dec_attention)
        self.embed.backward(dx)
        dhs_enc = dhs_enc.copy()
        dhs_enc[:, -1] += self.lstm.dh
        return dhs_enc

    def generate(self, hs_enc, start_id, length, mask=None):
        self.lstm.set_state(hs_enc[:, -1])

        def step(x):
            hs_dec = self.lstm.forward(self.embed.forward(x))
            context = self.attention.forward(hs_enc, hs_dec, mask)
            return self.affine.forward(np.concatenate((context, hs_dec), axis=2))[:, -1]
        return _greedy(step, start_id, length)


def _greedy(step, start_id, length):
    """The book's generate: feed the start symbol, then each argmax back in."""
    sampled, x = [], start_id
    for _ in range(length):
        x = int(np.argmax(step(np.array([[x]]))))
        sampled.append(x)
    return sampled


class TwinSeq2seq:
    """Seq2seq (``kind="seq2seq"``), PeekySeq2seq ("peeky") or AttentionSeq2seq
    ("attention", its encoder bidirectional when the weights hold
    ``encoder.forward_lstm.*``), from a weight dict keyed like the autograd
    models' ``to_weights()``; the loss is the book's TimeSoftmaxWithLoss."""

    def __init__(self, weights, kind):
        if kind not in KINDS:
            raise ValueError(f"TwinSeq2seq: kind must be one of {KINDS}, got {kind!r}")
        w = {k: np.array(a, copy=True) for k, a in weights.items()}
        self.kind = kind
        self.bidirectional = "encoder.forward_lstm.Wx" in w
        lstm = ["Wx", "Wh", "b"]
        encoder_lstms = ["forward_lstm", "backward_lstm"] if self.bidirectional else ["lstm"]
        # The book's params order: encoder (embedding, LSTM or forward then backward
        # LSTM), then decoder (embedding, LSTM, affine).
        self.keys = (["encoder.embed.W"] + [f"encoder.{n}.{k}" for n in encoder_lstms for k in lstm]
                     + ["decoder.embed.W"] + [f"decoder.lstm.{k}" for k in lstm]
                     + ["decoder.affine.W", "decoder.affine.b"])
        missing = sorted(set(self.keys) - set(w))
        if missing:
            raise KeyError(f"TwinSeq2seq: the weights lack {missing}")
        encoder_weights = [w[k] for k in self.keys[:len(self.keys) - 6]]
        decoder_weights = [w[k] for k in self.keys[-6:]]
        if kind == "attention":
            self.encoder = AttentionEncoder(*encoder_weights)
            self.decoder = AttentionDecoder(*decoder_weights)
        else:
            self.encoder = Encoder(*encoder_weights)
            self.decoder = (PeekyDecoder if kind == "peeky" else Decoder)(*decoder_weights)
        self.softmax = TimeSoftmaxWithLoss()
        # The book's params and grads lists, for the book's optimizer.
        self.params = self.encoder.params + self.decoder.params
        self.param_grads = self.encoder.grads + self.decoder.grads

    def forward(self, batch):
        """The loss of ``batch = (xs, ts)``, or ``(xs, ts, mask)`` with an
        attention model's mask over the encoder's steps."""
        xs, ts, *extra = batch
        mask = extra[0] if extra else None
        decoder_xs, decoder_ts = ts[:, :-1], ts[:, 1:]
        if self.kind == "attention":
            score = self.decoder.forward(decoder_xs, self.encoder.forward(xs), mask)
        else:
            score = self.decoder.forward(decoder_xs, self.encoder.forward(xs))
        return self.softmax.forward(score, decoder_ts)

    def backward(self, dout=1.0):
        self.encoder.backward(self.decoder.backward(self.softmax.backward(dout)))

    def grads(self) -> dict:
        """The gradients keyed like the weights (``params`` is in the same order)."""
        return {key: g.copy() for key, g in zip(self.keys, self.param_grads)}

    def generate(self, xs, start_id, length, mask=None):
        """Greedy answer ids of ONE question xs (1, T), as the book's generate."""
        if self.kind == "attention":
            return self.decoder.generate(self.encoder.forward(xs), start_id, length, mask)
        return self.decoder.generate(self.encoder.forward(xs), start_id, length)
