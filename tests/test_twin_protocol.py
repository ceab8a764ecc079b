"""Every model's hand-written twin keeps one protocol: built from the model's
weight dict, ``forward(batch)`` gives the loss, ``backward()`` runs the book's
backward pass, ``grads()`` gives the gradients keyed like the model's weights;
so one comparison (``twin_errors``) serves every family."""
from __future__ import annotations

import numpy as np
import pytest

from models.binary_addition import BinaryAdderBPTT, NotesAdder, notes_loss, pair_sequences
from models.rnnlm import BetterRnnlm, Rnnlm, TwinLM
from models.seq2seq import build_seq2seq_pair
from models.shared.twin_check import random_weights, rel_err, twin_errors
from models.two_layer_net import TwinTwoLayerNet, TwoLayerNet
from models.word2vec import CBOW, SkipGram, TwinCBOW, TwinSkipGram

f64 = np.float64
TOL = 1e-10


def _with_weights(model, twin_class, *options):
    w = random_weights(model, seed=3)
    model.load_arrays(w)
    return model, twin_class(w, *options)


def _two_layer_net(rng):
    model, twin = _with_weights(TwoLayerNet(2, 5, 3, dtype=f64, rng=0), TwinTwoLayerNet)
    return model, twin, (rng.standard_normal((6, 2)), rng.integers(0, 3, 6))


def _rnnlm(rng):
    model, twin = _with_weights(Rnnlm(11, 4, 5, dtype=f64, rng=0), TwinLM, "lstm")
    return model, twin, (rng.integers(0, 11, (3, 4)), rng.integers(0, 11, (3, 4)))


def _better_rnnlm(rng):
    model, twin = _with_weights(BetterRnnlm(11, 5, 5, cell="gru", dtype=f64, rng=0), TwinLM,
                                "better-gru")
    keeps = [rng.random((3, 4, 5)) >= 0.5 for _ in range(3)]
    return model, twin, (rng.integers(0, 11, (3, 4)), rng.integers(0, 11, (3, 4)), keeps)


def _word2vec(cls, twin_class, negatives_shape):
    def build(rng):
        model, twin = _with_weights(cls(12, 4, 1, np.arange(12), sample_size=2, dtype=f64,
                                        rng=0), twin_class)
        contexts, target = rng.integers(0, 12, (5, 2)), rng.integers(0, 12, 5)
        return model, twin, (contexts, target, rng.integers(0, 12, negatives_shape))
    return build


def _attention(rng):
    model, twin, _ = build_seq2seq_pair("attention-bi", 9, 3, 4, seed=3)
    xs, ts = rng.integers(0, 9, (3, 5)), rng.integers(0, 9, (3, 4))
    mask = np.ones(xs.shape, dtype=bool)
    mask[0, :2] = False
    return model, twin, (xs, ts, mask)


PAIRS = {"two-layer-net": _two_layer_net, "rnnlm": _rnnlm, "better-rnnlm": _better_rnnlm,
         "cbow": _word2vec(CBOW, TwinCBOW, (5, 2)),
         "skipgram": _word2vec(SkipGram, TwinSkipGram, (5, 2, 2)), "attention": _attention}


@pytest.mark.parametrize("name", PAIRS)
def test_every_twin_has_the_protocol_and_agrees(name):
    model, twin, batch = PAIRS[name](np.random.default_rng(0))
    loss = twin.forward(batch)
    assert np.ndim(loss) == 0
    twin.backward()
    grads = twin.grads()
    assert isinstance(grads, dict) and list(grads) == list(model.to_weights())
    # A fresh pair (the language models' twins carry their state on).
    model, twin, batch = PAIRS[name](np.random.default_rng(0))
    xs, ts, *extra = batch
    errors = twin_errors(model, twin, [(xs, ts, extra[0] if extra else None)])
    assert set(errors) == {"loss"} | set(grads)
    assert max(errors.values()) <= TOL, errors


def test_the_notes_twin_takes_one_pair_and_keys_its_gradients_as_the_model():
    model = NotesAdder(6, rng=0)
    weights = model.to_weights()
    twin = BinaryAdderBPTT(weights)
    x, d = pair_sequences(np.array([45]), np.array([99]))
    loss = notes_loss(model(x), d)
    loss.backward()
    assert rel_err(loss.data, twin.forward((x[0], d[0]))) <= TOL
    twin.backward()
    grads = twin.grads()
    assert list(grads) == list(weights)
    for key, p in model.named_weights().items():
        assert rel_err(p.grad.data, grads[key]) <= TOL, key
