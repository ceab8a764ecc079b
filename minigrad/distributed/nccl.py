"""The GPU transport: NCCL through cupy, for parameters held as cupy arrays.

Each rank drives one GPU (its local rank modulo the GPUs of its machine:
NCCL refuses two ranks on one GPU). Rank 0 makes NCCL's unique id and
broadcasts it over MPI; every rank then joins the NCCL communicator. The
gradient buffers go through NCCL on the GPU; the small header and Python
objects still go over MPI on the host. Without NCCL in cupy, use
:class:`~minigrad.distributed.transport.MpiTransport`, which copies cupy
buffers through the host.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .mpi import DistributedError
from .transport import MpiTransport

__all__ = ["NcclTransport", "nccl_module", "pad_counts", "unpad"]

# numpy dtype -> the name of cupy.cuda.nccl's constant for it
_NCCL_TYPES = {"float16": "NCCL_FLOAT16", "float32": "NCCL_FLOAT32", "float64": "NCCL_FLOAT64",
               "int32": "NCCL_INT32", "int64": "NCCL_INT64", "uint8": "NCCL_UINT8"}


def nccl_module():
    """cupy.cuda.nccl when cupy, a GPU and NCCL are all there, else None."""
    if not backend.gpu_available():
        return None
    try:
        from cupy.cuda import nccl
    except ImportError:
        return None
    return nccl if getattr(nccl, "available", True) else None


def nccl_type(nccl, dtype) -> int:
    """NCCL's code for a numpy dtype (a clear error for the others)."""
    name = _NCCL_TYPES.get(np.dtype(dtype).name)
    if name is None:
        raise DistributedError(f"NCCL transport: arrays of dtype {np.dtype(dtype)} cannot be "
                               f"reduced; use one of {sorted(_NCCL_TYPES)}")
    return getattr(nccl, name)


def pad_counts(counts):
    """NCCL's allGather takes the same count from every rank: the padded count."""
    return max(int(c) for c in counts) if len(counts) else 0


def unpad(gathered, counts, padded):
    """Every rank's first ``counts[r]`` elements of its ``padded`` block, joined.

    >>> unpad(np.array([1, 2, 0, 3, 0, 0]), [2, 1], 3)
    array([1, 2, 3])
    """
    xp = backend.get_array_module(gathered)
    return xp.concatenate([gathered[r * padded:r * padded + int(c)] for r, c in enumerate(counts)])


class NcclTransport:
    """Collectives on the GPU through NCCL; header and objects over ``mpi``
    (an :class:`MpiTransport`, COMM_WORLD's by default)."""

    name = "nccl"

    def __init__(self, mpi: MpiTransport | None = None, nccl=None, cupy=None):
        self.mpi = mpi if mpi is not None else MpiTransport()
        self.rank, self.size = self.mpi.rank, self.mpi.size
        self.nccl = nccl if nccl is not None else nccl_module()
        if self.nccl is None:
            raise DistributedError("the NCCL transport needs cupy with NCCL and a CUDA GPU "
                                   "(pip install 'minigrad[gpu]' nvidia-nccl-cu12); without "
                                   "NCCL use create_communicator('mpi'), which copies cupy "
                                   "arrays through the host")
        if cupy is None:
            import cupy
        self.cupy = cupy
        devices = cupy.cuda.runtime.getDeviceCount()
        self.device = self.mpi.local_rank() % devices
        cupy.cuda.Device(self.device).use()
        uid = self.nccl.get_unique_id() if self.rank == 0 else None
        uid = self.mpi.broadcast_object(uid, 0)
        self.comm = self.nccl.NcclCommunicator(self.size, uid, self.rank)

    def _stream(self):
        return self.cupy.cuda.get_current_stream().ptr

    def _check(self, buf):
        if not backend.is_cupy_array(buf):
            raise DistributedError("NCCL transport: the parameters must be on the GPU "
                                   "(model.to_gpu()); for numpy arrays use the MPI communicator")
        return nccl_type(self.nccl, buf.dtype)

    def allreduce_sum(self, buf):
        kind = self._check(buf)
        if buf.size:
            self.comm.allReduce(buf.data.ptr, buf.data.ptr, buf.size, kind, self.nccl.NCCL_SUM,
                                self._stream())
        return buf

    def broadcast(self, buf, root=0):
        kind = self._check(buf)
        if buf.size:
            self.comm.bcast(buf.data.ptr, buf.size, kind, root, self._stream())
        return buf

    def reduce_scatter(self, buf, counts):
        kind = self._check(buf)
        padded = pad_counts(counts)
        send = self.cupy.zeros(padded * self.size, dtype=buf.dtype)
        start = 0
        for r, c in enumerate(counts):
            send[r * padded:r * padded + int(c)] = buf[start:start + int(c)]
            start += int(c)
        out = self.cupy.empty(padded, dtype=buf.dtype)
        if padded:
            self.comm.reduceScatter(send.data.ptr, out.data.ptr, padded, kind,
                                    self.nccl.NCCL_SUM, self._stream())
        return out[:int(counts[self.rank])]

    def allgatherv(self, buf, counts):
        kind = self._check(buf)
        padded = pad_counts(counts)
        send = self.cupy.zeros(padded, dtype=buf.dtype)
        send[:buf.size] = buf
        out = self.cupy.empty(padded * self.size, dtype=buf.dtype)
        if padded:
            self.comm.allGather(send.data.ptr, out.data.ptr, padded, kind, self._stream())
        return unpad(out, counts, padded)

    def allgather_header(self, vec):
        return self.mpi.allgather_header(vec)

    def broadcast_object(self, obj, root=0):
        return self.mpi.broadcast_object(obj, root)

    def allgather_object(self, obj):
        return self.mpi.allgather_object(obj)

    def barrier(self):
        self.cupy.cuda.get_current_stream().synchronize()
        self.mpi.barrier()
