"""A trained model is used for inference in another process: load_weights
reads the weights that save_weights wrote and the model's part of a training
run's resume file (the weights under ``model.``, beside the optimizer's state)."""
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from minigrad.layers import CheckpointError, load_weights
from models.rnnlm import Rnnlm

ROOT = Path(__file__).resolve().parents[1]
VOCAB, D, H = 30, 6, 6
QUERY = np.arange(12).reshape(2, 6) % VOCAB

TRAIN_ELSEWHERE = """
import numpy as np
import minigrad.random
from minigrad.data import load_small_corpus
from minigrad.layers import save_weights
from models.rnnlm import Rnnlm
from models.rnnlm import train_rnnlm

minigrad.random.seed(0)
words = load_small_corpus(60)[0] % {vocab}
model = Rnnlm({vocab}, {d}, {h}, rng=5)
train_rnnlm(model, words[:400], batch_size=4, time_size=5, lr=1.0, max_epoch=1,
            optimizer="adam", checkpoint_every=7, out_dir={out!r}, progress=False)
save_weights(model, {out!r} + "/saved")
model.reset_state()
np.save({out!r} + "/scores.npy", model.predict(np.array({query})))
"""


@pytest.fixture(scope="module")
def trained_elsewhere(tmp_path_factory):
    """A folder where another Python process trained an Rnnlm with a resume
    file, saved its weights and its scores of QUERY."""
    out = tmp_path_factory.mktemp("run")
    code = TRAIN_ELSEWHERE.format(vocab=VOCAB, d=D, h=H, out=str(out), query=QUERY.tolist())
    subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, check=True,
                   timeout=300)
    return out


@pytest.mark.parametrize("name", ["saved.npz", "rnnlm_resume.npz"])
def test_a_model_trained_in_another_process_loads_for_inference(trained_elsewhere, name):
    model = Rnnlm(VOCAB, D, H, rng=99)
    load_weights(model, trained_elsewhere / name)
    model.reset_state()
    np.testing.assert_array_equal(model.predict(QUERY),
                                  np.load(trained_elsewhere / "scores.npy"))


def test_from_file_reads_a_resume_file(trained_elsewhere):
    model = Rnnlm.from_file(trained_elsewhere / "rnnlm_resume.npz")
    assert (model.embed.W.shape, model.lstm.hidden_size) == ((VOCAB, D), H)
    np.testing.assert_array_equal(model.predict(QUERY), np.load(trained_elsewhere / "scores.npy"))


def test_a_resume_file_of_another_model_names_only_the_weights(trained_elsewhere):
    model = Rnnlm(VOCAB, D, H + 1, rng=0)
    before = {name: p.data.copy() for name, p in model.named_params()}
    with pytest.raises(CheckpointError) as info:
        load_weights(model, trained_elsewhere / "rnnlm_resume.npz")
    lines = str(info.value).splitlines()[1:]
    # One line per weight that differs; the optimizer's state and the meta record
    # are not the model's business.
    assert [line.split(":")[0].strip() for line in lines] == ["lstm.Wx", "lstm.Wh", "lstm.b",
                                                              "affine.W"]
    for name, p in model.named_params():
        np.testing.assert_array_equal(p.data, before[name])
