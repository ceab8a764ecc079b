"""The spiral data set of the book's chapter 1: three arms of points in the
plane, one class per arm, which no straight line separates.

The points are the book's (``dataset/spiral.py``) for the same seed: the
same formula and the same random draws in the same order, from numpy's legacy
generator seeded with ``seed`` (a private one: the global numpy state is left
alone).
"""
from __future__ import annotations

import numpy as np

__all__ = ["spiral"]


def spiral(points_per_class: int = 100, classes: int = 3, seed: int = 1984, *,
           one_hot: bool = False, rng=None):
    """``(x, t)``: ``x`` (points_per_class * classes, 2) float64 points and
    ``t`` their class, int64 labels (or one-hot rows with ``one_hot=True``, as
    the book's loader returns them).

    Point ``i`` of arm ``j`` lies at radius ``r = i / points_per_class`` and angle
    ``4 j + 4 r`` plus Gaussian noise of standard deviation 0.2.

    ``rng``: a ``numpy.random.RandomState`` to draw the noise from instead of a
    fresh one seeded with ``seed``. The book draws its weights and shuffles
    from the same global stream right after the spiral; passing one
    RandomState to all of them repeats its run.

    >>> x, t = spiral()
    >>> x.shape, t.shape, np.bincount(t).tolist()
    ((300, 2), (300,), [100, 100, 100])
    >>> _, onehot = spiral(one_hot=True)
    >>> onehot.shape, bool(np.all(onehot.argmax(axis=1) == t))
    ((300, 3), True)
    """
    for name, value in (("points_per_class", points_per_class), ("classes", classes)):
        if isinstance(value, bool) or int(value) != value or value < 1:
            raise ValueError(f"spiral: {name} must be a positive integer, got {value!r}")
    n, k = int(points_per_class), int(classes)
    # The book draws one randn per point, arm by arm, from np.random.seed(seed):
    # RandomState(seed).randn(k * n) gives the same numbers in the same order.
    noise = (np.random.RandomState(seed) if rng is None else rng).randn(k, n)
    rate = np.arange(n) / n
    radius = 1.0 * rate
    theta = np.arange(k)[:, None] * 4.0 + 4.0 * rate + noise * 0.2
    x = np.stack([radius * np.sin(theta), radius * np.cos(theta)], axis=-1).reshape(k * n, 2)
    labels = np.repeat(np.arange(k, dtype=np.int64), n)
    if one_hot:
        return x, np.eye(k, dtype=np.int64)[labels]
    return x, labels
