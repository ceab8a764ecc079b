"""Training that would go on silently wrong stops, or says what it did:
NaN and divergence, data given twice, reports left out of a log file."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.data import ShuffledBatches
from minigrad.optimizers import SGD
from minigrad.training import NonFiniteError, Trainer, TrainingLoop


class Classifier(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc = L.Linear(2, 3, rng=0)

    def loss(self, x, t):
        return F.softmax_cross_entropy(self.fc(x), t)


class SqrtLoss(L.Layer):
    """A finite loss (0) whose gradient is infinite: d sqrt(w) / dw at w = 0."""

    def __init__(self):
        super().__init__()
        self.w = L.Parameter(np.zeros(2), name="w")

    def loss(self, x, t):
        return F.sum(self.w ** 0.5)


def data(n=24):
    x = np.random.default_rng(0).normal(size=(n, 2))
    return x, (x[:, 0] > 0).astype(np.int64)


class Line(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc = L.Linear(2, 1, rng=0)

    def loss(self, x, t):
        return F.mean((self.fc(x) - t[:, None]) ** 2)


def test_a_diverging_trainer_stops_at_the_first_nonfinite_loss_naming_the_step():
    x, t = data()
    mg.random.seed(0)
    model = Line()
    free = Trainer(model, SGD(model, lr=1e30), progress=False, stop_on_nonfinite=False)
    with np.errstate(all="ignore"):
        losses = free.fit(x, t, max_epoch=3, batch_size=8)["loss"]
    first = next(i for i, v in enumerate(losses) if not math.isfinite(v))   # 0-based
    mg.random.seed(0)
    model = Line()
    with pytest.raises(NonFiniteError) as info, np.errstate(all="ignore"):
        Trainer(model, SGD(model, lr=1e30), progress=False).fit(x, t, max_epoch=3,
                                                                 batch_size=8)
    epoch, batch = divmod(first, 3)
    assert (f"Trainer.fit: epoch {epoch + 1}/3, iteration {first + 1} (batch {batch + 1} of 3): "
            f"the loss is") in str(info.value)
    for advice in ("lower it", "max_grad=", "anomaly=True", "stop_on_nonfinite=False"):
        assert advice in str(info.value)


def test_a_nonfinite_gradient_names_the_parameter_and_leaves_the_weights():
    model = SqrtLoss()
    x, t = data(8)
    loop = TrainingLoop(model, SGD(model, lr=0.1), ShuffledBatches(x, t, batch_size=8),
                        max_epoch=2, progress=False)
    with np.errstate(all="ignore"), \
            pytest.raises(NonFiniteError, match=r"TrainingLoop: epoch 1/2, iteration 1 \(batch 1 of "
                                             r"1\): the gradient of parameter 'w' \(2,\) has 2 "
                                             r"NaN or Inf values"):
        loop.run()
    np.testing.assert_array_equal(model.w.data, [0.0, 0.0])


def test_keep_going_trains_on_as_before():
    mg.random.seed(0)
    model = Line()
    x, t = data()
    trainer = Trainer(model, SGD(model, lr=1e30), progress=False, stop_on_nonfinite=False)
    with np.errstate(all="ignore"):
        trainer.fit(x, t, max_epoch=3, batch_size=8, eval_interval=3)
    assert len(trainer.loss_list) == 3 and not math.isfinite(trainer.loss_list[-1])


def test_anomaly_mode_names_the_operation():
    model = SqrtLoss()
    x, t = data(8)
    loop = TrainingLoop(model, SGD(model, lr=0.1), ShuffledBatches(x, t, batch_size=8),
                        max_epoch=1, progress=False, anomaly=True)
    with pytest.raises(mg.AnomalyError, match=r"Pow.*test_training_guards\.py"), \
            np.errstate(all="ignore"):
        loop.run()
    assert not mg.is_anomaly_enabled()          # the mode is on for the steps only


PTB = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "ptb"


@pytest.mark.skipif(not (PTB / "ptb.train.txt").is_file(), reason="needs PTB in ../shared/data")
def test_the_command_line_stops_and_keeps_going(tmp_path, capsys):
    from models.__main__ import main

    args = ["train", "simple-rnnlm", "--quick", "--lr", "1e30", "--no-progress",
            "--data", str(PTB), "--out", str(tmp_path)]
    with np.errstate(all="ignore"):
        assert main(args) == 2
        err = capsys.readouterr().err
        assert "error: train_rnnlm: epoch 1/2, iteration 2 (batch 2 of 3): the loss is nan" in err
        assert main(args + ["--anomaly"]) == 2
        err = capsys.readouterr().err
        assert "error: " in err and "produced" in err and "train_rnnlm" not in err
        assert main(args + ["--keep-going"]) == 0
    metrics = json.loads((tmp_path / "simple-rnnlm_metrics.json").read_text())
    assert not math.isfinite(metrics["loss"][-1])


def test_fit_refuses_data_given_twice():
    model = Classifier()
    x, t = data()
    trainer = Trainer(model, SGD(model, lr=0.1), progress=False)
    with pytest.raises(TypeError, match=r"x and t are given together with batches=.*"
                                        r"fit\(batches=\.\.\.\)"):
        trainer.fit(x, t, max_epoch=1, batches=ShuffledBatches(x[:8], t[:8], batch_size=4))
    with pytest.raises(TypeError, match=r"give the data, fit\(x, t, \.\.\.\), or a batcher"):
        trainer.fit(max_epoch=1)
    history = trainer.fit(max_epoch=1, batches=ShuffledBatches(x[:8], t[:8], batch_size=4))
    assert len(history["loss"]) == 2 and history["batch_size"] == 4


def test_off_a_terminal_the_trainer_prints_its_report_lines(capsys):
    pytest.importorskip("tqdm")                 # where a bar would otherwise be drawn
    mg.random.seed(0)
    model = Classifier()
    x, t = data()
    Trainer(model, SGD(model, lr=0.1)).fit(x, t, max_epoch=2, batch_size=8, eval_interval=3)
    out, err = capsys.readouterr()               # captured: not a terminal
    lines = [line for line in out.splitlines() if line.startswith("| epoch")]
    assert len(lines) == 2 and lines[0].startswith("| epoch 1/2 | iter 3 | loss ")
    assert err == ""


def test_with_several_ranks_the_averaged_loss_is_checked_so_every_rank_stops_alike():
    # (One thread rank: the loop's backward switches are process-wide.)
    from thread_ranks import run_ranks

    x, t = data()

    def train(comm):
        mg.random.seed(0)
        model = Line()
        with np.errstate(all="ignore"):          # (per thread)
            TrainingLoop(model, SGD(model, lr=1e30), ShuffledBatches(x, t, batch_size=8, rng=0),
                         max_epoch=3, progress=False, comm=comm).run()

    with pytest.raises(NonFiniteError, match=r"TrainingLoop: epoch 1/3, iteration \d+ \(batch "
                                             r"\d of 3\), on every rank: the loss is .*; this "
                                             r"step's update was applied"):
        run_ranks(1, train)
