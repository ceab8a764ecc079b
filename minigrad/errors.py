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


# What PyTorch and DeZero call things, and what minigrad writes instead: the
# AttributeError for such a name says so (Variable here; layers and optimizers
# add theirs).
OTHER_NAMES = {
    "Variable": {
        "clone": "v.copy()", "unsqueeze": "v.expand_dims(axis)", "view": "v.reshape(shape)",
        "to": "v.to_gpu() or v.to_cpu()", "cuda": "v.to_gpu()", "cpu": "v.to_cpu()",
        "permute": "v.transpose(axes)", "dim": "v.ndim", "numel": "v.size",
        "zero_grad": "v.cleargrad()", "zero_": "v.cleargrad() (for a gradient)",
        "grad_fn": "v.creator", "is_leaf": "v.creator is None",
        "requires_grad_": "v.requires_grad = True", "mm": "v @ w", "matmul": "v @ w",
        "float": "v.astype(np.float32)", "double": "v.astype(np.float64)",
    },
}


def no_attribute(obj, name) -> AttributeError:
    """The AttributeError for ``obj.name``, saying what minigrad calls it when
    ``name`` is a PyTorch or DeZero habit."""
    kind = type(obj).__name__
    for cls in type(obj).__mro__:
        instead = OTHER_NAMES.get(cls.__name__, {}).get(name)
        if instead is not None:
            return AttributeError(f"{kind} has no {name!r} (a PyTorch or DeZero name): "
                                  f"minigrad writes {instead}")
    return AttributeError(f"{kind!r} object has no attribute {name!r}")
