"""The engine in 120 lines that opens docs/engine.md, run against minigrad.

The page's block is executed as it is shown, and the same small programs run
on it and on minigrad: every leaf's gradient must agree to 1e-12 in float64,
so the one-page version stays a true account of the real engine. The
benchmarks' comparison engine (benchmarks/minimal_engine.py) is held to the
same standard on the chain it is timed on.
"""
import importlib.util
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from test_docs_examples import PYTHON, parse

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "engine.md"
HEADING = "## The engine in 120 lines"
TOLERANCE = dict(rtol=1e-12, atol=1e-12)


def engine_block():
    """The code of the first fenced block under HEADING, which must be python
    and come before the next heading."""
    text = PAGE.read_text(encoding="utf-8")
    lines = text.splitlines()
    assert HEADING in lines, f"{PAGE.name} has no heading {HEADING!r} to find the engine under"
    start = lines.index(HEADING) + 1                     # 1-based line of the heading
    block = next((b for b in parse(text) if b.line > start), None)
    assert block is not None and block.lang in PYTHON, (
        f"{PAGE.name}: the first block after {HEADING!r} is not a python block")
    # Only prose lies between the heading and the block: a '#' line there is a heading.
    between = lines[start:block.line - 2]
    assert not any(line.startswith("#") for line in between), (
        f"{PAGE.name}: another heading comes between {HEADING!r} and the engine's block")
    return block


@pytest.fixture(scope="module")
def small():
    """The page's engine, executed as shown (its line numbers kept in tracebacks)."""
    block = engine_block()
    namespace = {"__name__": "docs_engine_in_120_lines"}
    exec(compile("\n" * (block.line - 1) + block.code, str(PAGE), "exec"), namespace)
    return SimpleNamespace(**namespace, grad=lambda v: v.grad)


REAL = SimpleNamespace(Variable=mg.Variable, tanh=F.tanh, grad=lambda v: v.grad.data)


# Each program builds a loss from its leaves on one engine and returns it; the
# leaves are made from the same arrays on both.
def chain(e, x):
    return (e.tanh(x * 0.5 + 1.0) * 3.0).sum()


def diamond(e, x):
    # x and a feed branches of different lengths that meet again: their
    # gradients must add up, and a's creator must wait for all of them.
    a = e.tanh(x)
    return (a * e.tanh(a) + a * x).sum()


def bias(e, x, b, c):
    # b of shape (3,) and c of shape (4, 1) broadcast against x of shape (4, 3).
    return (e.tanh(x * b + c) * b).sum()


def mlp(e, x, W1, b1, W2, b2):
    h = e.tanh(x @ W1 + b1)
    return e.tanh(h @ W2 + b2).sum()


def long_chain(e, x, w):
    # 700 steps of three operations: twice Python's recursion limit, and w
    # is used by every step.
    y = x
    for _ in range(700):
        y = e.tanh(y) * w + x
    return y.sum()


rng = np.random.default_rng(0)
PROGRAMS = {
    "chain": (chain, [rng.normal(size=(3, 4))]),
    "diamond": (diamond, [rng.normal(size=(2, 5))]),
    "bias": (bias, [rng.normal(size=(4, 3)), rng.normal(size=3), rng.normal(size=(4, 1))]),
    "mlp": (mlp, [rng.normal(size=(5, 4)), rng.normal(size=(4, 6)) * 0.5, rng.normal(size=6),
                  rng.normal(size=(6, 2)) * 0.5, rng.normal(size=2)]),
    "long_chain": (long_chain, [rng.normal(size=3), np.array([0.9, -0.5, 0.3])]),
}


def gradients(engine, program, arrays):
    leaves = [engine.Variable(a.copy()) for a in arrays]
    loss = program(engine, *leaves)
    loss.backward()
    return float(np.asarray(loss.data)), [engine.grad(v) for v in leaves]


@pytest.mark.parametrize("name", sorted(PROGRAMS))
def test_the_pages_engine_gives_minigrads_gradients(small, name):
    program, arrays = PROGRAMS[name]
    small_loss, small_grads = gradients(small, program, arrays)
    real_loss, real_grads = gradients(REAL, program, arrays)
    assert small_loss == pytest.approx(real_loss, rel=1e-12)
    for k, (g, ref) in enumerate(zip(small_grads, real_grads)):
        assert g is not None and np.shape(g) == arrays[k].shape, f"leaf {k}"
        assert np.abs(ref).max() > 1e-3, f"leaf {k}: a vanishing gradient compares nothing"
        np.testing.assert_allclose(g, ref, **TOLERANCE, err_msg=f"{name}, leaf {k}")


@pytest.mark.parametrize("name", ["diamond", "mlp", "long_chain"])
def test_the_pages_engine_runs_each_backward_once(small, name, monkeypatch):
    # Backward is linear in the gradient, so running an operation early, on
    # part of its gradient, and again on the rest gives the right sum: only
    # this count shows that the heap's order makes every operation wait.
    runs = Counter()
    for op in (small.Add, small.Mul, small.MatMul, small.Sum, small.Tanh):
        def counted(f, gy, backward=op.backward):
            runs[f] += 1
            return backward(f, gy)
        monkeypatch.setattr(op, "backward", counted)
    program, arrays = PROGRAMS[name]
    gradients(small, program, arrays)
    assert runs and set(runs.values()) == {1}


def test_the_pages_engine_accumulates_over_backward_calls(small):
    x = small.Variable(np.array([1.0, -2.0]))
    (x * x).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, 2 * x.data + 3.0, **TOLERANCE)


def test_the_pages_engine_is_a_page():
    # The heading promises about 120 lines: code that outgrows it belongs below.
    assert len(engine_block().code.splitlines()) <= 140


def test_the_benchmarks_engine_gives_minigrads_gradients():
    spec = importlib.util.spec_from_file_location(
        "minimal_engine", ROOT / "benchmarks" / "minimal_engine.py")
    floor = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(floor)
    x = np.linspace(-1.0, 1.0, 6)
    steps = [(k % 3, 0.9 + 0.05 * k) for k in range(30)]    # mul, add, tanh, ...
    v = mg.Variable(x.copy())
    y = v
    for kind, c in steps:
        y = y * c if kind == 0 else y + c if kind == 1 else F.tanh(y)
    y.backward(np.ones_like(x))
    np.testing.assert_allclose(floor.chain(x, steps), v.grad.data, **TOLERANCE)
