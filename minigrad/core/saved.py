"""In-place protection of the arrays a recorded operation keeps for its backward.

numpy arrays carry no version counter, so minigrad uses the one guard numpy
has: the ``writeable`` flag. While any live, un-backpropagated operation holds
an array, the array is read-only and ``x.data[...] = 0`` raises numpy's
"assignment destination is read-only" instead of silently corrupting the
gradient. A count per array makes this exact when several operations (or
several graphs) save the same array: it becomes writeable again only when the
last of them is released, either by backward (retain_graph=False) or because
its graph was dropped.

Only arrays that were writeable when saved are touched, so arrays the user made
read-only stay read-only. cupy arrays have no such flag and are not guarded.
"""
from __future__ import annotations

import numpy as np

# id(array) -> [array, count]; holding the array keeps the id from being reused.
_holds: dict = {}


def lock(arrays) -> tuple:
    """Make the numpy arrays in ``arrays`` read-only; return those this call
    counted, which must later be passed to :func:`unlock` exactly once."""
    held = []
    for a in arrays:
        if type(a) is not np.ndarray:
            continue
        entry = _holds.get(id(a))
        if entry is not None:
            entry[1] += 1
        elif a.flags.writeable:
            a.flags.writeable = False
            _holds[id(a)] = [a, 1]
        else:
            continue
        held.append(a)
    return tuple(held)


def unlock(held) -> None:
    for a in held:
        entry = _holds[id(a)]
        entry[1] -= 1
        if entry[1] == 0:
            del _holds[id(a)]
            try:
                a.flags.writeable = True
            except ValueError:
                # A view whose base is itself held read-only right now: numpy
                # refuses; the view simply stays read-only.
                pass


def locked_count() -> int:
    """How many arrays are currently held read-only (for tests and leak checks)."""
    return len(_holds)
