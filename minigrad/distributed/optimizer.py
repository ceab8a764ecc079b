"""DistributedOptimizer: any optimizer, with the gradients averaged over the ranks."""
from __future__ import annotations

import hashlib

from .. import backend
from ..compiled import replayed
from ..optimizers import Optimizer
from .buckets import DEFAULT_BUCKET_BYTES
from .mpi import DistributedError
from .sharding import ShardLayout, gather_state, scatter_state, sharded_update

__all__ = ["DistributedOptimizer"]

_OWN = ("optimizer", "comm", "last_loss", "shard", "_layout", "overlap", "bucket_bytes")


class DistributedOptimizer:
    """Wrap ``optimizer`` so that every rank takes the same step.

    On construction every rank checks that it holds the same parameters as the
    others (names, shapes, dtypes: a DistributedError on every rank otherwise,
    never a hang), then takes rank 0's parameters and optimizer state
    (:meth:`broadcast`). Each :meth:`update` then

    1. replaces every gradient by its mean over the ranks (one Allreduce of one
       flat buffer, where the backward pass wrote the dense gradients, see
       buckets.py; sparse rows gathered or densified, see Communicator);
    2. runs the optimizer's own update: its hooks act on the averaged gradient
       (a ClipGradNorm clips the global gradient, as on one process), then
       its rule.

    Everything else (``lr``, ``add_hook``, ``state_dict``, ``zero_grad``,
    ``steps``...) is the wrapped optimizer's, read and written through.

    With equal shares of the global batch, the plain mean is the gradient of
    the whole batch. When the ranks count different numbers of targets
    (``ignore_index``), pass ``weight=`` (this rank's count) to ``update``.

    ``overlap=True`` overlaps the exchange with the backward pass: the
    dense gradients are cut into buckets of ``bucket_bytes`` (default
    DEFAULT_BUCKET_BYTES, 16 MiB), filled in the order the backward pass
    completes them, and each bucket's Allreduce starts as soon as it is
    complete; ``update`` waits for them. The first step lays out the buckets
    and the second learns how many gradients each parameter gets; from the
    third on the exchange overlaps. The ranks' weights must be equal (no
    ``weight=``), and the graph must be the same at every step (a parameter
    that gets more gradients than in the second step is an error). Without
    overlap, ``bucket_bytes`` cuts the buffers too (default: one per dtype).

    ``shard=True`` shards the update (ZeRO stage 1, see sharding.py): each
    rank receives the averaged gradient of its own part of the parameters
    (Reduce-scatter), clips and updates that part, keeps the optimizer state
    of that part alone (1/N of it), and the parts are gathered on every
    rank. The parameters are bit for bit those of the unsharded update on
    the same averaged gradients. The hooks must be ClipGradNorm or
    elementwise (WeightDecay); after a sharded ``update`` every gradient is
    None (the averaged gradient exists only in parts). ``state_dict`` gathers
    the state of every rank's part, so a resume file is the same either way
    and resumes on any number of ranks.
    """

    def __init__(self, optimizer, comm, shard: bool = False, overlap: bool = False,
                 bucket_bytes: int | None = None):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer wraps a minigrad Optimizer, got a "
                            f"{type(optimizer).__name__}")
        if shard and overlap:
            raise ValueError("DistributedOptimizer: shard=True and overlap=True do not go "
                             "together (a sharded step reduce-scatters after the backward "
                             "pass); choose one")
        if bucket_bytes is not None and int(bucket_bytes) <= 0:
            raise ValueError(f"DistributedOptimizer: bucket_bytes must be a positive number "
                             f"of bytes, got {bucket_bytes!r}")
        if bucket_bytes is None and overlap:
            bucket_bytes = DEFAULT_BUCKET_BYTES
        object.__setattr__(self, "overlap", bool(overlap))
        object.__setattr__(self, "bucket_bytes", None if bucket_bytes is None else int(bucket_bytes))
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "comm", comm)
        object.__setattr__(self, "last_loss", None)
        object.__setattr__(self, "shard", bool(shard))
        object.__setattr__(self, "_layout", None)
        self.broadcast()

    def broadcast(self, root: int = 0):
        """Check that every rank has the same parameters, then give every rank
        root's parameters and optimizer state (call again after loading a
        checkpoint on root alone)."""
        opt, comm = self.optimizer, self.comm
        comm.check_same_params(describe_params(opt))
        comm.broadcast_params(opt.params(), root)
        state = comm.broadcast_object(opt.state_dict() if comm.rank == root else None, root)
        if comm.rank != root or self.shard:
            self.load_state_dict(state)

    @replayed   # a compiled step averages and steps again on every replay
    def update(self, loss=None, weight=None):
        """Average the gradients over the ranks, then step. Returns the mean of
        ``loss`` over the ranks (weighted like the gradients) when given, else
        None; also kept in ``last_loss``."""
        if self.shard:
            mean = sharded_update(self.optimizer, self.comm, self._shards(), weight=weight,
                                  loss=loss)
        else:
            mean = self.comm.mean_grads(self.optimizer.params(), weight=weight, loss=loss,
                                        bucket_bytes=self.bucket_bytes, overlap=self.overlap)
            self.optimizer.update()
        object.__setattr__(self, "last_loss", mean)
        return mean

    def _shards(self) -> ShardLayout:
        """The layout of the shards, made for the parameters as they are now."""
        params = self.optimizer.params()
        layout = self._layout
        if layout is None or not layout.fits(params):
            if layout is not None and self.optimizer._state:
                raise DistributedError("sharded optimizer: the parameters changed after the "
                                       "first update; build the model whole before training")
            layout = ShardLayout(params, self.comm.size)
            object.__setattr__(self, "_layout", layout)
        return layout

    def state_dict(self) -> dict:
        """The wrapped optimizer's state_dict; sharded, the state of every
        rank's part gathered into whole arrays (on every rank: call it on
        every rank)."""
        if not self.shard:
            return self.optimizer.state_dict()
        return gather_state(self.optimizer, self.comm, self._shards())

    def load_state_dict(self, state: dict):
        """Load a state_dict (of a sharded or an unsharded optimizer, from any
        number of ranks); sharded, each rank keeps its part of the state."""
        self.optimizer.load_state_dict(state)
        if self.shard:
            scatter_state(self.optimizer, self._shards(), self.comm.rank)

    def step(self, loss=None, weight=None):
        """PyTorch's name for :meth:`update` (which it is, averaging included)."""
        return self.update(loss=loss, weight=weight)

    def check_in_sync(self):
        """Raise a DistributedError unless every rank holds bitwise the same
        parameters (a digest of their bytes is compared); for tests and for
        a check now and then in long runs."""
        h = hashlib.sha256()
        for p in self.optimizer.params():
            h.update(backend.as_numpy(p.data).tobytes())
        digests = self.comm.allgather_object(h.hexdigest())
        if len(set(digests)) != 1:
            differ = [r for r, d in enumerate(digests) if d != digests[0]]
            raise DistributedError(f"the parameters of ranks {differ} differ from rank 0's")

    def __getattr__(self, name):
        return getattr(self.optimizer, name)

    def __setattr__(self, name, value):
        if name in _OWN:
            object.__setattr__(self, name, value)
        else:
            setattr(self.optimizer, name, value)

    def __repr__(self):
        return f"DistributedOptimizer({self.optimizer!r}, {self.comm!r})"


def describe_params(optimizer) -> list:
    """(name, shape, dtype) of each parameter ``optimizer`` updates; the names
    are the dotted ones when it was built from a Layer, else positions."""
    params = optimizer.params()
    if optimizer.model is not None:
        names = [n for n, _ in optimizer.model.named_params()]
    else:
        names = [f"#{i}" for i in range(len(params))]
    return [(n, tuple(p.shape), str(p.dtype)) for n, p in zip(names, params)]
