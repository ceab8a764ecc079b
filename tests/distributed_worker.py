"""One rank of the mpirun jobs of test_distributed_mpi.py.

    mpirun -n N python tests/distributed_worker.py check OUT_DIR
    mpirun -n 2 python tests/distributed_worker.py resume OUT_DIR
    mpirun -n 2 python tests/distributed_worker.py crash OUT_DIR

``check`` runs every case of distributed_cases.py and writes this rank's
records to OUT_DIR/rank<R>.pkl; ``resume`` trains, crashes and resumes
train_rnnlm; ``resume-elsewhere`` resumes that crashed run on this job's
number of ranks; ``crash`` has rank 1 raise after one step while the others go
on into the next collective; ``gpu-mpi`` and ``gpu-nccl`` take the MLP
step on GPU arrays (through the host, or through NCCL).
"""
from __future__ import annotations

import os
import pickle
import sys
import time

import numpy as np

import minigrad.distributed as dist
from minigrad import optimizers as O

import distributed_cases as cases


def check(comm, out_dir):
    results = {"size": comm.size, "mlp": cases.run_mlp(comm), "rnnlm": cases.run_rnnlm(comm),
               "perplexity": cases.run_perplexity(comm)}
    for mode in ("gather", "densify"):
        comm.sparse = mode
        results[f"cbow-{mode}"] = cases.run_cbow(comm)
        results[f"cbow-{mode}-plan"] = list(comm.last_plan)
    comm.sparse = "auto"
    for kind, run in (("mlp", cases.run_mlp), ("rnnlm", cases.run_rnnlm), ("cbow", cases.run_cbow)):
        results[f"{kind}-sharded"] = run(comm, shard=True)
    for shard, key in ((False, "identical"), (True, "identical-sharded")):
        results[key] = {name: cases.run_identical(comm, name, shard=shard)
                        for name in cases.OPTIMIZERS}
    # 20 steps each way the dense gradients can travel, and the sparse rows.
    for key in ("bucketed", "overlapped"):
        exchange = cases.EXCHANGES[key]
        results[f"rnnlm-20-{key}"] = cases.run_rnnlm(comm, steps=20, **exchange)
        results[f"identical-{key}"] = {name: cases.run_identical(comm, name, **exchange)
                                       for name in cases.OPTIMIZERS}
        # buckets started during a backward pass, over the last run
        results[f"early-{key}"] = comm._buckets.started_early
    for mode in ("gather", "densify"):
        comm.sparse = mode
        results[f"cbow-20-{mode}"] = cases.run_cbow(comm, steps=20)
    comm.sparse = "auto"
    for key in cases.EXCHANGES:
        results[f"loop-{key}"] = {compiled: cases.run_loop(comm, key, compiled)
                                  for compiled in (False, True)}
    try:
        dist.DistributedOptimizer(O.SGD(cases.MLP() if comm.rank else cases.Tagger()), comm)
    except dist.DistributedError as exc:
        results["mismatch"] = str(exc)
    results["tcp"] = tcp_connections()
    with open(os.path.join(out_dir, f"rank{comm.rank}.pkl"), "wb") as f:
        pickle.dump(results, f)


def tcp_connections():
    """(local, remote) "address:port" of this process's established IPv4 TCP
    connections, and "ipv6" pairs for any IPv6 one (Linux's /proc)."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            mine.add(target[len("socket:["):-1])
    out = []
    for table in ("tcp", "tcp6"):
        with open(f"/proc/self/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                established = fields[3] == "01"
                if established and fields[9] in mine:
                    out.append(tuple(_address(a) if table == "tcp" else "ipv6:" + a
                                     for a in fields[1:3]))
    return out


def _address(hex_pair):
    """ "0100007F:0402" (little-endian IPv4, port) as "127.0.0.1:1026"."""
    ip, port = hex_pair.split(":")
    return ".".join(str(b) for b in reversed(bytes.fromhex(ip))) + f":{int(port, 16)}"


def resume(comm, out_dir):
    """An uninterrupted run, one that crashes after 8 steps (its last resume
    file at step 5, mid-epoch), and that one resumed with other seeds."""
    full = cases.run_training(comm, os.path.join(out_dir, "full"))
    try:
        cases.run_training(comm, os.path.join(out_dir, "crashed"), crash=8)
    except cases.Crash:
        pass
    path = os.path.join(out_dir, "crashed", "rnnlm_resume.npz")
    resumed = cases.run_training(comm, os.path.join(out_dir, "crashed"), seed=99, model_rng=7,
                                 resume=path)
    with open(os.path.join(out_dir, f"rank{comm.rank}.pkl"), "wb") as f:
        pickle.dump({"full": full, "resumed": resumed}, f)


def resume_elsewhere(comm, out_dir):
    """The resume file of the 2-rank ``resume`` job in OUT_DIR resumed on this
    job's ranks twice, with other seeds each time; records the histories,
    the weights and the generator state each rank resumed with."""
    from minigrad import random as mg_random
    from minigrad.training.loop import TrainingLoop

    restore, resumed_with = TrainingLoop._restore, []

    def recording(loop, *args):
        restore(loop, *args)
        resumed_with.append(mg_random.get_state())

    TrainingLoop._restore = recording
    path = os.path.join(out_dir, "crashed", "rnnlm_resume.npz")
    runs = []
    for seed, model_rng in ((99, 7), (5, 3)):
        target = os.path.join(out_dir, f"on{comm.size}-seed{seed}")
        runs.append(cases.run_training(comm, target, seed=seed, model_rng=model_rng,
                                       resume=path))
    with open(os.path.join(out_dir, f"on{comm.size}-rank{comm.rank}.pkl"), "wb") as f:
        pickle.dump({"runs": runs, "resumed_with": resumed_with}, f)


def crash(comm, out_dir):
    opt = dist.DistributedOptimizer(O.SGD(cases.MLP(), lr=0.1), comm)
    for step in range(1000):
        if comm.rank == 1 and step == 1:
            raise RuntimeError("rank 1 fails on purpose at step 1")
        for p in opt.params():
            p.grad = None
        opt.update()
        comm.barrier()
        time.sleep(0.01)
    np.save(os.path.join(out_dir, "finished.npy"), 1)   # never reached


def gpu_step(comm, out_dir):
    with open(os.path.join(out_dir, f"rank{comm.rank}.pkl"), "wb") as f:
        pickle.dump({"mlp": cases.run_mlp(comm, gpu=True)}, f)


# mode: (communicator kind, what the ranks do)
MODES = {"check": ("mpi", check), "resume": ("mpi", resume),
         "resume-elsewhere": ("mpi", resume_elsewhere), "crash": ("mpi", crash),
         "gpu-mpi": ("mpi", gpu_step), "gpu-nccl": ("nccl", gpu_step)}

if __name__ == "__main__":
    mode, out_dir = sys.argv[1], sys.argv[2]
    with dist.abort_on_error():
        kind, run = MODES[mode]
        run(dist.create_communicator(kind), out_dir)
