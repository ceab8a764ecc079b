"""Sparse embedding gradients: SparseRows through the engine, the layers and the
optimizers, against the dense path."""
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad.layers import Embedding, Layer, Parameter
from minigrad.optimizers import (SGD, AdaGrad, Adam, ClipGradNorm, Momentum, Nesterov, RMSprop,
                                 WeightDecay)
from test_twins import numerical_grad

IDS = np.array([[3, 1, 3], [0, 3, 1]])  # repeated ids


def _grads(sparse, W0, gy):
    W = mg.Variable(W0.copy())
    F.embedding(W, IDS, sparse=sparse).backward(gy)
    return W.grad


def test_sparse_rows_basics():
    g = mg.SparseRows(np.array([2, 0, 2]), np.arange(6.0).reshape(3, 2), (4, 2))
    dense = np.zeros((4, 2))
    np.add.at(dense, [2, 0, 2], np.arange(6.0).reshape(3, 2))
    np.testing.assert_array_equal(g.to_dense(), dense)
    c = g.coalesced()
    assert c.indices.tolist() == [0, 2]
    np.testing.assert_array_equal(c.to_dense(), dense)
    np.testing.assert_array_equal((g + g).to_dense(), 2 * dense)
    np.testing.assert_array_equal(np.ones((4, 2)) + g, 1 + dense)
    np.testing.assert_array_equal(g + np.ones((4, 2)), 1 + dense)


@pytest.mark.parametrize("n, vocab", [(0, 5), (1, 5), (50, 3), (200, 1000), (64, 64)])
def test_coalesce_equals_a_scatter_into_zeros_bit_for_bit(n, vocab):
    rng = np.random.default_rng(n)
    idx = rng.integers(0, vocab, n)
    rows = (rng.normal(size=(n, 3)) * 10.0 ** rng.integers(-3, 4, (n, 1))).astype(np.float32)
    unique, summed = mg.SparseRows(idx, rows, (vocab, 3)).coalesce()
    dense = np.zeros((vocab, 3), dtype=np.float32)
    np.add.at(dense, idx, rows)
    assert unique.tolist() == sorted(set(idx.tolist()))
    assert summed.dtype == np.float32
    np.testing.assert_array_equal(summed, dense[unique])


def test_sparse_and_dense_embedding_gradients_are_identical():
    rng = np.random.default_rng(0)
    W0, gy = rng.normal(size=(5, 4)), rng.normal(size=(2, 3, 4))
    sparse, dense = _grads(True, W0, gy), _grads(False, W0, gy)
    assert isinstance(sparse, mg.SparseRows) and sparse.shape == (5, 4)
    np.testing.assert_array_equal(sparse.to_dense(), dense.data)


def test_sparse_meets_dense_use_of_the_same_table():
    # Tied weights: the table is looked up sparsely and used densely elsewhere.
    rng = np.random.default_rng(1)
    W0 = rng.normal(size=(5, 4))
    results = []
    for sparse in (True, False):
        W = mg.Variable(W0.copy())
        h = F.embedding(W, IDS, sparse=sparse)  # (2, 3, 4)
        scores = F.matmul(F.reshape(h, (6, 4)), W.T)  # (6, 5), W used densely
        F.sum(scores * scores).backward()
        results.append(W.grad)
    assert isinstance(results[0], mg.Variable)  # sparse + dense is dense
    np.testing.assert_allclose(results[0].data, results[1].data, rtol=1e-13)


# One table, an id four times in one batch: each use below reaches the table in
# a known order (the newest operation first, ties to the one reached first).
TIED_IDS = np.array([3, 1, 3, 3, 0, 3])
TIED_IDS_2 = np.array([0, 3, 3, 2, 0, 4])


def _scatter(ids, rows, shape):
    """rows added into a zero table at ids, repeats adding up."""
    table = np.zeros(shape)
    np.add.at(table, ids, rows)
    return table


def _tied_sparse_then_dense(emb, C):
    # The lookup and W.T are both made from the leaf table; the lookup is
    # reached first, so its sparse rows arrive before the dense matrix.
    return F.sum(C * (emb(TIED_IDS) @ emb.W.T))


def _tied_dense_then_sparse(emb, C):
    # The same loss, with the table a direct input of the newer MatMul: its
    # dense gradient arrives first and the sparse rows are added into it.
    return F.sum(C.T * (emb.W @ emb(TIED_IDS).T))


def _tied_expected(W, C):
    # L = sum_rv C[r, v] <W[ids_r], W[v]>: W[v] gets sum_r C[r, v] W[ids_r]
    # (the dense use) and W[ids_r] gets sum_v C[r, v] W[v] (the lookup).
    return C.T @ W[TIED_IDS] + _scatter(TIED_IDS, C @ W, W.shape)


def _two_lookups(emb, C):
    return F.sum(C[:, :3] * emb(TIED_IDS) * emb(TIED_IDS_2))


def _two_lookups_expected(W, C):
    D = C[:, :3]
    return (_scatter(TIED_IDS, D * W[TIED_IDS_2], W.shape)
            + _scatter(TIED_IDS_2, D * W[TIED_IDS], W.shape))


@pytest.mark.parametrize("loss, expected, dense", [
    (_tied_sparse_then_dense, _tied_expected, True),
    (_tied_dense_then_sparse, _tied_expected, True),
    (_two_lookups, _two_lookups_expected, False),
], ids=["sparse-then-dense", "dense-then-sparse", "two-lookups"])
def test_a_tied_table_sums_its_sparse_and_dense_gradients(loss, expected, dense):
    rng = np.random.default_rng(5)
    emb = Embedding(5, 3, dtype=np.float64, sparse=True, rng=0)
    C = rng.normal(size=(6, 5))
    loss(emb, C).backward()
    g = emb.W.grad
    assert isinstance(g, mg.Variable) == dense     # sparse + sparse stays sparse rows
    g = g.data if dense else g.to_dense()

    np.testing.assert_allclose(g, expected(emb.W.data.copy(), C), rtol=1e-12, atol=1e-14)

    def value():
        with mg.no_grad():
            return float(loss(emb, C).data)

    np.testing.assert_allclose(g, numerical_grad(value, emb.W.data), rtol=1e-7, atol=1e-9)


def test_sparse_gradients_accumulate_across_backward_calls():
    W = mg.Variable(np.zeros((4, 2)))
    F.embedding(W, np.array([1, 2]), sparse=True).sum().backward()
    F.embedding(W, np.array([2, 3]), sparse=True).sum().backward()
    np.testing.assert_array_equal(W.grad.to_dense(), [[0, 0], [1, 1], [2, 2], [1, 1]])


def test_sparse_gradients_are_first_order_only():
    W = mg.Variable(np.ones((4, 2)))
    y = F.embedding(W, np.array([1, 2]), sparse=True).sum()
    with pytest.raises(mg.GraphError, match="sparse=False"):
        y.backward(create_graph=True)


def test_a_sparse_gradient_keeps_the_tables_dtype():
    W = mg.Variable(np.ones((4, 2), np.float32))
    F.embedding(W, np.array([1, 1]), sparse=True).backward(np.ones((2, 2), np.float64))
    assert W.grad.dtype == np.float32


class _Bag(Layer):
    def __init__(self, sparse):
        super().__init__()
        self.emb = Embedding(6, 3, dtype=np.float64, sparse=sparse, rng=0)
        self.w = Parameter(np.linspace(-1, 1, 3))

    def forward(self, ids):
        return F.sum(F.tanh(self.emb(ids)) * self.w)


def _train(optimizer_cls, sparse, steps=4, hooks=(), **kw):
    model = _Bag(sparse)
    opt = optimizer_cls(model, **kw)
    for h in hooks:
        opt.add_hook(h)
    batches = [np.array([[0, 2, 2]]), np.array([[5, 2, 1]]), np.array([[0, 0, 3]]),
               np.array([[4, 5, 5]])]
    for ids in batches[:steps]:
        model.zero_grad()
        model(ids).backward()
        opt.update()
    return model, opt


def test_sgd_with_sparse_gradients_equals_dense_sgd():
    sparse, _ = _train(SGD, True, lr=0.5)
    dense, _ = _train(SGD, False, lr=0.5)
    np.testing.assert_allclose(sparse.emb.W.data, dense.emb.W.data, rtol=0, atol=1e-15)
    np.testing.assert_allclose(sparse.w.data, dense.w.data, rtol=0, atol=1e-15)


def test_clipping_sees_the_dense_norm():
    sparse, opt_s = _train(SGD, True, steps=1, hooks=(ClipGradNorm(0.05),), lr=0.5)
    dense, opt_d = _train(SGD, False, steps=1, hooks=(ClipGradNorm(0.05),), lr=0.5)
    assert opt_s.hooks[0].last_norm == pytest.approx(opt_d.hooks[0].last_norm, rel=1e-14)
    assert opt_s.hooks[0].last_norm > 0.05  # it did clip
    np.testing.assert_allclose(sparse.emb.W.data, dense.emb.W.data, atol=1e-15)


def test_weight_decay_on_a_sparse_gradient_is_lazy_when_asked():
    sparse, _ = _train(SGD, True, steps=1, hooks=(WeightDecay(0.1),), lr=0.5, lazy=True)
    dense, _ = _train(SGD, False, steps=1, hooks=(WeightDecay(0.1),), lr=0.5)
    touched, untouched = [0, 2], [1, 3, 4, 5]
    np.testing.assert_allclose(sparse.emb.W.data[touched], dense.emb.W.data[touched], atol=1e-15)
    start = _Bag(True).emb.W.data
    np.testing.assert_array_equal(sparse.emb.W.data[untouched], start[untouched])
    assert not np.allclose(dense.emb.W.data[untouched], start[untouched])


def test_lazy_adam_matches_dense_on_first_touch_and_leaves_other_rows_alone():
    sparse, opt = _train(Adam, True, steps=1, lr=0.1, lazy=True)
    dense, _ = _train(Adam, False, steps=1, lr=0.1)
    # Step 1: rows without a gradient have zero moments in the dense rule too.
    np.testing.assert_allclose(sparse.emb.W.data, dense.emb.W.data, atol=1e-15)
    sparse, opt = _train(Adam, True, steps=2, lr=0.1, lazy=True)
    dense, _ = _train(Adam, False, steps=2, lr=0.1)
    # Step 2 looks up rows 5, 2, 1: row 0 (seen at step 1 only) keeps moving in the
    # dense rule (its moments are non-zero) but stays put in the lazy one.
    after_one, _ = _train(Adam, True, steps=1, lr=0.1, lazy=True)
    np.testing.assert_array_equal(sparse.emb.W.data[0], after_one.emb.W.data[0])
    assert not np.allclose(dense.emb.W.data[0], after_one.emb.W.data[0])
    m = opt.state_of(sparse.emb.W)["m"]
    assert np.all(m[[3, 4]] == 0) and np.any(m[[0, 1, 2, 5]] != 0)


def test_lazy_momentum_state_is_updated_on_touched_rows_only():
    model, opt = _train(Momentum, True, steps=2, lr=0.1, lazy=True)
    v = opt.state_of(model.emb.W)["v"]
    assert np.all(v[[3, 4]] == 0) and np.all(np.any(v[[0, 1, 2, 5]] != 0, axis=1))


# ---------------------------------------------------------------- the dense rule on sparse rows
ALL_RULES = [(SGD, {"lr": 0.5}), (Momentum, {"lr": 0.1}), (Nesterov, {"lr": 0.1}),
             (AdaGrad, {"lr": 0.1}), (RMSprop, {"lr": 0.1}), (Adam, {"lr": 0.1})]


@pytest.mark.parametrize("cls, kw", ALL_RULES, ids=[c.__name__ for c, _ in ALL_RULES])
def test_every_rule_on_sparse_rows_gives_the_dense_numbers(cls, kw):
    # Rows 1, 3 and 4 go untouched for steps: their state must decay (and their
    # values move) exactly as with a dense gradient.
    sparse, _ = _train(cls, True, **kw)
    dense, _ = _train(cls, False, **kw)
    np.testing.assert_array_equal(sparse.emb.W.data, dense.emb.W.data)
    np.testing.assert_array_equal(sparse.w.data, dense.w.data)


def test_weight_decay_on_a_sparse_gradient_decays_every_row_by_default():
    sparse, _ = _train(Adam, True, hooks=(WeightDecay(0.1), ClipGradNorm(0.05)), lr=0.1)
    dense, _ = _train(Adam, False, hooks=(WeightDecay(0.1), ClipGradNorm(0.05)), lr=0.1)
    np.testing.assert_array_equal(sparse.emb.W.data, dense.emb.W.data)


def _book_adam(p, m, v, g, t, lr, beta1=0.9, beta2=0.999):
    """The book's Adam.update, for one parameter (common/optimizer.py)."""
    lr_t = lr * math.sqrt(1.0 - beta2 ** t) / (1.0 - beta1 ** t)
    m += (1 - beta1) * (g - m)
    v += (1 - beta2) * (g ** 2 - v)
    p -= lr_t * m / (np.sqrt(v) + 1e-7)


def test_adam_on_sparse_rows_is_the_books_adam_bit_for_bit_in_float32():
    rng = np.random.default_rng(7)
    V, D = 40, 6
    start = (0.01 * rng.standard_normal((V, D))).astype(np.float32)
    W = Parameter(start.copy())
    opt = Adam([W], lr=0.01)
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t in range(1, 1001):
        # Rows 0-9 are looked up often, rows 30-39 never after step 50: their
        # moments decay for 950 steps, m into float32's subnormal range.
        high = V if t <= 50 else 30
        ids = rng.integers(0, high, 12) if t % 3 else rng.integers(0, 10, 12)
        rows = rng.standard_normal((12, D)).astype(np.float32)
        W.grad = mg.SparseRows(ids, rows, (V, D))
        opt.update()
        _book_adam(p, m, v, mg.SparseRows(ids, rows, (V, D)).to_dense(), t, lr=0.01)
    assert np.array_equal(W.data, p)
    assert np.array_equal(opt.state_of(W)["m"], m) and np.array_equal(opt.state_of(W)["v"], v)
    # Decayed (the lazy rule would have left them as they were), down to subnormals.
    assert np.all(np.abs(m[30:]) < np.finfo(np.float32).tiny)


def test_adam_dense_gradient_is_the_books_adam_bit_for_bit_in_float32():
    rng = np.random.default_rng(8)
    start = rng.standard_normal((5, 4)).astype(np.float32)
    W = Parameter(start.copy())
    opt = Adam([W], lr=0.02)
    p, m, v = start.copy(), np.zeros_like(start), np.zeros_like(start)
    for t in range(1, 30):
        g = rng.standard_normal((5, 4)).astype(np.float32)
        W.grad = mg.Variable(g.copy())
        opt.update()
        _book_adam(p, m, v, g, t, lr=0.02)
    assert np.array_equal(W.data, p)


def test_a_lazy_state_is_not_resumed_by_a_dense_rule():
    model, opt = _train(Adam, True, steps=2, lr=0.1, lazy=True)
    with pytest.raises(mg.MinigradError, match="lazy=True.*lazy=False"):
        Adam(model, lr=0.1).load_state_dict(opt.state_dict())


# ---------------------------------------------------------------- on each backend
@pytest.mark.parametrize("sparse", [True, False])
def test_repeated_ids_add_up_on_each_backend(sparse, xp):
    # Repeated ids need a scatter that adds (np.add.at on the CPU); on a device
    # it must be the device's own (cupyx.scatter_add): numpy's refuses its arrays.
    W0 = np.random.default_rng(0).standard_normal((4, 2))
    gy = np.random.default_rng(1).standard_normal(IDS.shape + (2,))
    W = mg.Variable(xp.asarray(W0))
    F.embedding(W, xp.asarray(IDS), sparse=sparse).backward(xp.asarray(gy))
    g = W.grad
    dense = g.to_dense() if sparse else g.data
    assert mg.get_array_module(dense) is xp
    expected = _grads(False, W0, gy).data
    np.testing.assert_allclose(mg.to_cpu(dense), expected, rtol=1e-12)
    if sparse:     # coalescing and adding into a dense table scatter too
        np.testing.assert_allclose(mg.to_cpu(g.coalesced().to_dense()), expected, rtol=1e-12)
        np.testing.assert_allclose(mg.to_cpu(g + xp.zeros((4, 2))), expected, rtol=1e-12)
