"""Transports: the few collective operations a Communicator needs, on MPI.

A transport moves flat arrays between the ranks; the Communicator decides what
goes into them. The operations:

* ``allreduce_sum(buf)``: ``buf`` becomes the elementwise sum over the ranks (in place);
  ``iallreduce_sum(buf)`` starts the same and returns its requests, which
  ``test(requests)`` progresses and ``wait(requests)`` completes (optional: a
  transport without them reduces at once);
* ``broadcast(buf, root)``: ``buf`` becomes root's (in place);
* ``reduce_scatter(buf, counts)``: the elementwise sum over the ranks of
  ``buf``, of which rank r receives its part, ``counts[r]`` elements (the
  parts in rank order);
* ``allgatherv(buf, counts)``: every rank's ``buf`` (``counts[r]`` elements
  from rank r), concatenated in rank order;
* ``allgather_header(vec)``: the small float64 vectors of all ranks, one row each;
* ``broadcast_object`` / ``allgather_object``: picklable Python objects;
* ``barrier()``.

The GPU transport (NCCL) is in ``nccl.py``; it keeps the small, host-side
operations on MPI.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .mpi import DistributedError, load_mpi

__all__ = ["MpiTransport"]

# One Allreduce call reduces at most this many bytes. Open MPI's Allreduce
# allocates a temporary of about half the buffer (on 2 ranks), and glibc's
# malloc hands blocks above its mmap threshold (32 MiB at most) back to the
# system on free, so a larger call page-faults through a fresh temporary every
# step: 6,496 faults and 29 ms of CPU for BetterRnnlm's 13.3M float32, against
# none and 17 ms in chunks of 16 MiB (benchmarks/distributed.py, Allreduce).
ALLREDUCE_CHUNK_BYTES = 16 << 20


class MpiTransport:
    """Collectives on an mpi4py communicator (``MPI.COMM_WORLD`` by default).

    numpy buffers go to MPI as they are (mpi4py's upper-case calls read the
    buffer directly, no pickling). cupy buffers are copied through the host:
    Open MPI from pip is not CUDA-aware, and this is the path a GPU job takes
    when cupy has no NCCL.
    """

    name = "mpi"

    def __init__(self, mpi_comm=None, mpi=None):
        # ``mpi``: the mpi4py.MPI module (a test passes a stand-in with its communicator).
        self.MPI = mpi if mpi is not None else load_mpi()
        self.comm = mpi_comm if mpi_comm is not None else self.MPI.COMM_WORLD
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self._arrays = {}

    # ------------------------------------------------------------ arrays
    def allreduce_sum(self, buf):
        if buf.size == 0 or self.size == 1:
            return buf
        host = _host(buf)
        step = max(1, ALLREDUCE_CHUNK_BYTES // host.itemsize)
        for start in range(0, host.size, step):
            self.comm.Allreduce(self.MPI.IN_PLACE, host[start:start + step], op=self.MPI.SUM)
        _back(buf, host)
        return buf

    def iallreduce_sum(self, buf):
        """Start ``allreduce_sum(buf)`` without waiting for it (in the same
        pieces of 16 MiB); returns its requests for :meth:`test` and
        :meth:`wait`, or None when it is done already (a cupy buffer goes
        through the host, blocking: Open MPI from pip is not CUDA-aware)."""
        if buf.size == 0 or self.size == 1:
            return None
        if backend.is_cupy_array(buf):
            self.allreduce_sum(buf)
            return None
        host = _host(buf)
        step = max(1, ALLREDUCE_CHUNK_BYTES // host.itemsize)
        return [self.comm.Iallreduce(self.MPI.IN_PLACE, host[start:start + step], op=self.MPI.SUM)
                for start in range(0, host.size, step)]

    def test(self, requests) -> bool:
        """Let MPI progress the requests; True when all are complete."""
        return self.MPI.Request.Testall(requests)

    def wait(self, requests):
        self.MPI.Request.Waitall(requests)

    def reduce_scatter(self, buf, counts):
        """This rank's part of the sum, in an array kept for the next call
        (valid until then). Like the Allreduce, in rounds of at most 16 MiB:
        round i sends the i-th piece of every rank's part, copied together."""
        counts = [int(c) for c in counts]
        if self.size == 1:
            return buf[:counts[0]].copy()
        host = _host(buf)
        out = self._kept("out", host.dtype, counts[self.rank])
        piece = max(1, ALLREDUCE_CHUNK_BYTES // host.itemsize // self.size)
        starts = np.concatenate([[0], np.cumsum(counts)])
        rounds = -(-max(counts) // piece)
        stage = host if rounds <= 1 else self._kept("stage", host.dtype, piece * self.size)
        for i in range(rounds):
            parts = [max(0, min(piece, c - i * piece)) for c in counts]
            if rounds > 1:
                at = 0
                for r, n in enumerate(parts):
                    stage[at:at + n] = host[starts[r] + i * piece:starts[r] + i * piece + n]
                    at += n
            mine = out[i * piece:i * piece + parts[self.rank]]
            self.comm.Reduce_scatter(stage[:sum(parts)], mine, parts, op=self.MPI.SUM)
        return out if not backend.is_cupy_array(buf) else backend.as_cupy(out)

    def _kept(self, name, dtype, n):
        """A host array of ``n`` elements kept from call to call: a fresh one
        each step would page-fault through its whole size again."""
        key = (name, np.dtype(dtype).str)
        kept = self._arrays.get(key)
        if kept is None or kept.size < n:
            kept = self._arrays[key] = np.empty(n, dtype=dtype)
        return kept[:n]

    def broadcast(self, buf, root=0):
        if buf.size == 0 or self.size == 1:
            return buf
        host = _host(buf)
        self.comm.Bcast(host, root=root)
        _back(buf, host)
        return buf

    def allgatherv(self, buf, counts):
        counts = [int(c) for c in counts]
        if self.size == 1:
            return buf.copy()
        host = _host(buf)
        out = np.empty(sum(counts), dtype=host.dtype)
        self.comm.Allgatherv(host, [out, counts])
        return out if not backend.is_cupy_array(buf) else backend.as_cupy(out)

    def allgather_header(self, vec):
        vec = np.ascontiguousarray(vec, dtype=np.float64)
        out = np.empty((self.size, vec.size), dtype=np.float64)
        self.comm.Allgather(vec, out)
        return out

    # ------------------------------------------------------------ objects
    def broadcast_object(self, obj, root=0):
        return self.comm.bcast(obj, root=root)

    def allgather_object(self, obj):
        return self.comm.allgather(obj)

    def barrier(self):
        self.comm.Barrier()

    def local_rank(self) -> int:
        """This rank's position among the ranks on its own machine."""
        MPI = self.MPI
        local = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        try:
            return local.Get_rank()
        finally:
            local.Free()


def _host(buf):
    if backend.is_cupy_array(buf):
        return buf.get()
    if not buf.flags.c_contiguous:
        raise DistributedError(f"MPI transport: buffers must be contiguous, got a "
                               f"{buf.shape} {buf.dtype} view")
    return buf


def _back(buf, host):
    if host is not buf:
        buf.set(host)
