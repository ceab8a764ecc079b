"""Numerical gradient checks: minigrad's backward against central differences.

A scalar output is L itself. A non-scalar output y is reduced to the scalar
L = sum(w * y) with a fixed, seeded weight w whose entries are all at least 0.5
in magnitude, so every output element contributes to every checked gradient; a
tuple of outputs is reduced the same way with one weight per output. The analytic gradient of L
comes from ``minigrad.grad`` (seeded with w, so no extra ops are recorded); the
numeric one from central differences in float64.

>>> import numpy as np, minigrad.functions as F
>>> from minigrad.testing import gradcheck
>>> gradcheck(F.tanh, np.array([0.5, -1.0, 2.0]))
True
"""
from __future__ import annotations

import math

import numpy as np

from .. import backend
from ..core import Variable, grad
from ..errors import describe

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError"]


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


def _weights(outs, rng):
    """One fixed weight per output element; a lone scalar output is its own L."""
    shapes = [np.shape(_raw(y)) for y in outs]
    if len(shapes) == 1 and math.prod(shapes[0]) == 1:
        return [np.ones(shapes[0])]
    return [rng.choice([-1.0, 1.0], size=s) * rng.uniform(0.5, 1.5, size=s) for s in shapes]


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
        # Outputs that need no gradient (integer results, constants) add a
        # constant to L: they are reduced numerically but have no backward.
        live = [(y, w) for y, w in zip(outs, self.weights)
                if isinstance(y, Variable) and y.requires_grad]
        if live:
            gs = grad([y for y, _ in live], variables,
                      grad_outputs=[np.asarray(w, dtype=y.dtype) for y, w in live])
        else:
            gs = (None,) * len(variables)
        self._check_unmutated(variables, snapshot)
        grads = []
        for k, (v, g) in enumerate(zip(variables, gs)):
            if g is None:
                grads.append(np.zeros_like(self.arrays[k]))
                continue
            g = np.asarray(backend.as_numpy(g.data), dtype=np.float64)
            if g.shape != v.shape:
                raise GradcheckError(
                    f"{self.label}: the gradient of input {self.positions[k]} has shape "
                    f"{g.shape} but the input has shape {v.shape}")
            grads.append(g)
        return grads

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
            j = np.unravel_index(int(np.argmax(excess)), x.shape)
            j = tuple(int(i) for i in j)
            where = f"input {check.positions[k]} (shape {x.shape}) at element {j}"
            raise GradcheckError(_report(check.label, where, float(grads[k][j]),
                                         float(numeric[j]), atol, rtol))


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
                where = (f"input {check.positions[k]} (shape {x.shape}) along direction {d} "
                         f"(direction seed {dir_seed}; the vector is direction({x.shape}, "
                         f"{dir_seed}) from minigrad.testing.gradcheck)")
                raise GradcheckError(_report(check.label, where, a, n, atol, rtol))


def _run(f, inputs, eps, atol, rtol, mode, n_directions, seed, raise_exception, label):
    if mode not in ("full", "directional"):
        raise ValueError(f"{label}: mode must be 'full' or 'directional', got {mode!r}")
    check = _Check(f, inputs, seed, label)
    try:
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


def gradgradcheck(f, *inputs, eps=1e-6, atol=1e-5, rtol=1e-4, mode="full", n_directions=3,
                  seed=0, raise_exception=True) -> bool:
    """Check second derivatives: gradcheck of the first gradients of ``f``.

    The first gradients g_i of L (f reduced with fixed weights, as in
    :func:`gradcheck`) are computed with ``minigrad.grad(..., create_graph=True)``;
    gradcheck then differentiates h = sum_i <g_i, v_i> for fixed random v_i.

    >>> import numpy as np, minigrad.functions as F
    >>> gradgradcheck(F.tanh, np.array([0.3, -0.7]))
    True
    """
    inner_seed, outer_seed = (int(s) for s in np.random.SeedSequence(seed).generate_state(2))
    positions = [i for i, x in enumerate(inputs) if _is_checked(x)]
    weights = {}

    def first_gradients(*args):
        variables = [args[i] for i in positions]
        outs = _outputs(f(*args))
        if "w" not in weights:
            weights["w"] = _weights(outs, np.random.default_rng(inner_seed))
        live = [(y, np.asarray(w, dtype=y.dtype)) for y, w in zip(outs, weights["w"])
                if isinstance(y, Variable) and y.requires_grad]
        if not live:
            return tuple(Variable(np.zeros_like(v.data), requires_grad=False)
                         for v in variables)
        ys, ws = zip(*live)
        gs = grad(list(ys), variables, grad_outputs=list(ws), create_graph=True)
        return tuple(Variable(np.zeros_like(v.data), requires_grad=False) if g is None else g
                     for v, g in zip(variables, gs))

    return _run(first_gradients, inputs, eps, atol, rtol, mode, n_directions, outer_seed,
                raise_exception, "gradgradcheck")
