"""numpy's functions on Variables: the minigrad operation each one runs.

``np.tanh(v)`` is ``tanh(v)``, ``ndarray * v`` is ``mul``,
``np.concatenate([v, w])`` is ``concat``: numpy_protocol.py routes
numpy's calls on Variables through this table, and explains the rest
(docs/engine.md, "numpy and Variables"). Each entry takes numpy's arguments.
"""
from __future__ import annotations

import numpy as np

from .numpy_protocol import hint, register
from . import arithmetic as A
from . import elementwise as E
from . import reduction as R
from . import shape as S
from .linalg import matmul


def _repeat(a, repeats, axis=None):
    # numpy's default axis=None repeats the flattened array
    return S.repeat(S.flatten(a), repeats, axis=0) if axis is None else S.repeat(a, repeats, axis)


def _square(x):
    return A.pow(x, 2)


UFUNCS = {
    np.add: A.add, np.subtract: A.sub, np.multiply: A.mul, np.divide: A.div,
    np.negative: A.neg, np.power: A.pow, np.maximum: A.maximum, np.minimum: A.minimum,
    np.matmul: matmul, np.exp: E.exp, np.log: E.log, np.log1p: E.log1p, np.sqrt: E.sqrt,
    np.absolute: E.abs, np.sin: E.sin, np.cos: E.cos, np.tanh: E.tanh,
}
FUNCTIONS = {
    np.sum: R.sum, np.mean: R.mean, np.max: R.max, np.min: R.min, np.amax: R.max,
    np.amin: R.min, np.argmax: R.argmax, np.argmin: R.argmin, np.reshape: S.reshape,
    np.transpose: S.transpose, np.ravel: S.flatten, np.squeeze: S.squeeze,
    np.expand_dims: S.expand_dims, np.broadcast_to: S.broadcast_to, np.concatenate: S.concat,
    np.stack: S.stack, np.split: S.split, np.where: A.where, np.clip: E.clip, np.copy: E.copy,
}
for numpy_function, operation in {**UFUNCS, **FUNCTIONS}.items():
    register(numpy_function, operation)
register(np.repeat, _repeat, "F.repeat")
register(np.square, _square, "x ** 2")

hint("np.dot", "x @ W (F.matmul)")
hint("np.add.reduce", "F.sum(v, axis)")
hint("np.maximum.reduce", "F.max(v, axis)")
hint("np.minimum.reduce", "F.min(v, axis)")
hint("np.linalg.norm", "F.sqrt(F.sum(v * v))")
hint("np.var", "F.mean((v - v.mean()) ** 2)")
