"""Data-parallel training on 2 ranks against 1 process, on this 2-core machine.

    python benchmarks/distributed.py                 # steps, sparse rows, Allreduce (~5 min)
    python benchmarks/distributed.py --rounds 3 --only rnnlm,cbow
    python benchmarks/distributed.py --yield-when-idle   # waiting ranks yield their core
    python benchmarks/distributed.py --epoch         # one PTB epoch of Rnnlm, 1 vs 2 ranks (~8 min)

The script starts itself under ``mpirun -n 2`` with one BLAS thread per rank.
Inside that one job every round times, in an order that alternates:

* **1 process**: rank 0 takes one optimizer step on the whole global batch
  with the plain optimizer while rank 1 sleeps (a sleeping wait, not MPI's
  busy one, so rank 0 has a core to itself as a lone process would);
* **2 ranks**: both take one DistributedOptimizer step on their half.

So both see the same outside load, and the speed-up is the ratio of the
medians of one run. ``comm`` is the time inside ``mean_grads`` (packing, the
header, the Allreduce and the wait for the slower rank) as a share of the
2-rank step; ``allreduce`` the Allreduce alone.

The other sections: sparse row gradients (gathered vs densified, by the
number of rows: where the crossover lies, which sets
``minigrad.distributed.GATHER_LIMIT``), and one Allreduce of BetterRnnlm's
13.3M gradients against the same in chunks. Results: results/distributed.md
and .json (``--yield-when-idle``: distributed-yield; ``--epoch``:
distributed-epoch).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path[:0] = [str(HERE), str(ROOT)]

from _harness import pin_threads  # noqa: E402

THREADS = pin_threads(1)

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402

PTB = ROOT.parent / "shared" / "data" / "ptb"
MODELS = ("better-rnnlm", "rnnlm", "cbow")
SECTIONS = MODELS + ("sparse", "allreduce")


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="timed rounds per model")
    p.add_argument("--only", default=",".join(SECTIONS), help="comma-separated sections")
    p.add_argument("--data", default=str(PTB), help="PTB directory")
    p.add_argument("--epoch", action="store_true",
                   help="instead: one PTB epoch of Rnnlm on 1 process and on 2 ranks")
    p.add_argument("--yield-when-idle", action="store_true",
                   help="Open MPI's mpi_yield_when_idle: a waiting rank yields its core "
                        "instead of spinning (kinder to a loaded machine)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return p.parse_args(argv)


def mpirun_command(n):
    beside = Path(sys.executable).parent / "mpirun"
    mpirun = str(beside) if beside.exists() else shutil.which("mpirun")
    if mpirun is None:
        raise SystemExit("mpirun not found: pip install 'minigrad[distributed]'")
    return [mpirun, "--oversubscribe", "-n", str(n)]


def environment():
    return dict(os.environ, PYTHONPATH=str(ROOT), OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                MKL_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
                OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")


# ---------------------------------------------------------------- inside the job
class Job:
    def __init__(self):
        import minigrad.distributed as dist

        self.dist = dist
        self.comm = dist.create_communicator()
        self.rank = self.comm.rank
        self.mpi = self.comm.transport.comm
        self.timers = {"comm": [], "allreduce": []}
        self._time(self.comm, "mean_grads", "comm")
        self._time(self.comm.transport, "allreduce_sum", "allreduce")

    def _time(self, obj, method, key):
        inner = getattr(obj, method)

        def timed(*args, **kwargs):
            t = time.perf_counter()
            out = inner(*args, **kwargs)
            self.timers[key].append(time.perf_counter() - t)
            return out
        setattr(obj, method, timed)

    def sleep_barrier(self):
        """A barrier that sleeps while it waits (MPI's own spins a core)."""
        req = self.mpi.Ibarrier()
        while not req.Test():
            time.sleep(0.0005)

    def take(self):
        out = {k: list(v) for k, v in self.timers.items()}
        for v in self.timers.values():
            v.clear()
        return out


def lm_setup(job, kind, data):
    from minigrad.data import TBPTTBatcher, load_ptb
    from minigrad.optimizers import SGD, ClipGradNorm
    from models.rnnlm import BetterRnnlm, Rnnlm

    corpus = load_ptb("train", data_dir=data)[0]

    def build():
        if kind == "better-rnnlm":
            return BetterRnnlm(10000, 650, 650, dropout_ratio=0.5, rng=0)
        return Rnnlm(10000, 100, 100, rng=0)

    def optimizer(model):
        opt = SGD(model, lr=20.0)
        opt.add_hook(ClipGradNorm(0.25))
        return opt

    single = build() if job.rank == 0 else None
    single_opt = optimizer(single) if single is not None else None
    whole = TBPTTBatcher(corpus, 20, 35)
    half = build() if job.rank == 0 else None
    half_opt = optimizer(half) if half is not None else None
    halves = TBPTTBatcher(corpus, 10, 35)
    model = build()
    opt = job.dist.DistributedOptimizer(optimizer(model), job.comm)
    mine = job.dist.ShardedBatches(TBPTTBatcher(corpus, 20, 35), job.rank, job.comm.size)
    return (single, single_opt, whole), (half, half_opt, halves), (model, opt, mine)


def cbow_setup(job, data):
    from minigrad.data import ShuffledBatches, create_contexts_target, load_ptb
    from minigrad.optimizers import Adam
    from models.word2vec import CBOW

    corpus = load_ptb("train", data_dir=data)[0]
    contexts, target = create_contexts_target(corpus, 5)

    def build():
        return CBOW(10000, 100, 5, corpus, sparse=True, rng=0)

    single = build() if job.rank == 0 else None
    single_opt = Adam(single, lr=0.001) if single is not None else None
    whole = ShuffledBatches(contexts, target, batch_size=100, rng=0)
    half = build() if job.rank == 0 else None
    half_opt = Adam(half, lr=0.001) if half is not None else None
    halves = ShuffledBatches(contexts, target, batch_size=50, rng=0)
    model = build()
    opt = job.dist.DistributedOptimizer(Adam(model, lr=0.001), job.comm)
    mine = job.dist.ShardedBatches(ShuffledBatches(contexts, target, batch_size=100, rng=0),
                                   job.rank, job.comm.size)
    return (single, single_opt, whole), (half, half_opt, halves), (model, opt, mine)


def step(model, opt, batch, distributed):
    loss = model.loss(*batch)
    model.zero_grad()
    loss.backward()
    if distributed:
        return opt.update(loss=loss)
    opt.update()
    return float(loss.data)


def time_model(job, kind, data, rounds, warmup=2):
    import minigrad.distributed as dist

    dist.seed(0, job.rank)
    setups = cbow_setup(job, data) if kind == "cbow" else lm_setup(job, kind, data)
    (single, single_opt, whole), (half, half_opt, halves), (model, opt, mine) = setups
    one, two, comm, allreduce, cpu_one, cpu_two, cpu_half = [], [], [], [], [], [], []
    for r in range(warmup + rounds):
        order = ("one", "two") if r % 2 == 0 else ("two", "one")
        for what in order:
            job.sleep_barrier()
            if what == "one":
                if job.rank == 0:
                    c, t = time.process_time(), time.perf_counter()
                    step(single, single_opt, whole.next_batch(), False)
                    dt, dc = time.perf_counter() - t, time.process_time() - c
                    c = time.process_time()
                    step(half, half_opt, halves.next_batch(), False)
                    if r >= warmup:
                        one.append(dt)
                        cpu_one.append(dc)
                        cpu_half.append(time.process_time() - c)
            else:
                job.take()
                c, t = time.process_time(), time.perf_counter()
                step(model, opt, mine.next_batch(), True)
                dt, dc = time.perf_counter() - t, time.process_time() - c
                timers = job.take()
                dc = max(job.comm.allgather_object(dc))      # the busier rank
                if r >= warmup:
                    two.append(dt)
                    cpu_two.append(dc)
                    comm.append(sum(timers["comm"]))
                    allreduce.append(sum(timers["allreduce"]))
    job.sleep_barrier()
    if job.rank != 0:
        return None
    med = H.median
    return {"one_process": H.summarize(one), "two_ranks": H.summarize(two),
            "comm": H.summarize(comm), "allreduce": H.summarize(allreduce),
            "speedup": med(one) / med(two), "comm_share": med(comm) / med(two),
            "cpu_one_process": H.summarize(cpu_one), "cpu_two_ranks": H.summarize(cpu_two),
            "cpu_speedup": med(cpu_one) / med(cpu_two),
            "cpu_half_batch": H.summarize(cpu_half), "bound": med(cpu_one) / med(cpu_half),
            "allreduce_share": med(allreduce) / med(two),
            "params": int(sum(p.data.size for p in model.params())),
            "plan": sorted(set(job.comm.last_plan))}


def time_sparse(job, rounds):
    """mean_grads of one (10000, 100) sparse gradient, gathered vs densified."""
    import minigrad as mg
    from minigrad.layers import Parameter

    V, D = 10_000, 100
    rng = np.random.default_rng(job.rank)
    param = Parameter(np.zeros((V, D), np.float32))
    out = []
    for rows in (250, 500, 1000, 2000, 3000, 4000, 6000, 8000):
        times = {"gather": [], "densify": []}
        for r in range(rounds + 1):
            for mode in (("gather", "densify") if r % 2 else ("densify", "gather")):
                job.comm.sparse = mode
                idx = rng.choice(V, rows, replace=False)
                param.grad = mg.SparseRows(idx, rng.standard_normal((rows, D)).astype(np.float32),
                                           (V, D))
                job.sleep_barrier()
                t = time.perf_counter()
                job.comm.mean_grads([param])
                param.grad.coalesced()          # what the optimizer does next, in both cases
                if r:
                    times[mode].append(time.perf_counter() - t)
        total = rows * job.comm.size
        out.append({"rows_per_rank": rows, "total_over_V": total / V,
                    "gather_ms": 1e3 * H.median(times["gather"]),
                    "densify_ms": 1e3 * H.median(times["densify"]),
                    "auto": job.dist.choose_sparse(total, (V, D))})
    job.comm.sparse = "auto"
    return out if job.rank == 0 else None


def time_allreduce(job, rounds, n=13_300_000):
    """One Allreduce of n float32 (BetterRnnlm's gradients) vs the same in
    chunks: wall time, CPU time and the page faults of one reduction (the
    last two do not depend on the load of the machine)."""
    import resource

    from mpi4py import MPI

    buf = np.ones(n, np.float32)
    out = {}
    for chunk in (n, 4_000_000, 1_000_000):
        wall, cpu, faults = [], [], []
        for r in range(rounds + 1):
            job.sleep_barrier()
            f, c, t = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt, time.process_time(),
                       time.perf_counter())
            for start in range(0, n, chunk):
                job.mpi.Allreduce(MPI.IN_PLACE, buf[start:start + chunk])
            if r:
                wall.append(time.perf_counter() - t)
                cpu.append(time.process_time() - c)
                faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f)
        out[f"chunks of {chunk:,}"] = {"ms": 1e3 * H.median(wall), "cpu_ms": 1e3 * H.median(cpu),
                                       "page_faults": H.median(faults)}
    return out if job.rank == 0 else None


def worker(args):
    job = Job()
    sections = [s for s in args.only.split(",") if s]
    results = {"env": H.environment(), "size": job.comm.size, "rounds": args.rounds,
               "yield_when_idle": os.environ.get("OMPI_MCA_mpi_yield_when_idle") == "1"}
    for kind in MODELS:
        if kind in sections:
            results[kind] = time_model(job, kind, args.data, args.rounds)
    if "sparse" in sections:
        results["sparse"] = time_sparse(job, args.rounds)
    if "allreduce" in sections:
        results["allreduce"] = time_allreduce(job, args.rounds)
    if job.rank == 0:
        results["load_avg_end"] = os.getloadavg()
        name = "distributed-yield" if results["yield_when_idle"] else "distributed"
        H.write_results(name, results, markdown(results))
        print(markdown(results))


def markdown(res):
    env = res["env"]
    lines = ["# Data-parallel training: 2 ranks against 1 process", "",
             "`python benchmarks/distributed.py` (one mpirun job of 2 ranks, 1 BLAS thread "
             "each; the 1-process step runs on rank 0 while rank 1 sleeps). Global batch: "
             "20 x 35 for the language models (SGD lr 20, clip 0.25), 100 for CBOW "
             "(Adam); medians over the rounds; each rank takes half of every batch"
             + (" (`--yield-when-idle`: waiting ranks yield their core)." if
                res.get("yield_when_idle") else "."), ""]
    lines += H.environment_lines(env)
    end = res.get("load_avg_end")
    if end:
        lines.append(f"- load average at the end: {', '.join(f'{x:.2f}' for x in end)}")
    rows = []
    for kind in MODELS:
        r = res.get(kind)
        if r:
            rows.append([kind, f"{r['params']:,}", f"{1e3 * r['one_process']['median']:.1f}",
                         f"{1e3 * r['two_ranks']['median']:.1f}", f"**{r['speedup']:.2f}x**",
                         f"{1e3 * r['cpu_one_process']['median']:.1f}",
                         f"{1e3 * r['cpu_two_ranks']['median']:.1f}", f"{r['cpu_speedup']:.2f}x",
                         f"{1e3 * r['cpu_half_batch']['median']:.1f}", f"{r['bound']:.2f}x",
                         f"{100 * r['comm_share']:.0f}%", f"{100 * r['allreduce_share']:.0f}%",
                         ", ".join(r["plan"])])
    if rows:
        lines += ["", "## One optimizer step", "",
                  H.md_table(["model", "parameters", "1 process (ms)", "2 ranks (ms)",
                              "speed-up", "CPU, 1 process (ms)", "CPU, busier rank (ms)",
                              "CPU ratio", "CPU, half batch alone (ms)", "bound",
                              "in mean_grads", "in the Allreduce", "gradients"],
                             rows),
                  "", "*speed-up*: of the wall time. *CPU*: the CPU time of the step (of the "
                  "busier rank on 2 ranks; Open MPI's spinning while it waits counts too); "
                  "their ratio is the speed-up two idle cores would give. *bound*: 1 process "
                  "on the whole batch against 1 process on half of it, the speed-up without "
                  "any exchange. *in mean_grads*: "
                  "packing, the header, the Allreduce and the wait for the slower rank, as a "
                  "share of the 2-rank step."]
    if res.get("sparse"):
        lines += ["", "## Sparse rows: gathered or densified", "",
                  "One (10,000 x 100) float32 table; each rank holds the given number of "
                  "distinct rows; the time of mean_grads and of the coalescing the optimizer "
                  "does next.", "",
                  H.md_table(["rows per rank", "all rows / V", "gather (ms)", "densify (ms)",
                              "auto picks"],
                             [[s["rows_per_rank"], f"{s['total_over_V']:.2f}",
                               f"{s['gather_ms']:.2f}", f"{s['densify_ms']:.2f}", s["auto"]]
                              for s in res["sparse"]])]
    if res.get("allreduce"):
        lines += ["", "## One Allreduce of 13.3M float32 (BetterRnnlm's gradients)", "",
                  "The communicator reduces in chunks of 16 MiB (4M float32): Open MPI's "
                  "temporary then stays in malloc's heap instead of being page-faulted anew "
                  "at every call.", "",
                  H.md_table(["calls", "wall (ms)", "CPU (ms)", "page faults"],
                             [[k, f"{v['ms']:.1f}", f"{v['cpu_ms']:.1f}", f"{v['page_faults']:.0f}"]
                              for k, v in res["allreduce"].items()])]
    return "\n".join(lines)


# ---------------------------------------------------------------- one PTB epoch
def epoch(args):
    """python -m models train rnnlm --epochs 1 on 1 process, then on 2 ranks."""
    out = ROOT / "runs" / "distributed-epoch"
    common = [sys.executable, "-m", "models", "train", "rnnlm", "--epochs", "1", "--threads",
              "1", "--no-progress", "--data", args.data]
    runs = {}
    for label, prefix, extra in (("1 process", [], []),
                                 ("2 ranks", mpirun_command(2), ["--distributed"])):
        target = out / label.replace(" ", "-")
        load = os.getloadavg()
        t = time.perf_counter()
        proc = subprocess.run(prefix + common + extra + ["--out", str(target)], cwd=ROOT,
                              env=environment(), capture_output=True, text=True)
        wall = time.perf_counter() - t
        if proc.returncode:
            raise SystemExit(proc.stdout[-2000:] + proc.stderr[-2000:])
        metrics = json.loads((target / "rnnlm_metrics.json").read_text())
        runs[label] = {"wall_s": wall, "load_avg_start": load, "test_ppl": metrics["test_ppl"],
                       "valid_ppl": metrics["valid_ppl"][-1],
                       "epoch_time_s": metrics["epoch_time_s"][0],
                       "final_train_ppl": metrics["train_ppl"][-1]}
    one, two = runs["1 process"], runs["2 ranks"]
    res = {"env": H.environment(), "runs": runs, "speedup_epoch": one["epoch_time_s"] /
           two["epoch_time_s"], "speedup_wall": one["wall_s"] / two["wall_s"]}
    md = ["# One PTB epoch of Rnnlm: 2 ranks against 1 process", "",
          "`python benchmarks/distributed.py --epoch`: `python -m models train rnnlm --epochs 1 "
          "--threads 1`, then the same under `mpirun -n 2 ... --distributed` (batch 20 x 35, "
          "SGD lr 20, clip 0.25; validation and test sharded over the ranks).", ""]
    md += H.environment_lines(res["env"])
    md += ["", H.md_table(["run", "epoch (s)", "whole run (s)", "load at start",
                           "valid perplexity", "test perplexity"],
                          [[k, f"{v['epoch_time_s']:.0f}", f"{v['wall_s']:.0f}",
                            f"{v['load_avg_start'][0]:.1f}", f"{v['valid_ppl']:.2f}",
                            f"{v['test_ppl']:.2f}"] for k, v in runs.items()]),
           "", f"Speed-up of the training epoch: **{res['speedup_epoch']:.2f}x** (whole run, "
           f"data loading and evaluation included: {res['speedup_wall']:.2f}x)."]
    H.write_results("distributed-epoch", res, "\n".join(md))
    print("\n".join(md))


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.epoch:
        return epoch(args)
    if args.worker:
        return worker(args)
    mca = ["--mca", "mpi_yield_when_idle", "1"] if args.yield_when_idle else []
    cmd = mpirun_command(2) + mca + [sys.executable, str(Path(__file__).resolve()), "--worker",
                               "--rounds", str(args.rounds), "--only", args.only,
                               "--data", args.data]
    return subprocess.run(cmd, cwd=ROOT, env=environment()).returncode


if __name__ == "__main__":
    sys.exit(main())
