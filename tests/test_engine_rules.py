"""Rules of the engine that a wrong result would break silently: exact number
operands, device moves that keep sparse-row gradients, errors raised inside a
backward, gradient ownership that does not depend on the interpreter, and
double backward through arrays kept with save()."""
import sys

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad.core import backward as backward_module, gradients
from minigrad.errors import GraphError, ShapeError
from minigrad.layers import Embedding


# --------------------------------------------------------------- numbers
@pytest.mark.parametrize("first, second", [(0.0, -0.0), (-0.0, 0.0)])
def test_a_number_operand_keeps_the_sign_of_zero(first, second):
    x = mg.Variable(np.array([1.0, 2.0]))
    with np.errstate(divide="ignore"):
        _ = x * first                          # an earlier use of the other zero
        got = 1 / (x * second)
        want = 1 / (x.data * second)
    np.testing.assert_array_equal(got.data, want)


def test_a_number_operand_keeps_its_nan_payload():
    payload = np.array([0x7FF8000000000123], dtype=np.uint64).view(np.float64)[0]
    plain = float("nan")
    x = mg.Variable(np.array([1.0]))
    _ = x + plain
    y = x + float(payload)
    assert y.data.view(np.uint64)[0] == (np.array([1.0]) + payload).view(np.uint64)[0]


# --------------------------------------------------------------- devices
def _sparse_grad_table():
    emb = Embedding(5, 3, W=np.arange(15.0).reshape(5, 3), sparse=True)
    emb(np.array([1, 3, 1])).sum().backward()
    assert isinstance(emb.W.grad, mg.SparseRows)
    return emb.W


def test_to_cpu_keeps_a_sparse_row_gradient():
    W = _sparse_grad_table()
    want = W.grad.to_dense()
    W.to_cpu()
    assert isinstance(W.grad, mg.SparseRows)
    np.testing.assert_array_equal(W.grad.to_dense(), want)


def test_a_device_move_moves_the_indices_and_the_rows():
    W = _sparse_grad_table()
    moved = []
    W._move(lambda a: moved.append(a.shape) or a.copy())
    assert sorted(moved) == sorted([(5, 3), (3,), (3, 3)])


# --------------------------------------------------------------- errors in backward
class _BadBackward(mg.Function):
    """A user's operation whose backward multiplies mismatched shapes."""

    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy @ np.ones((7, 2))


def test_an_error_inside_backward_names_the_operation_and_the_shapes():
    x = mg.Variable(np.ones((3, 4)))
    y = _BadBackward()(x)
    with pytest.raises(ShapeError) as info:
        y.sum().backward()
    message = str(info.value)
    assert "_BadBackward.backward" in message
    assert "(3, 4) float64" in message                       # its input and its gradient
    assert "mg.detect_anomaly()" in message                   # how to learn where
    assert isinstance(info.value.__cause__, ValueError)       # numpy's own error, chained


def test_in_anomaly_mode_the_backward_error_names_the_line_that_created_it():
    x = mg.Variable(np.ones((3, 4)))
    with mg.detect_anomaly():
        y = _BadBackward()(x)            # the line to be named
        with pytest.raises(ShapeError, match=r"created at .*test_engine_rules.py:\d+"):
            y.sum().backward()


# --------------------------------------------------------------- ownership
def test_gradients_do_not_depend_on_reference_counts(monkeypatch):
    # An interpreter may report fewer references than CPython 3.11 does (3.14
    # documents smaller getrefcount values). No engine rule may depend on it:
    # patch whatever the engine could consult to say "nobody else holds it".
    monkeypatch.setattr(sys, "getrefcount", lambda a: 1)
    monkeypatch.setattr(backward_module, "_getrefcount", lambda a: 1, raising=False)
    x = mg.Variable(np.array([1.0, 2.0]))
    seed = np.array([1.0, 1.0])
    y = x + x                          # Add hands the one seed array to both inputs
    y.backward(seed)
    np.testing.assert_array_equal(seed, [1.0, 1.0])          # the caller's seed untouched
    np.testing.assert_array_equal(x.grad.data, [2.0, 2.0])


def test_a_retained_gradient_is_never_added_into_later():
    x = mg.Variable(np.array([1.0, 2.0]))
    h = (x * 3).retain_grad()
    z = h + h + h                      # h's gradient arrives three times
    z.backward(np.ones(2))
    np.testing.assert_array_equal(h.grad.data, [3.0, 3.0])
    np.testing.assert_array_equal(x.grad.data, [9.0, 9.0])


def test_the_in_place_sums_switch_leaves_the_results_bit_for_bit(monkeypatch):
    def program():
        rng = np.random.default_rng(0)
        W = mg.Variable(rng.normal(size=(4, 4)))
        h = mg.Variable(rng.normal(size=(3, 4)))
        for _ in range(6):             # W used six times: a fan-in, and a chain
            h = F.tanh(h @ W + h)
        loss = (h * h).sum()
        loss.backward()
        return W.grad.data

    on = program()
    monkeypatch.setattr(gradients, "IN_PLACE_SUMS", False)
    off = program()
    np.testing.assert_array_equal(on, off)


# --------------------------------------------------------------- homes (gradient buckets)
def _homed(*shapes):
    """Parameters whose homes are consecutive regions of one flat buffer."""
    from minigrad.layers import Parameter

    buffer = np.full(sum(int(np.prod(s)) for s in shapes), -7.0)
    params, start = [], 0
    for k, shape in enumerate(shapes):
        n = int(np.prod(shape))
        p = Parameter(np.arange(float(n)).reshape(shape) + k)
        p.home = buffer[start:start + n].reshape(shape)
        params.append(p)
        start += n
    return buffer, params


def test_a_fresh_dense_gradient_is_written_into_its_home():
    buffer, (a, b) = _homed((2, 3), (3,))
    x = np.arange(6.0).reshape(2, 3)
    ((a * x).sum() + (b * b).sum()).backward()
    assert a.grad.data is a.home and b.grad.data is b.home
    np.testing.assert_array_equal(buffer, np.concatenate([x.ravel(), 2 * b.data]))


def _arrived_home(monkeypatch):
    """For each gradient the pass stores at a home: whether it was already there."""
    arrived, store = [], gradients._stored_at_home
    monkeypatch.setattr(gradients, "_stored_at_home",
                        lambda v, g: arrived.append(g is v.home) or store(v, g))
    return arrived


def test_a_sum_of_gradients_is_made_in_the_home(monkeypatch):
    buffer, (a,) = _homed((3,))
    x = np.array([1.0, -2.0, 0.5])
    finished = _arrived_home(monkeypatch)
    (a * x + a * a + a).sum().backward()          # three gradients arrive for a
    assert finished == [True]                     # summed there: no array to copy in
    assert a.grad.data is a.home
    np.testing.assert_array_equal(a.grad.data, x + 2 * a.data + 1)


def test_a_tied_table_adds_its_looked_up_rows_in_the_home(monkeypatch):
    emb = Embedding(50, 3, W=np.arange(150.0).reshape(50, 3), sparse=True)
    emb.W.home = np.zeros((50, 3))
    finished = _arrived_home(monkeypatch)
    h = emb(np.array([1, 3, 1]))                  # rows: sparse rows of W
    c = np.linspace(0.5, 2.0, 150).reshape(50, 3)
    (h.sum() + (emb.W * c).sum()).backward()      # and one dense use of the same W
    assert finished == [True]
    want = c.copy()
    want[[1, 3]] += [[2.0], [1.0]]
    assert emb.W.grad.data is emb.W.home
    np.testing.assert_array_equal(emb.W.grad.data, want)


def test_grad_returns_its_own_arrays_and_leaves_the_home_alone():
    buffer, (a,) = _homed((3,))
    g, = mg.grad((a * a + a).sum(), [a])
    np.testing.assert_array_equal(g.data, 2 * a.data + 1)
    assert not np.shares_memory(g.data, buffer) and (buffer == -7.0).all()


def test_parameters_that_get_one_gradient_array_get_it_in_their_own_homes():
    buffer, (a, b) = _homed((3,), (3,))
    (a + b).backward(np.ones(3))       # Add hands the same array to both
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data[0] = 5.0               # a weight-decay hook acting on one of them
    np.testing.assert_array_equal(b.grad.data, [1.0, 1.0, 1.0])


def test_a_second_backward_adds_out_of_place_and_leaves_the_home_alone():
    buffer, (a,) = _homed((3,))
    (a * 2).sum().backward()
    kept = a.grad
    (a * 3).sum().backward()
    np.testing.assert_array_equal(a.grad.data, [5.0, 5.0, 5.0])
    assert a.grad.data is not a.home
    np.testing.assert_array_equal(kept.data, [2.0, 2.0, 2.0])      # the .grad kept before


def test_homes_on_the_device_take_the_gradient_and_the_sum_there(xp):
    from minigrad.layers import Parameter

    a = Parameter(xp.asarray(np.arange(3.0)))
    a.home = xp.zeros(3)
    x = xp.asarray(np.array([1.0, -2.0, 0.5]))
    (a * x + a * a).sum().backward()            # two gradients: summed in the home
    assert a.grad.data is a.home
    np.testing.assert_array_equal(mg.to_cpu(a.grad.data), [1.0, 0.0, 4.5])


def test_a_home_of_another_dtype_or_a_graph_gradient_is_passed_by():
    from minigrad.layers import Parameter

    p = Parameter(np.ones(3))
    p.home = np.zeros(3, np.float32)
    (p * p).sum().backward()
    assert p.grad.data is not p.home and not p.home.any()
    q = Parameter(np.ones(3))
    q.home = np.zeros(3)
    (q * q * q).sum().backward(create_graph=True)
    assert q.grad.creator is not None and not q.home.any()      # differentiable, not copied


def test_sparse_rows_keep_their_own_path_past_a_home():
    emb = Embedding(5, 3, W=np.arange(15.0).reshape(5, 3), sparse=True)
    emb.W.home = np.zeros((5, 3))
    emb(np.array([1, 3, 1])).sum().backward()
    assert isinstance(emb.W.grad, mg.SparseRows) and not emb.W.home.any()


class _Watch:
    """The engine's watch as minigrad.distributed uses it, recording what it is told."""

    def __init__(self, *leaves):
        self.expected = {x: 0 for x in leaves}
        self.told = []

    def ready(self, x):
        self.told.append(("ready", x.name, x.grad.data.copy()))

    def between(self):
        self.told.append(("between",))

    def finished(self, arrivals):
        self.told.append(("finished",))
        for x in self.expected:
            self.expected[x] = self.expected[x] or max(arrivals.get(x, 0), 0)


def test_a_watched_leaf_is_told_complete_as_soon_as_its_last_gradient_arrives(monkeypatch):
    buffer, (a, b) = _homed((3,), (3,))
    a.name, b.name = "a", "b"
    watch = _Watch(a, b)
    monkeypatch.setattr(gradients, "watch", watch)

    def step():
        a.grad = b.grad = None
        h = F.tanh(b * 2.0) + b         # b's gradients come after a's one
        (h * a).sum().backward()
        return [t[:2] for t in watch.told]

    first = step()                      # the first pass learns: no leaf is told complete
    assert set(first[:-1]) == {("between",)} and first[-1] == ("finished",)
    assert watch.expected == {a: 1, b: 2}
    watch.told.clear()
    told = step()
    assert told.index(("ready", "a")) < told.index(("ready", "b")) < told.index(("finished",))
    assert ("between",) in told[told.index(("ready", "a")) + 1:told.index(("ready", "b"))]
    np.testing.assert_array_equal(watch.told[told.index(("ready", "b"))][2], b.grad.data)
    assert a.grad.data is a.home and b.grad.data is b.home


def test_a_watched_leaf_that_gets_more_gradients_than_it_learned_is_an_error(monkeypatch):
    buffer, (a,) = _homed((3,))
    watch = _Watch(a)
    watch.expected[a] = 1
    monkeypatch.setattr(gradients, "watch", watch)
    with pytest.raises(GraphError, match="overlap=False"):
        (a * a).sum().backward()


def test_grad_and_create_graph_are_not_watched(monkeypatch):
    buffer, (a,) = _homed((3,))
    watch = _Watch(a)
    watch.expected[a] = 1
    monkeypatch.setattr(gradients, "watch", watch)
    mg.grad((a * 2).sum(), [a])
    (a * 2).sum().backward(create_graph=True)
    assert watch.told == []


# --------------------------------------------------------------- save() and create_graph
class _SwishSaving(mg.Function):
    """swish(x) = x * sigmoid(x), keeping sigmoid(x) with save()."""

    def forward(self, x):
        s = 1 / (1 + np.exp(-x))
        self.save(s=s)
        return x * s

    def backward(self, gy):
        x, = self.xs
        return gy * (self.s + x * self.s * (1 - self.s))


class _SwishFromInputs(_SwishSaving):
    """The same, computing sigmoid(x) in backward from the input."""

    def forward(self, x):
        return x / (1 + np.exp(-x))

    def backward(self, gy):
        x, = self.xs
        s = F.sigmoid(x)
        return gy * (s + x * s * (1 - s))


def _exact_second_derivative(x):
    s = 1 / (1 + np.exp(-x))
    return s * (1 - s) * (2 + x * (1 - 2 * s))


def test_double_backward_through_saved_arrays_is_refused_by_name():
    x = mg.Variable(np.array([1.0]))
    gx, = mg.grad(_SwishSaving()(x), [x])             # first derivative: fine
    np.testing.assert_allclose(gx.data, 0.9276705, rtol=1e-6)
    with pytest.raises(GraphError) as info:
        mg.grad(_SwishSaving()(x), [x], create_graph=True)
    message = str(info.value)
    assert "_SwishSaving" in message and "save()" in message and "(s)" in message
    assert "self.xs" in message and "backward_graph" in message


def test_double_backward_computed_from_the_inputs_is_exact():
    x = mg.Variable(np.array([1.0]))
    gx, = mg.grad(_SwishFromInputs()(x), [x], create_graph=True)
    ggx, = mg.grad(gx, [x])
    np.testing.assert_allclose(ggx.data, _exact_second_derivative(1.0), rtol=1e-12)
    assert abs(ggx.data[0] - 0.3024) < 1e-4


def test_a_saving_operation_that_says_its_arrays_are_constants_may_go_twice():
    class MaskedDouble(mg.Function):
        def forward(self, x):
            mask = (x > 0).astype(x.dtype)
            self.save(mask=mask)
            return x * x * mask

        def backward(self, gy):
            x, = self.xs
            return gy * 2 * x * self.mask

        def backward_graph(self, gy):    # the mask is a constant of x
            return self.backward(gy)

    x = mg.Variable(np.array([-1.0, 3.0]))
    gx, = mg.grad(MaskedDouble()(x).sum(), [x], create_graph=True)
    ggx, = mg.grad(gx.sum(), [x])
    np.testing.assert_array_equal(ggx.data, [0.0, 2.0])


# --------------------------------------------------------------- other frameworks' names
@pytest.mark.parametrize("name, says", [("clone", r"v\.copy\(\)"), ("unsqueeze", "expand_dims"),
                                        ("view", "reshape"), ("cuda", r"to_gpu\(\)"),
                                        ("to", "to_gpu"), ("grad_fn", "creator")])
def test_a_pytorch_name_on_a_variable_says_what_minigrad_calls_it(name, says):
    v = mg.Variable(np.ones(2))
    with pytest.raises(AttributeError, match=f"Variable has no '{name}': .*{says}"):
        getattr(v, name)
    with pytest.raises(AttributeError, match="'Variable' object has no attribute 'nonsense'"):
        v.nonsense


# --------------------------------------------------------------- no_grad
def test_no_grad_decorates_with_and_without_parentheses():
    x = mg.Variable(np.ones(2))

    @mg.no_grad
    def bare(v):
        return v * 2

    @mg.no_grad()
    def called(v):
        return v * 2

    @mg.no_grad
    def nested(v, depth):                 # the switch is restored at each level
        return v * 2 if depth == 0 else nested(v, depth - 1)

    assert not bare(x).requires_grad and not called(x).requires_grad
    assert not nested(x, 3).requires_grad
    assert (x * 2).requires_grad and mg.is_grad_enabled()
    with mg.no_grad():
        assert mg.enable_grad(lambda v: v * 2)(x).requires_grad
        assert not mg.is_grad_enabled()
