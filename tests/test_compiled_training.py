"""The trainers run a compiled step by default (record, then replay), and it
trains exactly as the eager step does: for every model of `python -m models
train`, the losses of every batch and the final weights are the same bit for
bit as with --eager. Offline (--quick)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.__main__ import main

RUNS = {   # every model, with the options that exercise what a replay must repeat
    "two-layer-net": ["two-layer-net"],        # float64 points cast to the model's float32
    "binary-addition": ["binary-addition"],     # the notes' flag of each pair: a host call
    "binary-addition-minibatch": ["binary-addition", "--recipe", "minibatch"],
    "cbow": ["cbow"],                          # negatives drawn in the step, the book's Adam
    "cbow-sparse": ["cbow", "--sparse"],       # lazy Adam on rows that change every step
    "skipgram": ["skipgram"],
    "simple-rnnlm": ["simple-rnnlm"],
    "rnnlm": ["rnnlm"],                        # hidden state carried, a short last batch
    "better-rnnlm": ["better-rnnlm"],          # dropout masks drawn afresh on each replay
    "better-rnnlm-gru": ["better-rnnlm", "--cell", "gru"],
    "seq2seq": ["seq2seq"],                    # clipping
    "peeky-seq2seq": ["seq2seq", "--peeky"],
    "attention-seq2seq": ["attention-seq2seq"],
}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "no-data"))
    return tmp_path


def _train(model, out, *extra):
    argv = ["train", *RUNS[model], "--quick", "--no-progress", "--epochs", "2", "--out", str(out), *extra]
    assert main(argv) == 0, argv
    (metrics,) = out.glob("*_metrics.json")
    return json.loads(metrics.read_text())


def _weights(out):
    found = {}
    for path in sorted(out.glob("*.npz")):
        if not path.name.endswith("_resume.npz"):
            with np.load(path) as f:
                found.update({f"{path.name}:{k}": f[k] for k in f.files})
    return found


@pytest.mark.parametrize("model", RUNS)
def test_compiled_run_equals_eager_run(model, offline):
    compiled = _train(model, offline / "compiled")
    eager = _train(model, offline / "eager", "--eager")
    assert eager["replayed_steps"] == 0
    assert compiled["replayed_steps"] > 0        # the run did replay
    assert compiled["loss"] == eager["loss"]
    want, got = _weights(offline / "eager"), _weights(offline / "compiled")
    assert want and want.keys() == got.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)


# ------------------------------------------------------------ TrainingLoop itself
class Windows:
    """Word ids and their next words from 4 streams over a corpus: two full
    windows of 5 and a shorter last one of 3 each epoch, which a compiled
    step records as another signature, its LSTM state carried across."""

    sizes = (5, 5, 3)

    def __init__(self, corpus):
        self.corpus, self.iteration = corpus, 0

    def __len__(self):
        return len(self.sizes)

    def next_batch(self):
        T = self.sizes[self.iteration % len(self.sizes)]
        starts = np.arange(4) * 60 + (self.iteration * 7) % 40
        self.iteration += 1
        return (np.stack([self.corpus[s:s + T] for s in starts]),
                np.stack([self.corpus[s + 1:s + T + 1] for s in starts]))

    def state_dict(self):
        return {"iteration": self.iteration}

    def digest(self):
        return "windows"


def _language_model_run(compiled):
    import minigrad as mg
    from minigrad.optimizers import Adam, ClipGradNorm
    from minigrad.training import TrainingLoop
    from minigrad.training.schedules import StepLR
    from models.rnnlm import BetterRnnlm

    mg.random.seed(0)
    corpus = np.random.default_rng(1).integers(0, 25, 300)
    model = BetterRnnlm(25, 8, 8, dropout_ratio=0.5, rng=0)     # dropout, a stateful LSTM
    opt = Adam(model, lr=0.01)
    opt.add_hook(ClipGradNorm(0.05))                             # clips every step
    loop = TrainingLoop(model, opt, Windows(corpus), max_epoch=4, recurrent=True,
                        schedule=StepLR(1, 0.5), progress=False, compiled=compiled)
    return loop, loop.run(), model


def test_a_loop_with_dropout_clipping_a_schedule_and_a_short_batch_replays_the_eager_run():
    loop, history, model = _language_model_run(compiled=True)
    _, want, eager_model = _language_model_run(compiled=False)
    assert history["lr"] == want["lr"] == [0.01, 0.005, 0.0025, 0.00125]
    assert loop._compiled.recordings >= 4 and history["replayed_steps"] > 0   # two signatures
    assert want["replayed_steps"] == 0
    assert history["loss"] == want["loss"]
    for (name, p), (_, q) in zip(eager_model.named_params(), model.named_params()):
        np.testing.assert_array_equal(q.data, p.data, err_msg=name)


class Line:
    @staticmethod
    def make():
        from minigrad import functions as F
        from minigrad import layers as L

        class _Line(L.Layer):
            def __init__(self):
                super().__init__()
                self.fc = L.Linear(2, 1, rng=0)

            def loss(self, x, t):
                return F.mean((self.fc(x) - t) ** 2)
        return _Line()


def _line_loop(model, x, t, **options):
    from minigrad.data import ShuffledBatches
    from minigrad.optimizers import SGD
    from minigrad.training import TrainingLoop

    return TrainingLoop(model, SGD(model, lr=0.1), ShuffledBatches(x, t, batch_size=4,
                                                                   shuffle=False),
                        max_epoch=1, progress=False, **options)


def test_a_nan_stops_a_replayed_step_before_its_update_as_in_an_eager_step():
    from minigrad.training import NonFiniteError

    x = np.random.default_rng(0).normal(size=(32, 2)).astype(np.float32)
    t = x[:, :1] * 2.0
    x[20] = np.nan                                   # in the sixth batch: a replay
    weights = []
    for compiled in (True, False):
        model = Line.make()
        loop = _line_loop(model, x, t, compiled=compiled)
        with pytest.raises(NonFiniteError, match=r"iteration 6 \(batch 6 of 8\): the loss is nan"):
            loop.run()
        weights.append([p.data.copy() for p in model.params()])
        if compiled:
            assert loop._compiled.replays == 4     # steps 3 to 6; the sixth stopped
    for got, want in zip(*weights):
        assert np.isfinite(got).all()
        np.testing.assert_array_equal(got, want)


def test_a_step_a_replay_cannot_repeat_stops_the_loop_and_says_how_to_train_eagerly():
    from minigrad import CompileError
    from minigrad import functions as F

    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    t = x[:, :1] * 2.0
    model = Line.make()

    def decides_in_python(x, t):
        loss = F.mean((model.fc(x) - t) ** 2)
        return loss * 0.1 if loss > 100 else loss
    with pytest.raises(CompileError, match=r"TrainingLoop: compile: a comparison reads a value "
                                           r"into Python at .*test_compiled_training.py:\d+ .*"
                                           r"compiled=False \(--eager on the command line\)"):
        _line_loop(model, x, t, loss=decides_in_python).run()
    history = _line_loop(model, x, t, loss=decides_in_python, compiled=False).run()
    assert len(history["loss"]) == 4


def test_anomaly_mode_and_an_eager_block_run_the_steps_eagerly():
    import minigrad as mg
    from minigrad.training import eager

    x = np.random.default_rng(0).normal(size=(16, 2)).astype(np.float32)
    t = x[:, :1] * 2.0
    assert _line_loop(Line.make(), x, t).run()["replayed_steps"] == 2
    assert _line_loop(Line.make(), x, t, anomaly=True).run()["replayed_steps"] == 0
    with mg.detect_anomaly():
        assert _line_loop(Line.make(), x, t).run()["replayed_steps"] == 0
    with eager():
        assert _line_loop(Line.make(), x, t).run()["replayed_steps"] == 0


def test_a_nonfinite_gradient_stops_a_replayed_step_before_its_update():
    from minigrad import functions as F
    from minigrad import layers as L
    from minigrad.data import ShuffledBatches
    from minigrad.optimizers import SGD
    from minigrad.training import NonFiniteError, TrainingLoop

    class Root(L.Layer):      # sqrt(w x): a finite loss whose gradient is infinite at x = 0
        def __init__(self):
            super().__init__()
            self.w = L.Parameter(np.ones(2), name="w")

        def loss(self, x, t):
            return F.sum((self.w * x) ** 0.5)

    x = np.full((8, 2), 0.5)
    x[4] = 0.0                                       # the fifth step: a replay
    weights = []
    for compiled in (True, False):
        model = Root()
        loop = TrainingLoop(model, SGD(model, lr=0.1),
                            ShuffledBatches(x, np.zeros(8), batch_size=1, shuffle=False),
                            max_epoch=1, progress=False, compiled=compiled)
        with np.errstate(all="ignore"), pytest.raises(
                NonFiniteError, match=r"iteration 5 \(batch 5 of 8\): the gradient of parameter 'w'"):
            loop.run()
        weights.append(model.w.data.copy())
    assert np.isfinite(weights[0]).all()
    np.testing.assert_array_equal(weights[0], weights[1])
