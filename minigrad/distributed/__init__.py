"""minigrad.distributed: data-parallel training over several processes.

Every process (a *rank*) holds the whole model, computes the gradients of its
share of each global batch, and the gradients are averaged before every
update, so all ranks take the same step, the step one process would take on
the whole batch. MPI (mpi4py) carries numpy arrays; NCCL (through cupy)
carries GPU arrays. Launch with ``mpirun``::

    mpirun -n 2 python train.py

In the script::

    import minigrad.distributed as dist

    comm = dist.create_communicator()               # rank, size
    dist.seed(0, comm.rank)                         # dropout differs per rank
    model = ...                                     # the same model on every rank
    opt = dist.DistributedOptimizer(SGD(model, lr=0.1), comm)   # rank 0's parameters
    opt.add_hook(ClipGradNorm(0.25))                # clips the averaged gradient
    batches = dist.ShardedBatches(ShuffledBatches(x, t, batch_size=100, rng=0),
                                  comm.rank, comm.size)     # the same order on every rank
    for x_rank, t_rank in batches:                  # this rank's 100 / size rows
        loss = model.loss(x_rank, t_rank)
        model.zero_grad()
        loss.backward()
        opt.update(loss=loss)                       # returns the mean loss over the ranks

``DistributedOptimizer(opt, comm, shard=True)`` shards the update (ZeRO
stage 1, see sharding.py): each rank updates and keeps the optimizer state
of its own part of the parameters. ``launch.mpirun_options("tcp-loopback")``
gives the mpirun options that run the ranks of one machine over TCP, the
path between machines.

mpi4py is optional (``pip install 'minigrad[distributed]'``) and imported by
the first communicator, not by ``import minigrad.distributed``. See the docs
page "Scaling out".
"""
from .communicator import (GATHER_LIMIT, SPARSE_MODES, Communicator, choose_sparse,
                           sparse_bytes)
from .data import ShardedBatches, rank_seed, seed, shard
from .evaluation import LossSum, perplexity
from .mpi import DistributedError, abort_on_error, load_mpi
from .optimizer import DistributedOptimizer, describe_params

__all__ = [
    "create_communicator", "is_root", "Communicator", "DistributedOptimizer", "DistributedError",
    "ShardedBatches", "shard", "seed", "rank_seed", "LossSum",
    "perplexity", "abort_on_error", "load_mpi", "choose_sparse", "sparse_bytes",
    "describe_params",
    "SPARSE_MODES", "GATHER_LIMIT",
]

KINDS = ("mpi", "nccl")


def is_root(comm) -> bool:
    """True where a job reports and writes files: rank 0, or a run without a
    communicator (``comm`` None)."""
    return comm is None or comm.rank == 0


def create_communicator(kind: str = "mpi", sparse: str = "auto", mpi_comm=None) -> Communicator:
    """A Communicator over the ranks of ``mpi_comm`` (``MPI.COMM_WORLD`` by default).

    ``kind``: "mpi" for numpy arrays (cupy arrays are copied through the
    host), "nccl" for cupy arrays reduced on the GPU by NCCL (each rank takes
    the GPU of its local rank). ``sparse``: how sparse row gradients travel,
    "auto" (by measured cost), "gather" or "densify". Without mpirun the job
    is one rank, and every operation is a no-op.
    """
    from .transport import MpiTransport

    if kind not in KINDS:
        raise ValueError(f"create_communicator: kind must be one of {KINDS}, got {kind!r}")
    transport = MpiTransport(mpi_comm)
    if kind == "nccl":
        from .nccl import NcclTransport

        transport = NcclTransport(transport)
    return Communicator(transport, sparse=sparse)
