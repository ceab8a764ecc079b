"""Learning-rate schedules: their rules, their use by the trainers, and a
resume in the middle of one that continues it exactly."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.data import ShuffledBatches
from minigrad.layers import CheckpointError
from minigrad.optimizers import SGD
from minigrad.training import (CosineLR, DivideWhenWorse, ExponentialLR, StepLR, Trainer,
                               TrainingLoop)


def lrs_of(schedule, epochs, lr=1.0, history=None):
    opt = SGD(L.Linear(1, 1), lr=lr)
    schedule.start(opt)
    out = []
    for epoch in range(epochs):
        out.append(opt.lr)
        schedule.after_epoch(opt, epoch, history(epoch) if history else {})
    return out


def test_step_exponential_and_cosine_follow_their_formulas():
    assert lrs_of(StepLR(3, gamma=0.1), 7, lr=2.0) == \
        [2.0 * 0.1 ** (e // 3) for e in range(7)]
    assert lrs_of(ExponentialLR(0.5), 5) == [0.5 ** e for e in range(5)]
    got = lrs_of(CosineLR(4, min_lr=0.1), 6)
    want = [0.1 + 0.9 * (1 + math.cos(math.pi * min(e, 4) / 4)) / 2 for e in range(6)]
    assert got == pytest.approx(want, rel=1e-15) and got[-1] == pytest.approx(0.1)


def test_divide_when_worse_is_the_books_rule():
    ppl = [300.0, 250.0, 260.0, 240.0, 240.0, 100.0]
    got = lrs_of(DivideWhenWorse("valid_ppl"), 7, lr=20.0,
                 history=lambda e: {"valid_ppl": ppl[:e + 1]})
    # Not better (worse, or equal) after epochs 3 and 5: lr / 4 from the next epoch on.
    assert got == [20.0, 20.0, 20.0, 5.0, 5.0, 1.25, 1.25]
    # Without its state (a resume file written before it had one) the history has it.
    late = DivideWhenWorse("valid_ppl")
    assert lrs_of(late, 2, lr=20.0, history=lambda e: {"valid_ppl": [300.0, 250.0, 260.0]}) \
        == [20.0, 5.0] and late.best == 250.0
    with pytest.raises(KeyError, match=r"history\['valid_ppl'\] has no value after epoch 1"):
        lrs_of(DivideWhenWorse("valid_ppl"), 2)


def test_schedule_arguments_are_checked():
    with pytest.raises(ValueError, match="StepLR: step_size must be a positive integer"):
        StepLR(0)
    with pytest.raises(ValueError, match="ExponentialLR: gamma must be positive"):
        ExponentialLR(-1)
    with pytest.raises(ValueError, match="CosineLR: total_epochs must be a positive integer"):
        CosineLR(2.5)


class Line(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc = L.Linear(1, 1, rng=0)

    def loss(self, x, t):
        return F.mean((self.fc(x) - t) ** 2)


X = np.linspace(-1, 1, 24, dtype=np.float32)[:, None]
T = 3 * X + 1


def test_trainer_takes_a_schedule_and_records_each_epochs_lr():
    mg.random.seed(0)
    model = Line()
    history = Trainer(model, SGD(model, lr=0.4), progress=False).fit(
        X, T, max_epoch=4, batch_size=8, schedule=ExponentialLR(0.5))
    assert history["lr"] == [0.4, 0.2, 0.1, 0.05]


class Stop(Exception):
    pass


# Validation values an after_epoch hook records: worse at epochs 3 and 5.
VALID = [5.0, 4.0, 4.5, 3.0, 3.5, 2.0]


def run(path, schedule, stop_after=None, resume=None):
    mg.random.seed(0)
    model = Line()

    def stop(loop, loss):   # the run is cut short after a step, as by a crash
        if stop_after is not None and loop.iteration + 1 > stop_after:
            raise Stop

    def validate(loop, epoch):
        loop.history.setdefault("valid", []).append(VALID[epoch])

    loop = TrainingLoop(model, SGD(model, lr=0.3), ShuffledBatches(X, T, batch_size=8),
                        max_epoch=6, after_step=stop, after_epoch=validate, schedule=schedule,
                        checkpoint_every=1, checkpoint_path=path, progress=False)
    return loop.run(resume)


@pytest.mark.parametrize("make", [lambda: DivideWhenWorse("valid", factor=4.0),
                                  lambda: StepLR(2, gamma=0.5)])
def test_a_resume_in_the_middle_of_a_schedule_continues_it_bit_for_bit(tmp_path, make):
    whole = run(tmp_path / "whole.npz", make())
    assert len(set(whole["lr"])) >= 3                   # the schedule did change the lr
    path = tmp_path / "cut.npz"
    with pytest.raises(Stop):
        run(path, make(), stop_after=7)                # in epoch 3, after its first batch
    resumed = run(path, make(), resume=path)
    assert resumed["lr"] == whole["lr"]
    assert resumed["loss"] == whole["loss"]             # exactly, not approximately
    assert resumed["valid"] == whole["valid"]


def test_resuming_with_another_schedule_is_refused(tmp_path):
    path = tmp_path / "cut.npz"
    with pytest.raises(Stop):
        run(path, StepLR(2), stop_after=4)
    with pytest.raises(CheckpointError, match=r"schedule: the checkpoint has StepLR, this run "
                                              r"has CosineLR"):
        run(path, CosineLR(6), resume=path)
