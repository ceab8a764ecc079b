"""Parameter: a Variable that a Layer owns and an optimizer updates."""
from __future__ import annotations

from ..core.variable import Variable


class Parameter(Variable):
    """A trainable Variable. Layers register the Parameters assigned to their
    attributes; optimizers update them in place (``p.data``).

    >>> import numpy as np
    >>> from minigrad.layers import Parameter
    >>> W = Parameter(np.zeros((2, 3), dtype=np.float32), name="W")
    >>> W.requires_grad, W.shape
    (True, (2, 3))
    """

    __slots__ = ()

    def __init__(self, data, name=None, requires_grad=True):
        # True by default, not inferred: an integer array is refused here with a
        # DTypeError instead of becoming a Parameter that is never trained.
        super().__init__(data, name=name, requires_grad=requires_grad)
