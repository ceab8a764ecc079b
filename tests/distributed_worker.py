"""One rank of the mpirun jobs of test_distributed_mpi.py.

    mpirun -n N python tests/distributed_worker.py check OUT_DIR
    mpirun -n 2 python tests/distributed_worker.py resume OUT_DIR
    mpirun -n 2 python tests/distributed_worker.py crash OUT_DIR

``check`` runs every case of distributed_cases.py and writes this rank's
records to OUT_DIR/rank<R>.pkl; ``resume`` trains, crashes and resumes
train_rnnlm; ``crash`` has rank 1 raise after one step while the others go
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
    results["identical"] = {name: cases.run_identical(comm, name) for name in cases.OPTIMIZERS}
    try:
        dist.DistributedOptimizer(O.SGD(cases.MLP() if comm.rank else cases.Tagger()), comm)
    except dist.DistributedError as exc:
        results["mismatch"] = str(exc)
    with open(os.path.join(out_dir, f"rank{comm.rank}.pkl"), "wb") as f:
        pickle.dump(results, f)


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
MODES = {"check": ("mpi", check), "resume": ("mpi", resume), "crash": ("mpi", crash),
         "gpu-mpi": ("mpi", gpu_step), "gpu-nccl": ("nccl", gpu_step)}

if __name__ == "__main__":
    mode, out_dir = sys.argv[1], sys.argv[2]
    with dist.abort_on_error():
        kind, run = MODES[mode]
        run(dist.create_communicator(kind), out_dir)
