"""Random graphs with fan-out, checked against a pure-numpy replay.

The machine grows a graph one node at a time: new leaves, element-wise ops,
broadcasting binary ops, sum_to/broadcast_to, indexing with repeated indices
and concat, each applied to randomly chosen existing nodes so values are
reused (fan-out). Every node also records how to recompute itself in numpy
from the leaves. At random moments a rule backprops a random weighted sum of a
random node (through backward() or grad()) and compares each leaf's gradient
with central differences of the numpy replay.
"""
import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import minigrad as mg
import minigrad.functions as F
from minigrad.testing import strategies as mst

MAX_NODES = 12
# Pairwise broadcast-compatible, so any two leaves can meet in a binary op.
SHAPES = [(), (3,), (1, 3), (2, 1), (2, 3)]
EPS = 1e-6


def sigmoid(x):
    return 0.5 * np.tanh(0.5 * x) + 0.5


def broadcasts(a, b) -> bool:
    try:
        np.broadcast_shapes(a, b)
    except ValueError:
        return False
    return True


def sums_to(big, small) -> bool:
    """True if shape ``small`` broadcasts up to shape ``big``."""
    return broadcasts(big, small) and np.broadcast_shapes(big, small) == tuple(big)


class Node:
    """A Variable and how to recompute its value from the values before it."""

    def __init__(self, var, parents=(), replay=None):
        self.var, self.parents, self.replay = var, tuple(parents), replay

    @property
    def shape(self):
        return self.var.shape


class GraphMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.nodes = []
        self.leaves = []  # indices into self.nodes

    # ------------------------------------------------------------ helpers
    def pick(self, data, label, where=lambda n: True):
        candidates = [i for i, n in enumerate(self.nodes) if where(n)]
        return data.draw(st.sampled_from(candidates), label=label) if candidates else None

    def add(self, var, parents, replay):
        self.nodes.append(Node(var, parents, replay))

    def replay(self, leaf_values):
        """Every node's value from the given leaf values, in creation order."""
        values = []
        feed = iter(leaf_values)
        for node in self.nodes:
            if node.replay is None:
                values.append(next(feed))
            else:
                values.append(node.replay(*[values[p] for p in node.parents]))
        return values

    def room(self):
        return len(self.nodes) < MAX_NODES

    # ------------------------------------------------------------ rules
    @precondition(lambda self: self.room())
    @rule(shape=st.sampled_from(SHAPES), data=st.data())
    def leaf(self, shape, data):
        value = data.draw(mst.finite_arrays(shape, min_value=-2, max_value=2), label="leaf")
        self.leaves.append(len(self.nodes))
        self.add(mg.Variable(value), (), None)

    @precondition(lambda self: self.nodes and self.room())
    @rule(op=st.sampled_from(["tanh", "sigmoid", "exp", "neg"]), data=st.data())
    def unary(self, op, data):
        i = self.pick(data, "x")
        x = self.nodes[i].var
        if op == "exp":
            # A scale fixed now, part of the function: exp never sees more than 1.
            c = 1.0 / max(1.0, float(np.abs(x.data).max(initial=0.0)))
            self.add(F.exp(x * c), (i,), lambda v: np.exp(v * c))
        elif op == "tanh":
            self.add(F.tanh(x), (i,), np.tanh)
        elif op == "sigmoid":
            self.add(F.sigmoid(x), (i,), sigmoid)
        else:
            self.add(-x, (i,), np.negative)

    @precondition(lambda self: self.nodes and self.room())
    @rule(op=st.sampled_from(["add", "sub", "mul"]), data=st.data())
    def binary(self, op, data):
        i = self.pick(data, "a")
        j = self.pick(data, "b", lambda n: broadcasts(n.shape, self.nodes[i].shape))
        a, b = self.nodes[i].var, self.nodes[j].var
        if op == "mul" and max(np.abs(a.data).max(initial=0), np.abs(b.data).max(initial=0)) > 10:
            return  # repeated squaring would leave float64's comfortable range
        fn = {"add": np.add, "sub": np.subtract, "mul": np.multiply}[op]
        self.add({"add": F.add, "sub": F.sub, "mul": F.mul}[op](a, b), (i, j), fn)

    @precondition(lambda self: self.nodes and self.room())
    @rule(data=st.data())
    def reshape_by_broadcast(self, data):
        i = self.pick(data, "x")
        x = self.nodes[i].var
        if data.draw(st.booleans(), label="down"):
            targets = [s for s in SHAPES if s != x.shape and sums_to(x.shape, s)]
            if targets:
                s = data.draw(st.sampled_from(targets), label="sum_to")
                self.add(F.sum_to(x, s), (i,), lambda v: _sum_to(v, s))
        else:
            targets = [s for s in SHAPES if s != x.shape and sums_to(s, x.shape)]
            if targets:
                s = data.draw(st.sampled_from(targets), label="broadcast_to")
                self.add(F.broadcast_to(x, s), (i,), lambda v: np.broadcast_to(v, s))

    @precondition(lambda self: self.nodes and self.room())
    @rule(data=st.data())
    def get_item(self, data):
        i = self.pick(data, "x", lambda n: len(n.shape) >= 1 and n.shape[0] >= 1)
        if i is None:
            return
        x = self.nodes[i].var
        if data.draw(st.booleans(), label="fancy"):
            index = data.draw(mst.index_arrays(x.shape[0], shape=(3,)), label="ids")
        else:
            index = data.draw(st.slices(x.shape[0]), label="slice")
        self.add(x[index], (i,), lambda v: v[index])

    @precondition(lambda self: self.nodes and self.room())
    @rule(data=st.data())
    def concat(self, data):
        i = self.pick(data, "a", lambda n: len(n.shape) >= 1)
        if i is None:
            return
        tail = self.nodes[i].shape[1:]
        j = self.pick(data, "b", lambda n: len(n.shape) >= 1 and n.shape[1:] == tail)
        self.add(F.concat([self.nodes[i].var, self.nodes[j].var], axis=0), (i, j),
                 lambda a, b: np.concatenate([a, b], axis=0))

    # ------------------------------------------------------------ checks
    @invariant()
    def forward_matches_replay(self):
        values = self.replay([self.nodes[k].var.data for k in self.leaves])
        for node, value in zip(self.nodes, values):
            np.testing.assert_allclose(node.var.data, value, rtol=1e-12, atol=1e-12)

    @precondition(lambda self: self.nodes)
    @rule(data=st.data(), via_grad=st.booleans())
    def gradients_match_central_differences(self, data, via_grad):
        out = self.pick(data, "output")
        y = self.nodes[out].var
        if not y.requires_grad:
            return
        w = data.draw(mst.finite_arrays(y.shape, min_value=-1, max_value=1), label="w")
        leaves = [self.nodes[k].var for k in self.leaves]
        analytic = self.backprop(y, w, leaves, via_grad)
        base = [v.data.copy() for v in leaves]

        def loss(values):
            return float(np.sum(w * self.replay(values)[out]))

        for k, leaf in enumerate(base):
            for j in range(leaf.size):
                plus = [b.copy() for b in base]
                plus[k].flat[j] += EPS
                minus = [b.copy() for b in base]
                minus[k].flat[j] -= EPS
                numeric = (loss(plus) - loss(minus)) / (2 * EPS)
                np.testing.assert_allclose(analytic[k].flat[j], numeric, rtol=1e-4, atol=1e-5,
                                           err_msg=f"leaf {k} element {j} of node {out}")

    def backprop(self, y, w, leaves, via_grad):
        """Leaf gradients of sum(w * y); the graph is kept for later checks."""
        if via_grad:
            grads = mg.grad(y, leaves, grad_outputs=w, retain_graph=True)
        else:
            for leaf in leaves:
                leaf.cleargrad()
            y.backward(w, retain_graph=True)
            grads = [leaf.grad for leaf in leaves]
        return [np.zeros(leaf.shape) if g is None else g.data for leaf, g in zip(leaves, grads)]


def _sum_to(v, shape):
    lead = v.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(lead + i for i, n in enumerate(shape)
                                      if n == 1 and v.shape[lead + i] != 1)
    return v.sum(axis=axes, keepdims=True).reshape(shape)


GraphMachine.TestCase.settings = settings(
    max_examples=max(1, 40 * settings.default.max_examples // 100),
    stateful_step_count=20, deadline=None)
TestGraph = GraphMachine.TestCase
