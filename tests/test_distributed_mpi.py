"""minigrad.distributed across real processes: mpirun from pytest, in a
subprocess with a timeout.

One job per rank count (2 and 3) and per fabric runs every case of
distributed_cases.py (the worker is distributed_worker.py): over shared
memory, Open MPI's choice on one machine, and over its TCP transport on the
loopback interface, the code a job across machines runs. The tests compare
each rank's records with the same steps taken on this process with the whole
batch. Another job checks that a rank that raises ends the whole job.

mpirun comes with ``pip install 'minigrad[distributed]'`` (mpi4py + the Open
MPI wheel). Where it is missing these tests skip, except under
MINIGRAD_REQUIRE_MPI=1 (set by CI), where they fail: CI must run them.
"""
from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import distributed_cases as cases
from minigrad.distributed.launch import mpirun_options

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORKER = HERE / "distributed_worker.py"
JOB_TIMEOUT_S = 120


def _mpirun():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return None
    beside = Path(sys.executable).parent / "mpirun"
    return str(beside) if beside.exists() else shutil.which("mpirun")


MPIRUN = _mpirun()
if MPIRUN is None:
    if os.environ.get("MINIGRAD_REQUIRE_MPI") == "1":
        raise RuntimeError("MINIGRAD_REQUIRE_MPI=1 but mpi4py or mpirun is missing: "
                           "pip install -e '.[dev]' installs both")
    pytest.skip("mpi4py or mpirun is not installed (pip install 'minigrad[distributed]')",
                allow_module_level=True)


def mpirun(n, mode, out_dir, timeout=JOB_TIMEOUT_S, fabric="shared-memory"):
    """Run the worker on ``n`` ranks talking over ``fabric``; (CompletedProcess, seconds)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(HERE)]),
               OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
               # root in containers and CI; more ranks than cores
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    cmd = [MPIRUN, "--oversubscribe", "-n", str(n), *mpirun_options(fabric), sys.executable,
           str(WORKER), mode, str(out_dir)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.perf_counter() - start


JOBS = [(n, fabric) for fabric in ("shared-memory", "tcp-loopback") for n in (2, 3)]


@pytest.fixture(scope="module", params=JOBS, ids=[f"{n} ranks, {f}" for n, f in JOBS])
def job(request, tmp_path_factory):
    n, fabric = request.param
    out = tmp_path_factory.mktemp(f"mpi{n}-{fabric}")
    proc, _ = mpirun(n, "check", out, fabric=fabric)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    ranks = []
    for r in range(n):
        with open(out / f"rank{r}.pkl", "rb") as f:
            ranks.append(pickle.load(f) | {"fabric": fabric})
    return ranks


@pytest.fixture(scope="module")
def one_process():
    """The same steps on this process, whole batches."""
    return {"mlp": cases.run_mlp(), "rnnlm": cases.run_rnnlm(), "cbow": cases.run_cbow(),
            "perplexity": cases.run_perplexity(), "rnnlm-20": cases.run_rnnlm(steps=20),
            "cbow-20": cases.run_cbow(steps=20)}


# float32 rounding: sums taken in another order (halves, then the halves added)
RTOL, ATOL = 2e-5, 1e-7


def assert_same_steps(got, want, kinds=("grads", "params")):
    assert len(got) == len(want)
    for step, (g, w) in enumerate(zip(got, want)):
        np.testing.assert_allclose(g["loss"], w["loss"], rtol=RTOL, err_msg=f"loss, step {step}")
        for kind in kinds:
            assert g[kind].keys() == w[kind].keys()
            for name in w[kind]:
                np.testing.assert_allclose(g[kind][name], w[kind][name], rtol=RTOL, atol=ATOL,
                                           err_msg=f"{kind} of {name}, step {step}")


@pytest.mark.parametrize("case", ["mlp", "rnnlm", "cbow-gather", "cbow-densify"])
def test_a_step_on_ranks_equals_a_step_on_the_whole_batch(job, one_process, case):
    want = one_process[case.split("-")[0]]
    for rank in job:
        assert_same_steps(rank[case], want)


@pytest.mark.parametrize("case", ["mlp", "rnnlm", "cbow"])
def test_a_sharded_step_on_ranks_equals_a_step_on_the_whole_batch(job, one_process, case):
    """The parameters and the loss; a sharded update leaves no averaged gradient."""
    for rank in job:
        assert_same_steps(rank[f"{case}-sharded"], one_process[case], kinds=("params",))
        assert all(g is None for step in rank[f"{case}-sharded"] for g in step["grads"].values())


TWENTY_STEPS = ["rnnlm-20-bucketed", "rnnlm-20-overlapped", "cbow-20-gather", "cbow-20-densify"]


@pytest.mark.parametrize("case", TWENTY_STEPS)
def test_twenty_steps_on_ranks_equal_twenty_on_the_whole_batch(job, one_process, case):
    """Buckets of 512 bytes, the same overlapped with the backward pass, and
    sparse rows gathered or densified: the loss, the averaged gradients and
    the parameters of one process, step after step, on every rank."""
    want = one_process[case.rsplit("-", 1)[0]]
    for rank in job:
        assert_same_steps(rank[case], want)


@pytest.mark.parametrize("case", TWENTY_STEPS)
def test_twenty_steps_leave_the_ranks_bit_for_bit_identical(job, case):
    for rank in job[1:]:
        for step, (mine, first) in enumerate(zip(rank[case], job[0][case])):
            for name in first["params"]:
                assert np.array_equal(mine["params"][name], first["params"][name]), (step, name)


def test_the_overlapped_runs_started_buckets_during_the_backward_pass(job):
    for rank in job:
        assert rank["early-overlapped"] > 0
        assert rank["early-bucketed"] == 0


@pytest.mark.parametrize("exchange", list(cases.EXCHANGES))
def test_a_compiled_distributed_step_is_the_eager_one_bit_for_bit(job, exchange):
    """TrainingLoop(compiled=True) on the ranks: each rank's parameters after
    every one of the 32 steps are the eager run's, bit for bit, whether the
    gradients go whole, in buckets, overlapped, or to a sharded update."""
    for rank in job:
        eager, compiled = rank[f"loop-{exchange}"][False], rank[f"loop-{exchange}"][True]
        assert len(eager["params"]) == len(compiled["params"]) >= 20
        assert eager["replayed"] == 0 and compiled["replayed"] >= 20
        for step, (a, b) in enumerate(zip(eager["params"], compiled["params"])):
            assert all(np.array_equal(x, y) for x, y in zip(a, b)), step
        if exchange == "overlapped":
            # Eager, buckets leave during the backward pass; a compiled step's
            # replays run kernels without the engine's loop and send them after it.
            assert eager["early"] > 0
        first = job[0][f"loop-{exchange}"][True]["params"]
        assert all(np.array_equal(x, y) for x, y in zip(compiled["params"][-1], first[-1]))


def test_the_cases_exercise_what_they_claim(job, one_process):
    mlp_counts = [int((cases.mlp_data()[1][cases.dist.shard(cases.BATCH, r, len(job))] != -1)
                      .sum()) for r in range(len(job))]
    assert len(set(mlp_counts)) > 1                                   # counts differ per rank
    assert all(rec["norm"] > 0.1 for rec in one_process["rnnlm"])    # clipping acts
    assert all(r["norm"] == pytest.approx(w["norm"], rel=1e-5)
               for r, w in zip(job[0]["rnnlm"], one_process["rnnlm"]))
    for mode in ("gather", "densify"):
        assert set(job[0][f"cbow-{mode}-plan"]) == {mode}            # both tables sparse


def test_the_ranks_talk_over_the_fabric_asked_for_and_only_on_loopback(job):
    """Each rank's established TCP connections (from /proc): one to mpirun on
    every fabric; over TCP, the connections between ranks too. Every address
    is 127.0.0.1."""
    connections = [c for rank in job for c in rank["tcp"]]
    assert connections and all(c.split(":")[0] == "127.0.0.1" for pair in connections
                                for c in pair), connections
    between_ranks = len(connections) - len(job)          # less each rank's link to mpirun
    if job[0]["fabric"] == "tcp-loopback":
        assert between_ranks >= len(job) - 1, connections
    else:
        assert between_ranks == 0, connections


def test_sharded_perplexity_equals_one_process(job, one_process):
    for rank in job:
        assert rank["perplexity"] == pytest.approx(one_process["perplexity"], rel=1e-6)


@pytest.mark.parametrize("name", list(cases.OPTIMIZERS))
@pytest.mark.parametrize("key", ["identical", "identical-sharded", "identical-bucketed",
                                 "identical-overlapped"],
                         ids=["whole", "sharded", "bucketed", "overlapped"])
def test_parameters_stay_identical_across_ranks(job, name, key):
    runs = [rank[key][name] for rank in job]
    assert len(runs[0]["digests"]) == 20 and runs[0]["moved"]
    for other in runs[1:]:
        assert other["digests"] == runs[0]["digests"]
    if len(job) == 2:
        # Two ranks add the same two gradients (a + b) whether they reduce or
        # reduce-scatter, so sharded and unsharded agree bit for bit, step by
        # step. (Three may add them in another order.)
        assert runs[0]["digests"] == job[0]["identical"][name]["digests"]


def test_a_rank_with_other_parameters_fails_every_rank(job):
    for rank in job:
        assert "do not hold the same parameters" in rank["mismatch"]
        assert "rank 1 has" in rank["mismatch"]


def test_a_crashing_rank_ends_the_job_within_seconds(tmp_path):
    proc, seconds = mpirun(2, "crash", tmp_path, timeout=60)
    assert proc.returncode != 0
    assert "rank 1 fails on purpose" in proc.stderr
    assert "rank 1 of 2 failed" in proc.stderr
    assert not (tmp_path / "finished.npy").exists()
    assert seconds < 20, f"the job took {seconds:.1f} s to end"


# ---------------------------------------------------------------- training: resume, the CLI
@pytest.fixture(scope="module")
def resumed(tmp_path_factory):
    """The 2-rank ``resume`` job: an uninterrupted run, a crashed one, and the
    crashed one resumed; its directory and each rank's records."""
    out = tmp_path_factory.mktemp("resume")
    proc, _ = mpirun(2, "resume", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return out, [pickle.loads((out / f"rank{r}.pkl").read_bytes()) for r in range(2)]


def test_a_distributed_run_resumes_exactly(resumed):
    """BetterRnnlm (each rank its own dropout masks, its own rows of the
    recurrent state) crashed mid-epoch and resumed with other seeds gives
    the uninterrupted run's losses and weights, bit for bit, on every rank."""
    out, ranks = resumed
    for rank in ranks:
        (full, w_full), (again, w_again) = rank["full"], rank["resumed"]
        for key in ("loss", "train_ppl", "valid_ppl", "lr", "best_valid_ppl"):
            assert again[key] == full[key], key
        assert all(np.array_equal(w_full[k], w_again[k]) for k in w_full)
    assert ranks[0]["full"][0]["loss"] == ranks[1]["full"][0]["loss"]   # the mean over ranks
    assert sorted(p.name for p in (out / "full").iterdir()) == \
        ["rnnlm_best.npz", "rnnlm_resume.npz"]


@pytest.mark.parametrize("n", [1, 3], ids=["on 1 rank", "on 3 ranks"])
def test_a_2_rank_run_resumes_repeatably_on_another_number_of_ranks(resumed, n):
    """Rank r of the resumed job takes the saved stream of rank r; a rank the
    saved run did not have, a stream drawn from the saved ones. Resumed twice
    with other seeds, the runs are the same, bit for bit, on every rank."""
    from minigrad.training.checkpoint import read_state

    out, _ = resumed
    proc, _ = mpirun(n, "resume-elsewhere", out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    saved = read_state(out / "crashed" / "rnnlm_resume.npz", "resume")[1]["random_ranks"]
    ranks = [pickle.loads((out / f"on{n}-rank{r}.pkl").read_bytes()) for r in range(n)]
    streams = []
    for r, rank in enumerate(ranks):
        first, second = rank["resumed_with"]
        assert first == second            # whatever seed each resumed job was started with
        assert (first == saved[r]) if r < len(saved) else (first not in saved)
        streams.append(first)
        (h1, w1), (h2, w2) = rank["runs"]
        for key in ("loss", "train_ppl", "valid_ppl", "lr"):
            assert h1[key] == h2[key], key
        assert all(np.array_equal(w1[k], w2[k]) for k in w1)
        assert h1["loss"][:5] == ranks[0]["runs"][0][0]["loss"][:5]   # the saved history
    assert len({repr(s) for s in streams}) == n                   # each rank its own
    assert len(ranks[0]["runs"][0][0]["loss"]) > 5                # it trained after resuming


def test_cli_distributed_rnnlm_matches_one_process(tmp_path):
    from models.__main__ import main
    import json

    ptb = ROOT.parent / "shared" / "data" / "ptb"
    if not (ptb / "ptb.train.txt").is_file():
        pytest.skip("PTB is not in ../shared/data/ptb")
    common = ["train", "rnnlm", "--quick", "--no-progress", "--data", str(ptb)]
    assert main(common + ["--out", str(tmp_path / "one")]) == 0
    env = dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
    proc = subprocess.run([MPIRUN, "--oversubscribe", "-n", "2", sys.executable, "-m", "models",
                           *common, "--distributed", "--out", str(tmp_path / "two")],
                          env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=JOB_TIMEOUT_S)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert proc.stdout.count("outputs:") == 1                    # rank 0 alone reports
    one = json.loads((tmp_path / "one" / "rnnlm_metrics.json").read_text())
    two = json.loads((tmp_path / "two" / "rnnlm_metrics.json").read_text())
    for key in ("loss", "train_ppl", "valid_ppl"):
        np.testing.assert_allclose(two[key], one[key], rtol=1e-5, err_msg=key)
    assert two["test_ppl"] == pytest.approx(one["test_ppl"], rel=1e-5)


# ---------------------------------------------------------------- GPUs
def _gpus() -> int:
    import minigrad as mg

    if not mg.gpu_available():
        return 0
    import cupy

    return cupy.cuda.runtime.getDeviceCount()


@pytest.mark.gpu
@pytest.mark.parametrize("mode, gpus", [("gpu-mpi", 1), ("gpu-nccl", 2)])
def test_a_gpu_step_on_ranks_equals_a_step_on_the_whole_batch(tmp_path, one_process, mode, gpus):
    """cupy gradients through the host (2 ranks may share one GPU) and through
    NCCL (one GPU per rank: NCCL refuses two ranks on one)."""
    from minigrad.distributed.nccl import nccl_module

    if _gpus() < gpus:
        pytest.skip(f"needs {gpus} CUDA GPU(s) with cupy, this machine has {_gpus()}")
    if mode == "gpu-nccl" and nccl_module() is None:
        pytest.skip("cupy has no NCCL (pip install nvidia-nccl-cu12)")
    proc, _ = mpirun(2, mode, tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for r in range(2):
        got = pickle.loads((tmp_path / f"rank{r}.pkl").read_bytes())["mlp"]
        for g, w in zip(got, one_process["mlp"]):
            assert g["loss"] == pytest.approx(w["loss"], rel=1e-4)
            for name in w["params"]:
                np.testing.assert_allclose(g["params"][name], w["params"][name], rtol=1e-4,
                                           atol=1e-6)
