"""word2vec's negative sampling: a unigram sampler and the loss it feeds.

UnigramSampler draws, for each target word, ``sample_size`` distinct negative
words from p(w) proportional to count(w) ** 0.75, never the target itself.
NegativeSamplingLoss is the book's EmbeddingDot + SigmoidWithLoss pair as one
layer: it owns the output embedding W (V, D) and scores the positive and the
negatives of each row with one gather and one batched dot.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import random as mg_random
from ..core.arrays import array_of
from ..core.function import Function
from ..core.sparse import SparseRows
from ..errors import DTypeError, GraphError, ShapeError
from ..functions import reshape, sigmoid_cross_entropy
from ..functions.nn import check_ids
from ..functions.shape import GetItemGrad
from .layer import Layer
from .parameter import Parameter, given_array, layer_dtype

# Rounds of vectorised redrawing before the rows still in conflict are finished
# exactly from their renormalised distributions. Realistic vocabularies need 2-4
# rounds; only tiny, very skewed ones (almost all mass on a few words) get here.
_MAX_ROUNDS = 16


def _resolve(rng):
    """None (minigrad's generator, looked up at each draw so that a later
    ``minigrad.random.seed`` takes effect), a Generator, or a new one from an int."""
    if rng is None or isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


class UnigramSampler:
    """Negative words for word2vec: p(w) proportional to count(w) ** power.

    ``corpus`` is a sequence of word ids (the book's ``UnigramSampler(corpus,
    power, sample_size)``); give ``counts=`` (one count per word id) instead when
    the counts are already known. ``vocab_size`` widens a corpus's vocabulary to
    ids that never occur in it (they are never drawn).

    ``sample(target)`` returns ``target.shape + (sample_size,)`` ids. Within a row
    the negatives are drawn *without replacement* and never equal that row's
    target: the same distribution as the book's per-row
    ``np.random.choice(V, sample_size, replace=False, p=p_without_target)``
    (ordered successive sampling), but not bit-identical to it, since the random
    numbers are consumed differently. Without replacement because that is the
    book's choice and what models trained with it expect; it costs nothing extra
    here.

    How, vectorised over all rows: draw every slot with replacement (one uniform
    each, ``searchsorted`` on the cumulative weights), then redraw only the slots
    that hit their row's target or an earlier slot of their row, until none do.
    Every value a slot is ever rejected for is in the set it must finally avoid,
    so each slot ends up as the first of its own i.i.d. draws outside that set:
    exactly p renormalised without the target and the earlier slots. Rows still
    in conflict after a few rounds (only with tiny, very skewed vocabularies) are
    finished from those renormalised distributions directly.

    Draws come from ``rng`` (a Generator or an int seed), by default from
    minigrad's generator (``minigrad.random.seed`` makes them repeatable). cupy
    targets are sampled on the CPU and the result is moved to the GPU: the work
    is a few hundred scalars, not worth a kernel launch per round.

    >>> import numpy as np
    >>> from minigrad.layers import UnigramSampler
    >>> sampler = UnigramSampler([0, 1, 1, 2, 3, 3, 3], sample_size=2, rng=0)
    >>> neg = sampler.sample(np.array([3, 1, 0]))
    >>> neg.shape, bool((neg != np.array([3, 1, 0])[:, None]).all())
    ((3, 2), True)
    """

    def __init__(self, corpus=None, power: float = 0.75, sample_size: int = 5, rng=None, *,
                 counts=None, vocab_size: int | None = None):
        if (corpus is None) == (counts is None):
            raise ValueError("UnigramSampler: give either a corpus of word ids or counts=, "
                             "not both and not neither")
        if counts is None:
            ids = np.asarray(backend.as_numpy(array_of(corpus))).reshape(-1)
            if ids.dtype.kind not in "iu":
                raise DTypeError(f"UnigramSampler: a corpus holds integer word ids, got dtype "
                                 f"{ids.dtype} (pass counts=... to give counts)")
            if ids.size and ids.min() < 0:
                raise ValueError(f"UnigramSampler: negative word id {int(ids.min())} in the corpus")
            counts = np.bincount(ids, minlength=vocab_size or 0)
            if vocab_size is not None and len(counts) > vocab_size:
                raise ValueError(f"UnigramSampler: the corpus has id {len(counts) - 1}, outside "
                                 f"vocab_size={vocab_size}")
        else:
            counts = np.asarray(backend.as_numpy(array_of(counts)), dtype=np.float64)
            if counts.ndim != 1:
                raise ShapeError(f"UnigramSampler: counts must be 1-D (one per word), got shape "
                                 f"{counts.shape}")
            if vocab_size is not None and vocab_size != len(counts):
                raise ValueError(f"UnigramSampler: {len(counts)} counts but vocab_size={vocab_size}")
        counts = np.asarray(counts, dtype=np.float64)
        if not np.isfinite(counts).all() or (counts < 0).any():
            raise ValueError("UnigramSampler: counts must be finite and non-negative")
        if not isinstance(sample_size, (int, np.integer)) or sample_size < 1:
            raise ValueError(f"UnigramSampler: sample_size must be a positive integer, "
                             f"got {sample_size!r}")
        n_words = int((counts > 0).sum())
        if sample_size >= n_words:
            raise ValueError(
                f"UnigramSampler: sample_size={sample_size} needs at least {sample_size + 1} "
                f"words that occur (the target plus {sample_size} distinct others), but the "
                f"vocabulary has {n_words}; a target cannot be excluded otherwise")
        self.vocab_size = len(counts)
        self.power, self.sample_size = power, int(sample_size)
        self.counts = counts
        weights = counts ** power
        self._weights = weights
        self.word_p = weights / weights.sum()
        # Unnormalised cumulative weights: u * total with side="right" never picks a
        # word of weight 0 and never runs past the end, whatever the rounding.
        self._cdf = np.cumsum(weights)
        self._total = self._cdf[-1]
        self._rng = _resolve(rng)
        k = self.sample_size
        self._earlier = np.tri(k, k, -1, dtype=bool)  # [j, i]: slot i comes before slot j

    @property
    def own_generator(self):
        """The Generator this sampler was given to draw from, or None when it
        draws from minigrad.random's (whose state a training loop keeps)."""
        return self._rng

    def draw_from(self, rng):
        """Draw from ``rng`` (a Generator or an int seed) from now on; None:
        from minigrad.random's generator."""
        self._rng = _resolve(rng)

    def _generator(self) -> np.random.Generator:
        if self._rng is None:
            return mg_random.numpy_generator()
        mg_random.note_draw()
        return self._rng

    def _draw(self, rng, n):
        return np.searchsorted(self._cdf, rng.random(n) * self._total, side="right")

    def _conflicts(self, neg, target):
        """Slots equal to their row's target or to an earlier slot of their row.

        ``neg`` is slot-major, (k, n): every comparison then runs along rows of
        length n, which numpy does far faster than many length-k inner loops."""
        hit = neg == target
        if self.sample_size > 1:
            same = neg[:, None, :] == neg[None, :, :]          # [j, i, row]
            hit |= (same & self._earlier[:, :, None]).any(axis=1)
        return hit

    def sample(self, target):
        """Negatives of shape ``target.shape + (sample_size,)`` (see the class)."""
        t = array_of(target)
        on_gpu = backend.is_cupy_array(t)
        t = np.asarray(backend.as_numpy(t))
        if t.dtype.kind not in "iu":
            raise DTypeError(f"UnigramSampler: targets must be integer word ids, got dtype {t.dtype}")
        flat = t.reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= self.vocab_size):
            bad = int(flat.min()) if flat.min() < 0 else int(flat.max())
            raise IndexError(f"UnigramSampler: target {bad} is out of range for a vocabulary "
                             f"of {self.vocab_size} words")
        rng = self._generator()
        n, k = flat.size, self.sample_size
        neg = self._draw(rng, k * n).reshape(k, n)
        for _ in range(_MAX_ROUNDS):
            bad = self._conflicts(neg, flat)
            count = int(np.count_nonzero(bad))
            if not count:
                break
            neg[bad] = self._draw(rng, count)
        else:
            self._finish(rng, neg, flat)
        neg = np.ascontiguousarray(neg.T).reshape(t.shape + (k,))
        return backend.as_cupy(neg) if on_gpu else neg

    def _finish(self, rng, neg, target):
        """Resolve the remaining conflicts in place, slot by slot from the left,
        drawing each conflicting slot from the weights without its row's target
        and earlier slots (the distribution its rejection loop would reach)."""
        for j in range(self.sample_size):
            rows = np.flatnonzero(self._conflicts(neg, target)[j])
            if not rows.size:
                continue
            w = np.tile(self._weights, (rows.size, 1))
            w[np.arange(rows.size), target[rows]] = 0.0
            for i in range(j):
                w[np.arange(rows.size), neg[i, rows]] = 0.0
            cdf = np.cumsum(w, axis=1)
            u = rng.random(rows.size) * cdf[:, -1]
            neg[j, rows] = (cdf <= u[:, None]).sum(axis=1)

    def __repr__(self):
        return (f"UnigramSampler(vocab_size={self.vocab_size}, power={self.power}, "
                f"sample_size={self.sample_size})")


class NegativeSamplingLoss(Layer):
    """word2vec's negative-sampling loss with its own output embedding ``W`` (V, D).

    ``forward(h, target, negatives=None)``: h (N, D) hidden vectors (any leading
    shape, matching ``target``), integer targets (N,). The negatives (N, k) are
    drawn by the layer's UnigramSampler unless given (for tests, or to compare
    with a hand-written twin). The score of word w for row n is h[n] . W[w]; the
    positive gets label 1, the k negatives label 0. The loss is the book's:

        loss = mean over n of [ ce(s[n, target], 1) + sum_j ce(s[n, neg_j], 0) ]

    i.e. the SUM over the 1 + k terms of each term's mean over the batch, with
    the stable ce(s, t) = softplus(s) - s * t (finite at any score).

    The first argument is either the weight (an array of shape (V, D), copied,
    in ``dtype``, by default its own) or the shape ``(V, D)``: W then starts as 0.01 * a normal
    draw, the book's EmbeddingDot initialisation. The sampler needs
    ``corpus=`` (word ids) or ``counts=`` (one per word); ``rng`` (a Generator
    or an int seed) drives both the initial draw and the sampler, by default
    minigrad's generator.

    >>> import numpy as np
    >>> from minigrad.layers import NegativeSamplingLoss
    >>> loss_fn = NegativeSamplingLoss(np.zeros((4, 2)), sample_size=2,
    ...                                counts=[1, 1, 1, 1], dtype=np.float64)
    >>> loss = loss_fn(np.ones((3, 2)), np.array([0, 1, 2]), negatives=np.array([[1, 2]] * 3))
    >>> round(float(loss.data), 6) == round(3 * float(np.log(2)), 6)   # all scores 0
    True
    """

    def __init__(self, W, sample_size: int = 5, power: float = 0.75, corpus=None, counts=None,
                 dtype=None, rng=None, sparse: bool = False):
        super().__init__()
        dtype = layer_dtype("NegativeSamplingLoss", dtype, W)
        rng = _resolve(rng)
        if isinstance(W, tuple):
            if len(W) != 2:
                raise ShapeError(f"NegativeSamplingLoss: expected the shape (vocab, dim), got {W}")
            shape = W
            W = 0.01 * (rng or mg_random.numpy_generator()).standard_normal(shape)
        else:
            shape = tuple(array_of(W).shape) if not isinstance(W, Parameter) else W.shape
            if len(shape) != 2:
                raise ShapeError(f"NegativeSamplingLoss: W must be 2-D (vocab, dim), got shape "
                                 f"{shape}")
        self.vocab, self.dim = shape
        self.W = Parameter(given_array("NegativeSamplingLoss", "W", W, shape, dtype), name="W")
        self.sample_size = sample_size
        # sparse: W's gradient is the gathered rows only (SparseRows), so an
        # optimizer updates those 1 + k rows per example, not the (V, D) table.
        self.sparse = sparse
        self.sampler = None
        if corpus is not None or counts is not None:
            self.sampler = UnigramSampler(corpus, power, sample_size, rng, counts=counts,
                                          vocab_size=self.vocab)

    def forward(self, h, target, negatives=None):
        if negatives is None and self.sampler is None:
            raise ValueError("NegativeSamplingLoss: no sampler (build the layer with corpus= "
                             "or counts=), so pass negatives= explicitly")
        return negative_sampling_loss(h, self.W, target, negatives, sparse=self.sparse,
                                      sampler=None if negatives is not None else self.sampler)

    def extra_repr(self):
        return f"{self.vocab}, {self.dim}, sample_size={self.sample_size}"


def negative_sampling_loss(h, W, target, negatives=None, sparse=False, *, sampler=None):
    """The loss of :class:`NegativeSamplingLoss` as a function of its weight.

    h (..., D), W (V, D), integer target (...) and negatives (..., k): the mean
    over rows of ce(h . W[target], 1) + sum_j ce(h . W[negatives_j], 0).
    ``sparse=True`` gives W a SparseRows gradient. With ``sampler`` (a
    :class:`UnigramSampler`) instead of ``negatives``, they are drawn from it.

    >>> import numpy as np
    >>> from minigrad.layers.negative_sampling import negative_sampling_loss
    >>> W = np.array([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])
    >>> loss = negative_sampling_loss(np.array([[20.0, 0.0]]), W, np.array([0]),
    ...                               np.array([[2]]))   # both scores right by 20
    >>> float(loss.data) < 1e-8
    True
    """
    t = array_of(target)
    if t.dtype.kind not in "iu":
        raise DTypeError(f"NegativeSamplingLoss: targets must be integers, got {t.dtype}")
    dim = W.shape[-1]
    if tuple(h.shape) != t.shape + (dim,):
        raise ShapeError(f"NegativeSamplingLoss: h has shape {tuple(h.shape)}; targets of "
                         f"shape {t.shape} need h of shape {t.shape + (dim,)}")
    w = array_of(W)
    xp = backend.get_array_module(w)
    if xp is not np:  # the ids go where the weight lives
        t = backend.as_cupy(t)
    check_ids("Embedding", t, W)
    if negatives is None:
        neg, k = None, sampler.sample_size
    else:
        neg = _checked_negatives(negatives, t, W)
        k = neg.shape[-1]
    rows = PositiveAndNegativeRows(t, neg, sparse, sampler).apply(W)   # (..., 1 + k, D)
    scores = (reshape(h, t.shape + (1, dim)) * rows).sum(axis=-1)       # (..., 1 + k)
    width = 1 + k
    labels = xp.zeros(t.shape + (width,), dtype=w.dtype)
    labels[..., 0] = 1
    # sigmoid_cross_entropy averages over all N * (1 + k) terms; the book sums
    # the 1 + k per-term batch means, which is (1 + k) times that.
    return sigmoid_cross_entropy(scores, labels) * width


def _checked_negatives(negatives, t, W):
    neg = array_of(negatives)
    if neg.ndim != t.ndim + 1 or neg.shape[:-1] != t.shape:
        raise ShapeError(f"NegativeSamplingLoss: negatives of shape {neg.shape} do not match "
                         f"targets of shape {t.shape}; expected {t.shape} + (k,)")
    if neg.dtype.kind not in "iu":
        raise DTypeError(f"NegativeSamplingLoss: negatives must be integers, got {neg.dtype}")
    if backend.is_cupy_array(t):
        neg = backend.as_cupy(neg)
    check_ids("Embedding", neg, W)
    return neg


class PositiveAndNegativeRows(Function):
    """W[ids] for ids = each target (column 0) followed by its negatives: one
    gather for all. The ids are joined in ``forward``, so that a compiled step,
    which runs forward again on every replay, joins each call's ids; its
    backward is the embedding lookup's (SparseRows with ``sparse``, else the
    rows scattered into zeros), so the numbers are the same."""

    saves_inputs = False

    def __init__(self, target, negatives, sparse, sampler=None):
        self.target, self.negatives, self.sparse = target, negatives, sparse
        self.sampler = sampler

    def forward(self, W):
        xp = backend.get_array_module(W)
        t = self.target
        negatives = self.negatives
        if negatives is None:
            # Drawn here, as dropout draws its mask: a replay draws afresh, in the
            # eager step's order, from the sampler's own generator.
            negatives = self.sampler.sample(t)
        ids = xp.concatenate([t[..., None], negatives.astype(t.dtype, copy=False)], axis=-1)
        self.shape = W.shape
        self.save(ids=ids)
        return W[ids]

    def backward(self, gy):
        if self.sparse:
            return SparseRows(self.ids, gy, self.shape)
        return GetItemGrad(self.ids, self.shape).apply(gy)

    def backward_graph(self, gy):
        if self.sparse:
            raise GraphError("NegativeSamplingLoss: sparse gradients cannot be differentiated "
                             "again; use sparse=False for higher-order gradients")
        return self.backward(gy)
