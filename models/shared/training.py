"""The one way every model of models/ trains: :func:`fit`, on
:class:`minigrad.training.TrainingLoop`.

Each family's ``train_*`` function builds its batches (and what it measures
after each epoch) and hands them to :func:`fit`, so every trainer takes the
same options and returns the same history:

* ``max_epoch``, ``lr``, ``optimizer`` ("sgd", "adam" or an Optimizer),
  ``max_grad`` (clipping of the global gradient norm, None: off);
* ``out_dir`` and ``name``: the weights go to ``out_dir/{name}.npz`` at each
  epoch's end (unless the family keeps its best epoch's instead), and the
  resume file to ``out_dir/{name}_resume.npz``;
* ``checkpoint_every=N`` / ``resume=path``: the whole training state every N
  batches; a resumed run gives exactly the losses of the uninterrupted one;
* ``report_every``: batches per progress report; ``progress``;
* ``comm``: data-parallel over the ranks of an MPI job;
* ``stop_on_nonfinite``, ``anomaly``: what a NaN or Inf does.

The history is TrainingLoop's (``loss`` of every batch, ``train_iters`` /
``train_loss`` at each report, ``lr`` and ``epoch_loss`` per epoch, ...) plus
``checkpoint``, the weights' file, and what the family records.
"""
from __future__ import annotations

from pathlib import Path

from minigrad.distributed import is_root
from minigrad.layers import save_weights
from minigrad.optimizers import SGD, Adam, ClipGradNorm, Optimizer
from minigrad.training import TrainingLoop

__all__ = ["fit", "make_optimizer"]

_OPTIMIZERS = {"sgd": SGD, "adam": Adam}


def make_optimizer(model, optimizer, lr):
    """An Optimizer instance is used as it is (its own lr wins); a name builds one."""
    if isinstance(optimizer, Optimizer):
        return optimizer
    if lr is None:
        raise ValueError(f"lr is needed to build a {optimizer!r} optimizer")
    try:
        cls = _OPTIMIZERS[str(optimizer).lower()]
    except KeyError:
        raise ValueError(f"optimizer must be one of {sorted(_OPTIMIZERS)} or an Optimizer, "
                         f"got {optimizer!r}") from None
    return cls(model, lr=lr)


def fit(model, batches, *, max_epoch, lr, optimizer, max_grad=None, out_dir=None, name,
        progress=True, report_every=20, checkpoint_every=None, checkpoint_path=None,
        resume=None, comm=None, stop_on_nonfinite=True, anomaly=False, after_epoch=None,
        save_each_epoch=True, trainer="fit", history=None, **loop_options) -> dict:
    """Train ``model`` on ``batches`` (a batcher of :mod:`minigrad.data`) and
    return the history; the options are the module's. ``after_epoch(loop,
    epoch)`` is the family's measure after each epoch; ``save_each_epoch=False``
    leaves the weights' file to it (a family that keeps its best epoch).
    ``loop_options`` go to TrainingLoop as they are (``loss``, ``recurrent``,
    ``perplexity``, ``schedule``, ``data_name``, ``compiled``)."""
    root = is_root(comm)
    out = Path(out_dir) if out_dir is not None else None
    if checkpoint_every is not None and checkpoint_path is None and out is not None:
        checkpoint_path = out / f"{name}_resume.npz"      # without either, TrainingLoop says so
    opt = make_optimizer(model, optimizer, lr)
    if max_grad is not None:
        opt.add_hook(ClipGradNorm(max_grad))
    if out is not None and root:
        out.mkdir(parents=True, exist_ok=True)

    def epoch_end(loop, epoch):
        if after_epoch is not None:
            after_epoch(loop, epoch)
        if save_each_epoch and out is not None:
            if root:
                save_weights(model, out / f"{name}.npz")
            loop.history["checkpoint"] = str(out / f"{name}.npz")

    start = {"model": type(model).__name__, "max_grad": max_grad, "checkpoint": None,
             **(history or {})}
    loop = TrainingLoop(model, opt, batches, max_epoch=max_epoch, report_every=report_every,
                        progress=progress, after_epoch=epoch_end,
                        checkpoint_every=checkpoint_every, checkpoint_path=checkpoint_path,
                        name=trainer, comm=comm, stop_on_nonfinite=stop_on_nonfinite,
                        anomaly=anomaly, history=start, **loop_options)
    return loop.run(resume)
