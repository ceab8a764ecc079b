"""Recurrent layers: cells against the book's equations in plain numpy, gradients
against central differences (float64), sequence layers against cells stepped by
hand, truncated BPTT, name scopes, given weights, dtype."""
from __future__ import annotations

import gc
import itertools
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad.viz.graph import walk as graph_walk
from minigrad import functions as F
from minigrad.layers import GRU, LSTM, RNN, GRUCell, LSTMCell, Layer, RNNCell
from minigrad.testing import gradcheck, stand_in

f64 = np.float64
GATES = {RNNCell: 1, LSTMCell: 4, GRUCell: 3, RNN: 1, LSTM: 4, GRU: 3}
SEQUENCE_OF = {RNNCell: RNN, LSTMCell: LSTM, GRUCell: GRU}


# ---------------------------------------------------------------- the book's equations in numpy
def sig(x):
    return 1 / (1 + np.exp(-x))


def np_rnn(x, h, Wx, Wh, b):
    return np.tanh(x @ Wx + h @ Wh + b)


def np_lstm(x, h, c, Wx, Wh, b):
    H = h.shape[1]
    a = x @ Wx + h @ Wh + b
    f, g, i, o = (a[:, k * H:(k + 1) * H] for k in range(4))
    f, g, i, o = sig(f), np.tanh(g), sig(i), sig(o)
    c_next = f * c + g * i
    return o * np.tanh(c_next), c_next


def np_gru(x, h, Wx, Wh, b):
    H = h.shape[1]
    Z, R, Hh = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    z = sig(x @ Wx[:, Z] + h @ Wh[:, Z] + b[Z])
    r = sig(x @ Wx[:, R] + h @ Wh[:, R] + b[R])
    h_hat = np.tanh(x @ Wx[:, Hh] + (r * h) @ Wh[:, Hh] + b[Hh])
    return (1 - z) * h + z * h_hat


def weights(k, D, H, seed=0, dtype=f64):
    """Random weights in the book's layout, with a non-zero bias (a zero bias
    would hide a bias routed to the wrong gate)."""
    rng = np.random.default_rng(seed)
    return dict(Wx=rng.standard_normal((D, k * H)).astype(dtype),
                Wh=rng.standard_normal((H, k * H)).astype(dtype),
                b=rng.standard_normal(k * H).astype(dtype))


def permute_gates(w, k, perm):
    """The same weights with their gate blocks in another order."""
    H = w["Wh"].shape[0]

    def cols(a):
        return np.concatenate([a[..., p * H:(p + 1) * H] for p in perm], axis=-1)

    return {name: cols(a) for name, a in w.items()}


def walk(*ys):
    """Every Function of the graph behind ys."""
    return graph_walk(ys)


N, D, H, T = 3, 4, 5, 6


@pytest.fixture
def rng():
    return np.random.default_rng(42)


# ---------------------------------------------------------------- cells against numpy
def test_rnn_cell_matches_the_books_equation(rng):
    w = weights(1, D, H)
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    got = RNNCell(**w, dtype=f64)(x, h)
    np.testing.assert_allclose(got.data, np_rnn(x, h, **w), rtol=1e-12, atol=1e-12)


def test_lstm_cell_matches_the_books_equations_and_gate_order(rng):
    w = weights(4, D, H)
    x, h, c = (rng.standard_normal((N, s)) for s in (D, H, H))
    h1, c1 = LSTMCell(**w, dtype=f64)(x, h, c)
    want_h, want_c = np_lstm(x, h, c, **w)
    np.testing.assert_allclose(h1.data, want_h, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c1.data, want_c, rtol=1e-12, atol=1e-12)
    # The check pins the order f, g, i, o: any other order gives other values.
    for perm in itertools.permutations(range(4)):
        if perm != (0, 1, 2, 3):
            other_h, _ = np_lstm(x, h, c, **permute_gates(w, 4, perm))
            assert not np.allclose(h1.data, other_h, atol=1e-6), perm


def test_gru_cell_matches_the_books_equations_and_gate_order(rng):
    w = weights(3, D, H)
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    got = GRUCell(**w, dtype=f64)(x, h)
    np.testing.assert_allclose(got.data, np_gru(x, h, **w), rtol=1e-12, atol=1e-12)
    for perm in itertools.permutations(range(3)):
        if perm != (0, 1, 2):
            assert not np.allclose(got.data, np_gru(x, h, **permute_gates(w, 3, perm)),
                                   atol=1e-6), perm


def test_gru_reset_gate_applies_before_the_matmul(rng):
    # PyTorch's variant r * (h Whh) differs: the book's (r * h) Whh is pinned.
    w = weights(3, D, H)
    x, h = rng.standard_normal((N, D)), rng.standard_normal((N, H))
    Z, R, Hh = slice(0, H), slice(H, 2 * H), slice(2 * H, 3 * H)
    Wx, Wh, b = w["Wx"], w["Wh"], w["b"]
    z = sig(x @ Wx[:, Z] + h @ Wh[:, Z] + b[Z])
    r = sig(x @ Wx[:, R] + h @ Wh[:, R] + b[R])
    after = (1 - z) * h + z * np.tanh(x @ Wx[:, Hh] + r * (h @ Wh[:, Hh]) + b[Hh])
    assert not np.allclose(GRUCell(**w, dtype=f64)(x, h).data, after, atol=1e-6)


@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell])
def test_cell_from_no_state_equals_zero_state(cls, rng):
    w = weights(GATES[cls], D, H)
    x, zeros = rng.standard_normal((N, D)), np.zeros((N, H))
    cell = cls(**w, dtype=f64)
    if cls is LSTMCell:
        for a, b in zip(cell(x), np_lstm(x, zeros, zeros, **w)):
            np.testing.assert_allclose(a.data, b, rtol=1e-12, atol=1e-12)
    else:
        ref = np_rnn if cls is RNNCell else np_gru
        np.testing.assert_allclose(cell(x).data, ref(x, zeros, **w), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------- cell gradients
def _with_weights(cls, Wx, Wh, b):
    # Variables (not copies) as the weights, so gradcheck sees their gradients.
    cell = cls(Wx.shape[0], Wh.shape[0], dtype=f64)
    for name, w in (("Wx", Wx), ("Wh", Wh), ("b", b)):
        stand_in(cell, name, w)
    return cell


@pytest.mark.parametrize("cls", [RNNCell, GRUCell])
def test_cell_gradients(cls, rng):
    w = weights(GATES[cls], 3, 2, seed=1)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))
    assert gradcheck(lambda x, h, Wx, Wh, b: _with_weights(cls, Wx, Wh, b)(x, h),
                     x, h, w["Wx"], w["Wh"], w["b"])
    # From the zero state (the path that skips h Wh).
    assert gradcheck(lambda x, Wx, Wh, b: _with_weights(cls, Wx, Wh, b)(x),
                     x, w["Wx"], w["Wh"], w["b"])


def test_lstm_cell_gradients(rng):
    w = weights(4, 3, 2, seed=1)
    x, h, c = rng.standard_normal((2, 3)), rng.standard_normal((2, 2)), rng.standard_normal((2, 2))
    assert gradcheck(lambda x, h, c, Wx, Wh, b: _with_weights(LSTMCell, Wx, Wh, b)(x, h, c),
                     x, h, c, w["Wx"], w["Wh"], w["b"])
    assert gradcheck(lambda x, Wx, Wh, b: _with_weights(LSTMCell, Wx, Wh, b)(x),
                     x, w["Wx"], w["Wh"], w["b"])


def test_gradcheck_would_catch_a_wrong_cell_gradient(rng):
    # The check above can fail: a GRU whose h~ ignores the gradient through r.
    w = weights(3, 3, 2, seed=1)
    x, h = rng.standard_normal((2, 3)), rng.standard_normal((2, 2))

    def broken(x, h, Wx, Wh, b):
        Hh = 2
        xw = F.linear(x, Wx, b)
        z, r = F.split(F.sigmoid(xw[:, :2 * Hh] + h @ Wh[:, :2 * Hh]), 2, axis=1)
        r = mg.Variable(r.data, requires_grad=False)
        h_hat = F.tanh(xw[:, 2 * Hh:] + (r * h) @ Wh[:, 2 * Hh:])
        return h + z * (h_hat - h)

    assert not gradcheck(broken, x, h, w["Wx"], w["Wh"], w["b"], raise_exception=False)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_sequence_gradients(cls, rng):
    w = weights(GATES[cls], 2, 2, seed=3)
    xs, h0 = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 2))

    def f(xs, h0, Wx, Wh, b):
        layer = cls(2, 2, dtype=f64)
        for name, w in (("Wx", Wx), ("Wh", Wh), ("b", b)):
            stand_in(layer, name, w)
        return layer(xs, h0)

    assert gradcheck(f, xs, h0, w["Wx"], w["Wh"], w["b"])


# ---------------------------------------------------------------- sequence = cell stepped by hand
@pytest.mark.parametrize("cell_cls", [RNNCell, LSTMCell, GRUCell])
@pytest.mark.parametrize("from_zeros", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_sequence_equals_cell_stepped_by_hand(cell_cls, from_zeros, fused, rng):
    w = weights(GATES[cell_cls], D, H, seed=5)
    xs = rng.standard_normal((N, T, D))
    h0 = None if from_zeros else rng.standard_normal((N, H))
    c0 = None if from_zeros else rng.standard_normal((N, H))
    seed_grad = rng.standard_normal((N, T, H))

    cell = cell_cls(**w, dtype=f64)
    h, c, hs = h0, c0, []
    for t in range(T):
        if cell_cls is LSTMCell:
            h, c = cell(xs[:, t], h, c)
        else:
            h = cell(xs[:, t], h)
        hs.append(h)
    by_hand = F.stack(hs, axis=1)
    by_hand.backward(seed_grad)

    layer = SEQUENCE_OF[cell_cls](**w, dtype=f64, fused=fused)
    ys = layer(xs, h0, c0) if cell_cls is LSTMCell else layer(xs, h0)
    ys.backward(seed_grad)

    assert ys.shape == (N, T, H)
    np.testing.assert_allclose(ys.data, by_hand.data, rtol=1e-12, atol=1e-12)
    for name in ("Wx", "Wh", "b"):
        np.testing.assert_allclose(getattr(layer, name).grad.data,
                                   getattr(cell, name).grad.data, rtol=1e-10, atol=1e-12)
    if layer.fused:
        # The fused op computes sigmoid as 0.5 tanh(x/2) + 0.5: equal up to rounding.
        np.testing.assert_allclose(layer.h.data, h.data, rtol=1e-14, atol=1e-15)
    else:
        np.testing.assert_array_equal(layer.h.data, h.data)


# ---------------------------------------------------------------- the RNN's options
NONLINEARITY = {"tanh": np.tanh, "sigmoid": sig, "relu": lambda a: np.maximum(a, 0)}


@pytest.mark.parametrize("nonlinearity", sorted(NONLINEARITY))
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("fused", [True, False])
def test_rnn_nonlinearity_and_bias_match_numpy_and_the_cell(nonlinearity, bias, fused, rng):
    w = weights(1, D, H, seed=5)
    if not bias:
        del w["b"]
    xs, h0 = rng.standard_normal((N, T, D)), rng.standard_normal((N, H))
    f, h, want = NONLINEARITY[nonlinearity], h0, []
    for t in range(T):
        h = f(xs[:, t] @ w["Wx"] + h @ w["Wh"] + w.get("b", 0.0))
        want.append(h)
    layer = RNN(**w, nonlinearity=nonlinearity, bias=bias, dtype=f64, fused=fused)
    assert layer.fused == fused and (layer.b is None) == (not bias)
    ys = layer(xs, h0)
    np.testing.assert_allclose(ys.data, np.stack(want, axis=1), rtol=1e-12, atol=1e-12)

    seed_grad = rng.standard_normal((N, T, H))
    ys.backward(seed_grad)
    cell = RNNCell(**w, nonlinearity=nonlinearity, bias=bias, dtype=f64)
    h, hs = h0, []
    for t in range(T):
        h = cell(xs[:, t], h)
        hs.append(h)
    F.stack(hs, axis=1).backward(seed_grad)
    names = ["Wx", "Wh"] + (["b"] if bias else [])
    assert [n for n, _ in layer.named_params()] == names
    for name in names:
        np.testing.assert_allclose(getattr(layer, name).grad.data, getattr(cell, name).grad.data,
                                   rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("nonlinearity", ["sigmoid", "relu"])
def test_rnn_options_gradients(nonlinearity, rng):
    w = weights(1, 2, 3, seed=3)
    xs, h0 = rng.standard_normal((2, 3, 2)), rng.standard_normal((2, 3))

    def f(xs, h0, Wx, Wh):
        layer = RNN(2, 3, nonlinearity=nonlinearity, bias=False, dtype=f64)
        stand_in(layer, "Wx", Wx)
        stand_in(layer, "Wh", Wh)
        return layer(xs, h0)

    assert gradcheck(f, xs, h0, w["Wx"], w["Wh"])


@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU])
def test_bias_false_has_no_b(cls, rng):
    layer = cls(D, H, bias=False, dtype=f64, rng=0)
    assert layer.b is None and [n for n, _ in layer.named_params()] == ["Wx", "Wh"]
    assert "bias=False" in repr(layer)
    if cls in (RNN, LSTM, GRU):
        out = layer(rng.standard_normal((N, T, D)))
    else:   # one step from a given state, so that Wh is used too
        state = [rng.standard_normal((N, H)) for _ in range(2 if cls is LSTMCell else 1)]
        out = layer(rng.standard_normal((N, D)), *state)
    (out[0] if isinstance(out, tuple) else out).sum().backward()
    assert all(p.grad is not None for p in layer.params())
    with pytest.raises(ValueError, match=f"{cls.__name__}: b was given but bias=False"):
        cls(D, H, bias=False, b=np.zeros(GATES[cls] * H))


@pytest.mark.parametrize("cls", [RNNCell, RNN])
def test_unknown_nonlinearity_is_refused(cls):
    with pytest.raises(ValueError, match=f"{cls.__name__}: nonlinearity must be one of tanh, "
                                         "sigmoid, relu; got 'softmax'"):
        cls(D, H, nonlinearity="softmax")


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_params_in_definition_order(cls):
    layer = cls(D, H, rng=0)
    assert [n for n, _ in layer.named_params()] == ["Wx", "Wh", "b"]
    assert layer.Wx.shape == (D, GATES[cls] * H) and layer.Wh.shape == (H, GATES[cls] * H)


# ---------------------------------------------------------------- truncated BPTT
def _stateful_pair(cls, rng):
    w = weights(GATES[cls], D, H, seed=7)
    return cls(**w, dtype=f64, stateful=True), w, rng.standard_normal((N, T, D)), \
        rng.standard_normal((N, T, D))


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_stateful_keeps_the_state_but_not_the_graph(cls, rng):
    layer, w, x1, x2 = _stateful_pair(cls, rng)
    y1 = layer(x1)
    first_graph = walk(y1)
    h1 = y1.data[:, -1].copy()
    c1 = None if layer.c is None else layer.c.data.copy()
    np.testing.assert_array_equal(layer.h.data, h1)
    assert layer.h.creator is None and not layer.h.requires_grad

    y2 = layer(x2)
    seed_grad = rng.standard_normal((N, T, H))
    y2.backward(seed_grad)

    # The same as a fresh layer started from the carried state as constants.
    fresh = cls(**w, dtype=f64)
    start = (h1,) if cls is not LSTM else (h1, c1)
    y2_fresh = fresh(x2, *start)
    y2_fresh.backward(seed_grad)
    np.testing.assert_allclose(y2.data, y2_fresh.data, rtol=1e-12, atol=1e-12)
    for name in ("Wx", "Wh", "b"):
        np.testing.assert_allclose(getattr(layer, name).grad.data,
                                   getattr(fresh, name).grad.data, rtol=1e-12, atol=1e-12)
    # The backward of the second call never entered the first call's graph
    # (every operation it visits is released after its backward).
    assert not any(f._released for f in first_graph)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_stateful_first_graph_can_be_garbage(cls, rng):
    layer, _, x1, x2 = _stateful_pair(cls, rng)
    y1 = layer(x1)
    refs = [weakref.ref(f) for f in walk(y1)]
    del y1
    gc.collect()
    assert all(r() is None for r in refs), "the carried state keeps the previous graph alive"
    layer(x2).sum().backward()
    assert layer.Wx.grad is not None


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_the_next_call_leaves_the_previous_graph_intact(cls, rng):
    # Carrying the state must not cut the caller's graph in place: the first
    # call's loss backpropagates through all its steps even after a second call.
    layer, w, x1, x2 = _stateful_pair(cls, rng)
    y1 = layer(x1)
    layer(x2)
    y1.sum().backward()
    fresh = cls(**w, dtype=f64)
    fresh(x1).sum().backward()
    np.testing.assert_allclose(layer.Wh.grad.data, fresh.Wh.grad.data, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_reset_state_and_stateless(cls, rng):
    layer, w, x1, x2 = _stateful_pair(cls, rng)
    fresh = cls(**w, dtype=f64)
    layer(x1)
    assert not np.allclose(layer(x2).data, fresh(x2).data)   # the state matters
    layer.reset_state()
    assert layer.h is None and layer.c is None
    np.testing.assert_array_equal(layer(x2).data, fresh(x2).data)
    # stateful=False: every call starts from zeros.
    np.testing.assert_array_equal(fresh(x2).data, fresh(x2).data)


def test_set_state_array_and_variable(rng):
    w = weights(4, D, H, seed=9)
    layer = LSTM(**w, dtype=f64, stateful=True)
    x = rng.standard_normal((N, T, D))
    h0, c0 = rng.standard_normal((N, H)), rng.standard_normal((N, H))
    # Arrays become constants of the layer's dtype.
    layer.set_state(h0.astype(np.float32), c0)
    assert layer.h.dtype == f64 and not layer.h.requires_grad
    np.testing.assert_allclose(layer(x).data, LSTM(**w, dtype=f64)(x, h0, c0).data,
                               rtol=1e-6)
    # A Variable keeps its graph: the gradient reaches it (a seq2seq decoder's
    # gradient flows back into the encoder this way).
    hv = mg.Variable(h0)
    layer.set_state(hv, c0)
    layer(x).sum().backward()
    assert hv.grad is not None and np.abs(hv.grad.data).sum() > 0


# ---------------------------------------------------------------- name scopes
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_one_name_scope_per_step(cls, rng):
    layer = cls(D, H, rng=0, dtype=f64, fused=False)
    start = [rng.standard_normal((N, H)) for _ in range(2 if cls is LSTM else 1)]
    ys = layer(rng.standard_normal((N, T, D)), *start)
    scopes = [f.scope for f in walk(ys)]
    assert {s for s in scopes if s} == {(f"t={t}",) for t in range(T)}
    # Every step records the same operations, and h_t is made in its own step.
    counts = {s: scopes.count(s) for s in set(scopes) if s}
    assert len(set(counts.values())) == 1, counts
    for t, h in enumerate(ys.creator.inputs):
        assert h.creator.scope == (f"t={t}",)


def test_scopes_nest_under_an_outer_scope(rng):
    with mg.name_scope("encoder"):
        ys = RNN(D, H, rng=0, fused=False)(rng.standard_normal((N, 2, D)).astype(np.float32))
    assert ys.creator.inputs[1].creator.scope == ("encoder", "t=1")


# ---------------------------------------------------------------- construction
@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU])
def test_built_from_given_arrays(cls):
    w = weights(GATES[cls], D, H, seed=11, dtype=np.float32)
    layer = cls(**w)
    for name, a in w.items():
        p = getattr(layer, name)
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.data, a)
        assert p.data is not a and not np.shares_memory(p.data, a)  # updates leave `a` alone
    assert (layer.in_size, layer.hidden_size) == (D, H)
    with pytest.raises(ValueError, match="Wh must have shape"):
        cls(Wx=w["Wx"], Wh=w["Wh"][:, 1:], b=w["b"])


@pytest.mark.parametrize("cls", [RNNCell, LSTMCell, GRUCell, RNN, LSTM, GRU])
def test_default_init_like_the_book(cls):
    D_, H_ = 400, 300
    layer = cls(D_, H_, rng=0)
    assert isinstance(layer, Layer) and layer.Wx.dtype == np.float32
    assert np.std(layer.Wx.data) == pytest.approx(1 / np.sqrt(D_), rel=0.02)
    assert np.std(layer.Wh.data) == pytest.approx(1 / np.sqrt(H_), rel=0.02)
    assert not layer.b.data.any()
    # Seeded: the same rng gives the same weights, another one others.
    np.testing.assert_array_equal(cls(D_, H_, rng=0).Wh.data, layer.Wh.data)
    assert not np.array_equal(cls(D_, H_, rng=1).Wh.data, layer.Wh.data)


# ---------------------------------------------------------------- dtype
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_float32_stays_float32(cls, rng):
    layer = cls(D, H, rng=0, stateful=True)
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    layer(xs)
    ys = layer(xs)           # from a carried state too
    assert ys.dtype == np.float32
    # Every value an operation made: what the next operations read, and ys.
    made = [x for f in walk(ys) for x in f.inputs
            if isinstance(x, mg.Variable) and x.creator is not None] + [ys]
    assert len(made) >= 2 and all(v.dtype == np.float32 for v in made), \
        sorted({v.creator.name for v in made if v.dtype != np.float32})
    (ys * ys).sum().backward()
    assert all(p.grad.dtype == np.float32 for p in layer.params())


# ---------------------------------------------------------------- devices
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
def test_sequence_layers_on_each_backend(cls, xp, rng):
    w = weights(GATES[cls], D, H, seed=13)
    x1, x2 = rng.standard_normal((N, T, D)), rng.standard_normal((N, T, D))
    cpu = cls(**w, dtype=f64, stateful=True)
    dev = cls(**w, dtype=f64, stateful=True)
    if xp is not np:
        dev.to_gpu()
    for x in (x1, x2):   # the second call starts from the carried state
        want, got = cpu(x), dev(xp.asarray(x))
        want.sum().backward()
        got.sum().backward()
        np.testing.assert_allclose(mg.to_cpu(got.data), want.data, rtol=1e-10, atol=1e-12)
    for p, q in zip(cpu.params(), dev.params()):
        np.testing.assert_allclose(mg.to_cpu(q.grad.data), p.grad.data, rtol=1e-10, atol=1e-12)
