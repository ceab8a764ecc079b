"""word2vec on several ranks: each rank draws its own negatives, from a
stream derived from the run's seed and its rank; rank 0 draws those of the
one-process run."""
import numpy as np

from models.word2vec import CBOW

V, H, WINDOW = 300, 16, 2


def _negatives(rank=None, draws=3):
    """The negatives a CBOW built as the command line builds it (its own
    generator, seeded with --seed 7) draws, as rank ``rank`` of a job."""
    corpus = np.random.default_rng(0).integers(0, V, 2000)
    model = CBOW(V, H, WINDOW, corpus, rng=np.random.default_rng(7))
    if rank is not None:
        model.negatives_for_rank(7, rank)
    target = np.arange(20)
    return [model.ns_loss.sampler.sample(target) for _ in range(draws)]


def test_each_rank_draws_its_own_negatives_and_rank_0_those_of_one_process():
    one, ranks = _negatives(), [_negatives(r) for r in range(3)]
    assert all(np.array_equal(a, b) for a, b in zip(one, ranks[0]))    # a 1-rank job: unchanged
    for r in (1, 2):
        assert not any(np.array_equal(a, b) for a, b in zip(ranks[0], ranks[r]))
    assert not any(np.array_equal(a, b) for a, b in zip(ranks[1], ranks[2]))
    again = _negatives(2)
    assert all(np.array_equal(a, b) for a, b in zip(ranks[2], again))  # repeatable


def test_train_word2vec_gives_each_rank_its_negatives(monkeypatch):
    from types import SimpleNamespace

    import models.word2vec.train as w2v_train

    seen = []
    monkeypatch.setattr(w2v_train, "fit", lambda model, *a, **k: seen.append(
        model.ns_loss.sampler.sample(np.arange(20))))
    corpus = np.random.default_rng(0).integers(0, V, 2000)
    contexts, target = np.zeros((40, 2 * WINDOW), np.int64), np.zeros(40, np.int64)
    for rank in (0, 1):
        model = CBOW(V, H, WINDOW, corpus, rng=np.random.default_rng(7))
        w2v_train.train_word2vec(model, contexts, target, batch_size=20, max_epoch=1,
                                 comm=SimpleNamespace(rank=rank, size=2), shuffle_seed=7)
    assert np.array_equal(seen[0], _negatives(0, draws=1)[0])
    assert np.array_equal(seen[1], _negatives(1, draws=1)[0])
