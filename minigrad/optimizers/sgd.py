"""Gradient descent and its momentum forms, as in "Deep Learning from Scratch"."""
from __future__ import annotations

from .base import Optimizer


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p -= lr * g``.

    >>> import numpy as np
    >>> import minigrad as mg
    >>> from minigrad.layers import Parameter
    >>> p = Parameter(np.array([1.0, 2.0]))
    >>> p.grad = mg.Variable(np.array([10.0, -10.0]))
    >>> SGD([p], lr=0.1).update()
    >>> p.data
    array([0., 3.])
    """

    hyperparams = ("lr",)
    rows_only_is_exact = True    # a zero gradient moves nothing

    def __init__(self, params, lr: float = 0.01, *, lazy: bool = False):
        super().__init__(params, lazy=lazy)
        self.lr = lr          # checked and made a float by Optimizer.__setattr__

    def update_one(self, param, grad):
        param.data -= self.lr * grad


class Momentum(Optimizer):
    """SGD with momentum; ``v`` starts at zero::

        v = momentum * v - lr * g
        p += v
    """

    hyperparams = ("lr", "momentum")
    slots = ("v",)

    def __init__(self, params, lr: float = 0.01, momentum: float = 0.9, *, lazy: bool = False):
        super().__init__(params, lazy=lazy)
        self.lr, self.momentum = lr, momentum

    def update_one(self, param, grad):
        v = self.state_of(param)["v"]
        v *= self.momentum
        v -= self.lr * grad
        param.data += v


class Nesterov(Momentum):
    """Nesterov's accelerated gradient in the book's form; ``v`` starts at zero::

        v *= momentum
        v -= lr * g
        p += momentum * momentum * v
        p -= (1 + momentum) * lr * g
    """

    def update_one(self, param, grad):
        v = self.state_of(param)["v"]
        v *= self.momentum
        v -= self.lr * grad
        param.data += (self.momentum * self.momentum) * v
        param.data -= ((1 + self.momentum) * self.lr) * grad
