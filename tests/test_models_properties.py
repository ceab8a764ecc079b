"""Property-based equivalence of each model family with its hand-written twin.

For random small sizes (vocabulary, hidden size, batch, time steps) and random
float64 weights and inputs, the autograd model and the twin (book-style
explicit backward, each family's twin.py) give the same loss and the same gradient for
every parameter, over two consecutive stateful batches for the language
models (the second starts from the state the first left) and over two
batches for the encoder-decoder models (the attention models with and
without a mask over the encoder's steps). The builders are
models/tour.py's, so the tour's check and these tests compare the same things.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from models.rnnlm import build_lm_pair, dropout_keeps
from models.seq2seq import build_seq2seq_pair
from models.shared.twin_check import TWIN_TOL, twin_errors
from models.word2vec import CBOW, SkipGram, word2vec_twin_errors


def examples(n):
    """n examples under the default profile, scaled with HYPOTHESIS_PROFILE."""
    return max(1, n * settings.default.max_examples // 100)


property_settings = settings(max_examples=examples(40), deadline=None)

# Small enough that an example costs milliseconds; vocab 2 and T 1 are edge
# cases worth keeping (a single-step stream, a two-word softmax).
vocab = st.integers(2, 12)
hidden = st.integers(1, 6)
batch = st.integers(1, 4)
steps = st.integers(1, 5)
seeds = st.integers(0, 2**32 - 1)


def _stream_batches(model, seed, V, N, T, dropout):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(2):
        xs, ts = rng.integers(0, V, (N, T)), rng.integers(0, V, (N, T))
        if N * T > 1:
            xs.flat[1] = xs.flat[0]         # a repeated id: embedding rows must accumulate
        batches.append((xs, ts, dropout_keeps(model, rng, N, T) if dropout else None))
    return batches


def _assert_agrees(errors, tol=TWIN_TOL):
    bad = {k: e for k, e in errors.items() if not e <= tol}
    assert not bad, f"autograd and twin differ: {bad}"


@property_settings
@given(V=vocab, D=hidden, H=hidden, N=batch, T=steps, seed=seeds)
def test_simple_rnnlm_equals_twin(V, D, H, N, T, seed):
    model, twin, _ = build_lm_pair("rnn", V, H, wordvec_size=D, seed=seed % 1000)
    errors = twin_errors(model, twin, _stream_batches(model, seed, V, N, T, dropout=False))
    assert set(errors) == {"loss", "embed.W", "rnn.Wx", "rnn.Wh", "rnn.b", "affine.W",
                           "affine.b"}
    _assert_agrees(errors)


@property_settings
@given(V=vocab, D=hidden, H=hidden, N=batch, T=steps, seed=seeds)
def test_lstm_rnnlm_equals_twin(V, D, H, N, T, seed):
    model, twin, _ = build_lm_pair("lstm", V, H, wordvec_size=D, seed=seed % 1000)
    errors = twin_errors(model, twin, _stream_batches(model, seed, V, N, T, dropout=False))
    assert len(errors) == 7
    _assert_agrees(errors)


@property_settings
@given(cell=st.sampled_from(["lstm", "gru"]), V=vocab, H=hidden, N=batch, T=steps,
       ratio=st.sampled_from([0.0, 0.3, 0.5]), seed=seeds)
def test_better_rnnlm_with_dropout_masks_equals_twin(cell, V, H, N, T, ratio, seed):
    model, twin, _ = build_lm_pair(f"better-{cell}", V, H, seed=seed % 1000,
                                   dropout_ratio=ratio)
    errors = twin_errors(model, twin, _stream_batches(model, seed, V, N, T, dropout=True))
    # Tied: one embed.W gradient (both uses summed), no separate affine.W.
    assert "affine.W" not in errors and "embed.W" in errors and len(errors) == 9
    _assert_agrees(errors)
    assert model.affine.W is model.embed.W


@property_settings
@given(cls=st.sampled_from([CBOW, SkipGram]), V=st.integers(5, 15), H=hidden,
       N=st.integers(1, 6), window=st.integers(1, 3), k=st.integers(1, 4), seed=seeds)
def test_word2vec_equals_twin(cls, V, H, N, window, k, seed):
    rng = np.random.default_rng(seed)
    w = {"W_in": 0.5 * rng.standard_normal((V, H)), "W_out": 0.5 * rng.standard_normal((V, H))}
    contexts = rng.integers(0, V, (N, 2 * window))
    contexts[0, -1] = contexts[0, 0]            # a repeated context word
    # V >= 5 > k: the sampler needs k words besides the target to draw from.
    target = rng.integers(0, V, N)
    shape = (N, k) if cls is CBOW else (N, 2 * window, k)
    negatives = rng.integers(0, V, shape)
    errors = word2vec_twin_errors(cls, w, contexts, target, negatives)
    assert set(errors) == {"loss", "W_in", "W_out"}
    _assert_agrees(errors)


SEQ2SEQ_TOL = 1e-12    # float64 on both sides: they agree to ~1e-15


def _seq2seq_batches(seed, V, N, Te, Td, masked):
    rng = np.random.default_rng(seed)
    batches = []
    for _ in range(2):
        xs, ts = rng.integers(0, V, (N, Te)), rng.integers(0, V, (N, Td))
        xs.flat[-1] = xs.flat[0]                # a repeated id
        mask = None
        if masked:
            mask = rng.random((N, Te)) < 0.7
            mask[np.arange(N), rng.integers(0, Te, N)] = True   # every row keeps a step
        batches.append((xs, ts, mask))
    return batches


# The encoder-decoder models: plain and Peeky (chapter 7), fused or composed
# recurrent layers; the loss and every weight's gradient, over two batches.
@property_settings
@given(kind=st.sampled_from(["seq2seq", "peeky"]), fused=st.booleans(), V=vocab, D=hidden,
       H=hidden, N=batch, Te=steps, Td=st.integers(2, 5), seed=seeds)
def test_seq2seq_and_peeky_equal_twin(kind, fused, V, D, H, N, Te, Td, seed):
    model, twin, w = build_seq2seq_pair(kind, V, D, H, seed=seed % 1000, fused=fused)
    errors = twin_errors(model, twin, _seq2seq_batches(seed, V, N, Te, Td, False))
    assert set(errors) == {"loss"} | set(w) and len(w) == 10
    _assert_agrees(errors, SEQ2SEQ_TOL)


# Attention (chapter 8), with a unidirectional or the bidirectional encoder,
# with or without a mask over the encoder's steps.
@property_settings
@given(kind=st.sampled_from(["attention", "attention-bi"]), fused=st.booleans(),
       masked=st.booleans(), V=vocab, D=hidden, H=hidden, N=batch, Te=steps,
       Td=st.integers(2, 5), seed=seeds)
# Two characters: the output bias's gradient is (s, -s), s a sum whose terms
# nearly cancel (4.8e-5 from terms of 0.25): compared absolutely, not relatively.
@example(kind="attention", fused=False, masked=True, V=2, D=5, H=2, N=2, Te=5, Td=2, seed=5)
def test_attention_seq2seq_equals_twin(kind, fused, masked, V, D, H, N, Te, Td, seed):
    model, twin, w = build_seq2seq_pair(kind, V, D, H, seed=seed % 1000, fused=fused)
    errors = twin_errors(model, twin, _seq2seq_batches(seed, V, N, Te, Td, masked))
    assert set(errors) == {"loss"} | set(w) and len(w) == (13 if kind == "attention-bi" else 10)
    _assert_agrees(errors, SEQ2SEQ_TOL)


def test_the_comparison_catches_a_small_error():
    # The properties would be vacuous if twin_errors could not see a wrong
    # result: nudge one weight of the twin only and it must report it.
    model, twin, _ = build_lm_pair("better-gru", 7, 3, seed=1)
    twin.rnns[1].params[1][0, 0] += 1e-3
    errors = twin_errors(model, twin, _stream_batches(model, 3, 7, 2, 3, dropout=True))
    assert errors["loss"] > 1e-8 and errors["gru1.Wh"] > TWIN_TOL


@pytest.mark.parametrize("kind", ["rnn", "lstm", "better-gru"])
def test_second_batch_really_continues_the_stream(kind):
    # Two stateful batches test more than one only if the state is carried:
    # the second batch's loss after the first differs from its loss from zeros.
    model, _, _ = build_lm_pair(kind, 8, 4, seed=0)
    model.eval()
    first, second = _stream_batches(model, 1, 8, 2, 3, dropout=False)
    model.loss(*first[:2])
    carried = float(model.loss(*second[:2]).data)
    model.reset_state()
    assert abs(float(model.loss(*second[:2]).data) - carried) > 1e-6
