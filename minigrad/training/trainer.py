"""The book's ``Trainer`` (chapter 1, ``common/trainer.py``): minibatch
training of a model on a data set, reshuffled each epoch, with optional
gradient clipping, a loss history and a plot of it."""
from __future__ import annotations

from ..data.batching import ShuffledBatches
from ..optimizers import ClipGradNorm
from .loop import TrainingLoop
from .plots import plot_loss
from .protocol import check_model

__all__ = ["Trainer"]


class Trainer:
    """``Trainer(model, optimizer).fit(x, t, max_epoch, batch_size, max_grad,
    eval_interval)``, as in the book.

    The model gives the loss of a batch as ``model.loss(x, t)`` (or pass
    ``loss=``). ``fit`` shuffles the examples every epoch (with minigrad.random's
    generator: ``minigrad.random.seed`` makes runs repeatable), takes
    ``len(x) // batch_size`` steps per epoch, clips the gradients to global norm
    ``max_grad`` when given, and every ``eval_interval`` steps records the mean
    loss in ``loss_list`` (the book's list) and on the progress bar. It may be
    called again to train further. The whole history of the last ``fit`` (every
    loss, per-epoch means, times) is ``trainer.history``.

    A NaN or Inf loss or gradient stops ``fit`` with a
    :class:`~minigrad.training.NonFiniteError` naming the step and the
    parameter (``stop_on_nonfinite=False`` trains on); ``anomaly=True`` runs
    every step in anomaly mode, which names the operation that made it.

    Each step is compiled (:func:`minigrad.compile`): recorded on its first
    calls, then replayed, with the same losses and weights as an eager step;
    ``compiled=False`` runs every step eagerly.

    >>> import numpy as np, minigrad as mg
    >>> from minigrad import layers as L
    >>> from minigrad.optimizers import SGD
    >>> class Classifier(L.Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = L.Linear(2, 2, rng=0)
    ...     def loss(self, x, t):
    ...         return mg.functions.softmax_cross_entropy(self.fc(x), t)
    >>> mg.random.seed(0)
    >>> x = np.random.default_rng(0).normal(size=(64, 2))
    >>> t = (x[:, 0] > 0).astype(np.int64)           # two half-planes
    >>> model = Classifier()
    >>> trainer = Trainer(model, SGD(model, lr=1.0), progress=False)
    >>> history = trainer.fit(x, t, max_epoch=20, batch_size=16, eval_interval=2)
    >>> len(trainer.loss_list), trainer.loss_list[-1] < 0.5 * trainer.loss_list[0]
    (40, True)
    """

    def __init__(self, model, optimizer, *, loss=None, progress=True, stop_on_nonfinite=True,
                 anomaly=False, compiled=True):
        check_model(model, "Trainer", loss=loss)
        self.model, self.optimizer = model, optimizer
        self.loss = loss
        self.progress = progress
        self.stop_on_nonfinite, self.anomaly = stop_on_nonfinite, anomaly
        self.compiled = compiled
        self.loss_list = []
        self.eval_interval = None
        self.current_epoch = 0
        self.history = None

    def fit(self, x=None, t=None, max_epoch=10, batch_size=32, max_grad=None, eval_interval=20,
            *, after_epoch=None, checkpoint_every=None, checkpoint_path=None, resume=None,
            batches=None, schedule=None):
        """Train for ``max_epoch`` epochs; returns the history (see
        :class:`~minigrad.training.TrainingLoop`; ``after_epoch``, ``schedule``
        and the resume options are passed on to it). ``batches`` replaces
        ``(x, t)``: a batcher of your own (a
        :class:`~minigrad.data.ShuffledBatches` with your own generator, say),
        whose batch size is then the one used."""
        if batches is None:
            if x is None or t is None:
                raise TypeError("Trainer.fit: give the data, fit(x, t, ...), or a batcher, "
                                "fit(batches=...)")
            batches = ShuffledBatches(x, t, batch_size=batch_size)
        elif x is not None or t is not None:
            raise TypeError("Trainer.fit: x and t are given together with batches=, which "
                            "would ignore them; pass the data to the batcher "
                            "(ShuffledBatches(x, t, batch_size=...)) and call fit(batches=...)")
        else:
            batch_size = getattr(batches, "batch_size", batch_size)
        clip = ClipGradNorm(max_grad) if max_grad is not None else None
        loop = TrainingLoop(self.model, self.optimizer, batches, max_epoch=max_epoch,
                            loss=self.loss, report_every=eval_interval, progress=self.progress,
                            after_epoch=after_epoch, checkpoint_every=checkpoint_every,
                            checkpoint_path=checkpoint_path, name="Trainer.fit",
                            schedule=schedule, stop_on_nonfinite=self.stop_on_nonfinite,
                            anomaly=self.anomaly, compiled=self.compiled,
                            history={"model": type(self.model).__name__,
                                     "batch_size": batch_size, "max_grad": max_grad})
        if clip is not None:
            self.optimizer.add_hook(clip)
        try:
            self.history = loop.run(resume)
        finally:
            if clip is not None:
                self.optimizer.hooks.remove(clip)   # clipping is this fit's setting only
        self.eval_interval = eval_interval
        self.loss_list += self.history["train_loss"]
        self.current_epoch += max_epoch
        return self.history

    def plot(self, path=None, ylim=None):
        """The book's loss curve: ``loss_list`` against the reports. With
        ``path`` the picture is written there (PNG, atomically) and the path
        returned; without, the matplotlib Figure is returned (Jupyter shows
        it). None, with a note, when matplotlib is missing."""
        return plot_loss(self.loss_list, path, every=self.eval_interval or 1, ylim=ylim)
