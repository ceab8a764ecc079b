"""What the encoder-decoder models are built from: recurrent layers that hand
over their final state with its graph, bidirectional layers (the book's
TimeBiLSTM), and dot-product attention (the book's TimeAttention) as
operations and as a layer, with a mask for padded encoder steps. Checked
against the hand-written twins (models/book_layers, 1e-12 in float64) and central
differences."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad.layers import GRU, LSTM, RNN, Attention, BiGRU, BiLSTM, BiRNN
from minigrad.testing import gradcheck, stand_in
from models import book_layers as twins
from models.shared.twin_check import rel_err

f64 = np.float64
TWIN_RTOL = 1e-12


@pytest.fixture
def rng():
    return np.random.default_rng(2024)


def set_weights(layer, rng, scale=0.6):
    for p in layer.params():
        p.data = scale * rng.standard_normal(p.shape)
    return layer


# ---------------------------------------------------------------- final states with their graph
@pytest.mark.parametrize("cls", [RNN, LSTM, GRU])
@pytest.mark.parametrize("fused", [True, False])
def test_return_state_is_the_last_step_and_carries_its_graph(cls, fused, rng):
    layer = set_weights(cls(3, 4, fused=fused, dtype=f64, rng=0), rng)
    xs = rng.standard_normal((2, 5, 3))
    hs, state = layer(xs, return_state=True)
    h, c = state if cls is LSTM else (state, None)
    np.testing.assert_array_equal(h.data, hs.data[:, -1])
    assert h.creator is not None and (c is None or c.creator is not None)
    if c is not None:
        np.testing.assert_array_equal(c.data, layer.c.data)   # the carried copy, same values
    # Only the state reaches the loss: its gradient must still get to every weight.
    weights = [p.data.copy() for p in layer.params()]

    def f(Wx, Wh, b):
        other = cls(3, 4, fused=fused, dtype=f64, rng=0)
        for name, w in (("Wx", Wx), ("Wh", Wh), ("b", b)):
            stand_in(other, name, w)
        _, s = other(xs, return_state=True)
        return (s[0] * s[1]).sum() if cls is LSTM else (s * s).sum()
    assert gradcheck(f, *weights)


@pytest.mark.parametrize("fused", [True, False])
def test_a_state_given_as_a_variable_is_backpropagated_into(fused, rng):
    # The decoder side of seq2seq: h0 and c0 come from elsewhere, graph and all.
    layer = set_weights(LSTM(3, 4, fused=fused, dtype=f64, rng=0), rng)
    xs = rng.standard_normal((2, 4, 3))
    h0, c0 = rng.standard_normal((2, 4)), rng.standard_normal((2, 4))

    def f(h0, c0):
        hs, (h, c) = layer(xs, h0=h0, c0=c0, return_state=True)
        return (hs * hs).sum() + (c * h).sum()
    assert gradcheck(f, h0, c0)
    g = mg.Variable(h0)
    layer.set_state(g * 2.0)                     # set_state keeps a Variable's graph too
    layer.stateful = True
    layer(xs).sum().backward()
    assert g.grad is not None and np.abs(g.grad.data).max() > 0


def test_fused_and_composed_states_agree(rng):
    xs = rng.standard_normal((3, 6, 2))
    out = {}
    for fused in (True, False):
        layer = set_weights(LSTM(2, 3, fused=fused, dtype=f64, rng=0), np.random.default_rng(1))
        hs, (h, c) = layer(xs, return_state=True)
        (h.sum() + 2 * c.sum()).backward()
        out[fused] = (h.data, c.data, [p.grad.data for p in layer.params()])
    for a, b in zip(out[True][:2], out[False][:2]):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    for a, b in zip(out[True][2], out[False][2]):
        assert rel_err(a, b) <= TWIN_RTOL


# ---------------------------------------------------------------- bidirectional
def bi_twin(layer):
    """The twins' TimeBiLSTM holding the layer's weights."""
    fwd, bwd = layer.directions()
    return twins.TimeBiLSTM(*(p.data.copy() for p in fwd.params()),
                            *(p.data.copy() for p in bwd.params()))


@pytest.mark.parametrize("fused", [True, False])
def test_bilstm_equals_the_books_time_bilstm(fused, rng):
    layer = set_weights(BiLSTM(3, 4, fused=fused, dtype=f64, rng=0), rng)
    twin = bi_twin(layer)
    xs = mg.Variable(rng.standard_normal((2, 5, 3)))
    dout = rng.standard_normal((2, 5, 8))
    out = layer(xs)
    out.backward(dout)
    expected = twin.forward(xs.data)
    dxs = twin.backward(dout)
    assert out.shape == (2, 5, 8)
    assert rel_err(out.data, expected) <= TWIN_RTOL
    assert rel_err(xs.grad.data, dxs) <= TWIN_RTOL
    for p, g in zip(layer.params(), twin.grads):
        assert rel_err(p.grad.data, g) <= TWIN_RTOL


@pytest.mark.parametrize("cls, single", [(BiLSTM, LSTM), (BiGRU, GRU), (BiRNN, RNN)])
@pytest.mark.parametrize("merge", ["concat", "sum"])
def test_bidirectional_is_two_layers_the_second_over_reversed_time(cls, single, merge, rng):
    layer = set_weights(cls(3, 4, merge=merge, dtype=f64, rng=0), rng)
    fwd, bwd = layer.directions()
    xs = rng.standard_normal((2, 6, 3))
    a = fwd(xs).data
    b = bwd(xs[:, ::-1].copy()).data[:, ::-1]
    expected = np.concatenate((a, b), axis=2) if merge == "concat" else a + b
    np.testing.assert_allclose(layer(xs).data, expected, rtol=1e-14)
    assert layer.output_size == (8 if merge == "concat" else 4)
    assert isinstance(fwd, single) and isinstance(bwd, single) and fwd is not bwd
    # The step that reads x_0 last in the backward direction sees all of xs:
    # changing the last input changes the first output's backward half.
    xs2 = xs.copy()
    xs2[:, -1] += 1.0
    changed = np.abs(layer(xs2).data[:, 0] - layer(xs).data[:, 0]).max(axis=0)
    assert (changed[:4].max() == 0) == (merge == "concat")


@pytest.mark.parametrize("cls", [BiLSTM, BiGRU])
@pytest.mark.parametrize("fused", [True, False])
def test_bidirectional_gradients(cls, fused, rng):
    layer = set_weights(cls(2, 3, fused=fused, dtype=f64, rng=0), rng)
    xs = rng.standard_normal((2, 4, 2))
    weights = [p.data.copy() for p in layer.params()]

    def f(xs, *ws):
        for p_slot, w in zip([(d, a) for d in layer.directions() for a in ("Wx", "Wh", "b")], ws):
            stand_in(*p_slot, w)
        return layer(xs)
    assert gradcheck(f, xs, *weights)
    names = [n for n, _ in cls(2, 3, rng=0).named_params()]
    assert names == [f"{d}_{cls.prefix}.{a}" for d in ("forward", "backward")
                     for a in ("Wx", "Wh", "b")]


def test_bidirectional_states_and_bad_merge(rng):
    layer = BiLSTM(3, 4, dtype=f64, rng=0)
    xs = rng.standard_normal((2, 5, 3))
    out, ((h1, c1), (h2, c2)) = layer(xs, return_state=True)
    np.testing.assert_array_equal(h1.data, out.data[:, -1, :4])   # forward: after step T-1
    np.testing.assert_array_equal(h2.data, out.data[:, 0, 4:])    # backward: after step 0
    with pytest.raises(ValueError, match="merge must be one of"):
        BiLSTM(3, 4, merge="mean")


# ---------------------------------------------------------------- attention
def twin_attention(hs_enc, hs_dec, dout, mask=None):
    layer = twins.TimeAttention()
    out = layer.forward(hs_enc, hs_dec, mask)
    dhs_enc, dhs_dec = layer.backward(dout)
    return out, np.stack(layer.attention_weights, axis=1), dhs_enc, dhs_dec


@pytest.mark.parametrize("masked", [False, True])
def test_attention_equals_the_books_loop_over_decoder_steps(masked, rng):
    N, Te, Td, H = 3, 6, 4, 5
    hs_enc, hs_dec = mg.Variable(rng.standard_normal((N, Te, H))), mg.Variable(
        rng.standard_normal((N, Td, H)))
    mask = np.ones((N, Te), dtype=bool)
    if masked:
        mask[0, 4:] = False
        mask[2, :2] = False
    dout = rng.standard_normal((N, Td, H))
    context, weights = F.attention(hs_enc, hs_dec, mask if masked else None)
    context.backward(dout)
    expected, twin_weights, dhs_enc, dhs_dec = twin_attention(hs_enc.data, hs_dec.data, dout,
                                                              mask if masked else None)
    assert rel_err(context.data, expected) <= TWIN_RTOL
    assert rel_err(weights.data, twin_weights) <= TWIN_RTOL
    assert rel_err(hs_enc.grad.data, dhs_enc) <= TWIN_RTOL
    assert rel_err(hs_dec.grad.data, dhs_dec) <= TWIN_RTOL
    np.testing.assert_allclose(weights.data.sum(axis=-1), 1.0, rtol=1e-14)
    if masked:
        assert (weights.data[0, :, 4:] == 0).all() and (weights.data[2, :, :2] == 0).all()


def test_attention_is_one_batched_product_not_a_loop(rng):
    # "The operations it is made of": a fixed handful of nodes whatever Td is.
    hs_enc = mg.Variable(rng.standard_normal((2, 7, 3)))
    for Td in (1, 9):
        context, _ = F.attention(hs_enc, mg.Variable(rng.standard_normal((2, Td, 3))))
        names, stack, seen = [], [context.creator], set()
        while stack:
            f = stack.pop()
            if f is None or id(f) in seen:
                continue
            seen.add(id(f))
            names.append(f.name)
            stack.extend(x.creator for x in f.inputs)
        assert sorted(names) == ["MatMul", "MatMul", "Softmax", "Transpose"]


@pytest.mark.parametrize("masked", [False, True])
def test_attention_gradients_by_central_differences(masked, rng):
    hs_enc, hs_dec = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 3))
    mask = np.array([[True, True, True, False, False], [False, True, True, True, True]])
    use = mask if masked else None
    assert gradcheck(lambda e, d: F.attention(e, d, use), hs_enc, hs_dec)
    assert gradcheck(lambda e, d: F.attention_weights(e, d, use), hs_enc, hs_dec)
    assert gradcheck(lambda e, a: F.weighted_sum(e, a), hs_enc, rng.random((2, 4, 5)))


@pytest.mark.parametrize("scale", [1.0, 40.0])
def test_a_masked_step_is_as_if_it_were_not_there(scale, rng):
    # scale 40: scores in the thousands, where a large finite penalty would not hide a step.
    hs_enc = scale * rng.standard_normal((1, 6, 3))
    hs_dec = scale * rng.standard_normal((1, 2, 3))
    mask = np.array([[True, False, True, True, False, False]])
    e, d = mg.Variable(hs_enc), mg.Variable(hs_dec)
    context, _ = F.attention(e, d, mask)
    context.sum().backward()
    kept = mg.Variable(hs_enc[:, mask[0]])
    d2 = mg.Variable(hs_dec)
    expected, _ = F.attention(kept, d2)
    expected.sum().backward()
    np.testing.assert_allclose(context.data, expected.data, rtol=1e-14)
    np.testing.assert_allclose(e.grad.data[:, mask[0]], kept.grad.data, rtol=1e-13)
    assert (e.grad.data[:, ~mask[0]] == 0).all()           # padding gets no gradient at all
    np.testing.assert_allclose(d.grad.data, d2.grad.data, rtol=1e-13)


def test_one_decoder_step_is_the_books_attention(rng):
    hs_enc, h = rng.standard_normal((3, 5, 4)), rng.standard_normal((3, 4))
    dc = rng.standard_normal((3, 4))
    e, hv = mg.Variable(hs_enc), mg.Variable(h)
    c, a = F.attention(e, hv)
    c.backward(dc)
    book = twins.Attention()
    expected = book.forward(hs_enc, h)
    dhs, dh = book.backward(dc)
    assert c.shape == (3, 4) and a.shape == (3, 5)
    for ours, theirs in ((c.data, expected), (a.data, book.attention_weight),
                         (e.grad.data, dhs), (hv.grad.data, dh)):
        assert rel_err(ours, theirs) <= TWIN_RTOL


def test_attention_layer_keeps_its_last_weights(rng):
    layer = Attention()
    assert layer.attention_weights is None and layer.params() == []
    hs_enc = rng.standard_normal((2, 5, 3))
    layer(hs_enc, rng.standard_normal((2, 4, 3)))
    first = layer.attention_weights
    assert first.shape == (2, 4, 5) and not isinstance(first, mg.Variable)
    layer(hs_enc, rng.standard_normal((2, 2, 3)), mask=np.ones((2, 5), dtype=bool))
    assert layer.attention_weights.shape == (2, 2, 5)


def test_attention_bad_inputs_name_the_problem(rng):
    hs_enc, hs_dec = rng.standard_normal((2, 5, 3)), rng.standard_normal((2, 4, 3))
    with pytest.raises(mg.ShapeError, match=r"same N and H.*\(2, 5, 3\) and \(2, 4, 2\)"):
        F.attention(hs_enc, hs_dec[..., :2])
    with pytest.raises(mg.ShapeError, match=r"mask must be a boolean array of shape \(N, Te\)"):
        F.attention(hs_enc, hs_dec, np.ones((2, 4), dtype=bool))
    with pytest.raises(mg.ShapeError, match="boolean"):
        F.attention(hs_enc, hs_dec, np.ones((2, 5)))
    empty = np.ones((2, 5), dtype=bool)
    empty[1] = False
    with pytest.raises(ValueError, match="row 1 of the mask hides every encoder step"):
        F.attention(hs_enc, hs_dec, empty)
    with pytest.raises(mg.ShapeError, match="weighted_sum"):
        F.weighted_sum(hs_enc, rng.random((2, 4, 6)))
