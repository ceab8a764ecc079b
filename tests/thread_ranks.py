"""Ranks as threads of one process: a transport for testing the Communicator's
logic without MPI (the real multi-process runs are in test_distributed_mpi.py).

Only the collectives run concurrently; tests compute each rank's gradients
before starting the threads (minigrad's graph switches are process-wide).
"""
from __future__ import annotations

import threading

import numpy as np

from minigrad.distributed import Communicator
from minigrad.distributed.transport import MpiTransport


class _Exchange:
    def __init__(self, size):
        self.size = size
        self.barrier = threading.Barrier(size, timeout=20)
        self.slots = [None] * size

    def gather(self, rank, obj):
        self.slots[rank] = obj
        self.barrier.wait()
        out = list(self.slots)
        self.barrier.wait()
        return out


class ThreadTransport:
    name = "threads"

    def __init__(self, exchange, rank):
        self.exchange, self.rank, self.size = exchange, rank, exchange.size
        self.calls = []          # (operation, number of elements): what went over the wire

    def _all(self, obj):
        return self.exchange.gather(self.rank, obj)

    def allreduce_sum(self, buf):
        self.calls.append(("allreduce", buf.size))
        parts = self._all(buf.copy())
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        buf[...] = total
        return buf

    def reduce_scatter(self, buf, counts):
        self.calls.append(("reduce_scatter", buf.size))
        parts = self._all(buf.copy())
        total = parts[0].copy()
        for part in parts[1:]:
            total += part
        start = sum(counts[:self.rank])
        return total[start:start + counts[self.rank]].copy()

    def broadcast(self, buf, root=0):
        self.calls.append(("broadcast", buf.size))
        buf[...] = self._all(buf.copy())[root]
        return buf

    def allgatherv(self, buf, counts):
        self.calls.append(("allgatherv", buf.size))
        parts = self._all(buf.copy())
        assert [p.size for p in parts] == list(counts), (parts, counts)
        return np.concatenate(parts)

    def allgather_header(self, vec):
        return np.stack(self._all(np.asarray(vec, dtype=np.float64)))

    def broadcast_object(self, obj, root=0):
        return self._all(obj)[root]

    def allgather_object(self, obj):
        return self._all(obj)

    def barrier(self):
        self._all(None)


class ThreadMpi:
    """The part of mpi4py.MPI that MpiTransport uses, with an mpi4py-like
    communicator over thread ranks: its buffer calls take host (numpy) arrays
    only, as MPI without CUDA support does, so the transport's copies of
    device arrays through the host are exercised."""

    IN_PLACE, SUM = "IN_PLACE", "SUM"

    class Request:
        """A non-blocking call here completes at once (the threads meet in it)."""

        @staticmethod
        def Testall(requests):  # noqa: N802 - mpi4py's names
            return True

        @staticmethod
        def Waitall(requests):  # noqa: N802
            return None

    class Comm:
        def __init__(self, exchange, rank):
            self.exchange, self.rank = exchange, rank

        def Get_rank(self):  # noqa: N802 - mpi4py's names
            return self.rank

        def Get_size(self):  # noqa: N802
            return self.exchange.size

        def _host(self, buf):
            if type(buf) is not np.ndarray:
                raise TypeError(f"MPI buffers are host memory: got a {type(buf).__name__}")
            return buf

        def _all(self, obj):
            return self.exchange.gather(self.rank, obj)

        def Allreduce(self, sendbuf, recvbuf, op):  # noqa: N802
            assert sendbuf == ThreadMpi.IN_PLACE and op == ThreadMpi.SUM
            recvbuf = self._host(recvbuf)
            recvbuf[...] = sum(self._all(recvbuf.copy()))

        def Iallreduce(self, sendbuf, recvbuf, op):  # noqa: N802
            self.Allreduce(sendbuf, recvbuf, op)
            return "done"

        def Reduce_scatter(self, sendbuf, recvbuf, counts, op):  # noqa: N802
            assert op == ThreadMpi.SUM
            total = sum(self._all(self._host(sendbuf).copy()))
            start = sum(counts[:self.rank])
            self._host(recvbuf)[...] = total[start:start + counts[self.rank]]

        def Bcast(self, buf, root=0):  # noqa: N802
            buf = self._host(buf)
            buf[...] = self._all(buf.copy())[root]

        def Allgatherv(self, sendbuf, recv):  # noqa: N802
            out, counts = recv
            parts = self._all(self._host(sendbuf).copy())
            assert [p.size for p in parts] == list(counts)
            self._host(out)[...] = np.concatenate(parts)

        def Allgather(self, sendbuf, recvbuf):  # noqa: N802
            self._host(recvbuf)[...] = np.stack(self._all(self._host(sendbuf).copy()))

        def bcast(self, obj, root=0):
            return self._all(obj)[root]

        def allgather(self, obj):
            return self._all(obj)

        def Barrier(self):  # noqa: N802
            self._all(None)


def _mpi_transport(exchange, rank):
    return MpiTransport(ThreadMpi.Comm(exchange, rank), mpi=ThreadMpi)


TRANSPORTS = {"threads": ThreadTransport, "mpi": _mpi_transport}


def run_ranks(size, fn, sparse="auto", transport="threads"):
    """``fn(comm)`` on ``size`` thread ranks; their results in rank order. An
    exception on any rank is raised here (the first one, by rank).
    ``transport``: "threads" (numpy copies between the threads, any array) or
    "mpi" (MpiTransport on a stand-in for mpi4py that takes host buffers only)."""
    exchange = _Exchange(size)
    results, errors = [None] * size, [None] * size
    make_transport = TRANSPORTS[transport]

    def body(rank):
        try:
            results[rank] = fn(Communicator(make_transport(exchange, rank), sparse=sparse))
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            errors[rank] = exc
            exchange.barrier.abort()

    threads = [threading.Thread(target=body, args=(r,)) for r in range(size)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    first = next((e for e in errors if e is not None and
                  not isinstance(e, threading.BrokenBarrierError)), None)
    if first is None:
        first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return results
