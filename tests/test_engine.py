"""The engine's guarantees: ordering, memory, accumulation without aliasing,
requires_grad / no_grad / retain_grad / detach, in-place safety, errors."""
import gc
import sys
import weakref

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.core import saved


def var(a, **kw):
    return mg.Variable(np.asarray(a, dtype=np.float64), **kw)


# ---------------------------------------------------------------- ordering
def test_diamond_is_ordered_by_generation():
    # y = (x^2)^2 + (x^2)^2: the square must receive both gradients before it
    # runs its own backward (DeZero's generation example).
    x = var(2.0)
    a = x ** 2
    y = a ** 2 + a ** 2
    y.backward()
    assert x.grad.data == pytest.approx(64.0)  # d/dx 2x^4 = 8x^3


def test_long_chain_needs_no_recursion():
    limit = sys.getrecursionlimit()
    x = var([1.0])
    y = x
    for _ in range(20_000):
        y = y * 1.0 + 0.0
    sys.setrecursionlimit(200)  # far below the chain's depth of 40,000
    try:
        y.backward(np.ones(1))
        del y  # releasing the chain must not recurse either
    finally:
        sys.setrecursionlimit(limit)
    assert x.grad.data[0] == 1.0


def test_fan_in_of_many_branches_sums_them():
    x = var([1.0, 2.0])
    total = x * 0.0
    for i in range(1, 2001):
        total = total + x * float(i)
    total.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [2001 * 1000.0, 2001 * 1000.0])


def test_heap_order_is_deterministic_for_equal_generations():
    def run():
        x = var(np.linspace(0.1, 1.0, 5))
        parts = [F.tanh(x * float(k)) for k in range(7)]
        y = parts[0]
        for p in parts[1:]:
            y = y + p
        y.sum().backward()
        return x.grad.data.copy()

    np.testing.assert_array_equal(run(), run())


# ---------------------------------------------------------------- memory
def test_graph_frees_itself_without_the_garbage_collector():
    gc.disable()
    try:
        x = var(np.ones(3))
        y = F.tanh(x * 2.0)
        z = (y + 1.0).sum()
        creator = weakref.ref(z.creator)
        inner = weakref.ref(y.creator)
        del y, z
        assert creator() is None and inner() is None
    finally:
        gc.enable()


def test_an_operation_never_keeps_its_outputs_alive():
    x = var(np.ones(2))
    y = x * 3.0
    f, alive = y.creator, weakref.ref(y)
    assert f.outputs is None                  # one output: no reference at all
    del y
    assert alive() is None
    parts = F.split(x, 2)                     # several: weak references
    f, first = parts[0].creator, parts[0]
    assert [ref() for ref in f.outputs] == list(parts)
    del parts
    assert [ref() for ref in f.outputs] == [first, None]


# ---------------------------------------------------------------- accumulation
def test_add_to_two_leaves_gives_two_distinct_gradient_arrays():
    a, b = var(np.ones(3)), var(np.ones(3))
    (a + b).sum().backward()
    assert not np.shares_memory(a.grad.data, b.grad.data)
    a.grad.data *= 10.0  # an in-place hook (weight decay, clipping) on one ...
    np.testing.assert_array_equal(b.grad.data, np.ones(3))  # ... leaves the other alone


def test_gradient_of_a_broadcast_is_writeable_and_owned():
    b = var(np.ones(3))
    F.broadcast_to(b, (4, 3)).sum().backward()
    s = var(np.ones((2, 3)))
    s.sum().backward()  # Sum's backward is a read-only broadcast view
    for g in (b.grad.data, s.grad.data):
        assert g.flags.writeable and g.base is None


def test_reshaped_gradient_is_not_a_view_of_another_gradient():
    x, w = var(np.ones((2, 3))), var(np.ones(6))
    (F.reshape(x, (6,)) + w).sum().backward()
    assert not np.shares_memory(x.grad.data, w.grad.data)


def test_caller_seed_is_never_handed_out_as_a_gradient():
    x = var(np.ones(3))
    seed = np.full(3, 2.0)
    (x + 0.0).backward(seed)
    assert not np.shares_memory(x.grad.data, seed)
    seed[:] = 0.0
    np.testing.assert_array_equal(x.grad.data, np.full(3, 2.0))


def test_retained_and_leaf_gradients_do_not_alias():
    x = var(np.ones(3))
    y = (x + 0.0).retain_grad()
    z = y + 0.0
    z.backward(np.ones(3))
    assert y.grad is not None and not np.shares_memory(y.grad.data, x.grad.data)


def test_gradients_accumulate_across_backward_calls_out_of_place():
    x = var(np.ones(2))
    (x * 2.0).sum().backward()
    first = x.grad
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [5.0, 5.0])
    np.testing.assert_array_equal(first.data, [2.0, 2.0])  # the old object is untouched


def test_gradient_keeps_the_variables_dtype():
    x = mg.Variable(np.ones(3, np.float32))
    y = (x * 2 + 1.5) / 3 - 0.5
    y = 2 - y ** 2
    y.sum().backward()
    assert y.dtype == np.float32 and x.grad.dtype == np.float32


def test_ndarray_on_the_left_gives_a_variable():
    x = var(np.ones(3))
    for y in (np.full(3, 2.0) * x, np.ones(3) + x, np.ones(3) - x, np.ones(3) / x,
              np.ones((2, 3)) @ F.reshape(x, (3, 1))):
        assert isinstance(y, mg.Variable)


# ---------------------------------------------------------------- switches
def test_constants_get_no_gradient():
    x = var(np.ones(3))
    c = var(np.ones(3), requires_grad=False)
    (x * c * np.ones(3)).sum().backward()
    assert x.grad is not None and c.grad is None


def test_operation_on_constants_records_nothing():
    c = var(np.ones(3), requires_grad=False)
    y = c * 2.0
    assert y.creator is None and not y.requires_grad
    with pytest.raises(mg.GraphError, match="does not require a gradient"):
        y.sum().backward()


def test_integer_data_cannot_require_grad():
    assert not mg.Variable(np.arange(3)).requires_grad
    with pytest.raises(mg.DTypeError, match="floating-point"):
        mg.Variable(np.arange(3), requires_grad=True)


def test_no_grad_and_enable_grad():
    x = var(np.ones(3))
    with mg.no_grad():
        y = x * 2.0
        with mg.enable_grad():
            z = x * 2.0
    assert y.creator is None and not y.requires_grad
    assert z.creator is not None and mg.is_grad_enabled()


def test_retain_grad_keeps_intermediate_gradients_only_when_asked():
    x = var(np.array([1.0, 2.0]))
    a = x * 3.0
    b = (x * 2.0).retain_grad()
    (a * b).sum().backward()
    assert a.grad is None
    np.testing.assert_allclose(b.grad.data, a.data)


def test_cleargrad():
    x = var(1.0)
    (x * 2.0).backward()
    x.cleargrad()
    assert x.grad is None


def test_detach_shares_data_but_not_the_graph():
    x = var(np.ones(2))
    y = x * 2.0
    d = y.detach()
    assert d.creator is None and not d.requires_grad and d.data is y.data


def test_unchain_truncates_backprop():
    x = var(np.ones(2))
    h = F.tanh(x * 2.0)
    h.unchain()  # truncated BPTT: later steps see h as a leaf
    (h * 3.0).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(h.grad.data, [3.0, 3.0])


def test_unchain_backward_cuts_everything_upstream():
    x = var(np.ones(2))
    a = x * 2.0
    b = F.tanh(a)
    c = b * 3.0
    c.unchain_backward()
    assert c.creator is None and b.creator is None and a.creator is None


def test_nonscalar_backward_needs_a_seed():
    x = var(np.ones(3))
    with pytest.raises(mg.GraphError, match=r"shape \(3,\).*seed"):
        (x * 2.0).backward()
    with pytest.raises(mg.ShapeError, match=r"\(2,\).*\(3,\)"):
        (x * 2.0).backward(np.ones(2))


def test_backward_twice_needs_retain_graph():
    x = var(2.0)
    y = x * x
    y.backward(retain_graph=True)
    y.backward()
    assert x.grad.data == pytest.approx(8.0)
    with pytest.raises(mg.GraphError, match="retain_graph=True"):
        y.backward()


def test_name_scope_is_recorded_and_nests():
    x = var(np.ones(2))
    with mg.name_scope("rnn"):
        with mg.name_scope("t=0"):
            y = x * 2.0
    z = y + 1.0
    assert y.creator.scope == ("rnn", "t=0") and z.creator.scope == ()


# ---------------------------------------------------------------- what backward keeps
class Masked(mg.Function):
    """x where x > 0, keeping its mask with save() (backward reads neither
    the input nor the output)."""

    saves_inputs = False

    def forward(self, x):
        mask = x > 0
        self.save(mask=mask)
        return x * mask

    def backward(self, gy):
        return gy * self.mask


def test_saved_state_is_guarded_and_dropped_by_backward():
    x = var([-1.0, 2.0, 3.0])
    f = Masked()
    y = f(x)
    with pytest.raises(ValueError, match="read-only"):
        f.mask[0] = True
    mask = weakref.ref(f.mask)
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 1.0])
    assert mask() is None and "mask" not in vars(f)
    with pytest.raises(mg.GraphError, match="retain_graph=True"):
        y.backward(np.ones(3))


def test_an_unrecorded_call_keeps_no_state():
    x = var([-1.0, 2.0])
    for f, call in ((Masked(), lambda f: f(x.detach())), (Masked(), lambda f: f(x))):
        with mg.no_grad():
            call(f)
        assert "mask" not in vars(f)


def test_retain_graph_keeps_saved_state_for_a_second_backward():
    x = var([-1.0, 2.0])
    y = Masked()(x)
    y.backward(np.ones(2), retain_graph=True)
    y.backward(np.ones(2))
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0])


@pytest.mark.parametrize("make", [lambda: L.LSTM(8, 16, rng=0), lambda: L.GRU(8, 16, rng=0)],
                         ids=["LSTM", "GRU"])
def test_backward_frees_a_fused_sequences_buffers(make):
    hs = make()(np.ones((2, 5, 8), np.float32))
    f = hs.creator
    buffers = {name: weakref.ref(getattr(f, name)) for name in f._saved
               if name not in ("xs", "y")}
    assert len(buffers) == 4, sorted(buffers)      # the activations of every step
    hs.sum().backward()
    assert [name for name, ref in buffers.items() if ref() is not None] == []
    with pytest.raises(mg.GraphError, match="already freed"):
        hs.sum().backward()


def test_backward_calls_each_operations_release():
    released = []

    class Logged(Masked):
        def release(self):
            released.append(self)
            super().release()

    x = var([1.0, 2.0])
    a, b = Logged(), Logged()
    y = b(a(x))
    y.backward(np.ones(2), retain_graph=True)
    assert released == []
    y.backward(np.ones(2))
    assert released == [b, a]


# ---------------------------------------------------------------- in-place safety
def test_mutating_a_saved_input_is_refused_until_backward():
    x, w = var(np.ones(3)), var(np.full(3, 2.0))
    y = (x * w).sum()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 5.0
    y.backward()
    np.testing.assert_array_equal(w.grad.data, np.ones(3))  # computed with the original x
    x.data[0] = 5.0  # backward released the guard
    w.data -= 0.1  # the optimizer's in-place update works


def test_saved_computed_values_stay_read_only_for_good():
    x = var(np.ones(3))
    h = F.tanh(x)  # Tanh saves its output
    y = (h * 2.0).sum()  # Mul saves h
    y.backward()
    with pytest.raises(ValueError, match="read-only"):
        h.data[0] = 0.0
    edited = h.data.copy()  # the documented way to edit a computed value
    edited[0] = 0.0


def test_a_leaf_passed_through_branch_stays_updatable():
    w = var(np.ones(3))
    a, b = F.branch(w, 2)
    (F.tanh(a) * b).sum().backward()  # both outputs are saved by Mul and Tanh
    w.data -= 0.1  # the parameter's own array was never frozen


def test_guard_is_lifted_when_a_graph_is_dropped_without_backward():
    gc.disable()
    try:
        x = var(np.ones(3))
        y = F.tanh(x * 2.0)
        del y
        x.data[0] = 3.0
        assert saved.locked_count() == 0
    finally:
        gc.enable()


def test_an_array_saved_by_two_graphs_stays_guarded_until_both_are_done():
    w = var(np.ones(3))
    g1 = (w * w).sum()
    g2 = (w * 3.0).sum()
    g1.backward()
    with pytest.raises(ValueError, match="read-only"):
        w.data[0] = 0.0  # g2 still needs w
    g2.backward()
    w.data[0] = 0.0


def test_arrays_the_user_made_read_only_stay_read_only():
    a = np.ones(3)
    a.flags.writeable = False
    x = mg.Variable(a)
    (x * x).sum().backward()
    assert not a.flags.writeable


def test_rebinding_data_after_forward_keeps_the_recorded_values():
    x, w = var(np.ones(3)), var(np.full(3, 2.0))
    y = (x * w).sum()
    x.data = np.full(3, 7.0)
    y.backward()
    np.testing.assert_array_equal(w.grad.data, np.ones(3))


# ---------------------------------------------------------------- errors
def test_shape_errors_name_the_operation_and_shapes():
    with pytest.raises(mg.ShapeError, match=r"MatMul.*\(20, 100\).*\(650, 2600\)"):
        F.matmul(np.ones((20, 100)), np.ones((650, 2600)))
    with pytest.raises(mg.ShapeError, match=r"Add.*\(3, 4\).*\(5,\)"):
        var(np.ones((3, 4))) + np.ones(5)


class _WrongShape(mg.Function):
    def forward(self, x):
        return x.sum()

    def backward(self, gy):
        return np.ones(7)


class _WrongCount(mg.Function):
    def forward(self, x):
        return x * 2

    def backward(self, gy):
        return gy, gy


def test_a_backward_returning_the_wrong_shape_is_named():
    x = var(np.ones((2, 3)))
    with pytest.raises(mg.ShapeError, match=r"_WrongShape.backward.*\(7,\).*\(2, 3\)"):
        _WrongShape()(x).backward()


def test_a_backward_returning_the_wrong_count_is_named():
    x = var(1.0)
    with pytest.raises(mg.GraphError, match="_WrongCount.backward returned 2 gradients for 1"):
        _WrongCount()(x).backward()


# ---------------------------------------------------------------- the book's nodes
def test_the_books_nodes_compute_the_books_backward():
    rng = np.random.default_rng(0)
    x, W = var(rng.normal(size=(4, 3))), var(rng.normal(size=(3, 5)))
    gy = rng.normal(size=(4, 5))
    F.matmul(x, W).backward(gy)
    np.testing.assert_allclose(x.grad.data, gy @ W.data.T)  # dx = dy W^T
    np.testing.assert_allclose(W.grad.data, x.data.T @ gy)  # dW = x^T dy

    v = var(rng.normal(size=(1, 3)))
    g = rng.normal(size=(4, 3))
    F.repeat(v, 4, axis=0).backward(g)
    np.testing.assert_allclose(v.grad.data, g.sum(axis=0, keepdims=True))  # Repeat -> sum

    s = var(rng.normal(size=(4, 3)))
    F.sum(s, axis=0).backward(np.arange(3.0))
    np.testing.assert_array_equal(s.grad.data, np.tile(np.arange(3.0), (4, 1)))  # Sum -> repeat

    b = var(rng.normal(size=3))
    outs = F.branch(b, 3)
    (outs[0] * 1.0 + outs[1] * 2.0 + outs[2] * 3.0).sum().backward()
    np.testing.assert_array_equal(b.grad.data, np.full(3, 6.0))  # Branch -> sum


# ---------------------------------------------------------------- higher order
def test_create_graph_gives_differentiable_gradients():
    x = var(0.5)
    y = F.tanh(x)
    y.backward(create_graph=True)
    gx = x.grad
    x.cleargrad()
    gx.backward()
    t = np.tanh(0.5)
    assert gx.data == pytest.approx(1 - t * t)
    assert x.grad.data == pytest.approx(-2 * t * (1 - t * t))


def test_grad_leaves_dot_grad_untouched():
    x = var(np.array([1.0, 2.0]))
    y = (x ** 3).sum()
    gx, = mg.grad(y, [x], create_graph=True)
    assert x.grad is None
    hx, = mg.grad(gx.sum(), [x])
    np.testing.assert_allclose(hx.data, 6 * x.data)


# ---------------------------------------------------------------- backends
def test_a_small_graph_on_each_backend(xp):
    x = mg.Variable(xp.asarray(np.linspace(-1, 1, 6).reshape(2, 3)))
    W = mg.Variable(xp.asarray(np.ones((3, 2))))
    idx = xp.asarray(np.array([0, 1, 1]))
    y = F.sum(F.tanh(F.matmul(x, W))) + F.sum(F.get_item(x, idx))
    y.backward()
    assert mg.get_array_module(x.grad.data) is xp
    counts = np.array([[1.0] * 3, [2.0] * 3])
    t = np.tanh(np.linspace(-1, 1, 6).reshape(2, 3) @ np.ones((3, 2)))
    expect = (1 - t * t) @ np.ones((2, 3)) + counts
    np.testing.assert_allclose(mg.backend.as_numpy(x.grad.data), expect)


# ---------------------------------------------------------------- in-place accumulation
class _Stash(mg.Function):
    """Identity whose backward keeps a reference to the gradient it returns."""

    saves_inputs = False

    def forward(self, x):
        return x.copy()

    def backward(self, gy):
        self.returned = gy * 1.0        # a fresh array, also held here
        return self.returned


def test_accumulation_never_writes_into_an_array_someone_else_holds():
    x = mg.Variable(np.ones(3))
    stash = _Stash()
    # Both uses of x have generation 0; the stash was reached first, so its
    # array is the one waiting at x when the second gradient arrives.
    y = stash(x) + (x * 3.0) * 1.0
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad.data, [4.0, 4.0, 4.0])
    np.testing.assert_array_equal(stash.returned, [1.0, 1.0, 1.0])   # untouched


def test_accumulation_into_a_fresh_array_gives_the_same_sums():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(4, 3))
    x = mg.Variable(a)
    y = F.sum(F.tanh(x) * 2.0 + F.exp(x) * 3.0 + x * x)
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * (1 - np.tanh(a) ** 2) + 3 * np.exp(a) + 2 * a,
                               rtol=1e-14)
