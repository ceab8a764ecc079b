"""A one-element Variable (a loss) acts like a number; comparisons give boolean
arrays without gradient; Variables stay hashable by identity."""
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.optimizers import SGD
from minigrad.testing import strategies as mst

# 30 examples under the default profile, scaled with HYPOTHESIS_PROFILE
fast = settings(max_examples=max(1, 30 * settings.default.max_examples // 100), deadline=None)


def loss_of(value, shape=(), dtype=np.float64):
    return (mg.Variable(np.full(shape, value, dtype=dtype)) * 1.0).sum(keepdims=shape != ())


# ------------------------------------------------------------------ conversions
@pytest.mark.parametrize("shape", [(), (1,), (1, 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_a_single_element_converts_like_a_number(shape, dtype):
    loss = mg.Variable(np.full(shape, 2.71828, dtype=dtype)) * 1.0
    value = float(np.full((), 2.71828, dtype=dtype))
    assert float(loss) == value and isinstance(float(loss), float)
    assert int(loss) == 2 and isinstance(int(loss), int)
    assert bool(loss) is True and bool(loss * 0.0) is False
    assert round(loss, 3) == round(value, 3) and round(loss) == 3
    assert isinstance(round(loss), int)
    assert f"{loss:.3f}" == f"{value:.3f}" == "2.718"
    assert f"loss {loss:8.2e}" == f"loss {value:8.2e}"
    assert "%.2f" % loss == "2.72" and "%d" % loss == "2"
    assert "%.1f / %.1f" % (loss, loss) == "2.7 / 2.7"
    assert loss.tolist() == np.full(shape, value).tolist()


def test_empty_format_is_the_printed_form_at_any_size():
    x = mg.Variable(np.array([1.0, 2.0]))
    assert f"{x}" == str(x) == "variable([1., 2.])"


def test_integer_data_is_an_index():
    i = mg.Variable(np.array(2))
    assert [10, 20, 30][i] == 30 and list(range(i)) == [0, 1]
    assert operator.index(mg.Variable(np.array([1], dtype=np.int32))) == 1
    with pytest.raises(mg.DTypeError, match=r"integer.*float64"):
        operator.index(loss_of(2.0))
    with pytest.raises(TypeError):
        [1, 2, 3][loss_of(1.0)]


@pytest.mark.parametrize("convert, name", [
    (float, "float()"), (int, "int()"), (bool, "truth value"), (operator.index, "index"),
    (lambda v: round(v, 2), "round()"), (lambda v: f"{v:.3f}", "format"),
    (lambda v: "%.2f" % v, "float()"),
])
def test_more_elements_say_what_to_do(convert, name):
    v = mg.Variable(np.ones((2, 3), dtype=np.int64))
    with pytest.raises(mg.ShapeError) as info:
        convert(v)
    message = str(info.value)
    for part in (name, "(2, 3)", ".item()", ".sum()", ".numpy()"):
        assert part in message, (part, message)
    assert "len() of unsized" not in message


def test_len_of_a_single_number_says_so():
    with pytest.raises(TypeError, match=r"len\(\) of a 0-d Variable"):
        len(loss_of(1.0))


# ------------------------------------------------------------------ comparisons
OPS = [operator.lt, operator.le, operator.gt, operator.ge, operator.eq, operator.ne]


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.__name__)
@fast
@given(shapes=mst.broadcastable_shapes(2), data=st.data())
def test_comparisons_are_numpy_s_boolean_arrays_without_gradient(op, shapes, data):
    # values from a small set: equal elements are common
    elements = st.sampled_from([-1.0, 0.0, 0.5, 2.0])
    a = data.draw(hnp.arrays(np.float64, shapes[0], elements=elements), label="a")
    b = data.draw(hnp.arrays(np.float64, shapes[1], elements=elements), label="b")
    want = op(a, b)
    va, vb = mg.Variable(a), mg.Variable(b)
    y = va * 2.0
    for got in (op(va, vb), op(va, b), op(a, vb), op(va, b.tolist()) if b.ndim else op(va, float(b))):
        assert type(got) in (np.ndarray, np.bool_) and got.dtype == np.bool_
        np.testing.assert_array_equal(got, want)
    # a mask is a constant of the graph: only y's own path carries a gradient
    (y * op(y, vb * 2.0)).sum().backward()
    np.testing.assert_array_equal(va.grad.data, F.sum_to(2.0 * op(a, b), a.shape).data)
    assert vb.grad is None


def test_a_scalar_loss_compares_with_numbers():
    loss = loss_of(0.25)
    assert loss < 10 and 10 > loss and loss <= 0.25 and loss == 0.25 and not loss != 0.25
    assert type(loss < 10) is np.bool_
    assert np.float32(1.0) > loss and (np.array(1.0) > loss) == np.True_


def test_comparing_with_something_else_is_numpy_s_answer():
    x = mg.Variable(np.array([1.0, 2.0]))
    np.testing.assert_array_equal(x == None, np.array([1.0, 2.0]) == None)  # noqa: E711
    assert (x != "text").all()


# ------------------------------------------------------------------ identity hashing
def test_equal_valued_variables_stay_distinct_keys():
    a, b = mg.Variable(np.zeros(3)), mg.Variable(np.zeros(3))
    c = mg.Variable(np.array(0.0))
    d = mg.Variable(np.array(0.0))
    assert hash(a) != hash(b) and len({a, b, c, d}) == 4
    table = {a: "a", b: "b", c: "c", d: "d"}
    assert [table[k] for k in (a, b, c, d)] == ["a", "b", "c", "d"]
    assert a in {a} and d in {d: 1} and c not in {d}


def test_the_engine_optimizers_and_drawer_tell_equal_parameters_apart():
    # Two parameters of equal values everywhere the engine keys dicts by Variable.
    model = L.Linear(3, 3, W=np.ones((3, 3)), b=np.zeros(3), dtype=np.float64)
    twin = L.Linear(3, 3, W=np.ones((3, 3)), b=np.zeros(3), dtype=np.float64)
    x = np.arange(6.0).reshape(2, 3)
    loss = (model(x) * twin(x) + model.b * 0.0).sum()
    gx, gw = mg.grad(loss, [model.W, twin.W], retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(model.W.grad.data, gx.data)
    np.testing.assert_allclose(twin.W.grad.data, gw.data)
    SGD(model, lr=0.1).update()
    assert not np.array_equal(model.W.data, twin.W.data)
    from minigrad.viz.graph import Graph

    names = [n.obj.name for n in Graph([loss]).nodes if n.kind == "var" and n.obj.name]
    assert names.count("W") == 2 and names.count("b") == 2


def test_list_membership_compares_values_so_use_identity():
    # Documented: `in` on a list compares with ==, elementwise; a dict or a set
    # (identity) is the way to look a Variable up.
    a, b = mg.Variable(np.zeros(2)), mg.Variable(np.zeros(2))
    assert a in [a]
    with pytest.raises(ValueError, match="ambiguous"):
        a in [b]  # noqa: B015
    assert any(p is a for p in [b, a]) and a in {b: 0, a: 1}


# ------------------------------------------------------------------ methods
def test_the_common_functions_are_methods_too():
    x = mg.Variable(np.array([[0.5, -1.0, 2.0]]))
    pairs = [(x.exp(), F.exp(x)), ((x * 0.5).log1p(), F.log1p(x * 0.5)), (x.abs(), F.abs(x)),
             (abs(x), F.abs(x)), (x.sin(), F.sin(x)), (x.cos(), F.cos(x)),
             (x.tanh(), F.tanh(x)), (x.sigmoid(), F.sigmoid(x)), (x.relu(), F.relu(x)),
             (x.leaky_relu(0.1), F.leaky_relu(x, 0.1)), (x.clip(0.0, 1.0), F.clip(x, 0.0, 1.0)),
             (x.flatten(), F.flatten(x)), (x.squeeze(), F.squeeze(x)),
             (x.expand_dims(0), F.expand_dims(x, 0)), (x.logsumexp(axis=1), F.logsumexp(x, 1)),
             (x.abs().sqrt(), F.sqrt(F.abs(x))), (x.abs().log(), F.log(F.abs(x)))]
    for method, function in pairs:
        assert type(method.creator) is type(function.creator)
        np.testing.assert_array_equal(method.data, function.data)
    assert x.argmax() == 2 and x.argmin(axis=1).tolist() == [1] and x.tolist() == [[0.5, -1.0, 2.0]]
