"""The binary adders of models/binary_addition.py: the course notes' model
against its hand-written BPTT twin (models/binary_addition/twin.py) in float64,
the notes' training loop step by step against the twin's, the weight draws,
and the faster minibatch recipe learned to 100%."""
from __future__ import annotations

import numpy as np
import pytest

from minigrad.testing import gradcheck, stand_in
from models.binary_addition import (MinibatchAdder, NotesAdder, accuracy, notes_streams,
                                    binary_addition_dataset, first_perfect_window, notes_loss,
                                    notes_weights, pair_sequences, train_minibatch_adder,
                                    train_notes_adder)
from models.binary_addition import BinaryAdderBPTT
from device_steps import assert_same_params, train_on

f64 = np.float64


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


def rel_err(a, b):
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-300))


# ---------------------------------------------------------------- the notes' model = its twin
@pytest.mark.parametrize("nonlinearity", ["sigmoid", "tanh", "relu"])
@pytest.mark.parametrize("weight_init_std", [0.5, 1.0, 2.0])
@pytest.mark.parametrize("fused", [True, False])
def test_notes_adder_gradients_equal_the_hand_written_bptt(nonlinearity, weight_init_std,
                                                           fused, rng):
    for _ in range(4):   # a few random pairs, each from fresh weights
        W_in, W, W_out = notes_weights(16, weight_init_std, rng=rng)
        a, b = rng.integers(0, 128, size=2)
        x, d = pair_sequences(np.array([a]), np.array([b]))
        model = NotesAdder.from_weights(dict(W_in=W_in, W=W, W_out=W_out),
                                        nonlinearity=nonlinearity, fused=fused)
        twin = BinaryAdderBPTT(dict(W_in=W_in, W=W, W_out=W_out), nonlinearity)
        y = model(x)
        loss = notes_loss(y, d)
        loss.backward()
        want_loss = twin.forward((x[0], d[0]))
        twin.backward()
        grads = twin.grads().values()
        assert abs(float(loss.data) - want_loss) <= 1e-12 * abs(want_loss)
        np.testing.assert_array_equal(np.round(y.data[0]), twin.predict()[:, 0])
        for p, g in zip((model.rnn.Wx, model.rnn.Wh, model.out.W), grads):
            assert np.abs(g).max() > 0
            assert rel_err(p.grad.data, g) <= 1e-12, (nonlinearity, weight_init_std)


def test_notes_adder_gradients_against_central_differences(rng):
    x, d = pair_sequences(rng.integers(0, 128, 3), rng.integers(0, 128, 3))

    def f(W_in, W, W_out):
        model = NotesAdder(W.shape[0], rng=0)
        for layer, name, w in ((model.rnn, "Wx", W_in), (model.rnn, "Wh", W), (model.out, "W", W_out)):
            stand_in(layer, name, w)   # the gradcheck's Variables
        return model.loss(x, d)

    assert gradcheck(f, *notes_weights(5, rng=rng))


def test_the_notes_training_loop_is_the_twins_step_for_step():
    """train_notes_adder's first iterations are the notes' SGD loop run on the
    twin: same weights, same pairs, same losses and updates."""
    steps, lr, seed = 60, 0.1, 3
    weights_rng, pairs_rng = notes_streams(seed)
    model = NotesAdder(rng=weights_rng)
    run = train_notes_adder(model, iterations=steps, lr=lr, rng=pairs_rng, progress=False)
    init_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    W_in, W, W_out = notes_weights(16, rng=np.random.default_rng(init_seq))
    twin = BinaryAdderBPTT(dict(W_in=W_in, W=W, W_out=W_out))
    xs, ds = pair_sequences(*np.random.default_rng(data_seq).integers(0, 128, (2, steps)))
    losses, correct = [], []
    for x, d in zip(xs, ds):
        losses.append(twin.forward((x, d)))
        correct.append(bool((twin.predict()[:, 0] == d).all()))
        twin.backward()
        for p, g in zip(twin.params, twin.param_grads):
            p -= lr * g
    np.testing.assert_allclose(run["loss"], losses, rtol=1e-11)
    np.testing.assert_array_equal(run["correct"], correct)
    for p, q in zip((model.rnn.Wx, model.rnn.Wh, model.out.W), twin.params):
        assert rel_err(p.data, q) <= 1e-11


def test_notes_adder_learns_with_the_notes_settings():
    weights_rng, pairs_rng = notes_streams(0)
    run = train_notes_adder(NotesAdder(rng=weights_rng), rng=pairs_rng, progress=False)
    at, losses = run["converged_at"], np.asarray(run["loss"])
    assert at is not None and at <= 10_000
    assert all(run["correct"][at - 100:at])
    assert run["accuracy"] == 1.0
    assert np.mean(losses[-100:]) < 0.1 * np.mean(losses[:100])


def test_the_notes_program_resumes_bit_for_bit(tmp_path):
    """Stopped after 150 of 300 pairs and resumed, the notes' program gives the
    uninterrupted run's losses, flags and weights exactly."""
    def run(**options):
        weights_rng, pairs_rng = notes_streams(5)
        model = NotesAdder(rng=weights_rng)
        return model, train_notes_adder(model, iterations=300, rng=pairs_rng, progress=False,
                                        out_dir=tmp_path, checkpoint_every=50, **options)

    whole_model, whole = run()

    class Stop(Exception):
        pass

    import minigrad.training.loop as loop_module
    real_step = loop_module.TrainingLoop.step

    def stop_at_151(self, batch):
        if self.iteration == 150:
            raise Stop
        return real_step(self, batch)

    loop_module.TrainingLoop.step = stop_at_151
    try:
        with pytest.raises(Stop):
            run()
    finally:
        loop_module.TrainingLoop.step = real_step
    model, resumed = run(resume=tmp_path / "binary-addition_resume.npz")
    assert len(whole["correct"]) == 300
    assert resumed["loss"] == whole["loss"] and resumed["correct"] == whole["correct"]
    for (name, p), (_, q) in zip(model.named_params(), whole_model.named_params()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


# ---------------------------------------------------------------- pieces
def test_weights_are_drawn_as_the_notes_draw_them():
    W_in, W, W_out = notes_weights(300, 2.0, rng=0)
    assert (W_in.shape, W.shape, W_out.shape) == ((2, 300), (300, 300), (300, 1))
    assert W.dtype == f64 and np.std(W) == pytest.approx(2.0, rel=0.01)
    # The notes' order: W_in, W_out, then W, each 2.0 * randn.
    gen = np.random.default_rng(0)
    for want in (W_in, W_out, W):
        np.testing.assert_array_equal(want, 2.0 * gen.standard_normal(want.shape))
    _, W_x, _ = notes_weights(300, init="xavier", rng=0)
    _, W_h, _ = notes_weights(300, init="he", rng=0)
    assert np.std(W_x) == pytest.approx(1 / np.sqrt(300), rel=0.01)
    np.testing.assert_allclose(W_h, W_x * np.sqrt(2), rtol=1e-15)
    with pytest.raises(ValueError, match="init must be one of std, xavier, he"):
        notes_weights(init="glorot")


def test_pair_sequences_and_its_errors():
    a, b = np.arange(128), np.arange(128)[::-1]
    x, d = pair_sequences(a, b)
    powers = 2 ** np.arange(8)
    np.testing.assert_array_equal(x[..., 0] @ powers, a)
    np.testing.assert_array_equal(d @ powers, a + b)
    with pytest.raises(ValueError, match=r"operands must be in \[0, 128\)"):
        pair_sequences(np.array([128]), np.array([0]))


def test_first_perfect_window():
    correct = np.ones(250, dtype=bool)
    correct[[10, 120]] = False
    assert first_perfect_window(correct) == 111     # pairs 11..110 are the first 100 right
    assert first_perfect_window(correct[:110]) is None
    correct[60] = False
    assert first_perfect_window(correct) == 221     # now pairs 121..220
    assert first_perfect_window(np.ones(100, dtype=bool)) == 100


def test_notes_adder_refuses_a_wrong_nonlinearity():
    with pytest.raises(ValueError, match="nonlinearity must be one of"):
        NotesAdder(nonlinearity="softplus", rng=0)


# ---------------------------------------------------------------- the minibatch recipe
def test_binary_addition_dataset_is_every_sum():
    xs, ts = binary_addition_dataset()
    assert xs.shape == (128 * 128, 8, 2) and ts.shape == (128 * 128, 8)
    assert ts.dtype == np.float32  # sigmoid cross-entropy targets
    weights = 2 ** np.arange(8)                    # least significant bit first
    a, b, s = xs[..., 0] @ weights, xs[..., 1] @ weights, ts @ weights
    np.testing.assert_array_equal(a + b, s)
    assert len(set(zip(a.astype(int), b.astype(int)))) == 128 * 128


def test_minibatch_adder_gradients(rng):
    xs, ts = binary_addition_dataset(bits=3)
    xs, ts = xs[::5].astype(f64), ts[::5].astype(f64)
    model = MinibatchAdder(3, dtype=f64, rng=0)
    w = [0.7 * rng.standard_normal(p.shape) for p in model.params()]

    def f(Wx, Wh, b, Wo, bo):
        m = MinibatchAdder(3, dtype=f64, rng=0)
        for layer, name, w in ((m.rnn, "Wx", Wx), (m.rnn, "Wh", Wh), (m.rnn, "b", b),
                               (m.out, "W", Wo), (m.out, "b", bo)):
            stand_in(layer, name, w)
        return m.loss(xs, ts)

    assert gradcheck(f, *w)


def test_minibatch_adder_trains_to_every_sum_right():
    rng = np.random.default_rng(0)
    model = MinibatchAdder(16, rng=rng)
    history = train_minibatch_adder(model, rng=rng, progress=False)
    assert history["accuracy"][-1] == 1.0 and len(history["accuracy"]) < 40   # stopped there
    xs, ts = binary_addition_dataset()
    assert accuracy(model, xs, ts) == 1.0
    # An untrained model does not get there by accident.
    assert accuracy(MinibatchAdder(16, rng=0), xs, ts) < 0.5



# ---------------------------------------------------------------- the notes' experiments
def _summary(iterations, accuracies):
    from models.binary_addition.experiments import summarize
    runs = [{"setting": "baseline", "seed": k, "converged_at": i, "accuracy": a}
            for k, (i, a) in enumerate(zip(iterations, accuracies))]
    return summarize(runs, 10_000)["baseline"]


def test_verdicts_compare_medians_with_not_converged_as_slowest():
    from models.binary_addition.experiments import verdict

    base = _summary([3000, 4000, 5000], [1.0, 1.0, 1.0])
    assert base["median"] == 4000 and base["converged"] == 3
    slow = _summary([6000, None, 4500], [1.0, 0.7, 1.0])
    fast = _summary([2000, 2500, None], [1.0, 1.0, 0.9])
    never = _summary([None, None, None], [0.2, 0.1, 0.0])
    assert verdict("slower", slow, base)[0] and not verdict("faster", slow, base)[0]
    assert verdict("faster", fast, base)[0] and not verdict("slower", fast, base)[0]
    assert verdict("slower", never, base)[0]
    assert verdict("fails", never, base)[0] and not verdict("fails", slow, base)[0]
    # Neither median converged: the mean final accuracy decides.
    half = _summary([None, None, 9000], [0.5, 0.6, 1.0])
    assert verdict("slower", never, half)[0] and not verdict("faster", never, half)[0]
    assert "mean final accuracy" in verdict("slower", never, half)[1]


def test_experiment_command_writes_the_table_results_and_plot(tmp_path, capsys):
    import json

    from models.__main__ import main

    out = tmp_path / "exp"
    assert main(["experiment", "binary-addition", "--seeds", "2", "--iterations", "150",
                 "--jobs", "1", "--only", "baseline,lr 3.0,tanh", "--out", str(out)]) == 0
    table = (out / "table.md").read_text()
    assert "| baseline | the notes' program | 0/2 |" in table
    assert "| learning rate 3.0 does not learn |" in table and "tanh" in table
    record = json.loads((out / "results.json").read_text())
    assert [(r["setting"], r["seed"]) for r in record["runs"]] == [
        ("baseline", 0), ("baseline", 1), ("lr 3.0", 0), ("lr 3.0", 1), ("tanh", 0), ("tanh", 1)]
    assert all(len(r["loss_curve"]) == 1 and 0 <= r["accuracy"] <= 1 for r in record["runs"])
    pytest.importorskip("matplotlib")
    assert (out / "loss_curves.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(SystemExit, match="unknown setting"):
        main(["experiment", "binary-addition", "--only", "lr 7", "--out", str(out)])


def test_cli_trains_the_notes_program_by_default(tmp_path, capsys):
    import json
    from models.__main__ import main

    assert main(["train", "binary-addition", "--quick", "--no-progress", "--iterations", "300",
                 "--out", str(tmp_path / "notes")]) == 0
    out = capsys.readouterr().out
    assert "the course notes' program" in out and "accuracy over all 16,384 sums" in out
    metrics = json.loads((tmp_path / "notes" / "binary-addition_metrics.json").read_text())
    assert metrics["model"] == "NotesAdder" and len(metrics["loss"]) == 300
    assert metrics["train_iters"] == [100, 200, 300]
    assert main(["train", "binary-addition", "--recipe", "minibatch", "--quick", "--no-progress",
                 "--out", str(tmp_path / "mb")]) == 0
    metrics = json.loads((tmp_path / "mb" / "binary-addition_metrics.json").read_text())
    assert metrics["model"] == "MinibatchAdder"


@pytest.mark.parametrize("fused", [True, False])
def test_notes_adder_training_steps_on_each_backend(fused, xp, rng):
    batches = [pair_sequences(rng.integers(0, 64, 5), rng.integers(0, 64, 5)) for _ in range(2)]

    def run(on):
        return train_on(on, NotesAdder(8, rng=0, fused=fused), batches)

    assert_same_params(run(xp), run(np))
