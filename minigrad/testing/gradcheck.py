"""Numerical gradient checks: minigrad's backward against central differences.

Every output y, a scalar loss included, is reduced to the scalar
L = sum(w * y) with a fixed weight w drawn from the check's seed, each entry of
random sign and magnitude between 0.5 and 1.5: every output element counts,
and a backward that ignores its upstream gradient (treats it as 1) is caught. A
tuple of outputs is reduced the same way with one weight per output. The
analytic gradient of L comes from ``minigrad.grad`` (seeded with w, so no extra
ops are recorded); the numeric one from central differences in float64.

>>> import numpy as np, minigrad.functions as F
>>> from minigrad.testing import gradcheck
>>> gradcheck(F.tanh, np.array([0.5, -1.0, 2.0]))
True
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core import Variable, grad
from ..errors import describe

__all__ = ["gradcheck", "gradgradcheck", "gradcheck_params", "GradcheckError", "stand_in"]


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with the numeric one (or f misbehaves:
    mutates an input, returns a gradient of the wrong shape)."""


# ---------------------------------------------------------------- inputs
def _is_checked(x) -> bool:
    if isinstance(x, Variable):
        return x.requires_grad
    return np.asarray(backend.as_numpy(x)).dtype.kind == "f"


def _split_inputs(inputs):
    """float64 copies of the checked inputs, and the positions they take."""
    checked, positions = [], []
    for i, x in enumerate(inputs):
        if _is_checked(x):
            data = x.data if isinstance(x, Variable) else x
            checked.append(np.array(backend.as_numpy(data), dtype=np.float64, copy=True))
            positions.append(i)
    return checked, positions


def _call(f, inputs, positions, arrays):
    """f called on fresh Variables for the checked inputs, constants as given."""
    args = list(inputs)
    variables = []
    for pos, a in zip(positions, arrays):
        v = Variable(a.copy())
        args[pos] = v
        variables.append(v)
    return f(*args), variables


def _outputs(out):
    return tuple(out) if isinstance(out, (tuple, list)) else (out,)


def _raw(y):
    return y.data if isinstance(y, Variable) else y


def _as_float64(y):
    return np.asarray(backend.as_numpy(_raw(y)), dtype=np.float64)


def _dense(g) -> np.ndarray:
    """A gradient as a float64 numpy array (sparse row gradients made dense)."""
    g = g.to_dense() if hasattr(g, "to_dense") else g.data
    return np.asarray(backend.as_numpy(g), dtype=np.float64)


def _weights(outs, rng):
    """One fixed weight per output element, a lone scalar loss included: seeding
    a loss with 1 would hide a backward that drops its upstream gradient."""
    shapes = [np.shape(_raw(y)) for y in outs]
    return [rng.choice([-1.0, 1.0], size=s) * rng.uniform(0.5, 1.5, size=s) for s in shapes]


def _weighted_grads(outs, weights, variables, create_graph=False):
    """The gradients of L = sum(w * y) for ``variables`` (None where L does not
    depend on one). Outputs that need no gradient (integer results, constants)
    add a constant to L: they are reduced numerically but have no backward."""
    live = [(y, np.asarray(w, dtype=y.dtype)) for y, w in zip(outs, weights)
            if isinstance(y, Variable) and y.requires_grad]
    if not live:
        return (None,) * len(variables)
    ys, ws = zip(*live)
    return grad(list(ys), variables, grad_outputs=list(ws), create_graph=create_graph)


# ---------------------------------------------------------------- the check
class _Check:
    """One gradcheck: f, its inputs and the fixed reduction weights."""

    def __init__(self, f, inputs, seed, label):
        self.f, self.inputs, self.seed, self.label = f, tuple(inputs), seed, label
        self.arrays, self.positions = _split_inputs(self.inputs)
        if not self.positions:
            # Passing would claim a check that never happened.
            given = describe([x.data if isinstance(x, Variable) else np.asarray(x)
                              for x in self.inputs]) or "nothing"
            raise ValueError(f"{label}: no input to check (given {given}): gradients are "
                             "checked for floating-point arrays and Variables that require "
                             "grad; pass float inputs, e.g. x.astype(np.float64)")
        self.weights = None

    def loss(self, arrays) -> float:
        """L at the given checked-input values, in float64."""
        outs = _outputs(_call(self.f, self.inputs, self.positions, arrays)[0])
        if len(outs) != len(self.weights):
            raise GradcheckError(f"{self.label}: f returned {len(outs)} outputs on one call and "
                                 f"{len(self.weights)} on another")
        return float(sum(np.sum(w * _as_float64(y)) for w, y in zip(self.weights, outs)))

    def analytic(self):
        snapshot = [c.copy() for c in self._constants()]
        out, variables = _call(self.f, self.inputs, self.positions, self.arrays)
        outs = _outputs(out)
        self.weights = _weights(outs, np.random.default_rng(self.seed))
        gs = _weighted_grads(outs, self.weights, variables)
        self._check_unmutated(variables, snapshot)
        grads = []
        for k, (v, g) in enumerate(zip(variables, gs)):
            if g is None:
                grads.append(np.zeros_like(self.arrays[k]))
                continue
            g = _dense(g)
            if g.shape != v.shape:
                raise GradcheckError(
                    f"{self.label}: the gradient of input {self.positions[k]} has shape "
                    f"{g.shape} but the input has shape {v.shape}")
            grads.append(g)
        return grads

    def where(self, k) -> str:
        return f"input {self.positions[k]} (shape {self.arrays[k].shape})"

    def _constants(self):
        return [np.array(backend.as_numpy(x.data if isinstance(x, Variable) else x))
                for i, x in enumerate(self.inputs) if i not in self.positions]

    def _check_unmutated(self, variables, constants_before):
        for k, v in enumerate(variables):
            if not np.array_equal(backend.as_numpy(v.data), self.arrays[k], equal_nan=True):
                raise GradcheckError(f"{self.label}: f modified input {self.positions[k]} in place")
        for before, after in zip(constants_before, self._constants()):
            if before.shape != after.shape or not np.array_equal(before, after, equal_nan=True):
                raise GradcheckError(f"{self.label}: f modified a constant input in place")


def _excess(a, n, atol, rtol):
    """How far |a - n| is beyond the tolerance (NaN counts as infinitely far)."""
    err = np.abs(a - n)
    excess = err - (atol + rtol * np.abs(n))
    return np.where(np.isnan(excess), np.inf, excess)


def _report(label, where, a, n, atol, rtol):
    abs_err = abs(a - n)
    rel_err = abs_err / abs(n) if n != 0 else float("inf") if abs_err else 0.0
    return (f"{label} failed for {where}: analytic={a!r}, numeric={n!r}, "
            f"abs error={abs_err:.3g}, rel error={rel_err:.3g} (atol={atol}, rtol={rtol})")


def _full(check, grads, eps, atol, rtol):
    """Every element of every input; a failure names the worst element of all."""
    worst = None   # (excess, k, element, numeric value)
    for k, x in enumerate(check.arrays):
        numeric = np.empty_like(x)
        for j in range(x.size):
            shifted = [a.copy() for a in check.arrays]
            shifted[k].flat[j] = x.flat[j] + eps
            plus = check.loss(shifted)
            shifted[k].flat[j] = x.flat[j] - eps
            minus = check.loss(shifted)
            numeric.flat[j] = (plus - minus) / (2 * eps)
        excess = _excess(grads[k], numeric, atol, rtol)
        if excess.size and excess.max() > 0:
            j = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), x.shape))
            if worst is None or excess[j] > worst[0]:
                worst = (excess[j], k, j, float(numeric[j]))
    if worst is not None:
        _, k, j, n = worst
        raise GradcheckError(_report(check.label, f"{check.where(k)} at element {j}",
                                     float(grads[k][j]), n, atol, rtol))


def direction(shape, seed) -> np.ndarray:
    """The unit direction a directional check uses for ``seed`` (to replay a failure)."""
    v = np.random.default_rng(seed).standard_normal(shape)
    norm = np.linalg.norm(v)
    return v / norm if norm else v


def _directional(check, grads, eps, atol, rtol, n_directions):
    for k, x in enumerate(check.arrays):
        for d in range(n_directions):
            dir_seed = int(np.random.SeedSequence([check.seed, k, d]).generate_state(1)[0])
            v = direction(x.shape, dir_seed)
            shifted = list(check.arrays)
            shifted[k] = x + eps * v
            plus = check.loss(shifted)
            shifted[k] = x - eps * v
            minus = check.loss(shifted)
            n = (plus - minus) / (2 * eps)
            a = float(np.sum(grads[k] * v))
            if _excess(np.array(a), np.array(n), atol, rtol) > 0:
                where = (f"{check.where(k)} along direction {d} "
                         f"(direction seed {dir_seed}; the vector is direction({x.shape}, "
                         f"{dir_seed}) from minigrad.testing.gradcheck)")
                raise GradcheckError(_report(check.label, where, a, n, atol, rtol))


def _run(f, inputs, eps, atol, rtol, mode, n_directions, seed, raise_exception, label):
    return _verify(_Check(f, inputs, seed, label), eps, atol, rtol, mode, n_directions,
                   raise_exception)


def _verify(check, eps, atol, rtol, mode, n_directions, raise_exception, first=None):
    """Run the check (after ``first``, a further check that may fail the same way)."""
    if mode not in ("full", "directional"):
        raise ValueError(f"{check.label}: mode must be 'full' or 'directional', got {mode!r}")
    try:
        if first is not None:
            first()
        grads = check.analytic()
        if mode == "full":
            _full(check, grads, eps, atol, rtol)
        else:
            _directional(check, grads, eps, atol, rtol, n_directions)
    except GradcheckError:
        if raise_exception:
            raise
        return False
    return True


def gradcheck(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, mode="full", n_directions=3, seed=0,
              raise_exception=True) -> bool:
    """Check minigrad's gradient of ``f`` at ``inputs`` against central differences.

    Floating-point arrays and Variables with ``requires_grad`` are checked (as
    float64 copies); integer arrays and constant Variables are passed through
    unchanged. cupy inputs are copied to the CPU: the check runs on numpy.
    ``mode="full"`` checks every element (two calls of f each);
    ``mode="directional"`` checks ``n_directions`` random unit directions per
    input (a constant cost, whatever the size). Raises :class:`GradcheckError`
    naming the input, the element (or direction seed), both values and the
    errors; with ``raise_exception=False`` returns False instead.

    >>> import numpy as np, minigrad as mg, minigrad.functions as F
    >>> gradcheck(F.mul, np.ones((2, 3)), np.arange(3.0))
    True
    >>> class Twice(mg.Function):          # backward forgets the factor 2
    ...     def forward(self, x):
    ...         return 2 * x
    ...     def backward(self, gy):
    ...         return gy
    >>> gradcheck(lambda x: Twice()(x), np.ones(2), raise_exception=False)
    False
    """
    return _run(f, inputs, eps, atol, rtol, mode, n_directions, seed, raise_exception,
                "gradcheck")


def _compare_graph_with_plain(check, first_gradients, atol, rtol):
    """The first gradients built with create_graph=True must be the plain ones:
    second derivatives of a gradient that backward never computes check nothing."""
    plain, _ = _call(lambda *a: first_gradients(*a, create_graph=False), check.inputs,
                     check.positions, check.arrays)
    graph, _ = _call(first_gradients, check.inputs, check.positions, check.arrays)
    for k, (p, g) in enumerate(zip(plain, graph)):
        p, g = _dense(p), _dense(g)
        excess = _excess(g, p, atol, rtol)
        if excess.size and excess.max() > 0:
            j = tuple(int(i) for i in np.unravel_index(int(np.argmax(excess)), p.shape))
            raise GradcheckError(
                f"{check.label} failed for {check.where(k)}: its first gradient with "
                f"create_graph=True differs from the plain one, by up to "
                f"{float(np.abs(g - p).max()):.3g} (at element {j}: {float(g[j])!r} with "
                f"create_graph, {float(p[j])!r} without; atol={atol}, rtol={rtol}); the "
                "operation's backward_graph must compute the gradient its backward does")


def gradgradcheck(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, mode="full", n_directions=3,
                  seed=0, raise_exception=True) -> bool:
    """Check second derivatives: gradcheck of the first gradients of ``f``.

    The first gradients g_i of L (f reduced with fixed weights, as in
    :func:`gradcheck`) are computed with ``minigrad.grad(..., create_graph=True)``.
    They must first equal the ones computed without it (an operation's
    ``backward_graph`` must agree with its ``backward``): else
    :class:`GradcheckError` names the input and the largest difference. Then
    gradcheck differentiates h = sum_i <g_i, v_i> for fixed random v_i.

    >>> import numpy as np, minigrad.functions as F
    >>> gradgradcheck(F.tanh, np.array([0.3, -0.7]))
    True
    """
    inner_seed, outer_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    positions = [i for i, x in enumerate(inputs) if _is_checked(x)]
    weights = []

    def first_gradients(*args, create_graph=True):
        variables = [args[i] for i in positions]
        outs = _outputs(f(*args))
        if not weights:
            weights.extend(_weights(outs, np.random.default_rng(inner_seed)))
        gs = _weighted_grads(outs, weights, variables, create_graph=create_graph)
        return tuple(Variable(np.zeros_like(v.data), requires_grad=False) if g is None else g
                     for v, g in zip(variables, gs))

    check = _Check(first_gradients, inputs, outer_seed, "gradgradcheck")
    return _verify(check, eps, atol, rtol, mode, n_directions, raise_exception,
                   first=lambda: _compare_graph_with_plain(check, first_gradients, atol, rtol))


# ---------------------------------------------------------------- parameters
def _named_variables(params, label):
    """(names, Variables) from a Layer, a dict of name -> Variable, or an
    iterable of Variables (named by their names, else their positions)."""
    if hasattr(params, "named_params"):          # a Layer, without importing layers
        items = list(params.named_params())
    elif isinstance(params, dict):
        items = list(params.items())
    elif isinstance(params, Variable):
        items = [(params.name or "0", params)]
    else:
        items = [(v.name or str(i), v) if isinstance(v, Variable) else (str(i), v)
                 for i, v in enumerate(params)]
    for name, v in items:
        if not isinstance(v, Variable) or not v.requires_grad:
            raise TypeError(f"{label}: {name!r} is {type(v).__name__}, not a Parameter (or a "
                            "Variable that requires grad); pass a Layer, a dict of them or a "
                            "list of them")
    if not items:
        raise ValueError(f"{label}: no parameters to check (the Layer or list is empty)")
    if len({id(v) for _, v in items}) != len(items):
        raise ValueError(f"{label}: a parameter is listed twice")
    return [n for n, _ in items], [v for _, v in items]


class _ParamCheck:
    """One gradcheck of ``f()`` with respect to Parameters it reads: their
    arrays are swapped for float64 copies (restored by :meth:`restore`)."""

    def __init__(self, f, params, seed, label):
        self.f, self.seed, self.label = f, seed, label
        self.names, self.variables = _named_variables(params, label)
        self.originals = [v.data for v in self.variables]
        self.arrays = [np.array(backend.as_numpy(a), dtype=np.float64, copy=True)
                       for a in self.originals]
        self.weights = None

    def where(self, k) -> str:
        return f"parameter {self.names[k]!r} (shape {self.arrays[k].shape})"

    def _outputs_at(self, arrays):
        for v, a in zip(self.variables, arrays):
            v.data = a.copy()   # a copy: the graph f records may freeze it read-only
        return _outputs(self.f())

    def _reduce(self, outs) -> float:
        if len(outs) != len(self.weights):
            raise GradcheckError(f"{self.label}: f returned {len(outs)} outputs on one call and "
                                 f"{len(self.weights)} on another")
        return float(sum(np.sum(w * _as_float64(y)) for w, y in zip(self.weights, outs)))

    def loss(self, arrays) -> float:
        return self._reduce(self._outputs_at(arrays))

    def analytic(self):
        outs = self._outputs_at(self.arrays)
        self.weights = _weights(outs, np.random.default_rng(self.seed))
        at_start = self._reduce(outs)
        gs = _weighted_grads(outs, self.weights, self.variables)
        # f must be a function of the parameters alone: a stateful RNN or a
        # fresh dropout mask per call would make the differences meaningless.
        again = self.loss(self.arrays)
        if not abs(again - at_start) <= 1e-12 * max(1.0, abs(at_start)):
            raise GradcheckError(
                f"{self.label}: f() gave {at_start!r} and then {again!r} at the same parameters; "
                "it must depend on the parameters alone (reset a stateful layer's state inside "
                "f, and fix dropout masks or call model.eval())")
        grads = []
        for k, g in enumerate(gs):
            if g is None:
                grads.append(np.zeros_like(self.arrays[k]))
                continue
            grads.append(_dense(g))
        return grads

    def restore(self):
        for v, a in zip(self.variables, self.originals):
            v.data = a


def gradcheck_params(f, params, eps=1e-6, atol=1e-5, rtol=1e-4, mode="full", n_directions=3,
                     seed=0, raise_exception=True) -> bool:
    """Check the gradient of ``f()`` with respect to every parameter in
    ``params`` against central differences, in float64.

    ``f`` takes no arguments and returns the output (a loss, or any Variables,
    reduced with fixed weights as in :func:`gradcheck`); ``params`` is a Layer
    (all its parameters, by their dotted names), a dict of name -> Parameter,
    or a list of Parameters (any Variables that require grad, inputs
    included). During the check each parameter holds a float64 copy of its
    values, so a float32 model is checked in float64 (the data it is given
    are cast to its dtype); afterwards every parameter gets its own array back.
    The check runs on numpy: the float64 copies live on the CPU, so give
    ``f`` numpy data.
    ``f`` must be a function of the parameters alone: reset a stateful
    layer's state inside it, and switch dropout off (``model.eval()``).

    ``mode="full"`` checks every element of every parameter; a failure raises
    :class:`GradcheckError` naming the worst element of all, with both values
    and the errors. ``mode="directional"`` checks ``n_directions`` random
    directions per parameter instead (for large layers). With
    ``raise_exception=False`` it returns False instead of raising.

    >>> import numpy as np, minigrad.functions as F
    >>> from minigrad.layers import Linear
    >>> from minigrad.testing import gradcheck_params
    >>> fc = Linear(3, 2, rng=0)                          # float32, checked in float64
    >>> x, t = np.random.default_rng(0).standard_normal((4, 3)), np.array([0, 1, 1, 0])
    >>> gradcheck_params(lambda: F.softmax_cross_entropy(fc(x), t), fc)
    True
    >>> fc.W.dtype                                        # the layer is given back as it was
    dtype('float32')
    """
    check = _ParamCheck(f, params, seed, "gradcheck_params")
    try:
        return _verify(check, eps, atol, rtol, mode, n_directions, raise_exception)
    finally:
        check.restore()


def stand_in(layer, name: str, value):
    """Put ``value`` (a Variable gradcheck passes in) where ``layer.<name>``
    holds a weight, so that the layer computes with it and ``gradcheck`` sees
    its gradient: how a test makes a whole model a function of its weights.
    The Parameter that was there is unregistered first (a layer refuses a
    plain assignment over a Parameter, which would drop it silently).

    >>> import numpy as np, minigrad as mg
    >>> from minigrad.layers import Linear
    >>> fc = Linear(2, 1, W=np.ones((2, 1)))
    >>> stand_in(fc, "W", mg.Variable(np.full((2, 1), 3.0)))
    >>> fc(np.ones((1, 2))), [name for name, _ in fc.named_params()]
    (variable([[6.]]), ['b'])
    """
    if name in getattr(layer, "_children", {}):
        delattr(layer, name)
    setattr(layer, name, value)
