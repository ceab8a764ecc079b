"""Why the book's Adam has no exact lazy form (docs/optimizers.md, "Sparse
gradients"): the claims of that derivation, checked.

A row without a gradient for k steps, from its state (p, m, v) after step s,
under the book's rule with g = 0:

    m_{s+j} = b1^j m,   v_{s+j} = b2^j v,
    p_{s+k} = p - m * sum_{j=1..k} lr_{s+j} b1^j / (b2^(j/2) sqrt(v) + eps)

With eps = 0 the sum factors into m / sqrt(v) times a number that depends only
on (s, k): a lazy update could keep that number per step and catch a row up in
O(1). With eps > 0 it is a sum of k simple fractions in sqrt(v) with k
distinct poles, which no fixed number of per-step numbers can give. And in
float32 even the moments' decay is not b1^k m: each step rounds.
"""
import math

import numpy as np

B1, B2, EPS, LR = 0.9, 0.999, 1e-7, 1e-3


def lr_t(t):
    return LR * math.sqrt(1.0 - B2 ** t) / (1.0 - B1 ** t)


def replay(p, m, v, s, k, eps, dtype=np.float64):
    """k steps of the book's Adam with a zero gradient, after step s."""
    p, m, v = (np.array(a, dtype=dtype) for a in (p, m, v))
    for t in range(s + 1, s + k + 1):
        m += (1 - B1) * (0 - m)
        v += (1 - B2) * (0 - v)
        p -= lr_t(t) * m / (np.sqrt(v) + eps)
    return p, m, v


def displacement(m, c, s, k, eps):
    """The closed form's p_s - p_{s+k} for m and c = sqrt(v) (float64)."""
    j = np.arange(1, k + 1)
    lrs = np.array([lr_t(s + i) for i in j])
    return m * np.sum(lrs * B1 ** j / (B2 ** (j / 2) * np.asarray(c)[..., None] + eps), axis=-1)


def test_with_eps_0_the_k_steps_factor_into_one_number_per_step_pair():
    rng = np.random.default_rng(0)
    p, m = rng.standard_normal(50), 1e-3 * rng.standard_normal(50)
    v = 1e-6 * rng.random(50) + 1e-9
    s, k = 37, 400
    got_p, got_m, got_v = replay(p, m, v, s, k, eps=0.0)
    # One number for (s, k), the same for every element: the lazy catch-up.
    j = np.arange(1, k + 1)
    S = sum(lr_t(s + i) * (B1 / math.sqrt(B2)) ** i for i in j)
    np.testing.assert_allclose(got_p, p - m / np.sqrt(v) * S, rtol=1e-12, atol=0)
    np.testing.assert_allclose(got_m, B1 ** k * m, rtol=1e-12)
    np.testing.assert_allclose(got_v, B2 ** k * v, rtol=1e-12)


def test_with_eps_the_displacement_is_the_sum_of_k_fractions():
    rng = np.random.default_rng(1)
    p, m = rng.standard_normal(20), 1e-3 * rng.standard_normal(20)
    v = np.geomspace(1e-16, 1e-6, 20)       # sqrt(v) from 1e-8 to 1e-3, around eps
    s, k = 5, 300
    got_p, _, _ = replay(p, m, v, s, k, eps=EPS)
    np.testing.assert_allclose(p - got_p, displacement(m, np.sqrt(v), s, k, EPS), rtol=1e-10)


def test_with_eps_the_displacement_does_not_factor_into_a_step_part_and_a_row_part():
    # With eps = 0, D_k(c1) / D_k(c2) = c2 / c1 for every k; a lazy form with
    # one per-step number needs exactly that. With eps it moves with k (by a
    # few tenths of a percent here: b1^j leaves only the first ~100 terms,
    # over which b2^(j/2) changes by 5%), far beyond float64 rounding.
    c1, c2, s = 1e-7, 1e-5, 10
    for eps, constant in ((0.0, True), (EPS, False)):
        ratios = [displacement(1.0, c1, s, k, eps) / displacement(1.0, c2, s, k, eps)
                  for k in (1, 10, 100, 1000)]
        spread = max(ratios) / min(ratios) - 1
        assert (spread < 1e-12) if constant else (spread > 1e-3), (eps, ratios)


def test_the_fractions_of_different_steps_are_linearly_independent():
    # The k-th step adds lr b1^k / (b2^(k/2) c + eps): a Cauchy-type function
    # of c with its pole at -eps / b2^(k/2). Distinct poles make the matrix
    # below nonsingular, so r per-step numbers cannot give k > r such terms
    # for every row (every c).
    steps = np.array([1, 700, 1400, 2800])
    c = np.array([2e-8, 1e-7, 5e-7, 3e-6])
    A = 1.0 / (B2 ** (steps[None, :] / 2) * c[:, None] + EPS)
    sv = np.linalg.svd(A / np.abs(A).max(axis=0), compute_uv=False)
    assert sv.min() / sv.max() > 1e-6
    # ... whereas with eps = 0 every column is the same function 1/c, scaled: rank 1.
    A0 = 1.0 / (B2 ** (steps[None, :] / 2) * c[:, None])
    sv0 = np.linalg.svd(A0 / np.abs(A0).max(axis=0), compute_uv=False)
    assert sv0[1] / sv0[0] < 1e-12


def test_in_float32_the_moments_decay_is_not_b1_to_the_k():
    f32 = np.float32
    rng = np.random.default_rng(2)
    m0 = (1e-3 * rng.standard_normal(10_000)).astype(f32)
    m = m0.copy()
    for _ in range(50):
        m += (1 - B1) * (0 - m)             # the book's line, in float32
    closed = (m0.astype(np.float64) * B1 ** 50).astype(f32)
    assert np.mean(m != closed) > 0.1     # rounded differently at many elements
    # ... and far down it never reaches zero: 0.1 * m rounds to 0 once m is a
    # few units of the smallest subnormal, and m stays there for good.
    m = np.full(4, 1e-3, f32)
    for _ in range(1500):
        m += (1 - B1) * (0 - m)
    tiny = np.float32(2.0 ** -149)
    assert np.all(m > 0) and np.all(m <= 5 * tiny)
    assert (np.float64(1e-3) * B1 ** 1500).astype(f32) == 0
