"""The testing kit itself: gradcheck must pass correct gradients and catch wrong
ones precisely; the strategies must deliver what their names promise."""
import importlib
import re
import subprocess
import sys

import numpy as np
import pytest
from hypothesis import Phase, find, given, settings
from hypothesis import strategies as st

import minigrad as mg
import minigrad.functions as F
import minigrad.layers  # noqa: F401 - mg.layers below
from minigrad.testing import GradcheckError, gradcheck, gradcheck_params, gradgradcheck
from minigrad.testing.gradcheck import direction
from minigrad.testing import strategies as mst


# The package attribute `gradcheck` is the function; the module is reached by name.
gradcheck_module = importlib.import_module("minigrad.testing.gradcheck")


def examples(n):
    """n examples under the default profile, scaled with HYPOTHESIS_PROFILE."""
    return max(1, n * settings.default.max_examples // 100)


def produces(strategy, predicate):
    """Fails unless the strategy draws an example satisfying predicate."""
    find(strategy, predicate, settings=settings(phases=[Phase.generate], database=None,
                                                max_examples=1000))


# --------------------------------------------------------------- broken ops
BAD = (1, 2)


class SquareWrongAtOne(mg.Function):
    """y = x**2, whose backward is 3x too large at element BAD only."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        x, = self.xs
        g = np.array(2 * x * gy)
        g[BAD] *= 3
        return g


class ScaleNoGradForS(mg.Function):
    """y = x * s, claiming s never needs a gradient."""

    def forward(self, x, s):
        return x * s

    def backward(self, gy):
        x, s = self.xs
        return gy * s, None


class CubeFlatBackward(mg.Function):
    """y = x**3 with a right first derivative computed on raw arrays, so under
    create_graph the gradient is a constant and its derivative comes out 0."""

    def forward(self, x):
        return x ** 3

    def backward(self, gy):
        x, = self.xs
        x, gy = (v.data if isinstance(v, mg.Variable) else v for v in (x, gy))
        return 3 * x * x * gy


class TwoOutputsWrongSecond(mg.Function):
    """(2x, x**2), with the second output's gradient missing its factor 2."""

    def forward(self, x):
        return 2 * x, x * x

    def backward(self, g1, g2):
        x, = self.xs
        return 2 * g1 + x * g2


class HalfLoss(mg.Function):
    """sum(x**2) / 2, a scalar loss whose backward ignores the upstream gradient."""

    def forward(self, x):
        return (x * x).sum() / 2

    def backward(self, gy):
        x, = self.xs
        return x


class SquareDoubledGraph(mg.Function):
    """y = x**2 with a right backward and a backward_graph twice too large."""

    def forward(self, x):
        return x * x

    def backward(self, gy):
        x, = self.xs
        return 2 * x * gy

    def backward_graph(self, gy):
        x, = self.xs
        return 4 * x * gy


def _values(message):
    """analytic and numeric values as printed in a GradcheckError message."""
    a = float(re.search(r"analytic=([-\d.e+]+)", message).group(1))
    n = float(re.search(r"numeric=([-\d.e+]+)", message).group(1))
    return a, n


def _seed_weight(numeric, unweighted):
    """The weight a scalar output was seeded with, read off a numeric gradient
    it scaled; gradcheck draws it with magnitude in [0.5, 1.5]."""
    w = numeric / unweighted
    assert 0.5 <= abs(w) <= 1.5
    return w


X = np.linspace(-1.5, 2.0, 12).reshape(3, 4)


# --------------------------------------------------------------- gradcheck_params
class Squarer(mg.layers.Layer):
    """y = W**2 * x with W's gradient wrong at element BAD (scaled by ``wrong``)."""

    def __init__(self, wrong=3.0, seed=0):
        super().__init__()
        self.W = mg.layers.Parameter(np.random.default_rng(seed).uniform(0.5, 1.5, X.shape)
                                     .astype(np.float32), name="W")
        self.b = mg.layers.Parameter(np.ones(4, dtype=np.float32), name="b")
        self.wrong = wrong

    def forward(self, x):
        class Wrong(mg.Function):
            def forward(_, w):
                return w * w

            def backward(_, gy):
                w, = _.xs
                g = np.array(2 * w * gy)
                g[BAD] *= self.wrong
                return g

        return Wrong()(self.W) * x + self.b


def test_gradcheck_params_checks_a_float32_layer_in_float64_and_gives_it_back():
    model = mg.layers.Sequential(mg.layers.Linear(4, 5, rng=0), mg.layers.Tanh(),
                                 mg.layers.Linear(5, 3, rng=1))
    before = {n: p.data for n, p in model.named_params()}
    t = np.array([0, 2, 1])
    seen = []

    def loss():
        out = F.softmax_cross_entropy(model(X), t)
        seen.append(out.dtype)
        return out

    assert gradcheck_params(loss, model)
    assert set(seen) == {np.dtype(np.float64)}          # params and the data, in float64
    for n, p in model.named_params():
        assert p.data is before[n] and p.dtype == np.float32 and p.grad is None
    assert gradcheck_params(loss, model, mode="directional")
    assert gradcheck_params(loss, [model[0].W, model[2].b])                 # a list
    assert gradcheck_params(lambda: model(X), {"last W": model[2].W})       # non-scalar f


def test_gradcheck_params_names_the_worst_element_of_all_parameters():
    model = Squarer()
    with pytest.raises(GradcheckError) as info:
        gradcheck_params(lambda: model(X).sum(), model)
    message = str(info.value)
    assert message.startswith("gradcheck_params failed for parameter 'W' (shape (3, 4)) at "
                              f"element {BAD}")
    analytic, numeric = _values(message)
    w = model.W.data.astype(np.float64)[BAD]
    seed = _seed_weight(numeric, 2 * w * X[BAD])
    assert analytic == pytest.approx(3 * 2 * w * X[BAD] * seed, rel=1e-6)
    assert model.W.dtype == np.float32                   # given back after a failure too
    assert not gradcheck_params(lambda: model(X).sum(), model, raise_exception=False)
    # Two wrong parameters: the report names the worse one, not the first.
    a, b = Squarer(wrong=1.5, seed=1), Squarer(wrong=4.0, seed=2)
    with pytest.raises(GradcheckError, match="parameter 'second' .* at element"):
        gradcheck_params(lambda: (a(X) + b(X)).sum(), {"first": a.W, "second": b.W})


def test_gradcheck_params_checks_inputs_given_as_variables_and_sparse_gradients():
    emb = mg.layers.Embedding(6, 3, rng=0, sparse=True)
    ids = np.array([[1, 2], [1, 5]])                     # a repeated id: rows add up
    x = mg.Variable(np.linspace(-1, 1, 6).reshape(2, 3), name="x")
    assert gradcheck_params(lambda: F.sum(F.tanh(emb(ids) * x[:, None, :])), [emb.W, x])


def test_gradcheck_params_refuses_what_it_cannot_check():
    model = mg.layers.Sequential(mg.layers.Linear(4, 2, rng=0), mg.layers.Dropout(0.5))
    with pytest.raises(GradcheckError, match="gave .* and then .* at the same parameters"):
        gradcheck_params(lambda: model(X).sum(), model)  # a fresh dropout mask per call
    assert gradcheck_params(lambda: model(X).sum(), model.eval())
    with pytest.raises(TypeError, match="'x' is ndarray, not a Parameter"):
        gradcheck_params(lambda: model(X).sum(), {"x": X})
    with pytest.raises(ValueError, match="no parameters"):
        gradcheck_params(lambda: F.sum(F.tanh(X)), mg.layers.Tanh())
    W = model[0].W
    with pytest.raises(ValueError, match="listed twice"):
        gradcheck_params(lambda: model(X).sum(), [W, W])


# --------------------------------------------------------------- gradcheck
@pytest.mark.parametrize("mode", ["full", "directional"])
def test_gradcheck_passes_on_correct_ops(mode):
    b = np.array([0.5, -1.0, 2.0, 1.5])
    assert gradcheck(F.mul, X, b, mode=mode)
    assert gradcheck(lambda x: F.softmax(F.tanh(x), axis=0), X, mode=mode)
    assert gradcheck(lambda x, w: F.matmul(x, w), X, X.T.copy(), mode=mode)


def test_gradcheck_names_input_element_and_values_of_a_wrong_backward():
    f = lambda x: SquareWrongAtOne()(x).sum()  # noqa: E731 - scalar, so L = w f
    with pytest.raises(GradcheckError) as info:
        gradcheck(f, X)
    message = str(info.value)
    assert "input 0" in message and f"element {BAD}" in message
    analytic, numeric = _values(message)
    seed = _seed_weight(numeric, 2 * X[BAD])
    assert analytic == pytest.approx(3 * 2 * X[BAD] * seed, rel=1e-6)
    assert "abs error" in message and "rel error" in message


def test_a_scalar_loss_is_seeded_with_a_weight_that_is_not_one():
    # A loss used as it is gets gy = 1; used inside a larger graph it does not.
    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(lambda x: HalfLoss()(x), X)
    assert gradcheck(lambda x: (x * x).sum() / 2, X)
    # The weight comes from the seed: the same seed gives the same values.
    messages = set()
    for _ in range(2):
        with pytest.raises(GradcheckError) as info:
            gradcheck(lambda x: HalfLoss()(x), X, seed=7)
        messages.add(str(info.value))
    assert len(messages) == 1


def test_gradcheck_counts_input_positions_including_constants():
    ids = np.array([1, 1])
    f = lambda ids, x: F.get_item(SquareWrongAtOne()(x), ids).sum()  # noqa: E731
    with pytest.raises(GradcheckError, match=r"input 1 .*element \(1, 2\)"):
        gradcheck(f, ids, X)


def test_gradcheck_non_scalar_output_weights_every_element():
    # Only element BAD is wrong; an unweighted or partial reduction could miss it.
    with pytest.raises(GradcheckError, match=re.escape(f"element {BAD}")):
        gradcheck(lambda x: SquareWrongAtOne()(x), X)


def test_directional_mode_catches_the_same_bug_and_the_seed_replays_it():
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda x: SquareWrongAtOne()(x).sum(), X, mode="directional")
    message = str(info.value)
    assert "input 0" in message and "direction" in message
    seed = int(re.search(r"direction seed (\d+)", message).group(1))
    v = direction(X.shape, seed)
    wrong = 2 * X
    wrong[BAD] *= 3
    analytic, numeric = _values(message)
    assert np.linalg.norm(v) == pytest.approx(1.0)
    w = _seed_weight(numeric, np.sum(2 * X * v))
    assert analytic == pytest.approx(np.sum(wrong * v) * w, rel=1e-6)


def test_raise_exception_false_returns_false():
    f = lambda x: SquareWrongAtOne()(x)  # noqa: E731
    assert gradcheck(f, X, raise_exception=False) is False
    assert gradcheck(f, X, mode="directional", raise_exception=False) is False
    assert gradcheck(F.tanh, X, raise_exception=False) is True
    assert gradgradcheck(lambda x: CubeFlatBackward()(x), X, raise_exception=False) is False


def test_constants_are_passed_through_unchecked():
    s = np.array([2.0, -1.0, 0.5, 3.0])
    f = lambda x, s: ScaleNoGradForS()(x, s)  # noqa: E731
    # A float array is checked, so the missing gradient of s is caught ...
    with pytest.raises(GradcheckError, match="input 1"):
        gradcheck(f, X, s)
    # ... a constant Variable is not, and arrives as that very Variable.
    constant = mg.Variable(s, requires_grad=False)
    seen = []
    assert gradcheck(lambda x, c: seen.append(c) or f(x, c), X, constant)
    assert all(c is constant for c in seen)


def test_integer_inputs_are_constants():
    ids = np.array([[0, 2], [2, 2]])
    assert gradcheck(lambda W, ids: F.embedding(W, ids), X, ids)
    assert gradcheck(lambda ids, W: F.embedding(W, ids), ids, X, mode="directional")


def test_inputs_are_checked_as_float64_copies():
    x32 = X.astype(np.float32)
    seen = []
    assert gradcheck(lambda x: seen.append(x.dtype) or F.exp(x), x32)
    assert set(seen) == {np.dtype(np.float64)}
    assert x32.dtype == np.float32


def test_tuple_outputs_are_all_checked():
    assert gradcheck(lambda x: F.split(x, 2, axis=1), X)
    with pytest.raises(GradcheckError):
        gradcheck(lambda x: TwoOutputsWrongSecond()(x), X)


def test_outputs_without_gradient_are_constants():
    assert gradcheck(lambda x: (F.tanh(x), mg.Variable(np.arange(3))), X)


def test_mutating_an_input_is_reported():
    def mutates(x):
        x.data[0, 0] += 1.0
        return x * 2

    with pytest.raises(GradcheckError, match="modified input 0"):
        gradcheck(mutates, X)

    def mutates_constant(x, ids):
        ids[0] = 1
        return F.get_item(x, ids)

    with pytest.raises(GradcheckError, match="modified a constant"):
        gradcheck(mutates_constant, X, np.array([0, 0]))


def test_a_gradient_of_the_wrong_shape_is_reported(monkeypatch):
    true_grad = gradcheck_module.grad

    def grad_with_extra_axis(*args, **kwargs):
        return tuple(None if g is None else g.reshape((1,) + g.shape)
                     for g in true_grad(*args, **kwargs))

    monkeypatch.setattr(gradcheck_module, "grad", grad_with_extra_axis)
    with pytest.raises(GradcheckError, match=r"shape \(1, 3, 4\).*shape \(3, 4\)"):
        gradcheck(F.tanh, X)


def test_unknown_mode_is_an_error():
    with pytest.raises(ValueError, match="mode"):
        gradcheck(F.tanh, X, mode="halfway")


# --------------------------------------------------------------- gradgradcheck
def test_gradgradcheck_passes_on_correct_second_derivatives():
    assert gradgradcheck(lambda x: F.tanh(x) * x, X)
    assert gradgradcheck(F.matmul, X, X.T.copy(), mode="directional")


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable():
    x = np.array(0.7)
    f = lambda x: CubeFlatBackward()(x)  # noqa: E731
    assert gradcheck(f, x)  # first derivative is right
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(f, x)
    message = str(info.value)
    assert message.startswith("gradgradcheck failed for input 0")
    analytic, numeric = _values(message)
    assert analytic == 0.0
    # The true second derivative 6x, scaled by the inner and the outer seed weight.
    assert 0.5 ** 2 <= abs(numeric / (6 * 0.7)) <= 1.5 ** 2


def test_gradgradcheck_first_compares_graph_gradients_with_plain_ones():
    f = lambda x: SquareDoubledGraph()(x)  # noqa: E731
    assert gradcheck(f, X)                     # backward is right
    with pytest.raises(GradcheckError) as info:
        gradgradcheck(f, X)
    message = str(info.value)
    assert message.startswith("gradgradcheck failed for input 0 (shape (3, 4)): its first "
                              "gradient with create_graph=True differs from the plain one")
    largest = float(re.search(r"by up to ([-\d.e+]+)", message).group(1))
    # The difference is 2x times the seed weight, whose magnitude is at most 1.5.
    assert 2 * 0.5 * np.abs(X).max() * 0.99 <= largest <= 2 * 1.5 * np.abs(X).max() * 1.01
    assert "backward_graph" in message
    assert gradgradcheck(f, X, mode="directional", raise_exception=False) is False


def test_gradgradcheck_directional_catches_it_too():
    with pytest.raises(GradcheckError, match="gradgradcheck.*direction seed"):
        gradgradcheck(lambda x: CubeFlatBackward()(x), X, mode="directional")


def test_gradgradcheck_of_a_linear_function_is_zero_and_passes():
    # The gradient of x*c does not depend on x: constant first gradients.
    assert gradgradcheck(lambda x: x * 3.0, X)


# --------------------------------------------------------------- strategies
def test_importing_the_kit_does_not_import_hypothesis():
    code = ("import sys, minigrad.testing as t; assert 'hypothesis' not in sys.modules; "
            "t.strategies.finite_arrays; assert 'hypothesis' in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_strategies_without_hypothesis_say_how_to_install():
    code = ("import sys; sys.modules['hypothesis'] = None\n"
            "try:\n    import minigrad.testing.strategies\n"
            "except ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert "pip install 'minigrad[testing]'" in out


@settings(max_examples=examples(50), deadline=None)
@given(x=mst.finite_arrays(min_value=-2, max_value=5, max_dims=4, max_side=3))
def test_finite_arrays_are_finite_and_bounded(x):
    assert x.dtype == np.float64 and x.ndim <= 4 and max(x.shape, default=1) <= 3
    assert np.isfinite(x).all() and (x >= -2).all() and (x <= 5).all()


@settings(max_examples=examples(20), deadline=None)
@given(x=mst.finite_arrays(shape=st.just((2, 5)), dtype=np.float32, min_value=-0.1,
                           max_value=0.1))
def test_finite_arrays_float32_and_inexact_bounds(x):
    assert x.dtype == np.float32 and x.shape == (2, 5)
    assert (np.abs(x) <= 0.1).all()


@settings(max_examples=examples(50), deadline=None)
@given(shapes=mst.broadcastable_shapes(n=3))
def test_broadcastable_shapes_broadcast(shapes):
    assert len(shapes) == 3
    np.broadcast_shapes(*shapes)


def test_broadcastable_shapes_mix_ranks_and_size_one_axes():
    def stretches_a_size_one_axis(shapes):
        out = np.broadcast_shapes(*shapes)
        return any(s[i] == 1 and out[len(out) - len(s) + i] > 1
                   for s in shapes for i in range(len(s)))

    produces(mst.broadcastable_shapes(), lambda s: len({len(x) for x in s}) > 1)
    produces(mst.broadcastable_shapes(), stretches_a_size_one_axis)


@settings(max_examples=examples(50), deadline=None)
@given(size=st.integers(1, 6), data=st.data())
def test_index_arrays_contain_duplicates_when_asked(size, data):
    ids = data.draw(mst.index_arrays(size))
    assert ids.dtype.kind == "i" and ids.min() >= 0 and ids.max() < size
    assert len(np.unique(ids)) < ids.size


@settings(max_examples=examples(50), deadline=None)
@given(size=st.integers(1, 6), data=st.data())
def test_index_arrays_without_duplicates_are_distinct(size, data):
    ids = data.draw(mst.index_arrays(size, with_duplicates=False))
    assert ids.min() >= 0 and ids.max() < size
    assert len(np.unique(ids)) == ids.size


@settings(max_examples=examples(20), deadline=None)
@given(ids=mst.index_arrays(3, shape=(2, 3)))
def test_index_arrays_fixed_shape(ids):
    assert ids.shape == (2, 3) and len(np.unique(ids)) < 6


@settings(max_examples=examples(50), deadline=None)
@given(x=mst.tie_free_arrays(margin=0.05, min_value=-1, max_value=1))
def test_tie_free_arrays_have_no_ties(x):
    assert (x >= -1).all() and (x <= 1).all()
    assert (np.diff(np.sort(x, axis=None)) >= 0.05 * (1 - 1e-9)).all()


@settings(max_examples=examples(50), deadline=None)
@given(x=mst.kink_free_arrays(kinks=(-0.5, 0.0, 1.0), margin=0.01))
def test_kink_free_arrays_avoid_every_kink(x):
    for k in (-0.5, 0.0, 1.0):
        assert (np.abs(x - k) >= 0.01).all()


@settings(max_examples=examples(20), deadline=None)
@given(x=mst.kink_free_arrays(shape=(3, 3), dtype=np.float32, kinks=(0.0,), margin=1e-3))
def test_kink_free_arrays_float32(x):
    assert x.dtype == np.float32 and (np.abs(x) >= 1e-3).all()


def test_kink_free_arrays_hit_both_sides_of_a_kink():
    produces(mst.kink_free_arrays(shape=2), lambda x: x[0] < 0 < x[1])


@pytest.mark.parametrize("value", [100.0, -100.0, 40.0, -40.0, 0.0])
def test_extreme_logits_include_the_extremes(value):
    produces(mst.extreme_logits(), lambda x: bool((x == value).any()))


@settings(max_examples=examples(30), deadline=None)
@given(x=mst.extreme_logits())
def test_extreme_logits_are_finite_and_bounded(x):
    assert np.isfinite(x).all() and (np.abs(x) <= 100).all()


def test_impossible_requests_are_refused():
    from hypothesis.errors import InvalidArgument

    with pytest.raises(InvalidArgument):
        find(mst.tie_free_arrays(shape=(10,), min_value=0, max_value=0.1, margin=0.1),
             lambda x: True)
    with pytest.raises(InvalidArgument):
        find(mst.index_arrays(3, shape=(4,), with_duplicates=False), lambda x: True)
    with pytest.raises(InvalidArgument):
        mst.kink_free_arrays(kinks=(0.0,), margin=1.0, min_value=-0.5, max_value=0.5)
