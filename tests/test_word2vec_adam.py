"""word2vec as `python -m models train` runs it: row gradients with the book's
Adam give the same float32 weights, bit for bit, as dense (V, H) gradient
tables with the book's Adam; `--sparse` (lazy Adam) gives other weights."""
import numpy as np
import pytest

import minigrad as mg
from minigrad.optimizers import Adam
from models.word2vec import CBOW, SkipGram

V, H, WINDOW = 300, 16, 2


def _train(cls, rows, lazy, steps=40):
    rng = np.random.default_rng(0)
    corpus = rng.integers(0, V, 2000)
    mg.random.seed(0)
    model = cls(V, H, WINDOW, corpus, sparse=rows, rng=1)
    opt = Adam(model, lr=0.01, lazy=lazy)
    for _ in range(steps):
        # Ids from the first half of the vocabulary only: the other rows never
        # get a gradient after the first steps' negatives, and must still move.
        contexts = rng.integers(0, V // 2, (20, 2 * WINDOW))
        target = rng.integers(0, V // 2, 20)
        loss = model.loss(contexts, target)
        model.zero_grad()
        loss.backward()
        opt.update()
    return model.to_weights()


@pytest.mark.parametrize("cls", [CBOW, SkipGram])
def test_row_gradients_with_the_books_adam_are_the_dense_run_bit_for_bit(cls):
    dense = _train(cls, rows=False, lazy=False)
    rows = _train(cls, rows=True, lazy=False)
    lazy = _train(cls, rows=True, lazy=True)
    for key in ("W_in", "W_out"):
        assert dense[key].dtype == np.float32
        assert np.array_equal(rows[key], dense[key]), key
    assert not np.array_equal(lazy["W_out"], dense["W_out"])
