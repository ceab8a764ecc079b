"""Buffers shared by kernels whose lifetimes do not overlap.

Traced once, every value of a step has a buffer of its own: a step's forward
values and all its backward temporaries at once, more than an eager step ever
holds (it frees each temporary as it goes). Here each buffer lives from the
kernel that first writes it to the kernel that last reads it; a buffer whose
life is over gives its memory to the next one of the same size. The kernels
are then rebuilt with their arrays re-pointed to the shared memory.

Buffers the caller or a host call can see (gradients in ``.grad``, what the
step returns, carried state, a host call's arguments) keep their own memory.
"""
from __future__ import annotations

import bisect
import functools

import numpy as np

from .tracing import Traced, root

# Switch: share buffers between kernels (off: one buffer per value; the
# results are the same, bit for bit; benchmarks/compiled_step.py measures it).
SHARE_BUFFERS = True

# An element-by-element kernel writes over an input it reads for the last time
# only from this size on: numpy checks the overlap of its operands on every
# call, which costs more than the memory saves on small arrays (measured on
# the 1000-op chain of (8, 8) arrays: 1.35x its time with no threshold).
IN_PLACE_BYTES = 64 * 1024


def _arrays(obj, out):
    if isinstance(obj, np.ndarray):
        out.append(obj)
    elif type(obj) in (tuple, list):
        for x in obj:
            _arrays(x, out)
    elif type(obj) is dict:
        for x in obj.values():
            _arrays(x, out)
    return out


def arrays_of(kernel) -> list:
    """The arrays a kernel reads and writes."""
    return _arrays(kernel.reads, []) + _arrays(kernel.writes, [])


def without_dead(kernels, pinned) -> list:
    """The kernels less those whose results nothing reads: a gradient an
    operation's backward computes for an input that needs none (a constant,
    the targets), and what only such kernels read. A kernel counts as dead
    only if it is a numpy call that writes nothing but buffers of the step."""
    owner = _Owners(kernels)
    live = {owner.of(a) for a in pinned if isinstance(a, np.ndarray)}
    kept = []
    for k in reversed(kernels):
        writes = [owner.of(a) for a in _arrays(k.writes, [])]
        if type(k.run) is functools.partial and writes and None not in writes \
                and live.isdisjoint(writes):
            continue
        kept.append(k)
        live.update(owner.of(a) for a in _arrays(k.reads, []))
        # A kernel that writes part of a buffer (an index, in place) keeps what
        # was written there before.
        live.update(writes)
    kept.reverse()
    return kept


def share(kernels, pinned) -> int:
    """Re-point the kernels' buffers to shared memory; ``pinned``: arrays
    whose buffers keep their own. Returns the bytes the buffers hold."""
    owner = _Owners(kernels)
    keep = {owner.of(a) for a in pinned if isinstance(a, np.ndarray)}
    first, last, written_first = {}, {}, set()
    for i, k in enumerate(kernels):
        writes = {owner.of(a) for a in _arrays(k.writes, [])}
        for a in _arrays(k.reads, []) + _arrays(k.writes, []):
            key = owner.of(a)
            if key is None or key in keep:
                continue
            if key not in first:
                first[key] = i
                if key in writes:
                    written_first.add(key)
            last[key] = i
    # A buffer read before any kernel writes it holds a value from the traced
    # call that a replay relies on: it keeps its memory.
    movable = sorted(written_first, key=first.get)
    if not SHARE_BUFFERS or not movable:
        return held_bytes(kernels)
    starts, ends = {}, {}
    for key in movable:
        starts.setdefault(first[key], []).append(key)
        ends.setdefault(last[key], []).append(key)
    free, block_of = {}, {}
    for i, k in enumerate(kernels):
        ending = list(ends.get(i, ()))
        if k.elementwise:          # its output may take an input's memory
            for key in [key for key in ending if key in block_of and
                        owner.buffers[key].nbytes >= IN_PLACE_BYTES]:
                ending.remove(key)
                free.setdefault(owner.buffers[key].nbytes, []).append(block_of[key])
        for key in starts.get(i, ()):
            size = owner.buffers[key].nbytes
            pool = free.get(size)
            block_of[key] = pool.pop() if pool else np.ndarray.__new__(_Block, (size,), np.uint8)
        for key in ending:
            free.setdefault(owner.buffers[key].nbytes, []).append(block_of[key])
    moved = {}

    def remap(obj):
        return _remap(obj, owner, block_of, moved)
    for k in kernels:
        k.run = _remap_run(k.run, remap)
        k.reads, k.writes = remap(k.reads), remap(k.writes)
    return held_bytes(kernels)


class _Block(np.ndarray):
    """Memory that several buffers share, one after the other."""


def held_bytes(kernels) -> int:
    """Bytes of the buffers that the kernels read and write (the parameters,
    the step's arguments and other memory from outside aside)."""
    held = {}
    for k in kernels:
        for a in _arrays(k.reads, []) + _arrays(k.writes, []):
            r = root(a)
            if type(r) in (Traced, _Block):
                held[id(r)] = r.nbytes
    return sum(held.values())


class _Owners:
    """Which buffer an array lies in, by its address (a view made with
    ``as_strided`` does not lead back to its buffer through ``.base``)."""

    def __init__(self, kernels):
        self.buffers = {}
        for k in kernels:
            for a in _arrays(k.reads, []) + _arrays(k.writes, []):
                r = root(a)
                if type(r) is Traced:
                    self.buffers[id(r)] = r
        self.ranges = sorted((_address(b), _address(b) + b.nbytes, key)
                             for key, b in self.buffers.items())
        self.starts = [lo for lo, _, _ in self.ranges]

    def of(self, a):
        where = _address(a)
        i = bisect.bisect_right(self.starts, where) - 1
        if i >= 0:
            lo, hi, key = self.ranges[i]
            if where < hi:
                return key
        return None


def _address(a) -> int:
    return a.__array_interface__["data"][0]


def _remap(obj, owner, block_of, moved):
    if isinstance(obj, np.ndarray):
        key = owner.of(obj)
        if key not in block_of:
            return obj
        new = moved.get(id(obj))
        if new is None:
            offset = _address(obj) - _address(owner.buffers[key])
            new = np.ndarray(obj.shape, obj.dtype, buffer=block_of[key], offset=offset,
                             strides=obj.strides)
            moved[id(obj)] = new
        return new
    if type(obj) in (tuple, list):
        return type(obj)(_remap(x, owner, block_of, moved) for x in obj)
    if type(obj) is dict:
        return {k: _remap(v, owner, block_of, moved) for k, v in obj.items()}
    return obj


def _remap_run(run, remap):
    if type(run) is functools.partial:
        return functools.partial(run.func, *remap(run.args), **remap(run.keywords))
    if hasattr(run, "remap"):
        run.remap(remap)
    return run
