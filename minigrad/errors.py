"""The exceptions minigrad raises. Each message names the operation, the shapes
or dtypes involved and what to do about it."""
from __future__ import annotations


class MinigradError(Exception):
    """Base of every error minigrad raises on purpose."""


class ShapeError(MinigradError, ValueError):
    """Operands whose shapes do not fit the operation."""


class DTypeError(MinigradError, TypeError):
    """An array of a dtype the operation cannot take (for example integers where
    a gradient is needed)."""


class GraphError(MinigradError, RuntimeError):
    """Misuse of the recorded graph: backward through a freed graph, backward of a
    non-scalar without a seed gradient, a backward that returns the wrong number
    or shape of gradients."""


class DeviceError(MinigradError, TypeError):
    """numpy and cupy arrays mixed in one operation, or cupy asked for where it is
    not installed."""


class CheckpointError(MinigradError, ValueError):
    """A weights file that cannot be loaded into this model: unreadable, not an
    npz (or a pickle of the book's), or with names, shapes or dtypes that
    differ from the model's."""


class AnomalyError(MinigradError, FloatingPointError):
    """Anomaly mode found a NaN or Inf: raised at the operation (forward or
    backward) that first produced it."""


def describe(arrays) -> str:
    """'(20, 100) float32 and (650, 2600) float32' for a list of arrays."""
    parts = []
    for a in arrays:
        shape = getattr(a, "shape", None)
        dtype = getattr(a, "dtype", None)
        if shape is None:
            parts.append(f"{type(a).__name__} {a!r}")
        else:
            parts.append(f"{tuple(shape)} {dtype}")
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]
