"""Seeing a compiled step's schedule: the numpy kernels its lowered tape runs,
the buffers they read and write, and which buffers share one block of memory.

From its third call on, a compiled step (:func:`minigrad.compile`) runs a flat
list of numpy kernels into buffers allocated once, as the book's hand-written
layers do with their ``params`` and ``grads``; buffers whose values are never
alive at the same time take turns in one block of memory. :func:`schedule`
reads that list back; :func:`schedule_text` prints it, one kernel a line;
:func:`schedule_to_dot` and :func:`plot_schedule` draw it with Graphviz.

Memory is found by address, not by Python object: two arrays lie in one
block when their bytes overlap, so a reshaped view of a buffer is seen in the
buffer's block, and two buffers re-pointed to one shared block are seen
sharing it.
"""
from __future__ import annotations

import bisect

import numpy as np
from numpy.lib.array_utils import byte_bounds

from ..compiled import CompiledStep
from ..compiled.lowering import LoweredTape
from ..compiled.memory import _arrays
from ..compiled.tape import HostCall

__all__ = ["Schedule", "schedule", "lowered_tape", "kernel_arrays"]


def lowered_tape(step) -> LoweredTape:
    """The lowered tape of the signature ``step`` (a CompiledStep) ran last."""
    if not isinstance(step, CompiledStep):
        raise TypeError(f"schedule: expected the CompiledStep that minigrad.compile returns, "
                        f"got {type(step).__name__}")
    if not step._entries:
        raise ValueError("schedule: the compiled step has not run yet; its kernels are made on "
                         "the third call of a signature (two recordings, then the lowering)")
    entry = next(reversed(step._entries.values()))
    if not isinstance(entry.tape, LoweredTape):
        if not step.kernels:
            why = "it was compiled with kernels=False (operation-level replay)"
        elif entry.lowered is None:
            why = (f"its last signature ran {entry.recordings} time(s); the kernels are made "
                   "on the third call")
        else:
            why = f"its tape could not be lowered: {entry.lowered}"
        raise ValueError(f"schedule: the compiled step has no kernels to draw: {why}")
    return entry.tape


def kernel_arrays(obj) -> list:
    """The arrays in a kernel's ``reads`` or ``writes`` (nested in tuples,
    lists and dicts), in order."""
    return _arrays(obj, [])


def _extent(a) -> tuple:
    lo, hi = byte_bounds(a)
    return lo, max(hi, lo + 1)   # an empty array still marks its address


class Buffer:
    """One value the kernels hold: ``label`` (``b3``; a parameter's path,
    ``grad`` and its path, ``arg0`` for the step's arguments), the ``shape``
    and ``dtype`` it was written with, ``kind`` ("buffer", "parameter",
    "gradient", "argument") and ``block``, the index of the memory block it
    lies in. Views of it (a transpose, a reshape) are the same Buffer."""

    __slots__ = ("label", "shape", "dtype", "kind", "block")

    def __init__(self, label, a, kind, block):
        self.label, self.shape, self.dtype = label, a.shape, a.dtype
        self.kind, self.block = kind, block

    def describe(self) -> str:
        shape = "x".join(map(str, self.shape)) or "scalar"
        return f"{self.label} ({shape} {self.dtype})"


class Step:
    """One kernel of the schedule: its ``name`` (the numpy call), ``where``
    (the operation it came from: ``Linear.forward``, ``Sigmoid.backward``;
    ``host call`` for a method run in Python) and the Buffers it ``reads``
    and ``writes``."""

    __slots__ = ("name", "where", "reads", "writes")

    def __init__(self, name, where, reads, writes):
        self.name, self.where, self.reads, self.writes = name, where, reads, writes


class Schedule:
    """What a lowered tape runs: ``steps`` in order, ``buffers`` in order of
    first use, ``blocks`` (for each memory block, the Buffers that take turns
    in it) and ``block_bytes``. Parameters (read by the kernels, updated in
    place by the optimizer, owned by the model) and the step's arguments are
    in blocks of their own."""

    def __init__(self, steps, buffers, blocks, block_bytes):
        self.steps, self.buffers = steps, buffers
        self.blocks, self.block_bytes = blocks, block_bytes

    def shared_blocks(self) -> list:
        """The indices of the blocks that two or more Buffers take turns in."""
        return [i for i, members in enumerate(self.blocks) if len(members) > 1]

    def held_bytes(self, kinds=("buffer", "gradient", "argument")) -> int:
        """The bytes of the blocks that hold Buffers of ``kinds`` (by default
        all but the parameters, which the model owns whether compiled or not)."""
        return sum(self.block_bytes[i] for i, members in enumerate(self.blocks)
                   if any(b.kind in kinds for b in members))


def schedule(step) -> Schedule:
    """The :class:`Schedule` of ``step`` (a CompiledStep), from the lowered
    tape of the signature it ran last."""
    lowered = lowered_tape(step)
    kernels = [(kernel_arrays(k.reads), kernel_arrays(k.writes)) for k in lowered.kernels]
    memory = _Memory([a for reads, writes in kernels for a in reads + writes])
    roles = _roles(step, lowered, memory)
    values, buffers, steps = {}, [], []

    def new_value(blk, a):
        label, kind = roles.get(blk) or (f"b{sum(b.kind == 'buffer' for b in buffers)}",
                                         "buffer")
        b = values[blk] = Buffer(label, a, kind, blk)
        buffers.append(b)
        return b

    for k, (reads, writes) in zip(lowered.kernels, kernels):
        read_blocks = [memory.block(a) for a in reads]
        read_values = [values.get(blk) or new_value(blk, a) for blk, a in zip(read_blocks, reads)]
        written = []
        for a in writes:
            blk = memory.block(a)
            # A kernel that fills a whole block without reading it starts a new
            # value there: the block's previous value is dead, its memory reused.
            if blk not in values or (blk not in read_blocks and memory.covers(a, blk)
                                     and roles.get(blk) is None and not _partial(k.name)):
                new_value(blk, a)
            written.append(values[blk])
        steps.append(Step(k.name, _where(k), _unique(read_values), _unique(written)))
    blocks = [[] for _ in memory.sizes]
    for b in buffers:
        blocks[b.block].append(b)
    first = {id(b): i for i, b in enumerate(buffers)}
    used = [i for i, members in enumerate(blocks) if members]
    renumber = {old: new for new, old in enumerate(sorted(used, key=lambda i: first[id(
        blocks[i][0])]))}
    for b in buffers:
        b.block = renumber[b.block]
    ordered = sorted(used, key=renumber.get)
    return Schedule(steps, buffers, [blocks[i] for i in ordered],
                    [memory.sizes[i] for i in ordered])


class _Memory:
    """The blocks of memory that arrays lie in: arrays whose bytes overlap,
    transitively, lie in one block."""

    def __init__(self, arrays):
        extents = sorted({_extent(a) for a in arrays})
        self.starts, self.ends = [], []
        for lo, hi in extents:
            if self.ends and lo < self.ends[-1]:
                self.ends[-1] = max(self.ends[-1], hi)
            else:
                self.starts.append(lo)
                self.ends.append(hi)
        self.sizes = [hi - lo for lo, hi in zip(self.starts, self.ends)]

    def block(self, a) -> int:
        return bisect.bisect_right(self.starts, _extent(a)[0]) - 1

    def covers(self, a, blk) -> bool:
        lo, hi = _extent(a)
        return lo == self.starts[blk] and hi == self.ends[blk] and \
            a.flags.c_contiguous


def _roles(step, lowered, memory) -> dict:
    """Block -> (label, kind) for the parameters, the step's arguments and
    the gradients stored into ``.grad``."""
    from ..compiled.lowering import _Store

    roles = {}
    names = {}
    for name, p in step.model.named_params():
        names[id(p)] = name
        if isinstance(p.data, np.ndarray):
            roles[memory.block(p.data)] = (name, "parameter")
    entry = next(reversed(step._entries.values()))
    for i, a in enumerate(b for b in entry.buffers if b is not None):
        roles.setdefault(memory.block(a), (f"arg{i}", "argument"))
    for k in lowered.kernels:
        if isinstance(k.run, _Store) and isinstance(k.run.g, np.ndarray):
            x = k.run.x
            roles.setdefault(memory.block(k.run.g),
                             (f"grad {names.get(id(x)) or x.name or 'of a leaf'}", "gradient"))
    return {blk: role for blk, role in roles.items() if 0 <= blk < len(memory.sizes)}


# Kernels that write some elements of an array in place, through an index.
_PARTIAL = {"setitem", "put", "put_along_axis", "fill_diagonal"}


def _partial(name) -> bool:
    return name in _PARTIAL or name.endswith(".at")


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _where(kernel) -> str:
    # A host call runs in Python between kernels; it comes from no operation.
    if isinstance(getattr(kernel.run, "__self__", None), HostCall):
        return "host call"
    return kernel.where
