"""`mpirun -n 2 python -m models train MODEL --distributed --quick` for every
model, offline: nothing downloaded (the small corpus, generated questions).
Where no random draw differs between the ranks (no dropout, no negative
samples), two ranks train the model one process trains, step for step.

mpirun comes with ``pip install 'minigrad[distributed]'``; where it is missing
these tests skip, except under MINIGRAD_REQUIRE_MPI=1 (CI), where they fail
(the rule of test_distributed_mpi.py, which finds mpirun for both).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

# Where mpirun is found, and the rule that CI must run these (skip or fail there).
from test_distributed_mpi import MPIRUN

ROOT = Path(__file__).resolve().parent.parent
JOB_TIMEOUT_S = 180

MODELS = {   # model: its options, and whether two ranks must match one process
    "two-layer-net": ([], True),
    "binary-addition": (["--recipe", "minibatch", "--epochs", "2"], True),
    "cbow": ([], False),                # each rank draws its own negatives
    "skipgram": ([], False),
    "simple-rnnlm": ([], True),
    "rnnlm": ([], True),
    "better-rnnlm": ([], False),        # each rank draws its own dropout masks
    "seq2seq": ([], True),
    "attention-seq2seq": ([], True),
}


def _run(model, out, ranks):
    options, _ = MODELS[model]
    env = dict(os.environ, PYTHONPATH=str(ROOT), MINIGRAD_DATA=str(out / "no-data"),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    command = [sys.executable, "-m", "models", "train", model, *options, "--quick",
               "--no-progress", "--out", str(out / str(ranks))]
    if ranks > 1:
        command = [MPIRUN, "--oversubscribe", "-n", str(ranks), *command, "--distributed"]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT_S)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (metrics,) = (out / str(ranks)).glob("*_metrics.json")
    return json.loads(metrics.read_text())


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_every_model_trains_on_two_ranks_offline(model, tmp_path):
    two = _run(model, tmp_path, 2)
    assert two["loss"] and np.all(np.isfinite(two["loss"]))
    if MODELS[model][1]:
        one = _run(model, tmp_path, 1)
        np.testing.assert_allclose(two["loss"], one["loss"], rtol=1e-4)
