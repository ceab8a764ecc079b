"""Linear (the book's Affine, y = x @ W + b) and TiedLinear (an output layer
that reuses an embedding matrix, transposed)."""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import random as mg_random
from ..errors import ShapeError
from ..functions import linear
from .layer import Layer
from .parameter import Parameter, given_array, layer_dtype


class Linear(Layer):
    """y = x @ W + b with W of shape (in_size, out_size), as the book's Affine.

    x may be (N, in_size) or carry more leading axes, (N, T, in_size) as the
    book's TimeAffine; b's gradient is then the sum over all of them. W starts
    as a normal draw scaled by 1 / sqrt(in_size) (the book's choice), b at zero;
    pass ``W`` / ``b`` (numpy or cupy arrays in the book's layout) to start from
    given values, ``rng`` (a Generator or an int seed) to make the draw repeatable.
    ``dtype=None`` (the default) keeps the given weights' dtype, else float32.

    >>> import numpy as np
    >>> from minigrad.layers import Linear
    >>> fc = Linear(3, 2, W=np.ones((3, 2)), b=np.array([0.5, -0.5]))   # float64, as W
    >>> fc(np.ones((4, 5, 3))).shape
    (4, 5, 2)
    >>> fc(np.array([[1.0, 2.0, 3.0]], dtype=np.float32))   # data take the layer's dtype
    variable([[6.5, 5.5]])
    >>> Linear(3, 2, rng=0)(np.ones((1, 3))).dtype            # float32 by default
    dtype('float32')
    >>> [name for name, _ in fc.named_params()]
    ['W', 'b']
    """

    numeric_input = True   # integer arrays and lists are numbers here, cast to the dtype

    def __init__(self, in_size: int, out_size: int, bias: bool = True, dtype=None,
                 W=None, b=None, rng=None):
        super().__init__()
        self.in_size, self.out_size = in_size, out_size
        dtype = layer_dtype("Linear", dtype, W, b)
        if W is None:
            W = mg_random.generator(rng).standard_normal((in_size, out_size)) / np.sqrt(in_size)
        self.W = Parameter(given_array("Linear", "W", W, (in_size, out_size), dtype), name="W")
        if not bias:
            if b is not None:
                raise ValueError("Linear: b was given but bias=False")
            self.b = None
        else:
            xp = backend.get_array_module(self.W.data)
            b = xp.zeros(out_size, dtype=dtype) if b is None else b
            self.b = Parameter(given_array("Linear", "b", b, (out_size,), dtype), name="b")

    def forward(self, x):
        # One fused node: x @ W + b without a separate broadcast/Repeat for b.
        return linear(x, self.W, self.b)

    def extra_repr(self):
        return f"{self.in_size}, {self.out_size}, bias={self.b is not None}"


class TiedLinear(Layer):
    """An output layer whose weight is an existing Parameter of shape
    (out_size, in_size), used transposed: y = x @ weight.T + b.

    This is the book's weight tying (BetterRnnlm): the embedding matrix (V, D)
    is also the output layer's (D, V) weight. The Parameter is the same object
    in both layers, so ``params()`` lists it once (under the name it was first
    registered by) and backward sums both uses into its one gradient.

    >>> import numpy as np
    >>> from minigrad.layers import Embedding, Layer, TiedLinear
    >>> class LM(Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.embed = Embedding(10, 4, rng=0)
    ...         self.out = TiedLinear(self.embed.W)
    >>> [(name, p.shape) for name, p in LM().named_params()]
    [('embed.W', (10, 4)), ('out.b', (10,))]
    """

    numeric_input = True   # integer arrays and lists are numbers here, cast to the dtype

    def __init__(self, weight: Parameter, bias: bool = True, b=None):
        super().__init__()
        if not isinstance(weight, Parameter):
            raise TypeError("TiedLinear: weight must be the Parameter to share (e.g. "
                            f"embedding.W), got {type(weight).__name__}")
        if weight.ndim != 2:
            raise ShapeError(f"TiedLinear: weight must be 2-D (out_size, in_size), got shape "
                             f"{tuple(weight.shape)}")
        self.out_size, self.in_size = weight.shape
        self.W = weight
        if not bias:
            self.b = None
        else:
            xp = backend.get_array_module(weight.data)
            b = xp.zeros(self.out_size, dtype=weight.dtype) if b is None else b
            self.b = Parameter(given_array("TiedLinear", "b", b, (self.out_size,), weight.dtype),
                               name="b")

    def forward(self, x):
        # One node reading W transposed: no copy of the (V, D) matrix per call,
        # and its gradient comes out in W's own layout.
        return linear(x, self.W, self.b, transposed=True)

    def extra_repr(self):
        return f"{self.in_size}, {self.out_size}, bias={self.b is not None}"
