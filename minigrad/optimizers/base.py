"""Optimizer: the loop every update rule shares (hooks, skipping, state, resuming)."""
from __future__ import annotations

import numpy as np

import math
import warnings

from .. import backend
from ..core.sparse import SparseRows
from ..compiled import replayed
from ..core.variable import Variable
from ..errors import MinigradError, other_names


class OptimizerStateError(MinigradError, ValueError):
    """A state dict that does not fit the optimizer it is loaded into (another
    optimizer type, another number of parameters, other shapes or dtypes)."""


class NoGradientWarning(UserWarning):
    """An optimizer step in which none of the optimizer's parameters had a
    gradient: nothing was trained (usually an optimizer built on another
    model's parameters, or update() before backward())."""


# What each hyper-parameter must be: (the words for it, the test).
_HYPER_RULES = {
    "lr": ("a finite number >= 0", lambda v: 0 <= v < math.inf),
    "momentum": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "decay_rate": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "beta1": ("a number in [0, 1)", lambda v: 0 <= v < 1),
    "beta2": ("a number in [0, 1)", lambda v: 0 <= v < 1),
}



@other_names   # PyTorch's and DeZero's names say what minigrad calls them
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

    Sparse gradients (:class:`~minigrad.SparseRows`, from
    ``Embedding(sparse=True)``) are a way of storing a gradient, not another
    rule: by default (``lazy=False``) every optimizer applies its rule to every
    row, the rows without a gradient taking the step of a zero gradient, so
    the result is the dense rule's. ``lazy=True`` updates only the rows the
    gradient holds, their state included (PyTorch's ``SparseAdam``): faster,
    and for rules with state (Momentum, RMSprop, Adam) a different
    algorithm, since the other rows' moments neither decay nor move them.

    A subclass names its hyper-parameters (``hyperparams``, Python floats so
    that a float32 parameter stays float32) and its per-parameter state arrays
    (``slots``, made lazily with the parameter's shape, dtype and device), and
    writes :meth:`update_one`.
    """

    hyperparams: tuple = ()
    slots: tuple = ()
    # True where a zero gradient changes neither the parameter nor its state
    # (SGD, AdaGrad): updating only the rows a sparse gradient holds is then
    # the dense rule itself, lazy or not.
    rows_only_is_exact = False

    def __init__(self, params, *, lazy: bool = False):
        # Anything with params() (a Layer, a whole model) is read again at each update.
        self.model = params if callable(getattr(params, "params", None)) else None
        self._fixed = None if self.model is not None else _unique(type(self).__name__, params)
        self._warned_no_grad = False
        self.lazy = bool(lazy)
        self.hooks = []
        self.steps = 0          # update() calls so far (Adam's t)
        self._state = {}        # id(param) -> (param, {slot: array}); the param is
        #                         held so that its id cannot be reused by another object
        self._scratch = {}      # (shape, dtype, array type) -> work arrays reused every step

    # ------------------------------------------------------------ parameters
    def params(self) -> list:
        """The parameters this optimizer updates, each once, in order."""
        if self.model is None:
            return list(self._fixed)
        return self.model.params()

    def _names(self):
        named = getattr(self.model, "named_params", None)
        return None if named is None else [n for n, _ in named()]

    @replayed   # a compiled step calls it again on every replay
    def zero_grad(self):
        """Drop every parameter's gradient (the next backward starts from zero)."""
        for p in self.params():
            p.cleargrad()

    cleargrads = zero_grad

    def __setattr__(self, name, value):
        # Every hyper-parameter is checked where it is set: by the
        # constructor, by a learning-rate schedule, by load_state_dict.
        if name in type(self).hyperparams:
            value = _checked_hyper(type(self).__name__, name, value)
        object.__setattr__(self, name, value)


    # ------------------------------------------------------------ hooks
    def add_hook(self, hook):
        """Run ``hook(params)`` on the parameters that have a gradient, before each
        update, after the hooks added earlier. Returns the hook.

        With ``lazy=False`` a sparse gradient reaches the hooks as a dense
        array, so that a hook acts on every row as it would in the dense rule,
        unless the hook says (``exact_on_rows = True``, as ClipGradNorm does)
        that acting on the rows alone gives the same result."""
        self.hooks.append(hook)
        return hook

    # ------------------------------------------------------------ updating
    @replayed   # reads the learning rate, the step count and the state live
    def update(self):
        """One optimization step: hooks, then each parameter with a gradient.
        ``step()`` is another name for it (PyTorch's)."""
        params = self.params()
        live = [p for p in params if p.grad is not None]
        if not live and params and not self._warned_no_grad:
            self._warned_no_grad = True
            warnings.warn(_no_gradient_message(self, len(params)), NoGradientWarning,
                          stacklevel=2)
        densify = self.hooks_need_dense()
        for p in live:
            if isinstance(p.grad, SparseRows):
                # Each row once, so hooks see true row gradients (norms, decay).
                p.grad = (Variable(p.grad.to_dense(), requires_grad=False) if densify
                          else p.grad.coalesced())
        for hook in self.hooks:
            hook(live)
        self.apply_rule(live)

    def hooks_need_dense(self) -> bool:
        """Whether sparse gradients reach the hooks as dense arrays (see add_hook)."""
        return not self.lazy and any(not getattr(h, "exact_on_rows", False) for h in self.hooks)

    def apply_rule(self, live):
        """The rule alone, once, on ``live`` (objects with ``data`` and a
        ``grad``, the hooks already run): one step counted. ``update`` calls it
        with the parameters; a sharded optimizer with each rank's slices of
        them, whose state is then its own."""
        self.steps += 1
        for p in live:
            if not isinstance(p.grad, SparseRows):
                self.update_one(p, p.grad.data)
            elif self.lazy or self.rows_only_is_exact:
                self._update_rows(p, p.grad)
            else:
                self.update_every_row(p, p.grad)

    def step(self):
        """PyTorch's name for :meth:`update`."""
        self.update()

    def update_every_row(self, param, grad):
        """The dense rule for a (coalesced) SparseRows gradient: the rows it
        holds take their step, every other row the step of a zero gradient.
        This one makes the dense gradient; a rule that can take the
        zero-gradient step without one (Adam) overrides it."""
        self.update_one(param, grad.to_dense())

    def _update_rows(self, param, grad, zero_step=None):
        """Update the rows ``grad`` holds, in the parameter and in its state,
        with the same rule (``update_one`` on the gathered rows). Alone this is
        the lazy update. ``zero_step(param)``, when given, first takes the
        zero-gradient step on the whole table; the rows were read before it,
        so they take their own step from their old values: the dense rule."""
        idx = grad.indices
        state = self.state_of(param)
        rows = _Rows(param.data[idx], {k: a[idx] for k, a in state.items()})
        if zero_step is not None:
            zero_step(param)
        self.update_one(rows, grad.rows)
        param.data[idx] = rows.data
        for k, a in state.items():
            a[idx] = rows.state[k]

    def update_one(self, param, grad):
        """Update ``param.data`` in place from ``grad``, a dense array of its shape."""
        raise NotImplementedError(f"{type(self).__name__}.update_one is not defined")

    def scratch(self, param, n: int) -> list:
        """``n`` work arrays shaped like ``param.data``. For a whole parameter
        they are kept and shared by every parameter of that shape and dtype, so
        a step allocates nothing; for the rows of a sparse update (a
        different count each step) they are made afresh."""
        xp = backend.get_array_module(param.data)
        if type(param) is _Rows:
            return [xp.empty_like(param.data) for _ in range(n)]
        key = (tuple(param.data.shape), str(param.data.dtype), type(param.data))
        arrays = self._scratch.setdefault(key, [])
        while len(arrays) < n:
            arrays.append(xp.empty_like(param.data))
        return arrays[:n]

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

    def held_state(self, param):
        """``param``'s state arrays by slot name, or None when it has none yet
        (unlike :meth:`state_of`, makes none)."""
        entry = self._state.get(id(param))
        return None if entry is None else entry[1]

    def set_state(self, param, arrays):
        """Give ``param`` the state ``arrays`` ({slot: array}, used as they are),
        or none (``arrays`` None)."""
        if arrays is None:
            self._state.pop(id(param), None)
        else:
            self._state[id(param)] = (param, arrays)

    # ------------------------------------------------------------ resuming
    def state_dict(self) -> dict:
        """Everything needed to resume exactly, as a flat dict of numbers,
        strings and numpy arrays (copies), so ``np.savez(f, **state)`` can save it.

        Keys: ``optimizer`` (class name), ``steps``, ``lazy``, ``hyper.<name>``,
        ``params`` (count), ``param.<i>.shape`` / ``.dtype`` (/ ``.name`` when
        built from a Layer) and ``state.<i>.<slot>`` for each parameter that has
        state, ``i`` being the parameter's position. Hooks are not included:
        like the model's layers they are code, rebuilt by the script.
        """
        params, names = self.params(), self._names()
        out = {"optimizer": type(self).__name__, "steps": self.steps, "params": len(params),
               "lazy": self.lazy}
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
        if "lazy" in state and bool(state["lazy"]) != self.lazy:
            # Two different rules for sparse gradients: resuming one as the
            # other would continue another algorithm without a word.
            raise OptimizerStateError(f"load_state_dict: the state is of a {kind} with "
                                      f"lazy={bool(state['lazy'])}, this one has "
                                      f"lazy={self.lazy}; build it with the same lazy=")
        known = {"optimizer", "steps", "params", "lazy"} | \
            {f"hyper.{h}" for h in self.hyperparams}
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


def _unique(owner, params) -> list:
    if isinstance(params, Variable):  # iterating a Variable would walk its rows
        params = [params]
    try:
        params = list(params)
    except TypeError:
        raise TypeError(f"{owner}: params must be a Layer (the model) or a list of its "
                        f"Parameters, got {type(params).__name__}") from None
    if not params:
        raise ValueError(f"{owner}: params is empty, so there is nothing to train; pass the "
                         f"model ({owner}(model, ...)) or model.params()")
    out, seen = [], set()
    for p in params:
        if not isinstance(p, Variable):
            raise TypeError(f"{owner}: params must be a Layer (the model) or a list of its "
                            f"Parameters, got a list holding a {type(p).__name__}")
        if id(p) not in seen:
            seen.add(id(p))
            out.append(p)
    return out


def _checked_hyper(owner, name, value) -> float:
    """``value`` as a float, if it is what hyper-parameter ``name`` must be."""
    words, ok = _HYPER_RULES.get(name, ("a finite number", math.isfinite))
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = None
    if number is None or isinstance(value, bool) or number != number or not ok(number):
        raise ValueError(f"{owner}: {name} must be {words}, got {value!r}")
    return number


def _no_gradient_message(optimizer, count) -> str:
    name = type(optimizer).__name__
    return (f"{name}.update: none of its {count} parameters has a gradient, so this step "
            f"changed nothing (said once per optimizer). Check that the loss comes from the "
            f"model the optimizer was built on ({name}(model, ...)), and that backward() "
            f"runs before update()")


def _text(v):
    """A str from a str or a 0-d numpy string array (what np.load gives back)."""
    return None if v is None else str(v.item() if isinstance(v, np.ndarray) else v)


def _shape(v):
    return None if v is None else tuple(int(n) for n in np.asarray(v).reshape(-1))


def _label(i, p, names):
    return f"{i} ({names[i]!r})" if names is not None else str(i)
