"""Ranks as threads of one process: a transport for testing the Communicator's
logic without MPI (the real multi-process runs are in test_distributed_mpi.py).

Only the collectives run concurrently; tests compute each rank's gradients
before starting the threads (minigrad's graph switches are process-wide).
"""
from __future__ import annotations

import threading

import numpy as np

from minigrad.distributed import Communicator


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


def run_ranks(size, fn, sparse="auto"):
    """``fn(comm)`` on ``size`` thread ranks; their results in rank order. An
    exception on any rank is raised here (the first one, by rank)."""
    exchange = _Exchange(size)
    results, errors = [None] * size, [None] * size

    def body(rank):
        try:
            results[rank] = fn(Communicator(ThreadTransport(exchange, rank), sparse=sparse))
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
