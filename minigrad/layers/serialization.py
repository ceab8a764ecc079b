"""Saving and loading a layer's parameters as an .npz file keyed by the dotted
``named_params()`` names ("encoder.embed.W").

Saving is atomic: the file is written under a temporary name in the same
directory, flushed to disk and then renamed over the target, so a crash or an
error mid-write leaves the previous file intact. Loading checks the whole file
against the model before it changes anything: on any mismatch it raises
:class:`CheckpointError` listing every difference and the model is untouched.

>>> import os, tempfile, numpy as np
>>> from minigrad.layers import Linear, save_weights, load_weights
>>> path = os.path.join(tempfile.mkdtemp(), "fc.npz")
>>> save_weights(Linear(3, 2, rng=0), path)
>>> fc = Linear(3, 2, rng=1)
>>> load_weights(fc, path)
>>> bool(np.array_equal(fc.W.data, Linear(3, 2, rng=0).W.data))
True
>>> load_weights(Linear(3, 4), path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
minigrad.layers.serialization.CheckpointError: load_weights: ... does not match the model (Linear); nothing was loaded:
  W: shape differs: the model has (3, 4), the file has (3, 2)
  b: shape differs: the model has (4,), the file has (2,)
"""
from __future__ import annotations

import os
import zipfile

import numpy as np

from .. import backend
from ..atomic import atomic_write
from ..errors import MinigradError

__all__ = ["CheckpointError", "save_weights", "load_weights"]


class CheckpointError(MinigradError, ValueError):
    """A weights file that cannot be loaded into this model: unreadable, not an
    npz, or with names, shapes or dtypes that differ from the model's."""


def _spec(a) -> str:
    return f"{tuple(a.shape)} {a.dtype}"


def save_weights(layer, path) -> None:
    """Write every parameter of ``layer`` to ``path`` (an .npz, exactly at that
    path), atomically. GPU parameters are saved as numpy arrays."""
    arrays = {name: backend.as_numpy(p.data) for name, p in layer.named_params()}
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _read(path) -> dict:
    """Every array of the npz at ``path``, read fully (so a corrupt member fails
    here, before the model is touched)."""
    with open(path, "rb") as f:
        head = f.read(6)
    if head == b"\x93NUMPY":
        raise CheckpointError(f"load_weights: {path} is a single .npy array, not an .npz of "
                              "named parameters (write one with save_weights)")
    if not head.startswith(b"PK"):
        raise CheckpointError(f"load_weights: {path} is not an .npz file (it starts with "
                              f"{head!r}, an .npz starts with b'PK'); write one with save_weights")
    try:
        with np.load(path, allow_pickle=False) as npz:
            # Reading each member to its end makes zipfile check its CRC, so a
            # damaged byte fails here rather than loading as a wrong weight.
            return {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"load_weights: {path} is not a readable .npz file (truncated "
                              f"or corrupt?): {type(e).__name__}: {e}") from e


def _differences(params: dict, found: dict) -> list:
    lines = []
    for name, p in params.items():
        if name not in found:
            lines.append(f"  {name}: missing from the file (the model has {_spec(p.data)})")
            continue
        a = found[name]
        if tuple(a.shape) != tuple(p.shape):
            lines.append(f"  {name}: shape differs: the model has {tuple(p.shape)}, "
                         f"the file has {tuple(a.shape)}")
        if a.dtype != p.dtype:
            lines.append(f"  {name}: dtype differs: the model has {p.dtype}, the file has {a.dtype}")
    for name in found:
        if name not in params:
            lines.append(f"  {name}: unexpected in the file ({_spec(found[name])}), "
                         "the model has no such parameter")
    return lines


def load_weights(layer, path) -> None:
    """Set every parameter of ``layer`` from the npz at ``path``.

    Names, shapes and dtypes must match exactly; otherwise a
    :class:`CheckpointError` lists every difference and nothing is loaded. Each
    parameter gets a fresh array on its own device (numpy or cupy), so a graph
    still holding the old values is not disturbed."""
    path = os.fspath(path)
    found = _read(path)
    params = dict(layer.named_params())
    problems = _differences(params, found)
    if problems:
        raise CheckpointError(f"load_weights: {path} does not match the model "
                              f"({type(layer).__name__}); nothing was loaded:\n"
                              + "\n".join(problems))
    # Build every new array first, so a failure (e.g. out of GPU memory) still
    # leaves the model as it was.
    new = {}
    for name, p in params.items():
        a = found[name]
        new[name] = a if isinstance(p.data, np.ndarray) else backend.as_cupy(a)
    for name, p in params.items():
        p.data = new[name]
