"""Reading a pickle that may hold only plain data: lists, tuples, dicts,
strings, numbers and numpy arrays, such as the trained weights the book ships
(``Rnnlm.pkl``, ``AttentionSeq2seq.pkl``, ``cbow_params.pkl``).

Plain ``pickle.load`` is unsafe on a file from elsewhere: a pickle names
functions to call while it loads (``os.system`` as easily as numpy's array
constructor), and ``pickle.load`` calls them. :func:`load_pickle` resolves only
the few numpy names that rebuild a plain array; any other name is refused with
:class:`UnsafePickleError` before it is imported, let alone called.

>>> import io, os, pickle, numpy as np
>>> data = pickle.dumps([np.ones(2, dtype=np.float16), {"n": 3}])
>>> load_pickle(io.BytesIO(data))
[array([1., 1.], dtype=float16), {'n': 3}]
>>> load_pickle(io.BytesIO(pickle.dumps(os.getcwd)))  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
minigrad.layers.safe_pickle.UnsafePickleError: load_pickle: ... refused the global '...getcwd': ...
"""
from __future__ import annotations

import codecs
import os
import pickle

import numpy as np

from ..errors import CheckpointError

__all__ = ["UnsafePickleError", "load_pickle"]


class UnsafePickleError(CheckpointError):
    """A pickle that names something other than what plain numpy arrays need:
    it could run code when loaded, so it is not loaded."""


def _numpy_core():
    """numpy's private core module: ``numpy._core`` since numpy 2,
    ``numpy.core`` before."""
    return getattr(np, "_core", None) or np.core


def _allowed() -> dict:
    """(module, name) -> object: everything a pickle of plain arrays names.
    Pickles written by numpy 1 say ``numpy.core``, numpy 2 ``numpy._core``;
    both resolve to this numpy's own functions."""
    core = _numpy_core()
    table = {}
    for package in ("numpy.core", "numpy._core"):
        table[(f"{package}.multiarray", "_reconstruct")] = core.multiarray._reconstruct
        table[(f"{package}.numeric", "_frombuffer")] = core.numeric._frombuffer  # protocol 5
    table[("numpy", "ndarray")] = np.ndarray
    table[("numpy", "dtype")] = np.dtype
    # Protocol 2 stores an array's bytes as text encoded back by _codecs.encode.
    table[("_codecs", "encode")] = codecs.encode
    return table


class _PlainDataUnpickler(pickle.Unpickler):
    def __init__(self, file, source):
        super().__init__(file)
        self._source = source
        self._table = _allowed()

    def find_class(self, module, name):
        obj = self._table.get((module, name))
        if obj is None:
            raise UnsafePickleError(
                f"load_pickle: {self._source} refused the global '{module}.{name}': this "
                "loader accepts only lists, tuples, dicts, strings, numbers and numpy arrays, "
                "and loading that name could run code. Nothing from the file was run. Load "
                "it with plain pickle.load only if you trust whoever wrote it.")
        return obj

    def persistent_load(self, pid):
        raise UnsafePickleError(f"load_pickle: {self._source} refers to an outside object "
                                f"({pid!r}); only plain data is accepted")


def load_pickle(file):
    """The contents of the pickle ``file`` (a path or a binary file object),
    refusing with :class:`UnsafePickleError` any global other than the numpy
    names plain arrays need (see the module's docstring)."""
    if hasattr(file, "read"):
        return _load(file, "the pickle")
    path = os.fspath(file)
    with open(path, "rb") as f:
        return _load(f, path)


def _load(f, source):
    try:
        return _PlainDataUnpickler(f, source).load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError) as e:
        raise CheckpointError(f"load_pickle: {source} is not a readable pickle (truncated or "
                              f"corrupt?): {type(e).__name__}: {e}") from e
