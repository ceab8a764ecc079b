"""The optimizer a trainer of models/ is given: a name and a learning rate, or
an Optimizer built by the caller."""
from __future__ import annotations

from minigrad.optimizers import SGD, Adam, Optimizer

__all__ = ["make_optimizer"]

_OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(model, optimizer, lr):
    """An Optimizer instance is used as it is (its own lr wins); a name builds one."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if lr is None:
        raise ValueError(f"lr is needed to build a {optimizer!r} optimizer")
    try:
        cls = _OPTIMIZERS[str(optimizer).lower()]
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)} or an Optimizer, "
                         f"got {optimizer!r}") from None
    return cls(model, lr=lr)
