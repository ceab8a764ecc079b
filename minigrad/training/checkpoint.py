"""The resume file of a training run: everything an interrupted run needs to
continue exactly where it stopped, in one atomic .npz.

Arrays: ``model.<name>`` (the weights), ``optim.<key>`` (the optimizer's
state_dict), ``rnn.<i>.h`` / ``rnn.<i>.c`` (the states stateful recurrent
layers carry from batch to batch). ``meta``: one JSON text with the loop's
counters, the batcher's position, the random state and the history. JSON keeps
Python floats exactly (repr round-trips) and the generator's 128-bit integers
whole, which an npz array could not.

Reading checks everything before anything changes: a file that does not fit
the run raises :class:`~minigrad.layers.CheckpointError` listing every
difference, and the model, the optimizer and the random state are untouched.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np

from .. import backend
from ..atomic import atomic_write
from ..layers import CheckpointError
from ..layers.serialization import RESUME_PREFIX, _differences
from ..optimizers.base import OptimizerStateError
from .outputs import to_builtin

__all__ = ["FORMAT", "VERSION", "write_state", "read_state", "weights_arrays",
           "check_weights", "load_optimizer", "recurrent_layers", "recurrent_arrays",
           "check_recurrent", "load_recurrent"]

FORMAT = "minigrad training state"
VERSION = 1


# ------------------------------------------------------------------ the file
def write_state(path, arrays: dict, meta: dict) -> None:
    """Write the arrays and the meta dict to ``path`` as one npz, atomically: a
    failure or a kill mid-write leaves the previous file whole."""
    arrays = dict(arrays)
    arrays["meta"] = np.array(json.dumps(to_builtin(dict(meta, format=FORMAT, version=VERSION)),
                                         allow_nan=True))
    atomic_write(path, lambda f: np.savez(f, **arrays))


def read_state(path, who: str) -> tuple:
    """``(arrays, meta)`` of a resume file, read fully before anything is
    changed; ``who`` names the trainer in the errors."""
    path = Path(path)
    where = f"{who}: cannot resume from {path}"
    if not path.is_file():
        what = "is a folder" if path.is_dir() else "does not exist"
        raise CheckpointError(f"{where}: the file {what}; pass the NAME_resume.npz that a run "
                              f"with checkpoint_every wrote (in its output folder)")
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(b"PK"):
        raise CheckpointError(f"{where}: it is not an .npz file (it starts with {head!r}); "
                              f"pass a file that {who} wrote with checkpoint_every")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"{where}: not a readable .npz file (truncated or corrupt?): "
                              f"{type(e).__name__}: {e}") from e
    meta = arrays.pop("meta", None)
    try:
        meta = None if meta is None else json.loads(str(meta))
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{where}: it holds no training state (a weights file from "
                              "save_weights? load that with load_weights)")
    if meta.get("version") != VERSION:
        raise CheckpointError(f"{where}: training-state version {meta.get('version')}, this "
                              f"minigrad reads version {VERSION}")
    return arrays, meta


# ------------------------------------------------------------------ the parts
def _prefixed(arrays, prefix) -> dict:
    return {k[len(prefix):]: a for k, a in arrays.items() if k.startswith(prefix)}


def weights_arrays(model, optimizer) -> dict:
    """The model's weights and the optimizer's state, as npz members."""
    arrays = {f"model.{name}": backend.as_numpy(p.data) for name, p in model.named_params()}
    for key, value in optimizer.state_dict().items():
        arrays[f"optim.{key}"] = np.asarray(value)
    return arrays


def check_weights(arrays, model) -> list:
    """Problems that keep the file's weights out of ``model`` (empty: none)."""
    return _differences(dict(model.named_params()), _prefixed(arrays, RESUME_PREFIX))


def load_optimizer(arrays, optimizer, where) -> None:
    """Load the optimizer's state; it checks everything before it changes
    anything, so this goes after every other check."""
    try:
        optimizer.load_state_dict(_prefixed(arrays, "optim."))
    except OptimizerStateError as e:
        raise CheckpointError(f"{where}: {e}") from e


def load_weights_from(arrays, model) -> None:
    """Give every parameter the file's values, on the parameter's own device."""
    found = _prefixed(arrays, RESUME_PREFIX)
    for name, p in model.named_params():
        a = found[name]
        p.data = a if isinstance(p.data, np.ndarray) else backend.as_cupy(a)


def recurrent_layers(model) -> list:
    """The sequence layers that carry a state from batch to batch, in the model's
    definition order (the same order in every run)."""
    return [layer for layer in [model] + model.layers()
            if hasattr(layer, "set_state") and hasattr(layer, "h")]


def recurrent_arrays(model) -> dict:
    arrays = {}
    for i, layer in enumerate(recurrent_layers(model)):
        for attr in ("h", "c"):
            state = getattr(layer, attr, None)
            if state is not None:
                arrays[f"rnn.{i}.{attr}"] = backend.as_numpy(state.data)
    return arrays


def check_recurrent(arrays, model, batch_size) -> list:
    problems = []
    layers = recurrent_layers(model)
    for i, layer in enumerate(layers):
        for attr in ("h", "c"):
            a = arrays.get(f"rnn.{i}.{attr}")
            want = (batch_size, layer.hidden_size)
            if a is not None and (tuple(a.shape) != want or a.dtype != layer.Wx.dtype):
                problems.append(f"  rnn.{i}.{attr}: the checkpoint has {tuple(a.shape)} "
                                f"{a.dtype}, {type(layer).__name__} {i} carries {want} "
                                f"{layer.Wx.dtype}")
    extra = {k.split(".")[1] for k in arrays if k.startswith("rnn.")} - \
        {str(i) for i in range(len(layers))}
    if extra:
        problems.append(f"  the checkpoint carries states of {len(layers) + len(extra)} "
                        f"recurrent layers, the model has {len(layers)}")
    return problems


def load_recurrent(arrays, model) -> None:
    for i, layer in enumerate(recurrent_layers(model)):
        xp = backend.get_array_module(layer.Wx.data)
        h, c = (arrays.get(f"rnn.{i}.{attr}") for attr in ("h", "c"))
        layer.set_state(None if h is None else xp.asarray(h), None if c is None else xp.asarray(c))
