"""Learning-rate schedules: after each epoch a schedule sets the optimizer's
``lr`` for the next one.

* :class:`StepLR`: ``lr = base_lr * gamma ** (epochs // step_size)``;
* :class:`ExponentialLR`: ``lr = base_lr * gamma ** epochs``;
* :class:`CosineLR`: from ``base_lr`` down to ``min_lr`` along half a cosine
  over ``total_epochs``;
* :class:`DivideWhenWorse`: the book's chapter 6 (``train_better_rnnlm.py``):
  divide lr by 4 whenever the validation perplexity does not improve.

``epochs`` is the number of epochs finished, and ``base_lr`` the optimizer's
lr when training starts. A schedule goes to :class:`TrainingLoop` or
:meth:`Trainer.fit` as ``schedule=``; its state is stored in the resume file,
so a resumed run continues the schedule exactly.

>>> import numpy as np
>>> from minigrad.layers import Linear
>>> from minigrad.optimizers import SGD
>>> opt = SGD(Linear(2, 2), lr=1.0)
>>> schedule = StepLR(step_size=2, gamma=0.5)
>>> schedule.start(opt)
>>> lrs = []
>>> for epoch in range(5):
...     lrs.append(opt.lr)
...     schedule.after_epoch(opt, epoch, history={})
>>> lrs
[1.0, 1.0, 0.5, 0.5, 0.25]
"""
from __future__ import annotations

import math

__all__ = ["Schedule", "StepLR", "ExponentialLR", "CosineLR", "DivideWhenWorse"]


class Schedule:
    """Base of the schedules: remembers ``base_lr`` and saves its state.

    A subclass writes :meth:`lr_after` (the lr for the epoch after ``epoch``,
    0-based) and lists in ``saved`` the attributes that change as training
    goes (besides ``base_lr``), so that they go into the resume file."""

    saved: tuple = ()

    def __init__(self):
        self.base_lr = None

    def start(self, optimizer):
        """Remember the optimizer's lr as ``base_lr`` (the first time only: a
        resumed or continued run keeps the one it started with)."""
        if self.base_lr is None:
            self.base_lr = float(optimizer.lr)

    def after_epoch(self, optimizer, epoch: int, history: dict):
        """Set ``optimizer.lr`` for the next epoch; ``epoch`` (0-based) has
        just ended, and ``history`` holds what it recorded."""
        self.start(optimizer)
        optimizer.lr = self.lr_after(epoch, float(optimizer.lr), history)

    def lr_after(self, epoch: int, lr: float, history: dict) -> float:
        raise NotImplementedError(f"{type(self).__name__}.lr_after is not defined")

    def state_dict(self) -> dict:
        """The state a resumed run needs: plain Python numbers (JSON keeps
        floats exactly)."""
        state = {"schedule": type(self).__name__, "base_lr": self.base_lr}
        state.update({name: getattr(self, name) for name in self.saved})
        return state

    def load_state_dict(self, state: dict):
        kind = state.get("schedule")
        if kind != type(self).__name__:
            raise ValueError(f"{type(self).__name__}.load_state_dict: the state is of a "
                             f"{kind} schedule; build the same schedule as the first run")
        self.base_lr = state["base_lr"]
        for name in self.saved:
            setattr(self, name, state[name])

    def __repr__(self):
        settings = ", ".join(f"{k}={v!r}" for k, v in vars(self).items()
                             if k != "base_lr" and k not in self.saved)
        return f"{type(self).__name__}({settings})"


def _positive(owner, name, value, below=None) -> float:
    value = float(value)
    if not value > 0 or (below is not None and not value < below):
        bound = f" and below {below}" if below is not None else ""
        raise ValueError(f"{owner}: {name} must be positive{bound}, got {value!r}")
    return value


class StepLR(Schedule):
    """``lr = base_lr * gamma ** (epochs // step_size)``: multiplied by
    ``gamma`` every ``step_size`` epochs."""

    def __init__(self, step_size: int, gamma: float = 0.1):
        super().__init__()
        if isinstance(step_size, bool) or int(step_size) != step_size or step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), _positive("StepLR", "gamma", gamma)

    def lr_after(self, epoch, lr, history):
        return self.base_lr * self.gamma ** ((epoch + 1) // self.step_size)


class ExponentialLR(Schedule):
    """``lr = base_lr * gamma ** epochs``: multiplied by ``gamma`` each epoch."""

    def __init__(self, gamma: float):
        super().__init__()
        self.gamma = _positive("ExponentialLR", "gamma", gamma)

    def lr_after(self, epoch, lr, history):
        return self.base_lr * self.gamma ** (epoch + 1)


class CosineLR(Schedule):
    """``lr = min_lr + (base_lr - min_lr) * (1 + cos(pi * epochs / total_epochs)) / 2``,
    then ``min_lr`` once ``total_epochs`` have passed."""

    def __init__(self, total_epochs: int, min_lr: float = 0.0):
        super().__init__()
        if isinstance(total_epochs, bool) or int(total_epochs) != total_epochs or \
                total_epochs < 1:
            raise ValueError(f"CosineLR: total_epochs must be a positive integer, got "
                             f"{total_epochs!r}")
        if not float(min_lr) >= 0:
            raise ValueError(f"CosineLR: min_lr must be >= 0, got {min_lr!r}")
        self.total_epochs, self.min_lr = int(total_epochs), float(min_lr)

    def lr_after(self, epoch, lr, history):
        done = min(epoch + 1, self.total_epochs)
        return self.min_lr + (self.base_lr - self.min_lr) * \
            (1 + math.cos(math.pi * done / self.total_epochs)) / 2


class DivideWhenWorse(Schedule):
    """The book's chapter 6: after each epoch, when the last value of
    ``history[monitor]`` (the validation perplexity, recorded by an
    ``after_epoch`` hook) is not better (lower) than the best so far, lr is
    divided by ``factor``.

    >>> from minigrad.layers import Linear
    >>> from minigrad.optimizers import SGD
    >>> opt, schedule = SGD(Linear(2, 2), lr=20.0), DivideWhenWorse("valid_ppl")
    >>> for epoch, ppl in enumerate([300.0, 250.0, 260.0, 240.0, 240.0]):
    ...     schedule.after_epoch(opt, epoch, {"valid_ppl": [ppl]})
    ...     print(opt.lr, end=" ")
    20.0 20.0 5.0 5.0 1.25
    """

    saved = ("best",)

    def __init__(self, monitor: str = "valid_ppl", factor: float = 4.0):
        super().__init__()
        self.monitor = str(monitor)
        self.factor = _positive("DivideWhenWorse", "factor", factor)
        self.best = None

    def lr_after(self, epoch, lr, history):
        values = history.get(self.monitor)
        if not values:
            raise KeyError(f"DivideWhenWorse: history[{self.monitor!r}] has no value after "
                           f"epoch {epoch + 1}; record it in after_epoch (e.g. the validation "
                           f"perplexity), or name the key that holds it with monitor=")
        value = float(values[-1])
        if self.best is None and len(values) > 1:
            # Resumed from a file without this schedule's state: the history has it.
            self.best = min(float(v) for v in values[:-1])
        if self.best is None or value < self.best:
            self.best = value
            return lr
        return lr / self.factor
