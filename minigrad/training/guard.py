"""The check a training step makes before it updates the weights: a loss or
a gradient that is NaN or Inf stops the run, naming the step and the
parameter, instead of training on in NaNs."""
from __future__ import annotations

import math

from .. import backend
from ..core.sparse import SparseRows
from ..errors import MinigradError

__all__ = ["NonFiniteError", "check_loss", "check_grads"]

_WHAT_TO_DO = ("The usual cause is a learning rate too large for the model: lower it, or clip "
               "the gradients (max_grad=, ClipGradNorm). anomaly=True (--anomaly) names the "
               "operation that made the first NaN or Inf and your line that called it; "
               "stop_on_nonfinite=False (--keep-going) trains on regardless.")


class NonFiniteError(MinigradError, FloatingPointError):
    """A training step met a NaN or Inf loss or gradient; the weights were not
    updated by it."""


def _update(updated: bool) -> str:
    return ("this step's update was applied" if updated
            else "the weights were not updated by this step")


def check_loss(value: float, where: str, updated: bool = False) -> None:
    """Raise unless ``value`` (the batch's loss) is finite; ``updated``: the
    step has already updated the weights (said in the message)."""
    if not math.isfinite(value):
        raise NonFiniteError(f"{where}: the loss is {value}; {_update(updated)}. {_WHAT_TO_DO}")


def check_grads(named_params, where: str, updated: bool = False) -> None:
    """Raise at the first parameter whose gradient holds a NaN or Inf."""
    for name, p in named_params:
        g = p.grad
        if g is None:
            continue
        a = g.rows if isinstance(g, SparseRows) else g.data
        xp = backend.get_array_module(a)
        # One reduction finds nearly every case: a sum is NaN or Inf whenever
        # an element is (and, rarely, when finite ones overflow: checked then).
        if math.isfinite(float(a.sum())) or bool(xp.isfinite(a).all()):
            continue
        bad = int(a.size - int(xp.isfinite(a).sum()))
        raise NonFiniteError(f"{where}: the gradient of parameter {name!r} {tuple(p.shape)} "
                             f"has {bad} NaN or Inf values (the loss was finite); "
                             f"{_update(updated)}. {_WHAT_TO_DO}")
