"""Data-parallel training on 2 ranks against 1 process, on this 2-core machine.

    python benchmarks/distributed.py                 # steps, sparse rows, Allreduce (~5 min)
    python benchmarks/distributed.py --rounds 3 --only rnnlm,cbow
    python benchmarks/distributed.py --yield-when-idle   # waiting ranks yield their core
    python benchmarks/distributed.py --fabric tcp-loopback   # over TCP on 127.0.0.1
    python benchmarks/distributed.py --epoch         # one PTB epoch of Rnnlm, 1 vs 2 ranks (~8 min)

The script starts itself under ``mpirun -n 2`` with one BLAS thread per rank.
Inside that one job every round times, in an order that alternates:

* **1 process**: rank 0 takes one optimizer step on the whole global batch
  with the plain optimizer while rank 1 sleeps (a sleeping wait, not MPI's
  busy one, so rank 0 has a core to itself as a lone process would);
* **2 ranks**: both take one DistributedOptimizer step on their half;
* **2 ranks, sharded**: the same with ``shard=True``;
* **2 ranks, overlapped**: the same with ``overlap=True`` and buckets of 1,
  4 and 16 MiB (each variant on a communicator of its own).

So all of them see the same outside load, and the speed-up is the ratio of the
medians of one run. ``comm`` is the time inside ``mean_grads`` (the header,
the scaling of the buffer, the Allreduce and the wait for the slower rank) as
a share of the 2-rank step; ``allreduce`` the Allreduce alone; ``comm_work``
mean_grads less the Allreduce and the header (where the wait is): its own
passes over the gradients.

The other sections: where a rank's step goes (``profile``: the CPU time of
each phase of a language model's step on the whole batch and on a rank's
half, which shows the work that does not halve), sparse row gradients
(gathered vs densified, by their bytes against the dense table, for two
widths: where the crossover lies, which sets
``minigrad.distributed.GATHER_LIMIT``), and one Allreduce of BetterRnnlm's
13.3M gradients against the same in chunks, and the link (latency and
bandwidth of an Allreduce between the two ranks). With the steps, the inputs
of the scaling model (per model: the compute per sample, the fixed work per
step, the bytes exchanged) and its predictions for 2, 8 and 64 ranks on 10
and 100 Gb/s networks, against the speed-up measured here. Results:
results/distributed.md and .json (``--yield-when-idle``: distributed-yield;
``--fabric tcp-loopback``: distributed-tcp; ``--epoch``: distributed-epoch).
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
SECTIONS = MODELS + ("profile", "sparse", "allreduce", "link")


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
    p.add_argument("--fabric", default="shared-memory", choices=("shared-memory", "tcp-loopback"),
                   help="how the ranks talk: Open MPI's shared memory, or its TCP transport on "
                        "127.0.0.1 (the path between machines); results in distributed-tcp")
    p.add_argument("--out", help="name of the results files (default: distributed, or "
                   "distributed-yield / distributed-tcp)")
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
        self.timers = {"comm": [], "allreduce": [], "header": [], "bytes": [], "calls": []}
        self.comm = self.communicator()
        self.rank = self.comm.rank
        self.mpi = self.comm.transport.comm

    def communicator(self):
        """A communicator over the ranks, its collectives timed and counted
        (one per variant of the step: each keeps its own buckets)."""
        comm = self.dist.create_communicator()
        self._time(comm, "mean_grads", "comm")
        self._time(comm, "reduce_scatter_grads", "comm")
        self._time(comm.transport, "allreduce_sum", "allreduce")
        self._time(comm.transport, "iallreduce_sum", "allreduce")
        self._time(comm.transport, "wait", "allreduce")
        # The first collective of a step: where a rank waits for the slower one.
        self._time(comm.transport, "allgather_header", "header")
        for method in ("allreduce_sum", "iallreduce_sum", "reduce_scatter", "allgatherv",
                       "allgather_header"):
            self._count_bytes(comm.transport, method)
        return comm

    def _count_bytes(self, transport, method):
        """Count the payload of a collective: what this rank puts in (for an
        allgather, what every rank puts in together)."""
        inner = getattr(transport, method)

        def counted(buf, *args):
            n = sum(args[0]) * buf.itemsize if method == "allgatherv" else np.asarray(buf).nbytes
            self.timers["bytes"].append(n)
            if method in ("allreduce_sum", "iallreduce_sum"):     # one call per 16 MiB piece
                from minigrad.distributed.transport import ALLREDUCE_CHUNK_BYTES
                self.timers["calls"].append(max(1, -(-n // ALLREDUCE_CHUNK_BYTES)))
            else:
                self.timers["calls"].append(1)
            return inner(buf, *args)
        setattr(transport, method, counted)

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
    ranks = []
    for _, options in VARIANTS:
        model = build()
        opt = job.dist.DistributedOptimizer(optimizer(model), job.communicator(), **options)
        mine = job.dist.ShardedBatches(TBPTTBatcher(corpus, 20, 35), job.rank, job.comm.size)
        ranks.append((model, opt, mine))
    return (single, single_opt, whole), (half, half_opt, halves), *ranks


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
    ranks = []
    for _, options in VARIANTS:
        model = build()
        opt = job.dist.DistributedOptimizer(Adam(model, lr=0.001), job.communicator(), **options)
        mine = job.dist.ShardedBatches(ShuffledBatches(contexts, target, batch_size=100, rng=0),
                                       job.rank, job.comm.size)
        ranks.append((model, opt, mine))
    return (single, single_opt, whole), (half, half_opt, halves), *ranks


def step(model, opt, batch, distributed):
    loss = model.loss(*batch)
    model.zero_grad()
    loss.backward()
    if distributed:
        return opt.update(loss=loss)
    opt.update()
    return float(loss.data)


# The 2-rank steps timed against one process: the plain step (one buffer per
# dtype), the sharded update, and the exchange overlapped with the backward
# pass in buckets of three sizes (which sets the default bucket size).
MiB = 1 << 20
VARIANTS = [("whole", {}), ("sharded", dict(shard=True))] + [
    (f"overlap {size} MiB", dict(overlap=True, bucket_bytes=size * MiB)) for size in (1, 4, 16)]


def time_model(job, kind, data, rounds, warmup=3):
    import minigrad.distributed as dist

    dist.seed(0, job.rank)
    setups = cbow_setup(job, data) if kind == "cbow" else lm_setup(job, kind, data)
    (single, single_opt, whole), (half, half_opt, halves), *ranks = setups
    one, cpu_one, cpu_half = [], [], []
    two = [{"wall": [], "cpu": [], "comm": [], "allreduce": [], "work": [], "bytes": [],
            "calls": []} for _ in VARIANTS]
    everything = ["one"] + list(range(len(VARIANTS)))
    for r in range(warmup + rounds):
        turn = r % len(everything)                  # each round in another order
        for what in everything[turn:] + everything[:turn]:
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
                model, opt, mine = ranks[what]
                job.take()
                c, t = time.process_time(), time.perf_counter()
                step(model, opt, mine.next_batch(), True)
                dt, dc = time.perf_counter() - t, time.process_time() - c
                timers = job.take()
                dc = max(job.comm.allgather_object(dc))      # the busier rank
                if r >= warmup:
                    rec = two[what]
                    rec["wall"].append(dt)
                    rec["cpu"].append(dc)
                    rec["comm"].append(sum(timers["comm"]))
                    rec["allreduce"].append(sum(timers["allreduce"]))
                    rec["work"].append(sum(timers["comm"]) - sum(timers["allreduce"])
                                       - sum(timers["header"]))
                    rec["bytes"].append(sum(timers["bytes"]))
                    rec["calls"].append(len(timers["calls"]) and sum(timers["calls"]))
    job.sleep_barrier()
    if job.rank != 0:
        return None
    med = H.median
    plain, sharded = two[0], two[1]
    model = ranks[0][0]
    batch = whole.batch_size
    return {"one_process": H.summarize(one), "two_ranks": H.summarize(plain["wall"]),
            "comm": H.summarize(plain["comm"]), "allreduce": H.summarize(plain["allreduce"]),
            # mean_grads less the Allreduce and the header (the wait for the
            # slower rank): its own passes over the gradients
            "comm_work": H.summarize(plain["work"]),
            "speedup": med(one) / med(plain["wall"]),
            "comm_share": med(plain["comm"]) / med(plain["wall"]),
            "cpu_one_process": H.summarize(cpu_one), "cpu_two_ranks": H.summarize(plain["cpu"]),
            "cpu_speedup": med(cpu_one) / med(plain["cpu"]),
            "cpu_half_batch": H.summarize(cpu_half), "bound": med(cpu_one) / med(cpu_half),
            "allreduce_share": med(plain["allreduce"]) / med(plain["wall"]),
            "two_ranks_sharded": H.summarize(sharded["wall"]),
            "speedup_sharded": med(one) / med(sharded["wall"]),
            "cpu_two_ranks_sharded": H.summarize(sharded["cpu"]),
            "bytes_per_step": med(plain["bytes"]), "bytes_per_step_sharded": med(sharded["bytes"]),
            "calls_per_step": med(plain["calls"]),
            # t(B) = fixed + B * per_sample, measured at B and B / 2 on one process
            "batch": batch, "per_sample_s": 2 * (med(cpu_one) - med(cpu_half)) / batch,
            "fixed_s": 2 * med(cpu_half) - med(cpu_one),
            "params": int(sum(p.data.size for p in model.params())),
            # what one Allreduce of every gradient as a dense table would move
            "dense_bytes_per_step": int(sum(p.data.nbytes for p in model.params())),
            "plan": sorted(set(ranks[0][1].comm.last_plan)),
            "variants": {name: {"two_ranks": H.summarize(rec["wall"]),
                                "speedup": med(one) / med(rec["wall"]),
                                "comm": H.summarize(rec["comm"]),
                                "cpu_two_ranks": H.summarize(rec["cpu"])}
                         for (name, _), rec in zip(VARIANTS, two)}}


class _Alone:
    """A transport of 2 ranks whose collectives move nothing: the work one
    rank does in mean_grads, without the exchange and the wait."""

    name, rank, size = "alone", 0, 2

    def allgather_header(self, vec):
        row = np.asarray(vec, dtype=np.float64).reshape(1, -1)
        return np.concatenate([row, row])

    def allreduce_sum(self, buf):
        return buf


PHASES = ("forward", "backward", "mean_grads", "update (clip + rule)")


def profile_step(job, kind, data, rounds, warmup=2):
    """CPU time of each phase of a language model's step, on one process
    with the whole batch and on one rank with its half (its mean_grads on a
    transport that moves nothing): which work halves with the batch and
    which does not. Rank 0 measures while rank 1 sleeps."""
    from minigrad.distributed import Communicator
    from minigrad.data import TBPTTBatcher, load_ptb
    from minigrad.optimizers import SGD, ClipGradNorm
    from models.rnnlm import BetterRnnlm, Rnnlm

    if job.rank != 0:
        job.sleep_barrier()
        return None
    corpus = load_ptb("train", data_dir=data)[0]
    out = {}
    for label, batch in (("1 process", 20), ("a rank of 2", 10)):
        model = (BetterRnnlm(10000, 650, 650, dropout_ratio=0.5, rng=0)
                 if kind == "better-rnnlm" else Rnnlm(10000, 100, 100, rng=0))
        opt = SGD(model, lr=20.0)
        opt.add_hook(ClipGradNorm(0.25))
        comm = Communicator(_Alone()) if batch == 10 else None
        batches = TBPTTBatcher(corpus, batch, 35)
        times = {phase: [] for phase in PHASES}
        for r in range(warmup + rounds):
            xs, ts = batches.next_batch()
            marks = [time.process_time()]
            loss = model.loss(xs, ts)
            marks.append(time.process_time())
            model.zero_grad()
            loss.backward()
            marks.append(time.process_time())
            if comm is not None:
                comm.mean_grads(model.params(), loss=loss)
            marks.append(time.process_time())
            opt.update()
            marks.append(time.process_time())
            if r >= warmup:
                for phase, a, b in zip(PHASES, marks, marks[1:]):
                    times[phase].append(b - a)
        out[label] = {phase: 1e3 * H.median(v) for phase, v in times.items()}
    job.sleep_barrier()
    return out


def time_sparse(job, rounds):
    """mean_grads of one (10000, D) sparse gradient, gathered vs densified,
    for two widths D: where the crossover lies in bytes (the rows and ids
    all ranks send against the dense table and its mask)."""
    import minigrad as mg
    from minigrad.distributed import sparse_bytes
    from minigrad.layers import Parameter

    V = 10_000
    rng = np.random.default_rng(job.rank)
    out = []
    for D in (100, 10):
        param = Parameter(np.zeros((V, D), np.float32))
        for rows in (250, 500, 1000, 2000, 3000, 4000, 6000, 8000):
            times = {"gather": [], "densify": []}
            for r in range(rounds + 1):
                for mode in (("gather", "densify") if r % 2 else ("densify", "gather")):
                    job.comm.sparse = mode
                    idx = rng.choice(V, rows, replace=False)
                    param.grad = mg.SparseRows(
                        idx, rng.standard_normal((rows, D)).astype(np.float32), (V, D))
                    job.sleep_barrier()
                    t = time.perf_counter()
                    job.comm.mean_grads([param])
                    param.grad.coalesced()          # what the optimizer does next, in both cases
                    if r:
                        times[mode].append(time.perf_counter() - t)
            total = rows * job.comm.size
            gathered, dense = sparse_bytes(total, (V, D), np.float32)
            out.append({"width": D, "rows_per_rank": rows, "total_over_V": total / V,
                        "bytes_ratio": gathered / dense,
                        "gather_ms": 1e3 * H.median(times["gather"]),
                        "densify_ms": 1e3 * H.median(times["densify"]),
                        "auto": job.dist.choose_sparse(total, (V, D), np.float32)})
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


def time_link(job, rounds):
    """Latency and bandwidth between the 2 ranks, as the ring model uses
    them: an Allreduce of 8 bytes takes 2 (N - 1) alpha = 2 alpha, one of S
    bytes 2 alpha + S / beta (N = 2: each rank sends half and receives half,
    twice)."""
    from mpi4py import MPI

    def timed(buf, repeat):
        times = []
        for r in range(rounds + 1):
            job.sleep_barrier()
            t = time.perf_counter()
            for _ in range(repeat):
                job.mpi.Allreduce(MPI.IN_PLACE, buf)
            if r:
                times.append((time.perf_counter() - t) / repeat)
        return H.median(times)

    small = timed(np.ones(2, np.float32), 200)
    size = 16 << 20
    large = timed(np.ones(size // 4, np.float32), 3)
    alpha = small / 2
    return ({"alpha_s": alpha, "beta_bytes_per_s": size / max(large - 2 * alpha, 1e-9),
             "small_allreduce_s": small, "allreduce_16MiB_s": large}
            if job.rank == 0 else None)


# ---------------------------------------------------------------- the scaling model
# Links the table predicts for: (name, latency alpha in s, bandwidth beta in bytes/s). The
# latencies are typical of MPI over TCP on 10 Gb/s Ethernet and over a 100 Gb/s RDMA fabric.
NETWORKS = (("10 Gb/s", 30e-6, 10e9 / 8), ("100 Gb/s", 5e-6, 100e9 / 8))
RANKS = (2, 8, 64)


def predicted_step(m, n, alpha, beta):
    """Seconds of one step on ``n`` ranks by the model: the fixed work, the
    rank's share of the global batch, and the exchange, each collective a
    ring (2 (n - 1) messages of latency alpha, 2 (n - 1) / n of the bytes
    through a link of bandwidth beta)."""
    compute = m["fixed_s"] + m["batch"] / n * m["per_sample_s"]
    if n == 1:
        return compute
    latency = m["calls_per_step"] * 2 * (n - 1) * alpha
    exchange = latency + 2 * (n - 1) / n * m["bytes_per_step"] / beta
    return compute + exchange


def predicted_speedup(m, n, alpha, beta):
    return predicted_step(m, 1, alpha, beta) / predicted_step(m, n, alpha, beta)


def worker(args):
    job = Job()
    sections = [s for s in args.only.split(",") if s]
    results = {"env": H.environment(), "size": job.comm.size, "rounds": args.rounds,
               "yield_when_idle": os.environ.get("OMPI_MCA_mpi_yield_when_idle") == "1"}
    for kind in MODELS:
        if kind in sections:
            results[kind] = time_model(job, kind, args.data, args.rounds)
    if "profile" in sections:
        results["profile"] = {kind: profile_step(job, kind, args.data, args.rounds)
                              for kind in ("better-rnnlm", "rnnlm")}
    if "sparse" in sections:
        results["sparse"] = time_sparse(job, args.rounds)
    if "allreduce" in sections:
        results["allreduce"] = time_allreduce(job, args.rounds)
    if "link" in sections:
        results["link"] = time_link(job, args.rounds)
    results["fabric"] = args.fabric
    if job.rank == 0:
        results["load_avg_end"] = os.getloadavg()
        name = args.out or ("distributed-yield" if results["yield_when_idle"] else
                            "distributed-tcp" if args.fabric == "tcp-loopback" else "distributed")
        results["out"] = args.out
        H.write_results(name, results, markdown(results))
        print(markdown(results))


def markdown(res):
    env = res["env"]
    tcp = res.get("fabric") == "tcp-loopback"
    lines = ["# Data-parallel training: 2 ranks against 1 process"
             + (", over TCP on loopback" if tcp else ""), "",
             "`python benchmarks/distributed.py" + (" --fabric tcp-loopback" if tcp else "")
             + (f" --out {res['out']}" if res.get("out") else "")
             + "` (one mpirun job of 2 ranks, 1 BLAS thread "
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
            cpu_one = r["cpu_one_process"]["median"]
            rows.append([kind, f"{r['params']:,}", f"{1e3 * r['one_process']['median']:.1f}",
                         f"{1e3 * r['two_ranks']['median']:.1f}", f"**{r['speedup']:.2f}x**",
                         f"{1e3 * r['two_ranks_sharded']['median']:.1f}",
                         f"**{r['speedup_sharded']:.2f}x**",
                         f"{cpu_one / r['cpu_two_ranks_sharded']['median']:.2f}x",
                         f"{1e3 * r['cpu_one_process']['median']:.1f}",
                         f"{1e3 * r['cpu_two_ranks']['median']:.1f}", f"{r['cpu_speedup']:.2f}x",
                         f"{1e3 * r['cpu_half_batch']['median']:.1f}", f"{r['bound']:.2f}x",
                         f"{100 * r['comm_share']:.0f}%", f"{100 * r['allreduce_share']:.0f}%",
                         _ms(r.get("comm_work")),
                         ", ".join(r["plan"])])
    if rows:
        lines += ["", "## One optimizer step", "",
                  H.md_table(["model", "parameters", "1 process (ms)", "2 ranks (ms)",
                              "speed-up", "2 ranks, sharded (ms)", "speed-up, sharded",
                              "CPU ratio, sharded",
                              "CPU, 1 process (ms)", "CPU, busier rank (ms)",
                              "CPU ratio", "CPU, half batch alone (ms)", "bound",
                              "in mean_grads", "in the Allreduce",
                              "mean_grads' own work (ms)", "gradients"],
                             rows),
                  "", "*speed-up*: of the wall time. *sharded*: `DistributedOptimizer(..., "
                  "shard=True)`, each rank updating its half of the parameters. *CPU*: the "
                  "CPU time of the unsharded step (of the "
                  "busier rank on 2 ranks; Open MPI's spinning while it waits counts too); "
                  "their ratio is the speed-up two idle cores would give. *bound*: 1 process "
                  "on the whole batch against 1 process on half of it, the speed-up without "
                  "any exchange. *in mean_grads*: "
                  "the header, the Allreduce and the wait for the slower rank, as a "
                  "share of the 2-rank step. *own work*: mean_grads less its Allreduce and "
                  "its header (where a rank waits for the slower one): the passes it makes "
                  "over the gradients (scaling, copying in a gradient that is not home)."]
        lines += variant_lines(res)
        lines += scaling_lines(res)
    if res.get("profile"):
        lines += profile_lines(res["profile"])
    if res.get("sparse"):
        lines += ["", "## Sparse rows: gathered or densified", "",
                  "One (10,000 x D) float32 table; each rank holds the given number of "
                  "distinct rows; the time of mean_grads and of the coalescing the optimizer "
                  "does next. *bytes gathered / dense*: the rows and ids of all ranks against "
                  "the table and its mask of touched rows (what the choice compares).", "",
                  H.md_table(["D", "rows per rank", "all rows / V", "bytes gathered / dense",
                              "gather (ms)", "densify (ms)", "auto picks"],
                             [[s.get("width", 100), s["rows_per_rank"],
                               f"{s['total_over_V']:.2f}", f"{s.get('bytes_ratio', 0):.2f}",
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


def profile_lines(profile):
    rows = []
    for kind, phases in profile.items():
        if not phases:
            continue
        one, rank = phases["1 process"], phases["a rank of 2"]
        for phase in PHASES:
            ratio = f"{one[phase] / rank[phase]:.2f}x" if rank[phase] > 0 else ""
            rows.append([kind, phase, f"{one[phase]:.1f}", f"{rank[phase]:.1f}", ratio])
        total_one, total_rank = sum(one.values()), sum(rank.values())
        rows.append([kind, "**step**", f"{total_one:.1f}", f"{total_rank:.1f}",
                     f"**{total_one / total_rank:.2f}x**"])
    return ["", "## Where a rank's step goes", "",
            "CPU time (ms) of each phase of one step, medians: one process with the "
            "global batch of 20 rows, and one rank of 2 with its 10 rows (its mean_grads "
            "on a transport that moves nothing: its own work, no exchange and no wait). "
            "A phase whose ratio is below 2x does work that does not halve with the batch; "
            "the step's ratio is the speed-up 2 ranks could reach with a free exchange.",
            "", H.md_table(["model", "phase", "1 process, B = 20", "a rank, B = 10",
                            "ratio"], rows)]


def variant_lines(res):
    """Every 2-rank variant of the step against one process."""
    models = [(kind, res[kind]) for kind in MODELS if res.get(kind) and res[kind].get("variants")]
    if not models:
        return []
    names = list(models[0][1]["variants"])
    rows = [[k] + [f"{1e3 * m['variants'][n]['two_ranks']['median']:.1f} ms "
                   f"({m['variants'][n]['speedup']:.2f}x)" for n in names] for k, m in models]
    return ["", "## The exchange: whole, sharded, overlapped in buckets", "",
            "Each 2-rank step of the same run (its speed-up over the 1-process step in "
            "brackets): *whole*, one buffer per dtype reduced after the backward pass; "
            "*sharded*, `shard=True`; *overlap N MiB*, `overlap=True, bucket_bytes=N MiB`: "
            "each bucket's Allreduce starts during the backward pass as soon as its "
            "gradients are complete.", "",
            H.md_table(["model"] + names, rows)]


def _dense_bytes(m):
    """The bytes of every gradient as a dense table, and how many times
    fewer the step sends."""
    dense = m.get("dense_bytes_per_step")
    if dense is None:
        return ""
    return f"{dense / 1e6:.2f} MB ({dense / m['bytes_per_step']:.1f}x)"


def _ms(summary):
    return "" if summary is None else f"{1e3 * summary['median']:.1f}"


def scaling_lines(res):
    """The scaling model's inputs per model, and its predictions."""
    models = [(kind, res[kind]) for kind in MODELS if res.get(kind)]
    link = res.get("link")
    lines = ["", "## The scaling model", "",
             "Per model, from the 1-process steps above (CPU time; t(B) = fixed + B x per "
             "sample, at the global batch B and at B / 2) and the bytes each rank hands to "
             "the collectives in one unsharded step (the Allreduce buffer, the header, the "
             "gathered rows):", "",
             H.md_table(["model", "per sample (ms)", "fixed per step (ms)", "bytes per step",
                         "dense tables would be", "collective calls",
                         "bytes per step, sharded (Reduce-scatter + Allgather)"],
                        [[k, f"{1e3 * m['per_sample_s']:.2f}", f"{1e3 * m['fixed_s']:.1f}",
                          f"{m['bytes_per_step'] / 1e6:.2f} MB", _dense_bytes(m),
                          f"{m['calls_per_step']:.0f}",
                          f"{m['bytes_per_step_sharded'] / 1e6:.2f} MB"] for k, m in models])]
    if link:
        where = "TCP on loopback" if res.get("fabric") == "tcp-loopback" else "shared memory"
        lines += ["", f"This link ({where}, 2 ranks): latency alpha "
                  f"{1e6 * link['alpha_s']:.1f} us, bandwidth beta "
                  f"{link['beta_bytes_per_s'] / 1e9:.2f} GB/s (an Allreduce of 8 bytes: "
                  f"{1e6 * link['small_allreduce_s']:.1f} us; of 16 MiB: "
                  f"{1e3 * link['allreduce_16MiB_s']:.1f} ms).", ""]
        header = ["model", "2 ranks here, predicted", "2 ranks here, measured"]
        header += [f"{n} ranks, {net}" for net, _, _ in NETWORKS for n in RANKS]
        rows = []
        for k, m in models:
            row = [k, f"{predicted_speedup(m, 2, link['alpha_s'], link['beta_bytes_per_s']):.2f}x",
                   f"{m['speedup']:.2f}x"]
            row += [f"{predicted_speedup(m, n, a, b):.2f}x" for _, a, b in NETWORKS for n in RANKS]
            rows.append(row)
        lines += [H.md_table(header, rows), "",
                  "Predicted speed-up of the unsharded step over one process, the global "
                  "batch fixed: step(N) = fixed + B / N x per sample + calls x 2 (N - 1) "
                  "alpha + 2 (N - 1) / N x bytes / beta (every collective a ring). Networks: "
                  + "; ".join(f"{net}, alpha {1e6 * a:.0f} us" for net, a, _ in NETWORKS)
                  + ". The language models' batch of 20 rows does not split over 64 ranks: "
                  "that column is the model's limit (per sample taken as divisible), not a run "
                  "you can launch."]
    return lines


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
    from minigrad.distributed.launch import mpirun_options

    cmd = mpirun_command(2) + mca + mpirun_options(args.fabric) + [
        sys.executable, str(Path(__file__).resolve()), "--worker", "--rounds", str(args.rounds),
        "--only", args.only, "--data", args.data, "--fabric", args.fabric]
    if args.out:
        cmd += ["--out", args.out]
    return subprocess.run(cmd, cwd=ROOT, env=environment()).returncode


if __name__ == "__main__":
    sys.exit(main())
