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


# Names PyTorch and DeZero use, by the minigrad class that lacks them, and
# what minigrad calls them: the AttributeError for such a name says so.
OTHER_NAMES = {
    "Variable": {
        "clone": "minigrad calls it v.copy()",
        "unsqueeze": "minigrad calls it v.expand_dims(axis)",
        "view": "minigrad calls it v.reshape(shape)",
        "to": "minigrad moves a Variable with v.to_gpu() / v.to_cpu(), and casts with "
              "v.astype(dtype)",
        "cuda": "minigrad calls it v.to_gpu()",
        "cpu": "minigrad calls it v.to_cpu()",
        "permute": "minigrad calls it v.transpose(axes)",
        "dim": "minigrad calls it v.ndim",
        "numel": "minigrad calls it v.size",
        "zero_grad": "minigrad calls it v.cleargrad()",
        "zero_": "a gradient is cleared with v.cleargrad()",
        "grad_fn": "minigrad calls it v.creator",
        "is_leaf": "write v.creator is None",
        "requires_grad_": "set v.requires_grad = True",
        "mm": "write v @ w",
        "matmul": "write v @ w",
        "float": "write v.astype(np.float32)",
        "double": "write v.astype(np.float64)",
    },
    "Layer": {
        "named_parameters": "minigrad calls it named_params() ((name, Parameter) pairs)",
        "children": "minigrad lists sub-layers with layers() (all of them, recursively)",
        "named_children": "minigrad lists sub-layers with layers(); named_params() names the "
                          "parameters",
        "modules": "minigrad lists sub-layers with layers()",
        "named_modules": "minigrad lists sub-layers with layers()",
        "cuda": "minigrad moves a layer with to_gpu() (and back with to_cpu())",
        "cpu": "minigrad moves a layer with to_cpu()",
        "to": "minigrad moves a layer with to_gpu() / to_cpu(); a dtype is chosen when the "
              "layer is built (dtype=)",
        "requires_grad_": "set p.requires_grad on each of layer.params()",
        "apply": "walk [layer] + layer.layers() yourself",
        "cleargrad": "minigrad calls it zero_grad() (or cleargrads(), the book's name)",
        "update": "layers do not update themselves: an optimizer does, "
                  "SGD(model, lr=...).update()",
    },
    "Optimizer": {
        "param_groups": "a minigrad optimizer has one set of parameters (params()) and one "
                        "learning rate (.lr)",
        "add_param_group": "build one optimizer per group of parameters, each with its own lr",
        "setup": "minigrad passes the model to the constructor: SGD(model, lr=0.1)",
        "state": "per-parameter state is state_of(param); state_dict() saves all of it",
        "clip_grad_norm": "add a hook: optimizer.add_hook(ClipGradNorm(max_norm))",
        "target": "minigrad calls it optimizer.model (the model whose params() it updates)",
    },
}


def other_names(cls):
    """Class decorator: each PyTorch or DeZero name listed for ``cls`` in
    OTHER_NAMES becomes an attribute whose reading raises an AttributeError
    saying what minigrad calls it.

    (Descriptors, not ``__getattr__``: a class with ``__getattr__`` loses
    CPython's fast attribute reads, and every operation reads Variables'.)"""
    for name, hint in OTHER_NAMES[cls.__name__].items():
        setattr(cls, name, _OtherName(name, hint))
    return cls


class _OtherName:
    """A name from another framework: reading it says what minigrad calls it."""

    def __init__(self, name, hint):
        self.name, self.hint = name, hint

    def __get__(self, obj, owner=None):
        raise AttributeError(f"{owner.__name__} has no {self.name!r}: {self.hint}")
