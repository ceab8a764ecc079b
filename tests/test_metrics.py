"""The book's two measures, defined once in the library (minigrad.training):
perplexity and accuracy; the models' evaluations are these."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad.training as training
from models.binary_addition import MinibatchAdder, binary_addition_dataset
from models.binary_addition import accuracy as sums_right
from models.rnnlm import Rnnlm, eval_perplexity
from models.seq2seq import Seq2seq, exact_match_accuracy


def test_a_model_that_knows_nothing_has_the_vocabulary_as_its_perplexity():
    V = 17
    model = Rnnlm(V, 4, 5, dtype=np.float64, rng=0)
    model.load_arrays({k: np.zeros_like(a) for k, a in model.to_weights().items()})
    corpus = np.random.default_rng(0).integers(0, V, 200)
    assert training.perplexity(model, corpus, batch_size=3, time_size=4) == pytest.approx(V)


def test_the_language_models_perplexity_is_the_librarys():
    assert eval_perplexity is training.perplexity


def test_perplexity_refuses_a_corpus_shorter_than_a_batch():
    model = Rnnlm(9, 3, 3, rng=0)
    with pytest.raises(ValueError, match="perplexity: a corpus of 20 words is shorter than one "
                                         "batch of 5 x 4"):
        training.perplexity(model, np.zeros(20, dtype=np.int64), batch_size=5, time_size=4)


def test_accuracy_counts_a_row_only_when_all_of_it_is_right():
    assert training.accuracy(np.array([1, 2, 3, 4]), np.array([1, 2, 0, 4])) == 0.75
    guesses = np.array([[0, 1, 1], [1, 1, 1], [0, 0, 0]])
    answers = np.array([[0, 1, 1], [1, 0, 1], [0, 0, 0]])
    assert training.accuracy(guesses, answers) == pytest.approx(2 / 3)
    assert training.accuracy(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0


def test_accuracy_refuses_guesses_of_another_shape():
    with pytest.raises(ValueError, match=r"accuracy: guesses of shape \(3, 2\) against answers "
                                         r"of shape \(3, 3\)"):
        training.accuracy(np.zeros((3, 2)), np.zeros((3, 3)))


def test_the_models_accuracies_are_the_librarys():
    xs, ts = binary_addition_dataset()
    model = MinibatchAdder(8, rng=0)
    assert sums_right(model, xs, ts) == training.accuracy(model.predict_bits(xs), ts)
    seq = Seq2seq(7, 3, 4, rng=0)
    rng = np.random.default_rng(1)
    qs, answers = rng.integers(0, 7, (5, 4)), rng.integers(1, 7, (5, 3))
    answers[:, 0] = 0
    answers[:2, 1:] = seq.generate(qs[:2], 0, 2)              # two answers it gets right
    acc, guesses = exact_match_accuracy(seq, qs, answers)
    assert acc == training.accuracy(guesses, answers[:, 1:]) >= 0.4
