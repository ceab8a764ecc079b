"""A layer's parameters by their dotted ``named_params()`` names
("encoder.embed.W"): in memory (:func:`state_dict`, :func:`load_state_dict`)
or in an .npz file (:func:`save_weights`, :func:`load_weights`).

As ``np.savez`` does, ``save_weights("w")`` writes ``w.npz``, and
``load_weights("w")`` reads it back. Saving is atomic: the file is written under a temporary name in the same
directory, flushed to disk and then renamed over the target, so a crash or an
error mid-write leaves the previous file intact. Loading checks the whole file
against the model before it changes anything: on any mismatch it raises
:class:`CheckpointError` listing every difference and the model is untouched.

>>> import os, tempfile, numpy as np
>>> from minigrad.layers import Linear, save_weights, load_weights
>>> path = os.path.join(tempfile.mkdtemp(), "fc")
>>> save_weights(Linear(3, 2, rng=0), path).name
'fc.npz'
>>> fc = Linear(3, 2, rng=1)
>>> load_weights(fc, path)
>>> bool(np.array_equal(fc.W.data, Linear(3, 2, rng=0).W.data))
True
>>> load_weights(Linear(3, 4), path)  # doctest: +ELLIPSIS
Traceback (most recent call last):
...
minigrad.errors.CheckpointError: load_weights: ... does not match the model (Linear); nothing was loaded:
  W: shape differs: the model has (3, 4), the file has (3, 2)
  b: shape differs: the model has (4,), the file has (2,)
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .. import backend
from ..atomic import atomic_write
from ..errors import CheckpointError, describe
from .safe_pickle import load_pickle

__all__ = ["CheckpointError", "save_weights", "load_weights", "state_dict", "load_state_dict",
           "book_params", "load_param_list", "read_weights"]


def _spec(a) -> str:
    return f"{tuple(a.shape)} {a.dtype}"


def npz_path(path) -> Path:
    """``path`` as ``np.savez`` names the file it writes: ``.npz`` appended
    unless the name already ends with it."""
    path = Path(os.fspath(path))
    return path if path.name.endswith(".npz") else path.with_name(path.name + ".npz")


def state_dict(layer) -> dict:
    """Copies of every parameter's array (numpy or cupy, as the parameter's),
    keyed by dotted name, in ``named_params()`` order."""
    return {name: p.data.copy() for name, p in layer.named_params()}


def save_weights(layer, path) -> Path:
    """Write every parameter of ``layer`` to an .npz, atomically, and return
    its path: ``path``, with ``.npz`` appended unless it ends with it (as
    ``np.savez`` does). GPU parameters are saved as numpy arrays."""
    path = npz_path(path)
    arrays = {name: backend.as_numpy(p.data) for name, p in layer.named_params()}
    atomic_write(path, lambda f: np.savez(f, **arrays))
    return path


# Pickles of protocol 2 and later (the book's .pkl files) begin with this byte.
PICKLE_MARK = b"\x80"


def _head(path) -> bytes:
    with open(path, "rb") as f:
        return f.read(6)


def _read(path) -> dict:
    """Every array of the npz at ``path``, read fully (so a corrupt member fails
    here, before the model is touched)."""
    head = _head(path)
    if head == b"\x93NUMPY":
        raise CheckpointError(f"load_weights: {path} is a single .npy array, not an .npz of "
                              "named parameters (write one with save_weights)")
    if not head.startswith(b"PK"):
        raise CheckpointError(f"load_weights: {path} is not an .npz file (it starts with "
                              f"{head!r}, an .npz starts with b'PK', a pickle such as the book's "
                              "Rnnlm.pkl with b'\\x80'); write one with save_weights")
    try:
        with np.load(path, allow_pickle=False) as npz:
            # Reading each member to its end makes zipfile check its CRC, so a
            # damaged byte fails here rather than loading as a wrong weight.
            return {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"load_weights: {path} is not a readable .npz file (truncated "
                              f"or corrupt?): {type(e).__name__}: {e}") from e


def _differences(params: dict, found: dict, where: str = "the file") -> list:
    lines = []
    for name, p in params.items():
        if name not in found:
            lines.append(f"  {name}: missing from {where} (the model has {_spec(p.data)})")
            continue
        a = found[name]
        if tuple(a.shape) != tuple(p.shape):
            lines.append(f"  {name}: shape differs: the model has {tuple(p.shape)}, "
                         f"{where} has {tuple(a.shape)}")
        if a.dtype != p.dtype:
            lines.append(f"  {name}: dtype differs: the model has {p.dtype}, {where} has {a.dtype}")
    for name in found:
        if name not in params:
            lines.append(f"  {name}: unexpected in {where} ({_spec(found[name])}), "
                         "the model has no such parameter")
    return lines


def _assign(layer, found: dict, op: str, where: str, source: str, fresh: bool) -> None:
    """Check ``found`` against every parameter, then set them all, or none.
    ``fresh``: the arrays are the caller's own (just read from a file), so
    they need no copy on the CPU."""
    params = dict(layer.named_params())
    problems = _differences(params, found, where)
    if problems:
        raise CheckpointError(f"{op}: {source} does not match the model "
                              f"({type(layer).__name__}); nothing was loaded:\n"
                              + "\n".join(problems))
    # Build every new array first, so a failure (e.g. out of GPU memory) still
    # leaves the model as it was.
    new = {}
    for name, p in params.items():
        a = found[name]
        if not isinstance(p.data, np.ndarray):
            new[name] = backend.as_cupy(a).copy()
        else:
            new[name] = a if fresh else np.array(backend.as_numpy(a), copy=True)
    for name, p in params.items():
        p.data = new[name]


def load_state_dict(layer, state: dict) -> None:
    """Set every parameter of ``layer`` from ``state`` (dotted name -> array),
    as :func:`state_dict` gives it.

    Names, shapes and dtypes must match exactly; otherwise a
    :class:`CheckpointError` lists every difference and nothing is loaded.
    Each parameter gets a fresh copy on its own device (numpy or cupy), so
    neither ``state`` nor a graph still holding the old values is disturbed."""
    _assign(layer, state, "load_state_dict", "the state dict", "the state dict", fresh=False)


# The training loop's resume file keeps the model's weights under this prefix.
RESUME_PREFIX = "model."


def _resume_model_part(found: dict) -> dict:
    """The model's weights of a resume file (the training loop's checkpoint:
    the weights under ``model.``, beside the optimizer's state and a ``meta``
    record); any other file as it is."""
    if "meta" not in found or not any(name.startswith(RESUME_PREFIX) for name in found):
        return found
    return {name[len(RESUME_PREFIX):]: a for name, a in found.items()
            if name.startswith(RESUME_PREFIX)}


def book_params(path) -> list:
    """The arrays of a pickled list of weights, such as the book's ``Rnnlm.pkl``
    (its ``save_params`` writes the ``params`` list), read with the safe
    :func:`~minigrad.layers.safe_pickle.load_pickle`: a file that would run
    code is refused before anything in it runs."""
    data = load_pickle(path)
    if isinstance(data, (list, tuple)) and all(isinstance(a, np.ndarray) for a in data):
        return list(data)
    what = (f"a dict with keys {sorted(map(str, data))}" if isinstance(data, dict)
            else f"a {type(data).__name__}")
    raise CheckpointError(f"load_weights: {path} holds {what}, not a list of arrays in a "
                          "model's params order (what the book's save_params writes)")


def load_param_list(layer, arrays, source="the list") -> None:
    """Set the parameters of ``layer`` from ``arrays`` taken in
    ``named_params()`` order, which for the book's models is the order of the
    book's ``params`` lists. Each array is cast to its parameter's dtype (the
    book stores float16; its code computes in float32, as minigrad's models
    do by default). A count or a shape that differs raises
    :class:`CheckpointError` and nothing is loaded."""
    params = list(layer.named_params())
    if len(arrays) != len(params):
        raise CheckpointError(
            f"load_weights: {source} holds {len(arrays)} arrays ({describe(arrays)}), the model "
            f"({type(layer).__name__}) has {len(params)} parameters "
            f"({', '.join(name for name, _ in params)}); nothing was loaded")
    found = {name: np.asarray(a).astype(p.dtype) for (name, p), a in zip(params, arrays)}
    _assign(layer, found, "load_weights", "the file", source, fresh=True)


def load_weights(layer, path) -> None:
    """Set every parameter of ``layer`` from the file at ``path`` (or at
    ``path`` + ``.npz``, the file ``save_weights(layer, path)`` writes):

    * an .npz of :func:`save_weights`: names, shapes and dtypes must match;
    * a resume file of the training loop (``checkpoint_every``): its model
      weights are loaded, the optimizer's state and the rest are left alone;
    * a pickled list of arrays, such as the book's ``Rnnlm.pkl``: read safely
      and loaded in order (:func:`load_param_list`).

    Anything that does not fit raises :class:`CheckpointError` listing every
    difference, and nothing is loaded. Each parameter gets a fresh array on
    its own device (numpy or cupy), so a graph still holding the old values is
    not disturbed."""
    path = _existing(path)
    found = read_weights(path)
    if isinstance(found, list):
        load_param_list(layer, found, path)
    else:
        _assign(layer, found, "load_weights", "the file", path, fresh=True)


def _existing(path) -> str:
    """``path``, or ``path`` + ``.npz`` where only that exists."""
    path = os.fspath(path)
    if not os.path.exists(path) and os.path.exists(npz_path(path)):
        path = os.fspath(npz_path(path))
    return path


def read_weights(path):
    """The weights in the file at ``path``, as :func:`load_weights` reads them:
    a dict of named arrays (an .npz of :func:`save_weights`, or the model's
    part of a resume file), or a list of arrays (a pickle such as the book's
    ``Rnnlm.pkl``, read safely)."""
    path = _existing(path)
    if _head(path).startswith(PICKLE_MARK):
        return book_params(path)
    return _resume_model_part(_read(path))
