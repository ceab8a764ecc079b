"""minigrad.functions (imported as F): every differentiable operation.

Each operation is one Function class with its backward beside its forward, in
the module of its kind, plus a small function here that calls it.
"""
from .arithmetic import Add, Div, Mul, Neg, Pow, Sub, add, div, mul, neg, pow, sub
from .elementwise import (AsType, Clip, Copy, Exp, Log, ReLU, Sigmoid, Softplus, Sqrt, Tanh,
                          astype, clip, copy, exp, log, relu, sigmoid, softplus, sqrt, tanh)
from .linalg import Linear, MatMul, linear, matmul
from .loss import (LogSoftmax, Softmax, SoftmaxCrossEntropy, log_softmax, sigmoid_cross_entropy,
                   softmax, softmax_cross_entropy)
from .nn import dropout, embedding
from .recurrent import GRUSequence, LSTMSequence, gru, lstm
from .reduction import Max, Mean, Min, Sum, max, mean, min, sum
from .shape import (Branch, BroadcastTo, Concat, GetItem, GetItemGrad, Repeat, Reshape, Split,
                    Stack, SumTo, Transpose, branch, broadcast_to, concat, get_item, repeat,
                    reshape, split, stack, sum_to, transpose)
from . import operators  # noqa: F401  (binds +, *, @, [], .sum(), ... to Variable)

__all__ = [
    # arithmetic
    "add", "sub", "mul", "div", "neg", "pow",
    # element-wise
    "exp", "log", "sqrt", "tanh", "sigmoid", "softplus", "relu", "clip", "copy", "astype",
    # linear algebra
    "matmul", "linear",
    # reductions
    "sum", "mean", "max", "min",
    # shape and selection
    "reshape", "transpose", "broadcast_to", "sum_to", "repeat", "branch", "get_item",
    "concat", "split", "stack",
    # softmax and losses
    "softmax", "log_softmax", "softmax_cross_entropy", "sigmoid_cross_entropy",
    # neural-network pieces
    "dropout", "embedding",
    # recurrent sequences, fused
    "lstm", "gru",
]
