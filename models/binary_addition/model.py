"""A simple RNN that learns binary addition, bit by bit, least significant first.

At step t the RNN reads the two input bits (a_t, b_t) of two 7-bit numbers
and predicts bit t of their 8-bit sum. The carry is not an input: the hidden
state must learn to hold it. Two recipes:

1. **The course notes' program, exactly** (:class:`NotesAdder`,
   :func:`train_notes_adder`)::

       u_t = x_t W_in + z_{t-1} W,   z_t = sigmoid(u_t),   y_t = sigmoid(z_t W_out)

   no biases, hidden size 16, z_{-1} = 0, weights ``weight_init_std * randn``
   (std 1); loss: the notes' mean squared error (halved) of each step's bit,
   summed over the 8 steps; plain SGD, lr 0.1, one random pair (a, b < 128)
   per iteration, 10,000 iterations; the predicted bit is round(y_t). Its
   hand-written BPTT twin is ``BinaryAdderBPTT`` (twin.py, beside this file).
2. **A faster minibatch recipe** (:class:`MinibatchAdder`,
   :func:`train_minibatch_adder`): tanh units with biases, a logit per bit
   with sigmoid cross-entropy, Adam on shuffled minibatches of all 128 x 128
   sums; it gets every sum right in a few epochs.
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad import training
from minigrad import data
from minigrad.compiled import replayed
from minigrad.data import ShuffledBatches

from ..shared.training import fit
from ..shared.weights import WeightsMixin

__all__ = ["NotesAdder", "train_notes_adder", "notes_streams", "notes_loss", "notes_weights",
           "pair_sequences", "first_perfect_window", "INITS",
           "MinibatchAdder", "train_minibatch_adder",
           "binary_addition_dataset", "accuracy"]

BITS = 8                 # of the sum; the operands are below 2**(BITS - 1) = 128
OPERAND_LIMIT = 1 << (BITS - 1)
INITS = ("std", "xavier", "he")


def binary_addition_dataset(bits=7):
    """Every pair of ``bits``-bit numbers: inputs (N, bits + 1, 2) and float32
    targets (N, bits + 1), least significant bit first (minigrad.data's
    dataset, which counts the bits of the result)."""
    xs, ts = data.binary_addition_dataset(bits + 1)
    return xs, ts.astype(np.float32)


def accuracy(model, xs, ts):
    """The fraction of sums with every bit right."""
    return training.accuracy(model.predict_bits(xs), ts)


# ================================================================ 1. the course notes' program
_BIT_TABLE = ((np.arange(1 << BITS)[:, None] >> np.arange(BITS)) & 1).astype(np.float64)


def pair_sequences(a, b, dtype=np.float64):
    """Inputs (n, 8, 2) and target bits (n, 8) of the sums a + b (arrays of
    n operands below 128), least significant bit first.

    >>> x, d = pair_sequences(np.array([5]), np.array([3]))
    >>> x[0, :4].tolist(), d[0].tolist()            # 5 = 101, 3 = 011; 8 = 0001 0000
    ([[1.0, 1.0], [0.0, 1.0], [1.0, 0.0], [0.0, 0.0]], [0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 0.0])
    """
    a, b = np.asarray(a), np.asarray(b)
    operands = np.concatenate([a.ravel(), b.ravel()])
    if operands.size and (operands.min() < 0 or operands.max() >= OPERAND_LIMIT):
        raise ValueError(f"pair_sequences: the operands must be in [0, {OPERAND_LIMIT}) so "
                         f"that the sum fits in {BITS} bits")
    x = np.stack([_BIT_TABLE[a], _BIT_TABLE[b]], axis=-1).astype(dtype, copy=False)
    return x, _BIT_TABLE[a + b].astype(dtype, copy=False)


def notes_weights(hidden_size=16, weight_init_std=1.0, init="std", rng=None, dtype=np.float64):
    """W_in (2, H), W (H, H), W_out (H, 1), drawn as the notes draw them (in
    the order W_in, W_out, W): ``init="std"`` is ``weight_init_std * randn``;
    "xavier" is randn / sqrt(fan_in) and "he" randn * sqrt(2 / fan_in), fan_in
    being each matrix's number of rows (``weight_init_std`` is then unused)."""
    if init not in INITS:
        raise ValueError(f"notes_weights: init must be one of {', '.join(INITS)}; got {init!r}")
    gen = mg.random.generator(rng)
    H = int(hidden_size)
    drawn = {}
    for name, shape in (("W_in", (2, H)), ("W_out", (H, 1)), ("W", (H, H))):
        scale = {"std": weight_init_std, "xavier": 1 / np.sqrt(shape[0]),
                 "he": np.sqrt(2 / shape[0])}[init]
        drawn[name] = (scale * gen.standard_normal(shape)).astype(dtype)
    return drawn["W_in"], drawn["W"], drawn["W_out"]


def notes_loss(y, d):
    """The notes' loss of outputs y and target bits d, both (N, T): at each
    step the mean over its N bits of the squared error, halved as the notes'
    mean_squared_error does (so its gradient is y - d), summed over the T steps."""
    return F.sum(F.mean_squared_error(y, d, axis=0)) / 2


class NotesAdder(L.Layer, WeightsMixin):
    """The course notes' RNN: ``rnn`` = RNN(2, H, sigmoid, no bias) holding
    W_in (``rnn.Wx``) and W (``rnn.Wh``), and ``out`` = Linear(H, 1, no bias)
    holding W_out (``out.W``); the output y_t = sigmoid(z_t W_out).

    ``nonlinearity`` ("sigmoid", "tanh", "relu") changes the hidden units
    only, as the notes' variants do; ``init`` and ``weight_init_std`` choose
    the draw (see :func:`notes_weights`). ``fused=False`` records each step's
    operations instead of one fused RNN operation (same numbers).

    >>> model = NotesAdder(rng=0)
    >>> [(name, p.shape) for name, p in model.named_params()]
    [('rnn.Wx', (2, 16)), ('rnn.Wh', (16, 16)), ('out.W', (16, 1))]
    >>> list(model.to_weights())                 # the notes' names
    ['W_in', 'W', 'W_out']
    >>> x, d = pair_sequences(np.array([5]), np.array([3]))
    >>> model(x).shape
    (1, 8)
    """

    BOOK_NAMES = {"rnn.Wx": "W_in", "rnn.Wh": "W", "out.W": "W_out"}

    def __init__(self, hidden_size=16, weight_init_std=1.0, init="std", nonlinearity="sigmoid",
                 dtype=np.float64, rng=None, fused=True):
        super().__init__()
        W_in, W, W_out = notes_weights(hidden_size, weight_init_std, init, rng, dtype)
        self.rnn = L.RNN(Wx=W_in, Wh=W, bias=False, nonlinearity=nonlinearity, dtype=dtype,
                         fused=fused)
        self.out = L.Linear(*np.shape(W_out), bias=False, W=W_out, dtype=dtype)

    @classmethod
    def from_weights(cls, weights: dict, dtype=None, **options):
        """A model holding copies of ``weights``: W_in (2, H), W (H, H), W_out
        (H, 1), in their own dtype unless ``dtype`` is given; ``options``:
        ``nonlinearity``, ``fused``."""
        weights = cls._weights_in(weights, dtype)
        W = weights["W"]
        model = cls(hidden_size=np.shape(W)[0], dtype=np.asarray(W).dtype if dtype is None
                    else dtype, rng=0, **options)
        return model.load_arrays(weights)

    def forward(self, xs):
        """y (N, T): the probability of each sum bit, from xs (N, T, 2)."""
        y = F.sigmoid(self.out(self.rnn(xs)))                    # (N, T, 1)
        return F.reshape(y, y.shape[:2])

    def loss(self, xs, d):
        return notes_loss(self.forward(xs), d)

    def predict_bits(self, xs):
        """round(y_t) for every step of xs (N, T, 2), without a graph."""
        with mg.no_grad():
            return np.round(self.forward(xs).data)


def first_perfect_window(correct, window=100):
    """The number of iterations after which the last ``window`` pairs were all
    right for the first time, or None.

    >>> first_perfect_window(np.array([0, 1, 1, 1, 0, 1, 1], dtype=bool), window=3)
    4
    """
    if len(correct) < window:
        return None
    run = np.convolve(np.asarray(correct, dtype=np.int64), np.ones(window, dtype=np.int64),
                      mode="valid")
    hits = np.flatnonzero(run == window)
    return int(hits[0]) + window if hits.size else None


def notes_streams(seed=0):
    """Two independent generators from one seed: one for the weights, one for
    the pairs. Runs that differ only in lr (or nonlinearity) then start from
    the same weights and see the same pairs.

    >>> weights_rng, pairs_rng = notes_streams(0)
    >>> model = NotesAdder(rng=weights_rng)
    """
    init_seq, data_seq = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(init_seq), np.random.default_rng(data_seq)


class _PairFlags:
    """Whether every bit of each pair came out right, before its update."""

    def __init__(self):
        self.right = []

    @replayed   # read from the step's output: a compiled step notes it on every replay
    def note(self, y, d):
        self.right.append(bool((np.round(y.data) == d).all()))


def train_notes_adder(model, *, iterations=10_000, lr=0.1, rng=None, window=100,
                      max_grad=None, out_dir=None, name="binary-addition", progress=True,
                      report_every=100, checkpoint_every=None, resume=None,
                      stop_on_nonfinite=True, anomaly=False):
    """The notes' training loop: plain SGD, one random pair (a, b < 128) per
    iteration, drawn from ``rng`` up front (one epoch of ``iterations``
    batches of one pair, in that order). The options are every trainer's
    (:mod:`models.shared.training`); one pair cannot be split over ranks, so
    there is no ``comm``.

    Returns the history, with ``correct`` (whether every bit of each
    iteration's pair was right, before its update), ``converged_at`` (the
    iterations until the last ``window`` pairs were all right, or None) and
    ``accuracy`` over all 128 x 128 sums after training."""
    xs, ds = pair_sequences(*mg.random.generator(rng).integers(
        0, OPERAND_LIMIT, size=(2, iterations)), dtype=model.out.W.dtype)
    flags = _PairFlags()

    def loss(x, d):
        y = model(x)
        flags.note(y, d)
        return notes_loss(y, d)

    def keep_flag(loop, value):
        loop.history["correct"].append(flags.right.pop())

    with np.errstate(over="ignore", invalid="ignore"):   # a diverging setting gives NaN, not noise
        history = fit(model, ShuffledBatches(xs, ds, batch_size=1, shuffle=False),
                      max_epoch=1, lr=lr, optimizer="sgd", max_grad=max_grad, out_dir=out_dir,
                      name=name, progress=progress, report_every=report_every,
                      checkpoint_every=checkpoint_every, resume=resume,
                      stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly,
                      trainer="train_notes_adder", loss=loss, after_step=keep_flag,
                      history={"iterations": iterations, "window": window, "correct": []})
    history["converged_at"] = first_perfect_window(np.array(history["correct"], dtype=bool),
                                                   window)
    history["accuracy"] = accuracy(model, *binary_addition_dataset())
    return history


# ================================================================ 2. the minibatch recipe
class MinibatchAdder(L.Layer, WeightsMixin):
    """A faster recipe than the notes': RNN (2 -> hidden_size, tanh, with
    biases) and a per-position logit of the sum bit, trained with sigmoid
    cross-entropy and Adam on minibatches of every sum::

        h_t = tanh([a_t, b_t] Wx + h_{t-1} Wh + b)
        p_t = sigmoid(h_t Wo + bo)         loss = mean_t,n ce(p_t, s_t)
    """

    def __init__(self, hidden_size=16, dtype=np.float32, rng=None):
        super().__init__()
        rng = np.random.default_rng(rng) if isinstance(rng, (int, np.integer)) else rng
        self.rnn = L.RNN(2, hidden_size, dtype=dtype, rng=rng)   # stateless: each sum from h = 0
        self.out = L.Linear(hidden_size, 1, dtype=dtype, rng=rng)

    @classmethod
    def from_weights(cls, weights: dict, dtype=np.float32):
        """A model holding copies of ``weights``, keyed as ``named_params()``."""
        weights = cls._weights_in(weights, dtype)
        return cls(np.shape(weights["rnn.Wh"])[0], dtype=dtype, rng=0).load_arrays(weights)

    def forward(self, xs):
        """Logits (N, T) of the sum bits of xs (N, T, 2)."""
        logits = self.out(self.rnn(xs))                          # (N, T, 1)
        return F.reshape(logits, logits.shape[:2])

    def loss(self, xs, ts):
        return F.sigmoid_cross_entropy(self.forward(xs), ts)

    def predict_bits(self, xs):
        with mg.no_grad():
            return (self.forward(xs).data > 0).astype(np.float32)


def train_minibatch_adder(model, *, max_epoch=40, lr=0.01, optimizer="adam", batch_size=256,
                          max_grad=None, out_dir=None, name="binary-addition", progress=True,
                          report_every=20, checkpoint_every=None, resume=None, comm=None,
                          rng=None, stop_on_nonfinite=True, anomaly=False):
    """Adam on shuffled minibatches of all 128 x 128 sums until every sum is
    right (checked after each epoch) or ``max_epoch`` run out; returns the
    history, with ``accuracy`` over all 16,384 sums after each epoch. The
    options are every trainer's (:mod:`models.shared.training`); ``rng``: the
    generator of the epochs' shuffles."""
    xs, ts = binary_addition_dataset()

    def check(loop, epoch):
        acc = accuracy(model, xs, ts)
        loop.history["accuracy"].append(acc)
        loop.note(f"| epoch {epoch + 1} | accuracy {acc:.4f}")
        if acc == 1.0:
            loop.max_epoch = epoch + 1          # every sum right: the recipe stops here

    return fit(model, ShuffledBatches(xs, ts, batch_size=batch_size, rng=rng),
               max_epoch=max_epoch, lr=lr, optimizer=optimizer, max_grad=max_grad,
               out_dir=out_dir, name=name, progress=progress, report_every=report_every,
               checkpoint_every=checkpoint_every, resume=resume, comm=comm,
               stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly, after_epoch=check,
               trainer="train_minibatch_adder",
               history={"batch_size": batch_size, "accuracy": []})
