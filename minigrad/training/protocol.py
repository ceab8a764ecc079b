"""What a model must have for :class:`Trainer`, :class:`TrainingLoop` and
:func:`generate`: the one list, checked up front by :func:`check_model`.

Every :class:`~minigrad.layers.Layer` has the methods the trainers use to
handle its parameters (``params``, ``named_params``, ``layers``,
``zero_grad``, ``train``, ``eval``); what a model adds itself is

* ``loss(*batch)``: the loss of one batch as a scalar Variable (for the
  trainers; or pass ``loss=`` to them);
* ``predict(ids)``: the scores of the next word, shape (N, T, V), for
  :func:`generate` (a model without it is called, ``model(ids)``);
* ``reset_state()``, optional: a stateful model (the book's language models)
  forgets the state it carries between batches. Called when present.

>>> from minigrad.layers import Linear
>>> check_model(Linear(2, 2), "Trainer")  # doctest: +ELLIPSIS
Traceback (most recent call last):
  ...
minigrad.training.protocol.ModelProtocolError: Trainer: the model (Linear) lacks what it needs:
  - loss(*batch): the loss of one batch, a scalar Variable; define it on the model, or pass the loss function as loss=... (Trainer(model, optimizer, loss=f), TrainingLoop(..., loss=f))
...
"""
from __future__ import annotations

from .. import functions as F
from ..errors import MinigradError

__all__ = ["ModelProtocolError", "check_model", "LAYER_METHODS"]


class ModelProtocolError(MinigradError, TypeError):
    """A model that lacks a method a trainer or generate needs."""


# The methods every Layer has, which the trainers use.
LAYER_METHODS = ("params", "named_params", "layers", "zero_grad", "train", "eval")

_LAYER_HINT = ("methods every minigrad Layer has: build the model as a subclass of "
               "minigrad.layers.Layer (and call super().__init__())")


def check_model(model, user: str, *, loss=None, generating=False) -> None:
    """Raise a :class:`ModelProtocolError` listing everything ``model`` lacks
    for ``user`` (the trainer's name, or "generate"). ``loss``: the loss
    function given to the trainer instead of ``model.loss``."""
    lacking = [f"{name}()" for name in LAYER_METHODS if not callable(getattr(model, name, None))]
    missing = [f"  - {', '.join(lacking)}: {_LAYER_HINT}"] if lacking else []
    if generating:
        if not callable(getattr(model, "predict", None)) and not callable(model):
            missing.append("  - predict(ids): the scores of the next word, (N, T, V); define "
                           "it, or forward, on the model")
    elif loss is None and not callable(getattr(model, "loss", None)):
        missing.append("  - loss(*batch): the loss of one batch, a scalar Variable; define "
                       "it on the model, or pass the loss function as loss=... (Trainer(model, "
                       "optimizer, loss=f), TrainingLoop(..., loss=f))")
    if loss in _CRITERIA:
        # PyTorch's habit, criterion(model(x), t): here loss= gets the batch itself.
        name = f"F.{loss.__name__}"
        missing.append(f"  - loss={name} would compute the loss of the batch's inputs, not of "
                       f"the model's scores: loss= takes the batch (x, t) and returns its loss; "
                       f"write loss=lambda x, t: {name}(model(x), t), or define model.loss")
    if missing:
        raise ModelProtocolError(f"{user}: the model ({type(model).__name__}) lacks what it "
                                 f"needs:\n" + "\n".join(missing) +
                                 "\n(see 'What a model needs' in docs/training.md)")


# minigrad's loss functions of (scores, targets): never a loss of the batch itself.
_CRITERIA = (F.softmax_cross_entropy, F.sigmoid_cross_entropy, F.mean_squared_error)


def reset_state(model) -> None:
    """Call ``model.reset_state()`` when the model has one (it is optional)."""
    reset = getattr(model, "reset_state", None)
    if callable(reset):
        reset()
