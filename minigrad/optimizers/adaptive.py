"""Optimizers with a per-element step size, as in "Deep Learning from Scratch"."""
from __future__ import annotations

import math

from .. import backend
from .base import Optimizer

EPS = 1e-7  # the book's: keeps the first steps finite where h or v is still 0


class AdaGrad(Optimizer):
    """Step sizes shrink with the sum of squared gradients; ``h`` starts at zero::

        h += g * g
        p -= lr * g / (sqrt(h) + 1e-7)
    """

    hyperparams = ("lr",)
    slots = ("h",)

    def __init__(self, params, lr: float = 0.01):
        super().__init__(params)
        self.lr = float(lr)

    def update_one(self, param, grad):
        xp = backend.get_array_module(param.data)
        h = self.state_of(param)["h"]
        h += grad * grad
        param.data -= self.lr * grad / (xp.sqrt(h) + EPS)


class RMSprop(Optimizer):
    """AdaGrad with a decaying average of squared gradients; ``h`` starts at zero::

        h *= decay_rate
        h += (1 - decay_rate) * g * g
        p -= lr * g / (sqrt(h) + 1e-7)
    """

    hyperparams = ("lr", "decay_rate")
    slots = ("h",)

    def __init__(self, params, lr: float = 0.01, decay_rate: float = 0.99):
        super().__init__(params)
        self.lr, self.decay_rate = float(lr), float(decay_rate)

    def update_one(self, param, grad):
        xp = backend.get_array_module(param.data)
        h = self.state_of(param)["h"]
        h *= self.decay_rate
        h += (1 - self.decay_rate) * grad * grad
        param.data -= self.lr * grad / (xp.sqrt(h) + EPS)


class Adam(Optimizer):
    """Adam exactly as the book writes it; ``m`` and ``v`` start at zero and ``t``
    is the number of update() calls, this one included::

        lr_t = lr * sqrt(1 - beta2**t) / (1 - beta1**t)
        m += (1 - beta1) * (g - m)
        v += (1 - beta2) * (g * g - v)
        p -= lr_t * m / (sqrt(v) + 1e-7)

    (The bias correction is folded into ``lr_t``, so ``eps`` acts on the
    uncorrected ``v``: close to, not equal to, PyTorch's Adam.)
    """

    hyperparams = ("lr", "beta1", "beta2")
    slots = ("m", "v")

    def __init__(self, params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999):
        super().__init__(params)
        self.lr, self.beta1, self.beta2 = float(lr), float(beta1), float(beta2)

    def update_one(self, param, grad):
        xp = backend.get_array_module(param.data)
        t = self.steps
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        state = self.state_of(param)
        m, v = state["m"], state["v"]
        # The book's three lines with two temporaries instead of eight (each a
        # full pass over the table); the same operations in the same order,
        # so the same numbers.
        d = grad - m
        d *= 1 - self.beta1
        m += d
        xp.multiply(grad, grad, out=d)
        d -= v
        d *= 1 - self.beta2
        v += d
        denom = xp.sqrt(v)
        denom += EPS
        xp.multiply(m, lr_t, out=d)
        d /= denom
        param.data -= d
