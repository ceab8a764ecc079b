"""The book's first trained network (chapter 1): TwoLayerNet on the spiral data.

Affine (I, H) -> Sigmoid -> Affine (H, O), trained with softmax cross-entropy.
The book's ``ch01/train.py`` fits it with SGD (lr 1.0) in batches of 30 for 300
epochs through its ``Trainer``; :func:`train_two_layer_net` does the same
with :class:`minigrad.training.Trainer`.

Weights, in the book's layout (everything is x @ W):

==========  ===========
key         shape
==========  ===========
W1, b1      (I, H), (H,)
W2, b2      (H, O), (O,)
==========  ===========
"""
from __future__ import annotations

import numpy as np

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad import training

from ..shared.training import fit
from ..shared.weights import WeightsMixin

__all__ = ["TwoLayerNet", "book_setup", "train_two_layer_net", "accuracy",
           "plot_decision_boundary"]


class TwoLayerNet(L.Layer, WeightsMixin):
    """The book's TwoLayerNet: ``forward(x)`` gives the class scores (N, O),
    ``loss(x, t)`` their softmax cross-entropy against ``t`` (labels, or
    one-hot rows as the book's spiral loader gives them).

    Initialisation as the book: weights 0.01 * normal, zero biases.

    >>> import numpy as np
    >>> from minigrad.data import spiral
    >>> x, t = spiral()
    >>> model = TwoLayerNet(2, 10, 3, rng=0)
    >>> model(x).shape, round(float(model.loss(x, t).data), 3)   # near log 3 at the start
    ((300, 3), 1.099)
    """

    BOOK_NAMES = {"affine1.W": "W1", "affine1.b": "b1", "affine2.W": "W2", "affine2.b": "b2"}

    def __init__(self, input_size=2, hidden_size=10, output_size=3, dtype=np.float32, rng=None):
        super().__init__()
        rng = mg.random.generator(rng)
        I, H, O = input_size, hidden_size, output_size
        self.affine1 = L.Linear(I, H, W=0.01 * rng.standard_normal((I, H)), b=np.zeros(H),
                                dtype=dtype)
        self.affine2 = L.Linear(H, O, W=0.01 * rng.standard_normal((H, O)), b=np.zeros(O),
                                dtype=dtype)

    def forward(self, x):
        # The spiral's points are float64: affine1 casts them to the model's dtype.
        return self.affine2(F.sigmoid(self.affine1(x)))

    def loss(self, x, t):
        return F.softmax_cross_entropy(self.forward(x), t)

    def predict(self, x):
        """Class scores as an array, without a graph."""
        with mg.no_grad():
            return self.forward(x).data

    @classmethod
    def from_weights(cls, weights: dict, dtype=np.float32):
        weights = cls._weights_in(weights, dtype)
        I, H = np.shape(weights["W1"])
        O = np.shape(weights["W2"])[1]
        return cls(I, H, O, dtype=dtype, rng=0).load_arrays(weights)


def accuracy(model, x, t) -> float:
    """The fraction of points whose highest score is their class."""
    t = np.asarray(t)
    if t.ndim == 2:
        t = t.argmax(axis=1)
    return training.accuracy(mg.to_cpu(model.predict(x)).argmax(axis=1), t)


def book_setup(hidden_size=10, seed=1984, dtype=np.float64):
    """The book's ch01/train.py before its loop: ``(model, x, t, stream)``.

    One legacy ``RandomState(seed)`` gives, in the book's order, the spiral's
    noise, the initial weights and (passed on as ``rng`` to
    :func:`train_two_layer_net`) every epoch's shuffle, as the book's
    ``np.random.seed(1984)`` does; float64 like the book, so the run is the
    book's own (to rounding)."""
    from minigrad.data import spiral

    stream = np.random.RandomState(seed)
    x, t = spiral(one_hot=True, rng=stream)
    return TwoLayerNet(2, hidden_size, 3, dtype=dtype, rng=stream), x, t, stream


def train_two_layer_net(model, x, t, *, batch_size=30, max_epoch=300, lr=1.0, optimizer="sgd",
                        max_grad=None, out_dir=None, name="two-layer-net", progress=True,
                        report_every=10, checkpoint_every=None, resume=None, comm=None,
                        rng=None, stop_on_nonfinite=True, anomaly=False):
    """The book's ch01/train.py loop (its Trainer: SGD lr 1.0, batches of 30,
    300 epochs, a report every 10 batches) on points ``x`` and classes ``t``;
    returns the history. The options are every trainer's
    (:mod:`models.shared.training`); ``rng``: the generator of the epochs'
    shuffles (the book's stream, from :func:`book_setup`)."""
    from minigrad.data import ShuffledBatches

    return fit(model, ShuffledBatches(x, t, batch_size=batch_size, rng=rng), max_epoch=max_epoch,
               lr=lr, optimizer=optimizer, max_grad=max_grad, out_dir=out_dir, name=name,
               progress=progress, report_every=report_every, checkpoint_every=checkpoint_every,
               resume=resume, comm=comm, stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly,
               trainer="train_two_layer_net", history={"batch_size": batch_size})


def plot_decision_boundary(model, x, t, path, step=0.005):
    """The book's chapter-1 figure (:func:`minigrad.training.plots.plot_decision_boundary`),
    titled with the model's accuracy. Written as PNG at ``path`` (atomically);
    returns the path, or None with a note when matplotlib is missing."""
    from minigrad.training.plots import plot_decision_boundary as draw

    return draw(model, x, t, path, step=step,
                title=f"{type(model).__name__}: accuracy {accuracy(model, x, t):.3f}")
