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
    rows_only_is_exact = True    # a zero gradient changes neither h nor p

    def __init__(self, params, lr: float = 0.01, *, lazy: bool = False):
        super().__init__(params, lazy=lazy)
        self.lr = lr          # checked and made a float by Optimizer.__setattr__

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

    def __init__(self, params, lr: float = 0.01, decay_rate: float = 0.99, *,
                 lazy: bool = False):
        super().__init__(params, lazy=lazy)
        self.lr, self.decay_rate = lr, decay_rate

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

    The same float32 operations in the same order as the book's code, so the
    same numbers, bit for bit, written in place into work arrays kept between
    steps. A sparse gradient (:class:`~minigrad.SparseRows`) gives the same
    numbers too: the rows without a gradient take the zero-gradient step over
    the whole table, with no dense gradient made. ``lazy=True`` instead updates
    only the rows the gradient holds (PyTorch's ``SparseAdam``), a different
    algorithm: see "Sparse gradients" in docs/optimizers.md, which also says
    why no lazy form can give the book's numbers.
    """

    hyperparams = ("lr", "beta1", "beta2")
    slots = ("m", "v")

    def __init__(self, params, lr: float = 0.001, beta1: float = 0.9, beta2: float = 0.999, *,
                 lazy: bool = False):
        super().__init__(params, lazy=lazy)
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2

    def update_one(self, param, grad):
        s, d = self.scratch(param, 2)
        self._book_step(param.data, self.state_of(param), grad, s, d)

    def update_every_row(self, param, grad):
        # (Sweeping the table in cache-sized blocks was tried: no faster here,
        # where the tables of a word2vec model fit in the shared cache.)
        self._update_rows(param, grad, zero_step=self._zero_gradient_step)

    def _zero_gradient_step(self, param):
        """Every element of ``param`` takes the step of a zero gradient."""
        s, d = self.scratch(param, 2)
        self._book_step(param.data, self.state_of(param), None, s, d)

    def _book_step(self, p, state, grad, s, d):
        """The book's three lines on the array ``p`` and its state's m and v,
        in place, with the work arrays ``s`` and ``d``; ``grad`` None is a
        zero gradient."""
        xp = backend.get_array_module(p)
        t = self.steps
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** t) / (1.0 - self.beta1 ** t)
        m, v = state["m"], state["v"]
        if grad is None:
            # (0 - m) * c is -(m * c) exactly and m + -x is m - x: the book's
            # numbers for g = 0 with no gradient array.
            xp.multiply(m, 1 - self.beta1, out=d)
            m -= d
            xp.multiply(v, 1 - self.beta2, out=d)
            v -= d
        else:
            xp.subtract(grad, m, out=d)
            d *= 1 - self.beta1
            m += d
            xp.multiply(grad, grad, out=d)
            d -= v
            d *= 1 - self.beta2
            v += d
        xp.sqrt(v, out=s)
        s += EPS
        xp.multiply(m, lr_t, out=d)
        d /= s
        p -= d
