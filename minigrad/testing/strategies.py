"""hypothesis strategies for inputs on which gradient checks are meaningful.

Central differences are only trustworthy where the function is smooth within
``eps`` of the point: no ties for max/min, no kinks for relu/clip, no huge
values for exp. These strategies draw such inputs. ``shape`` may be a tuple,
an int, a strategy of shapes, or None for any shape of ``min_dims`` to
``max_dims`` axes of 1 to ``max_side`` elements.

Needs hypothesis: ``pip install 'minigrad[testing]'``.
"""
from __future__ import annotations

import math

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.errors import InvalidArgument
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - depends on the environment
    raise ImportError("minigrad.testing.strategies needs hypothesis: "
                      "pip install 'minigrad[testing]'") from e

__all__ = ["finite_arrays", "broadcastable_shapes", "index_arrays", "tie_free_arrays",
           "kink_free_arrays", "extreme_logits"]


def _shapes(shape, min_dims=0, max_dims=3, max_side=4, min_side=1):
    if shape is None:
        return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=min_side,
                                max_side=max_side)
    if isinstance(shape, st.SearchStrategy):
        return shape
    if isinstance(shape, (int, np.integer)):
        return st.just((int(shape),))
    return st.just(tuple(shape))


def _floats(dtype, lo, hi):
    """Finite floats in [lo, hi] of the width of ``dtype``; the bounds are moved
    inward to the nearest values that width can represent exactly."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise InvalidArgument(f"a floating-point dtype is needed, got {dtype}")
    lo_t, hi_t = dtype.type(lo), dtype.type(hi)
    if lo_t < lo:
        lo_t = np.nextafter(lo_t, dtype.type(np.inf))
    if hi_t > hi:
        hi_t = np.nextafter(hi_t, dtype.type(-np.inf))
    return st.floats(float(lo_t), float(hi_t), allow_nan=False, allow_infinity=False,
                     width=dtype.itemsize * 8)


def finite_arrays(shape=None, dtype=np.float64, min_value=-3, max_value=3, min_dims=0,
                  max_dims=3, max_side=4):
    """Arrays of finite floats in [min_value, max_value].

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, database=None, derandomize=True)
    ... @given(finite_arrays(shape=(2, 3)))
    ... def check(x):
    ...     assert x.shape == (2, 3) and np.isfinite(x).all() and np.abs(x).max() <= 3
    >>> check()
    """
    return hnp.arrays(dtype, _shapes(shape, min_dims, max_dims, max_side),
                      elements=_floats(dtype, min_value, max_value))


def broadcastable_shapes(n=2, min_dims=0, max_dims=3, max_side=4):
    """Tuples of ``n`` shapes that broadcast together: they mix ranks and use
    size-1 axes, as ``(3, 1)`` with ``(4,)`` or ``()`` with ``(2, 3)``.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, database=None, derandomize=True)
    ... @given(broadcastable_shapes(n=3))
    ... def check(shapes):
    ...     assert len(shapes) == 3
    ...     np.broadcast_shapes(*shapes)      # raises if they do not broadcast
    >>> check()
    """
    return hnp.mutually_broadcastable_shapes(
        num_shapes=n, min_dims=min_dims, max_dims=max_dims, min_side=1, max_side=max_side,
    ).map(lambda b: tuple(b.input_shapes))


@st.composite
def index_arrays(draw, size, shape=None, with_duplicates=True, dtype=np.int64):
    """Integer arrays of indices into an axis of length ``size``.

    With ``with_duplicates=True`` (the case that breaks naive scatter
    backwards) some index always repeats; with False all are distinct.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, database=None, derandomize=True)
    ... @given(index_arrays(5))
    ... def check(ids):
    ...     assert ids.min() >= 0 and ids.max() < 5
    ...     assert len(np.unique(ids)) < ids.size     # a duplicate is present
    >>> check()
    """
    if size < 1:
        raise InvalidArgument(f"index_arrays: size must be at least 1, got {size}")
    if shape is None:
        shape = hnp.array_shapes(min_dims=1, max_dims=2, min_side=1, max_side=4)
        if with_duplicates:
            shape = shape.filter(lambda s: math.prod(s) >= 2)
        else:
            shape = shape.filter(lambda s: math.prod(s) <= size)
    shape = draw(_shapes(shape))
    n = math.prod(shape)
    ints = st.integers(0, size - 1)
    if with_duplicates:
        if n < 2:
            raise InvalidArgument(f"index_arrays: shape {shape} has room for no duplicate")
        values = draw(st.lists(ints, min_size=n, max_size=n))
        i = draw(st.integers(0, n - 1))
        j = draw(st.integers(0, n - 2))
        values[j + (j >= i)] = values[i]
    else:
        if n > size:
            raise InvalidArgument(f"index_arrays: {n} distinct indices do not fit in {size}")
        values = draw(st.lists(ints, min_size=n, max_size=n, unique=True))
    return np.array(values, dtype=dtype).reshape(shape)


@st.composite
def tie_free_arrays(draw, shape=None, dtype=np.float64, min_value=-3, max_value=3,
                    margin=1e-2, min_dims=0, max_dims=3, max_side=4):
    """Arrays whose elements are pairwise at least ``margin`` apart, so max and
    min have a unique winner that a small perturbation cannot change.

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, database=None, derandomize=True)
    ... @given(tie_free_arrays(shape=(3, 3)))
    ... def check(x):
    ...     gaps = np.diff(np.sort(x, axis=None))
    ...     assert (gaps >= 1e-2 * (1 - 1e-6)).all()
    >>> check()
    """
    # Distinct slots 2 * margin apart, each value anywhere in the lower half
    # of its slot: neighbours stay at least one margin apart.
    slots = int((max_value - min_value) // (2 * margin))
    if shape is None:
        shape = hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, max_side=max_side)
        shape = shape.filter(lambda s: math.prod(s) <= slots)
    shape = draw(_shapes(shape))
    n = math.prod(shape)
    if n > slots:
        raise InvalidArgument(f"tie_free_arrays: {n} values {margin} apart do not fit in "
                              f"[{min_value}, {max_value}]")
    ks = draw(st.lists(st.integers(0, slots - 1), min_size=n, max_size=n, unique=True))
    jitter = draw(st.lists(st.floats(0, margin), min_size=n, max_size=n))
    values = min_value + 2 * margin * np.array(ks, dtype=np.float64) + np.array(jitter)
    return values.reshape(shape).astype(dtype)


def kink_free_arrays(shape=None, kinks=(0.0,), margin=1e-3, dtype=np.float64, min_value=-3,
                     max_value=3, min_dims=0, max_dims=3, max_side=4):
    """Arrays with no element within ``margin`` of any of the ``kinks`` (the
    points where relu, clip or abs are not differentiable).

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, database=None, derandomize=True)
    ... @given(kink_free_arrays(shape=5, kinks=(-1.0, 1.0), margin=0.01))
    ... def check(x):
    ...     assert (np.abs(x - 1) >= 0.01).all() and (np.abs(x + 1) >= 0.01).all()
    >>> check()
    """
    # A hair more than margin, so rounding cannot bring a bound back inside it.
    pad = margin * (1 + 1e-6)
    intervals, lo = [], float(min_value)
    for k in sorted(kinks):
        if k - pad >= lo:
            intervals.append((lo, k - pad))
        lo = max(lo, k + pad)
    if max_value >= lo:
        intervals.append((lo, float(max_value)))
    if not intervals:
        raise InvalidArgument(f"kink_free_arrays: no value of [{min_value}, {max_value}] is "
                              f"{margin} away from the kinks {kinks}")
    elements = st.one_of(*[_floats(dtype, a, b) for a, b in intervals])
    return hnp.arrays(dtype, _shapes(shape, min_dims, max_dims, max_side), elements=elements)


def extreme_logits(shape=None, dtype=np.float64, extremes=(-100.0, -40.0, 0.0, 40.0, 100.0),
                   max_abs=100.0, min_dims=0, max_dims=3, max_side=4):
    """Logits mixing the ``extremes`` (where naive sigmoid/softplus overflow or
    lose all precision) with ordinary values in [-max_abs, max_abs].

    >>> from hypothesis import given, settings
    >>> @settings(max_examples=10, database=None, derandomize=True)
    ... @given(extreme_logits(shape=4))
    ... def check(x):
    ...     assert np.isfinite(x).all() and np.abs(x).max() <= 100
    >>> check()
    """
    elements = st.one_of(st.sampled_from([float(v) for v in extremes]),
                         _floats(dtype, -max_abs, max_abs))
    return hnp.arrays(dtype, _shapes(shape, min_dims, max_dims, max_side), elements=elements)
