"""Every operation in F.__all__ against numerical gradients, in float64.

Inputs come from minigrad.testing.strategies so the checks stay meaningful:
broadcast-compatible shapes for the binary ops, tie-free arrays for max/min,
kink-free arrays for relu/clip, duplicate indices for gathers. REGISTRY maps
each op to its tests; test_every_op_has_a_gradient_test fails when an op is
added without one.
"""
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
import minigrad.functions as F
from minigrad.testing import gradcheck, gradgradcheck
from minigrad.testing import strategies as mst
from op_cases import CASES, UNARY


def examples(n):
    """n examples under the default profile, scaled with HYPOTHESIS_PROFILE."""
    return max(1, n * settings.default.max_examples // 100)


fast = settings(max_examples=examples(20), deadline=None)

REGISTRY = {}           # op name -> names of the tests that check its gradient
SECOND_ORDER = set()    # ops whose tests also run gradgradcheck


def covers(*ops, second_order=False):
    def mark(test):
        for op in ops:
            REGISTRY.setdefault(op, []).append(test.__name__)
            if second_order:
                SECOND_ORDER.add(op)
        return test
    return mark


def check(f, *inputs, second_order=False):
    assert gradcheck(f, *inputs)
    if second_order:
        # Full second-order checks cost two create_graph passes per element;
        # past a few dozen elements random directions find the same bugs.
        size = sum(np.size(x) for x in inputs if np.asarray(x).dtype.kind == "f")
        assert gradgradcheck(f, *inputs, mode="full" if size <= 24 else "directional")


shapes = hnp.array_shapes(min_dims=1, max_dims=3, max_side=3)


def axes_of(ndim):
    """None, one axis (maybe negative) or a tuple of distinct axes."""
    return st.one_of(st.none(), st.integers(-ndim, ndim - 1),
                     st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim,
                              unique=True).map(tuple))


def np_softmax(x, axis=-1):
    e = np.exp(x - x.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def np_sigmoid(x):
    """Split by sign, so neither branch's exp can overflow."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def np_sum_to(g, shape):
    """Sum ``g`` down to the ``shape`` it was broadcast from."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and g.shape[lead + i] != 1)
    return g.sum(axis=axes, keepdims=True).reshape(shape)


# ------------------------------------------------------------------ arithmetic
BINARY = {"add": F.add, "sub": F.sub, "mul": F.mul, "div": F.div}


@covers("add", "sub", "mul", "div", second_order=True)
@pytest.mark.parametrize("name", sorted(BINARY))
@fast
@given(shapes=mst.broadcastable_shapes(2), data=st.data())
def test_binary_ops_broadcast(name, shapes, data):
    a = data.draw(mst.finite_arrays(shapes[0]), label="a")
    if name == "div":  # keep the denominator away from its pole
        b = data.draw(mst.kink_free_arrays(shapes[1], kinks=(0.0,), margin=0.5), label="b")
    else:
        b = data.draw(mst.finite_arrays(shapes[1]), label="b")
    check(BINARY[name], a, b, second_order=True)


@covers("add", "sub", "mul", "div", "neg")
def test_arithmetic_with_constants_and_operators():
    x = np.array([[0.7, -1.3, 2.0], [1.1, 0.6, -0.9]])
    c = mg.Variable(np.array([0.5, 2.0, -1.5]), requires_grad=False)
    check(lambda x: 2.5 * x - 1.0, x, second_order=True)
    check(lambda x: 1.0 / x + x / 3.0, x, second_order=True)
    check(lambda x: -x * c + (c - x), x, second_order=True)
    check(lambda x: F.div(c, x), x, second_order=True)


@covers(*UNARY, second_order=True)
@pytest.mark.parametrize("name", sorted(UNARY))
@fast
@given(data=st.data())
def test_unary_ops(name, data):
    f, inputs = UNARY[name]
    check(f, data.draw(inputs, label="x"), second_order=True)


@covers("relu", "clip")
def test_relu_and_clip_pass_gradient_only_inside():
    x = mg.Variable(np.array([-2.0, -0.5, 0.25, 0.75, 3.0]))
    F.relu(x).backward(np.ones(5))
    np.testing.assert_array_equal(x.grad.data, x.data > 0)
    x.cleargrad()
    F.clip(x, -1.0, 0.5).backward(np.ones(5))
    np.testing.assert_array_equal(x.grad.data, (x.data >= -1) & (x.data <= 0.5))


@covers("clip")
@pytest.mark.parametrize("lo, hi", [(-1.0, 0.5), (0.5, 0.5), (None, 0.5), (-1.0, None)])
def test_clip_passes_the_gradient_at_its_bounds(lo, hi):
    # The documented rule is lo <= x <= hi: a value sitting exactly on a bound
    # (a clipped one, clipped again) still gets its gradient; one ulp outside does not.
    below, above = -np.inf if lo is None else lo, np.inf if hi is None else hi
    points = [np.nextafter(below, -np.inf), below, above, np.nextafter(above, np.inf)]
    x = np.array([p for p in points if np.isfinite(p)])
    passes = np.array([p in (below, above) for p in points if np.isfinite(p)])
    gy = np.linspace(1.0, 2.0, x.size)
    v = mg.Variable(x)
    F.clip(v, lo, hi).backward(gy)
    np.testing.assert_array_equal(v.grad.data, np.where(passes, gy, 0.0))


@covers("abs", "leaky_relu")
@fast
@given(x=hnp.arrays(np.float64, shapes, elements=st.sampled_from([-1.5, -0.0, 0.0, 2.0])),
       slope=st.sampled_from([0.0, 0.01, 0.2, 1.5]))
def test_abs_and_leaky_relu_at_their_kink(x, slope):
    # At exactly 0 abs's gradient is 0 (sign(0)) and leaky_relu's is its slope.
    v = mg.Variable(x)
    F.abs(v).backward(np.ones(x.shape))
    np.testing.assert_array_equal(v.grad.data, np.sign(x))
    v.cleargrad()
    y = F.leaky_relu(v, slope)
    y.backward(np.ones(x.shape))
    np.testing.assert_array_equal(v.grad.data, np.where(x > 0, 1.0, slope))
    np.testing.assert_array_equal(y.data, np.where(x > 0, x, slope * x))


@covers("leaky_relu", second_order=True)
@fast
@given(x=mst.kink_free_arrays(kinks=(0.0,)), slope=st.sampled_from([0.01, 0.2, -0.5]))
def test_leaky_relu_with_any_slope(x, slope):
    check(lambda x: F.leaky_relu(x, slope), x, second_order=True)
    assert F.leaky_relu(x.astype(np.float32), slope).dtype == np.float32


# a from [2k, 2k + 0.9], b from [2k + 1, 2k + 1.9]: never within 0.1 of each other
APART_A = st.one_of(*[st.floats(2.0 * k, 2.0 * k + 0.9) for k in range(-2, 2)])
APART_B = st.one_of(*[st.floats(2.0 * k + 1, 2.0 * k + 1.9) for k in range(-2, 2)])


@covers("maximum", "minimum", second_order=True)
@pytest.mark.parametrize("op", [F.maximum, F.minimum])
@fast
@given(shapes=mst.broadcastable_shapes(2), swap=st.booleans(), data=st.data())
def test_maximum_and_minimum_without_ties(op, shapes, swap, data):
    a = data.draw(hnp.arrays(np.float64, shapes[0], elements=APART_A), label="a")
    b = data.draw(hnp.arrays(np.float64, shapes[1], elements=APART_B), label="b")
    a, b = (b, a) if swap else (a, b)
    check(op, a, b, second_order=True)


@covers("maximum", "minimum")
@pytest.mark.parametrize("op, wins", [(F.maximum, np.greater), (F.minimum, np.less)])
@fast
@given(shapes=mst.broadcastable_shapes(2), data=st.data())
def test_maximum_and_minimum_split_a_tie_in_half(op, wins, shapes, data):
    few = st.sampled_from([-1.0, 0.0, 1.0])     # ties everywhere
    a = data.draw(hnp.arrays(np.float64, shapes[0], elements=few), label="a")
    b = data.draw(hnp.arrays(np.float64, shapes[1], elements=few), label="b")
    va, vb = mg.Variable(a), mg.Variable(b)
    y = op(va, vb)
    gz = np.arange(1.0, y.size + 1).reshape(y.shape)
    y.backward(gz)
    share = np.where(wins(a, b), 1.0, np.where(a == b, 0.5, 0.0))
    np.testing.assert_array_equal(y.data, np.maximum(a, b) if op is F.maximum else np.minimum(a, b))
    np.testing.assert_allclose(va.grad.data, np_sum_to(gz * share, a.shape), rtol=1e-15)
    np.testing.assert_allclose(vb.grad.data, np_sum_to(gz * (1 - share), b.shape), rtol=1e-15)


@covers("where", second_order=True)
@fast
@given(shapes=mst.broadcastable_shapes(3), data=st.data())
def test_where(shapes, data):
    cond = data.draw(hnp.arrays(np.bool_, shapes[0]), label="cond")
    a = data.draw(mst.finite_arrays(shapes[1]), label="a")
    b = data.draw(mst.finite_arrays(shapes[2]), label="b")
    check(lambda a, b: F.where(cond, a, b), a, b, second_order=True)
    np.testing.assert_array_equal(F.where(cond, mg.Variable(a), b).data, np.where(cond, a, b))


@covers("where")
def test_where_takes_a_comparison_and_numbers():
    x = mg.Variable(np.array([-2.0, 0.5, 3.0], dtype=np.float32))
    y = F.where(x > 0.6, x, 0.5)                # 0.5 takes x's dtype, not the mask's
    assert y.dtype == np.float32 and y.data.tolist() == [0.5, 0.5, 3.0]
    y.backward(np.ones(3, dtype=np.float32))
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 1.0])


@covers("sigmoid")
def test_sigmoid_keeps_relative_precision_in_the_left_tail():
    x = np.array([-20.0, -36.0, -40.0, -100.0])
    np.testing.assert_allclose(F.sigmoid(x).data, np_sigmoid(x), rtol=1e-12)


@covers("pow", second_order=True)
@pytest.mark.parametrize("c", [2, 3, 0.5, -1, -2.5, 1.5, 1, 0])
@fast
@given(x=mst.finite_arrays(min_value=0.3, max_value=2.5))
def test_pow(c, x):
    check(lambda x: F.pow(x, c), x, second_order=True)
    check(lambda x: x ** c, x)


@covers("astype", "copy")
@fast
@given(x=mst.finite_arrays())
def test_astype_and_copy(x):
    check(lambda x: F.astype(x, np.float64), x, second_order=True)
    check(lambda x: F.copy(x) * F.copy(x), x)


@covers("astype")
@pytest.mark.parametrize("src, dst", [(np.float32, np.float64), (np.float64, np.float32)])
def test_astype_gradient_comes_back_in_the_input_dtype(src, dst):
    x = mg.Variable(np.array([0.5, -1.25, 2.0], dtype=src))
    w = np.array([1.5, -2.0, 0.25])
    y = F.astype(x, dst)
    assert y.dtype == dst
    y.backward(w.astype(dst))
    assert x.grad.dtype == src
    np.testing.assert_array_equal(x.grad.data, w.astype(src))


@covers("astype")
def test_astype_round_trip_through_float32_is_differentiable():
    # float32 rounds a 1e-6 step away; a coarse step keeps the check meaningful.
    x = np.array([0.3, -1.7, 2.2])
    f = lambda x: F.astype(F.astype(x, np.float32), np.float64) ** 2  # noqa: E731
    assert gradcheck(f, x, eps=1e-2, atol=1e-3, rtol=1e-3)


# ------------------------------------------------------------------ linear algebra
dims = st.integers(1, 3)


@covers("matmul", second_order=True)
@fast
@given(n=dims, t=dims, d=dims, h=dims, batched=st.booleans(), data=st.data())
def test_matmul_batch_times_matrix(n, t, d, h, batched, data):
    x = data.draw(mst.finite_arrays((n, t, d) if batched else (n, d)), label="x")
    w = data.draw(mst.finite_arrays((d, h)), label="w")
    check(F.matmul, x, w, second_order=True)


@covers("matmul")
@fast
@given(b=dims, t=dims, d=dims, h=dims, data=st.data())
def test_matmul_batched_and_vector_operands(b, t, d, h, data):
    draw = lambda shape: data.draw(mst.finite_arrays(shape))  # noqa: E731
    check(F.matmul, draw((b, t, d)), draw((b, d, h)))
    check(F.matmul, draw((1, t, d)), draw((b, d, h)))  # broadcast batch axis
    check(F.matmul, draw((d,)), draw((d, h)))
    check(F.matmul, draw((t, d)), draw((d,)))
    check(F.matmul, draw((d,)), draw((d,)))                # a scalar, as numpy's
    assert F.matmul(draw((d,)), draw((b, d, h))).shape == (b, h)


@covers("linear", second_order=True)
@fast
@given(n=dims, t=dims, d=dims, h=dims, batched=st.booleans(), bias=st.booleans(),
       transposed=st.booleans(), data=st.data())
def test_linear(n, t, d, h, batched, bias, transposed, data):
    x = data.draw(mst.finite_arrays((n, t, d) if batched else (n, d)), label="x")
    w = data.draw(mst.finite_arrays((h, d) if transposed else (d, h)), label="w")
    op = lambda *a: F.linear(*a, transposed=transposed)
    inputs = [x, w] + ([data.draw(mst.finite_arrays((h,)), label="b")] if bias else [])
    check(op, *inputs, second_order=True)
    # The same numbers as the plain product with the transposed weight.
    expected = x @ (w.T if transposed else w) + (inputs[2] if bias else 0)
    np.testing.assert_allclose(op(*inputs).data, expected, rtol=1e-12, atol=1e-12)


# ------------------------------------------------------------------ reductions
@covers("sum", "mean", second_order=True)
@pytest.mark.parametrize("op", [F.sum, F.mean])
@fast
@given(shape=shapes, keepdims=st.booleans(), data=st.data())
def test_sum_and_mean(op, shape, keepdims, data):
    x = data.draw(mst.finite_arrays(shape), label="x")
    axis = data.draw(axes_of(len(shape)), label="axis")
    check(lambda x: op(x, axis=axis, keepdims=keepdims), x, second_order=True)


@covers("max", "min", second_order=True)
@pytest.mark.parametrize("op", [F.max, F.min])
@fast
@given(shape=shapes, keepdims=st.booleans(), data=st.data())
def test_max_and_min_without_ties(op, shape, keepdims, data):
    x = data.draw(mst.tie_free_arrays(shape), label="x")
    axis = data.draw(axes_of(len(shape)), label="axis")
    check(lambda x: op(x, axis=axis, keepdims=keepdims), x, second_order=True)


@covers("max", "min")
def test_max_and_min_share_the_gradient_among_ties():
    x = mg.Variable(np.array([[1.0, 3.0, 3.0],
                              [2.0, 2.0, 2.0],
                              [5.0, 0.0, 0.0]]))
    F.max(x, axis=1).backward(np.array([1.0, 3.0, 2.0]))
    np.testing.assert_allclose(x.grad.data, [[0, 0.5, 0.5], [1, 1, 1], [2, 0, 0]])
    x.cleargrad()
    F.min(x).backward()
    np.testing.assert_allclose(x.grad.data, [[0, 0, 0], [0, 0, 0], [0, 0.5, 0.5]])


@covers("max", "min")
@pytest.mark.parametrize("op, pick", [(F.max, np.max), (F.min, np.min)])
@fast
@given(shape=shapes, data=st.data())
def test_tied_extremes_split_the_gradient_equally(op, pick, shape, data):
    # Values from a tiny set: ties everywhere.
    x = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 0.0, 1.0])))
    axis = data.draw(axes_of(len(shape)), label="axis")
    v = mg.Variable(x)
    y = op(v, axis=axis, keepdims=True)
    gy = np.arange(1.0, y.size + 1).reshape(y.shape)
    y.backward(gy)
    g = v.grad.data
    winners = x == pick(x, axis=axis, keepdims=True)
    assert (g[~winners] == 0).all()
    # Each slice hands out exactly its gy, in equal shares among its winners.
    np.testing.assert_allclose(g.sum(axis=axis, keepdims=True), gy)
    share = gy / winners.sum(axis=axis, keepdims=True)
    np.testing.assert_allclose(g, np.where(winners, np.broadcast_to(share, x.shape), 0))


@covers("logsumexp", second_order=True)
@fast
@given(x=mst.finite_arrays(shapes, min_value=-10, max_value=10), keepdims=st.booleans(),
       data=st.data())
def test_logsumexp(x, keepdims, data):
    axis = data.draw(axes_of(x.ndim), label="axis")
    check(lambda x: F.logsumexp(x, axis=axis, keepdims=keepdims), x, second_order=True)
    want = np.log(np.sum(np.exp(x), axis=axis, keepdims=keepdims))
    # (log(sum(exp(x))) as written rounds a tiny single x to 0: an absolute tolerance)
    np.testing.assert_allclose(F.logsumexp(x, axis, keepdims).data, want, rtol=1e-12, atol=1e-15)


@covers("logsumexp")
@fast
@given(x=mst.extreme_logits(shape=(3, 4)))
def test_logsumexp_is_stable_and_its_gradient_is_the_softmax(x):
    x = x * 10.0                                # up to +-1000: exp(x) overflows
    v = mg.Variable(x)
    y = F.logsumexp(v, axis=-1)
    y.backward(np.ones(3))
    m = x.max(axis=-1, keepdims=True)
    np.testing.assert_allclose(y.data, (m + np.log(np.exp(x - m).sum(-1, keepdims=True)))[:, 0],
                               rtol=1e-14)
    np.testing.assert_allclose(v.grad.data, np_softmax(x), rtol=1e-10, atol=1e-300)


@covers("logsumexp")
def test_logsumexp_of_minus_infinity_is_minus_infinity():
    with np.errstate(divide="ignore"):          # log(0), as numpy's own
        y = F.logsumexp(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]), axis=1)
    np.testing.assert_array_equal(y.data, [-np.inf, 0.0])


@covers("argmax", "argmin")
@pytest.mark.parametrize("op, np_op, extreme", [(F.argmax, np.argmax, F.max),
                                                (F.argmin, np.argmin, F.min)])
@fast
@given(x=mst.tie_free_arrays(shapes), keepdims=st.booleans(), data=st.data())
def test_argmax_and_argmin_are_indices_without_gradient(op, np_op, extreme, x, keepdims, data):
    axis = data.draw(st.one_of(st.none(), st.integers(-x.ndim, x.ndim - 1)), label="axis")
    v = mg.Variable(x)
    i = op(v, axis=axis, keepdims=keepdims)
    assert isinstance(i, (np.ndarray, np.integer)) and i.dtype.kind == "i"   # nothing recorded
    np.testing.assert_array_equal(i, np_op(x, axis=axis, keepdims=keepdims))
    np.testing.assert_array_equal(getattr(v, op.__name__)(axis=axis, keepdims=keepdims), i)
    # Selecting with the index carries the gradient of the extreme itself.
    check(lambda v: F.flatten(v)[op(v)], x)
    F.flatten(v)[op(v)].backward()
    w = mg.Variable(x)
    extreme(w).backward()
    np.testing.assert_array_equal(v.grad.data, w.grad.data)


@covers("argmax", "argmin")
def test_argmax_and_argmin_take_the_first_of_a_tie():
    x = mg.Variable(np.array([[1.0, 3.0, 3.0], [0.0, 0.0, 2.0]]))
    assert x.argmax(axis=1).tolist() == [1, 2] and x.argmin(axis=1).tolist() == [0, 0]


# ------------------------------------------------------------------ shape ops
@covers("flatten", "squeeze", "expand_dims", second_order=True)
@fast
@given(x=mst.finite_arrays(hnp.array_shapes(min_dims=0, max_dims=4, max_side=2)), data=st.data())
def test_flatten_squeeze_and_expand_dims_are_numpy_s(x, data):
    ones = [i for i, n in enumerate(x.shape) if n == 1]
    picked = data.draw(st.lists(st.sampled_from(ones), unique=True) if ones else st.just([]),
                       label="picked")
    squeezed = data.draw(st.sampled_from([None, tuple(a - x.ndim for a in picked)]
                                         + ([picked[0]] if picked else [])), label="squeezed")
    new = data.draw(st.one_of(st.integers(-x.ndim - 1, x.ndim),
                              st.just((0, -1)) if x.ndim else st.just(0)), label="new")
    for ours, numpy_s in [(F.flatten, np.ravel),
                          (lambda v: F.squeeze(v, squeezed), lambda a: np.squeeze(a, squeezed)),
                          (lambda v: F.expand_dims(v, new), lambda a: np.expand_dims(a, new))]:
        np.testing.assert_array_equal(ours(mg.Variable(x)).data, numpy_s(x))
        assert ours(mg.Variable(x)).shape == numpy_s(x).shape
        check(ours, x, second_order=True)


@covers("squeeze", "expand_dims")
def test_squeeze_and_expand_dims_name_the_bad_axis():
    with pytest.raises(mg.ShapeError, match=r"squeeze: axis 1 of shape \(2, 3\) has length 3"):
        F.squeeze(np.ones((2, 3)), axis=1)
    with pytest.raises(ValueError, match=r"expand_dims: axis 3 is out of range"):
        F.expand_dims(np.ones(2), 3)


@covers("reshape", "transpose", second_order=True)
@fast
@given(x=mst.finite_arrays(shapes), data=st.data())
def test_reshape_and_transpose(x, data):
    check(lambda x: F.reshape(x, (-1,)), x, second_order=True)
    check(lambda x: F.reshape(x, x.shape[::-1] + (1,)), x)
    perm = data.draw(st.permutations(range(x.ndim)), label="perm")
    negative = data.draw(st.booleans(), label="negative")
    axes = [a - x.ndim for a in perm] if negative else list(perm)
    check(lambda x: F.transpose(x, axes), x, second_order=True)
    check(F.transpose, x)


@covers("broadcast_to", "sum_to", second_order=True)
@fast
@given(shapes=mst.broadcastable_shapes(2), data=st.data())
def test_broadcast_to_and_sum_to(shapes, data):
    small, other = shapes
    big = np.broadcast_shapes(small, other)
    check(lambda x: F.broadcast_to(x, big), data.draw(mst.finite_arrays(small)),
          second_order=True)
    check(lambda x: F.sum_to(x, small), data.draw(mst.finite_arrays(big)), second_order=True)


@covers("repeat", second_order=True)
@fast
@given(x=mst.finite_arrays(shapes), repeats=st.integers(1, 3), data=st.data())
def test_repeat_along_an_axis(x, repeats, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    check(lambda x: F.repeat(x, repeats, axis=axis), x, second_order=True)


@covers("repeat")
@fast
@given(x=mst.finite_arrays(max_dims=2), repeats=st.integers(1, 3), data=st.data())
def test_repeat_on_a_new_axis(x, repeats, data):
    axis = data.draw(st.integers(-x.ndim - 1, x.ndim), label="axis")
    y = F.repeat(mg.Variable(x), repeats, axis=axis, new_axis=True)
    np.testing.assert_array_equal(y.data, np.repeat(np.expand_dims(x, axis), repeats, axis))
    check(lambda x: F.repeat(x, repeats, axis=axis, new_axis=True), x)


@covers("branch", second_order=True)
@fast
@given(x=mst.finite_arrays(), n=st.integers(1, 4))
def test_branch(x, n):
    check(lambda x: F.branch(x, n), x, second_order=True)
    check(lambda x: tuple(F.tanh(b) * (i + 1) for i, b in enumerate(F.branch(x, n))), x)


@covers("branch")
def test_branch_with_unused_outputs_kept_alive():
    x = np.array([0.5, -1.0, 2.0])

    def first_only(x):
        outs = F.branch(x, 3)
        first_only.alive = outs  # the unused outputs live on, unused
        return outs[0] * 2.0

    check(first_only, x)


# ------------------------------------------------------------------ selection
@covers("get_item", second_order=True)
@fast
@given(x=mst.finite_arrays(shapes), data=st.data())
def test_get_item_basic_indices(x, data):
    index = data.draw(hnp.basic_indices(x.shape, allow_newaxis=True), label="index")
    check(lambda x: F.get_item(x, index), x, second_order=True)
    check(lambda x: x[index], x)


@covers("get_item", second_order=True)
@fast
@given(x=mst.finite_arrays(hnp.array_shapes(min_dims=2, max_dims=3, max_side=3)),
       negative=st.booleans(), data=st.data())
def test_get_item_integer_arrays_with_duplicates(x, negative, data):
    rows = data.draw(mst.index_arrays(x.shape[0]), label="rows")
    cols = data.draw(mst.index_arrays(x.shape[1], shape=rows.shape), label="cols")
    if negative:  # the same rows counted from the end
        rows = rows - x.shape[0]
    check(lambda x: F.get_item(x, rows), x, second_order=True)
    check(lambda x: F.get_item(x, (slice(None), cols)), x)
    check(lambda x: F.get_item(x, (rows, cols)), x, second_order=True)


@covers("get_item")
def test_get_item_duplicate_rows_accumulate():
    x = mg.Variable(np.arange(6.0).reshape(3, 2))
    ids = np.array([2, 0, 2, 2])
    F.get_item(x, ids).backward(np.ones((4, 2)))
    counts = np.bincount(ids, minlength=3)
    np.testing.assert_array_equal(x.grad.data, np.repeat(counts[:, None], 2, axis=1))


@covers("embedding")
@fast
@given(v=st.integers(1, 5), d=st.integers(1, 3), data=st.data())
def test_embedding_with_duplicate_ids(v, d, data):
    W = data.draw(mst.finite_arrays((v, d)), label="W")
    ids = data.draw(mst.index_arrays(v), label="ids")
    check(F.embedding, W, ids, second_order=True)
    gy = data.draw(mst.finite_arrays(ids.shape + (d,)), label="gy")
    table = mg.Variable(W)
    F.embedding(table, ids).backward(gy)
    expected = np.zeros_like(W)
    for i, row in zip(ids.reshape(-1), gy.reshape(-1, d)):
        expected[i] += row
    np.testing.assert_allclose(table.grad.data, expected)


@st.composite
def concat_inputs(draw):
    """2-3 arrays equal in shape except along a random axis."""
    base = list(draw(shapes))
    axis = draw(st.integers(-len(base), len(base) - 1))
    arrays = []
    for _ in range(draw(st.integers(2, 3))):
        base[axis] = draw(st.integers(1, 3))
        arrays.append(draw(mst.finite_arrays(tuple(base))))
    return arrays, axis


@covers("concat", second_order=True)
@fast
@given(case=concat_inputs())
def test_concat(case):
    arrays, axis = case
    check(lambda *xs: F.concat(xs, axis=axis), *arrays, second_order=True)


@st.composite
def split_cases(draw):
    """An array, an axis, and equal sections or sorted cut points."""
    x = draw(mst.finite_arrays(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4)))
    axis = draw(st.integers(-x.ndim, x.ndim - 1))
    n = x.shape[axis]
    if draw(st.booleans()):
        how = draw(st.sampled_from([k for k in range(1, n + 1) if n % k == 0]))
    else:
        how = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    return x, axis, how


@covers("split", second_order=True)
@fast
@given(case=split_cases())
def test_split(case):
    x, axis, how = case
    check(lambda x: F.split(x, how, axis=axis), x, second_order=True)


@covers("split")
@fast
@given(case=split_cases(), data=st.data())
def test_split_with_unused_outputs(case, data):
    x, axis, how = case
    n_parts = len(F.split(mg.Variable(x), how, axis=axis))
    used = data.draw(st.lists(st.integers(0, n_parts - 1), min_size=1, unique=True), label="used")

    def some_parts(x):
        parts = F.split(x, how, axis=axis)
        return tuple(F.tanh(parts[i]) for i in used)

    check(some_parts, x)


@covers("split", "branch")
def test_unused_outputs_may_be_dropped():
    x = mg.Variable(np.arange(6.0).reshape(2, 3))
    first = F.split(x, 3, axis=1)[0]  # the other two parts are garbage at once
    first.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [[1, 0, 0], [1, 0, 0]])
    x.cleargrad()
    (F.branch(x, 2)[1] * 2.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, np.full((2, 3), 2.0))


@covers("stack", second_order=True)
@fast
@given(shape=hnp.array_shapes(min_dims=0, max_dims=2, max_side=3), n=st.integers(1, 3),
       data=st.data())
def test_stack(shape, n, data):
    arrays = [data.draw(mst.finite_arrays(shape), label=f"x{i}") for i in range(n)]
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)), label="axis")
    check(lambda *xs: F.stack(xs, axis=axis), *arrays, second_order=True)


# ------------------------------------------------------------------ softmax and losses
@covers("softmax", "log_softmax", second_order=True)
@pytest.mark.parametrize("op", [F.softmax, F.log_softmax])
@fast
@given(x=mst.finite_arrays(shapes, min_value=-10, max_value=10), data=st.data())
def test_softmax_and_log_softmax_on_any_axis(op, x, data):
    axis = data.draw(st.integers(-x.ndim, x.ndim - 1), label="axis")
    check(lambda x: op(x, axis=axis), x, second_order=True)


@st.composite
def scores_and_targets(draw, ignore_index=-1):
    """Scores (N, T, V) or (N, V) and targets with some ignored positions."""
    lead = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=3))
    V = draw(st.integers(1, 4))
    x = draw(mst.finite_arrays(lead + (V,), min_value=-5, max_value=5))
    t = draw(hnp.arrays(np.int64, lead, elements=st.integers(0, V - 1)))
    ignored = draw(hnp.arrays(np.bool_, lead))
    return x, np.where(ignored, ignore_index, t)


@covers("softmax_cross_entropy", second_order=True)
@pytest.mark.parametrize("ignore_index", [-1, -100])
@fast
@given(data=st.data())
def test_softmax_cross_entropy(ignore_index, data):
    x, t = data.draw(scores_and_targets(ignore_index), label="x, t")
    f = lambda x, t: F.softmax_cross_entropy(x, t, ignore_index=ignore_index)  # noqa: E731
    check(f, x, t, second_order=True)

    v = mg.Variable(x)
    loss = f(v, t)
    loss.backward()
    keep = t != ignore_index
    n = max(int(keep.sum()), 1)
    V = x.shape[-1]
    onehot = np.eye(V)[np.where(keep, t, 0)]
    expected = (np_softmax(x) - onehot) / n * keep[..., None]
    np.testing.assert_allclose(v.grad.data, expected, rtol=1e-10, atol=1e-15)
    log_p = np.log(np_softmax(x))[keep, t[keep]]
    assert float(loss.data) == pytest.approx(-log_p.sum() / n, rel=1e-10, abs=1e-15)


@covers("softmax_cross_entropy")
@pytest.mark.parametrize("create_graph", [False, True])
def test_softmax_cross_entropy_all_ignored(create_graph):
    x = mg.Variable(np.random.default_rng(0).normal(size=(2, 3, 4)))
    t = np.full((2, 3), -1)
    loss = F.softmax_cross_entropy(x, t)
    assert float(loss.data) == 0.0
    g, = mg.grad(loss, [x], create_graph=create_graph)
    np.testing.assert_array_equal(g.data, np.zeros((2, 3, 4)))


@covers("softmax_cross_entropy")
def test_softmax_cross_entropy_counts_more_targets_than_float16_holds():
    # 65,600 targets: a count kept in float16 would be inf, the loss and gradient 0.
    n = 65_600
    x = mg.Variable(np.zeros((n, 2), np.float16))
    loss = F.softmax_cross_entropy(x, np.zeros(n, int))
    loss.backward()
    assert loss.data.dtype == np.float16
    np.testing.assert_allclose(float(loss.data), np.log(2), rtol=1e-2)
    np.testing.assert_allclose(float(x.grad.data[0, 0]) * n, -0.5, rtol=1e-2)


@covers("sigmoid_cross_entropy")
def test_sigmoid_cross_entropy_at_extreme_logits():
    x = mg.Variable(np.array([-100.0, 100.0, -40.0, 40.0, 0.0, 100.0]))
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0])
    N = x.size
    loss = F.sigmoid_cross_entropy(x, t)
    loss.backward()
    assert np.isfinite(loss.data)
    # softplus(x) - x t, the cross-entropy, computed stably in numpy
    expected_loss = np.mean(np.maximum(x.data, 0) + np.log1p(np.exp(-np.abs(x.data)))
                            - x.data * t)
    assert float(loss.data) == pytest.approx(expected_loss, rel=1e-12)
    # sigmoid(-100) and 1 - sigmoid(100) are below float64's resolution at 1.
    assert x.grad.data[0] == -1 / N and x.grad.data[1] == 1 / N and x.grad.data[5] == 0.0
    np.testing.assert_allclose(x.grad.data, (np_sigmoid(x.data) - t) / N, rtol=1e-12)


@covers("sigmoid_cross_entropy")
@fast
@given(x=mst.extreme_logits(), data=st.data())
def test_sigmoid_cross_entropy(x, data):
    t = data.draw(hnp.arrays(np.float64, x.shape, elements=st.sampled_from([0.0, 1.0])),
                  label="t")
    # Targets are data, not parameters: the loss treats them as constants.
    check(F.sigmoid_cross_entropy, x, mg.Variable(t, requires_grad=False))
    v = mg.Variable(x)
    loss = F.sigmoid_cross_entropy(v, t)
    loss.backward()
    assert np.isfinite(loss.data)
    # sigmoid(x) - t rounds at the resolution of 1.0: allow two ulps of 1/N (the
    # relative precision of tiny gradients is tested by the left-tail sigmoid test).
    np.testing.assert_allclose(v.grad.data, (np_sigmoid(x) - t) / x.size, rtol=1e-12,
                               atol=2 * np.finfo(np.float64).eps / x.size)


@covers("mean_squared_error", second_order=True)
@fast
@given(x=mst.finite_arrays(shapes), data=st.data())
def test_mean_squared_error(x, data):
    t = data.draw(mst.finite_arrays(x.shape), label="t")
    axis = data.draw(axes_of(x.ndim), label="axis")
    # Both x and t are differentiable inputs here: t's gradient is -x's.
    check(lambda x, t: F.mean_squared_error(x, t, axis=axis), x, t, second_order=True)
    v, w = mg.Variable(x), mg.Variable(t)
    y = F.mean_squared_error(v, w, axis=axis)
    expected = np.mean((x - t) ** 2, axis=axis)
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-300)
    gy = data.draw(mst.finite_arrays(np.shape(expected)), label="gy")
    y.backward(gy)
    kept = np.mean(x, axis=axis, keepdims=True).shape
    n = x.size // max(np.size(expected), 1)
    want = 2 * (x - t) / n * np.reshape(gy, kept)
    np.testing.assert_allclose(v.grad.data, want, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(w.grad.data, -want, rtol=1e-12, atol=1e-300)


@covers("mean_squared_error")
def test_mean_squared_error_refuses_to_broadcast():
    # (N, 1) outputs against (N,) targets: a silent (N, N) table in numpy.
    with pytest.raises(mg.ShapeError, match=r"MeanSquaredError: .*\(3, 1\).*\(3,\).*reshape"):
        F.mean_squared_error(mg.Variable(np.zeros((3, 1))), np.zeros(3))


# ------------------------------------------------------------------ dropout
@covers("dropout")
@fast
@given(x=mst.finite_arrays(), ratio=st.sampled_from([0.2, 0.5, 0.9]), data=st.data())
def test_dropout_with_a_fixed_mask(x, ratio, data):
    keep = data.draw(hnp.arrays(np.bool_, x.shape), label="keep")
    mask = keep / (1 - ratio)
    check(lambda x: F.dropout(x, ratio, mask=mask), x)
    v = mg.Variable(x)
    gy = data.draw(mst.finite_arrays(x.shape), label="gy")
    F.dropout(v, ratio, mask=mask).backward(gy)
    np.testing.assert_array_equal(v.grad.data, gy * mask)


@covers("dropout")
def test_dropout_drawn_mask_is_a_constant_of_the_graph():
    x = np.linspace(0.5, 2.0, 12).reshape(3, 4)

    def reseeded(x):  # the same mask on every call of gradcheck
        mg.random.seed(7)
        return F.dropout(x, 0.5)

    check(reseeded, x, second_order=True)   # Dropout's backward_graph: the mask, a constant
    v = mg.Variable(x)
    y = reseeded(v)
    y.backward(np.ones(x.shape))
    mask = y.data / x
    assert set(np.unique(mask)) <= {0.0, 2.0}
    np.testing.assert_array_equal(v.grad.data, mask)


@covers("dropout")
@pytest.mark.parametrize("kwargs", [dict(training=False), dict(ratio=0.0)])
def test_dropout_off_is_identity(kwargs):
    x = mg.Variable(np.array([0.5, -1.0, 2.0]))
    y = F.dropout(x, **{"ratio": 0.5, **kwargs})
    np.testing.assert_array_equal(y.data, x.data)
    check(lambda x: F.dropout(x, **{"ratio": 0.5, **kwargs}), x.data)


@covers("dropout")
def test_dropout_mask_variable_receives_no_gradient():
    x = mg.Variable(np.array([0.5, -1.0, 2.0]))
    mask = mg.Variable(np.array([0.0, 2.0, 2.0]))
    F.dropout(x, 0.5, mask=mask).sum().backward()
    np.testing.assert_array_equal(x.grad.data, mask.data)
    assert mask.grad is None


# ------------------------------------------------------------------ fused recurrent sequences
# "rnn-tanh" is the simple RNN with that nonlinearity (F.rnn), "lstm" and "gru" the others.
SEQUENCE_CELLS = ["rnn-tanh", "rnn-sigmoid", "rnn-relu", "lstm", "gru"]
GATES_OF = {"rnn": 1, "lstm": 4, "gru": 3}


def _kind(cell):
    kind, _, nonlinearity = cell.partition("-")
    return kind, nonlinearity


def _fused_sequence(cell):
    kind, nonlinearity = _kind(cell)
    if kind == "rnn":
        return lambda xw, Wh, h0=None: F.rnn(xw, Wh, h0, nonlinearity)
    return F.lstm if kind == "lstm" else F.gru


def _composed_sequence(cell, xw, Wh, h0=None, c0=None):
    """The same sequence from the composed per-step cells (minigrad.layers.cells)."""
    from minigrad.layers.cells import gru_step, lstm_step, rnn_step

    kind, nonlinearity = _kind(cell)
    N, T, G = xw.shape
    h, c, hs = h0, c0, []
    if kind == "gru":
        Whzr, Whh = F.split(Wh, [2 * (G // 3)], axis=1)
    for t in range(T):
        x_t = F.reshape(F.get_item(xw, (slice(None), t)), (N, G))
        if kind == "lstm":
            h, c = lstm_step(x_t, h, c, Wh)
        elif kind == "gru":
            h = gru_step(x_t, h, Whzr, Whh)
        else:
            h = rnn_step(x_t, h, Wh, nonlinearity)
        hs.append(h)
    hs = F.stack(hs, axis=1)
    return (hs, c) if kind == "lstm" else hs


def _rnn_pre_activations(xw, Wh, h0, nonlinearity):
    """Every step's x Wx + h Wh of the simple RNN, in numpy (to keep relu's
    numerical check away from its kink)."""
    f = {"tanh": np.tanh, "sigmoid": np_sigmoid, "relu": lambda a: np.maximum(a, 0)}
    h, out = (np.zeros((xw.shape[0], Wh.shape[0])) if h0 is None else h0), []
    for t in range(xw.shape[1]):
        a = xw[:, t] + h @ Wh
        out.append(a)
        h = f[nonlinearity](a)
    return np.stack(out, axis=1)


@covers("rnn", "lstm", "gru", second_order=True)
@pytest.mark.parametrize("cell", SEQUENCE_CELLS)
@fast
@given(n=st.integers(1, 3), t=st.integers(1, 4), h=st.integers(1, 3), start=st.booleans(),
       data=st.data())
def test_fused_sequences_match_numerics_and_composed_steps(cell, n, t, h, start, data):
    kind, nonlinearity = _kind(cell)
    k = GATES_OF[kind]
    xw = data.draw(mst.finite_arrays((n, t, k * h), min_value=-2, max_value=2), label="xw")
    Wh = data.draw(mst.finite_arrays((h, k * h), min_value=-1, max_value=1), label="Wh")
    states = [data.draw(mst.finite_arrays((n, h), min_value=-1, max_value=1), label=f"s{i}")
              for i in range(2 if kind == "lstm" else 1)] if start else []
    if nonlinearity == "relu":
        # Central differences straddling relu's kink would disagree with any gradient.
        pre = _rnn_pre_activations(xw, Wh, states[0] if states else None, nonlinearity)
        assume(np.abs(pre).min() > 1e-3)
    fused = _fused_sequence(cell)

    def run(op, *args):
        out = op(*args)
        hs = out[0] if kind == "lstm" else out
        # A non-uniform read of every output (and of c_T) so no gradient is trivial.
        loss = F.sum(hs * hs) * 0.5 + F.sum(hs)
        if kind == "lstm":
            loss = loss + F.sum(out[1] * out[1])
        return loss

    check(lambda *a: run(fused, *a), xw, Wh, *states, second_order=n * t * h <= 6)
    variables = [mg.Variable(a) for a in [xw, Wh] + states]
    padded = variables + [None] * (2 - len(states))
    grads = []
    for op in (fused, lambda xw, Wh, *s: _composed_sequence(cell, xw, Wh, *s)):
        for v in variables:
            v.cleargrad()
        loss = run(op, *padded[:2 + (2 if kind == "lstm" else 1)])
        loss.backward()
        # A weight no step multiplied (T = 1 from zeros) gets None from the
        # composed graph and zeros from the fused op: the same gradient.
        grads.append([float(loss.data)] + [np.zeros_like(v.data) if v.grad is None
                                           else v.grad.data for v in variables])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_fused_sequence_errors_name_the_shapes():
    with pytest.raises(mg.ShapeError, match=r"LSTMSequence: .*Wh must be \(H, 4H\)"):
        F.lstm(np.zeros((2, 3, 8)), np.zeros((3, 12)))
    with pytest.raises(mg.ShapeError, match=r"GRUSequence: .*h0 must be \(N, H\) = \(2, 2\)"):
        F.gru(np.zeros((2, 3, 6)), np.zeros((2, 6)), np.zeros((3, 2)))
    with pytest.raises(mg.ShapeError, match=r"RNNSequence: .*Wh must be \(H, H\)"):
        F.rnn(np.zeros((2, 3, 4)), np.zeros((3, 3)))
    with pytest.raises(ValueError, match=r"RNNSequence: nonlinearity must be one of tanh, "
                                         r"sigmoid, relu; got 'softsign'"):
        F.rnn(np.zeros((2, 3, 3)), np.zeros((3, 3)), nonlinearity="softsign")


# ------------------------------------------------------------------ coverage
@covers("attention", "attention_weights", "weighted_sum", second_order=True)
@fast
@given(N=st.integers(1, 2), Te=st.integers(1, 4), Td=st.integers(1, 3), H=st.integers(1, 3),
       masked=st.booleans(), one_step=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_attention(N, Te, Td, H, masked, one_step, seed):
    rng = np.random.default_rng(seed)
    hs_enc = rng.standard_normal((N, Te, H))
    hs_dec = rng.standard_normal((N, H) if one_step else (N, Td, H))
    mask = None
    if masked:
        mask = rng.random((N, Te)) < 0.6
        mask[:, 0] = True                          # every row keeps a step
    check(lambda e, d: F.attention(e, d, mask), hs_enc, hs_dec, second_order=True)
    a = rng.random((N, Td, Te))
    check(F.weighted_sum, hs_enc, a)


REQUIRED_SECOND_ORDER = {"mul", "div", "exp", "log", "tanh", "sigmoid", "matmul", "linear",
                         "softmax", "log_softmax", "softmax_cross_entropy", "sum", "get_item",
                         "pow"}


def test_every_op_has_a_gradient_test():
    # An entry of op_cases.CASES named after an operation is one too: every
    # backend checks it against central differences in float64.
    missing = set(F.__all__) - set(REGISTRY) - set(CASES)
    assert not missing, f"operations without a gradient test: {sorted(missing)}"
    unknown = set(REGISTRY) - set(F.__all__)
    assert not unknown, f"registry names that are not operations: {sorted(unknown)}"
    for op, tests in REGISTRY.items():
        assert all(callable(globals().get(name)) for name in tests), (op, tests)


def test_key_ops_have_second_order_tests():
    assert REQUIRED_SECOND_ORDER <= SECOND_ORDER, sorted(REQUIRED_SECOND_ORDER - SECOND_ORDER)
