"""Training loops for the book's models, as the book's trainers run them.

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

import hashlib
import json
import math
import os
import time
import zipfile
from pathlib import Path

import numpy as np

import minigrad.random as mg_random
from minigrad import backend
from minigrad.data import TBPTTBatcher
from minigrad.layers import CheckpointError, save_weights
from minigrad.atomic import atomic_write, remove_stale_temporaries
from minigrad.layers.serialization import _differences
from minigrad.optimizers import SGD, Adam, ClipGradNorm, Optimizer
from minigrad.optimizers.base import OptimizerStateError

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


# --------------------------------------------------------------- resumable state
_CHECKPOINT_FORMAT = "minigrad train_rnnlm checkpoint"
_CHECKPOINT_VERSION = 1


def _recurrent_layers(model):
    """The sequence layers that carry a state from batch to batch, in the model's
    definition order (the same order in every run)."""
    return [layer for layer in [model] + model.layers()
            if hasattr(layer, "set_state") and hasattr(layer, "h")]


def _corpus_digest(corpus) -> str:
    return hashlib.sha256(np.ascontiguousarray(corpus, dtype=np.int64).tobytes()).hexdigest()


def _checkpoint_arrays(model, opt, meta) -> dict:
    """Everything a resumed run needs, as the flat dict of arrays np.savez takes:
    ``model.<name>`` weights, ``optim.<key>`` the optimizer's state_dict,
    ``rnn.<i>.h`` / ``rnn.<i>.c`` the carried states and ``meta``, a JSON text
    with the counters, the batcher and random states and the history."""
    arrays = {f"model.{name}": backend.as_numpy(p.data) for name, p in model.named_params()}
    for key, value in opt.state_dict().items():
        arrays[f"optim.{key}"] = np.asarray(value)
    for i, layer in enumerate(_recurrent_layers(model)):
        for attr in ("h", "c"):
            state = getattr(layer, attr, None)
            if state is not None:
                arrays[f"rnn.{i}.{attr}"] = backend.as_numpy(state.data)
    # json keeps Python floats exactly (repr round-trips) and the generator's
    # 128-bit integers whole, which an npz array could not.
    arrays["meta"] = np.array(json.dumps(_to_builtin(meta), allow_nan=True))
    return arrays


def _write_checkpoint(path, arrays) -> None:
    atomic_write(path, lambda f: np.savez(f, **arrays))


def _read_checkpoint(path) -> dict:
    """Every array of the checkpoint, read fully before anything is changed."""
    path = Path(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if not head.startswith(b"PK"):
        raise CheckpointError(f"train_rnnlm: cannot resume from {path}: it is not an .npz file "
                              f"(it starts with {head!r}); pass a file that train_rnnlm wrote "
                              "with checkpoint_every")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError, KeyError) as e:
        raise CheckpointError(f"train_rnnlm: cannot resume from {path}: not a readable .npz "
                              f"file (truncated or corrupt?): {type(e).__name__}: {e}") from e
    meta = arrays.get("meta")
    try:
        meta = None if meta is None else json.loads(str(meta))
    except ValueError:
        meta = None
    if not isinstance(meta, dict) or meta.get("format") != _CHECKPOINT_FORMAT:
        raise CheckpointError(f"train_rnnlm: cannot resume from {path}: it holds no training "
                              "state (a weights file from save_weights? load that with "
                              "load_weights)")
    if meta.get("version") != _CHECKPOINT_VERSION:
        raise CheckpointError(f"train_rnnlm: cannot resume from {path}: checkpoint version "
                              f"{meta.get('version')}, this minigrad reads version "
                              f"{_CHECKPOINT_VERSION}")
    arrays["meta"] = meta
    return arrays


def _restore(path, arrays, model, opt, batcher, corpus_digest) -> dict:
    """Put the checkpoint's state into model, optimizer, batcher and
    minigrad.random; returns its meta dict. Everything is checked first: on a
    CheckpointError nothing has changed."""
    meta = arrays["meta"]
    problems = []
    params = dict(model.named_params())
    found = {k[len("model."):]: a for k, a in arrays.items() if k.startswith("model.")}
    problems += _differences(params, found)
    mine, theirs = batcher.state_dict(), meta["batcher"]
    for key in ("batch_size", "time_size", "corpus_length"):
        if theirs.get(key) != mine[key]:
            problems.append(f"  {key}: the checkpoint has {theirs.get(key)}, this run has "
                            f"{mine[key]}")
    if meta["corpus_sha256"] != corpus_digest and \
            theirs.get("corpus_length") == len(batcher.corpus):
        problems.append("  train_corpus: the checkpoint was trained on other words (its "
                        "SHA-256 differs)")
    layers = _recurrent_layers(model)
    states = []
    for i, layer in enumerate(layers):
        pair = []
        for attr in ("h", "c"):
            a = arrays.get(f"rnn.{i}.{attr}")
            want = (batcher.batch_size, layer.hidden_size)
            if a is not None and (tuple(a.shape) != want or a.dtype != layer.Wx.dtype):
                problems.append(f"  rnn.{i}.{attr}: the checkpoint has {tuple(a.shape)} {a.dtype}, "
                                f"{type(layer).__name__} {i} carries {want} {layer.Wx.dtype}")
            pair.append(a)
        states.append(pair)
    extra = {k.split(".")[1] for k in arrays if k.startswith("rnn.")} - \
        {str(i) for i in range(len(layers))}
    if extra:
        problems.append(f"  the checkpoint carries states of {len(layers) + len(extra)} "
                        f"recurrent layers, the model has {len(layers)}")
    if problems:
        raise CheckpointError(f"train_rnnlm: cannot resume from {path}: it does not match this "
                              f"run ({type(model).__name__}); nothing was changed:\n"
                              + "\n".join(problems))
    optim = {k[len("optim."):]: a for k, a in arrays.items() if k.startswith("optim.")}
    try:
        opt.load_state_dict(optim)   # checks everything before it changes anything
    except OptimizerStateError as e:
        raise CheckpointError(f"train_rnnlm: cannot resume from {path}: {e}") from e

    for name, p in params.items():
        a = found[name]
        p.data = a if isinstance(p.data, np.ndarray) else backend.as_cupy(a)
    for layer, (h, c) in zip(layers, states):
        xp = backend.get_array_module(layer.Wx.data)
        layer.set_state(None if h is None else xp.asarray(h), None if c is None else xp.asarray(c))
    batcher.load_state_dict(theirs)
    mg_random.set_state(meta["random"])
    return meta


# --------------------------------------------------------------- language models
def train_rnnlm(model, train_corpus, valid_corpus=None, *, batch_size, time_size, lr, max_epoch,
                max_grad=None, optimizer="sgd", lr_schedule=None, out_dir=None, name="rnnlm",
                progress=True, eval_interval=20, eval_batch_size=10, evaluate=None,
                checkpoint_every=None, checkpoint_path=None, resume=None):
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

    History keys: ``loss`` (every batch's loss), ``train_iters``/``train_ppl``
    (global batch count at each report, perplexity), ``valid_ppl``, ``lr``
    (the lr used in each epoch), ``epoch_time_s``, ``best_valid_ppl``,
    ``best_epoch`` (1-based), ``checkpoint`` (the saved weights),
    ``resume_checkpoint`` (the training-state file, or None).
    """
    if lr_schedule not in LR_SCHEDULES:
        raise ValueError(f"lr_schedule must be one of {LR_SCHEDULES}, got {lr_schedule!r}")
    if eval_interval is not None and eval_interval < 1:
        raise ValueError(f"eval_interval must be a positive integer or None, got {eval_interval!r}")
    if checkpoint_every is not None and (isinstance(checkpoint_every, bool) or
                                         int(checkpoint_every) != checkpoint_every or
                                         checkpoint_every < 1):
        raise ValueError(f"checkpoint_every must be a positive integer or None, got "
                         f"{checkpoint_every!r}")
    if checkpoint_every is not None and checkpoint_path is None:
        if out_dir is None:
            raise ValueError("checkpoint_every needs out_dir or checkpoint_path: where to "
                             "write the training state")
        checkpoint_path = Path(out_dir) / f"{name}_resume.npz"
    if valid_corpus is not None and evaluate is None and \
            len(valid_corpus) - 1 < eval_batch_size * time_size:
        # Found now rather than after the first (maybe hour-long) epoch.
        raise ValueError(f"valid_corpus has {len(valid_corpus)} words, fewer than one "
                         f"evaluation batch of {eval_batch_size} x {time_size} + 1")
    evaluate = evaluate or (lambda m, c: eval_perplexity(m, c, batch_size=eval_batch_size,
                                                         time_size=time_size))
    batcher = TBPTTBatcher(train_corpus, batch_size, time_size)
    # Read (and checked) before anything is built or written.
    saved = _read_checkpoint(resume) if resume is not None else None
    opt = _make_optimizer(model, optimizer, lr)
    if max_grad is not None:
        opt.add_hook(ClipGradNorm(max_grad))
    digest = _corpus_digest(batcher.corpus)

    model.train()
    model.reset_state()
    history = {"model": type(model).__name__, "batch_size": batch_size, "time_size": time_size,
               "max_grad": max_grad, "lr_schedule": lr_schedule, "iters_per_epoch": len(batcher),
               "loss": [], "train_iters": [], "train_ppl": [], "valid_ppl": [], "lr": [],
               "epoch_time_s": [], "best_valid_ppl": None, "best_epoch": None,
               "checkpoint": None, "resume_checkpoint": None}
    iteration, first_epoch, done, started, total_loss, count = 0, 0, 0, False, 0.0, 0
    if saved is not None:
        meta = _restore(resume, saved, model, opt, batcher, digest)
        history = meta["history"]
        iteration, first_epoch = meta["iteration"], meta["epoch"]
        done, started = meta["batches_done"], meta["epoch_started"]
        total_loss, count = meta["total_loss"], meta["count"]
        del saved
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    if checkpoint_path is not None:
        Path(checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(checkpoint_path)
        history["resume_checkpoint"] = str(checkpoint_path)

    def checkpoint(epoch, batches_done, epoch_started):
        meta = {"format": _CHECKPOINT_FORMAT, "version": _CHECKPOINT_VERSION,
                "iteration": iteration, "epoch": epoch, "batches_done": batches_done,
                "epoch_started": epoch_started, "total_loss": total_loss, "count": count,
                "batcher": batcher.state_dict(), "corpus_sha256": digest,
                "random": mg_random.get_state(), "history": history}
        _write_checkpoint(checkpoint_path, _checkpoint_arrays(model, opt, meta))

    for epoch in range(first_epoch, max_epoch):
        start = time.perf_counter()
        if not started:            # a resumed epoch already has its lr and counters
            history["lr"].append(float(opt.lr))
            done, total_loss, count = 0, 0.0, 0
        started = False
        bar = _Progress(len(batcher), f"epoch {epoch + 1}/{max_epoch}", progress)
        try:
            for i in range(done, len(batcher)):
                xs, ts = batcher.next_batch()
                loss = model.loss(xs, ts)
                model.cleargrads()
                loss.backward()
                opt.update()
                value = float(loss.data)
                del loss           # this step's graph goes now, not at the next forward
                history["loss"].append(value)
                total_loss += value
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
                if checkpoint_every is not None and iteration % checkpoint_every == 0 \
                        and i < len(batcher) - 1:
                    checkpoint(epoch, i + 1, True)
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
        if checkpoint_every is not None:
            # The epoch is finished, validation and schedule included: a resume
            # starts the next one.
            checkpoint(epoch + 1, 0, False)

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
    atomic_write(metrics, lambda f: f.write(text.encode("utf-8")))
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
    atomic_write(plot, lambda f: fig.savefig(f, format="png"))
    paths["plot"] = str(plot)
    return paths
