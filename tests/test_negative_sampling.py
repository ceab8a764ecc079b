"""UnigramSampler and NegativeSamplingLoss (word2vec's negative sampling)."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import minigrad as mg
from minigrad.errors import DTypeError, ShapeError
from minigrad.layers import NegativeSamplingLoss, UnigramSampler
from minigrad.layers import negative_sampling as ns
from minigrad.layers.negative_sampling import negative_sampling_loss
from minigrad.testing import gradcheck


# ---------------------------------------------------------------- helpers
def chi2_limit(dof: int, z: float = 4.75) -> float:
    """Upper chi-square quantile (about 1 - 1e-6) by Wilson-Hilferty: no scipy."""
    a = 2.0 / (9.0 * dof)
    return dof * (1.0 - a + z * np.sqrt(a)) ** 3


def chi2(observed, expected) -> float:
    observed, expected = np.asarray(observed, float), np.asarray(expected, float)
    return float(((observed - expected) ** 2 / expected).sum())


def successive_probs(p, target, k):
    """Exact probability of every ordered k-tuple of distinct non-target words
    under successive sampling without replacement (the book's choice(replace=False))."""
    p = np.asarray(p, float).copy()
    p[target] = 0.0
    out = {}
    for tup in itertools.permutations(np.flatnonzero(p), k):
        prob, left = 1.0, p.copy()
        for w in tup:
            prob *= left[w] / left.sum()
            left[w] = 0.0
        out[tup] = prob
    return out


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def book_loss(h, W, target, negatives):
    """The book's NegativeSamplingLoss.forward in plain numpy: per term, the
    batch mean of the binary cross-entropy, summed over positive + negatives."""
    N = len(target)
    score = np.sum(h * W[target], axis=1)
    loss = -np.sum(np.log(sigmoid(score))) / N
    for j in range(negatives.shape[1]):
        score = np.sum(h * W[negatives[:, j]], axis=1)
        loss += -np.sum(np.log(1.0 - sigmoid(score))) / N
    return loss


def book_grads(h, W, target, negatives):
    """dL/dh and dL/dW of book_loss: (sigmoid(s) - label) / N per term."""
    N = len(target)
    ids = np.concatenate([target[:, None], negatives], axis=1)
    labels = np.zeros(ids.shape)
    labels[:, 0] = 1
    rows = W[ids]                                      # (N, 1 + k, D)
    g = (sigmoid(np.einsum("nd,nkd->nk", h, rows)) - labels) / N
    gh = np.einsum("nk,nkd->nd", g, rows)
    gW = np.zeros_like(W)
    np.add.at(gW, ids, g[:, :, None] * h[:, None, :])
    return gh, gW


ZIPF = (10000 / np.arange(1, 51)).astype(np.int64)  # 50 words, id 0 the most frequent


# ---------------------------------------------------------------- the sampler
@st.composite
def vocab_and_targets(draw):
    V = draw(st.integers(2, 30))
    counts = np.array(draw(st.lists(st.integers(0, 1000), min_size=V, max_size=V)), float)
    n_words = int((counts > 0).sum())
    if n_words < 2:  # make two words occur: the smallest case a sampler accepts
        counts[:2] = [1.0, 1.0]
        n_words = int((counts > 0).sum())
    if draw(st.booleans()):  # skewed: one word holds almost all the mass
        counts[draw(st.integers(0, V - 1))] = 1e9
        n_words = int((counts > 0).sum())
    k = draw(st.integers(1, n_words - 1))
    favourite = int(np.argmax(counts))
    targets = draw(st.lists(st.one_of(st.just(favourite), st.integers(0, V - 1)),
                            min_size=0, max_size=40))
    return counts, k, np.array(targets, dtype=np.int64), draw(st.integers(0, 2**32 - 1))


@given(vocab_and_targets())
def test_sampler_never_returns_the_target_and_never_repeats_a_word(case):
    counts, k, targets, seed = case
    neg = UnigramSampler(counts=counts, sample_size=k, rng=seed).sample(targets)
    assert neg.shape == targets.shape + (k,)
    assert neg.dtype.kind == "i"
    assert not (neg == targets[:, None]).any()
    assert (counts[neg] > 0).all()                      # words that never occur: never drawn
    for row in neg:
        assert len(set(row.tolist())) == k              # without replacement within a row


def test_sampler_takes_a_corpus_and_any_target_shape():
    corpus = np.array([0, 1, 1, 2, 2, 2, 3, 3, 3, 3])
    s = UnigramSampler(corpus, sample_size=2, rng=0, vocab_size=6)
    np.testing.assert_allclose(s.counts, [1, 2, 3, 4, 0, 0])
    np.testing.assert_allclose(s.word_p, s.counts ** 0.75 / (s.counts ** 0.75).sum())
    t = np.array([[0, 3, 3], [1, 2, 0]])
    neg = s.sample(t)
    assert neg.shape == (2, 3, 2) and neg.flags.c_contiguous
    assert not (neg == t[..., None]).any()
    assert s.sample(np.zeros((0,), dtype=np.int64)).shape == (0, 2)


def test_first_negative_follows_count_to_the_075_without_the_target():
    # The first slot of a row is one draw from p with the target removed; the
    # target is the most probable word, so leaving it in would be caught at once.
    s = UnigramSampler(counts=ZIPF, sample_size=3, rng=1)
    first = s.sample(np.zeros(40000, dtype=np.int64))[:, 0]
    observed = np.bincount(first, minlength=len(ZIPF))[1:]
    assert np.bincount(first, minlength=len(ZIPF))[0] == 0

    def expected(power):
        p = ZIPF[1:].astype(float) ** power
        return len(first) * p / p.sum()

    limit = chi2_limit(len(ZIPF) - 2)
    assert chi2(observed, expected(0.75)) < limit
    # The test has the power to see a wrong exponent (plain unigram counts).
    assert chi2(observed, expected(1.0)) > limit


@pytest.mark.parametrize("max_rounds", [ns._MAX_ROUNDS, 1, 0])
def test_joint_distribution_is_the_books_sampling_without_replacement(max_rounds, monkeypatch):
    # Every ordered pair of negatives, against successive sampling without
    # replacement. max_rounds 0 and 1 send rows through the exact finishing step.
    monkeypatch.setattr(ns, "_MAX_ROUNDS", max_rounds)
    counts = np.array([40.0, 12.0, 5.0, 2.0, 1.0])
    k, n = 2, 30000
    s = UnigramSampler(counts=counts, sample_size=k, rng=7)
    for target in (0, 3):
        neg = s.sample(np.full(n, target))
        probs = successive_probs(counts ** 0.75, target, k)
        cells = list(probs)
        seen = {c: 0 for c in cells}
        for row in map(tuple, neg.tolist()):
            seen[row] += 1                              # KeyError: an impossible pair
        stat = chi2([seen[c] for c in cells], [n * probs[c] for c in cells])
        assert stat < chi2_limit(len(cells) - 1), (target, stat)


def test_tiny_skewed_vocabulary_still_excludes_the_target_fast():
    # Almost all mass on word 0 and every other word needed in each row: plain
    # rejection would take ~1e9 redraws per row; the finishing step takes none.
    s = UnigramSampler(counts=[1e12, 1, 1, 1, 1, 1], sample_size=5, rng=0)
    t = np.array([0, 1, 2, 3, 4, 5] * 50)
    neg = s.sample(t)
    assert (np.sort(np.concatenate([neg, t[:, None]], axis=1), axis=1) == np.arange(6)).all()
    # Where word 0 may be drawn it comes first in (nearly) every row.
    assert (neg[t != 0, 0] == 0).all()


def test_sampler_seeding():
    t = np.arange(100) % 20
    a = UnigramSampler(counts=ZIPF, rng=3).sample(t)
    b = UnigramSampler(counts=ZIPF, rng=np.random.default_rng(3)).sample(t)
    c = UnigramSampler(counts=ZIPF, rng=4).sample(t)
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()
    # Default: minigrad's generator, read at each draw, so a later seed counts.
    s = UnigramSampler(counts=ZIPF)
    mg.random.seed(11)
    d = s.sample(t)
    mg.random.seed(11)
    np.testing.assert_array_equal(d, s.sample(t))
    assert (s.sample(t) != d).any()                     # the stream moves on


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(counts=[5.0]), ValueError, "vocabulary has 1"),
    (dict(counts=[1, 2, 3], sample_size=3), ValueError, "sample_size=3 needs at least 4"),
    (dict(counts=[1, 0, 0, 3], sample_size=2), ValueError, "vocabulary has 2"),
    (dict(counts=[1, 2, 3], sample_size=0), ValueError, "positive integer"),
    (dict(counts=[1, -2, 3]), ValueError, "non-negative"),
    (dict(counts=[[1, 2], [3, 4]]), ShapeError, "1-D"),
    (dict(corpus=[0.5, 1.0]), DTypeError, "integer word ids"),
    (dict(corpus=[0, 1], counts=[1, 1]), ValueError, "not both"),
    (dict(), ValueError, "neither"),
])
def test_sampler_errors(kwargs, error, match):
    with pytest.raises(error, match=match):
        UnigramSampler(**kwargs)


def test_sampler_rejects_bad_targets():
    s = UnigramSampler(counts=[1, 2, 3], sample_size=1)
    with pytest.raises(IndexError, match="target 3 is out of range"):
        s.sample(np.array([0, 3]))
    with pytest.raises(DTypeError, match="integer"):
        s.sample(np.array([0.0]))


# ---------------------------------------------------------------- the loss
def fixed_case(N=6, V=8, D=4, k=3, seed=0):
    rng = np.random.default_rng(seed)
    h = rng.standard_normal((N, D))
    W = rng.standard_normal((V, D))
    target = rng.integers(0, V, N)
    negatives = np.stack([rng.choice(np.delete(np.arange(V), t), k, replace=False)
                          for t in target])
    return h, W, target, negatives


def test_loss_is_the_books_sum_of_per_term_batch_means():
    h, W, target, negatives = fixed_case()
    layer = NegativeSamplingLoss(W, sample_size=3, dtype=np.float64)
    loss = layer(mg.Variable(h), target, negatives=negatives)
    assert loss.shape == () and loss.dtype == np.float64
    np.testing.assert_allclose(loss.data, book_loss(h, W, target, negatives), rtol=1e-12)
    # Not the mean over all 1 + k terms (what sigmoid_cross_entropy alone gives).
    assert abs(float(loss.data) - book_loss(h, W, target, negatives) / 4) > 0.1


def test_loss_gradients_match_the_books_and_numerical_ones():
    h, W, target, negatives = fixed_case()
    layer = NegativeSamplingLoss(W, dtype=np.float64)
    hv = mg.Variable(h)
    layer(hv, target, negatives=negatives).backward()
    gh, gW = book_grads(h, W, target, negatives)
    np.testing.assert_allclose(hv.grad.data, gh, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(layer.W.grad.data, gW, rtol=1e-10, atol=1e-12)
    assert gradcheck(lambda h_, W_: negative_sampling_loss(h_, W_, target, negatives), h, W)


def test_duplicate_ids_accumulate_into_W_grad():
    # Word 1 is a target twice and a negative of two other rows; word 2 is a
    # negative in every row: each must receive the sum of all its terms.
    h, W, _, _ = fixed_case(N=4, V=5, D=3)
    target = np.array([1, 1, 0, 3])
    negatives = np.array([[2, 4], [2, 0], [2, 1], [2, 1]])
    layer = NegativeSamplingLoss(W, dtype=np.float64)
    layer(h, target, negatives=negatives).backward()
    _, gW = book_grads(h, W, target, negatives)
    np.testing.assert_allclose(layer.W.grad.data, gW, rtol=1e-10, atol=1e-12)
    # Rows used once would miss most of their gradient if duplicates overwrote.
    assert abs(gW[2]).sum() > 0 and np.allclose(gW[2], sum(
        book_grads(h[i:i + 1], W, target[i:i + 1], negatives[i:i + 1])[1][2] for i in range(4)) / 4)


def test_extreme_scores_give_a_finite_loss_and_the_exact_gradient():
    # Every score is wrong by 100: positive -100, negatives +100.
    N, k, D = 3, 2, 2
    W = np.array([[10.0, 0.0], [-10.0, 0.0], [-10.0, 0.0], [-10.0, 0.0]])
    h = np.tile([-10.0, 0.0], (N, 1))
    target = np.zeros(N, dtype=np.int64)
    negatives = np.array([[1, 2], [2, 3], [3, 1]])
    layer = NegativeSamplingLoss(W, dtype=np.float64)
    hv = mg.Variable(h)
    loss = layer(hv, target, negatives=negatives)
    loss.backward()
    np.testing.assert_allclose(loss.data, 100.0 * (1 + k), rtol=1e-12)
    # d ce / d score = sigmoid(s) - label = -1 for the positive, +1 per negative.
    np.testing.assert_allclose(hv.grad.data, (-W[0] + k * W[1]) / N * np.ones((N, 1)), rtol=1e-12)
    assert np.isfinite(layer.W.grad.data).all()
    np.testing.assert_allclose(layer.W.grad.data[0], -h.sum(0) / N, rtol=1e-12)
    # And in float32, with every score right by 100: loss ~ 0, finite.
    right = NegativeSamplingLoss(-W, dtype=np.float32)
    hv32 = mg.Variable(h.astype(np.float32))
    out = right(hv32, target, negatives=negatives)
    out.backward()
    assert out.dtype == np.float32 and 0.0 <= float(out.data) < 1e-30
    assert hv32.grad.dtype == np.float32 and right.W.grad.dtype == np.float32
    assert np.isfinite(hv32.grad.data).all() and np.isfinite(right.W.grad.data).all()


def test_layer_draws_its_negatives_reproducibly_and_never_the_target():
    corpus = np.random.default_rng(0).zipf(1.5, 5000) % 30
    target = np.arange(30)
    a = NegativeSamplingLoss((30, 8), sample_size=4, corpus=corpus, rng=5)
    b = NegativeSamplingLoss((30, 8), sample_size=4, corpus=corpus, rng=5)
    np.testing.assert_array_equal(a.W.data, b.W.data)
    assert a.W.dtype == np.float32 and 0 < np.abs(a.W.data).max() < 0.1  # 0.01 * normal
    h = np.ones((30, 8), dtype=np.float32)
    np.testing.assert_array_equal(a(h, target).data, b(h, target).data)
    neg = a.sampler.sample(target)
    assert neg.shape == (30, 4) and not (neg == target[:, None]).any()
    # The layer's loss with its own draw equals the loss with those negatives given.
    c = NegativeSamplingLoss((30, 8), sample_size=4, corpus=corpus, rng=6)
    c2 = NegativeSamplingLoss((30, 8), sample_size=4, corpus=corpus, rng=6)  # c's twin
    drawn = c2.sampler.sample(target)
    np.testing.assert_array_equal(c(h, target).data, c(h, target, negatives=drawn).data)
    assert [name for name, _ in a.named_params()] == ["W"]


def test_loss_errors():
    layer = NegativeSamplingLoss((5, 3))
    h = np.zeros((2, 3), dtype=np.float32)
    with pytest.raises(ValueError, match="no sampler"):
        layer(h, np.array([0, 1]))
    with pytest.raises(ShapeError, match="need h of shape"):
        layer(np.zeros((2, 4), dtype=np.float32), np.array([0, 1]), negatives=np.ones((2, 1), int))
    with pytest.raises(ShapeError, match="negatives of shape"):
        layer(h, np.array([0, 1]), negatives=np.array([1, 2]))
    with pytest.raises(DTypeError, match="integers"):
        layer(h, np.array([0.0, 1.0]), negatives=np.array([[1], [2]]))
    with pytest.raises(IndexError, match="out of range"):
        layer(h, np.array([0, 1]), negatives=np.array([[1], [7]]))
    with pytest.raises(ShapeError, match="2-D"):
        NegativeSamplingLoss(np.zeros(5))
    with pytest.raises(ValueError, match="vocab_size=5"):
        NegativeSamplingLoss((5, 3), corpus=[0, 9])


@pytest.mark.parametrize("sparse", [False, True], ids=["dense", "sparse"])
def test_the_rows_of_targets_and_negatives_have_the_gradient_of_the_embedding_lookup(sparse):
    from minigrad.testing import gradcheck, gradgradcheck
    W = np.random.default_rng(0).normal(size=(5, 3))
    target, negatives = np.array([0, 2, 2]), np.array([[2, 4], [1, 2], [0, 0]])   # repeats

    def rows(W):
        return ns.PositiveAndNegativeRows(target, negatives, sparse).apply(W)
    assert gradcheck(rows, W)
    if not sparse:
        assert gradgradcheck(rows, W)
    ids = np.concatenate([target[:, None], negatives], axis=1)
    table = mg.Variable(W)
    y = rows(table)
    np.testing.assert_array_equal(y.data, W[ids])
    y.backward(np.ones(y.shape))
    grad = table.grad.to_dense() if sparse else table.grad.data
    np.testing.assert_array_equal(grad, np.bincount(ids.ravel(), minlength=5)[:, None] * np.ones(3))
