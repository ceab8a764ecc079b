"""Training CBOW and SkipGram: the book's ``Trainer`` on (contexts, target)
pairs, shuffled each epoch, on :class:`minigrad.training.TrainingLoop`. The
history is a dict of plain Python numbers and lists (JSON as it is)."""
from __future__ import annotations

from minigrad.data import ShuffledBatches

from ..shared.training import fit

__all__ = ["train_word2vec"]


def train_word2vec(model, contexts, target, *, batch_size, max_epoch, lr=0.001, optimizer="adam",
                   max_grad=None, out_dir=None, name="word2vec", progress=True, report_every=20,
                   checkpoint_every=None, resume=None, comm=None, shuffle_seed=0,
                   stop_on_nonfinite=True, anomaly=False):
    """Minibatch training of CBOW / SkipGram on (contexts, target) pairs;
    returns the history. The options are every trainer's
    (:mod:`models.shared.training`).

    Each epoch shuffles the pairs (with minigrad.random's generator, so
    ``minigrad.random.seed`` makes a run repeatable) and takes
    ``len(target) // batch_size`` steps, the book's Trainer. The model is saved
    (atomically) to ``out_dir/{name}.npz`` after each epoch.

    ``comm`` trains on several ranks; the shuffles then come from a generator
    seeded with ``shuffle_seed`` on every rank (the same order everywhere;
    minigrad.random differs per rank), each rank taking its share of every
    batch, and each rank draws its own negatives (``model.negatives_for_rank``
    with ``shuffle_seed``, the run's seed).
    """
    # As given: numpy, or on the model's device (the batches are cut there).
    if len(contexts) != len(target):
        raise ValueError(f"contexts ({len(contexts)}) and target ({len(target)}) differ in length")
    if len(target) < batch_size:
        raise ValueError(f"{len(target)} pairs are fewer than one batch of {batch_size}")
    shuffle = None if comm is None else shuffle_seed
    if comm is not None:
        model.negatives_for_rank(shuffle_seed, comm.rank)
    return fit(model, ShuffledBatches(contexts, target, batch_size=batch_size, rng=shuffle),
               max_epoch=max_epoch, lr=lr, optimizer=optimizer, max_grad=max_grad,
               out_dir=out_dir, name=name, progress=progress, report_every=report_every,
               checkpoint_every=checkpoint_every, resume=resume, comm=comm,
               stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly, trainer="train_word2vec",
               generators=model.own_generators(), history={"batch_size": batch_size})
