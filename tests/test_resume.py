"""Determinism and resuming: seeded runs of train_rnnlm repeat bit for
bit, a run stopped after k steps and resumed from its checkpoint gives exactly
the uninterrupted run's losses, and a checkpoint write that fails or is killed
halfway leaves the previous checkpoint whole."""
from __future__ import annotations

import hashlib
import io
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import minigrad.random
from minigrad.data import load_small_corpus
from minigrad.layers import CheckpointError, save_weights
from minigrad.optimizers import SGD, Adam
from models.rnnlm import BetterRnnlm, Rnnlm
from models.rnnlm import train_rnnlm

ROOT = Path(__file__).resolve().parents[1]
PTB = ROOT.parent / "shared" / "data" / "ptb"

_words, _w2i, _ = load_small_corpus(120)
TRAIN, VALID = _words[:300], _words[300:420]
VOCAB = int(_words[:420].max()) + 1
BATCH, TIME = 4, 5
ITERS_PER_EPOCH = (len(TRAIN) - 1) // (BATCH * TIME)      # 14
EPOCHS = 3
EVERY = 9              # checkpoints at 9, 14 (epoch end), 18, 27, 28 (epoch end), ...
CRASH_AFTER = 20       # the crash loses steps 19 and 20: the resume redoes them from 18
OPTIMIZERS = {"sgd": lambda m: SGD(m, lr=1.0), "adam": lambda m: Adam(m, lr=0.01)}
MODELS = {"Rnnlm": lambda rng: Rnnlm(VOCAB, 8, 8, rng=rng),
          "BetterRnnlm": lambda rng: BetterRnnlm(VOCAB, 8, 8, dropout_ratio=0.5, rng=rng)}


class Crash(Exception):
    pass


def run(model_kind="Rnnlm", opt_kind="sgd", *, seed=0, model_rng=0, crash=None, max_epoch=EPOCHS,
        xp=np, **kwargs):
    """One seeded training run; ``crash=k`` raises Crash during update k + 1.
    ``xp``: the backend the model and the corpora are moved to."""
    minigrad.random.seed(seed)
    model = MODELS[model_kind](model_rng)
    train, valid = TRAIN, VALID
    if xp is not np:
        model.to_gpu()
        train, valid = minigrad.to_gpu(TRAIN), minigrad.to_gpu(VALID)
    opt = OPTIMIZERS[opt_kind](model)
    if crash is not None:
        def hook(params):
            if opt.steps == crash:
                raise Crash()
        opt.add_hook(hook)
    kwargs.setdefault("progress", False)
    history = train_rnnlm(model, train, valid, batch_size=BATCH, time_size=TIME, lr=None,
                          max_epoch=max_epoch, max_grad=0.5, optimizer=opt,
                          lr_schedule="divide_by_4_when_worse", report_every=5,
                          eval_batch_size=4, **kwargs)
    return history, model, opt


def weights(model):
    return {name: p.data.copy() for name, p in model.named_params()}


def assert_same_run(a, b):
    """Bit-identical: every loss, perplexity and lr, compared with ==."""
    for key in ("loss", "train_iters", "train_ppl", "valid_ppl", "lr", "best_valid_ppl",
                "best_epoch"):
        assert a[key] == b[key], key


def temporaries(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.endswith(".tmp"))


def digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def test_the_schedule_puts_the_checkpoint_mid_epoch():
    assert ITERS_PER_EPOCH == 14
    last = CRASH_AFTER // EVERY * EVERY
    assert 0 < last % ITERS_PER_EPOCH < ITERS_PER_EPOCH - 1 and last < CRASH_AFTER


# ------------------------------------------------------------------ determinism
@pytest.mark.parametrize("model_kind", list(MODELS))
def test_two_seeded_runs_give_bit_identical_losses(model_kind):
    first, m1, _ = run(model_kind, "adam")
    second, m2, _ = run(model_kind, "adam")
    assert len(first["loss"]) == EPOCHS * ITERS_PER_EPOCH
    assert_same_run(first, second)
    w1, w2 = weights(m1), weights(m2)
    assert all(np.array_equal(w1[k], w2[k]) for k in w1)
    assert len(set(first["loss"])) > 1
    if model_kind == "BetterRnnlm":
        # The same weights with another dropout seed: the masks do matter, so
        # the equality above really covers minigrad.random.
        other, _, _ = run(model_kind, "adam", seed=1)
        assert other["loss"][0] != first["loss"][0]


# ------------------------------------------------------------------ resuming
@pytest.mark.parametrize("opt_kind", list(OPTIMIZERS))
@pytest.mark.parametrize("model_kind", list(MODELS))
def test_resume_mid_epoch_gives_the_uninterrupted_losses(tmp_path, model_kind, opt_kind):
    full, full_model, full_opt = run(model_kind, opt_kind, checkpoint_every=EVERY,
                                     out_dir=tmp_path / "full")
    with pytest.raises(Crash):
        run(model_kind, opt_kind, checkpoint_every=EVERY, out_dir=tmp_path / "crashed",
            crash=CRASH_AFTER)
    path = tmp_path / "crashed" / "rnnlm_resume.npz"
    assert path.is_file() and temporaries(tmp_path / "crashed") == []
    # A fresh model (other initial weights), a fresh optimizer and another
    # random state: all of it must come from the checkpoint.
    resumed, model, opt = run(model_kind, opt_kind, seed=99, model_rng=7, resume=path,
                              checkpoint_every=EVERY, out_dir=tmp_path / "crashed")
    assert_same_run(resumed, full)
    w_full, w = weights(full_model), weights(model)
    assert all(np.array_equal(w_full[k], w[k]) for k in w_full)
    assert opt.steps == full_opt.steps == EPOCHS * ITERS_PER_EPOCH
    assert opt.lr == full_opt.lr


def test_resume_on_each_backend(tmp_path, xp):
    # On a device: the batches, the perplexity and the checkpoint's arrays move
    # between host and device explicitly, and the run is the CPU's. (Rnnlm: a
    # device draws dropout masks from its own generator, which a checkpoint
    # does not hold; see docs/gpu.md.)
    full, full_model, _ = run("Rnnlm", "adam", max_epoch=2)
    with pytest.raises(Crash):
        run("Rnnlm", "adam", max_epoch=2, checkpoint_every=EVERY, out_dir=tmp_path,
            crash=CRASH_AFTER, xp=xp)
    resumed, model, _ = run("Rnnlm", "adam", seed=99, model_rng=7, max_epoch=2, xp=xp,
                            resume=tmp_path / "rnnlm_resume.npz")
    assert all(minigrad.get_array_module(p) is xp for p in model.params())
    np.testing.assert_allclose(resumed["loss"], full["loss"], rtol=1e-5)
    np.testing.assert_allclose(resumed["valid_ppl"], full["valid_ppl"], rtol=1e-5)
    w_full = weights(full_model)
    for name, p in model.named_params():
        np.testing.assert_allclose(minigrad.to_cpu(p), w_full[name], rtol=1e-4, atol=1e-6)


def test_resume_at_an_epoch_end_can_train_further(tmp_path):
    full, _, _ = run("BetterRnnlm", "adam", max_epoch=3)
    two, _, _ = run("BetterRnnlm", "adam", max_epoch=2, checkpoint_every=1000,
                    out_dir=tmp_path)
    assert two["loss"] == full["loss"][:2 * ITERS_PER_EPOCH]
    more, _, _ = run("BetterRnnlm", "adam", seed=5, model_rng=5, max_epoch=3,
                     resume=tmp_path / "rnnlm_resume.npz")
    assert_same_run(more, full)


def test_checkpoints_are_written_every_n_steps(tmp_path, monkeypatch):
    import minigrad.training.checkpoint as C

    written = []
    real = C.write_state

    def spy(path, arrays, meta):
        written.append(int(arrays["optim.steps"]))
        real(path, arrays, meta)
    monkeypatch.setattr(C, "write_state", spy)
    history, _, _ = run(checkpoint_every=EVERY, out_dir=tmp_path)
    # every EVERY steps, and at each epoch's end (after validation), once each
    assert written == [9, 14, 18, 27, 28, 36, 42]
    assert history["resume_checkpoint"] == str(tmp_path / "rnnlm_resume.npz")


# ------------------------------------------------------------------ interrupted writes
def _write_half(f, arrays, real_savez):
    """Write the first half of the npz that ``real_savez`` would write."""
    buffer = io.BytesIO()
    real_savez(buffer, **arrays)
    f.write(buffer.getvalue()[: len(buffer.getvalue()) // 2])


@pytest.mark.parametrize("error", [OSError("No space left on device"), KeyboardInterrupt()],
                         ids=["OSError", "KeyboardInterrupt"])
def test_a_write_that_fails_halfway_keeps_the_previous_checkpoint(tmp_path, monkeypatch, error):
    full, _, _ = run()
    real_savez = np.savez
    calls = []

    def savez_then_fail(f, **arrays):
        if "rnnlm_resume.npz" not in str(f.name):     # save_weights' best model
            return real_savez(f, **arrays)
        calls.append(1)
        if len(calls) < 2:
            return real_savez(f, **arrays)
        _write_half(f, arrays, real_savez)
        raise error
    monkeypatch.setattr(np, "savez", savez_then_fail)
    path = tmp_path / "rnnlm_resume.npz"
    with pytest.raises(type(error)):
        run(checkpoint_every=EVERY, out_dir=tmp_path)
    monkeypatch.undo()
    assert len(calls) == 2
    assert temporaries(tmp_path) == []
    # The file is the first checkpoint's, whole: resuming from it (step 9)
    # gives the uninterrupted run.
    resumed, _, _ = run(seed=3, model_rng=3, resume=path)
    assert_same_run(resumed, full)


CHILD = textwrap.dedent("""
    import io, os, sys, time
    import numpy as np
    sys.path.insert(0, {tests!r})
    import test_resume as T

    real_savez, calls = np.savez, []

    def savez_then_hang(f, **arrays):
        if "rnnlm_resume.npz" not in str(f.name):
            return real_savez(f, **arrays)
        calls.append(1)
        if len(calls) < 2:
            return real_savez(f, **arrays)
        T._write_half(f, arrays, real_savez)
        f.flush()
        os.fsync(f.fileno())
        print("halfway", flush=True)
        time.sleep(120)       # killed here, mid-write

    np.savez = savez_then_hang
    T.run(checkpoint_every=T.EVERY, out_dir={out!r})
""")


def test_a_process_killed_mid_write_keeps_the_previous_checkpoint(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    child = subprocess.Popen([sys.executable, "-c", CHILD.format(tests=str(ROOT / "tests"),
                                                                 out=str(tmp_path))],
                             cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True)
    try:
        line = child.stdout.readline()
        assert line == "halfway\n", child.stderr.read()
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        child.stdout.close()
        child.stderr.close()
    path = tmp_path / "rnnlm_resume.npz"
    # A killed process cannot clean up: its half-written temporary is there,
    # beside the untouched previous checkpoint.
    leftovers = temporaries(tmp_path)
    assert len(leftovers) == 1 and leftovers[0].startswith(".rnnlm_resume.npz.")
    full, _, _ = run()
    resumed, _, _ = run(seed=3, model_rng=3, resume=path, checkpoint_every=EVERY,
                        out_dir=tmp_path)
    assert_same_run(resumed, full)
    assert temporaries(tmp_path) == []        # the resumed run cleared the leftover


# ------------------------------------------------------------------ wrong checkpoints
def _bad_checkpoint(tmp_path, kind):
    """(path, arguments of the resuming run, what the error must say)."""
    run(checkpoint_every=EVERY, out_dir=tmp_path, max_epoch=1)
    path = tmp_path / "rnnlm_resume.npz"
    if kind == "other model":
        return path, dict(model_kind="BetterRnnlm"), ["lstm0.Wx: missing from the file",
                                                      "nothing was changed"]
    if kind == "other optimizer":
        return path, dict(opt_kind="adam"), ["state is of a SGD optimizer, this one is Adam"]
    if kind == "weights only":
        weights_file = tmp_path / "weights.npz"
        save_weights(Rnnlm(VOCAB, 8, 8, rng=0), weights_file)
        return weights_file, {}, ["holds no training state", "load_weights"]
    if kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        return path, {}, ["not a readable .npz file (truncated or corrupt?)"]
    if kind == "not an npz":
        path.write_text("resume from here\n")
        return path, {}, ["it is not an .npz file"]
    if kind == "missing":
        return tmp_path / "rnnlm_resum.npz", {}, ["does not exist", "NAME_resume.npz"]
    if kind == "a folder":
        return tmp_path, {}, ["is a folder"]
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["other model", "other optimizer", "weights only", "truncated",
                                  "not an npz", "missing", "a folder"])
def test_resume_from_a_checkpoint_that_does_not_fit(tmp_path, kind):
    path, args, details = _bad_checkpoint(tmp_path, kind)
    file_before = digest(path) if path.is_file() else None
    minigrad.random.seed(0)
    model = MODELS[args.get("model_kind", "Rnnlm")](11)
    opt = OPTIMIZERS[args.get("opt_kind", "sgd")](model)
    before, opt_before = weights(model), opt.state_dict()
    random_before = minigrad.random.get_state()
    with pytest.raises(CheckpointError) as info:
        train_rnnlm(model, TRAIN, VALID, batch_size=BATCH, time_size=TIME, lr=None, max_epoch=2,
                    optimizer=opt, resume=path, progress=False, eval_batch_size=4)
    message = str(info.value)
    assert "cannot resume from" in message and str(path) in message
    for part in details:
        assert part in message, (part, message)
    after = weights(model)
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert opt.state_dict().keys() == opt_before.keys() and opt.steps == 0
    assert minigrad.random.get_state() == random_before
    assert (digest(path) if path.is_file() else None) == file_before


def test_cli_refuses_a_resume_file_that_is_not_there(tmp_path, capsys):
    from models.__main__ import main
    with pytest.raises(SystemExit) as info:
        main(["train", "simple-rnnlm", "--data", str(PTB), "--quick",
              "--resume", str(tmp_path / "nothing.npz")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert "--resume" in err and "nothing.npz: no such file" in err


def test_resume_on_another_corpus_is_refused(tmp_path):
    run(checkpoint_every=EVERY, out_dir=tmp_path, max_epoch=1)
    other = TRAIN.copy()
    other[[3, 5]] = other[[5, 3]]
    model = Rnnlm(VOCAB, 8, 8, rng=0)
    with pytest.raises(CheckpointError, match="train_corpus: the checkpoint was trained on other"):
        train_rnnlm(model, other, batch_size=BATCH, time_size=TIME, lr=1.0, max_epoch=2,
                    resume=tmp_path / "rnnlm_resume.npz", progress=False)
    with pytest.raises(CheckpointError, match="batch_size: the checkpoint has 4, this run has 2"):
        train_rnnlm(model, TRAIN, batch_size=2, time_size=TIME, lr=1.0, max_epoch=2,
                    resume=tmp_path / "rnnlm_resume.npz", progress=False)


def test_checkpoint_every_needs_a_place_and_a_positive_count():
    model = Rnnlm(VOCAB, 8, 8, rng=0)
    with pytest.raises(ValueError, match="checkpoint_every needs out_dir or checkpoint_path"):
        train_rnnlm(model, TRAIN, batch_size=BATCH, time_size=TIME, lr=1.0, max_epoch=1,
                    checkpoint_every=5, progress=False)
    with pytest.raises(ValueError, match="positive integer"):
        train_rnnlm(model, TRAIN, batch_size=BATCH, time_size=TIME, lr=1.0, max_epoch=1,
                    checkpoint_every=0, checkpoint_path="x.npz", progress=False)


# ------------------------------------------------------------------ command line
@pytest.mark.skipif(not (PTB / "ptb.train.txt").is_file(), reason="PTB not available")
def test_cli_resume_continues_the_run(tmp_path):
    from models.__main__ import main
    import json

    common = ["train", "simple-rnnlm", "--data", str(PTB), "--quick", "--no-progress",
              "--batch-size", "4", "--time-size", "5"]
    assert main(common + ["--epochs", "3", "--out", str(tmp_path / "full")]) == 0
    assert main(common + ["--epochs", "2", "--checkpoint-every", "2",
                          "--out", str(tmp_path / "part")]) == 0
    checkpoint = tmp_path / "part" / "simple-rnnlm_resume.npz"
    assert checkpoint.is_file()
    assert main(common + ["--epochs", "3", "--resume", str(checkpoint), "--seed", "4",
                          "--out", str(tmp_path / "part")]) == 0
    full = json.loads((tmp_path / "full" / "simple-rnnlm_metrics.json").read_text())
    resumed = json.loads((tmp_path / "part" / "simple-rnnlm_metrics.json").read_text())
    assert resumed["loss"] == full["loss"] and len(full["loss"]) == 3 * full["iters_per_epoch"]
