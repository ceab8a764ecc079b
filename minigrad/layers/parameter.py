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
