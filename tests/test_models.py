"""The book's models (models/rnnlm/, models/word2vec/): shapes, float64 gradients
against central differences, weight tying, stateful truncated BPTT, weight
round trips, word2vec against the book's formula in numpy, and equivalence
with the hand-written twins (each family's twin.py: book-style explicit backward
passes). The binary adders are tested in test_binary_addition.py."""
from __future__ import annotations


import numpy as np
import pytest

import minigrad as mg
import minigrad.functions as F
from minigrad.testing import gradcheck, stand_in
from models.rnnlm import BetterRnnlm, Rnnlm, SimpleRnnlm, eval_perplexity
from models.word2vec import CBOW, SkipGram
from device_steps import assert_same_params, on_device, train_on

f64 = np.float64
V, D, H, N, T = 7, 3, 3, 2, 4

LM_CASES = [
    pytest.param(lambda dtype=f64: SimpleRnnlm(V, D, H, dtype=dtype, rng=0), id="SimpleRnnlm"),
    pytest.param(lambda dtype=f64: Rnnlm(V, D, H, dtype=dtype, rng=0), id="Rnnlm"),
    pytest.param(lambda dtype=f64: BetterRnnlm(V, D, H, dtype=dtype, rng=0), id="BetterRnnlm-lstm"),
    pytest.param(lambda dtype=f64: BetterRnnlm(V, D, H, cell="gru", dtype=dtype, rng=0),
                 id="BetterRnnlm-gru"),
]


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def ids(rng, *shape, vocab=V):
    return rng.integers(0, vocab, size=shape)


def random_weights(model, seed=0, scale=0.5):
    """Weights of the model's layout drawn at a scale where every nonlinearity
    is off its flat parts and every bias is non-zero (a zero bias would hide a
    bias routed to the wrong gate)."""
    r = np.random.default_rng(seed)
    return {k: scale * r.standard_normal(a.shape) for k, a in model.to_weights().items()}


def bind(model, variables: dict):
    """Put the given Variables in every place that holds each weight (both
    places of a tied weight), so gradcheck sees their gradients."""
    for key, places in model.weight_places().items():
        for layer, attr in places:
            stand_in(layer, attr, variables[key])
    return model


def fixed_masks(model, shape_in, seed=5):
    """BetterRnnlm's three dropout masks, already scaled, drawn once."""
    r = np.random.default_rng(seed)
    scale = 1.0 / (1.0 - model.dropout_ratio)
    shapes = [shape_in + (model.embed.dim,)] + [shape_in + (layer.hidden_size,)
                                                for layer in model.recurrent_layers()]
    return [(r.random(s) >= model.dropout_ratio) * scale for s in shapes]


def loss_kwargs(model, xs):
    return {"masks": fixed_masks(model, xs.shape)} if isinstance(model, BetterRnnlm) else {}


# ---------------------------------------------------------------- language models: shapes
@pytest.mark.parametrize("make", LM_CASES)
def test_lm_forward_shapes_and_float32_default(make, rng):
    model = make(np.float32)
    xs = ids(rng, N, T)
    scores = model(xs)
    assert scores.shape == (N, T, V) and scores.dtype == np.float32
    loss = model.loss(xs, ids(rng, N, T))
    assert loss.shape == () and loss.dtype == np.float32
    assert all(p.dtype == np.float32 for p in model.params())
    # Small initial weights: scores near 0, loss near log V.
    assert abs(float(loss.data) - np.log(V)) < 0.5
    if isinstance(model, BetterRnnlm):       # float64 masks keep a float32 model float32
        assert model(xs, masks=fixed_masks(model, xs.shape)).dtype == np.float32


def test_better_rnnlm_default_sizes_are_the_books():
    model = BetterRnnlm(vocab_size=50, rng=0)
    assert model.embed.W.shape == (50, 650)
    assert model.lstm0.Wx.shape == (650, 2600) and model.lstm1.Wh.shape == (650, 2600)
    assert model.dropout_ratio == 0.5
    with pytest.raises(ValueError):
        BetterRnnlm(10, 4, 5)          # tying needs D == H
    with pytest.raises(ValueError):
        BetterRnnlm(10, 4, 4, cell="rnn")


# ---------------------------------------------------------------- language models: gradients
def _lm_loss_function(make, keys, xs, ts, state=None, masks=None):
    """f(*weight arrays) -> loss of a fresh float64 model holding them, from
    ``state`` (a constant carried in, as truncated BPTT does) or from zeros."""

    def f(*arrays):
        model = bind(make(f64), dict(zip(keys, arrays)))
        if state is not None:
            for layer, (h, c) in zip(model.recurrent_layers(), state):
                layer.set_state(h, c)
        kwargs = {"masks": masks} if masks is not None else {}
        return model.loss(xs, ts, **kwargs)

    return f


@pytest.mark.parametrize("make", LM_CASES)
def test_lm_gradient_of_every_parameter(make, rng):
    model = make(f64)
    w = random_weights(model, seed=1)
    keys = list(w)
    xs, ts = ids(rng, N, T), ids(rng, N, T)
    xs[0, :2] = xs[0, 0]        # a repeated id: its embedding gradients must add up
    masks = fixed_masks(model, xs.shape) if isinstance(model, BetterRnnlm) else None
    assert gradcheck(_lm_loss_function(make, keys, xs, ts, masks=masks), *[w[k] for k in keys])


@pytest.mark.parametrize("make", LM_CASES)
def test_lm_gradient_from_a_carried_state(make, rng):
    # The second batch of a stream starts from the state the first left; the
    # state is a constant there, so the gradient is that of the loss at fixed
    # initial state (truncated BPTT), which central differences see too.
    model = make(f64).load_arrays(random_weights(make(f64), seed=2))
    model.loss(ids(rng, N, T), ids(rng, N, T), **loss_kwargs(model, ids(rng, N, T)))
    state = [(layer.h.data.copy(), None if layer.c is None else layer.c.data.copy())
             for layer in model.recurrent_layers()]
    assert all(np.abs(h).max() > 1e-3 for h, _ in state)
    w = model.to_weights()
    keys = list(w)
    xs, ts = ids(rng, N, T), ids(rng, N, T)
    masks = fixed_masks(model, xs.shape) if isinstance(model, BetterRnnlm) else None
    assert gradcheck(_lm_loss_function(make, keys, xs, ts, state=state, masks=masks),
                     *[w[k] for k in keys])


def test_gradcheck_here_would_catch_a_missing_gradient(rng):
    # The binding above can fail: cut the RNN's recurrent weight from the graph
    # and the check must notice.
    make = lambda dtype=f64: SimpleRnnlm(V, D, H, dtype=dtype, rng=0)  # noqa: E731
    w = random_weights(make(), seed=1)
    keys = list(w)
    xs, ts = ids(rng, N, T), ids(rng, N, T)

    def broken(*arrays):
        model = bind(make(), dict(zip(keys, arrays)))
        stand_in(model.rnn, "Wh", mg.Variable(model.rnn.Wh.data, requires_grad=False))
        return model.loss(xs, ts)

    assert not gradcheck(broken, *[w[k] for k in keys], raise_exception=False)


# ---------------------------------------------------------------- weight tying
@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_tied_weight_listed_once_and_its_gradient_sums_both_uses(cell, rng):
    model = BetterRnnlm(V, D, H, cell=cell, dtype=f64, rng=0)
    names = [name for name, _ in model.named_params()]
    assert names.count("embed.W") == 1 and "affine.W" not in names
    assert sum(p is model.embed.W for p in model.params()) == 1
    assert model.affine.W is model.embed.W
    assert len(model.params()) == 8

    w = random_weights(model, seed=3)
    model.load_arrays(w)
    xs, ts = ids(rng, N, T), ids(rng, N, T)
    masks = fixed_masks(model, xs.shape)
    model.loss(xs, ts, masks=masks).backward()
    tied_grad = model.embed.W.grad.data.copy()

    # The same model with the two uses as two separate Variables holding the same values.
    untied = BetterRnnlm(V, D, H, cell=cell, dtype=f64, rng=0).load_arrays(w)
    as_input, as_output = mg.Variable(w["embed.W"].copy()), mg.Variable(w["embed.W"].copy())
    stand_in(untied.embed, "W", as_input)
    stand_in(untied.affine, "W", as_output)
    untied.loss(xs, ts, masks=masks).backward()
    # The lookup's gradient is sparse (its rows); the tied sum is dense.
    assert isinstance(as_input.grad, mg.SparseRows)
    input_grad = as_input.grad.to_dense()
    assert np.abs(input_grad).max() > 1e-6 and np.abs(as_output.grad.data).max() > 1e-6
    np.testing.assert_allclose(tied_grad, input_grad + as_output.grad.data,
                               rtol=1e-12, atol=1e-15)


def test_tied_weight_updated_once_per_step(rng):
    model = BetterRnnlm(V, D, H, dtype=f64, rng=0)
    before = model.embed.W.data.copy()
    model.loss(ids(rng, N, T), ids(rng, N, T)).backward()
    for p in model.params():
        p.data -= 0.1 * p.grad.data
    np.testing.assert_allclose(model.embed.W.data, before - 0.1 * model.embed.W.grad.data)
    assert model.affine.W is model.embed.W


# ---------------------------------------------------------------- dropout
def test_dropout_masks_are_used_and_eval_turns_dropout_off(rng):
    model = BetterRnnlm(V, D, H, dtype=f64, rng=0).load_arrays(
        random_weights(BetterRnnlm(V, D, H, dtype=f64), seed=4))
    xs = ids(rng, N, T)
    masks = fixed_masks(model, xs.shape)
    a = model(xs, masks=masks).data
    model.reset_state()
    b = model(xs, masks=masks).data
    np.testing.assert_array_equal(a, b)           # fixed masks: deterministic
    model.reset_state()
    ones = [np.ones_like(m) for m in masks]
    c = model(xs, masks=ones).data
    assert not np.allclose(a, c)                  # the masks do change the result
    model.reset_state()
    np.testing.assert_allclose(model.predict(xs), c, rtol=1e-12)   # eval: no dropout
    assert model.training                          # predict restores the mode

    mg.random.seed(0)
    model.reset_state()
    d = model(xs).data
    mg.random.seed(0)
    model.reset_state()
    np.testing.assert_array_equal(model(xs).data, d)   # seeded random masks repeat


# ---------------------------------------------------------------- stateful truncated BPTT
@pytest.mark.parametrize("make", LM_CASES)
def test_state_carried_across_two_loss_calls_and_reset(make, rng):
    model = make(f64).eval().load_arrays(random_weights(make(f64), seed=5))
    xs = ids(rng, N, 2 * T)
    ts = ids(rng, N, 2 * T)
    # Two calls of T steps read the same stream as one call of 2T steps.
    whole = model(xs).data
    model.reset_state()
    first = model.loss(xs[:, :T], ts[:, :T])
    carried = [(layer.h.data.copy(), None if layer.c is None else layer.c.data.copy())
               for layer in model.recurrent_layers()]
    second = model.loss(xs[:, T:], ts[:, T:])
    expected = F.softmax_cross_entropy(whole[:, T:], ts[:, T:]).data
    np.testing.assert_allclose(second.data, expected, rtol=1e-12)
    np.testing.assert_allclose(first.data, F.softmax_cross_entropy(whole[:, :T], ts[:, :T]).data,
                               rtol=1e-12)
    # The second backward stops at the batch boundary: its gradients are those
    # of a model started from the carried state as a constant (a gradient that
    # leaked into the first batch would add terms).
    model.zero_grad()
    second.backward()
    restarted = make(f64).eval().load_arrays(model.to_weights())
    for layer, (h, c) in zip(restarted.recurrent_layers(), carried):
        layer.set_state(h, c)
    restarted.loss(xs[:, T:], ts[:, T:]).backward()
    for (name, p), (_, q) in zip(model.named_params(), restarted.named_params()):
        np.testing.assert_allclose(p.grad.data, q.grad.data, rtol=1e-12, atol=1e-15,
                                   err_msg=name)
    # reset_state: the next call starts from zeros again.
    model.reset_state()
    fresh = make(f64).eval().load_arrays(model.to_weights())
    np.testing.assert_allclose(model.loss(xs[:, T:], ts[:, T:]).data,
                               fresh.loss(xs[:, T:], ts[:, T:]).data, rtol=1e-12)
    model.reset_state()
    assert not np.allclose(model(xs[:, T:]).data, whole[:, T:])


# ---------------------------------------------------------------- training with the optimizers
@pytest.mark.parametrize("make", [
    pytest.param(lambda: SimpleRnnlm(7, 16, 16, rng=0), id="SimpleRnnlm"),
    pytest.param(lambda: Rnnlm(7, 16, 16, rng=0), id="Rnnlm"),
    pytest.param(lambda: BetterRnnlm(7, 16, 16, dropout_ratio=0.2, rng=0), id="BetterRnnlm-lstm"),
    pytest.param(lambda: BetterRnnlm(7, 16, 16, dropout_ratio=0.2, cell="gru", rng=0),
                 id="BetterRnnlm-gru"),
])
def test_lm_learns_a_stream_with_truncated_bptt(make):
    # "say" is followed by "goodbye" after "you" and by "hello" after "i": only a
    # model that carries its state across steps (and batches) reaches perplexity 1.
    from minigrad.optimizers import Adam, ClipGradNorm

    words = "you say goodbye and i say hello .".split()
    vocab = {w: i for i, w in enumerate(dict.fromkeys(words))}
    corpus = np.array([vocab[w] for w in words] * 40)
    mg.random.seed(0)
    model = make()
    opt = Adam(model.params(), lr=0.02)
    opt.add_hook(ClipGradNorm(1.0))
    B, steps = 4, 5
    jump = (len(corpus) - 1) // B
    before = eval_perplexity(model, corpus, B, steps)
    for epoch in range(10):
        model.reset_state()
        for it in range((len(corpus) - 1) // (B * steps)):
            idx = np.arange(B)[:, None] * jump + it * steps + np.arange(steps)
            loss = model.loss(corpus[idx % len(corpus)], corpus[(idx + 1) % len(corpus)])
            model.zero_grad()
            loss.backward()
            opt.update()
    after = eval_perplexity(model, corpus, B, steps)
    assert before > 6.5 and after < 1.1, (before, after)
    if isinstance(model, BetterRnnlm):
        assert model.affine.W is model.embed.W


# ---------------------------------------------------------------- weights in, weights out
@pytest.mark.parametrize("make", LM_CASES)
def test_lm_from_weights_to_weights_round_trip(make, rng):
    model = make(np.float32)
    w = random_weights(model, seed=6)
    built = type(model).from_weights(w, dtype=f64) if not isinstance(model, BetterRnnlm) else \
        BetterRnnlm.from_weights(w, dtype=f64)
    out = built.to_weights()
    assert list(out) == list(w)
    for k in w:
        np.testing.assert_array_equal(out[k], w[k])
        assert out[k].dtype == f64
    # Copies both ways: neither the given dict nor the exported one aliases the model.
    first = next(iter(w))
    kept = w[first].copy()
    w[first] += 1.0
    out[first] += 1.0
    np.testing.assert_array_equal(built.to_weights()[first], kept)
    # Same weights, same loss.
    xs, ts = ids(rng, N, T), ids(rng, N, T)
    again = type(built).from_weights(built.to_weights(), dtype=f64)
    built.eval(), again.eval()
    np.testing.assert_array_equal(built.loss(xs, ts).data, again.loss(xs, ts).data)
    if isinstance(built, BetterRnnlm):
        assert built.affine.W is built.embed.W     # tying survives loading
        assert built.cell == model.cell


def test_from_weights_rejects_missing_extra_and_misshapen_keys():
    w = SimpleRnnlm(V, D, H, rng=0).to_weights()
    with pytest.raises(KeyError):
        SimpleRnnlm.from_weights({k: a for k, a in w.items() if k != "rnn.b"})
    with pytest.raises(KeyError):
        SimpleRnnlm.from_weights({**w, "lstm.b": w["rnn.b"]})
    with pytest.raises(ValueError):
        SimpleRnnlm(V, D, H, rng=0).load_arrays({**w, "rnn.b": np.zeros(H + 1)})


def test_eval_perplexity_of_a_uniform_model_is_the_vocabulary_size(rng):
    model = Rnnlm(V, D, H, rng=0)
    w = model.to_weights()
    w["affine.W"][...] = 0.0                      # every score 0: p = 1 / V everywhere
    model.load_arrays(w)
    corpus = ids(rng, 200)
    assert abs(eval_perplexity(model, corpus, batch_size=3, time_size=5) - V) < 1e-3
    trained_like = Rnnlm(V, D, H, rng=0)
    assert eval_perplexity(trained_like, corpus, 3, 5) != pytest.approx(V, abs=1e-6)


# ---------------------------------------------------------------- word2vec
W2V_WINDOW, W2V_K = 2, 3


def w2v_weights(seed=0, vocab=10, hidden=4):
    r = np.random.default_rng(seed)
    return {"W_in": 0.5 * r.standard_normal((vocab, hidden)),
            "W_out": 0.5 * r.standard_normal((vocab, hidden))}


def log_sigmoid(x):
    return -np.logaddexp(0.0, -x)


def book_ns_loss(h, W_out, target, negatives):
    """The book's NegativeSamplingLoss: sum over the positive and the k negatives
    of each term's batch mean of -log sigmoid(+-score)."""
    pos = np.sum(h * W_out[target], axis=1)
    loss = -np.mean(log_sigmoid(pos))
    for j in range(negatives.shape[1]):
        neg = np.sum(h * W_out[negatives[:, j]], axis=1)
        loss += -np.mean(log_sigmoid(-neg))
    return loss


def w2v_batch(rng, n=5, vocab=10):
    contexts = rng.integers(0, vocab, size=(n, 2 * W2V_WINDOW))
    contexts[0, 1] = contexts[0, 0]               # a repeated context word
    target = rng.integers(0, vocab, size=n)
    return contexts, target


@pytest.mark.parametrize("sparse", [True, False])
def test_cbow_loss_equals_the_books_formula(sparse, rng):
    w = w2v_weights()
    model = CBOW.from_weights(w, W2V_WINDOW, sample_size=W2V_K, sparse=sparse, dtype=f64)
    contexts, target = w2v_batch(rng)
    negatives = rng.integers(0, 10, size=(len(target), W2V_K))
    h = sum(w["W_in"][contexts[:, i]] for i in range(contexts.shape[1])) / contexts.shape[1]
    expected = book_ns_loss(h, w["W_out"], target, negatives)
    got = model.loss(contexts, target, negatives=negatives)
    np.testing.assert_allclose(got.data, expected, rtol=1e-12)


@pytest.mark.parametrize("sparse", [True, False])
def test_skipgram_loss_equals_the_books_formula(sparse, rng):
    w = w2v_weights(seed=1)
    model = SkipGram.from_weights(w, W2V_WINDOW, sample_size=W2V_K, sparse=sparse, dtype=f64)
    contexts, target = w2v_batch(rng)
    negatives = rng.integers(0, 10, size=contexts.shape + (W2V_K,))
    h = w["W_in"][target]
    expected = sum(book_ns_loss(h, w["W_out"], contexts[:, i], negatives[:, i])
                   for i in range(contexts.shape[1]))
    got = model.loss(contexts, target, negatives=negatives)
    np.testing.assert_allclose(got.data, expected, rtol=1e-12)


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_word2vec_gradients(cls, rng):
    w = w2v_weights(seed=2)
    contexts, target = w2v_batch(rng)
    shape = (len(target), W2V_K) if cls is CBOW else contexts.shape + (W2V_K,)
    negatives = rng.integers(0, 10, size=shape)
    keys = list(w)

    def f(*arrays):
        model = cls.from_weights(w, W2V_WINDOW, sample_size=W2V_K, sparse=False, dtype=f64)
        return bind(model, dict(zip(keys, arrays))).loss(contexts, target, negatives=negatives)

    assert gradcheck(f, *[w[k] for k in keys])


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_word2vec_sparse_gradient_equals_dense(cls, rng):
    w = w2v_weights(seed=3)
    contexts, target = w2v_batch(rng)
    shape = (len(target), W2V_K) if cls is CBOW else contexts.shape + (W2V_K,)
    negatives = rng.integers(0, 10, size=shape)
    grads = {}
    for sparse in (True, False):
        model = cls.from_weights(w, W2V_WINDOW, sample_size=W2V_K, sparse=sparse, dtype=f64)
        model.loss(contexts, target, negatives=negatives).backward()
        grads[sparse] = model.in_embed.W.grad
    # sparse: only the looked-up rows are kept (no (V, H) buffer), same values.
    assert isinstance(grads[True], mg.SparseRows)
    np.testing.assert_allclose(grads[True].to_dense(), grads[False].data, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_word2vec_shapes_sampler_and_word_vecs(cls, rng):
    corpus = rng.integers(0, 10, size=100)
    model = cls(10, 4, W2V_WINDOW, corpus, sample_size=W2V_K, rng=0)
    assert model.word_vecs.shape == (10, 4) and model.word_vecs.dtype == np.float32
    assert model.word_vecs is model.in_embed.W.data
    contexts, target = w2v_batch(rng)
    loss = model.loss(contexts, target)               # negatives from the sampler
    assert loss.shape == () and loss.dtype == np.float32
    # Weights near zero: every score ~0, each of the 1 + k terms ~log 2 (per context for SkipGram).
    terms = (1 + W2V_K) * (1 if cls is CBOW else 2 * W2V_WINDOW)
    assert abs(float(loss.data) - terms * np.log(2)) < 1e-2
    out = model.to_weights()
    assert set(out) == {"W_in", "W_out"}
    with pytest.raises(ValueError):
        model.loss(contexts[:, :2], target)


# ---------------------------------------------------------------- equivalence with the twins
# The twins (models/<family>/twin.py) are book-style layers with hand-written backward
# passes; same weights and inputs must give the same loss and the same
# gradient for every parameter, batch after batch of a stateful stream.
from models.rnnlm import TwinLM  # noqa: E402
from models.shared.twin_check import rel_err  # noqa: E402
from models.word2vec import TwinCBOW, TwinSkipGram  # noqa: E402


# Both sides are float64 and agree to ~1e-15. The tolerance is far below the
# 1e-6 the tour allows because 1e-6 is too loose to catch a small error: a
# 1e-4 change in one entry of an LSTM's Wh moves its gradient by only ~1e-6.
TWIN_RTOL = 1e-12


TWIN_LM_CASES = [
    pytest.param(lambda: SimpleRnnlm(V, D, H, dtype=f64, rng=0), "rnn", id="SimpleRnnlm"),
    pytest.param(lambda: Rnnlm(V, D, H, dtype=f64, rng=0), "lstm", id="Rnnlm"),
    pytest.param(lambda: BetterRnnlm(V, D, H, dtype=f64, rng=0), "better-lstm",
                 id="BetterRnnlm-lstm"),
    pytest.param(lambda: BetterRnnlm(V, D, H, cell="gru", dtype=f64, rng=0), "better-gru",
                 id="BetterRnnlm-gru"),
]


@pytest.mark.parametrize("make, kind", TWIN_LM_CASES)
def test_lm_equals_its_twin_over_consecutive_stateful_batches(make, kind, rng):
    model = make()
    w = random_weights(model, seed=7)
    model.load_arrays(w)
    twin = TwinLM(w, kind)
    keys = list(w)
    for batch in range(3):
        xs, ts = ids(rng, N, T), ids(rng, N, T)
        xs[1, 1:3] = xs[1, 0]               # repeated ids within the batch
        if isinstance(model, BetterRnnlm):
            keep = [rng.random(shape) >= model.dropout_ratio
                    for shape in [(N, T, D), (N, T, H), (N, T, H)]]
            masks = [k / (1 - model.dropout_ratio) for k in keep]
            loss = model.loss(xs, ts, masks=masks)
            twin_loss = twin.forward((xs, ts, keep))
        else:
            loss = model.loss(xs, ts)
            twin_loss = twin.forward((xs, ts))
        model.zero_grad()
        loss.backward()
        twin.backward()
        assert rel_err(loss.data, twin_loss) <= TWIN_RTOL, f"batch {batch}"
        twin_grads = twin.grads()
        assert set(twin_grads) == set(keys)
        grads = {name: p.grad.data for name, p in model.named_params()}
        for key in keys:
            assert rel_err(grads[key], twin_grads[key]) <= TWIN_RTOL, f"batch {batch}, {key}"
    # The stream was really carried: a reset model gives another loss on the last batch.
    model.reset_state()
    kwargs = {"masks": masks} if isinstance(model, BetterRnnlm) else {}
    assert rel_err(model.loss(xs, ts, **kwargs).data, twin_loss) > 1e-3


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_word2vec_equals_its_twin(cls, rng):
    w = w2v_weights(seed=8)
    model = cls.from_weights(w, W2V_WINDOW, sample_size=W2V_K, sparse=True, dtype=f64)
    contexts, target = w2v_batch(rng)
    if cls is CBOW:
        negatives = rng.integers(0, 10, size=(len(target), W2V_K))
        twin = TwinCBOW(w)
    else:
        negatives = rng.integers(0, 10, size=contexts.shape + (W2V_K,))
        twin = TwinSkipGram(w)
    twin_loss = twin.forward((contexts, target, negatives))
    twin.backward()
    loss = model.loss(contexts, target, negatives=negatives)
    loss.backward()
    assert rel_err(loss.data, twin_loss) <= TWIN_RTOL
    assert rel_err(model.in_embed.W.grad.to_dense(), twin.grads()["W_in"]) <= TWIN_RTOL
    assert rel_err(model.ns_loss.W.grad.to_dense(), twin.grads()["W_out"]) <= TWIN_RTOL


# ---------------------------------------------------------------- on each backend
@pytest.mark.parametrize("make", LM_CASES)
def test_lm_training_steps_on_each_backend(make, xp, rng):
    batches = [(ids(rng, N, T), ids(rng, N, T)) for _ in range(2)]
    model = make(f64)
    kwargs = loss_kwargs(model, batches[0][0])
    expected = train_on(np, make(f64), batches, **kwargs)
    assert_same_params(train_on(xp, model, batches, **kwargs), expected)


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_word2vec_training_steps_on_each_backend(cls, sparse, xp, rng):
    # The negatives are drawn by the model's sampler (on the host, then moved).
    batches = [w2v_batch(rng) for _ in range(2)]
    corpus = rng.integers(0, 10, size=100)

    def run(on):
        mg.random.seed(3)
        model = cls(10, 4, W2V_WINDOW, corpus, sample_size=W2V_K, sparse=sparse,
                    dtype=f64, rng=0)
        return train_on(on, model, batches)

    assert_same_params(run(xp), run(np))


def test_better_rnnlm_multiplies_numpy_masks_on_the_device(xp, rng):
    # Dropout masks given as numpy arrays (as the twin comparisons pass them) go
    # to the activations' device before they multiply them: a numpy mask times
    # a device array is refused, as in CuPy.
    make = (lambda: BetterRnnlm(V, D, H, dtype=f64, rng=0))
    xs, ts = ids(rng, N, T), ids(rng, N, T)
    masks = fixed_masks(make(), xs.shape)
    expected = float(make().loss(xs, ts, masks=masks).data)
    model = make()
    if xp is not np:
        model.to_gpu()
    loss = model.loss(on_device(xp, xs), on_device(xp, ts), masks=masks)
    assert mg.get_array_module(loss) is xp
    assert float(loss.data) == pytest.approx(expected, rel=1e-12)
