"""A compiled step replayed as numpy kernels (minigrad/compiled/lowering.py):
bit for bit the eager step, including where the kernels must fall back to
replaying operations, and where buffers are shared or refilled."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad import optimizers as O
from minigrad.compiled import memory

from test_compiled import MLP, STEPS, _assert_same, _mlp_batches, _run_both, _train_step, _twins


def _compiled_pair(make_model=MLP, make_opt=lambda m: O.SGD(m, lr=0.1), loss_of=None):
    (a, opt_a), (b, opt_b) = _twins(make_model, make_opt)
    eager = _train_step(a, opt_a, loss_of and (lambda *batch: loss_of(a, *batch)))
    fast = mg.compile(_train_step(b, opt_b, loss_of and (lambda *batch: loss_of(b, *batch))), b)
    return a, b, eager, fast


def test_an_mlp_step_is_replayed_as_kernels_bit_for_bit():
    a, b, eager, fast = _compiled_pair()
    _run_both(eager, fast, a, b, _mlp_batches(STEPS))
    assert fast.replayed_as().startswith("kernels:")


def test_gradients_that_add_up_over_calls_are_not_overwritten_by_the_next_call():
    # zero_grad outside the step, every third call: the refilled buffer must not
    # replace the gradient the earlier calls left in .grad.
    (a, opt_a), (b, opt_b) = _twins(MLP, lambda m: O.SGD(m, lr=0.1))

    def make(model):
        def step(x, t):
            loss = model.loss(x, t)
            loss.backward()
            return loss
        return step
    eager, fast = make(a), mg.compile(make(b), b)
    for i, (x, t) in enumerate(_mlp_batches(STEPS)):
        if i % 3 == 0:
            a.zero_grad()
            b.zero_grad()
        np.testing.assert_array_equal(fast(x, t).data, eager(x, t).data)
        for p, q in zip(a.params(), b.params()):
            np.testing.assert_array_equal(q.grad.data, p.grad.data)
        if i % 3 == 2:
            opt_a.update()
            opt_b.update()
    assert fast.replayed_as().startswith("kernels:")


def test_a_loss_kept_from_an_earlier_call_keeps_its_value():
    _, b, _, fast = _compiled_pair()
    kept = []
    for x, t in _mlp_batches(8):
        loss = fast(x, t)
        kept.append((loss.data, float(loss.data)))
    assert all(float(data) == value for data, value in kept)
    assert len({value for _, value in kept}) > 1


def test_no_traced_array_is_left_where_the_caller_looks():
    from minigrad.compiled.tracing import Traced
    _, b, _, fast = _compiled_pair()
    for x, t in _mlp_batches(4):
        loss = fast(x, t)
    assert type(loss.data) is np.ndarray
    for p in b.params():
        assert type(p.data) is np.ndarray and type(p.grad.data) is np.ndarray
    assert not hasattr(np.zeros, "original"), "numpy's makers are given back after lowering"


class _ReadsIntoPython(mg.Function):
    """Doubles its input where the batch's largest value is positive: a decision
    read into Python inside forward, which kernels cannot repeat."""

    def forward(self, x):
        self.positive = bool(x.max() > 0)
        return x * 2 if self.positive else x * 1

    def backward(self, gy):
        return gy * 2 if self.positive else gy * 1


class _Unique(mg.Function):
    """The sum over x's distinct values, times x: a result shaped by the data inside."""

    def forward(self, x):
        self.s = np.unique(x).sum()
        return x * self.s

    def backward(self, gy):
        return gy * self.s


@pytest.mark.parametrize("op, why", [(_ReadsIntoPython, "reads a value into Python"),
                                     (_Unique, "depends on the data")])
def test_a_step_kernels_cannot_repeat_is_replayed_operation_by_operation(op, why):
    def loss_of(model, x, t):
        return F.softmax_cross_entropy(op()(model.fc2(F.relu(model.fc1(x)))), t)
    a, b, eager, fast = _compiled_pair(loss_of=loss_of)
    batches = _mlp_batches(12)
    for x, _ in batches[1::2]:
        x *= -1                     # so the decision changes from batch to batch
    _run_both(eager, fast, a, b, batches)
    assert fast.replayed_as().startswith("operations:") and why in fast.replayed_as()
    assert fast.replays == len(batches) - 2


def test_a_check_of_the_data_still_runs_on_every_replay():
    # SoftmaxCrossEntropy refuses a target out of range, in an @opaque_kernel:
    # a kernel replay runs the check for each batch, as an eager step does.
    _, b, _, fast = _compiled_pair()
    batches = _mlp_batches(4)
    for x, t in batches:
        fast(x, t)
    assert fast.replayed_as().startswith("kernels:")
    x, t = batches[0]
    bad = t.copy()
    bad[3] = 7
    with pytest.raises(IndexError, match="target 7 is out of range for 3 classes"):
        fast(x, bad)
    bad[3] = -2      # numpy would read -2 as the last class but one
    with pytest.raises(IndexError, match="target -2"):
        fast(x, bad)


def test_shared_buffers_hold_less_memory_and_give_the_same_numbers(monkeypatch):
    from models.rnnlm import Rnnlm
    held, losses = {}, {}
    for share in (False, True):
        monkeypatch.setattr(memory, "SHARE_BUFFERS", share)
        model = Rnnlm(30, 8, 8, rng=0)
        fast = mg.compile(_train_step(model, O.SGD(model, lr=0.5)), model)
        rng = np.random.default_rng(0)
        losses[share] = [fast(rng.integers(0, 30, (4, 6)), rng.integers(0, 30, (4, 6))).data
                         for _ in range(8)]
        entry = next(reversed(fast._entries.values()))
        held[share] = memory.held_bytes(entry.tape.kernels)
    np.testing.assert_array_equal(losses[True], losses[False])
    assert held[True] < 0.7 * held[False]


class _Unwrapped(mg.Function):
    """Scales x by its mean, read through a plain view of the array: numpy's
    tracing does not see the mean, so a kernel would keep this call's."""

    def forward(self, x):
        self.scale = x.view(np.ndarray).mean()
        return x * self.scale

    def backward(self, gy):
        return gy * self.scale


def test_a_value_computed_from_the_batch_behind_numpys_back_keeps_the_operations():
    def loss_of(model, x, t):
        return F.softmax_cross_entropy(_Unwrapped()(model.fc2(F.relu(model.fc1(x)))), t)
    a, b, eager, fast = _compiled_pair(loss_of=loss_of)
    _run_both(eager, fast, a, b, _mlp_batches(12))
    assert fast.replayed_as().startswith("operations:")
    assert "_Unwrapped.forward" in fast.replayed_as() and "differs between two calls" \
        in fast.replayed_as()


def test_a_recurrent_layer_unrolled_step_by_step_is_lowered_bit_for_bit():
    # fused=False: one operation per time step, joined by F.stack (np.stack
    # passes out=None to np.concatenate, which the kernel must not take twice).
    from models.rnnlm import Rnnlm

    def make():
        model = Rnnlm(30, 8, 8, rng=0)
        model.recurrent.fused = False
        return model
    a, b, eager, fast = _compiled_pair(make, lambda m: O.SGD(m, lr=0.5))
    rng = np.random.default_rng(2)
    batches = [(rng.integers(0, 30, (4, 5)), rng.integers(0, 30, (4, 5))) for _ in range(12)]
    _run_both(eager, fast, a, b, batches)
    assert fast.replayed_as().startswith("kernels:")


def test_a_gradient_nothing_reads_is_not_computed():
    # (x W + b - t)^2: Sub's backward also computes dL/dt, but t needs no gradient.
    model = L.Linear(3, 1, rng=0)
    opt = O.SGD(model, lr=0.1)

    def step(x, t):
        model.zero_grad()
        loss = F.mean((model(x) - t) ** 2)
        loss.backward()
        opt.update()
        return loss
    fast = mg.compile(step, model)
    x, t = np.ones((4, 3), np.float32), np.zeros((4, 1), np.float32)
    for _ in range(5):
        fast(x, t)
    tape = next(iter(fast._entries.values())).tape
    wheres = [(k.where, k.name) for k in tape.kernels]
    assert ("Sub.backward", "negative") not in wheres
    assert ("Linear.backward", "matmul") in wheres


def test_numpy_in_another_thread_is_not_traced_while_a_step_lowers():
    # numpy's makers are swapped for the whole process while a call is traced.
    import threading
    from minigrad.compiled import tracing
    lowering, made = tracing.Lowering(), {}
    with tracing.active(lowering):
        other = threading.Thread(target=lambda: made.setdefault("other", np.zeros(3)))
        other.start()
        other.join()
        mine = np.zeros(3)
    assert type(made["other"]) is np.ndarray
    assert type(mine) is tracing.Traced and [k.name for k in lowering.kernels] == ["fill"]


class _DoubledWherePositive(mg.Function):
    """2x where x > 0, else 0, written with a ufunc's ``where=``: the mask is
    read by keyword only, and another mask of its size is made before it."""

    def forward(self, x):
        positive = x > 0
        small = x < -1.0
        y = np.zeros_like(x)
        np.multiply(x, 2.0, out=y, where=positive)
        return y + small

    def backward(self, gy):
        x, = self.xs
        return gy * 2 * (x > 0)


def test_an_array_a_kernel_reads_by_keyword_is_kept_alive_and_refreshed():
    def loss_of(model, x, t):
        return F.softmax_cross_entropy(_DoubledWherePositive()(model.fc2(F.relu(model.fc1(x)))),
                                       t)
    a, b, eager, fast = _compiled_pair(loss_of=loss_of)
    batches = _mlp_batches(12)
    for x, _ in batches[1::2]:
        x *= -1
    _run_both(eager, fast, a, b, batches)
    assert fast.replayed_as().startswith("kernels:")
