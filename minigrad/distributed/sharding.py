"""The sharded optimizer step (ZeRO stage 1): each rank updates its own part.

Without sharding every rank averages every gradient (Allreduce) and then does
the whole optimizer update, the same work N times over. With it:

1. the gradients are summed and scattered (Reduce-scatter): each rank
   receives the averaged gradient of its own *shard*, about 1/N of every
   dtype's parameters, cut at whole rows;
2. each rank runs the hooks and the rule on its shard only: a ClipGradNorm
   adds the sums of squares of every rank's blocks (one Allreduce of one
   number per block), the rule keeps the optimizer state of the shard only
   (1/N of it per rank);
3. the updated shards are gathered on every rank (Allgather).

Every operation of the rules is elementwise, and a shard holds whole blocks
of the clipping norm (see ``minigrad.optimizers.hooks.block_sums``), so the
parameters are bit for bit those of the unsharded update on the same
averaged gradients. The Reduce-scatter may add the ranks' gradients in
another order than the Allreduce: across 3 ranks or more the averaged
gradient itself can differ in its last bit.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.sparse import SparseRows
from ..core.variable import Variable
from ..optimizers.hooks import add_in_order, block_count, block_rows, block_sums
from .mpi import DistributedError

__all__ = ["ShardLayout", "Slice", "sharded_update", "gather_state", "scatter_state"]


class Slice:
    """Rows ``lo:hi`` of parameter ``index``: what a rank owns of it. While
    the rule runs it stands in for the parameter (``data`` is a view of the
    parameter's rows, so the rule updates them in place; ``grad`` is the
    averaged gradient of those rows); the optimizer keeps its state."""

    __slots__ = ("index", "lo", "hi", "block", "data", "grad")

    def __init__(self, index, lo, hi, block):
        self.index, self.lo, self.hi = index, lo, hi
        self.block = block          # the position of its first block among all blocks
        self.data = self.grad = None

    def __repr__(self):
        return f"Slice(parameter {self.index}, rows {self.lo}:{self.hi})"


def rows_of(a):
    """``a`` with a first axis to cut (a 0-d array as one row), a view."""
    return a if a.ndim else a.reshape(1)


def slice_size(shape, lo, hi) -> int:
    """The number of elements in rows ``lo:hi`` of an array of ``shape``."""
    return (hi - lo) * (int(np.prod(shape[1:])) if len(shape) > 1 else 1)


class ShardLayout:
    """Which rows of which parameter each of ``size`` ranks owns.

    Parameters are grouped by dtype; each group's blocks (of the clipping
    norm: whole rows) are cut into ``size`` runs of about equal numbers of
    elements. ``owned[r]`` is rank r's list of :class:`Slice` over every
    group; ``groups`` lists, per dtype, each rank's slices of that dtype.
    """

    def __init__(self, params, size):
        self.size = size
        self.shapes = [tuple(p.shape) for p in params]
        self.dtypes = [np.dtype(p.dtype) for p in params]
        first_block, n = [], 0
        for shape in self.shapes:
            first_block.append(n)
            n += block_count(shape)
        self.blocks = n
        self.groups = []
        for dtype in dict.fromkeys(self.dtypes):
            members = [j for j, d in enumerate(self.dtypes) if d == dtype]
            self.groups.append(self._cut(members, first_block))
        self.owned = [[s for group in self.groups for s in group[r]] for r in range(size)]

    def _cut(self, members, first_block):
        """Each rank's slices of the parameters ``members`` (one dtype)."""
        runs = []       # (parameter, first row, rows, elements) per block
        for j in members:
            shape = self.shapes[j]
            rows, step = (shape[0] if shape else 1), block_rows(shape)
            for lo in range(0, rows, step):
                n = min(step, rows - lo)
                runs.append((j, lo, n, slice_size(shape, lo, lo + n)))
        total = sum(r[3] for r in runs)
        if not total:           # parameters without elements: nothing to own
            return [[] for _ in range(self.size)]
        owner, done = [], 0
        for j, lo, n, elements in runs:
            # A block goes to the rank whose even share holds its middle.
            owner.append(min(self.size - 1, int((done + elements / 2) * self.size / total)))
            done += elements
        out = [[] for _ in range(self.size)]
        for (j, lo, n, _), r in zip(runs, owner):
            mine = out[r]
            if mine and mine[-1].index == j and mine[-1].hi == lo:
                mine[-1].hi = lo + n
            else:
                step = block_rows(self.shapes[j])
                mine.append(Slice(j, lo, lo + n, first_block[j] + lo // step))
        return out

    def fits(self, params) -> bool:
        return ([tuple(p.shape) for p in params] == self.shapes
                and [np.dtype(p.dtype) for p in params] == self.dtypes)


def sharded_update(optimizer, comm, layout, weight=None, loss=None):
    """One sharded step of ``optimizer`` (its hooks and rule) over the ranks
    of ``comm``; returns the mean loss (or None). Every parameter's gradient
    is None afterwards: the averaged gradient exists only in pieces."""
    params = optimizer.params()
    mine = layout.owned[comm.rank]
    for s in mine:
        s.data = rows_of(params[s.index].data)[s.lo:s.hi]
        s.grad = None
    mean_loss, plan, dense = comm.reduce_scatter_grads(params, layout, weight=weight, loss=loss)
    densify = optimizer.hooks_need_dense()
    live = []
    for s in mine:
        if plan[s.index] == "none":
            continue
        s.grad = (Variable(dense[s], requires_grad=False) if s in dense
                  else _rows_between(params[s.index].grad, s.lo, s.hi, densify))
        live.append(s)
    for hook in optimizer.hooks:
        _run_hook(hook, live, layout, comm)
    optimizer.apply_rule(live)
    _gather_updated(params, layout, comm, plan)
    for p in params:
        p.grad = None
    for s in mine:
        s.grad = None
    return mean_loss


def _rows_between(grad, lo, hi, densify):
    """Rows ``lo:hi`` of an averaged sparse gradient, as SparseRows of those
    rows (or dense, when the hooks need dense gradients)."""
    g = grad.coalesced()
    xp = backend.get_array_module(g.rows)
    a, b = (int(i) for i in backend.as_numpy(xp.searchsorted(g.indices, xp.asarray([lo, hi]))))
    part = SparseRows(g.indices[a:b] - lo, g.rows[a:b], (hi - lo,) + tuple(g.shape[1:]))
    return Variable(part.to_dense(), requires_grad=False) if densify else part


def _run_hook(hook, live, layout, comm):
    if hasattr(hook, "clip_to"):
        sums = np.zeros(layout.blocks, dtype=np.float64)
        for s in live:
            shape = (s.hi - s.lo,) + tuple(layout.shapes[s.index][1:])
            part = block_sums(s.grad, shape)
            sums[s.block:s.block + part.size] = part
        # Each block's sum comes from its one owner, the others add zeros:
        # every rank then adds the same numbers in the same order.
        comm.transport.allreduce_sum(sums)
        hook.clip_to(live, add_in_order(sums))
    elif getattr(hook, "elementwise", False):
        hook(live)
    else:
        raise DistributedError(
            f"sharded optimizer: the hook {hook!r} does not say that it can run on each "
            f"rank's part of the gradients; give it 'elementwise = True' if each element's "
            f"new gradient depends only on that element, or build the DistributedOptimizer "
            f"with shard=False")


def _gather_updated(params, layout, comm, plan):
    """Every rank's updated slices of the parameters that had a gradient, on every rank."""
    for group in layout.groups:
        slices = [[s for s in rank if plan[s.index] != "none"] for rank in group]
        for r, s, rows in _allgather_slices(comm, params, slices,
                                            lambda s: rows_of(params[s.index].data)[s.lo:s.hi]):
            if r != comm.rank:
                rows_of(params[s.index].data)[s.lo:s.hi] = rows


def _allgather_slices(comm, params, slices, array_of):
    """Every rank's arrays for its slices, on every rank: ``slices[r]`` lists
    rank r's slices (of one dtype), ``array_of(slice)`` is this rank's array
    of a slice's rows. Yields (rank, slice, its rows), in rank order."""
    counts = [sum(_size(params, s) for s in rank) for rank in slices]
    if not sum(counts):
        return
    first = params[next(s.index for rank in slices for s in rank)].data
    xp = backend.get_array_module(first)
    mine = [array_of(s).ravel() for s in slices[comm.rank]]
    everyone = comm.transport.allgatherv(
        xp.concatenate(mine) if mine else xp.empty(0, dtype=first.dtype), counts)
    start = 0
    for r, rank in enumerate(slices):
        for s in rank:
            n = _size(params, s)
            shape = (s.hi - s.lo,) + tuple(params[s.index].shape[1:])
            yield r, s, everyone[start:start + n].reshape(shape)
            start += n


def _size(params, s):
    return slice_size(params[s.index].shape, s.lo, s.hi)


# ---------------------------------------------------------------- the state, whole or in parts
def gather_state(optimizer, comm, layout) -> dict:
    """``optimizer.state_dict()`` with the state arrays of every rank's slices
    gathered into whole ones (numpy), as the unsharded optimizer gives them."""
    out = optimizer.state_dict()
    params = optimizer.params()
    mine = [s.index for s in layout.owned[comm.rank] if optimizer.held_state(s) is not None]
    held = set().union(*comm.allgather_object(mine))
    for group in layout.groups:
        slices = [[s for s in rank if s.index in held] for rank in group]
        for slot in optimizer.slots:
            whole = {}
            for _, s, rows in _allgather_slices(comm, params, slices,
                                                lambda s: optimizer.held_state(s)[slot]):
                p = params[s.index]
                a = whole.setdefault(s.index, np.empty(p.shape, dtype=p.dtype))
                rows_of(a)[s.lo:s.hi] = backend.as_numpy(rows)
            for j, a in whole.items():
                out[f"state.{j}.{slot}"] = a
    return out


def scatter_state(optimizer, layout, rank):
    """Move the state the optimizer holds for whole parameters (just loaded)
    to this rank's slices of them: a copy of their rows each; the rest goes."""
    params = optimizer.params()
    for s in layout.owned[rank]:
        whole = optimizer.held_state(params[s.index])
        optimizer.set_state(s, None if whole is None else
                            {slot: rows_of(a)[s.lo:s.hi].copy() for slot, a in whole.items()})
    for p in params:
        optimizer.set_state(p, None)
