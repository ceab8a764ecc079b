"""minigrad.functions (imported as F): every differentiable operation.

Each operation is one Function class with its backward beside its forward, in
the module of its kind, plus a small function that calls it; each module's
``__all__`` names those functions, and this package exports them all.
"""
from . import (arithmetic, dot_attention, elementwise, linalg, loss, nn, recurrent, reduction,
               shape)
from .arithmetic import *  # noqa: F401,F403
from .dot_attention import *  # noqa: F401,F403
from .elementwise import *  # noqa: F401,F403
from .linalg import *  # noqa: F401,F403
from .loss import *  # noqa: F401,F403
from .nn import *  # noqa: F401,F403
from .recurrent import *  # noqa: F401,F403
from .reduction import *  # noqa: F401,F403
from .shape import *  # noqa: F401,F403
# The classes of the book's nodes and the fused sequences, for subclassing and isinstance.
from .arithmetic import Add, Div, Maximum, Minimum, Mul, Neg, Pow, Sub, Where  # noqa: F401
from .elementwise import (Abs, AsType, Clip, Copy, Cos, Exp, LeakyReLU, Log, Log1p,  # noqa: F401
                          ReLU, Sigmoid, Sin, Softplus, Sqrt, Tanh)
from .linalg import Linear, MatMul  # noqa: F401
from .loss import LogSoftmax, MeanSquaredError, Softmax, SoftmaxCrossEntropy  # noqa: F401
from .recurrent import GRUSequence, LSTMSequence, RNNSequence  # noqa: F401
from .reduction import LogSumExp, Max, Mean, Min, Sum  # noqa: F401
from .shape import (Branch, BroadcastTo, Concat, GetItem, GetItemGrad, Repeat,  # noqa: F401
                    Reshape, Split, Stack, SumTo, Transpose)
from . import operators  # noqa: F401,E402  (what +, *, @, [], .sum(), ... run)
from . import numpy_calls, numpy_protocol  # noqa: F401,E402  (np.tanh(v) is tanh(v), ...)

__all__ = [name for module in (arithmetic, elementwise, linalg, reduction, shape, loss, nn,
           recurrent, dot_attention) for name in module.__all__]
