"""numpy's functions on Variables: minigrad's operation where there is one,
numpy's array for results without gradient and for constants, a GraphError
naming the call otherwise. Never an array of objects."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad.functions import numpy_protocol
from minigrad.functions import numpy_calls
from minigrad.testing import gradcheck, gradgradcheck

rng = np.random.default_rng(0)


def param(*shape):
    return mg.Variable(rng.uniform(0.2, 0.9, size=shape))


def loss():
    return (param(3) * 2.0).sum()


# ------------------------------------------------------------------ rule 1: operations
def _numpy_args(numpy_function, x):
    """Arguments for one call of ``numpy_function`` on Variable x of shape (2, 3)."""
    binary = {np.add, np.subtract, np.multiply, np.divide, np.maximum, np.minimum}
    if numpy_function in binary:
        return (x, np.full(3, 0.5))
    return {np.power: (x, 3), np.matmul: (x, np.ones((3, 2))), np.reshape: (x, (3, 2)),
            np.expand_dims: (x, 1), np.broadcast_to: (x, (4, 2, 3)), np.repeat: (x, 2),
            np.concatenate: ([x, x],), np.stack: ([x, x],), np.split: (x, 3, 1),
            np.where: (np.array([True, False, True]), x, 0.0), np.clip: (x, 0.3, 0.7),
            np.squeeze: (np.expand_dims(x, 0),)}.get(numpy_function, (x,))


TABLE = list(numpy_protocol.OPERATIONS.items())


@pytest.mark.parametrize("numpy_function, entry", TABLE, ids=[f.__name__ for f, _ in TABLE])
def test_each_numpy_call_runs_its_operation(numpy_function, entry):
    x = param(2, 3)
    args = _numpy_args(numpy_function, x)
    expected = numpy_function(*[a.data if isinstance(a, mg.Variable) else
                                [v.data for v in a] if isinstance(a, list) else a for a in args])
    got = numpy_function(*args)
    if numpy_function in (np.argmax, np.argmin):      # indices: no gradient, numpy's answer
        assert not isinstance(got, mg.Variable) and got == expected
        return
    outputs = got if isinstance(got, tuple) else (got,)
    assert all(isinstance(y, mg.Variable) and y.creator is not None for y in outputs)
    for y, want in zip(outputs, expected if isinstance(expected, list) else [expected]):
        np.testing.assert_allclose(y.data, want, rtol=1e-15)
    # the same gradient as the minigrad function the table names
    sum(((y * y).sum() for y in outputs), start=0.0).backward()
    via_numpy = x.grad.data
    x.cleargrad()
    outputs = entry[0](*args)
    outputs = outputs if isinstance(outputs, tuple) else (outputs,)
    sum(((y * y).sum() for y in outputs), start=0.0).backward()
    np.testing.assert_array_equal(via_numpy, x.grad.data)


def test_operators_of_an_ndarray_give_variables():
    x = param(3)
    a = np.array([1.0, 2.0, 3.0])
    for y in (a * x, a + x, a - x, a / x, a @ x, np.float64(2.0) * x, a ** 1 * x):
        assert isinstance(y, mg.Variable) and y.requires_grad
    (a - x).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [-1.0, -1.0, -1.0])


class NumpyTanh(mg.Function):
    """A user's operation whose backward is written with numpy's functions."""

    saves_output = True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, gy):
        return gy * (1 - np.square(self.y))


def test_a_backward_written_with_numpy_also_runs_under_create_graph():
    x = rng.uniform(-1, 1, size=(2, 3))
    assert gradcheck(lambda v: NumpyTanh()(v), x)
    assert gradgradcheck(lambda v: NumpyTanh()(v), x)
    v = mg.Variable(x)
    g, = mg.grad(NumpyTanh()(v).sum(), [v], create_graph=True)
    assert g.creator is not None


# ------------------------------------------------------------------ rule 2: values only
def test_results_without_gradient_are_numpy_s_arrays():
    x = mg.Variable(np.array([[1.0, -2.0], [np.inf, 0.5]]))
    y = x * 1.0
    np.testing.assert_array_equal(np.isfinite(y), [[True, True], [False, True]])
    assert np.shape(y) == (2, 2) and np.ndim(y) == 2 and np.size(y) == 4
    assert np.zeros_like(y).shape == (2, 2) and type(np.zeros_like(y)) is np.ndarray
    assert np.allclose(y, x) and not np.allclose(y, x + 1.0)
    np.testing.assert_array_equal(np.sign(y), np.sign(x.data))
    np.testing.assert_array_equal(np.less(np.zeros(2), y[0]), [True, False])


# ------------------------------------------------------------------ rule 3: arrays
def test_constants_are_their_arrays():
    c = mg.Variable(np.array([1.0, 2.0]), requires_grad=False)
    ids = mg.Variable(np.array([2, 0]))
    assert np.asarray(c) is c.data and np.asarray(ids) is ids.data
    np.testing.assert_array_equal(np.array([c, c]), [[1.0, 2.0], [1.0, 2.0]])
    assert np.array([c, c]).dtype == np.float64
    assert np.asarray(c, dtype=np.float32).dtype == np.float32
    assert np.cumsum(c).tolist() == [1.0, 3.0]
    with mg.no_grad():
        losses = [loss(), loss()]
    assert np.mean(losses).dtype == np.float64


@pytest.mark.parametrize("call", [
    lambda v, w: np.asarray(v), lambda v, w: np.array(v), lambda v, w: np.array([v, w]),
    lambda v, w: np.mean([v, w]), lambda v, w: np.sum([v, w]), lambda v, w: np.cumsum(v),
    lambda v, w: np.sort(v), lambda v, w: np.dot(v, w), lambda v, w: np.linalg.norm(v),
    lambda v, w: np.add.reduce(v), lambda v, w: np.exp(v, dtype=np.float32),
    lambda v, w: np.sum(v, dtype=np.float32), lambda v, w: np.float64(1.0) + [v],
    lambda v, w: np.vstack([v, w]), lambda v, w: np.tile(v, 2),
], ids=["asarray", "array", "array of list", "mean of list", "sum of list", "cumsum", "sort",
        "dot", "norm", "add.reduce", "exp dtype", "sum dtype", "list operand", "vstack", "tile"])
def test_what_would_drop_a_gradient_raises_and_says_what_to_do(call):
    with pytest.raises(mg.GraphError) as info:
        call(loss(), loss())
    message = str(info.value)
    assert "requires a gradient" in message and "v.data" in message, message


def test_the_error_names_the_call_and_the_minigrad_way():
    v = param(3)
    cases = [(lambda: np.cumsum(v), ["np.cumsum", "no cumsum operation"]),
             (lambda: np.dot(v, v), ["np.dot", "x @ W (F.matmul)"]),
             (lambda: np.linalg.norm(v), ["np.linalg.norm", "F.sqrt(F.sum(v * v))"]),
             (lambda: np.add.reduce(v), ["np.add.reduce", "F.sum(v, axis)"]),
             (lambda: np.sum(v, dtype=np.float32), ["np.sum", "F.sum", "dtype"]),
             (lambda: np.asarray(v), ["v.numpy()", "v.item()", "F.stack"])]
    for call, parts in cases:
        with pytest.raises(mg.GraphError) as info:
            call()
        assert all(p in str(info.value) for p in parts), (parts, str(info.value))


def test_writing_into_an_array_is_refused():
    a = np.ones(3)
    v = param(3)
    with pytest.raises(mg.GraphError, match=r"np.add.*a = a \+ v"):
        a += v
    np.testing.assert_array_equal(a, np.ones(3))
    with pytest.raises(mg.GraphError, match=r"cannot be written in place"):
        np.multiply(a, 2.0, out=(mg.Variable(np.zeros(3), requires_grad=False),))
    np.add(a, mg.Variable(np.ones(3), requires_grad=False), out=a)   # a constant: numpy's
    np.testing.assert_array_equal(a, np.full(3, 2.0))


NUMPY_CALLS = [np.asarray, np.array, np.mean, np.sum, np.max, np.exp, np.tanh, np.cumsum,
               np.sort, np.concatenate, np.stack, np.hstack, np.vstack, np.abs, np.sqrt,
               np.ravel, np.round, np.diff, np.unique, np.average, np.median]


@pytest.mark.parametrize("f", NUMPY_CALLS, ids=[f.__name__ for f in NUMPY_CALLS])
@pytest.mark.parametrize("requires_grad", [True, False])
@pytest.mark.parametrize("as_list", [False, True])
def test_never_an_array_of_objects(f, requires_grad, as_list):
    v = [mg.Variable(np.array([0.25, 4.0]), requires_grad=requires_grad) for _ in range(2)]
    try:
        f([a.data for a in v] if as_list else v[0].data)
    except ValueError:          # numpy refuses the arrays themselves (concatenate of 0-d)
        with pytest.raises(ValueError):
            f(v if as_list else v[0])
        return
    try:
        out = f(v if as_list else v[0])
    except mg.GraphError:
        assert requires_grad
        return
    for y in out if isinstance(out, (tuple, list)) else (out,):
        assert isinstance(y, (mg.Variable, np.ndarray, np.generic)), type(y)
        assert np.asarray(y.data if isinstance(y, mg.Variable) else y).dtype != object


def test_the_table_names_operations_of_minigrad_functions():
    for numpy_function, (operation, name) in numpy_protocol.OPERATIONS.items():
        assert name.startswith("F.") or name == "x ** 2", name
        public = getattr(F, name[2:], None) if name.startswith("F.") else None
        assert public is operation or operation.__module__ == numpy_calls.__name__, name


def test_on_each_backend(xp):
    v = mg.Variable(xp.asarray([0.5, -1.0, 2.0]))
    y = np.maximum(np.tanh(v), 0.0)                  # F.tanh, F.maximum on v's device
    y.sum().backward()
    assert mg.get_array_module(y.data) is xp and mg.get_array_module(v.grad.data) is xp
    mask = v > 0
    assert type(mask) is type(v.data) and mask.tolist() == [True, False, True]
    assert f"{v[2] * 1.0:.1f}" == "2.0" and int(v.argmax()) == 2
    c = mg.Variable(xp.asarray([1.0, 2.0]), requires_grad=False)
    if xp is np:
        assert np.asarray(c) is c.data
    else:
        with pytest.raises(mg.DeviceError, match=r"v\.numpy\(\)"):
            np.asarray(c)
