"""A compiled step (minigrad.compile) against the same step run eagerly: the
same losses and the same weights after every step, bit for bit."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad import optimizers as O
from models.two_layer_net import TwoLayerNet

STEPS = 50


def _train_step(model, opt, loss_of=None):
    loss_of = loss_of or model.loss

    def step(*batch):
        model.zero_grad()
        loss = loss_of(*batch)
        loss.backward()
        opt.update()
        return loss
    return step


def _twins(make_model, make_opt):
    """(eager model, its optimizer), (compiled model, its optimizer): equal weights."""
    a, b = make_model(), make_model()
    b.load_state_dict(a.state_dict())
    return (a, make_opt(a)), (b, make_opt(b))


def _assert_same(eager, compiled):
    for (name, p), (_, q) in zip(eager.named_params(), compiled.named_params()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


def _run_both(eager_step, compiled_step, eager_model, compiled_model, batches, between=None):
    for i, batch in enumerate(batches):
        if between is not None:
            between(i)
        want = eager_step(*batch)
        got = compiled_step(*batch)
        np.testing.assert_array_equal(got.data, want.data, err_msg=f"loss of step {i}")
        _assert_same(eager_model, compiled_model)


def _spiral_batches(n, batch=30, seed=0):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(batch, 2)).astype(np.float32), rng.integers(0, 3, batch))
            for _ in range(n)]


def test_two_layer_net_with_sgd_replays_the_eager_steps_bit_for_bit():
    (a, opt_a), (b, opt_b) = _twins(lambda: TwoLayerNet(2, 10, 3, rng=0),
                                    lambda m: O.SGD(m, lr=1.0))
    fast = mg.compile(_train_step(b, opt_b), b)
    _run_both(_train_step(a, opt_a), fast, a, b, _spiral_batches(STEPS))
    assert fast.recordings == 2 and fast.replays == STEPS - 2


class MLP(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc1 = L.Linear(4, 16, rng=1)
        self.fc2 = L.Linear(16, 3, rng=2)

    def loss(self, x, t):
        return F.softmax_cross_entropy(self.fc2(F.relu(self.fc1(x))), t)


def _mlp_batches(n, batch=8, seed=1):
    rng = np.random.default_rng(seed)
    return [(rng.normal(size=(batch, 4)).astype(np.float32), rng.integers(0, 3, batch))
            for _ in range(n)]


def test_adam_with_a_learning_rate_changed_between_steps_replays_bit_for_bit():
    # Adam's update reads lr, its step count and its moments live: a host call.
    (a, opt_a), (b, opt_b) = _twins(MLP, lambda m: O.Adam(m, lr=0.01))
    fast = mg.compile(_train_step(b, opt_b), b)

    def schedule(i):
        opt_a.lr = opt_b.lr = 0.01 / (1 + i // 10)
    _run_both(_train_step(a, opt_a), fast, a, b, _mlp_batches(STEPS), between=schedule)
    assert opt_b.steps == STEPS and fast.replays == STEPS - 2


@pytest.mark.parametrize("by_hand", [False, True], ids=["as a hook", "called in the step"])
def test_gradient_clipping_replays_bit_for_bit(by_hand):
    def make_opt(m):
        opt = O.SGD(m, lr=0.5)
        if not by_hand:
            opt.add_hook(O.ClipGradNorm(0.05))
        return opt
    (a, opt_a), (b, opt_b) = _twins(MLP, make_opt)

    def clipped(model, opt):
        clip = O.ClipGradNorm(0.05)

        def step(x, t):
            model.zero_grad()
            loss = model.loss(x, t)
            loss.backward()
            clip(model.params())
            opt.update()
            return loss
        return step
    make = clipped if by_hand else _train_step
    fast = mg.compile(make(b, opt_b), b)
    _run_both(make(a, opt_a), fast, a, b, _mlp_batches(STEPS))
    assert fast.replays == STEPS - 2


def test_the_recorded_entries_are_the_operations_backward_and_host_calls_in_order():
    from minigrad.compiled.tape import Backward, Forward, HostCall
    model = MLP()
    opt = O.SGD(model, lr=0.1)
    fast = mg.compile(_train_step(model, opt), model)
    x, t = _mlp_batches(1)[0]
    fast(x, t)
    tape = next(iter(fast._entries.values())).tape
    kinds = [type(e) for e in tape.entries]
    assert kinds[0] is HostCall and tape.entries[0].name == "MLP.zero_grad"
    assert kinds[-1] is HostCall and tape.entries[-1].name == "SGD.update"
    assert kinds.count(Backward) == 1 and kinds.index(Backward) == len(kinds) - 2
    assert all(k is Forward for k in kinds[1:-2])
    # The update's own work (the hooks it runs) is not on the tape: the host call repeats it.
    assert [type(e.f).__name__ for e in tape.entries[1:-2]][-1] == "SoftmaxCrossEntropy"


def _tbptt_epoch(rng, vocab, batch=4, time=5, full=6, short=3):
    """One epoch's batches: ``full`` of (batch, time), then a short last one."""
    sizes = [time] * full + [short]
    return [(rng.integers(0, vocab, (batch, T)), rng.integers(0, vocab, (batch, T)))
            for T in sizes]


def _gru_rnnlm(*args, **kwargs):
    """The GRU language model: Rnnlm with a GRU (the class attributes pick the layer)."""
    from models.rnnlm import Rnnlm

    class GruRnnlm(Rnnlm):
        rnn_class, rnn_name = L.GRU, "gru"
    return GruRnnlm(*args, **kwargs)


@pytest.mark.parametrize("make", ["Rnnlm", "SimpleRnnlm", "GRU"])
def test_a_stateful_rnnlm_carries_its_state_across_replays_and_retraces(make):
    import models.rnnlm as lm
    vocab = 30
    cls = _gru_rnnlm if make == "GRU" else getattr(lm, make)
    (a, opt_a), (b, opt_b) = _twins(lambda: cls(vocab, 8, 8, rng=0),
                                    lambda m: O.SGD(m, lr=0.5))
    for opt in (opt_a, opt_b):
        opt.add_hook(O.ClipGradNorm(0.25))
    fast = mg.compile(_train_step(b, opt_b), b)
    eager = _train_step(a, opt_a)
    rng = np.random.default_rng(3)
    steps = 0
    for epoch in range(8):     # 7 batches an epoch: 56 steps
        a.reset_state()
        b.reset_state()
        _run_both(eager, fast, a, b, _tbptt_epoch(rng, vocab))
        np.testing.assert_array_equal(b.recurrent.h.data, a.recurrent.h.data)
        steps += 7
    assert steps >= STEPS
    # Signatures: the first batch (no state yet), the full batches, the short last one.
    assert len(fast._entries) == 3 and fast.replays > steps // 2


@pytest.mark.parametrize("make", ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq"])
def test_seq2seq_with_teacher_forcing_replays_bit_for_bit(make):
    import models.seq2seq as s2s
    vocab = 12
    (a, opt_a), (b, opt_b) = _twins(lambda: getattr(s2s, make)(vocab, 6, 8, rng=0),
                                    lambda m: O.Adam(m, lr=0.01))
    fast = mg.compile(_train_step(b, opt_b), b)
    rng = np.random.default_rng(4)
    batches = [(rng.integers(0, vocab, (5, 7)), rng.integers(0, vocab, (5, 4)))
               for _ in range(STEPS)]
    _run_both(_train_step(a, opt_a), fast, a, b, batches)
    # The LSTMs keep their last state (unused when not stateful): the first call
    # has none, so the second is another signature, recorded twice.
    assert fast.recordings == 3 and fast.replays == STEPS - 3


@pytest.mark.parametrize("lazy", [False, True], ids=["the book's Adam", "lazy Adam"])
def test_cbow_with_sparse_rows_whose_ids_change_every_call_replays_bit_for_bit(lazy):
    from models.word2vec import CBOW
    rng = np.random.default_rng(5)
    vocab, window = 20, 1
    corpus = rng.integers(0, vocab, 200)
    (a, opt_a), (b, opt_b) = _twins(
        lambda: CBOW(vocab, 6, window, corpus, sample_size=3, sparse=True, rng=0),
        lambda m: O.Adam(m, lr=0.01, lazy=lazy))
    fast = mg.compile(_train_step(b, opt_b), b)
    batches = []
    for _ in range(STEPS):
        contexts = rng.integers(0, vocab, (8, 2 * window))
        target = rng.integers(0, vocab, 8)
        # The negatives are drawn outside the step and passed in (see test_negative_sampling_...)
        batches.append((contexts, target, a.ns_loss.sampler.sample(target)))
    _run_both(_train_step(a, opt_a), fast, a, b, batches)
    assert fast.replays == STEPS - 2


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_dropout_draws_a_new_mask_on_every_replay_as_eager_does(cell):
    # BetterRnnlm: dropout between its LSTMs (or GRUs), weight tying, stateful TBPTT.
    from models.rnnlm import BetterRnnlm
    vocab = 25
    (a, opt_a), (b, opt_b) = _twins(
        lambda: BetterRnnlm(vocab, 8, 8, dropout_ratio=0.5, cell=cell, rng=0),
        lambda m: O.SGD(m, lr=0.5))
    fast = mg.compile(_train_step(b, opt_b), b)
    eager = _train_step(a, opt_a)
    rng = np.random.default_rng(6)
    batches = [(rng.integers(0, vocab, (3, 4)), rng.integers(0, vocab, (3, 4)))
               for _ in range(STEPS)]
    for i, batch in enumerate(batches):
        mg.random.seed(100 + i)      # each step's masks: the same stream for both
        want = eager(*batch)
        mg.random.seed(100 + i)
        got = fast(*batch)
        np.testing.assert_array_equal(got.data, want.data, err_msg=f"loss of step {i}")
        _assert_same(a, b)
    assert fast.replays == STEPS - 3


def test_dropout_as_an_operation_gives_the_masks_and_gradients_of_before():
    x = mg.Variable(np.linspace(-1, 1, 12).reshape(3, 4))
    mg.random.seed(7)
    y = F.dropout(x, 0.25)
    y.sum().backward()
    mg.random.seed(7)
    keep = mg.random.uniform(np, (3, 4), x.dtype) >= 0.25
    mask = keep.astype(x.dtype) * x.dtype.type(1 / 0.75)
    np.testing.assert_array_equal(y.data, x.data * mask)
    np.testing.assert_array_equal(x.grad.data, mask)
    assert type(y.creator).__name__ == "Dropout"


# ------------------------------------------------------------ loud, never silent
def _mlp_step(body):
    """A compiled MLP step whose middle is ``body(model, loss, x, t)``."""
    model = MLP()
    opt = O.SGD(model, lr=0.1)

    def step(x, t):
        model.zero_grad()
        loss = model.loss(x, t)
        out = body(model, loss, x, t)
        loss.backward()
        opt.update()
        return loss if out is None else out
    return mg.compile(step, model)


@pytest.mark.parametrize("read, use", [
    (lambda loss: float(loss), "float()"),
    (lambda loss: loss.item(), "item()"),
    (lambda loss: bool(loss), "a truth value"),
    (lambda loss: loss < 1.0, "a comparison"),
    (lambda loss: loss.numpy(), "numpy()"),
    (lambda loss: loss.tolist(), "tolist()"),
], ids=["float", "item", "bool", "comparison", "numpy", "tolist"])
def test_a_value_read_into_python_while_recording_is_refused_naming_the_line(read, use):
    fast = _mlp_step(lambda model, loss, x, t: read(loss) and None)
    with pytest.raises(mg.CompileError) as e:
        fast(*_mlp_batches(1)[0])
    assert use in str(e.value) and "test_compiled.py" in str(e.value)
    assert "loss, not float(loss)" in str(e.value)


def test_a_returned_python_number_is_refused():
    fast = _mlp_step(lambda model, loss, x, t: 1.5)
    with pytest.raises(mg.CompileError, match="returned a float"):
        fast(*_mlp_batches(1)[0])


def _refused_at_the_second_call(loss_of, match):
    """A compiled MLP step whose loss is ``loss_of(model, x, t)``: its second
    call (a second recording of the same signature) raises ``match``."""
    model = MLP()
    opt = O.SGD(model, lr=0.1)
    fast = mg.compile(_train_step(model, opt, lambda x, t: loss_of(model, x, t)), model)
    batches = _mlp_batches(2)
    fast(*batches[0])
    with pytest.raises(mg.CompileError, match=match):
        fast(*batches[1])


def test_two_calls_with_the_same_signature_taking_different_paths_are_refused():
    calls = []

    def loss_of(model, x, t):
        calls.append(1)
        h = F.relu(model.fc1(x))
        if len(calls) == 2:      # Python state decides the path: the second call differs
            h = F.tanh(h)
        return F.softmax_cross_entropy(model.fc2(h), t)
    _refused_at_the_second_call(loss_of, r"different paths: entry 3 is Linear in the first "
                                         r"call and Tanh \(made at .*test_compiled.py:\d+ in "
                                         r"loss_of\) in the second")


def test_an_array_computed_in_python_from_the_arguments_is_refused_naming_the_operation():
    def loss_of(model, x, t):
        scaled = x * 2.0         # numpy on the argument: not an operation, frozen by a replay
        return model.loss(scaled, t)
    _refused_at_the_second_call(loss_of, r"entry 1, Linear \(made at .*test_compiled.py:\d+ "
                                         r"in loss .*\), input 0 \(\(8, 4\) float32\) "
                                         r"has other values in the second call")


def test_a_random_draw_outside_an_operation_is_refused():
    from models.word2vec import CBOW
    corpus = np.random.default_rng(0).integers(0, 20, 200)
    model = CBOW(20, 6, 1, corpus, sample_size=3, sparse=True, rng=0)
    sampler = model.ns_loss.sampler
    sampler._rng = None       # draws from minigrad.random

    def loss_of(contexts, target):   # the negatives drawn in the step's Python
        return model.loss(contexts, target, negatives=sampler.sample(target))
    fast = mg.compile(_train_step(model, O.SGD(model, lr=0.1), loss_of), model)
    with pytest.raises(mg.CompileError, match="random draw at .*negative_sampling.py.* outside "
                                              "any operation"):
        fast(np.zeros((8, 2), np.int64), np.ones(8, np.int64))


def test_negatives_the_loss_layer_draws_are_drawn_afresh_on_every_replay_as_eager_does():
    # The layer draws them inside an operation's forward, from the sampler's own generator.
    from models.word2vec import CBOW
    rng = np.random.default_rng(6)
    corpus = rng.integers(0, 20, 200)
    (a, opt_a), (b, opt_b) = _twins(lambda: CBOW(20, 6, 1, corpus, sample_size=3, rng=0),
                                    lambda m: O.Adam(m, lr=0.01))
    fast = mg.compile(_train_step(b, opt_b), b)
    batches = [(rng.integers(0, 20, (8, 2)), rng.integers(0, 20, 8)) for _ in range(STEPS)]
    _run_both(_train_step(a, opt_a), fast, a, b, batches)
    assert fast.replays == STEPS - 2


def test_higher_order_gradients_are_refused():
    model = L.Linear(2, 1, rng=0)

    def step(x):
        y = (model(x) ** 3).sum()
        mg.grad(y, [model.W], create_graph=True)
        return y
    with pytest.raises(mg.CompileError, match="create_graph=True"):
        mg.compile(step, model)(np.ones((2, 2), np.float32))


def test_a_full_cache_drops_the_oldest_signature_and_says_so_once():
    model = MLP()
    fast = mg.compile(_train_step(model, O.SGD(model, lr=0.1)), model, cache_size=2)
    rng = np.random.default_rng(0)
    with pytest.warns(mg.compiled.ScheduleEvictedWarning, match=r"\(1, 4\) float32") as caught:
        for n in (1, 2, 3, 4):
            fast(rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 3, n))
    assert len(caught) == 1 and len(fast._entries) == 2


def test_an_operation_whose_result_the_step_drops_is_left_out_and_frees_the_weights():
    # Eager frees the unused operation (and its read-only hold on fc1's weights)
    # at once; so must the recording, or the update would find them read-only.
    def unused_then_loss(model):
        def loss_of(x, t):
            F.tanh(model.fc1(x))                  # dropped
            return model.loss(x, t)
        return loss_of
    (a, opt_a), (b, opt_b) = _twins(MLP, lambda m: O.SGD(m, lr=0.1))
    fast = mg.compile(_train_step(b, opt_b, unused_then_loss(b)), b)
    _run_both(_train_step(a, opt_a, unused_then_loss(a)), fast, a, b, _mlp_batches(10))
    assert "Tanh" not in fast.describe() and fast.replays == 8


def test_a_dropped_result_that_drew_random_numbers_is_refused():
    def loss_of(model, x, t):
        F.dropout(model.fc1(x), 0.5)              # its mask is drawn, its result dropped
        return model.loss(x, t)
    model = MLP()
    fast = mg.compile(_train_step(model, O.SGD(model, lr=0.1), lambda x, t: loss_of(model, x, t)),
                      model)
    with pytest.raises(mg.CompileError, match="drops the result of an operation whose forward "
                                              "draws random numbers"):
        fast(*_mlp_batches(1)[0])


# ------------------------------------------------------------ what a replay makes
@pytest.mark.parametrize("kernels", [True, False], ids=["kernels", "operations"])
def test_a_replay_makes_no_function_and_no_variable_but_the_gradients(monkeypatch, kernels):
    from minigrad.core.config import state
    model = MLP()
    fast = mg.compile(_train_step(model, O.Adam(model)), model, kernels=kernels)
    batches = _mlp_batches(6)
    for batch in batches[:4]:   # record, record, and (kernels) lower on the first two replays
        fast(*batch)
    made = {"functions": 0, "variables": 0}
    apply, init = mg.Function.apply, mg.Variable.__init__

    def counted_apply(self, *inputs):
        # (Inside a backward pass operations compute on arrays and record nothing,
        # as in an eager step's backward: those are not counted.)
        made["functions"] += not state.raw_backward
        return apply(self, *inputs)

    def counted_init(self, *args, **kwargs):
        made["variables"] += 1
        init(self, *args, **kwargs)
    monkeypatch.setattr(mg.Function, "apply", counted_apply)
    monkeypatch.setattr(mg.Variable, "__init__", counted_init)
    fast(*batches[4])
    assert fast.replays == 3
    # Replayed operations store each parameter's gradient in .grad, as a new
    # Variable; replayed kernels refill the one they stored the first time.
    assert made == {"functions": 0, "variables": 0 if kernels else len(model.params())}


def test_a_checkpoint_loaded_in_the_middle_of_a_compiled_run_continues_it_exactly():
    batches = _mlp_batches(STEPS)
    (a, opt_a), (b, opt_b) = _twins(MLP, lambda m: O.Adam(m, lr=0.01))
    eager = _train_step(a, opt_a)
    for batch in batches:                       # the uninterrupted run
        want = eager(*batch)
    fast = mg.compile(_train_step(b, opt_b), b)
    for batch in batches[:20]:
        fast(*batch)
    weights, moments = b.state_dict(), opt_b.state_dict()
    for batch in batches[20:30]:                # steps that the checkpoint undoes
        fast(*batch)
    b.load_state_dict(weights)
    opt_b.load_state_dict(moments)
    for batch in batches[20:]:
        got = fast(*batch)
    np.testing.assert_array_equal(got.data, want.data)
    _assert_same(a, b)
    assert fast.recordings == 2
