"""The book's encoder-decoder models (models/seq2seq.py): equal to their
hand-written twins (models/seq2seq/twin.py, the book's explicit backward passes) in
float64 to 1e-12 relative, loss and every parameter's gradient; gradients
against central differences; batched greedy generation equal to the book's
one-question generate; weights in the book's layouts; bad input."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.testing import gradcheck, stand_in
from models.seq2seq import (AttentionSeq2seq, PeekySeq2seq, Seq2seq, TwinSeq2seq,
                            build_seq2seq_pair, exact_match_accuracy)
from models.shared.twin_check import random_weights, twin_errors
from models.shared.weights import WeightsError
from device_steps import assert_same_params, on_device, train_on

f64 = np.float64
TWIN_RTOL = 1e-12     # both sides float64; they agree to ~1e-15
V, D, H, N, TE, TD = 9, 3, 4, 3, 5, 4
KINDS = ["seq2seq", "peeky", "attention", "attention-bi"]


@pytest.fixture
def rng():
    return np.random.default_rng(77)


def batch(rng, n=N, te=TE, td=TD, vocab=V):
    xs, ts = rng.integers(0, vocab, (n, te)), rng.integers(0, vocab, (n, td))
    xs[0, 1] = xs[0, 0]                   # repeated ids: embedding rows must accumulate
    ts[1, 2] = ts[0, 1]
    return xs, ts


# ---------------------------------------------------------------- twins
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("fused", [True, False])
def test_model_equals_its_twin(kind, fused, rng):
    model, twin, w = build_seq2seq_pair(kind, V, D, H, seed=3, fused=fused)
    errors = twin_errors(model, twin, [(*batch(rng), None) for _ in range(2)])
    assert set(errors) == {"loss"} | set(w)
    bad = {k: e for k, e in errors.items() if not e <= TWIN_RTOL}
    assert not bad, bad
    # Every weight got a gradient, the encoder's included (through h, or hs).
    assert all(np.abs(p.grad.data).max() > 0 for p in model.named_weights().values())


@pytest.mark.parametrize("kind", ["attention", "attention-bi"])
def test_attention_model_with_a_mask_equals_its_twin(kind, rng):
    model, twin, _ = build_seq2seq_pair(kind, V, D, H, seed=4)
    xs, ts = batch(rng)
    mask = np.ones(xs.shape, dtype=bool)
    mask[0, :2] = mask[2, -1] = False
    errors = twin_errors(model, twin, [(xs, ts, mask)])
    assert max(errors.values()) <= TWIN_RTOL, errors
    unmasked = twin_errors(model, twin, [(xs, ts, None)])
    assert float(model.loss(xs, ts, mask=mask).data) != float(model.loss(xs, ts).data)
    assert max(unmasked.values()) <= TWIN_RTOL


def test_the_comparison_catches_a_small_error(rng):
    # Nudge one weight of the twin only: the loss and that weight's gradient
    # (and others downstream) must be reported.
    model, twin, _ = build_seq2seq_pair("peeky", V, D, H, seed=5)
    twin.encoder.lstm.params[1][0, 0] += 1e-4
    errors = twin_errors(model, twin, [(*batch(rng), None)])
    assert errors["loss"] > TWIN_RTOL and errors["encoder.lstm.Wh"] > TWIN_RTOL


def test_weight_keys_are_the_books_params_order():
    for kind in KINDS:
        model, twin, w = build_seq2seq_pair(kind, V, D, H)
        assert list(w) == twin.keys == list(model.to_weights())
        assert [a.shape for a in twin.params] == [w[k].shape for k in w]


# ---------------------------------------------------------------- central differences
@pytest.mark.parametrize("kind", KINDS)
def test_gradient_of_every_weight(kind, rng):
    model, _, w = build_seq2seq_pair(kind, 6, 2, 3, seed=6)
    keys, places = list(w), model.weight_places()
    xs, ts = batch(rng, n=2, te=3, td=3, vocab=6)

    def f(*arrays):
        for key, a in zip(keys, arrays):
            for layer, attr in places[key]:
                stand_in(layer, attr, a)
        return model.loss(xs, ts)
    assert gradcheck(f, *[w[k] for k in keys])


def test_gradcheck_here_would_catch_a_cut_encoder(rng):
    # Were the decoder to start from a detached copy of the encoder's state,
    # the encoder's weights would get no gradient; the check must notice.
    model, _, w = build_seq2seq_pair("seq2seq", 6, 2, 3, seed=6)
    keys, places = list(w), model.weight_places()
    xs, ts = batch(rng, n=2, te=3, td=3, vocab=6)
    encoder = model.encoder.forward

    def f(*arrays):
        for key, a in zip(keys, arrays):
            for layer, attr in places[key]:
                stand_in(layer, attr, a)
        return model.loss(xs, ts)
    model.encoder.forward = lambda xs: encoder(xs).detach()
    assert not gradcheck(f, *[w[k] for k in keys], raise_exception=False)


# ---------------------------------------------------------------- generation
@pytest.mark.parametrize("kind", KINDS)
def test_batched_generate_equals_the_books_one_question_generate(kind, rng):
    model, _, _ = build_seq2seq_pair(kind, V, D, H)
    # Larger weights and no output bias, so the answers depend on the question.
    w = random_weights(model, seed=0, scale=3.0)
    w["decoder.affine.b"][:] = 0
    twin = TwinSeq2seq(w, kind.split("-")[0])
    model.load_arrays(w)
    xs = rng.integers(0, V, (6, TE))
    out = model.generate(xs, start_id=2, length=5)
    assert out.shape == (6, 5) and out.dtype == np.int64
    for i in range(len(xs)):
        assert out[i].tolist() == twin.generate(xs[i:i + 1], 2, 5)
    assert len(set(map(tuple, out))) > 1           # the answers do depend on the question


def test_generate_records_nothing_and_repeats(rng):
    model = AttentionSeq2seq(V, D, H, rng=0)
    xs = rng.integers(0, V, (4, TE))
    a = model.generate(xs, 1, 3)
    assert all(p.grad is None for p in model.params())
    np.testing.assert_array_equal(model.generate(xs, 1, 3), a)
    assert model.decoder.attention.attention_weights.shape == (4, 1, TE)   # the last step's
    mask = np.ones(xs.shape, dtype=bool)
    mask[:, 0] = False
    assert model.generate(xs, 1, 3, mask=mask).shape == (4, 3)


def test_float32_by_default(rng):
    for cls in (Seq2seq, PeekySeq2seq, AttentionSeq2seq):
        model = cls(V, D, H, rng=0)
        xs, ts = batch(rng)
        loss = model.loss(xs, ts)
        assert loss.dtype == np.float32 and all(p.dtype == np.float32 for p in model.params())
        assert abs(float(loss.data) - np.log(V)) < 0.3   # small initial weights: ~uniform


def test_the_books_initialisation_and_sizes():
    model = PeekySeq2seq(13, 16, 128, rng=0)
    w = model.to_weights()
    assert w["decoder.lstm.Wx"].shape == (128 + 16, 512) and w["decoder.affine.W"].shape == (256, 13)
    assert abs(w["encoder.embed.W"].std() - 0.01) < 0.003
    assert abs(w["decoder.lstm.Wx"].std() - 1 / np.sqrt(144)) < 0.01
    assert abs(w["decoder.affine.W"].std() - 1 / np.sqrt(256)) < 0.01
    assert not w["decoder.lstm.b"].any()
    bi = AttentionSeq2seq(59, 16, 32, bidirectional=True, rng=0).to_weights()
    assert bi["decoder.lstm.Wh"].shape == (64, 256) and bi["decoder.affine.W"].shape == (128, 59)
    summed = AttentionSeq2seq(59, 16, 32, bidirectional=True, merge="sum", rng=0).to_weights()
    assert summed["decoder.lstm.Wh"].shape == (32, 128)


def test_exact_match_accuracy_counts_whole_answers(rng):
    model, twin, _ = build_seq2seq_pair("attention", V, D, H, seed=9)
    xs = rng.integers(0, V, (10, TE))
    start = 4
    answers = model.generate(xs, start, 3)
    ts = np.concatenate([np.full((10, 1), start), answers], axis=1)
    acc, guesses = exact_match_accuracy(model, xs, ts, batch_size=3)
    assert acc == 1.0 and np.array_equal(guesses, answers)
    ts[:4, 2] = (ts[:4, 2] + 1) % V             # one wrong character spoils a whole answer
    assert exact_match_accuracy(model, xs, ts, batch_size=4)[0] == pytest.approx(0.6)
    bad = ts.copy()
    bad[0, 0] = start + 1
    with pytest.raises(ValueError, match="same start symbol"):
        exact_match_accuracy(model, xs, bad)


# ---------------------------------------------------------------- weights
@pytest.mark.parametrize("kind", KINDS)
def test_from_weights_to_weights_round_trip(kind, rng):
    model, _, w = build_seq2seq_pair(kind, V, D, H, seed=10)
    cls = type(model)
    built = cls.from_weights(w, dtype=f64)
    assert built.to_weights().keys() == w.keys()
    for k in w:
        np.testing.assert_array_equal(built.to_weights()[k], w[k])
    xs, ts = batch(rng)
    np.testing.assert_array_equal(built.loss(xs, ts).data, model.loss(xs, ts).data)
    w[next(iter(w))] += 1.0                       # a copy was taken
    assert not np.array_equal(built.to_weights()["encoder.embed.W"], w["encoder.embed.W"])
    assert float32_round_trip(cls, w)


def float32_round_trip(cls, w):
    m = cls.from_weights(w)                       # float32 by default
    return all(a.dtype == np.float32 for a in m.to_weights().values())


def test_weights_of_another_layout_are_refused_and_nothing_changes():
    peeky = PeekySeq2seq(V, D, H, rng=1).to_weights()
    with pytest.raises(WeightsError) as info:
        Seq2seq.from_weights(peeky)
    msg = str(info.value)
    assert "decoder.lstm.Wx: shape (7, 16), the model's is (3, 16)" in msg
    assert "decoder.affine.W: shape (8, 9), the model's is (4, 9)" in msg
    assert isinstance(info.value, KeyError) and isinstance(info.value, ValueError)
    with pytest.raises(WeightsError, match="encoder.forward_lstm.Wx: unexpected"):
        AttentionSeq2seq(V, D, H, rng=0).load_arrays(
            AttentionSeq2seq(V, D, H, bidirectional=True, rng=0).to_weights())
    with pytest.raises(WeightsError, match=r"decoder.affine.b: missing \(the model has \(9,\)\)"):
        Seq2seq(V, D, H, rng=0).load_arrays({k: a for k, a in Seq2seq(V, D, H).to_weights().items()
                                             if k != "decoder.affine.b"})
    with pytest.raises(WeightsError, match="cannot read the sizes"):
        Seq2seq.from_weights({"encoder.embed.W": np.zeros(3)})
    # Nothing half-written: one bad array among good ones leaves every weight as it was.
    model = Seq2seq(V, D, H, rng=0)
    before = model.to_weights()
    new = {k: a + 1.0 for k, a in before.items()}
    new["decoder.affine.b"] = np.zeros(V + 1)
    with pytest.raises(WeightsError):
        model.load_arrays(new)
    after = model.to_weights()
    assert all(np.array_equal(before[k], after[k]) for k in before)


# ---------------------------------------------------------------- bad input
def test_bad_input_is_named(rng):
    model = AttentionSeq2seq(V, D, H, rng=0)
    xs, ts = batch(rng)
    with pytest.raises(IndexError, match=r"id 9 is out of range for a table of 9 rows"):
        model.loss(np.full_like(xs, 9), ts)
    with pytest.raises(ValueError, match=r"questions must be an \(N, T\) array of character ids"):
        model.loss(xs.astype(np.float32), ts)
    with pytest.raises(ValueError, match=r"ts must be \(N, T\) answers with T >= 2"):
        model.loss(xs, ts[:, :1])
    with pytest.raises(ValueError, match="this model has none"):
        Seq2seq(V, D, H, rng=0).loss(xs, ts, mask=np.ones(xs.shape, dtype=bool))
    with pytest.raises(mg.ShapeError, match="mask"):
        model.loss(xs, ts, mask=np.ones((N, TE + 1), dtype=bool))


# ---------------------------------------------------------------- it learns
def test_attention_learns_to_reverse_a_short_string():
    # Output the question backwards: attention needs only look at the right
    # encoder step, which a few hundred steps teach it.
    from minigrad.optimizers import Adam, ClipGradNorm

    rng = np.random.default_rng(0)
    mg.random.seed(0)
    model = AttentionSeq2seq(7, 8, 24, rng=0)
    opt = Adam(model, lr=0.02)
    opt.add_hook(ClipGradNorm(5.0))
    xs = rng.integers(1, 7, (400, 4))
    ts = np.concatenate([np.zeros((400, 1), dtype=np.int64), xs[:, ::-1]], axis=1)
    for step in range(250):
        idx = rng.integers(0, 400, 32)
        loss = model.loss(xs[idx], ts[idx])
        model.zero_grad()
        loss.backward()
        opt.update()
    acc, _ = exact_match_accuracy(model, xs, ts)
    assert acc > 0.9, acc


# ---------------------------------------------------------------- on each backend
@pytest.mark.parametrize("kind", KINDS)
def test_training_steps_and_generate_on_each_backend(kind, xp, rng):
    batches = [batch(rng) for _ in range(2)]
    mask = batches[0][0] != 0 if kind.startswith("attention") else None

    def run(on):
        model, _, _ = build_seq2seq_pair(kind, V, D, H, seed=5)
        kwargs = {} if mask is None else {"mask": mask}
        params = train_on(on, model, batches, **kwargs)
        answers = model.generate(on_device(on, batches[0][0]), start_id=1, length=TD,
                                 **{k: on_device(on, v) for k, v in kwargs.items()})
        assert isinstance(answers, np.ndarray)       # generate hands answers back on the CPU
        return params, answers

    (params, answers), (expected, expected_answers) = run(xp), run(np)
    assert_same_params(params, expected)
    np.testing.assert_array_equal(answers, expected_answers)
