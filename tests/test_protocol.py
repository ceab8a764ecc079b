"""What a model needs for Trainer, TrainingLoop and generate: one list,
checked up front; reset_state optional; generate from the library."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.data import ShuffledBatches, TBPTTBatcher
from minigrad.optimizers import SGD
from minigrad.training import ModelProtocolError, Trainer, TrainingLoop, check_model, generate


class NoLoss(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc = L.Linear(2, 2, rng=0)

    def forward(self, x):
        return self.fc(x)


def test_trainer_on_a_model_without_loss_says_so_and_names_loss_argument():
    model = NoLoss()
    with pytest.raises(ModelProtocolError, match=r"Trainer: the model \(NoLoss\) lacks what it "
                                                 r"needs:\n  - loss\(\*batch\).*loss=\.\.\."):
        Trainer(model, SGD(model, lr=0.1))
    x = np.ones((4, 2))
    t = np.zeros(4, dtype=np.int64)
    trainer = Trainer(model, SGD(model, lr=0.1), progress=False,
                      loss=lambda x, t: F.softmax_cross_entropy(model(x), t))
    assert len(trainer.fit(x, t, max_epoch=1, batch_size=2)["loss"]) == 2


def test_a_model_that_is_not_a_layer_gets_the_whole_list():
    class Bare:
        def loss(self, x, t):
            return None

    with pytest.raises(ModelProtocolError) as info:
        TrainingLoop(Bare(), None, ShuffledBatches(np.ones((4, 2)), np.ones(4), batch_size=2),
                     max_epoch=1)
    message = str(info.value)
    assert ("  - params(), named_params(), layers(), zero_grad(), train(), eval(): methods "
            "every minigrad Layer has: build the model as a subclass of minigrad.layers.Layer"
            in message)
    assert "loss(" not in message and "docs/training.md" in message


def test_generate_needs_scores():
    class Bare:
        pass

    with pytest.raises(ModelProtocolError, match=r"(?s)generate: .*predict\(ids\)"):
        check_model(Bare(), "generate", generating=True)


class StatelessLM(L.Layer):
    """Next-word scores from the last word (no state); it records what it is fed."""

    def __init__(self, V=6):
        super().__init__()
        self.embed = L.Embedding(V, 4, rng=0)
        self.out = L.Linear(4, V, rng=1)
        self.seen = []

    def forward(self, ids):
        self.seen.append((np.array(ids), mg.is_grad_enabled(), self.training))
        return self.out(self.embed(ids))

    def loss(self, ids, targets):
        scores = self(ids)
        return F.softmax_cross_entropy(scores.reshape(-1, scores.shape[-1]), targets.reshape(-1))


class StatefulLM(StatelessLM):
    def __init__(self, V=6):
        super().__init__(V)
        self.resets = 0

    def reset_state(self):
        self.resets += 1


def test_generate_is_the_library_function_and_models_generate_imports_it():
    import models.rnnlm.generate_text

    assert models.rnnlm.generate_text.generate is generate is mg.training.generate


def test_generate_on_a_stateless_model_feeds_every_word_so_far_under_no_grad_in_eval_mode():
    model = StatelessLM()
    ids = generate(model, start_id=2, length=4, rng=0)
    assert len(ids) == 4 and ids[0] == 2
    assert [fed.tolist() for fed, _, _ in model.seen] == [[ids[:1]], [ids[:2]], [ids[:3]]]
    assert all(not grad and not training for _, grad, training in model.seen)
    assert model.training                      # the mode it was in
    assert generate(model, start_id=2, length=6, rng=5) == generate(model, 2, 6, rng=5)


def test_generate_on_a_stateful_model_feeds_one_word_and_resets_around():
    model = StatefulLM()
    model.eval()
    ids = generate(model, start_id=1, length=5, skip_ids=[0, 3], rng=1)
    assert [fed.tolist() for fed, _, _ in model.seen] == [[[i]] for i in ids[:-1]]
    assert model.resets == 2 and not model.training and 0 not in ids and 3 not in ids


def test_greedy_generate_takes_the_best_word():
    model = StatefulLM()
    ids = generate(model, start_id=1, length=4, greedy=True)
    model.seen.clear()
    model.reset_state()
    with mg.no_grad():
        want = [1]
        for _ in range(3):
            want.append(int(np.argmax(model(np.array([[want[-1]]])).data[0, -1])))
    assert ids == want
    with pytest.raises(ValueError, match="generate: temperature must be positive"):
        generate(model, 1, 4, temperature=0)


class QuietLM(StatelessLM):
    """StatelessLM without its notes of what it is fed: Python state that a
    compiled step refuses to change while it records (it would not on a replay)."""

    def forward(self, ids):
        return self.out(self.embed(ids))


def test_a_recurrent_loop_without_reset_state_runs():
    corpus = np.random.default_rng(0).integers(0, 6, 200)
    model = QuietLM()
    loop = TrainingLoop(model, SGD(model, lr=0.1), TBPTTBatcher(corpus, 4, 5), max_epoch=1,
                        recurrent=True, progress=False)
    history = loop.run()
    assert len(history["loss"]) == len(TBPTTBatcher(corpus, 4, 5))


def test_a_criterion_given_as_loss_is_refused_with_what_to_write():
    # PyTorch's habit: loss=criterion, where criterion(scores, targets) is meant.
    model = L.Linear(3, 3)
    with pytest.raises(ModelProtocolError, match=r"loss=F\.softmax_cross_entropy would .*"
                                                 r"lambda x, t: F\.softmax_cross_entropy\(model\(x\), t\)"):
        Trainer(model, SGD(model), loss=F.softmax_cross_entropy)
    with pytest.raises(ModelProtocolError, match=r"F\.mean_squared_error"):
        TrainingLoop(model, SGD(model), [], max_epoch=1, loss=F.mean_squared_error)
    Trainer(model, SGD(model), loss=lambda x, t: F.softmax_cross_entropy(model(x), t))
