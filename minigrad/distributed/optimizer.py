"""DistributedOptimizer: any optimizer, with the gradients averaged over the ranks."""
from __future__ import annotations

import hashlib

from .. import backend
from ..optimizers import Optimizer
from .mpi import DistributedError

__all__ = ["DistributedOptimizer"]

_OWN = ("optimizer", "comm", "last_loss")


class DistributedOptimizer:
    """Wrap ``optimizer`` so that every rank takes the same step.

    On construction every rank checks that it holds the same parameters as the
    others (names, shapes, dtypes: a DistributedError on every rank otherwise,
    never a hang), then takes rank 0's parameters and optimizer state
    (:meth:`broadcast`). Each :meth:`update` then

    1. replaces every gradient by its mean over the ranks (one Allreduce of one
       flat buffer; sparse rows gathered or densified, see Communicator);
    2. runs the optimizer's own update: its hooks act on the averaged gradient
       (a ClipGradNorm clips the global gradient, as on one process), then
       its rule.

    Everything else (``lr``, ``add_hook``, ``state_dict``, ``zero_grad``,
    ``steps``...) is the wrapped optimizer's, read and written through.

    With equal shares of the global batch, the plain mean is the gradient of
    the whole batch. When the ranks count different numbers of targets
    (``ignore_index``), pass ``weight=`` (this rank's count) to ``update``.
    """

    def __init__(self, optimizer, comm):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"DistributedOptimizer wraps a minigrad Optimizer, got a "
                            f"{type(optimizer).__name__}")
        object.__setattr__(self, "optimizer", optimizer)
        object.__setattr__(self, "comm", comm)
        object.__setattr__(self, "last_loss", None)
        self.broadcast()

    def broadcast(self, root: int = 0):
        """Check that every rank has the same parameters, then give every rank
        root's parameters and optimizer state (call again after loading a
        checkpoint on root alone)."""
        opt, comm = self.optimizer, self.comm
        comm.check_same_params(describe_params(opt))
        comm.broadcast_params(opt.params(), root)
        state = comm.broadcast_object(opt.state_dict() if comm.rank == root else None, root)
        if comm.rank != root:
            opt.load_state_dict(state)

    def update(self, loss=None, weight=None):
        """Average the gradients over the ranks, then step. Returns the mean of
        ``loss`` over the ranks (weighted like the gradients) when given, else
        None; also kept in ``last_loss``."""
        mean = self.comm.mean_grads(self.optimizer.params(), weight=weight, loss=loss)
        self.optimizer.update()
        object.__setattr__(self, "last_loss", mean)
        return mean

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
    if optimizer.target is not None:
        names = [n for n, _ in optimizer.target.named_params()]
    else:
        names = [f"#{i}" for i in range(len(params))]
    return [(n, tuple(p.shape), str(p.dtype)) for n, p in zip(names, params)]
