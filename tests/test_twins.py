"""The hand-written twins (models.book_layers) against central differences in float64.

The twins are the independent reference for the autograd models, so their own
check must not lean on minigrad: the numerical-gradient helper is written here
in plain numpy. Only the one forward cross-check per recurrent kind at the end
imports minigrad.
"""
import numpy as np
import pytest

from models import book_layers as twins

EPS = 1e-6          # float64 central differences: truncation ~eps^2, rounding ~1e-16/eps
RTOL, ATOL = 1e-6, 1e-8


# ---------------------------------------------------------------- helpers
def numerical_grad(f, x, eps=EPS):
    """d f() / d x by central differences, perturbing ``x`` in place (the layers
    hold references to their parameter arrays, so the perturbation is seen)."""
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        old = x[idx]
        x[idx] = old + eps
        f_plus = f()
        x[idx] = old - eps
        f_minus = f()
        x[idx] = old
        g[idx] = (f_plus - f_minus) / (2 * eps)
    return g


def check_layer(layer, run, backward, inputs, rng):
    """Compare a layer's analytic gradients with numerical ones.

    ``run()`` does a forward pass and returns a tuple of outputs; ``backward(douts)``
    does the backward pass and returns the gradients of ``inputs`` (same order).
    The scalar checked is sum_k <out_k, dout_k> with random dout_k, so every
    element of every output matters. Every parameter in ``layer.params`` is
    checked too, and its gradient must have been written into the same
    ``grads`` array (in place), as the book's optimizers expect.
    """
    outs = run()
    douts = tuple(rng.standard_normal(np.shape(o)) if np.ndim(o) else 1.0 for o in outs)
    grad_ids = [id(g) for g in layer.grads]
    analytic_inputs = backward(douts)
    analytic_params = [g.copy() for g in layer.grads]
    assert [id(g) for g in layer.grads] == grad_ids, "grads must be written in place"
    assert len(analytic_inputs) == len(inputs)

    def scalar():
        return sum(np.sum(o * d) for o, d in zip(run(), douts))

    for k, (x, g) in enumerate(zip(inputs, analytic_inputs)):
        assert g.shape == x.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, numerical_grad(scalar, x), rtol=RTOL, atol=ATOL,
                                   err_msg=f"input {k}")
    for k, (p, g) in enumerate(zip(layer.params, analytic_params)):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g, numerical_grad(scalar, p), rtol=RTOL, atol=ATOL,
                                   err_msg=f"param {k}")


def no_input_grad(layer, douts):
    """Backward of an embedding: its ids get no gradient (backward returns None)."""
    assert layer.backward(douts[0]) is None
    return ()


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def randn(rng, *shape):
    return rng.standard_normal(shape)


def weights(rng, D, H, k):
    """Wx (D, kH), Wh (H, kH), b (kH), scaled so gates are neither saturated nor linear."""
    return (randn(rng, D, k * H) / np.sqrt(D), randn(rng, H, k * H) / np.sqrt(H),
            0.5 * randn(rng, k * H))


GATES = {"RNN": 1, "LSTM": 4, "GRU": 3}


def test_check_layer_catches_a_wrong_backward(rng):
    """The helper itself must be able to fail: a Sigmoid whose backward forgets
    the (1 - y) factor is rejected."""

    class WrongSigmoid(twins.Sigmoid):
        def backward(self, dout):
            return dout * self.out

    layer, x = WrongSigmoid(), randn(rng, 3, 4)
    with pytest.raises(AssertionError):
        check_layer(layer, lambda: (layer.forward(x),), lambda d: (layer.backward(d[0]),),
                    [x], rng)


# ---------------------------------------------------------------- layers.py
def test_matmul(rng):
    x, W = randn(rng, 4, 3), randn(rng, 3, 5)
    layer = twins.MatMul(W)
    check_layer(layer, lambda: (layer.forward(x),), lambda d: (layer.backward(d[0]),), [x], rng)


def test_affine(rng):
    x = randn(rng, 4, 3)
    layer = twins.Affine(randn(rng, 3, 5), randn(rng, 5))
    check_layer(layer, lambda: (layer.forward(x),), lambda d: (layer.backward(d[0]),), [x], rng)


def test_sigmoid(rng):
    x = 2 * randn(rng, 4, 3)
    layer = twins.Sigmoid()
    check_layer(layer, lambda: (layer.forward(x),), lambda d: (layer.backward(d[0]),), [x], rng)


def test_softmax_with_loss(rng):
    x, t = randn(rng, 5, 4), np.array([0, 3, 1, 1, 2])
    layer = twins.SoftmaxWithLoss()
    loss = layer.forward(x, t)
    p = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(loss, -np.mean(np.log(p[np.arange(5), t])), rtol=1e-12)
    check_layer(layer, lambda: (layer.forward(x, t),), lambda d: (layer.backward(d[0]),), [x],
                rng)


def test_softmax_with_loss_is_finite_for_a_vanishing_probability():
    # p[target] = exp(-1000) underflows to 0: the book's log(p) is -inf here.
    layer = twins.SoftmaxWithLoss()
    loss = layer.forward(np.array([[1000.0, 0.0]]), np.array([1]))
    np.testing.assert_allclose(loss, 1000.0)
    np.testing.assert_allclose(layer.backward(), [[1.0, -1.0]])


def test_sigmoid_with_loss(rng):
    x, t = 2 * randn(rng, 6), np.array([1, 0, 1, 1, 0, 0], dtype=float)
    layer = twins.SigmoidWithLoss()
    y = 1 / (1 + np.exp(-x))
    np.testing.assert_allclose(layer.forward(x, t),
                               -np.mean(t * np.log(y) + (1 - t) * np.log(1 - y)), rtol=1e-12)
    check_layer(layer, lambda: (layer.forward(x, t),), lambda d: (layer.backward(d[0]),), [x],
                rng)


def test_sigmoid_with_loss_extreme_logits():
    # DeZero: infinite loss and NaN gradient at +40, gradient 0 instead of -1 at -40.
    layer = twins.SigmoidWithLoss()
    loss = layer.forward(np.array([40.0, -40.0]), np.array([0.0, 1.0]))
    np.testing.assert_allclose(loss, 40.0, rtol=1e-12)
    np.testing.assert_allclose(layer.backward(), [0.5, -0.5], rtol=1e-12)   # (y - t) / N


def test_embedding(rng):
    idx = np.array([1, 3, 1, 0, 1])            # id 1 three times
    layer = twins.Embedding(randn(rng, 5, 3))
    check_layer(layer, lambda: (layer.forward(idx),), lambda d: no_input_grad(layer, d),
                [], rng)


def test_embedding_duplicate_ids_accumulate(rng):
    layer = twins.Embedding(randn(rng, 4, 2))
    idx = np.array([2, 0, 2, 2])
    layer.forward(idx)
    dout = randn(rng, 4, 2)
    layer.backward(dout)
    dW = layer.grads[0]
    np.testing.assert_allclose(dW[2], dout[0] + dout[2] + dout[3])  # not only the last
    np.testing.assert_allclose(dW[0], dout[1])
    np.testing.assert_array_equal(dW[[1, 3]], 0)
    # A second backward overwrites rather than adds to the previous one.
    layer.backward(dout)
    np.testing.assert_allclose(layer.grads[0][2], dout[0] + dout[2] + dout[3])


def test_embedding_dot(rng):
    h, idx = randn(rng, 4, 3), np.array([0, 2, 2, 4])
    layer = twins.EmbeddingDot(randn(rng, 5, 3))
    np.testing.assert_allclose(layer.forward(h, idx), np.sum(layer.params[0][idx] * h, axis=1))
    check_layer(layer, lambda: (layer.forward(h, idx),), lambda d: (layer.backward(d[0]),), [h],
                rng)


def test_negative_sampling_loss(rng):
    V, D, N, k = 7, 3, 4, 3
    W_out, h = randn(rng, V, D), randn(rng, N, D)
    target = np.array([1, 4, 4, 6])
    negatives = np.array([[0, 2, 2], [1, 3, 5], [0, 0, 6], [2, 4, 5]])  # repeats on purpose
    layer = twins.NegativeSamplingLoss(W_out, sample_size=k)
    assert len(layer.params) == 1 and layer.params[0] is W_out   # shared, listed once

    # The book's loss: a batch mean per term, summed over the 1 + k terms.
    def bce(score, label):
        y = 1 / (1 + np.exp(-score))
        return -np.mean(np.log(y) if label else np.log(1 - y))

    expected = bce(np.sum(W_out[target] * h, axis=1), 1)
    for j in range(k):
        expected += bce(np.sum(W_out[negatives[:, j]] * h, axis=1), 0)
    np.testing.assert_allclose(layer.forward(h, target, negatives), expected, rtol=1e-12)
    check_layer(layer, lambda: (layer.forward(h, target, negatives),),
                lambda d: (layer.backward(d[0]),), [h], rng)
    with pytest.raises(ValueError):
        layer.forward(h, target, negatives[:, :2])


# ---------------------------------------------------------------- cells
@pytest.mark.parametrize("kind", ["RNN", "GRU"])
def test_cell_without_c(kind, rng):
    D, H, N = 3, 4, 2
    cell = getattr(twins, kind)(*weights(rng, D, H, GATES[kind]))
    x, h = randn(rng, N, D), randn(rng, N, H)
    check_layer(cell, lambda: (cell.forward(x, h),), lambda d: cell.backward(d[0]), [x, h], rng)


def test_lstm_cell(rng):
    D, H, N = 3, 4, 2
    cell = twins.LSTM(*weights(rng, D, H, 4))
    x, h, c = randn(rng, N, D), randn(rng, N, H), randn(rng, N, H)
    check_layer(cell, lambda: cell.forward(x, h, c), lambda d: cell.backward(*d), [x, h, c], rng)


def test_gru_cell_equations(rng):
    """The packed GRU against its equations written out gate by gate (order z, r, h~)."""
    D, H, N = 3, 4, 2
    Wx, Wh, b = weights(rng, D, H, 3)
    x, h = randn(rng, N, D), randn(rng, N, H)
    s = lambda a: 1 / (1 + np.exp(-a))
    part = lambda W, j: W[..., j * H:(j + 1) * H]
    z = s(x @ part(Wx, 0) + h @ part(Wh, 0) + part(b, 0))
    r = s(x @ part(Wx, 1) + h @ part(Wh, 1) + part(b, 1))
    h_hat = np.tanh(x @ part(Wx, 2) + (r * h) @ part(Wh, 2) + part(b, 2))
    np.testing.assert_allclose(twins.GRU(Wx, Wh, b).forward(x, h), (1 - z) * h + z * h_hat,
                               rtol=1e-12)


def test_lstm_cell_equations(rng):
    """The packed LSTM against its equations gate by gate (order f, g, i, o)."""
    D, H, N = 3, 4, 2
    Wx, Wh, b = weights(rng, D, H, 4)
    x, h, c = randn(rng, N, D), randn(rng, N, H), randn(rng, N, H)
    s = lambda a: 1 / (1 + np.exp(-a))
    A = x @ Wx + h @ Wh + b
    f, g, i, o = s(A[:, :H]), np.tanh(A[:, H:2 * H]), s(A[:, 2 * H:3 * H]), s(A[:, 3 * H:])
    h_next, c_next = twins.LSTM(Wx, Wh, b).forward(x, h, c)
    np.testing.assert_allclose(c_next, f * c + g * i, rtol=1e-12)
    np.testing.assert_allclose(h_next, o * np.tanh(f * c + g * i), rtol=1e-12)


# ---------------------------------------------------------------- time layers
def make_time(kind, rng, D=3, H=4, stateful=False):
    return getattr(twins, "Time" + kind)(*weights(rng, D, H, GATES[kind]), stateful=stateful)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_time_recurrent_gradients(kind, rng):
    """dxs, every weight gradient, and the gradient reaching the initial state
    (dh, and dc for the LSTM), through T = 4 steps."""
    N, T, D, H = 2, 4, 3, 4
    layer = make_time(kind, rng, D, H, stateful=True)
    xs, h0, c0 = randn(rng, N, T, D), randn(rng, N, H), randn(rng, N, H)
    lstm = kind == "LSTM"

    def run():
        layer.set_state(h0, c0 if lstm else None)
        return (layer.forward(xs),)

    def backward(d):
        dxs = layer.backward(d[0])
        return (dxs, layer.dh, layer.dc) if lstm else (dxs, layer.dh)

    check_layer(layer, run, backward, [xs, h0, c0] if lstm else [xs, h0], rng)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_time_layer_equals_stepping_the_cell(kind, rng):
    N, T, D, H = 2, 5, 3, 4
    layer = make_time(kind, rng, D, H)
    xs = randn(rng, N, T, D)
    hs = layer.forward(xs)
    cell = getattr(twins, kind)(*layer.params)
    h = c = np.zeros((N, H))
    for t in range(T):
        if kind == "LSTM":
            h, c = cell.forward(xs[:, t], h, c)
        else:
            h = cell.forward(xs[:, t], h)
        np.testing.assert_allclose(hs[:, t], h, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(layer.h, h, rtol=1e-12)
    if kind == "LSTM":
        np.testing.assert_allclose(layer.c, c, rtol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_stateful_carries_state_over_two_calls(kind, rng):
    N, T, D, H = 2, 3, 3, 4
    stateful = make_time(kind, rng, D, H, stateful=True)
    plain = getattr(twins, "Time" + kind)(*stateful.params)      # same weights, not stateful
    xs = randn(rng, N, 2 * T, D)
    whole = plain.forward(xs)                                    # one call over 2T steps

    first = stateful.forward(xs[:, :T])
    h_last = stateful.h.copy()
    second = stateful.forward(xs[:, T:])
    # The second call starts from the first call's last h (and c): together they
    # equal one call over all 2T steps.
    np.testing.assert_allclose(first, whole[:, :T], rtol=1e-12)
    np.testing.assert_allclose(second, whole[:, T:], rtol=1e-12)
    # ... which differs from starting again at zeros, as the non-stateful layer does.
    restart = plain.forward(xs[:, T:])
    assert not np.allclose(restart, second)
    # set_state(h) reproduces the second call from the recorded state (LSTM: with c).
    fresh = getattr(twins, "Time" + kind)(*stateful.params, stateful=True)
    stateful.reset_state()
    stateful.forward(xs[:, :T])
    fresh.set_state(h_last, stateful.c)
    np.testing.assert_allclose(fresh.forward(xs[:, T:]), second, rtol=1e-12)
    # reset_state: back to zeros.
    stateful.reset_state()
    np.testing.assert_allclose(stateful.forward(xs[:, T:]), restart, rtol=1e-12)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_dtype_follows_the_weights(kind, rng):
    """No float32 buffers forced: float64 weights give float64 states and
    gradients; float32 weights stay float32."""
    for dtype in (np.float64, np.float32):
        Wx, Wh, b = (w.astype(dtype) for w in weights(rng, 3, 4, GATES[kind]))
        layer = getattr(twins, "Time" + kind)(Wx, Wh, b)
        hs = layer.forward(randn(rng, 2, 3, 3).astype(dtype))
        dxs = layer.backward(np.ones_like(hs))
        assert hs.dtype == dxs.dtype == dtype
        assert all(g.dtype == dtype for g in layer.grads)


def test_time_embedding(rng):
    xs = np.array([[0, 2, 2], [4, 2, 0]])
    layer = twins.TimeEmbedding(randn(rng, 5, 3))
    check_layer(layer, lambda: (layer.forward(xs),), lambda d: no_input_grad(layer, d),
                [], rng)
    layer.forward(xs)
    dout = randn(rng, 2, 3, 3)
    layer.backward(dout)
    np.testing.assert_allclose(layer.grads[0][2], dout[0, 1] + dout[0, 2] + dout[1, 1])


def test_time_affine(rng):
    x = randn(rng, 2, 3, 4)
    layer = twins.TimeAffine(randn(rng, 4, 5), randn(rng, 5))
    check_layer(layer, lambda: (layer.forward(x),), lambda d: (layer.backward(d[0]),), [x], rng)


def test_time_softmax_with_loss_gradients(rng):
    xs = randn(rng, 2, 3, 4)
    ts = np.array([[0, 3, -1], [2, -1, 1]])
    layer = twins.TimeSoftmaxWithLoss()
    check_layer(layer, lambda: (layer.forward(xs, ts),), lambda d: (layer.backward(d[0]),), [xs],
                rng)


@pytest.mark.parametrize("ignore_label", [-1, 0])
def test_time_softmax_with_loss_ignore_mask(ignore_label, rng):
    N, T, V = 2, 4, 5
    xs = randn(rng, N, T, V)
    ts = rng.integers(1, V, size=(N, T))
    ts[0, 1] = ts[1, 3] = ignore_label
    kept = ts != ignore_label
    layer = twins.TimeSoftmaxWithLoss(ignore_label=ignore_label)
    loss = layer.forward(xs, ts)
    # The mean over the 6 kept targets only (not over all N*T = 8).
    logp = xs - np.log(np.exp(xs).sum(axis=-1, keepdims=True))
    n, t = np.nonzero(kept)
    np.testing.assert_allclose(loss, -logp[n, t, ts[n, t]].mean(), rtol=1e-12)
    # Ignored positions get no gradient, and their logits do not move the loss.
    dxs = layer.backward()
    np.testing.assert_array_equal(dxs[~kept], 0)
    assert np.all(np.abs(dxs[kept]).sum(axis=-1) > 0)
    xs2 = xs.copy()
    xs2[~kept] += 10 * randn(rng, int((~kept).sum()), V)
    np.testing.assert_allclose(layer.forward(xs2, ts), loss, rtol=1e-12)


def test_time_softmax_with_loss_all_ignored(rng):
    layer = twins.TimeSoftmaxWithLoss()
    assert layer.forward(randn(rng, 1, 2, 3), np.full((1, 2), -1)) == 0
    np.testing.assert_array_equal(layer.backward(), 0)


def test_time_dropout(rng):
    xs = randn(rng, 2, 3, 4)
    mask = rng.random(xs.shape) >= 0.4
    layer = twins.TimeDropout(0.4)
    out = layer.forward(xs, mask=mask)
    np.testing.assert_allclose(out, np.where(mask, xs / 0.6, 0), rtol=1e-12)
    check_layer(layer, lambda: (layer.forward(xs, mask=mask),),
                lambda d: (layer.backward(d[0]),), [xs], rng)
    # Evaluation: the identity, no rescaling (the scaling happened in training).
    layer.train_flg = False
    assert layer.forward(xs) is xs and layer.backward(xs) is xs


def test_time_dropout_random_mask_is_inverted():
    layer = twins.TimeDropout(0.3, rng=0)
    out = layer.forward(np.ones((200, 50, 10)))
    assert set(np.unique(out).round(12)) == {0.0, round(1 / 0.7, 12)}
    assert abs((out == 0).mean() - 0.3) < 0.01   # 100k draws: std of the rate ~0.0015
    assert abs(out.mean() - 1.0) < 0.02          # inverted: the expectation is kept


# ---------------------------------------------------------------- against minigrad
@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_same_forward_as_minigrad(kind, rng):
    """The twins and minigrad's layers, built from the same float64 arrays,
    compute the same hidden states (and carried state) from the same h0."""
    import minigrad.layers as L

    N, T, D, H = 2, 5, 3, 4
    Wx, Wh, b = weights(rng, D, H, GATES[kind])
    xs, h0, c0 = randn(rng, N, T, D), randn(rng, N, H), randn(rng, N, H)
    twin = getattr(twins, "Time" + kind)(Wx, Wh, b, stateful=True)
    ours = getattr(L, kind)(Wx=Wx, Wh=Wh, b=b, dtype=np.float64)
    if kind == "LSTM":
        twin.set_state(h0, c0)
        out = ours(xs, h0, c0)
    else:
        twin.set_state(h0)
        out = ours(xs, h0)
    expected = twin.forward(xs)
    assert out.data.dtype == np.float64
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ours.h.data, twin.h, rtol=1e-12, atol=1e-14)
    if kind == "LSTM":
        np.testing.assert_allclose(ours.c.data, twin.c, rtol=1e-12, atol=1e-14)
