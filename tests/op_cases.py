"""The operations' test entries, shared by the gradient tests
(test_ops_gradients.py) and the backend tests (test_backends.py).

Adding an operation adds one entry here: an element-wise function of one input
goes into UNARY (with a strategy of inputs where it is smooth), any other into
CASES, named after the operation (a function of float64 Variables and the
shapes to draw them with).
"""
import numpy as np

import minigrad as mg
from minigrad import functions as F
from minigrad.testing import strategies as mst

UNARY = {
    # name: (function, strategy of inputs where it is smooth)
    "neg": (F.neg, mst.finite_arrays()),
    "exp": (F.exp, mst.finite_arrays()),
    "log": (F.log, mst.finite_arrays(min_value=0.2, max_value=3)),
    "log1p": (F.log1p, mst.finite_arrays(min_value=-0.8, max_value=3)),
    "abs": (F.abs, mst.kink_free_arrays(kinks=(0.0,))),
    "sin": (F.sin, mst.finite_arrays()),
    "cos": (F.cos, mst.finite_arrays()),
    "sqrt": (F.sqrt, mst.finite_arrays(min_value=0.2, max_value=3)),
    "tanh": (F.tanh, mst.finite_arrays()),
    "sigmoid": (F.sigmoid, mst.finite_arrays(min_value=-6, max_value=6)),
    "softplus": (F.softplus, mst.finite_arrays(min_value=-6, max_value=6)),
    "relu": (F.relu, mst.kink_free_arrays(kinks=(0.0,))),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), mst.kink_free_arrays(kinks=(0.0,))),
    "clip": (lambda x: F.clip(x, -1.0, 0.5), mst.kink_free_arrays(kinks=(-1.0, 0.5))),
    "copy": (F.copy, mst.finite_arrays()),
}


IDS = np.array([[0, 2], [2, 2]])  # repeated ids: gradients must accumulate
MASK = np.array([[True, True, False, True], [False, True, True, True]])   # encoder steps
TARGETS = np.array([[1, -1, 3], [0, 2, 2]])  # -1 is ignored
CONDITION = np.array([[True, False, True], [False, False, True]])
SCORES = np.array([[0.1, 0.9, 0.3, 0.2], [0.5, 0.1, 0.2, 0.7], [0.1, 0.9, 0.4, 0.0]])  # ids 1, 3, 1


def _like(v, constant):
    """``constant`` on the device of Variable ``v``."""
    return mg.get_array_module(v.data).asarray(constant)


def _lstm_outputs(hs, c):
    """Both outputs of F.lstm in one Variable: hs (N, T, H) plus c_T on every step."""
    return hs + F.reshape(c, (c.shape[0], 1, c.shape[1]))


def _computed_ids(W):
    """The greedy ids of SCORES (a Variable wanting a gradient, so the argmax is recorded)."""
    return F.argmax_ids(mg.Variable(_like(W, SCORES)), keepdims=True)


def _rows(W, sparse):
    """Each target's row and its negatives' rows (ids repeat: gradients accumulate)."""
    from minigrad.layers.negative_sampling import PositiveAndNegativeRows
    target, negatives = _like(W, np.array([0, 2])), _like(W, np.array([[2, 3], [2, 0]]))
    return PositiveAndNegativeRows(target, negatives, sparse).apply(W)


def _seeded_dropout(a):
    """Dropout with the same mask at every call (the numerical gradient calls it often)."""
    mg.random.seed(0)
    return F.dropout(a, 0.5)


def _product(parts):
    first, second = parts
    return first * F.tanh(second)


CASES = {
    "add": (lambda a, b: a + b, [(3, 4), (4,)]),
    "sub": (lambda a, b: a - b, [(3, 4), (3, 1)]),
    "mul": (lambda a, b: a * b, [(2, 3), (2, 3)]),
    "div": (lambda a, b: a / (b * b + 1.0), [(2, 3), (3,)]),
    "pow": (lambda a: (a * a + 1.0) ** 1.5, [(2, 3)]),
    "exp_log_sqrt": (lambda a: F.log(F.exp(a) + 1.0) + F.sqrt(a * a + 1.0), [(2, 3)]),
    "tanh_sigmoid_softplus": (lambda a: F.tanh(a) * F.sigmoid(a) + F.softplus(a), [(2, 3)]),
    "matmul": (F.matmul, [(2, 4, 3), (3, 5)]),
    "linear": (F.linear, [(2, 4, 3), (3, 5), (5,)]),
    "linear_transposed": (lambda x, W: F.linear(x, W, transposed=True), [(2, 4, 3), (5, 3)]),
    "lstm": (lambda xw, Wh, h0, c0: _lstm_outputs(*F.lstm(xw, Wh, h0, c0)),
             [(2, 3, 8), (2, 8), (2, 2), (2, 2)]),
    "gru": (lambda xw, Wh, h0: F.gru(xw, Wh * 0.5, h0), [(2, 3, 6), (2, 6), (2, 2)]),
    "rnn": (lambda xw, Wh, h0: F.rnn(xw, Wh * 0.5, h0, nonlinearity="sigmoid")
            + F.rnn(xw, Wh * 0.5, nonlinearity="tanh"), [(2, 3, 2), (2, 2), (2, 2)]),
    "reductions": (lambda a: F.sum(a, axis=1) + F.mean(a, axis=1) + F.max(a, axis=1)
                   + F.min(a, axis=1), [(3, 4)]),
    "logsumexp": (lambda a: F.logsumexp(a, axis=1) + F.logsumexp(a), [(2, 3, 4)]),
    "maximum": (F.maximum, [(2, 3), (3,)]),
    "minimum": (F.minimum, [(2, 1), (2, 3)]),
    "where": (lambda a, b: F.where(_like(a, CONDITION), a, b), [(2, 3), (3,)]),
    "shape": (lambda a: F.transpose(F.reshape(F.broadcast_to(a, (2, 3, 4)), (4, 3, 2)),
                                    (2, 0, 1)), [(3, 4)]),
    "flatten_squeeze_expand_dims": (
        lambda a: F.squeeze(a, axis=1) * F.expand_dims(F.flatten(a)[1:4], 0), [(2, 1, 3)]),
    "repeat_sum_to": (lambda a: F.sum_to(F.repeat(a, 3, axis=0, new_axis=True), (1, 4)), [(4,)]),
    "get_item": (lambda a: a[_like(a, np.array([0, 2, 2, 1]))] + a[1:3].sum(axis=0), [(3, 2)]),
    "embedding": (lambda W: F.embedding(W, _like(W, IDS)), [(4, 3)]),
    "embedding_sparse": (lambda W: F.embedding(W, _like(W, IDS), sparse=True), [(4, 3)]),
    # Ids an operation computed: an input of the lookup (LookupRows), with no gradient.
    "argmax_ids": (lambda W: F.embedding(W, _computed_ids(W)), [(4, 3)]),
    "embedding_computed_ids_sparse": (lambda W: F.embedding(W, _computed_ids(W), sparse=True),
                                      [(4, 3)]),
    "negative_sampling_rows": (lambda W: _rows(W, sparse=False), [(4, 3)]),
    "negative_sampling_rows_sparse": (lambda W: _rows(W, sparse=True), [(4, 3)]),
    "dropout": (lambda a: _seeded_dropout(a), [(3, 4)]),
    "astype": (lambda a: F.astype(a * 2.0, np.float64), [(2, 3)]),
    "branch": (lambda a: _product(F.branch(a, 2)), [(2, 3)]),
    "concat_split_stack": (lambda a, b: F.stack(F.split(F.concat([a, b], axis=1), [2, 4], axis=1)[1:],
                                                 axis=0), [(2, 3), (2, 3)]),
    "softmax": (lambda a: F.softmax(a, axis=0) * F.log_softmax(a, axis=-1), [(3, 4)]),
    "softmax_cross_entropy": (lambda a: F.softmax_cross_entropy(a, _like(a, TARGETS)), [(2, 3, 4)]),
    "sigmoid_cross_entropy": (lambda a: F.sigmoid_cross_entropy(
        a, _like(a, np.array([[0.0, 1.0, 1.0], [1.0, 0.0, 0.0]]))), [(2, 3)]),
    "mean_squared_error": (lambda a, b: F.mean_squared_error(a, b, axis=1), [(2, 3), (2, 3)]),
    "attention": (lambda e, d: F.attention(e, d, _like(e, MASK))[0]
                  + F.weighted_sum(e, F.attention_weights(e, d)), [(2, 4, 3), (2, 3, 3)]),
}
