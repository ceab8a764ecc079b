"""The floor of a define-by-run engine in CPython: the least an engine of
minigrad's design does per operation, for instructions_per_op.py to count.

One Function and one output Variable per operation, the inputs kept for
backward, a backward pass in generation order that skips its heap along a
chain. Nothing else: no read-only guard, no anomaly mode, no name scopes, no
check of a gradient's shape and dtype, no retained or captured gradients, no
release, no numbers as operands, no multi-output operations. Only the
engine-overhead chain (mul, add, tanh) runs on it; it is not part of
minigrad and never imported by it.

The same design written to be read opens docs/engine.md ("The engine in 120
lines"). This file stays separate: it is the measured floor, so it keeps the
two speed-ups that design leaves out (the raw switch, the heap skipped along a
chain), and tests/test_minimal_engine.py holds both to minigrad's gradients.
"""
from __future__ import annotations

from heapq import heappop, heappush

import numpy as np


class _State:
    def __init__(self):
        self.raw = False


state = _State()


class Variable:
    __slots__ = ("data", "grad", "creator", "generation", "requires_grad")

    def __init__(self, data, requires_grad=True):
        self.data, self.grad, self.creator = data, None, None
        self.generation, self.requires_grad = 0, requires_grad

    def __mul__(self, other):
        return Mul().apply(self, other)

    def __add__(self, other):
        return Add().apply(self, other)


def _output(data, creator, generation):
    v = object.__new__(Variable)
    v.data, v.grad, v.creator = data, None, creator
    v.generation, v.requires_grad = generation, True
    return v


class Function:
    __slots__ = ("inputs", "generation", "xs", "y")
    saves_inputs = True
    saves_output = False

    def apply(self, *inputs):
        if state.raw:
            return self.forward(*[x.data if isinstance(x, Variable) else x for x in inputs])
        arrays, gen = [], -1
        for x in inputs:
            if isinstance(x, Variable):
                arrays.append(x.data)
                if x.requires_grad and x.generation > gen:
                    gen = x.generation
            else:
                arrays.append(x)
        y = self.forward(*arrays)
        if gen < 0:
            return Variable(y, requires_grad=False)
        self.inputs, self.generation = inputs, gen
        if self.saves_inputs:
            self.xs = tuple(arrays)
        if self.saves_output:
            self.y = y
        return _output(y, self, gen + 1)


class Mul(Function):
    __slots__ = ()

    def forward(self, a, b):
        return a * b

    def backward(self, g):
        a, b = self.xs
        return g * b, None     # the chain's constants need no gradient


class Add(Function):
    __slots__ = ()
    saves_inputs = False

    def forward(self, a, b):
        return a + b

    def backward(self, g):
        return g, g


class Tanh(Function):
    __slots__ = ()
    saves_inputs = False
    saves_output = True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, g):
        y = self.y
        return g * (1 - y * y)


def tanh(x):
    return Tanh().apply(x)


def backward(y, seed):
    """dL/d(leaf) into each leaf's .grad, from dL/dy = seed."""
    pending, seen, heap, order = {y: seed}, {y.creator}, [], 0
    f, out = y.creator, y
    state.raw = True
    try:
        while f is not None or heap:
            if f is None:
                _, _, f, out = heappop(heap)
            gxs = f.backward(pending.pop(out))
            if type(gxs) is not tuple:
                gxs = (gxs,)
            found = via = None
            inputs = f.inputs
            for i in range(len(inputs)):
                x, gx = inputs[i], gxs[i]
                if gx is None or not isinstance(x, Variable) or not x.requires_grad:
                    continue
                pending[x] = pending[x] + gx if x in pending else gx
                c = x.creator
                if c is not None and c not in seen:
                    seen.add(c)
                    if found is not None:
                        heappush(heap, (-found.generation, order, found, via))
                        order += 1
                    found, via = c, x
            f = None
            if found is not None:
                if not heap or found.generation > -heap[0][0]:
                    f, out = found, via
                else:
                    heappush(heap, (-found.generation, order, found, via))
                    order += 1
    finally:
        state.raw = False
    for x, g in pending.items():
        x.grad = g


def chain(x, steps):
    """engine_overhead.py's chain on this engine; returns dL/dx."""
    xv = Variable(x)
    y = xv
    for kind, c in steps:
        y = y * c if kind == 0 else y + c if kind == 1 else tanh(y)
    backward(y, np.ones_like(x))
    return xv.grad
