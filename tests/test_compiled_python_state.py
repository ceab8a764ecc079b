"""Rule 4 of a compiled step: Python state that the step changes while it is
recorded would change on the recorded calls only, so it is refused, naming
what changed; what the compiled step handles itself (carried RNN state, the
training mode, parameters made on a first call, the state of objects whose
replayed methods run on every replay) is not."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad import optimizers as O
from minigrad.compiled import replayed
from models.rnnlm import Rnnlm

X = np.ones((4, 3), dtype=np.float32)
T = np.zeros((4, 1), dtype=np.float32)


def _model_and_opt():
    model = L.Sequential(L.Linear(3, 5, rng=0), L.Tanh(), L.Linear(5, 1, rng=1))
    return model, O.SGD(model, lr=0.1)


def _loss(model, x, t):
    model.zero_grad()
    loss = F.mean((model(x) - t) ** 2)
    loss.backward()
    return loss


def _refused(step, model, *match):
    fast = mg.compile(step, model)
    with pytest.raises(mg.CompileError) as caught:
        for _ in range(3):
            fast(X, T)
    for words in ("changed Python state", "after_step=", "replayed", "compiled=False",
                  *match):
        assert words in str(caught.value), (words, str(caught.value))


def test_a_counter_in_the_steps_closure_is_refused_naming_the_variable_and_its_values():
    model, opt = _model_and_opt()
    count = 0

    def step(x, t):
        nonlocal count
        count += 1
        loss = _loss(model, x, t)
        opt.update()
        return loss

    _refused(step, model, "variable 'count' of the step's closure", "from 0 to 1")


def test_a_list_the_step_appends_to_is_refused_naming_its_length():
    model, opt = _model_and_opt()
    seen = []

    def step(x, t):
        seen.append(x.shape)
        loss = _loss(model, x, t)
        opt.update()
        return loss

    _refused(step, model, "'seen'", "from a list of length 0 to a list of length 1")


def test_a_counter_in_a_training_loops_loss_is_refused_and_says_how_to_train_eagerly():
    from minigrad.data import ShuffledBatches
    from minigrad.training import TrainingLoop

    model, opt = _model_and_opt()
    batches = 0

    def loss(x, t):
        nonlocal batches
        batches += 1
        return F.mean((model(x) - t) ** 2)

    data = ShuffledBatches(np.ones((12, 3), np.float32), np.zeros((12, 1), np.float32),
                           batch_size=4)
    loop = TrainingLoop(model, opt, data, max_epoch=2, loss=loss, progress=False)
    with pytest.raises(mg.CompileError, match="'batches' of the closure of loss.*--eager"):
        loop.run()


def test_an_attribute_of_a_layer_the_step_changes_is_refused_naming_the_layer():
    model, opt = _model_and_opt()
    model.layers()[2].calls = 0        # the second Linear

    def step(x, t):
        model.layers()[2].calls += 1
        loss = _loss(model, x, t)
        opt.update()
        return loss

    _refused(step, model, "Linear '2', attribute 'calls'", "from 0 to 1")
    model, opt = _model_and_opt()
    model.last_batch = 0

    def notes_its_batch(x, t):      # the model's zero_grad, a replayed method, runs too
        model.last_batch += len(x)
        loss = _loss(model, x, t)
        opt.update()
        return loss

    _refused(notes_its_batch, model, "Sequential 'model', attribute 'last_batch'", "0 to 4")


def test_an_attribute_of_an_object_the_closure_holds_or_of_the_steps_object_is_refused():
    model, opt = _model_and_opt()

    class Stats:
        def __init__(self):
            self.best = float("inf")

        def step(self, x, t):             # a method as the step: its object is watched
            loss = _loss(model, x, t)
            self.best = 1.0 if self.best > 1.0 else 0.5
            opt.update()
            return loss

    _refused(Stats().step, model, "the step's object (Stats), attribute 'best'",
             "from inf to 1.0")
    stats = Stats()

    def step(x, t):
        stats.best = -1.0
        return stats.step(x, t)

    _refused(step, model, "Stats, the variable 'stats' of the step's closure, attribute 'best'")


def test_state_that_replayed_methods_keep_is_allowed_and_kept_on_every_replay():
    model, opt = _model_and_opt()
    opt = O.Adam(model, lr=0.01)      # its step count changes: update runs on every replay

    class Counter:
        def __init__(self):
            self.n = 0

        @replayed
        def tick(self):
            self.n += 1

    counter = Counter()

    def step(x, t):
        loss = _loss(model, x, t)
        counter.tick()
        opt.update()
        return loss

    fast = mg.compile(step, model)
    for _ in range(5):
        fast(X, T)
    assert fast.replays == 3 and counter.n == 5


def test_first_call_set_up_carried_state_and_the_training_mode_are_not_changes():
    class Lazy(L.Layer):
        """Makes its parameter on the first call and notes its input size then."""

        def __init__(self):
            super().__init__()
            self.in_size = None

        def forward(self, x):
            if self.in_size is None:
                self.in_size = x.shape[-1]
                self.W = L.Parameter(np.full((x.shape[-1], 1), 0.1, dtype=np.float32))
            return x @ self.W

    lazy = Lazy()
    opt = O.SGD(lazy, lr=0.1)

    def step(x, t):
        loss = _loss(lazy, x, t)
        opt.update()
        return loss

    fast = mg.compile(step, lazy)
    for _ in range(4):
        fast(X, T)
    assert fast.replays >= 1 and lazy.in_size == 3

    lm = Rnnlm(vocab_size=20, wordvec_size=8, hidden_size=8, rng=0)   # carries h and c
    lm_opt = O.SGD(lm, lr=0.1)

    def lm_step(xs, ts):
        lm.zero_grad()
        loss = lm.loss(xs, ts)
        loss.backward()
        lm_opt.update()
        return loss

    fast_lm = mg.compile(lm_step, lm)
    rng = np.random.default_rng(0)
    for i in range(6):
        if i == 3:
            lm.eval()          # another signature, not a change made by the step
        fast_lm(rng.integers(0, 20, (2, 5)), rng.integers(0, 20, (2, 5)))
    assert fast_lm.replays > 0


def test_a_step_may_switch_the_training_mode_and_back_but_not_leave_it_switched():
    model, opt = _model_and_opt()

    def evaluates_inside(x, t):
        loss = _loss(model, x, t)
        model.eval()
        F.mean(model(x))        # e.g. a score without dropout
        model.train()
        opt.update()
        return loss

    fast = mg.compile(evaluates_inside, model)
    for _ in range(3):
        fast(X, T)
    assert fast.replays == 1

    def leaves_it_switched(x, t):
        loss = _loss(model, x, t)
        model.train(not model.training)
        opt.update()
        return loss

    _refused(leaves_it_switched, model, "attribute 'training'", "from True to False")


def test_greedy_generation_is_watched_too():
    from models.seq2seq import Seq2seq

    model = Seq2seq(13, 8, 16, rng=0)
    xs = np.zeros((2, 7), dtype=np.int64)
    model.generate(xs, 6, 3)
    model.answered = 0
    original = type(model)._greedy

    def counting(self, *args):
        self.answered += 1
        return original(self, *args)

    type(model)._greedy = counting
    try:
        with pytest.raises(mg.CompileError, match="Seq2seq 'model', attribute 'answered'"):
            for _ in range(3):
                model.generate(np.ones((3, 7), dtype=np.int64), 6, 3)
    finally:
        type(model)._greedy = original
