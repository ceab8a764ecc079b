"""Long runs, at sizes a test can afford (benchmarks/long_run.py runs
the full sizes and measures memory): a training loop leaves nothing behind
from one step to the next, and deep graphs backprop without recursion."""
from __future__ import annotations

import gc
import sys

import numpy as np
import pytest

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad.core import saved
from minigrad.data import TBPTTBatcher
from minigrad.optimizers import SGD, ClipGradNorm
from models.rnnlm import Rnnlm

pytestmark = pytest.mark.slow

# Far below the depth of the graphs below: any recursion over the graph fails.
RECURSION_LIMIT = 200


def live(cls) -> int:
    return sum(1 for o in gc.get_objects() if isinstance(o, cls))


@pytest.fixture
def baseline():
    """What other tests left alive (module globals, caches): counts below are
    relative to it."""
    gc.collect()
    return {"Variable": live(mg.Variable), "Function": live(mg.Function),
            "locked": saved.locked_count()}


def grown(baseline):
    return (live(mg.Variable) - baseline["Variable"], live(mg.Function) - baseline["Function"],
            saved.locked_count() - baseline["locked"])


def test_training_steps_leave_only_parameters_gradients_and_state(baseline):
    rng = np.random.default_rng(0)
    batcher = TBPTTBatcher(rng.integers(0, 50, size=4 * 5 * 10 + 1), 4, 5)
    model = Rnnlm(50, 8, 8, rng=0)
    opt = SGD(model, lr=0.5)
    opt.add_hook(ClipGradNorm(0.25))
    model.reset_state()
    expected = 2 * len(model.params()) + 2          # parameters, their grads, h and c
    counts = []
    for _ in range(60):
        xs, ts = batcher.next_batch()
        loss = model.loss(xs, ts)
        model.zero_grad()
        loss.backward()
        opt.update()
        del loss
        counts.append(grown(baseline))
    assert set(counts) == {(expected, 0, 0)}


def test_a_kept_loss_is_the_only_thing_that_keeps_a_graph(baseline):
    # The counting above can see a leak: a kept loss shows up as live nodes.
    model = Rnnlm(20, 4, 4, rng=0)
    loss = model.loss(np.zeros((2, 3), dtype=np.int64), np.ones((2, 3), dtype=np.int64))
    loss.backward()
    assert grown(baseline)[1] > 0
    del loss
    assert grown(baseline)[1] == 0


# The RNN over 10**4 steps; the gated cells record several
# times more nodes per step, so 2,000 steps (still 10x the limit) keep the
# test short.
@pytest.mark.parametrize("layer_cls, T", [(L.RNN, 10_000), (L.LSTM, 2_000), (L.GRU, 2_000)],
                         ids=["RNN", "LSTM", "GRU"])
def test_recurrent_layer_unrolled_without_recursion(layer_cls, T, baseline):
    rng = np.random.default_rng(0)
    layer = layer_cls(4, 4, rng=0, fused=False)   # one graph node per operation of each step
    xs = rng.standard_normal((2, T, 4)).astype(np.float32)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        hs = layer(xs)
        (hs * hs).sum().backward()
        del hs
    finally:
        sys.setrecursionlimit(old)
    for p in layer.params():
        assert p.grad is not None and np.isfinite(p.grad.data).all()
    assert grown(baseline)[1:] == (0, 0)


def test_a_chain_of_100k_operations_without_recursion(baseline):
    x = mg.Variable(np.array([0.5]))
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(RECURSION_LIMIT)
    try:
        y = x
        for i in range(100_000):
            y = F.tanh(y) if i % 2 else y * 1.0
        y.backward(np.ones(1))
        y.unchain_backward()
        del y
    finally:
        sys.setrecursionlimit(old)
    # tanh(0.5) iterated 50,000 times is tiny but positive; so is the gradient
    assert 0 < x.grad.data[0] <= 1
    assert grown(baseline)[1:] == (0, 0)
