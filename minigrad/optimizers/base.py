"""Optimizer: the loop every update rule shares (hooks, skipping, state, resuming)."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.sparse import SparseRows
from ..core.variable import Variable
from ..errors import MinigradError


class OptimizerStateError(MinigradError, ValueError):
    """A state dict that does not fit the optimizer it is loaded into (another
    optimizer type, another number of parameters, other shapes or dtypes)."""


class Optimizer:
    """Base of every optimizer.

    ``params`` is a Layer (anything with a ``params()`` method) or an iterable
    of Parameters. From a Layer the parameters are read again at every
    :meth:`update` (so parameters a layer creates on its first forward are
    included) and carry their dotted names (``named_params()``, when it has
    one) into :meth:`state_dict`. An iterable is read once, each Parameter kept once
    (by identity) in the order given: a tied weight listed twice is still
    updated once.

    :meth:`update` runs the hooks on the gradients, in the order they were
    added, then updates in place every parameter whose ``grad`` is not None.

    A subclass names its hyper-parameters (``hyperparams``, Python floats so
    that a float32 parameter stays float32) and its per-parameter state arrays
    (``slots``, made lazily with the parameter's shape, dtype and device), and
    writes :meth:`update_one`.
    """

    hyperparams: tuple = ()
    slots: tuple = ()

    def __init__(self, params):
        # Anything with params() (a Layer, a whole model) is read again at each update.
        self.target = params if callable(getattr(params, "params", None)) else None
        self._fixed = None if self.target is not None else _unique(params)
        self.hooks = []
        self.steps = 0          # update() calls so far (Adam's t)
        self._state = {}        # id(param) -> (param, {slot: array}); the param is
        #                         held so that its id cannot be reused by another object

    # ------------------------------------------------------------ parameters
    def params(self) -> list:
        """The parameters this optimizer updates, each once, in order."""
        if self.target is None:
            return list(self._fixed)
        return self.target.params()

    def _names(self):
        named = getattr(self.target, "named_params", None)
        return None if named is None else [n for n, _ in named()]

    def zero_grad(self):
        """Drop every parameter's gradient (the next backward starts from zero)."""
        for p in self.params():
            p.cleargrad()

    cleargrads = zero_grad

    # ------------------------------------------------------------ hooks
    def add_hook(self, hook):
        """Run ``hook(params)`` on the parameters that have a gradient, before each
        update, after the hooks added earlier. Returns the hook."""
        self.hooks.append(hook)
        return hook

    # ------------------------------------------------------------ updating
    def update(self):
        """One optimization step: hooks, then each parameter with a gradient."""
        live = [p for p in self.params() if p.grad is not None]
        for p in live:
            if isinstance(p.grad, SparseRows):
                # Each row once, so hooks see true row gradients (norms, decay).
                p.grad = p.grad.coalesced()
        for hook in self.hooks:
            hook(live)
        self.steps += 1
        for p in live:
            if isinstance(p.grad, SparseRows):
                self._update_rows(p, p.grad)
            else:
                self.update_one(p, p.grad.data)

    def _update_rows(self, param, grad):
        """Lazy update of a sparse gradient: the same rule, applied only to the
        touched rows of the parameter and of its state. For SGD this equals the
        dense update; for rules with state (momentum, Adam's moments) rows never
        looked up keep their state unchanged instead of decaying, as in
        PyTorch's SparseAdam: close to, not identical to, the dense rule."""
        rows = _Rows(param.data[grad.indices],
                     {k: a[grad.indices] for k, a in self.state_of(param).items()})
        self.update_one(rows, grad.rows)
        param.data[grad.indices] = rows.data
        for k, a in self.state_of(param).items():
            a[grad.indices] = rows.state[k]

    def update_one(self, param, grad):
        """Update ``param.data`` in place from ``grad``, a dense array of its shape."""
        raise NotImplementedError(f"{type(self).__name__}.update_one is not defined")

    def state_of(self, param) -> dict:
        """``param``'s state arrays by slot name, made as zeros on first use."""
        if type(param) is _Rows:
            return param.state
        entry = self._state.get(id(param))
        if entry is None:
            xp = backend.get_array_module(param.data)
            entry = (param, {s: xp.zeros_like(param.data) for s in self.slots})
            self._state[id(param)] = entry
        return entry[1]

    # ------------------------------------------------------------ resuming
    def state_dict(self) -> dict:
        """Everything needed to resume exactly, as a flat dict of numbers,
        strings and numpy arrays (copies), so ``np.savez(f, **state)`` can save it.

        Keys: ``optimizer`` (class name), ``steps``, ``hyper.<name>``,
        ``params`` (count), ``param.<i>.shape`` / ``.dtype`` (/ ``.name`` when
        built from a Layer) and ``state.<i>.<slot>`` for each parameter that has
        state, ``i`` being the parameter's position. Hooks are not included:
        like the model's layers they are code, rebuilt by the script.
        """
        params, names = self.params(), self._names()
        out = {"optimizer": type(self).__name__, "steps": self.steps, "params": len(params)}
        for h in self.hyperparams:
            out[f"hyper.{h}"] = getattr(self, h)
        for i, p in enumerate(params):
            out[f"param.{i}.shape"] = tuple(p.shape)
            out[f"param.{i}.dtype"] = str(p.dtype)
            if names is not None:
                out[f"param.{i}.name"] = names[i]
            entry = self._state.get(id(p))
            if entry is not None:
                for slot, a in entry[1].items():
                    out[f"state.{i}.{slot}"] = np.array(backend.as_numpy(a), copy=True)
        return out

    def load_state_dict(self, state: dict):
        """Restore what :meth:`state_dict` returned (or ``dict(np.load(f))``).

        Everything is checked before anything changes: on an
        :class:`OptimizerStateError` the optimizer is left as it was."""
        kind = _text(state.get("optimizer"))
        if kind != type(self).__name__:
            raise OptimizerStateError(f"load_state_dict: the state is of a {kind} optimizer, "
                                      f"this one is {type(self).__name__}")
        params, names = self.params(), self._names()
        count = state.get("params")
        if count is None or int(count) != len(params):
            raise OptimizerStateError(f"load_state_dict: the state holds {count} parameters, "
                                      f"this {type(self).__name__} has {len(params)}")
        known = {"optimizer", "steps", "params"} | {f"hyper.{h}" for h in self.hyperparams}
        hyper = {}
        for h in self.hyperparams:
            if f"hyper.{h}" not in state:
                raise OptimizerStateError(f"load_state_dict: hyper-parameter {h!r} is missing")
            hyper[h] = float(state[f"hyper.{h}"])
        if "steps" not in state:
            raise OptimizerStateError("load_state_dict: 'steps' is missing")
        new_state = {}
        for i, p in enumerate(params):
            label = _label(i, p, names)
            shape = _shape(state.get(f"param.{i}.shape"))
            dtype = _text(state.get(f"param.{i}.dtype"))
            known |= {f"param.{i}.shape", f"param.{i}.dtype", f"param.{i}.name"}
            if shape != tuple(p.shape) or dtype != str(p.dtype):
                raise OptimizerStateError(
                    f"load_state_dict: parameter {label} is {tuple(p.shape)} {p.dtype} here but "
                    f"{shape} {dtype} in the state")
            saved_name = state.get(f"param.{i}.name")
            if names is not None and saved_name is not None and _text(saved_name) != names[i]:
                raise OptimizerStateError(
                    f"load_state_dict: parameter {i} is named {names[i]!r} here but "
                    f"{_text(saved_name)!r} in the state")
            known |= {f"state.{i}.{slot}" for slot in self.slots}
            arrays = self._arrays_from(state, i, p, label)
            if arrays:
                new_state[id(p)] = (p, arrays)
        unknown = sorted(set(state) - known)
        if unknown:
            raise OptimizerStateError(f"load_state_dict: unexpected keys {unknown[:5]} for "
                                      f"{type(self).__name__}")
        for h, v in hyper.items():
            setattr(self, h, v)
        self.steps = int(state["steps"])
        self._state = new_state

    def _arrays_from(self, state, i, p, label) -> dict:
        """Parameter ``i``'s state arrays from ``state``, checked, as copies on
        ``p``'s device (later in-place updates must not write into the caller's
        dict); {} when it has none yet."""
        arrays = {}
        for slot in self.slots:
            key = f"state.{i}.{slot}"
            if key not in state:
                continue
            a = backend.as_numpy(state[key])
            if tuple(a.shape) != tuple(p.shape) or a.dtype != p.dtype:
                raise OptimizerStateError(
                    f"load_state_dict: state {slot!r} of parameter {label} is "
                    f"{tuple(a.shape)} {a.dtype}, the parameter is {tuple(p.shape)} {p.dtype}")
            arrays[slot] = backend.get_array_module(p.data).array(a, copy=True)
        if arrays and len(arrays) != len(self.slots):
            raise OptimizerStateError(f"load_state_dict: parameter {label} has state "
                                      f"{sorted(arrays)} but needs all of {list(self.slots)}")
        return arrays

    def __repr__(self):
        hp = ", ".join(f"{h}={getattr(self, h)!r}" for h in self.hyperparams)
        return f"{type(self).__name__}({hp})"


# ---------------------------------------------------------------- helpers
class _Rows:
    """Some rows of a parameter and of its state, standing in for the parameter
    while a rule updates them (see Optimizer._update_rows)."""

    __slots__ = ("data", "state")

    def __init__(self, data, state):
        self.data, self.state = data, state


def _unique(params) -> list:
    if isinstance(params, Variable):  # iterating a Variable would walk its rows
        params = [params]
    out, seen = [], set()
    for p in params:
        if not isinstance(p, Variable):
            raise TypeError(f"optimizer: expected a Layer or Parameters, got a {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _text(v):
    """A str from a str or a 0-d numpy string array (what np.load gives back)."""
    return None if v is None else str(v.item() if isinstance(v, np.ndarray) else v)


def _shape(v):
    return None if v is None else tuple(int(n) for n in np.asarray(v).reshape(-1))


def _label(i, p, names):
    return f"{i} ({names[i]!r})" if names is not None else str(i)
