"""Training the language models: the book's ``RnnlmTrainer`` (truncated BPTT
over one continuous stream per batch row, one optimizer step per batch,
optional global-norm clipping) with ``train_better_rnnlm.py``'s epoch loop
around it (validation perplexity each epoch, lr / 4 when it gets worse, the
best model saved), on the shared pieces of :mod:`minigrad.training` (the loop,
the resume file, progress, outputs).

The trainer returns a ``history`` dict of plain Python numbers and lists, so
it goes to JSON as it is (``minigrad.training.save_outputs``). Progress goes
through tqdm when it is installed (``pip install 'minigrad[progress]'``), else
one printed line per interval.
"""
from __future__ import annotations

from pathlib import Path

from minigrad.data import TBPTTBatcher
from minigrad.distributed import is_root
from minigrad.layers import save_weights
from minigrad.training import DivideWhenWorse, Schedule, perplexity

from ..shared.training import fit

__all__ = ["train_rnnlm", "LR_SCHEDULES"]

LR_SCHEDULES = (None, "divide_by_4_when_worse")


def train_rnnlm(model, train_corpus, valid_corpus=None, *, batch_size, time_size, lr, max_epoch,
                max_grad=None, optimizer="sgd", lr_schedule=None, out_dir=None, name="rnnlm",
                progress=True, report_every=20, eval_batch_size=10, evaluate=None,
                checkpoint_every=None, checkpoint_path=None, resume=None, comm=None,
                stop_on_nonfinite=True, anomaly=False):
    """Train a stateful language model with truncated BPTT; returns the history.

    Each epoch is one pass of a :class:`~minigrad.data.TBPTTBatcher` over
    ``train_corpus`` (word ids), one optimizer step per (batch_size, time_size)
    batch, gradients clipped to global norm ``max_grad`` when given. Every
    ``report_every`` batches the training perplexity (exp of the mean loss
    since the last report) is recorded. With ``valid_corpus``, after each
    epoch the validation perplexity is measured (:func:`minigrad.training.perplexity`: eval
    mode, from a reset state; the state is reset again afterwards, as the
    book does) and

    * when it improves, the model is saved (atomically) to
      ``out_dir/{name}_best.npz`` if ``out_dir`` is given;
    * otherwise, with ``lr_schedule="divide_by_4_when_worse"``, the learning
      rate is divided by 4 (the book's train_better_rnnlm.py; the
      :class:`~minigrad.training.DivideWhenWorse` schedule).

    ``lr_schedule`` may also be any schedule of :mod:`minigrad.training.schedules`.

    Without ``valid_corpus`` the final model is saved as ``out_dir/{name}.npz``.
    ``evaluate(model, corpus)`` replaces the validation measure (tests stub it).

    ``optimizer`` is "sgd", "adam" (built with ``lr``) or an Optimizer over the
    model's parameters, used as it is (``lr`` is then ignored; the schedule
    changes its ``lr``). ``max_grad`` adds a ClipGradNorm hook to it.

    Resuming: with ``checkpoint_every=N`` the whole training state is written
    every N batches and at the end of each epoch, atomically, to one file,
    ``checkpoint_path`` (default ``out_dir/{name}_resume.npz``): weights,
    optimizer state, each recurrent layer's carried state, the batcher's
    position, minigrad.random's generator (dropout's masks), the counters, the
    lr and the history so far. ``resume=path`` continues from such a file: the
    model, the optimizer (built as for the first run; its hooks are code and
    are added again) and the corpus must be the same, and the run then gives
    exactly the losses the uninterrupted run would have. ``max_epoch`` may be
    raised to train further. Timings (``epoch_time_s``) are the one thing that
    is measured afresh.

    ``comm`` (a :class:`minigrad.distributed.Communicator`) trains on several
    ranks: each takes its rows of every batch, the gradients are averaged
    before the update (and clipped after), validation is sharded
    (``perplexity(..., comm=comm)``), and only rank 0 reports and writes
    files (see :class:`~minigrad.training.TrainingLoop`).

    History keys: ``loss`` (every batch's loss), ``train_iters``/``train_ppl``
    (global batch count at each report, perplexity), ``valid_ppl``, ``lr``
    (the lr used in each epoch), ``epoch_time_s``, ``best_valid_ppl``,
    ``best_epoch`` (1-based), ``checkpoint`` (the saved weights),
    ``resume_checkpoint`` (the training-state file, or None).
    """
    if not isinstance(lr_schedule, Schedule) and lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES} or a schedule of "
                         f"minigrad.training.schedules, got {lr_schedule!r}")
    schedule = DivideWhenWorse("valid_ppl", factor=4.0) \
        if lr_schedule == "divide_by_4_when_worse" else lr_schedule
    if valid_corpus is not None and evaluate is None and \
            len(valid_corpus) - 1 < eval_batch_size * time_size:
        # Found now rather than after the first (maybe hour-long) epoch.
        raise ValueError(f"valid_corpus has {len(valid_corpus)} words, fewer than one "
                         f"evaluation batch of {eval_batch_size} x {time_size} + 1")
    evaluate = evaluate or (lambda m, c: perplexity(m, c, batch_size=eval_batch_size,
                                                    time_size=time_size, comm=comm))
    root = is_root(comm)

    def validate(loop, epoch):
        history = loop.history
        model.reset_state()
        ppl = float(evaluate(model, valid_corpus))
        model.reset_state()
        model.train()
        history["valid_ppl"].append(ppl)
        best = history["best_valid_ppl"]
        if best is None or ppl < best:
            history["best_valid_ppl"], history["best_epoch"] = ppl, epoch + 1
            if out_dir is not None:
                path = Path(out_dir) / f"{name}_best.npz"
                if root:
                    save_weights(model, path)
                history["checkpoint"] = str(path)
        loop.note(f"| epoch {epoch + 1} | valid perplexity {ppl:.2f}")

    validating = valid_corpus is not None
    return fit(model, TBPTTBatcher(train_corpus, batch_size, time_size), max_epoch=max_epoch,
               lr=lr, optimizer=optimizer, max_grad=max_grad, out_dir=out_dir, name=name,
               progress=progress, report_every=report_every, checkpoint_every=checkpoint_every,
               checkpoint_path=checkpoint_path, resume=resume, comm=comm,
               stop_on_nonfinite=stop_on_nonfinite, anomaly=anomaly,
               after_epoch=validate if validating else None, save_each_epoch=not validating,
               trainer="train_rnnlm", perplexity=True, recurrent=True,
               data_name="train_corpus", schedule=schedule,
               history={"batch_size": batch_size, "time_size": time_size,
                        "lr_schedule": lr_schedule if schedule is None
                        or isinstance(lr_schedule, str) else repr(schedule),
                        "valid_ppl": [], "best_valid_ppl": None, "best_epoch": None})
