"""Training CBOW and SkipGram: the book's ``Trainer`` on (contexts, target)
pairs, shuffled each epoch, on :class:`minigrad.training.TrainingLoop`. The
history is a dict of plain Python numbers and lists (JSON as it is)."""
from __future__ import annotations

from pathlib import Path

from minigrad.data import ShuffledBatches
from minigrad.distributed import is_root
from minigrad.layers import save_weights
from minigrad.training import TrainingLoop

from ..shared.optimizer import make_optimizer

__all__ = ["train_word2vec"]


def train_word2vec(model, contexts, target, *, batch_size, max_epoch, lr=0.001, optimizer="adam",
                   out_dir=None, name="word2vec", progress=True, eval_interval=20, comm=None,
                   shuffle_seed=0, stop_on_nonfinite=True, anomaly=False):
    """Minibatch training of CBOW / SkipGram on (contexts, target) pairs.

    Each epoch shuffles the pairs (with minigrad.random's generator, so
    ``minigrad.random.seed`` makes a run repeatable) and takes
    ``len(target) // batch_size`` steps, the book's Trainer. The model is saved
    (atomically) to ``out_dir/{name}.npz`` after each epoch.

    History keys: ``loss`` (every batch), ``train_iters``/``train_loss`` (mean
    loss over each interval), ``epoch_loss`` (mean per epoch),
    ``epoch_time_s``, ``checkpoint``.

    ``comm`` trains on several ranks (see ``train_rnnlm``); the shuffles then
    come from a generator seeded with ``shuffle_seed`` on every rank (the
    same order everywhere; minigrad.random differs per rank), each rank
    taking its share of every batch.
    """
    # As given: numpy, or on the model's device (the batches are cut there).
    if len(contexts) != len(target):
        raise ValueError(f"contexts ({len(contexts)}) and target ({len(target)}) differ in length")
    if len(target) < batch_size:
        raise ValueError(f"{len(target)} pairs are fewer than one batch of {batch_size}")
    opt = make_optimizer(model, optimizer, lr)
    root = is_root(comm)
    if out_dir is not None and root:
        Path(out_dir).mkdir(parents=True, exist_ok=True)

    def save(loop, epoch):
        if out_dir is not None:
            path = Path(out_dir) / f"{name}.npz"
            if root:
                save_weights(model, path)
            loop.history["checkpoint"] = str(path)

    shuffle = None if comm is None else shuffle_seed
    loop = TrainingLoop(model, opt, ShuffledBatches(contexts, target, batch_size=batch_size,
                                                    rng=shuffle),
                        max_epoch=max_epoch, report_every=eval_interval, progress=progress,
                        after_epoch=save, name="train_word2vec", comm=comm,
                        stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly,
                        history={"model": type(model).__name__, "batch_size": batch_size,
                                 "checkpoint": None})
    return loop.run()
