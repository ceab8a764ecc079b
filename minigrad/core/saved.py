"""In-place protection of the arrays a recorded operation keeps for its backward.

numpy arrays carry no version counter, so minigrad uses the one guard numpy
has: the ``writeable`` flag. Mutating a saved array then raises numpy's
"assignment destination is read-only" instead of silently corrupting the
gradient.

Two kinds of saved arrays are treated differently, because setting the flag
costs more than the rest of an operation's bookkeeping:

* the data of leaves (parameters, inputs, constants) is held read-only only
  while a live operation needs it. A count per array makes this exact when
  several operations or graphs save the same array; it becomes writeable again
  when the last of them is released, by backward (retain_graph=False) or
  because its graph was dropped. So optimizers update parameters in place and
  input buffers can be refilled after each step;
* values computed by recorded operations stay read-only for good once an
  operation saved them (one flag flip, nothing to undo). Copy one to edit it.

Only arrays that were writeable are touched, so arrays the user made read-only
stay read-only. cupy arrays have no such flag and are not guarded.
"""
from __future__ import annotations

import numpy as np

# id(array) -> how many live operations hold it. Every holder keeps the array
# itself in its Hold, so the id cannot be reused while counted.
_holds: dict = {}


class Hold:
    """The leaf arrays one operation holds read-only. Dropping the Hold gives
    them back: when backward releases the operation, or when the operation is
    freed with a graph that never ran backward."""

    __slots__ = ("arrays",)

    def __init__(self, arrays):
        self.arrays = arrays

    def __del__(self):
        unlock(self.arrays)


def lock(inputs, arrays):
    """Guard the saved ``arrays`` (those of an operation's ``inputs``: Variables
    or plain arrays): a Hold of the leaf arrays this call counted, or None if
    it counted none.
    (setflags is called positionally: its keyword parsing costs as much again.)"""
    held = ()
    holds = _holds
    for v, a in zip(inputs, arrays):
        if type(a) is not np.ndarray:
            continue
        if v is not a and v.creator is not None:   # (a plain operand is its own array)
            a.setflags(False)  # computed value: read-only for good
            continue
        key = id(a)
        n = holds.get(key)
        if n is not None:
            holds[key] = n + 1
        elif a.flags.writeable:
            a.setflags(False)
            holds[key] = 1
        else:
            continue
        held += (a,)
    return Hold(held) if held else None


def freeze(a) -> None:
    """Make a computed value read-only for good (see the module docstring)."""
    if type(a) is np.ndarray:
        a.setflags(False)


def unlock(held) -> None:
    holds = _holds
    for a in held:
        key = id(a)
        n = holds[key] - 1
        if n:
            holds[key] = n
        else:
            del holds[key]
            try:
                a.setflags(True)
            except ValueError:
                # A view whose base is itself held read-only right now: numpy
                # refuses; the view simply stays read-only.
                pass


def locked_count() -> int:
    """How many arrays are currently held read-only (for tests and leak checks)."""
    return len(_holds)
