"""minigrad.viz's drawing of a compiled step: the kernels a replay runs, the
buffers they read and write, and the buffers that take turns in one block of
memory."""
from __future__ import annotations

import re
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F, layers as L, optimizers as O
from minigrad.compiled import memory
from minigrad.viz import GraphvizNotFoundError, plot_schedule, schedule, schedule_text, \
    schedule_to_dot


class MLP(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc1 = L.Linear(2, 10, rng=0)
        self.fc2 = L.Linear(10, 3, rng=1)

    def loss(self, x, t):
        return F.softmax_cross_entropy(self.fc2(F.sigmoid(self.fc1(x))), t)


def mlp_step(calls=4, share=True, **options):
    """A small MLP's training step compiled and called ``calls`` times (the
    third and fourth calls lower it to kernels), sharing buffers or not."""
    model = MLP()
    opt = O.SGD(model, lr=0.1)

    def step(x, t):
        model.zero_grad()
        loss = model.loss(x, t)
        loss.backward()
        opt.update()
        return loss
    fast = mg.compile(step, model, **options)
    x = np.random.default_rng(0).normal(size=(4, 2)).astype(np.float32)
    t = np.array([0, 1, 2, 0])
    was, memory.SHARE_BUFFERS = memory.SHARE_BUFFERS, share
    try:
        for _ in range(calls):
            fast(x, t)
    finally:
        memory.SHARE_BUFFERS = was
    return fast


@pytest.fixture(scope="module")
def lowered():
    return mlp_step()


def test_the_drawing_names_the_kernels_and_their_operations(lowered):
    dot = schedule_to_dot(lowered)
    for kernel in ("matmul\\nLinear.forward", "exp\\nSigmoid.forward",
                   "multiply\\nSigmoid.backward", "matmul\\nLinear.backward",
                   "MLP.zero_grad", "SGD.update"):
        assert kernel in dot, kernel
    # In the order a replay runs them: the first kernel is numbered 0 and
    # every kernel is linked to the next.
    steps = schedule(lowered).steps
    assert len(re.findall(r"k\d+ -> k\d+ \[style=dotted", dot)) == len(steps) - 1
    assert [s.name for s in steps][:2] == ["MLP.zero_grad", "matmul"]


def test_the_drawing_labels_buffers_by_role_shape_and_dtype(lowered):
    dot = schedule_to_dot(lowered)
    for label in ("fc1.W\\n2x10 float32", "grad fc1.W\\n2x10 float32", "arg0\\n4x2 float32",
                  "arg1\\n4 int64", "b0\\n4x10 float32"):
        assert label in dot, label
    text = schedule_text(lowered)
    assert "matmul          Linear.forward       arg0 (4x2 float32), fc1.W (2x10 float32) " \
           "-> b0 (4x10 float32)" in text


def _kernel_arrays_of(step):
    from minigrad.viz.compiled_schedule import kernel_arrays, lowered_tape

    return [a for k in lowered_tape(step).kernels
            for a in kernel_arrays(k.reads) + kernel_arrays(k.writes)]


def test_buffers_shown_in_one_block_really_share_memory(lowered):
    s = schedule(lowered)
    shared = s.shared_blocks()
    assert shared, "sharing is on: some buffers must take turns in one block"
    arrays = _kernel_arrays_of(lowered)
    for i in shared:
        members = s.blocks[i]
        assert len(members) >= 2
        # Each buffer's arrays lie in the block's memory, and in no other block's.
        for b in members:
            assert b.block == i
            assert np.shares_memory(b.array, members[0].array)
        others = [m.array for j, block in enumerate(s.blocks) if j != i for m in block]
        assert not any(np.shares_memory(members[0].array, o) for o in others)
    assert len(arrays) > len(s.buffers)   # views and repeated reads are one buffer each


def test_buffers_that_share_a_block_are_never_alive_together(lowered):
    s = schedule(lowered)
    life = {}
    for i, k in enumerate(s.steps):
        for b in k.reads + k.writes:
            first, _ = life.get(id(b), (i, i))
            life[id(b)] = (first, i)
    for i in s.shared_blocks():
        spans = sorted(life[id(b)] for b in s.blocks[i])
        for (_, end), (start, _) in zip(spans, spans[1:]):
            assert end < start, f"block {i}: two buffers alive at once"


def test_two_buffers_that_share_memory_are_drawn_together(lowered):
    s = schedule(lowered)
    i = s.shared_blocks()[0]
    a, b = s.blocks[i][:2]
    dot = schedule_to_dot(lowered)
    cluster = dot.split(f"subgraph cluster_block{i} {{")[1].split("}")[0]
    assert "shared" in cluster
    for buf in (a, b):
        assert f"{buf.label}\\n" in cluster
    text = schedule_text(lowered)
    assert re.search(rf"block {i} \(\d+ B\): {a.label}, {b.label}", text)


def test_without_sharing_no_block_is_shared_and_more_memory_is_held(lowered):
    unshared = mlp_step(share=False)
    assert schedule(unshared).shared_blocks() == []
    assert "subgraph cluster_block" not in schedule_to_dot(unshared)
    assert schedule(unshared).held_bytes() > schedule(lowered).held_bytes()


def test_a_step_without_kernels_says_why():
    with pytest.raises(ValueError, match="third and fourth calls"):
        schedule(mlp_step(calls=3))
    with pytest.raises(ValueError, match="kernels=False"):
        schedule(mlp_step(calls=4, kernels=False))
    with pytest.raises(TypeError, match="CompiledStep"):
        schedule(lambda x: x)


def test_plot_without_graphviz_writes_the_dot_source(lowered, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "graphviz", None)  # makes `import graphviz` fail
    with pytest.raises(GraphvizNotFoundError, match="pip install") as info:
        plot_schedule(lowered, tmp_path / "schedule.png")
    assert info.value.dot_path.read_text() == schedule_to_dot(lowered)


def test_plot_draws_the_schedule(lowered, tmp_path):
    pytest.importorskip("graphviz")
    try:
        picture = plot_schedule(lowered, tmp_path / "schedule.svg")
    except GraphvizNotFoundError:
        pytest.skip("Graphviz's dot program is not installed")
    assert "Linear.forward" in picture.path.read_text()


def test_a_sparse_gradient_is_drawn_as_its_ids_and_rows():
    # The book's embedding gradient: the rows looked up, not a (V, H) table.
    from models.word2vec import CBOW

    rng = np.random.default_rng(0)
    weights = {"W_in": rng.normal(size=(50, 8)).astype(np.float32),
               "W_out": rng.normal(size=(50, 8)).astype(np.float32)}
    model = CBOW.from_weights(weights, 2, sample_size=3, sparse=True)
    opt = O.Adam(model, lazy=True)

    def step(contexts, target, negatives):
        model.zero_grad()
        loss = model.loss(contexts, target, negatives)
        loss.backward()
        opt.update()
        return loss
    fast = mg.compile(step, model)
    batch = (rng.integers(0, 50, (4, 4)), rng.integers(0, 50, 4), rng.integers(0, 50, (4, 3)))
    for _ in range(4):
        fast(*batch)
    gradients = {b.label: b for b in schedule(fast).buffers if b.kind == "gradient"}
    for name, _ in model.named_params():
        assert gradients[f"grad {name} ids"].dtype.kind == "i"
        assert gradients[f"grad {name} rows"].shape[1:] == (8,)


@pytest.mark.parametrize("share", [True, False])
def test_the_memory_held_is_what_the_lowering_counts(share):
    # Two definitions that must agree: blocks found by address here, buffers
    # found by the array owning them in minigrad.compiled.memory.
    from minigrad.viz.compiled_schedule import lowered_tape

    fast = mlp_step(share=share)
    assert schedule(fast).held_bytes(("buffer", "gradient")) == \
        memory.held_bytes(lowered_tape(fast).kernels)
