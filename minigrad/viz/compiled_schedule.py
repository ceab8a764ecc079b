"""Seeing a compiled step's schedule: the numpy kernels its lowered tape runs,
the buffers they read and write, and which buffers share one block of memory.

From its fifth call on, a compiled step (:func:`minigrad.compile`) runs a flat
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
from ..compiled.lowering import LoweredTape, _Store, _Stores
from ..compiled.memory import _arrays
from ..compiled.tape import HostCall

__all__ = ["Schedule", "schedule", "schedule_text", "schedule_to_dot", "plot_schedule",
           "lowered_tape", "kernel_arrays"]


def lowered_tape(step) -> LoweredTape:
    """The lowered tape of the signature ``step`` (a CompiledStep) ran last."""
    if not isinstance(step, CompiledStep):
        raise TypeError(f"schedule: expected the CompiledStep that minigrad.compile returns, "
                        f"got {type(step).__name__}")
    if not step._entries:
        raise ValueError("schedule: the compiled step has not run yet; its kernels are made on "
                         "the first replays of a signature (after its two recordings, two calls lower "
                         "it and compare)")
    entry = next(reversed(step._entries.values()))
    if not isinstance(entry.tape, LoweredTape):
        if not step.kernels:
            why = "it was compiled with kernels=False (operation-level replay)"
        elif entry.lowered is None:
            why = ("its last signature has not been lowered yet: the kernels are made by the "
                   "third and fourth calls (two recordings, then two lowerings compared)")
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
    """One value the kernels hold: ``label`` (``b3``; ``c0`` for a constant,
    memory no kernel writes; a parameter's path, ``grad`` and its path,
    ``arg0`` for the step's arguments), the ``array`` it was first seen as
    (its memory) with its ``shape`` and ``dtype``, ``kind`` ("buffer",
    "constant", "parameter", "gradient", "argument") and ``block``, the index
    of the memory block it lies in. Views of it (a transpose, a reshape) are
    the same Buffer."""

    __slots__ = ("label", "array", "shape", "dtype", "kind", "block")

    def __init__(self, label, a, kind, block):
        self.label, self.array, self.shape, self.dtype = label, a, a.shape, a.dtype
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

    def held_bytes(self, kinds=("buffer", "gradient", "argument", "constant")) -> int:
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
    written = {memory.block(a) for _, writes in kernels for a in writes}
    values, buffers, steps = {}, [], []
    counts = {"buffer": 0, "constant": 0}

    def new_value(blk, a):
        role = roles.get(blk)
        if role is None:
            # Memory no kernel writes holds what the recorded call left there: an
            # index, a table the step made once.
            kind = "buffer" if blk in written else "constant"
            role = (f"{kind[0]}{counts[kind]}", kind)
            counts[kind] += 1
        b = values[blk] = Buffer(role[0], a, role[1], blk)
        buffers.append(b)
        return b

    for k, (reads, writes) in zip(lowered.kernels, kernels):
        read_blocks = [memory.block(a) for a in reads]
        read_values = [values.get(blk) or new_value(blk, a) for blk, a in zip(read_blocks, reads)]
        outputs = []
        for a in writes:
            blk = memory.block(a)
            # A kernel that fills a whole block without reading it starts a new
            # value there: the block's previous value is dead, its memory reused.
            if blk not in values or (blk not in read_blocks and memory.covers(a, blk)
                                     and roles.get(blk) is None and not _partial(k.name)):
                new_value(blk, a)
            outputs.append(values[blk])
        if _stores(k.run):     # points .grad at gradients' buffers
            stored = [a for store in _stores(k.run) for a in _store_arrays(store)]
            read_values = [values[blk] for blk in map(memory.block, stored) if blk in values]
        steps.append(Step(k.name, _where(k), _unique(read_values), _unique(outputs)))
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
        for store in _stores(k.run):
            x = store.x
            label = f"grad {names.get(id(x)) or x.name or 'of a leaf'}"
            arrays = _store_arrays(store)
            # A sparse gradient (the book's embedding rows) is its ids and its rows.
            parts = [""] if len(arrays) == 1 else [" ids", " rows"]
            for a, part in zip(arrays, parts):
                roles.setdefault(memory.block(a), (label + part, "gradient"))
    return {blk: role for blk, role in roles.items() if 0 <= blk < len(memory.sizes)}


# Kernels that write some elements of an array in place, through an index.
_PARTIAL = {"setitem", "put", "put_along_axis", "fill_diagonal"}


def _partial(name) -> bool:
    return name in _PARTIAL or name.endswith(".at")


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _stores(run) -> list:
    """The stores into ``.grad`` a kernel makes."""
    if isinstance(run, _Stores):
        return run.stores
    return [run] if isinstance(run, _Store) else []


def _store_arrays(store) -> list:
    g = store.g
    return [g] if isinstance(g, np.ndarray) else [a for a in (getattr(g, "indices", None),
                                                             getattr(g, "rows", None))
                                                  if isinstance(a, np.ndarray)]


def _where(kernel) -> str:
    # A host call runs in Python between kernels, and a store ends the backward
    # pass: neither comes from one operation.
    if isinstance(getattr(kernel.run, "__self__", None), HostCall):
        return "host call"
    if _stores(kernel.run):
        return "backward"
    return kernel.where


# ------------------------------------------------------------------ text
def schedule_text(step) -> str:
    """The schedule of ``step`` (a CompiledStep) as text: one kernel a line,
    in the order a replay runs them (the operation it came from, what it
    reads and writes), then the memory blocks that several buffers share;
    docs/seeing-the-graph.md shows it for a small step."""
    s = schedule(step)
    lines = []
    for i, k in enumerate(s.steps):
        if k.where == "host call":
            lines.append(f"{i:3d}  host call: {k.name}")
            continue
        reads = ", ".join(b.describe() for b in k.reads)
        writes = ", ".join(b.describe() for b in k.writes)
        flow = " ".join(part for part in (reads, writes and f"-> {writes}") if part)
        lines.append(f"{i:3d}  {k.name:<15} {k.where:<20} {flow}".rstrip())
    shared = s.shared_blocks()
    lines.append(f"{len(s.steps)} kernels, {len(s.buffers)} buffers in {len(s.blocks)} memory "
                 f"blocks; {_bytes(s.held_bytes())} held besides the parameters; "
                 f"{len(shared)} blocks shared:")
    for i in shared:
        names = ", ".join(b.label for b in s.blocks[i])
        lines.append(f"  block {i} ({_bytes(s.block_bytes[i])}): {names}")
    return "\n".join(lines)


def _bytes(n) -> str:
    for unit, size in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


# ------------------------------------------------------------------ drawing
# Buffers that take turns in one block share its colour (and a dashed box
# around them); a buffer alone in its block is drawn as minigrad draws values.
_PALETTE = ("#f9c6c9", "#c6e2f9", "#e3d1f5", "#f5f0b8", "#c9ece8", "#f3d3e8")
_STYLE = {
    "kernel": 'shape=box, style="rounded,filled", fillcolor="#d6e9f8", color="#3f73a8"',
    "host": 'shape=box, style="rounded,filled,dashed", fillcolor="#eeeeee", color="#8c8c8c"',
    "parameter": 'shape=ellipse, style=filled, fillcolor="#dcefd6", color="#4f8a3c"',
    "argument": 'shape=ellipse, style="filled,dashed", fillcolor="#f2f2f2", color="#8c8c8c"',
    "constant": 'shape=ellipse, style="filled,dashed", fillcolor="#f2f2f2", color="#8c8c8c"',
    "gradient": 'shape=ellipse, style=filled, fillcolor="#fde3bf", color="#b7791f", penwidth=2',
    "buffer": 'shape=ellipse, style=filled, fillcolor="#fde3bf", color="#b7791f"',
}


def schedule_to_dot(step, rankdir="TB") -> str:
    """DOT source for the schedule of ``step`` (a CompiledStep): the kernels
    as boxes in the order a replay runs them (grey dotted arrows), each
    labelled with its numpy call and the operation it came from; the buffers
    as ellipses labelled with their shape and dtype, an arrow from each
    buffer a kernel reads and to each buffer it writes. Buffers that take
    turns in one memory block are boxed together and share a colour.
    Parameters are green, the step's arguments grey, the gradients stored
    into ``.grad`` heavy-bordered."""
    from .dot import quote

    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"schedule_to_dot: rankdir must be 'LR', 'TB', 'RL' or 'BT', "
                         f"got {rankdir!r}")
    s = schedule(step)
    ids = {id(b): f"m{i}" for i, b in enumerate(s.buffers)}
    lines = ["digraph schedule {", f"  rankdir={rankdir};",
             '  node [fontname="Helvetica", fontsize=10];',
             '  edge [fontname="Helvetica", fontsize=9];']
    for colour, i in enumerate(s.shared_blocks()):
        fill = _PALETTE[colour % len(_PALETTE)]
        lines.append(f"  subgraph cluster_block{i} {{")
        lines.append(f"    label={quote(f'block {i}: {_bytes(s.block_bytes[i])}, shared')}; "
                     f'style="rounded,dashed"; color="#8c8c8c";')
        for b in s.blocks[i]:
            lines.append(f"    {ids[id(b)]} [label={quote(_buffer_label(b))}, "
                         f'{_STYLE[b.kind]}, fillcolor="{fill}"];')
        lines.append("  }")
    shared = set(s.shared_blocks())
    for b in s.buffers:
        if b.block not in shared:
            lines.append(f"  {ids[id(b)]} [label={quote(_buffer_label(b))}, {_STYLE[b.kind]}];")
    for i, k in enumerate(s.steps):
        host = k.where == "host call"
        label = f"{i}: {k.name}" + ("" if host else f"\n{k.where}")
        lines.append(f"  k{i} [label={quote(label)}, {_STYLE['host' if host else 'kernel']}];")
    for i in range(1, len(s.steps)):
        lines.append(f'  k{i - 1} -> k{i} [style=dotted, color="#8c8c8c", arrowsize=0.5];')
    for i, k in enumerate(s.steps):
        for b in k.reads:
            lines.append(f"  {ids[id(b)]} -> k{i};")
        for b in k.writes:
            lines.append(f"  k{i} -> {ids[id(b)]};")
    lines.append("}")
    return "\n".join(lines)


def _buffer_label(b) -> str:
    shape = "x".join(map(str, b.shape)) or "scalar"
    return f"{b.label}\n{shape} {b.dtype}"


def plot_schedule(step, path=None, format=None, **options):
    """Draw the schedule of ``step`` (a CompiledStep) with Graphviz;
    ``options`` are those of :func:`schedule_to_dot`. As
    :func:`minigrad.viz.plot`: a :class:`~minigrad.viz.Picture`, written to
    ``path`` when given; without Graphviz a GraphvizNotFoundError that says
    what to install (the DOT source is written next to ``path``)."""
    from .render import plot_source

    return plot_source(schedule_to_dot(step, **options), path, format)
