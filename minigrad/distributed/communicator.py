"""Communicator: rank, size, and the collectives data-parallel training needs.

One step of data-parallel training averages every parameter's gradient over
the ranks. :meth:`Communicator.mean_grads` does it in three moves:

1. **A header**, gathered from every rank: this rank's weight (its share of
   the global batch; the count of its targets when ``ignore_index`` makes the
   counts differ), its loss, and for each parameter whether its gradient is
   missing, dense or sparse rows (and how many rows). Every rank then knows
   every rank's layout, so all of them build the same buffers and make the
   same choices: nothing can hang on a size mismatch.
2. **One Allreduce** of one flat buffer (per dtype) that holds every dense
   gradient: the backward pass wrote them there (buckets.py). The buffer is
   multiplied by this rank's weight / the total weight, so the sum is the
   weighted mean, and each ``.grad`` is its region of the buffer. (The MPI
   transport hands a large buffer to MPI in pieces of 16 MiB, each reduced
   as a whole: see transport.py.)
3. **Sparse row gradients** (``SparseRows``, from embeddings) are either
   gathered (every rank receives every rank's rows: cheap when few rows are
   touched) or densified into a flat buffer with a mask of touched rows
   (cheap when many are), whichever :func:`choose_sparse` says is cheaper. Both
   give the rows one process would have, as SparseRows, so a lazy optimizer
   update touches the same rows it would touch on one process.
"""
from __future__ import annotations

import hashlib
import math
import zlib

import numpy as np

from .. import backend
from ..core.sparse import SparseRows
from ..core.variable import Variable
from .buckets import Buckets
from .mpi import DistributedError
from .sharding import rows_of, slice_size

__all__ = ["Communicator", "choose_sparse", "sparse_bytes", "SPARSE_MODES", "GATHER_LIMIT"]

SPARSE_MODES = ("auto", "gather", "densify")

# Gather the rows of a sparse gradient while the rows and ids that all ranks
# send are fewer bytes than GATHER_LIMIT times the dense table with its mask
# of touched rows; densify beyond. Measured by benchmarks/distributed.py
# (sparse rows section, results in benchmarks/results/distributed.md).
GATHER_LIMIT = 0.7
_INDEX_BYTES = 8        # each gathered row travels with its int64 id

_NONE, _DENSE, _SPARSE = 0, 1, 2
_FIXED = 4      # header: layout hash, weight, has loss, loss; then (kind, rows) per parameter


def sparse_bytes(total_rows: int, shape, dtype) -> tuple:
    """(bytes gathered, bytes densified) for a sparse gradient of a table of
    ``shape`` and ``dtype`` whose ranks hold ``total_rows`` rows between them:
    every rank's rows and their ids, against the dense table and its mask of
    touched rows."""
    itemsize = np.dtype(dtype).itemsize
    width = math.prod(shape[1:])
    return total_rows * (width * itemsize + _INDEX_BYTES), shape[0] * (width + 1) * itemsize


def choose_sparse(total_rows: int, shape, dtype=np.float32) -> str:
    """'gather' or 'densify' for a sparse gradient of a table of ``shape``
    whose ranks hold ``total_rows`` rows between them (after each coalesced
    its own), by the bytes each way (:func:`sparse_bytes`).

    >>> choose_sparse(1_000, (10_000, 100)), choose_sparse(9_000, (10_000, 100))
    ('gather', 'densify')
    >>> choose_sparse(6_000, (10_000, 100)), choose_sparse(6_000, (10_000, 2))
    ('gather', 'densify')
    """
    gathered, dense = sparse_bytes(total_rows, shape, dtype)
    return "gather" if gathered < GATHER_LIMIT * dense else "densify"


class Communicator:
    """The ranks of one job and the collectives over them.

    Made by :func:`minigrad.distributed.create_communicator`; ``rank`` (0 ..
    size - 1) and ``size`` say where this process stands. ``sparse`` is
    "auto" (measure-based choice per step), "gather" or "densify".
    """

    def __init__(self, transport, sparse: str = "auto"):
        if sparse not in SPARSE_MODES:
            raise ValueError(f"Communicator: sparse must be one of {SPARSE_MODES}, got {sparse!r}")
        self.transport = transport
        self.rank, self.size = transport.rank, transport.size
        self.sparse = sparse
        # What the last mean_grads did with each parameter ('none', 'dense',
        # 'gather', 'densify'): for logs and tests.
        self.last_plan = []
        self._buffers = {}
        self._buckets = None        # where the dense gradients live (buckets.py)

    def __repr__(self):
        return (f"Communicator({self.transport.name}, rank {self.rank} of {self.size}, "
                f"sparse={self.sparse!r})")

    # ------------------------------------------------------------ small things
    def broadcast_object(self, obj, root: int = 0):
        """Root's ``obj`` (any picklable object) on every rank."""
        return self.transport.broadcast_object(obj, root)

    def allgather_object(self, obj) -> list:
        """Every rank's ``obj``, in rank order, on every rank."""
        return self.transport.allgather_object(obj)

    def barrier(self):
        self.transport.barrier()

    def sum(self, values) -> np.ndarray:
        """The sum over the ranks of a few numbers (float64), added in rank
        order, so every rank gets the very same result. For the loss sums and
        counts of a sharded evaluation.

        >>> Communicator(_Solo()).sum([2.5, 4])
        array([2.5, 4. ])
        """
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        table = self.transport.allgather_header(values)
        total = np.zeros_like(values)
        for row in table:
            total += row
        return total

    # ------------------------------------------------------------ parameters
    def check_same_params(self, descriptions, what: str = "parameter"):
        """Raise a DistributedError on every rank unless every rank passes the
        same ``descriptions``: (name, shape, dtype) per parameter, in order.
        Digests are compared first; the full lists travel only to explain a
        difference."""
        rows = [(str(n), tuple(int(s) for s in shape), str(np.dtype(dt)))
                for n, shape, dt in descriptions]
        digest = hashlib.sha256(repr(rows).encode()).hexdigest()
        if len(set(self.allgather_object(digest))) == 1:
            return digest
        raise DistributedError(_mismatch_message(self.allgather_object(rows), what))

    def broadcast_params(self, params, root: int = 0):
        """Overwrite every parameter's data with root's, in place (tied weights
        stay tied): one broadcast per dtype."""
        for group in _by_dtype(list(params), lambda p: p.data):
            xp = _module_of([p.data for p in group])
            buf = xp.empty(sum(p.data.size for p in group), dtype=group[0].dtype)
            regions = _regions(buf, [p.data.shape for p in group])
            if self.rank == root:
                for p, region in zip(group, regions):
                    region[...] = p.data
            self.transport.broadcast(buf, root)
            if self.rank != root:
                for p, region in zip(group, regions):
                    p.data[...] = region

    # ------------------------------------------------------------ gradients
    def mean_grads(self, params, weight=None, loss=None, bucket_bytes=None, overlap=False):
        """Replace each parameter's gradient by its mean over the ranks,
        weighted by ``weight`` (default 1: the plain mean; pass the number of
        targets this rank counted when ``ignore_index`` makes them differ).

        ``loss`` (this rank's mean loss, a number or a Variable) is optional;
        when given, the weighted mean over the ranks is returned (else None).
        Every rank must pass the same parameters in the same order
        (``check_same_params``). A gradient missing on one rank counts as
        zeros there; every rank ends up with the same gradients.

        The dense gradients live in buffers cut after ``bucket_bytes`` (None:
        one per dtype; see buckets.py). ``overlap=True``: from the third step
        on, each buffer's Allreduce starts during the backward pass, as soon
        as its gradients are complete, and this call waits for it; the ranks'
        weights must then be equal.
        """
        params = list(params)
        weight = 1.0 if weight is None else float(weight)
        local_loss = None if loss is None else float(_value(loss))
        if self.size == 1:
            self.last_plan = ["local" if p.grad is not None else "none" for p in params]
            return local_loss
        early = self._buckets is not None and self._buckets.overlapping
        if early:
            # Before any other collective: every rank calls them in the same order.
            self._buckets.flush(self._starter(1.0 / self.size))
        table, scale, mean_loss, plan = self._agree(params, weight, local_loss)
        if (early or overlap) and scale != 1.0 / self.size:
            if early:
                self._buckets.reduce(None, self._wait)      # nothing left in flight
            raise DistributedError(
                f"mean_grads: with overlap=True every rank's gradients are averaged with the "
                f"same weight, as the exchange starts before the weights are known; this rank's "
                f"share is {scale:.6g}, not 1/{self.size}. Build the DistributedOptimizer with "
                f"overlap=False to weight the ranks by their counts")
        if early and self._finish_early(params, plan):
            plan = self.last_plan
        else:
            dense = [p for p, mode in zip(params, plan) if mode == "dense"]
            self._mean_in_buckets(dense, scale, bucket_bytes, overlap)
        self._mean_of_sparse(params, plan, table, scale)
        return mean_loss

    def _mean_in_buckets(self, dense, scale, bucket_bytes, overlap):
        """The mean of the dense gradients, where they live (buckets.py):
        each buffer is scaled by this rank's share and reduced in place."""
        buckets = self._buckets
        if buckets is None or not buckets.fits(dense) or buckets.bucket_bytes != bucket_bytes:
            if buckets is not None:
                buckets.release()
            buckets = self._buckets = Buckets(dense, bucket_bytes) if dense else None
        if buckets is None:
            return
        buckets.reduce(self._starter(scale), self._wait)
        if overlap and hasattr(self.transport, "iallreduce_sum"):
            buckets.overlap(self._starter(1.0 / self.size), self.transport.test)

    def _finish_early(self, params, plan) -> bool:
        """Wait for the buckets started during the backward pass and settle
        them. False (their result dropped) if the parameters are others now."""
        buckets = self._buckets
        buckets.reduce(None, self._wait)
        members, given = buckets.bucket_of, set(params)
        if any(mode == "dense" and p not in members for p, mode in zip(params, plan)) \
                or any(p not in given for p in members):
            buckets.release()
            self._buckets = None
            return False
        # A parameter of the buckets is averaged dense; one without a gradient
        # on any rank keeps none, as without overlap.
        final = []
        for p, mode in zip(params, plan):
            if p in members:
                if mode == "none":
                    p.grad = None
                else:
                    mode = "dense"
            final.append(mode)
        self.last_plan = final
        return True

    def _wait(self, requests):
        self.transport.wait(requests)     # only a transport that started requests has it

    def _starter(self, scale):
        """``start(bucket)``: scale its buffer by this rank's share and start
        its Allreduce; returns the requests (None: done already)."""
        transport = self.transport
        begin = getattr(transport, "iallreduce_sum", None)

        def start(bucket):
            if scale != 1.0:
                bucket.buffer *= scale
            if begin is None:
                transport.allreduce_sum(bucket.buffer)
                return None
            return begin(bucket.buffer)
        return start

    def reduce_scatter_grads(self, params, layout, weight=None, loss=None):
        """The first move of a sharded step (see sharding.py): every rank
        receives the weighted mean over the ranks of the dense gradients of
        the rows it owns in ``layout`` (a ShardLayout), through one
        Reduce-scatter per dtype; sparse row gradients are averaged whole,
        as :meth:`mean_grads` does, into each ``p.grad``.

        Returns (mean loss or None, the plan per parameter as in
        ``last_plan``, {slice: its averaged gradient rows} for the dense ones).
        """
        params = list(params)
        weight = 1.0 if weight is None else float(weight)
        local_loss = None if loss is None else float(_value(loss))
        table, scale, mean_loss, plan = self._agree(params, weight, local_loss)
        kinds = table[self.rank, _FIXED::2].astype(int)
        out = {}
        for group in layout.groups:
            ranks = [[s for s in rank if plan[s.index] == "dense"] for rank in group]
            if any(ranks):
                out.update(self._scatter_dense(params, kinds, ranks, scale))
        self._mean_of_sparse(params, plan, table, scale)
        return mean_loss, plan, out

    def _agree(self, params, weight, local_loss):
        """Every rank's header: (the table, this rank's scale, the mean loss, the plan)."""
        header = self._header(params, weight, local_loss)
        table = self.transport.allgather_header(header)
        scales, mean_loss = _weights(table)
        plan = self._plan(params, table)
        self.last_plan = plan
        return table, scales[self.rank], mean_loss, plan

    def _mean_of_sparse(self, params, plan, table, scale):
        """The mean of each sparse gradient, densified (one Allreduce per
        dtype) or gathered, on every rank."""
        kinds = table[self.rank, _FIXED::2].astype(int)
        densify = [(p, mode, kind) for p, mode, kind in zip(params, plan, kinds)
                   if mode == "densify"]
        for group in _by_dtype(densify, lambda entry: entry[0].data):
            self._densify(group, scale)
        gather = [(j, p) for j, (p, mode) in enumerate(zip(params, plan)) if mode == "gather"]
        if gather:
            self._gather_rows(gather, table, scale)

    def _scatter_dense(self, params, kinds, ranks, scale):
        """One Reduce-scatter of the dense gradients of one dtype: ``ranks[r]``
        lists rank r's slices. Returns {this rank's slice: its mean rows}."""
        first = params[next(s.index for rank in ranks for s in rank)]
        xp = _module_of([p.data for p in params])
        counts = [sum(slice_size(params[s.index].shape, s.lo, s.hi) for s in rank)
                  for rank in ranks]
        buf = self._buffer(xp, first.dtype, sum(counts))
        start = 0
        for rank in ranks:
            for s in rank:
                p = params[s.index]
                n = slice_size(p.shape, s.lo, s.hi)
                region = buf[start:start + n].reshape((s.hi - s.lo,) + tuple(p.shape[1:]))
                if kinds[s.index] == _DENSE:
                    xp.multiply(rows_of(p.grad.data)[s.lo:s.hi], scale, out=region)
                else:
                    region.fill(0)
                    if kinds[s.index] == _SPARSE:
                        g = p.grad
                        inside = (g.indices >= s.lo) & (g.indices < s.hi)
                        backend.scatter_add(region, g.indices[inside] - s.lo,
                                            g.rows[inside] * scale)
                start += n
        mine = self.transport.reduce_scatter(buf, counts)
        out, start = {}, 0
        for s in ranks[self.rank]:
            p = params[s.index]
            n = slice_size(p.shape, s.lo, s.hi)
            out[s] = mine[start:start + n].reshape((s.hi - s.lo,) + tuple(p.shape[1:]))
            start += n
        return out

    def _header(self, params, weight, loss):
        head = [_layout_hash(params), weight, loss is not None, 0.0 if loss is None else loss]
        for p in params:
            g = p.grad
            if g is None:
                head += [_NONE, 0]
            elif isinstance(g, SparseRows):
                # Each row once before sending: fewer rows, and the optimizer
                # coalesces again anyway.
                p.grad = g = g.coalesced()
                head += [_SPARSE, g.indices.shape[0]]
            else:
                head += [_DENSE, 0]
        return np.array(head, dtype=np.float64)

    def _plan(self, params, table):
        if len(set(table[:, 0])) != 1:
            raise DistributedError(
                f"mean_grads: the ranks passed parameters of different shapes or dtypes "
                f"(rank {self.rank}: {len(params)} parameters); every rank must build the same "
                f"model. Compare them with Communicator.check_same_params")
        plan = []
        for j, p in enumerate(params):
            kinds = table[:, _FIXED + 2 * j]
            if (kinds == _NONE).all():
                plan.append("none")
            elif (kinds == _DENSE).any():
                plan.append("dense")
            elif self.sparse != "auto":
                plan.append(self.sparse)
            else:
                plan.append(choose_sparse(int(table[:, _FIXED + 2 * j + 1].sum()), p.shape,
                                            p.dtype))
        return plan

    def _densify(self, group, scale):
        """One Allreduce of the group's sparse gradients densified, each with a
        mask of its touched rows, each multiplied by ``scale`` first."""
        xp = _module_of([p.data for p, _, _ in group])
        sizes = [p.data.size + p.shape[0] for p, _, _ in group]
        buf = self._buffer(xp, group[0][0].dtype, sum(sizes))
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        for (p, _, kind), start in zip(group, offsets):
            region = buf[start:start + p.data.size].reshape(p.shape)
            mask = buf[start + p.data.size:start + p.data.size + p.shape[0]]
            region.fill(0)
            mask.fill(0)
            if kind == _SPARSE:
                g = p.grad
                backend.scatter_add(region, g.indices, g.rows * scale)
                mask[g.indices] = 1
        self.transport.allreduce_sum(buf)
        for (p, _, _), start in zip(group, offsets):
            region = buf[start:start + p.data.size].reshape(p.shape)
            mask = buf[start + p.data.size:start + p.data.size + p.shape[0]]
            touched = xp.flatnonzero(mask)
            p.grad = SparseRows(touched, region[touched], p.shape)

    def _gather_rows(self, gather, table, scale):
        """Every rank's rows of the sparse gradients in ``gather`` ((j, param)
        pairs), concatenated in rank order: one gather of all their indices and
        one of all their rows per dtype."""
        rows = table[:, _FIXED + 1::2].astype(np.int64)          # (ranks, params)
        xp = _module_of([p.data for _, p in gather])
        mine = [(j, p, p.grad if isinstance(p.grad, SparseRows) else None) for j, p in gather]
        idx = [g.indices for _, _, g in mine if g is not None]
        local_idx = (xp.concatenate(idx) if idx else xp.zeros(0, dtype=np.int64)).astype(np.int64)
        counts = [int(sum(rows[r, j] for j, _ in gather)) for r in range(self.size)]
        all_idx = self.transport.allgatherv(local_idx, counts)
        idx_by_param = _split_by_rank(all_idx, rows, [(j, 1) for j, _ in gather])
        rows_by_param = {}
        for group in _by_dtype(mine, lambda entry: entry[1].data):
            width = {j: math.prod(p.shape[1:]) for j, p, _ in group}
            local = [(g.rows * scale).reshape(-1) for _, _, g in group if g is not None]
            dtype = group[0][1].dtype
            local = xp.concatenate(local).astype(dtype, copy=False) if local else \
                xp.zeros(0, dtype=dtype)
            counts = [int(sum(rows[r, j] * width[j] for j, _, _ in group))
                      for r in range(self.size)]
            all_rows = self.transport.allgatherv(local, counts)
            rows_by_param.update(_split_by_rank(all_rows, rows,
                                                [(j, width[j]) for j, _, _ in group]))
        for j, p in gather:
            joined = xp.concatenate(rows_by_param[j]).reshape((-1,) + tuple(p.shape[1:]))
            p.grad = SparseRows(xp.concatenate(idx_by_param[j]), joined, p.shape)

    def _buffer(self, xp, dtype, n):
        """A flat work buffer of ``n`` elements kept from step to step: a fresh
        one each step would page-fault through the whole gradient again."""
        key = (xp.__name__, np.dtype(dtype).str)
        buf = self._buffers.get(key)
        if buf is None or buf.size < n:
            buf = xp.empty(n, dtype=dtype)
            self._buffers[key] = buf
        return buf[:n]


# ---------------------------------------------------------------- helpers
def _value(x):
    return backend.as_numpy(x.data if isinstance(x, Variable) else x)


def _weights(table):
    """(scale per rank, mean loss or None) from the gathered headers."""
    weights = table[:, 1]
    if not np.all(np.isfinite(weights)) or (weights < 0).any():
        raise DistributedError(f"mean_grads: every weight must be a finite number >= 0, the "
                               f"ranks passed {weights.tolist()}")
    total = weights.sum()
    # Nothing counted anywhere (every target ignored): the gradients are all
    # zeros as on one process, and any mean of them is too.
    scales = weights / total if total > 0 else np.full(len(weights), 1.0 / len(weights))
    has_loss = table[:, 2]
    if not has_loss.any():
        return scales.tolist(), None
    if not has_loss.all():
        raise DistributedError(f"mean_grads: some ranks passed a loss and some did not "
                               f"(ranks {np.flatnonzero(has_loss == 0).tolist()} did not)")
    return scales.tolist(), float(np.dot(scales, table[:, 3]))


def _layout_hash(params) -> int:
    text = ";".join(f"{tuple(p.shape)}{p.dtype}" for p in params)
    return zlib.crc32(f"{len(params)}|{text}".encode())


def _by_dtype(items, data_of):
    """``items`` grouped by the dtype of ``data_of(item)``, each group in the
    order given, groups in order of first appearance."""
    groups = {}
    for item in items:
        groups.setdefault(np.dtype(data_of(item).dtype).str, []).append(item)
    return list(groups.values())


def _module_of(arrays):
    xp = backend.get_array_module(arrays[0])
    if any(backend.get_array_module(a) is not xp for a in arrays):
        raise DistributedError("distributed: the parameters are on different devices (numpy and "
                               "cupy); move the whole model with to_gpu() or to_cpu() first")
    return xp


def _regions(buf, shapes):
    out, start = [], 0
    for shape in shapes:
        n = math.prod(shape)
        out.append(buf[start:start + n].reshape(shape))
        start += n
    return out


def _split_by_rank(flat, rows, columns):
    """Cut ``flat`` (every rank's data, rank after rank; within a rank the
    columns' data in order, ``rows[r, j] * width`` elements for column j) into
    {j: [rank 0's piece, rank 1's piece, ...]}."""
    out = {j: [] for j, _ in columns}
    start = 0
    for r in range(rows.shape[0]):
        for j, width in columns:
            n = int(rows[r, j]) * width
            out[j].append(flat[start:start + n])
            start += n
    return out


def _mismatch_message(everyone, what):
    first = everyone[0]
    lines = []
    for rank, rows in enumerate(everyone[1:], start=1):
        if rows == first:
            continue
        if len(rows) != len(first):
            lines.append(f"rank {rank} has {len(rows)} {what}s, rank 0 has {len(first)}")
        for i, (mine, theirs) in enumerate(zip(first, rows)):
            if mine != theirs:
                lines.append(f"{what} {i}: rank 0 has {_show(mine)}, rank {rank} has "
                             f"{_show(theirs)}")
                break
        else:
            extra = rows[len(first):] or first[len(rows):]
            owner = rank if len(rows) > len(first) else 0
            lines.append(f"{what} {min(len(rows), len(first))}: only rank {owner} has "
                         f"{_show(extra[0])}")
    return (f"the ranks do not hold the same {what}s (names, shapes, dtypes):\n  "
            + "\n  ".join(lines) + "\nEvery rank must build the same model with the same "
            "options before training; compare the command lines of the ranks.")


def _show(row):
    name, shape, dtype = row
    return f"{name!r} {shape} {dtype}"


class _Solo:
    """A transport of one rank (the docstring examples; nothing to send)."""

    name, rank, size = "solo", 0, 1

    def allgather_header(self, vec):
        return np.asarray(vec, dtype=np.float64).reshape(1, -1)
