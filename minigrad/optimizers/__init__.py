"""minigrad.optimizers: update rules for Parameters, with gradient hooks and
resumable state (``state_dict`` / ``load_state_dict``). See docs/optimizers.md.
"""
from .adaptive import AdaGrad, Adam, RMSprop
from .base import NoGradientWarning, Optimizer, OptimizerStateError
from .hooks import ClipGradNorm, WeightDecay
from .sgd import SGD, Momentum, Nesterov

__all__ = ["Optimizer", "OptimizerStateError", "NoGradientWarning", "SGD", "Momentum", "Nesterov", "AdaGrad",
           "RMSprop", "Adam", "ClipGradNorm", "WeightDecay"]
