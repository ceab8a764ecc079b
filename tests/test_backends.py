"""Every operation on each backend (numpy always, cupy where a GPU is present):
forward and backward computed on that backend agree with float64 central
differences computed on the CPU. The cupy run exercises the GPU paths, such as
cupyx.scatter_add behind indexing with repeated indices. The cases are
op_cases.py's; a test checks that together they run every operation class."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.backend import as_numpy
from op_cases import CASES, UNARY

rng = np.random.default_rng(7)


def _numeric_grads(fn, arrays, w):
    def loss(*xs):
        with mg.no_grad():
            return float(np.sum(as_numpy(fn(*[mg.Variable(x) for x in xs]).data) * w))

    grads = []
    for i, a in enumerate(arrays):
        g = np.zeros_like(a)
        for idx in np.ndindex(a.shape):
            up, down = [x.copy() for x in arrays], [x.copy() for x in arrays]
            up[i][idx] += 1e-6
            down[i][idx] -= 1e-6
            g[idx] = (loss(*up) - loss(*down)) / 2e-6
        grads.append(g)
    return grads


def _grad(x):
    g = x.grad
    return g.to_dense() if isinstance(g, mg.SparseRows) else g.data


def _check_on_backend(xp, fn, arrays):
    xs = [mg.Variable(xp.asarray(a)) for a in arrays]
    y = fn(*xs)
    assert mg.get_array_module(y.data) is xp
    w = rng.normal(size=y.shape)
    y.backward(xp.asarray(w))
    for x, expected in zip(xs, _numeric_grads(fn, arrays, w)):
        assert mg.get_array_module(_grad(x)) is xp
        np.testing.assert_allclose(as_numpy(_grad(x)), expected, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", sorted(CASES))
def test_operation_on_backend(xp, name):
    fn, shapes = CASES[name]
    _check_on_backend(xp, fn, [rng.normal(size=s) for s in shapes])


@pytest.mark.parametrize("name", sorted(UNARY))
@settings(max_examples=3, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_unary_operation_on_backend(xp, name, data):
    fn, inputs = UNARY[name]
    _check_on_backend(xp, fn, [data.draw(inputs, label="x")])


def _operation_classes():
    """Every operation class minigrad defines (abstract bases excluded)."""
    found, stack = set(), [mg.Function]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("minigrad.") and not sub.__name__.startswith("_"):
                found.add(sub)
    return found


def test_the_cases_run_every_operation(monkeypatch):
    ran = set()
    apply = mg.Function.apply

    def spy(self, *inputs):
        ran.add(type(self))
        return apply(self, *inputs)

    monkeypatch.setattr(mg.Function, "apply", spy)
    monkeypatch.setattr(mg.Function, "__call__", spy)
    for fn, shapes in CASES.values():
        xs = [mg.Variable(rng.uniform(0.3, 0.9, size=s)) for s in shapes]
        y = fn(*xs)
        y.backward(np.ones(y.shape))
    for fn, _ in UNARY.values():
        x = mg.Variable(np.linspace(0.3, 0.9, 6).reshape(2, 3))
        fn(x).backward(np.ones((2, 3)))
    missing = sorted(cls.__name__ for cls in _operation_classes() - ran)
    assert not missing, f"operations no case of op_cases.py runs: {missing}"
