"""The book's chapter 1: the spiral data, one-hot targets, TwoLayerNet against
its hand-written twin, shuffled minibatches, the Trainer (against the book's
loop on the twin), resuming a Trainer run, and the command line."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import minigrad.functions as F
from minigrad.data import ShuffledBatches, spiral
from minigrad.optimizers import SGD
from minigrad.testing import gradcheck, stand_in
from minigrad.training import Trainer
from models.__main__ import main
from models.two_layer_net import TwinTwoLayerNet
from models.two_layer_net import TwoLayerNet, accuracy, book_setup, train_two_layer_net
from device_steps import assert_same_params, train_on

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def book_spiral(seed, N=100, classes=3):
    """The book's dataset/spiral.py, transcribed loop for loop."""
    np.random.seed(seed)
    x = np.zeros((N * classes, 2))
    t = np.zeros((N * classes, classes), dtype=int)
    for j in range(classes):
        for i in range(N):
            rate = i / N
            radius = 1.0 * rate
            theta = j * 4.0 + 4.0 * rate + np.random.randn() * 0.2
            ix = N * j + i
            x[ix] = np.array([radius * np.sin(theta), radius * np.cos(theta)]).flatten()
            t[ix, j] = 1
    return x, t


# ------------------------------------------------------------------ the spiral
@pytest.mark.parametrize("seed, N, classes", [(1984, 100, 3), (7, 20, 4)])
def test_spiral_is_the_books_point_for_point(seed, N, classes):
    state = np.random.get_state()
    try:
        want_x, want_t = book_spiral(seed, N, classes)
    finally:
        np.random.set_state(state)
    before = np.random.get_state()[1].copy()
    x, t = spiral(N, classes, seed=seed, one_hot=True)
    np.testing.assert_array_equal(x, want_x)
    np.testing.assert_array_equal(t, want_t)
    assert np.array_equal(np.random.get_state()[1], before)   # the global stream is untouched
    x2, labels = spiral(N, classes, seed=seed)
    np.testing.assert_array_equal(x2, x)
    np.testing.assert_array_equal(labels, want_t.argmax(axis=1))
    assert labels.dtype == np.int64


def test_spiral_refuses_bad_sizes():
    with pytest.raises(ValueError, match="points_per_class must be a positive integer"):
        spiral(0)
    with pytest.raises(ValueError, match="classes"):
        spiral(10, 2.5)


# ------------------------------------------------------------------ one-hot targets
@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_one_hot_targets_give_the_labels_loss_and_gradient(dtype, rng):
    scores = rng.standard_normal((5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    onehot = np.eye(4, dtype=dtype)[labels]
    kept = onehot.copy()
    a, b = mg.Variable(scores.copy()), mg.Variable(scores.copy())
    la, lb = F.softmax_cross_entropy(a, labels), F.softmax_cross_entropy(b, onehot)
    la.backward()
    lb.backward()
    assert float(la.data) == float(lb.data)
    np.testing.assert_array_equal(a.grad.data, b.grad.data)
    np.testing.assert_array_equal(onehot, kept)


def test_soft_labels_are_refused_not_rounded():
    x = mg.Variable(np.zeros((2, 3)))
    soft = np.array([[0.2, 0.8, 0.0], [0.0, 0.0, 1.0]])
    with pytest.raises(mg.ShapeError) as info:
        F.softmax_cross_entropy(x, soft)
    message = str(info.value)
    for part in ("SoftmaxCrossEntropy", "(2, 3)", "not one-hot", "(2,)"):
        assert part in message
    with pytest.raises(mg.ShapeError, match="not one-hot"):
        F.softmax_cross_entropy(x, np.array([[1, 1, 0], [0, 0, 1]]))   # two classes in a row


@pytest.fixture
def rng():
    return np.random.default_rng(1)


# ------------------------------------------------------------------ TwoLayerNet
def random_weights(rng, I=2, H=5, O=3, scale=0.8):
    return {"W1": scale * rng.standard_normal((I, H)), "b1": scale * rng.standard_normal(H),
            "W2": scale * rng.standard_normal((H, O)), "b2": scale * rng.standard_normal(O)}


@pytest.mark.parametrize("one_hot", [False, True])
def test_two_layer_net_equals_its_twin(one_hot, rng):
    w = random_weights(rng)
    x = rng.standard_normal((7, 2))
    labels = rng.integers(0, 3, 7)
    t = np.eye(3, dtype=np.int64)[labels] if one_hot else labels
    model = TwoLayerNet.from_weights(w, dtype=np.float64)
    loss = model.loss(x, t)
    loss.backward()
    twin = TwinTwoLayerNet(w)
    twin_loss = twin.forward((x, t))
    twin.backward()
    assert abs(float(loss.data) - twin_loss) <= 1e-12 * abs(twin_loss)
    for key, p in model.named_weights().items():
        got, want = p.grad.data, twin.grads()[key]
        assert np.max(np.abs(got - want)) <= 1e-12 * np.max(np.abs(want)), key


def test_two_layer_net_gradients_against_central_differences(rng):
    w = random_weights(rng)
    x, t = rng.standard_normal((6, 2)), rng.integers(0, 3, 6)
    keys = list(w)

    def f(*arrays):
        model = TwoLayerNet.from_weights(w, dtype=np.float64)
        places = model.weight_places()
        for key, a in zip(keys, arrays):
            for layer, attr in places[key]:
                stand_in(layer, attr, a)
        return model.loss(x, t)

    assert gradcheck(f, *[w[k] for k in keys])


def test_two_layer_net_layout_and_init_are_the_books():
    model = TwoLayerNet(2, 10, 3, rng=0)
    w = model.to_weights()
    assert {k: a.shape for k, a in w.items()} == {"W1": (2, 10), "b1": (10,), "W2": (10, 3),
                                                  "b2": (3,)}
    assert not w["b1"].any() and not w["b2"].any()
    assert 0.003 < w["W1"].std() < 0.03 and 0.003 < w["W2"].std() < 0.03   # 0.01 * normal
    assert model(np.zeros((1, 2))).dtype == np.float32     # float64 data, float32 model


# ------------------------------------------------------------------ shuffled batches
def test_shuffled_batches_cover_each_example_once_per_epoch():
    x = np.arange(23)
    batches = ShuffledBatches(x, -x, batch_size=5, rng=0)
    assert len(batches) == 4                      # the remainder of 3 is dropped
    epochs = []
    for _ in range(3):
        seen = [batches.next_batch() for _ in range(len(batches))]
        assert all(np.array_equal(t, -b) for b, t in seen)
        epoch = np.concatenate([b for b, _ in seen])
        assert len(set(epoch.tolist())) == 20
        epochs.append(epoch)
    assert not np.array_equal(epochs[0], epochs[1])      # reshuffled every epoch
    again = ShuffledBatches(x, -x, batch_size=5, rng=0)
    np.testing.assert_array_equal(np.concatenate([again.next_batch()[0] for _ in range(4)]),
                                  epochs[0])


@pytest.mark.parametrize("make_rng", [lambda: np.random.default_rng(3),
                                      lambda: np.random.RandomState(3)],
                         ids=["Generator", "RandomState"])
def test_shuffled_batches_resume_mid_epoch(make_rng):
    x = np.arange(40)
    full = ShuffledBatches(x, batch_size=4, rng=make_rng())
    want = [full.next_batch()[0] for _ in range(25)]
    part = ShuffledBatches(x, batch_size=4, rng=make_rng())
    for _ in range(13):
        part.next_batch()
    state = json.loads(json.dumps(mg.training.to_builtin(part.state_dict())))
    # A fresh batcher with another generator: the rest comes from the state.
    resumed = ShuffledBatches(x, batch_size=4, rng=make_rng())
    resumed.load_state_dict(state)
    got = [resumed.next_batch()[0] for _ in range(7)]   # the rest of epoch 2
    for a, b in zip(got, want[13:20]):
        np.testing.assert_array_equal(a, b)


def test_shuffled_batches_refuse_mismatched_data():
    with pytest.raises(mg.ShapeError, match=r"differ in length.*\[5, 4\]"):
        ShuffledBatches(np.zeros(5), np.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="fewer than one batch"):
        ShuffledBatches(np.zeros(5), batch_size=8)
    with pytest.raises(ValueError, match="batch_size=3, but these batches have batch_size=2"):
        ShuffledBatches(np.zeros(6), batch_size=2).load_state_dict({"iteration": 1,
                                                                    "batch_size": 3})


# ------------------------------------------------------------------ the Trainer
def book_sgd_loop(twin, batches, epochs, lr):
    """The book's Trainer.fit loop on the twin, fed the same batches: forward,
    backward, params -= lr * grads."""
    params = {"W1": twin.layers[0].params[0], "b1": twin.layers[0].params[1],
              "W2": twin.layers[2].params[0], "b2": twin.layers[2].params[1]}
    losses = []
    for _ in range(epochs * len(batches)):
        bx, bt = batches.next_batch()
        losses.append(twin.forward((bx, bt)))
        twin.backward()
        grads = twin.grads()
        for key, p in params.items():
            p -= lr * grads[key]
    return losses, params


def test_trainer_runs_the_books_loop(rng):
    w = random_weights(rng, H=6)
    x, t = spiral(20, 3, seed=5, one_hot=True)
    model = TwoLayerNet.from_weights(w, dtype=np.float64)
    trainer = Trainer(model, SGD(model, lr=0.7), progress=False)
    history = trainer.fit(max_epoch=4, batch_size=8, eval_interval=3,
                          batches=ShuffledBatches(x, t, batch_size=8, rng=11))
    twin_losses, twin_params = book_sgd_loop(TwinTwoLayerNet(w),
                                             ShuffledBatches(x, t, batch_size=8, rng=11), 4, 0.7)
    np.testing.assert_allclose(history["loss"], twin_losses, rtol=1e-12, atol=0)
    for key, p in model.named_weights().items():
        np.testing.assert_allclose(p.data, twin_params[key], rtol=1e-11,
                                   atol=1e-14)
    assert len(history["loss"]) == 4 * 7 and history["iters_per_epoch"] == 7
    # Reports every 3 batches and at each epoch's end: 3 per epoch here.
    assert len(trainer.loss_list) == 12 and trainer.current_epoch == 4


def test_trainer_clips_only_during_its_fit_and_trains_further(rng):
    mg.random.seed(0)
    x, t = spiral(10, 3, seed=2)
    model = TwoLayerNet(2, 4, 3, dtype=np.float64, rng=0)
    opt = SGD(model, lr=1.0)

    def moved(fit):
        before = [p.data.copy() for p in model.params()]
        fit()
        return np.sqrt(sum(float(((p.data - b) ** 2).sum())
                           for p, b in zip(model.params(), before)))

    trainer = Trainer(model, opt, progress=False)
    # lr 1: each of the 6 steps moves the weights by the (clipped) gradient norm.
    step = moved(lambda: trainer.fit(x, t, max_epoch=2, batch_size=10, max_grad=1e-3,
                                     eval_interval=None))
    assert step <= 6e-3 * (1 + 1e-6) and opt.hooks == []         # clipped, hook removed
    assert moved(lambda: trainer.fit(x, t, max_epoch=1, batch_size=10)) > 0.1   # unclipped
    # eval_interval None: one report at each epoch's end; 20: the same with 3 batches
    assert trainer.current_epoch == 3 and len(trainer.loss_list) == 2 + 1


def test_trainer_plot(tmp_path):
    pytest.importorskip("matplotlib")
    model = TwoLayerNet(2, 4, 3, rng=0)
    trainer = Trainer(model, SGD(model, lr=1.0), progress=False)
    x, t = spiral(10, 3)
    trainer.fit(x, t, max_epoch=2, batch_size=5, eval_interval=2)
    path = trainer.plot(tmp_path / "loss.png", ylim=(0, 2))
    assert Path(path).read_bytes()[:8] == PNG_MAGIC
    assert trainer.plot().axes[0].get_xlabel() == "iterations (x2)"   # a Figure, for Jupyter


def test_a_trainer_run_resumes_exactly(tmp_path):
    class Stop(Exception):
        pass

    def run(crash_at=None, resume=None, seed=0):
        mg.random.seed(seed)
        model = TwoLayerNet(2, 6, 3, dtype=np.float64, rng=seed)
        opt = SGD(model, lr=1.0)
        if crash_at is not None:
            opt.add_hook(lambda params: (_ for _ in ()).throw(Stop()) if opt.steps == crash_at
                         else None)
        x, t = spiral(20, 3)
        trainer = Trainer(model, opt, progress=False)
        history = trainer.fit(x, t, max_epoch=3, batch_size=7, checkpoint_every=5,
                              checkpoint_path=tmp_path / "resume.npz", resume=resume)
        return history, model

    full, full_model = run()
    with pytest.raises(Stop):
        run(crash_at=17)
    resumed, model = run(resume=tmp_path / "resume.npz", seed=9)
    assert resumed["loss"] == full["loss"] and resumed["epoch_loss"] == full["epoch_loss"]
    for (name, p), (_, q) in zip(model.named_params(), full_model.named_params()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)


# ------------------------------------------------------------------ the book's result
def test_the_books_run_reaches_its_result():
    model, x, t, stream = book_setup()
    history = train_two_layer_net(model, x, t, rng=stream, progress=False)
    assert accuracy(model, x, t) >= 0.97
    assert 0.08 < float(model.loss(x, t).data) < 0.13      # the book prints about 0.11
    assert history["train_loss"][0] > 1.0                   # from log 3 at the start
    assert len(history["train_loss"]) == 300                # a report every 10 batches


def test_cli_two_layer_net(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["train", "two-layer-net", "--quick", "--no-progress",
                 "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "training accuracy" in out
    for name in ("two-layer-net.npz", "two-layer-net_metrics.json"):
        assert (tmp_path / name).is_file() and str(tmp_path / name) in out
    for name in ("two-layer-net_curves.png", "two-layer-net_boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG_MAGIC
    metrics = json.loads((tmp_path / "two-layer-net_metrics.json").read_text())
    assert len(metrics["epoch_loss"]) == 10 and 0 <= metrics["accuracy"] <= 1


@pytest.mark.parametrize("one_hot", [True, False])
def test_two_layer_net_training_steps_on_each_backend(one_hot, xp):
    x, t = spiral()                                  # labels
    if one_hot:
        t = np.eye(3)[t]
    batches = [(x[:30], t[:30]), (x[30:60], t[30:60])]

    def run(on):
        return train_on(on, TwoLayerNet(2, 10, 3, dtype=np.float64, rng=0), batches)

    assert_same_params(run(xp), run(np))


def test_the_books_trainer_fits_device_data_on_each_backend(xp):
    # Chapter 1's GPU recipe: the model and the whole data set moved to the device.
    x, t = spiral()

    def fit(on):
        mg.random.seed(0)
        model = TwoLayerNet(2, 10, 3, dtype=np.float64, rng=0)
        if on is not np:
            model.to_gpu()
            x_on, t_on = mg.to_gpu(x), mg.to_gpu(t)
        else:
            x_on, t_on = x, t
        trainer = Trainer(model, SGD(model, lr=1.0), progress=False)
        trainer.fit(x_on, t_on, max_epoch=2, batch_size=30, eval_interval=5)
        assert mg.get_array_module(model.affine1.W) is on
        return trainer.loss_list

    np.testing.assert_allclose(fit(xp), fit(np), rtol=1e-10)
