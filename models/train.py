"""Training loops for the seeds' models, as the book's trainers run them.

* ``train_rnnlm``: the book's ``RnnlmTrainer`` (truncated BPTT over one
  continuous stream per batch row, one optimizer step per batch, optional
  global-norm clipping) with ``train_better_rnnlm.py``'s epoch loop around it
  (validation perplexity each epoch, lr / 4 when it gets worse, the best model
  saved).
* ``train_word2vec``: the book's ``Trainer`` on (contexts, target) pairs,
  shuffled each epoch.
* ``save_outputs``: the history as JSON and its curves as a PNG.

Both trainers return a ``history`` dict of plain Python numbers and lists, so
it goes to JSON as it is. Progress goes through tqdm when it is installed
(``pip install 'minigrad[progress]'``), else one printed line per interval.
"""
from __future__ import annotations

import json
import math
import os
import secrets
import time
from pathlib import Path

import numpy as np

import minigrad.random as mg_random
from minigrad.data import TBPTTBatcher
from minigrad.layers import save_weights
from minigrad.optimizers import SGD, Adam, ClipGradNorm, Optimizer

from .rnnlm import eval_perplexity

__all__ = ["train_rnnlm", "train_word2vec", "save_outputs", "LR_SCHEDULES"]

LR_SCHEDULES = (None, "divide_by_4_when_worse")
_OPTIMIZERS = {"sgd": SGD, "adam": Adam}


# --------------------------------------------------------------- helpers
def _make_optimizer(model, optimizer, lr):
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


class _Progress:
    """A tqdm bar over one epoch's batches, or a printed line per report when
    tqdm is missing; silent when ``enabled`` is False."""

    def __init__(self, total, desc, enabled):
        self.desc, self.bar, self.enabled = desc, None, enabled
        if not enabled:
            return
        try:
            from tqdm import tqdm   # optional: training must not depend on it
        except ImportError:
            return
        self.bar = tqdm(total=total, desc=desc, leave=False, dynamic_ncols=True)

    def step(self):
        if self.bar is not None:
            self.bar.update(1)

    def report(self, text):
        if self.bar is not None:
            self.bar.set_postfix_str(text, refresh=False)
        elif self.enabled:
            print(f"| {self.desc} | {text}", flush=True)

    def close(self):
        if self.bar is not None:
            self.bar.close()


def _note(text, enabled):
    if enabled:
        print(text, flush=True)


def _atomic_write(path, write):
    """Run ``write(file)`` on a temporary file beside ``path``, then rename it over
    ``path``: a crash mid-write leaves the previous file whole."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --------------------------------------------------------------- language models
def train_rnnlm(model, train_corpus, valid_corpus=None, *, batch_size, time_size, lr, max_epoch,
                max_grad=None, optimizer="sgd", lr_schedule=None, out_dir=None, name="rnnlm",
                progress=True, eval_interval=20, eval_batch_size=10, evaluate=None):
    """Train a stateful language model with truncated BPTT; returns the history.

    Each epoch is one pass of a :class:`~minigrad.data.TBPTTBatcher` over
    ``train_corpus`` (word ids), one optimizer step per (batch_size, time_size)
    batch, gradients clipped to global norm ``max_grad`` when given. Every
    ``eval_interval`` batches the training perplexity (exp of the mean loss
    since the last report) is recorded. With ``valid_corpus``, after each
    epoch the validation perplexity is measured (``eval_perplexity``: eval
    mode, from a reset state; the state is reset again afterwards, as the
    book does) and

    * when it improves, the model is saved (atomically) to
      ``out_dir/{name}_best.npz`` if ``out_dir`` is given;
    * otherwise, with ``lr_schedule="divide_by_4_when_worse"``, the learning
      rate is divided by 4 (the book's train_better_rnnlm.py).

    Without ``valid_corpus`` the final model is saved as ``out_dir/{name}.npz``.
    ``evaluate(model, corpus)`` replaces the validation measure (tests stub it).

    ``optimizer`` is "sgd", "adam" (built with ``lr``) or an Optimizer over the
    model's parameters, used as it is (``lr`` is then ignored; the schedule
    changes its ``lr``). ``max_grad`` adds a ClipGradNorm hook to it.

    History keys: ``train_iters``/``train_ppl`` (global batch count at each
    report, perplexity), ``valid_ppl``, ``lr`` (the lr used in each epoch),
    ``epoch_time_s``, ``best_valid_ppl``, ``best_epoch`` (1-based), ``checkpoint``.
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    if eval_interval is not None and eval_interval < 1:
        raise ValueError(f"eval_interval must be a positive integer or None, got {eval_interval!r}")
    if valid_corpus is not None and evaluate is None and \
            len(valid_corpus) - 1 < eval_batch_size * time_size:
        # Found now rather than after the first (maybe hour-long) epoch.
        raise ValueError(f"valid_corpus has {len(valid_corpus)} words, fewer than one "
                         f"evaluation batch of {eval_batch_size} x {time_size} + 1")
    evaluate = evaluate or (lambda m, c: eval_perplexity(m, c, batch_size=eval_batch_size,
                                                         time_size=time_size))
    batcher = TBPTTBatcher(train_corpus, batch_size, time_size)
    opt = _make_optimizer(model, optimizer, lr)
    if max_grad is not None:
        opt.add_hook(ClipGradNorm(max_grad))
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)

    history = {"model": type(model).__name__, "batch_size": batch_size, "time_size": time_size,
               "max_grad": max_grad, "lr_schedule": lr_schedule, "iters_per_epoch": len(batcher),
               "train_iters": [], "train_ppl": [], "valid_ppl": [], "lr": [],
               "epoch_time_s": [], "best_valid_ppl": None, "best_epoch": None,
               "checkpoint": None}
    model.train()
    model.reset_state()
    iteration = 0
    for epoch in range(max_epoch):
        start = time.perf_counter()
        history["lr"].append(float(opt.lr))
        bar = _Progress(len(batcher), f"epoch {epoch + 1}/{max_epoch}", progress)
        total_loss, count = 0.0, 0
        try:
            for i, (xs, ts) in enumerate(batcher):
                loss = model.loss(xs, ts)
                model.cleargrads()
                loss.backward()
                opt.update()
                total_loss += float(loss.data)
                count += 1
                iteration += 1
                bar.step()
                # Report every eval_interval batches and flush the rest at the
                # epoch's end, so short epochs still leave a point.
                if count == eval_interval or i == len(batcher) - 1:
                    ppl = math.exp(total_loss / count)
                    history["train_iters"].append(iteration)
                    history["train_ppl"].append(ppl)
                    bar.report(f"iter {iteration} | perplexity {ppl:.2f} | lr {opt.lr:g}")
                    total_loss, count = 0.0, 0
        finally:
            bar.close()

        if valid_corpus is not None:
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
                    save_weights(model, path)
                    history["checkpoint"] = str(path)
            elif lr_schedule == "divide_by_4_when_worse":
                opt.lr /= 4.0
            _note(f"| epoch {epoch + 1} | valid perplexity {ppl:.2f} | lr {opt.lr:g}", progress)
        history["epoch_time_s"].append(time.perf_counter() - start)

    if valid_corpus is None and out_dir is not None:
        path = Path(out_dir) / f"{name}.npz"
        save_weights(model, path)
        history["checkpoint"] = str(path)
    model.reset_state()
    return history


# --------------------------------------------------------------- word2vec
def train_word2vec(model, contexts, target, *, batch_size, max_epoch, lr=0.001, optimizer="adam",
                   out_dir=None, name="word2vec", progress=True, eval_interval=20):
    """Minibatch training of CBOW / SkipGram on (contexts, target) pairs.

    Each epoch shuffles the pairs (with minigrad.random's generator, so
    ``minigrad.random.seed`` makes a run repeatable) and takes
    ``len(target) // batch_size`` steps, the book's Trainer. The model is saved
    (atomically) to ``out_dir/{name}.npz`` after each epoch.

    History keys: ``train_iters``/``loss`` (mean loss over each interval),
    ``epoch_loss`` (mean per epoch), ``epoch_time_s``, ``checkpoint``.
    """
    contexts, target = np.asarray(contexts), np.asarray(target)
    if len(contexts) != len(target):
        raise ValueError(f"contexts ({len(contexts)}) and target ({len(target)}) differ in length")
    iters = len(target) // batch_size
    if iters == 0:
        raise ValueError(f"{len(target)} pairs are fewer than one batch of {batch_size}")
    opt = _make_optimizer(model, optimizer, lr)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    history = {"model": type(model).__name__, "batch_size": batch_size, "iters_per_epoch": iters,
               "train_iters": [], "loss": [], "epoch_loss": [], "epoch_time_s": [],
               "checkpoint": None}
    rng = mg_random.numpy_generator()
    iteration = 0
    for epoch in range(max_epoch):
        start = time.perf_counter()
        order = rng.permutation(len(target))
        bar = _Progress(iters, f"epoch {epoch + 1}/{max_epoch}", progress)
        total, count, epoch_total = 0.0, 0, 0.0
        try:
            for i in range(iters):
                idx = order[i * batch_size:(i + 1) * batch_size]
                loss = model.loss(contexts[idx], target[idx])
                model.cleargrads()
                loss.backward()
                opt.update()
                value = float(loss.data)
                total, count, epoch_total = total + value, count + 1, epoch_total + value
                iteration += 1
                bar.step()
                if count == eval_interval or i == iters - 1:
                    history["train_iters"].append(iteration)
                    history["loss"].append(total / count)
                    bar.report(f"iter {iteration} | loss {total / count:.4f}")
                    total, count = 0.0, 0
        finally:
            bar.close()
        history["epoch_loss"].append(epoch_total / iters)
        history["epoch_time_s"].append(time.perf_counter() - start)
        if out_dir is not None:
            path = Path(out_dir) / f"{name}.npz"
            save_weights(model, path)
            history["checkpoint"] = str(path)
    return history


# --------------------------------------------------------------- outputs
def _to_builtin(value):
    """numpy scalars/arrays and Paths as JSON-friendly Python values."""
    if isinstance(value, dict):
        return {str(k): _to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def _plot(history, fig):
    ax = fig.add_subplot(1, 1, 1)
    x = history.get("train_iters") or []
    if history.get("train_ppl"):
        ax.plot(x, history["train_ppl"], label="train perplexity")
        if history.get("valid_ppl"):
            per = history.get("iters_per_epoch") or 1
            ends = [per * (i + 1) for i in range(len(history["valid_ppl"]))]
            ax.plot(ends, history["valid_ppl"], "o-", label="valid perplexity")
        ax.set_ylabel("perplexity")
        ax.set_yscale("log")     # perplexity falls over orders of magnitude early on
    elif history.get("loss"):
        ax.plot(x, history["loss"], label="train loss")
        ax.set_ylabel("loss")
    ax.set_xlabel("iteration")
    ax.set_title(str(history.get("model", "")))
    ax.grid(True, alpha=0.3)
    ax.legend()


def save_outputs(history, out_dir, name):
    """Write ``out_dir/{name}_metrics.json`` (the history) and
    ``out_dir/{name}_curves.png`` (perplexity or loss against iterations); both
    atomically. Returns ``{"metrics": path, "plot": path or None}`` (None also
    when the history holds no curve). Without
    matplotlib only the JSON is written, and a note says how to get plots."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    has_curve = bool(history.get("train_ppl") or history.get("loss"))
    metrics = out_dir / f"{name}_metrics.json"
    text = json.dumps(_to_builtin(history), indent=2, allow_nan=True) + "\n"
    _atomic_write(metrics, lambda f: f.write(text.encode("utf-8")))
    paths = {"metrics": str(metrics), "plot": None}
    if not has_curve:
        return paths
    try:
        # Optional: plots only. The package itself first, so that a missing (or
        # blocked) matplotlib is noticed even when its submodules are cached.
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print(f"note: matplotlib is not installed, so no plot was written (metrics are in "
              f"{metrics}); pip install 'minigrad[plot]' to get plots")
        return paths
    # Figure + Agg canvas, not pyplot: no global backend switch, no GUI, no leaks.
    fig = Figure(figsize=(6, 4), dpi=100)
    FigureCanvasAgg(fig)
    _plot(history, fig)
    fig.tight_layout()
    plot = out_dir / f"{name}_curves.png"
    _atomic_write(plot, lambda f: fig.savefig(f, format="png"))
    paths["plot"] = str(plot)
    return paths
