"""The book's word2vec models with negative sampling, on minigrad's public API.

Both own an input embedding ``W_in`` (V, H) (the word vectors) and an output
embedding ``W_out`` (V, H) inside a ``NegativeSamplingLoss``; both start as
0.01 * normal, as in the book. With ``c`` the 2 * window_size context words of a
target ``t`` and ``ns(h, w)`` the negative-sampling loss of word w given the
hidden vector h (positive term plus one term per negative, each a mean over the
batch):

    CBOW       h = mean_i W_in[c_i]          loss = ns(h, t)
    SkipGram   h = W_in[t]                   loss = sum_i ns(h, c_i)

``loss(contexts, target, negatives=None)``: contexts (N, 2 * window_size),
target (N,). The negatives are drawn by a UnigramSampler over ``corpus``
unless given: (N, k) for CBOW, (N, 2 * window_size, k) for SkipGram (one set
per context word, as the book's one loss layer per context).

Weights travel as ``{"W_in": (V, H), "W_out": (V, H)}`` (from_weights /
to_weights). The book ships only the word vectors of its trained CBOW
(``cbow_params.pkl``: W_in and the vocabulary, no W_out): ``CBOW.from_book``
reads them as :class:`WordVectors`.
"""
from __future__ import annotations

import os
from typing import NamedTuple

import numpy as np

import minigrad as mg
import minigrad.functions as F
import minigrad.layers as L
from minigrad.distributed.data import rank_seed

from ..shared.weights import WeightsMixin

__all__ = ["CBOW", "SkipGram", "WordVectors"]


class WordVectors(NamedTuple):
    """Trained word vectors and their vocabulary, what the book's word2vec
    scripts save: ``word_vecs`` (V, H), ``word_to_id``, ``id_to_word``."""
    word_vecs: np.ndarray
    word_to_id: dict
    id_to_word: dict


class _Word2Vec(L.Layer, WeightsMixin):
    BOOK_NAMES = {"in_embed.W": "W_in", "ns_loss.W": "W_out"}

    def __init__(self, vocab_size, hidden_size, window_size, corpus, sample_size=5, power=0.75,
                 sparse=True, dtype=np.float32, rng=None, counts=None):
        super().__init__()
        rng = mg.random.generator(rng)
        V, H = vocab_size, hidden_size
        self.window_size = window_size
        # sparse: W_in's and W_out's gradients hold only the looked-up rows, so
        # an optimizer touches those rows instead of sweeping two (V, H) tables
        # every step.
        self.in_embed = L.Embedding(V, H, dtype=dtype, rng=rng, sparse=sparse)
        self.ns_loss = L.NegativeSamplingLoss((V, H), sample_size=sample_size, power=power,
                                              corpus=corpus, counts=counts, dtype=dtype, rng=rng,
                                              sparse=sparse)

    @property
    def word_vecs(self):
        """W_in, the learned word vectors (V, H), as an array (not a copy)."""
        return self.in_embed.W.data

    def forward(self, contexts, target, negatives=None):
        return self.loss(contexts, target, negatives)

    def own_generators(self) -> list:
        """The generators the model draws its negatives from besides
        minigrad.random's: a trainer keeps their states in its resume file."""
        own = self.ns_loss.sampler.own_generator
        return [] if own is None else [own]

    def negatives_for_rank(self, seed: int, rank: int):
        """Give rank ``rank`` of a data-parallel job seeded with ``seed`` its
        own stream of negatives. A sampler built with its own generator (the
        command line seeds one with ``--seed`` on every rank, so that the
        weights start alike) would otherwise draw the same negatives on every
        rank. Rank 0 goes on with that generator, so a job of one rank is the
        one-process run; rank r > 0 draws from a generator seeded with
        ``minigrad.distributed.rank_seed(seed, r)``, derived from both. A
        sampler that draws from minigrad.random's generator is left alone:
        ``minigrad.distributed.seed`` already seeds that per rank."""
        sampler = self.ns_loss.sampler
        if rank and sampler.own_generator is not None:
            sampler.draw_from(np.random.default_rng(rank_seed(seed, rank)))

    def _check(self, contexts, target):
        # On the embedding's device: np.asarray would refuse a cupy array.
        xp = mg.get_array_module(self.in_embed.W)
        contexts, target = xp.asarray(contexts), xp.asarray(target)
        if contexts.ndim != 2 or contexts.shape[1] != 2 * self.window_size:
            raise ValueError(f"{type(self).__name__}: contexts must have shape (N, "
                             f"{2 * self.window_size}), got {contexts.shape}")
        if target.shape != contexts.shape[:1]:
            raise ValueError(f"{type(self).__name__}: target must have shape "
                             f"({contexts.shape[0]},), got {target.shape}")
        return contexts, target

    @classmethod
    def from_weights(cls, weights: dict, window_size, corpus=None, sample_size=5, power=0.75,
                     sparse=True, dtype=np.float32, counts=None):
        """A model holding copies of ``weights`` (keys W_in, W_out)."""
        weights = cls._weights_in(weights, dtype)
        V, H = np.shape(weights["W_in"])
        if corpus is None and counts is None:
            counts = np.ones(V)      # no sampler statistics given: a uniform sampler
        return cls(V, H, window_size, corpus, sample_size=sample_size, power=power,
                   sparse=sparse, dtype=dtype, rng=0, counts=counts).load_arrays(weights)


    @classmethod
    def from_book(cls, path, dtype=None) -> WordVectors:
        """The word vectors and vocabulary of the book's ``cbow_params.pkl`` (or
        the ``skipgram_params.pkl`` its skip-gram script writes), read safely:
        nothing in the file can run. Not a model: the book keeps W_in alone.
        ``dtype=None`` keeps the file's float16, which the book's evaluation
        computes in."""
        path = os.fspath(path)
        data = L.load_pickle(path)
        parts = data if isinstance(data, dict) else {}
        vecs = parts.get("word_vecs")
        w2i, i2w = parts.get("word_to_id"), parts.get("id_to_word")
        if (not isinstance(vecs, np.ndarray) or vecs.ndim != 2 or not isinstance(w2i, dict)
                or not isinstance(i2w, dict) or len(w2i) != len(vecs)):
            what = sorted(map(str, data)) if isinstance(data, dict) else type(data).__name__
            raise L.CheckpointError(
                f"{cls.__name__}.from_book: {path} holds {what}; the book's word2vec file is a "
                "dict of word_vecs (V, H), word_to_id and id_to_word (V words each)")
        vecs = vecs if dtype is None else vecs.astype(dtype)
        return WordVectors(vecs, w2i, i2w)


class CBOW(_Word2Vec):
    """Continuous bag of words: the mean of the contexts' input vectors predicts
    the target (the book's CBOW, with its 0.01 * normal initialisation)."""

    def loss(self, contexts, target, negatives=None):
        contexts, target = self._check(contexts, target)
        # One gather of all 2w context rows, then the mean: the book's sum of 2w
        # Embedding layers times 1 / 2w.
        h = F.mean(self.in_embed(contexts), axis=1)                   # (N, H)
        return self.ns_loss(h, target, negatives=negatives)


class SkipGram(_Word2Vec):
    """Skip-gram: the target's input vector predicts each context word; the loss
    is the sum over the 2w context positions (the book's one loss layer each)."""

    def loss(self, contexts, target, negatives=None):
        contexts, target = self._check(contexts, target)
        N, C = contexts.shape
        h = self.in_embed(target)                                      # (N, H)
        # All 2w context positions in one loss call: NegativeSamplingLoss takes
        # the mean over its N * 2w rows, and the book sums the 2w per-position
        # means, which is 2w times that.
        h_all = F.broadcast_to(F.reshape(h, (N, 1, h.shape[-1])), (N, C, h.shape[-1]))
        return self.ns_loss(h_all, contexts, negatives=negatives) * C
