"""Every model of `python -m models train` resumes bit for bit: a run stopped
after its first epoch (with --checkpoint-every) and resumed gives exactly the
losses, and the weights, of the run that was never stopped, its steps compiled (the
default) and replayed both before and after the resume. Offline (--quick)."""
from __future__ import annotations

import json

import numpy as np
import pytest

from models.__main__ import main

MODELS = {   # the model and its options
    "two-layer-net": [],
    "binary-addition": ["--recipe", "minibatch"],
    "cbow": [],
    "skipgram": [],
    "simple-rnnlm": [],
    "rnnlm": [],
    "better-rnnlm": ["--cell", "gru"],
    "seq2seq": [],
    "attention-seq2seq": [],
}
# The run is stopped after its first epoch and resumed for the others, which
# have three or more steps of a signature, so that they replay too: a resume
# records its step afresh. A language model's quick epoch has three steps (one
# without carried state), so it runs a third epoch.
EPOCHS = {"simple-rnnlm": 3, "rnnlm": 3, "better-rnnlm": 3}


@pytest.fixture
def offline(monkeypatch, tmp_path):
    monkeypatch.setenv("MINIGRAD_DATA", str(tmp_path / "no-data"))
    return tmp_path


def _train(model, options, out, *extra):
    argv = ["train", model, *options, "--quick", "--no-progress", "--out", str(out), *extra]
    assert main(argv) == 0, argv
    (metrics,) = out.glob("*_metrics.json")
    return json.loads(metrics.read_text())


def _weights(out):
    (path,) = [p for p in out.glob("*.npz") if not p.name.endswith(("_resume.npz", "_best.npz"))] \
        or list(out.glob("*_best.npz"))
    with np.load(path) as f:
        return {k: f[k] for k in f.files}


@pytest.mark.parametrize("model", MODELS)
def test_every_model_resumes_bit_for_bit(model, offline):
    options = MODELS[model]
    epochs = str(EPOCHS.get(model, 2))
    full = _train(model, options, offline / "full", "--epochs", epochs)
    _train(model, options, offline / "part", "--epochs", "1", "--checkpoint-every", "2")
    (resume,) = (offline / "part").glob("*_resume.npz")
    resumed = _train(model, options, offline / "part", "--epochs", epochs, "--resume", str(resume))
    assert len(full["loss"]) == int(epochs) * full["iters_per_epoch"]
    assert full["replayed_steps"] > 0                  # the steps were compiled, and replayed
    assert resumed["replayed_steps"] > 0, "the resumed epochs only recorded"
    assert resumed["loss"] == full["loss"]
    want, got = _weights(offline / "full"), _weights(offline / "part")
    assert want.keys() == got.keys()
    for key in want:
        np.testing.assert_array_equal(got[key], want[key], err_msg=key)
