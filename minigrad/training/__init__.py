"""Training: the loop every trainer shares, the book's Trainer, the resume
file, progress bars, and the outputs a run leaves (metrics JSON, curves PNG).

* :class:`Trainer`: the book's chapter-1 trainer, ``fit(x, t, max_epoch,
  batch_size, max_grad, eval_interval)`` on minibatches reshuffled each epoch.
* :class:`TrainingLoop`: the loop underneath every trainer, language models
  and word2vec included (``models/rnnlm/train.py``,
  ``models/word2vec/train.py``): batches from any batcher in
  :mod:`minigrad.data`, reports, an end-of-epoch hook, exact resuming.
* :func:`save_outputs`: the history as JSON and its curves as a PNG.
* the book's two measures, defined once (:mod:`minigrad.training.metrics`):
  :func:`perplexity` of a language model, :func:`accuracy` of guesses.
* learning-rate schedules (:mod:`minigrad.training.schedules`), the check of
  what a model needs (:func:`check_model`) and the stop at the first NaN or
  Inf (:class:`NonFiniteError`).
* the book's pictures for any model (:mod:`minigrad.training.plots`): loss
  curves, the decision boundary, attention maps.
"""
from .generate import generate
from .guard import NonFiniteError
from .loop import TrainingLoop, eager, eager_requested
from .metrics import accuracy, perplexity
from .outputs import plot_history, save_metrics, save_outputs, to_builtin
from .plots import plot_attention_maps, plot_decision_boundary, plot_loss
from .progress import Progress
from .protocol import ModelProtocolError, check_model
from .schedules import CosineLR, DivideWhenWorse, ExponentialLR, Schedule, StepLR
from .trainer import Trainer

__all__ = ["Trainer", "TrainingLoop", "eager", "eager_requested", "Progress", "save_outputs", "save_metrics",
           "plot_history", "to_builtin", "generate", "NonFiniteError", "ModelProtocolError", "check_model",
           "Schedule", "StepLR", "ExponentialLR", "CosineLR", "DivideWhenWorse",
           "plot_loss", "plot_decision_boundary", "plot_attention_maps", "perplexity",
           "accuracy"]
