"""The loop every trainer runs: epochs of minibatches, one optimizer step per
batch, progress reports, an end-of-epoch hook, and a resume file.

One step is the book's: the loss of a batch, gradients cleared, backward, the
optimizer's update (its hooks, such as gradient clipping, run inside it).
What differs between trainers is only around that step: where the batches
come from (:class:`~minigrad.data.ShuffledBatches`,
:class:`~minigrad.data.TBPTTBatcher`), what is reported (the mean loss, or its
exponential, the perplexity, for language models) and what happens after each
epoch (validation, a learning-rate schedule, keeping the best model), which
the caller passes in as ``after_epoch``.

>>> import numpy as np, minigrad as mg
>>> from minigrad import layers as L
>>> from minigrad.data import ShuffledBatches
>>> from minigrad.optimizers import SGD
>>> class Line(L.Layer):
...     def __init__(self):
...         super().__init__()
...         self.fc = L.Linear(1, 1, rng=0)
...     def loss(self, x, t):
...         return mg.functions.mean((self.fc(x) - t) ** 2)
>>> mg.random.seed(0)
>>> x = np.linspace(-1, 1, 40, dtype=np.float32)[:, None]
>>> model = Line()
>>> loop = TrainingLoop(model, SGD(model, lr=0.5), ShuffledBatches(x, 3 * x + 1, batch_size=8),
...                     max_epoch=30, progress=False)
>>> history = loop.run()
>>> len(history["loss"]), history["epoch_loss"][-1] < 1e-3
(150, True)
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import time
from pathlib import Path

import numpy as np

from .. import backend
from .. import random as mg_random
from ..atomic import remove_stale_temporaries
from ..compiled import CompileError, replayed
from ..compiled import compile as compile_step
from ..core import config
from ..core.anomaly import detect_anomaly
from ..layers import CheckpointError
from . import checkpoint as ckpt
from .guard import check_grads, check_loss
from .progress import Progress, note
from .protocol import check_model, reset_state

__all__ = ["TrainingLoop", "eager", "eager_requested"]

# Batcher state that says where the stream is, not which stream it is.
_POSITION_KEYS = ("position", "iteration", "order_state")


_eager_runs = []   # one entry per open eager() block


@contextlib.contextmanager
def eager():
    """Inside this block every TrainingLoop runs its steps eagerly, as if
    made with ``compiled=False`` (the command line's ``--eager``), and the
    seq2seq models generate eagerly."""
    _eager_runs.append(True)
    try:
        yield
    finally:
        _eager_runs.pop()


def eager_requested() -> bool:
    """True where compiled steps give way to eager ones: inside :func:`eager`,
    and in anomaly mode, which checks every result as it is made."""
    return bool(_eager_runs) or config.state.detect_anomaly


def _positive_int_or_none(name, value):
    if value is not None and (isinstance(value, bool) or int(value) != value or value < 1):
        raise ValueError(f"{name} must be a positive integer or None, got {value!r}")
    return value


class TrainingLoop:
    """Train ``model`` with ``optimizer`` on ``batches`` for ``max_epoch`` epochs.

    * ``batches``: a batcher (``len()`` batches per epoch, ``next_batch()``,
      ``state_dict()``, ``digest()``), e.g. :class:`~minigrad.data.ShuffledBatches`.
    * ``loss(*batch)``: the loss of one batch, a scalar Variable (default:
      ``model.loss``).
    * ``report_every``: batches per report (the mean loss since the last
      report, or its perplexity with ``perplexity=True``); the end of an epoch
      always reports the rest.
    * ``after_epoch(loop, epoch)``: called after each epoch (0-based), before
      the epoch's resume file is written; it may record into ``loop.history``
      and change ``loop.optimizer.lr``.
    * ``after_step(loop, loss)``: called after each optimizer step with the
      batch's loss; what it records into ``loop.history`` goes into the resume
      file with the rest (the course notes' adder records there whether each
      pair came out right).
    * ``schedule``: a learning-rate schedule (:mod:`minigrad.training.schedules`),
      stepped after ``after_epoch`` (which may record what it reads, such as
      the validation perplexity); its state goes into the resume file.
    * ``recurrent=True``: the states of stateful recurrent layers are carried
      in the resume file too, and ``model.reset_state()`` (when the model has
      one) is called before and after the run.
    * ``stop_on_nonfinite`` (default True): a NaN or Inf loss or gradient
      stops the run with a :class:`~minigrad.training.NonFiniteError` naming
      the epoch, the iteration and the parameter, before the update.
    * ``compiled`` (default True): the step (the loss, ``zero_grad``,
      ``backward``, the update) is compiled with :func:`minigrad.compile`:
      recorded on its first calls and replayed on the rest, with the eager
      step's losses and weights bit for bit. ``compiled=False``, a
      :func:`eager` block (``--eager``) and anomaly mode run it eagerly; a
      step a replay could not repeat stops with a CompileError naming the line.
    * ``anomaly=True``: every step runs in minigrad's anomaly mode
      (:func:`minigrad.detect_anomaly`), which names the operation that made
      the first NaN or Inf and the line of your code that called it (slower).
    * ``checkpoint_every=N``: the whole training state goes to
      ``checkpoint_path`` every N batches and at the end of each epoch,
      atomically; :meth:`run` with ``resume=path`` continues from such a file
      and gives exactly the losses of the uninterrupted run.
    * ``generators``: numpy generators the training draws from besides
      minigrad.random's (a negative sampler's own): their states go into the
      resume file too, so that a resumed run draws what the uninterrupted one
      drew.
    * ``history``: entries to start the history with (the trainer's settings).
    * ``comm``: a :class:`minigrad.distributed.Communicator` to train on
      several ranks (data parallel): the optimizer is wrapped in a
      DistributedOptimizer (the ranks start from rank 0's weights and average
      their gradients), each rank takes its rows of every batch
      (ShardedBatches), the losses recorded are the means over the ranks,
      only rank 0 shows progress and writes the resume file, which holds
      every rank's rows of the recurrent states and every rank's random
      state, so a run resumed on as many ranks continues exactly, and one
      resumed on another number of ranks repeats itself
      (:func:`resumed_random_state`).

    :meth:`run` returns the history, plain Python numbers and lists: ``loss``
    (every batch), ``train_iters`` with ``train_loss`` (and ``train_ppl``) at
    each report, ``lr``, ``epoch_loss`` and ``epoch_time_s`` per epoch,
    ``iters_per_epoch``, ``resume_checkpoint`` and ``replayed_steps`` (the
    steps replayed since the run started or resumed: a resumed run records
    its step afresh, so its first two steps of each shape are recorded).
    """

    def __init__(self, model, optimizer, batches, *, max_epoch, loss=None, report_every=20,
                 perplexity=False, progress=True, after_epoch=None, recurrent=False,
                 checkpoint_every=None, checkpoint_path=None, history=None, name="TrainingLoop",
                 data_name="the training data", comm=None, schedule=None,
                 stop_on_nonfinite=True, anomaly=False, generators=(), after_step=None,
                 compiled=True):
        check_model(model, name, loss=loss)
        self.comm = comm
        if comm is not None:
            from ..distributed import DistributedOptimizer, ShardedBatches

            if not isinstance(optimizer, DistributedOptimizer):
                optimizer = DistributedOptimizer(optimizer, comm)
            if not isinstance(batches, ShardedBatches):
                batches = ShardedBatches(batches, comm.rank, comm.size)
            progress = progress and comm.rank == 0
        self.model, self.optimizer, self.batches = model, optimizer, batches
        self.max_epoch = max_epoch
        self.loss = loss if loss is not None else model.loss
        self.report_every = _positive_int_or_none("report_every", report_every)
        self.perplexity = perplexity
        self.progress = progress
        self.after_epoch, self.after_step = after_epoch, after_step
        self.schedule = schedule
        self.recurrent = recurrent
        self.stop_on_nonfinite, self.anomaly = bool(stop_on_nonfinite), bool(anomaly)
        self.checkpoint_every = _positive_int_or_none("checkpoint_every", checkpoint_every)
        if checkpoint_every is not None and checkpoint_path is None:
            raise ValueError("checkpoint_every needs out_dir or checkpoint_path: where to "
                             "write the training state")
        self.checkpoint_path = checkpoint_path
        self.name, self.data_name = name, data_name
        self.generators = list(generators)
        self.compiled = bool(compiled) and not self.anomaly
        self._compiled = None
        self.history = dict(history or {})
        self.history.update({"iters_per_epoch": len(batches), "loss": [], "train_iters": [],
                             "train_loss": [], "lr": [], "epoch_loss": [], "epoch_time_s": [],
                             "resume_checkpoint": None})
        if perplexity:
            self.history["train_ppl"] = []
        # Where the run is: the next epoch, the batches done in it, and the sums
        # behind the running means. All of it goes into the resume file.
        self.iteration = 0
        self.epoch = 0
        self.done = 0
        self.mid_epoch = False
        self._total, self._count, self._epoch_total = 0.0, 0, 0.0

    # ------------------------------------------------------------- one step
    def step(self, batch) -> float:
        """One optimizer step on one batch; returns the batch's loss."""
        if self._compiled is not None:
            try:
                loss = self._compiled(*self._on_model_device(batch))
            except CompileError as exc:
                raise CompileError(f"{self.name}: {exc}. To train this model eagerly, pass "
                                   "compiled=False (--eager on the command line)") from exc
        else:
            with detect_anomaly() if self.anomaly else contextlib.nullcontext():
                loss = self._train_step(*batch)
        if self.comm is None:
            return float(loss.data)   # ``loss`` and its graph go when this returns
        # One rank alone must not stop (the others would wait for it): with
        # several ranks the averaged loss and gradients, the same on every
        # rank, are checked, after the update they made.
        mean = self.optimizer.last_loss     # the mean over the ranks
        if self.stop_on_nonfinite:
            where = f"{self._where()}, on every rank"
            check_loss(mean, where, updated=True)
            check_grads(self.model.named_params(), where, updated=True)
        return mean

    def _train_step(self, *batch):
        """The book's step on one batch, the function a compiled step records;
        returns the loss Variable."""
        check = self.stop_on_nonfinite and self.comm is None
        loss = self.loss(*batch)
        if check:
            self._check_loss(loss)
        self.model.zero_grad()
        loss.backward()
        if self.comm is not None:
            self.optimizer.update(loss=loss)
            return loss
        if check:
            self._check_grads()
        self.optimizer.update()
        return loss

    def _on_model_device(self, batch):
        """The batch's arrays moved to the model's device (a GPU) when they are
        on the host: a layer would move them itself, but a move in Python
        inside a compiled step would be frozen at the recorded call's data."""
        params = self.model.params()
        if not params or not backend.is_cupy_array(params[0].data):
            return batch
        return tuple(backend.as_cupy(a) if isinstance(a, np.ndarray) else a for a in batch)

    # Host calls: a compiled step runs them again on every replay, in their
    # place, so that a NaN stops the run before the update, as in an eager step.
    @replayed
    def _check_loss(self, loss):
        check_loss(float(loss.data), self._where())

    @replayed
    def _check_grads(self):
        check_grads(self.model.named_params(), self._where())

    def _where(self) -> str:
        """The step being taken, in the words of the reports."""
        return (f"{self.name}: epoch {self.epoch + 1}/{self.max_epoch}, iteration "
                f"{self.iteration + 1} (batch {self.done + 1} of {len(self.batches)})")

    @property
    def is_root(self) -> bool:
        """True on the process that logs and writes (rank 0, or the only one)."""
        from ..distributed import is_root

        return is_root(self.comm)

    # ------------------------------------------------------------- the loop
    def run(self, resume=None) -> dict:
        state = self._read(resume) if resume is not None else None
        self.model.train()
        if not self.compiled or eager_requested():
            self._compiled = None
        elif self._compiled is None:
            self._compiled = compile_step(self._train_step, self.model)
        if self.recurrent:
            reset_state(self.model)
        if state is not None:
            self._restore(resume, *state)
        if self.schedule is not None:
            self.schedule.start(self.optimizer)
        if self.checkpoint_path is not None and self.is_root:
            Path(self.checkpoint_path).parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temporaries(self.checkpoint_path)
        if self.checkpoint_path is not None:
            self.history["resume_checkpoint"] = str(self.checkpoint_path)
        history, n = self.history, len(self.batches)
        while self.epoch < self.max_epoch:
            start = time.perf_counter()
            if not self.mid_epoch:          # a resumed epoch already has its lr and sums
                history["lr"].append(float(self.optimizer.lr))
                self.done, self._total, self._count, self._epoch_total = 0, 0.0, 0, 0.0
            self.mid_epoch = False
            bar = Progress(n, f"epoch {self.epoch + 1}/{self.max_epoch}", self.progress)
            try:
                for i in range(self.done, n):
                    value = self.step(self.batches.next_batch())
                    history["loss"].append(value)
                    if self.after_step is not None:
                        self.after_step(self, value)
                    self._total += value
                    self._count += 1
                    self._epoch_total += value
                    self.iteration += 1
                    self.done = i + 1
                    bar.step()
                    if self._count == self.report_every or i == n - 1:
                        bar.report(self._report())
                    if self.checkpoint_every and self.iteration % self.checkpoint_every == 0 \
                            and i < n - 1:
                        self._checkpoint(mid_epoch=True)
            finally:
                bar.close()
            history["epoch_loss"].append(self._epoch_total / n)
            if self.after_epoch is not None:
                self.after_epoch(self, self.epoch)
            if self.schedule is not None:
                self._scheduled_lr()
            history["epoch_time_s"].append(time.perf_counter() - start)
            self.epoch += 1
            if self.checkpoint_every:
                # The epoch is finished, its hook included: a resume starts the next.
                self._checkpoint(mid_epoch=False)
        if self.recurrent:
            reset_state(self.model)
        # How many steps replayed a recording (0 for an eager run), over the loop's life:
        # since the run started or resumed (a resume records its step afresh).
        history["replayed_steps"] = 0 if self._compiled is None else self._compiled.replays
        return history

    def _scheduled_lr(self):
        old = self.optimizer.lr
        self.schedule.after_epoch(self.optimizer, self.epoch, self.history)
        if self.optimizer.lr != old:
            self.note(f"| epoch {self.epoch + 1} | lr {old:g} -> {self.optimizer.lr:g} "
                      f"({type(self.schedule).__name__})")

    def _report(self) -> str:
        mean = self._total / self._count
        history = self.history
        history["train_iters"].append(self.iteration)
        history["train_loss"].append(mean)
        text = f"iter {self.iteration} | loss {mean:.4f}"
        if self.perplexity:
            history["train_ppl"].append(math.exp(mean))
            text = f"iter {self.iteration} | perplexity {math.exp(mean):.2f}"
        self._total, self._count = 0.0, 0
        return f"{text} | lr {self.optimizer.lr:g}"

    def note(self, text):
        """A line for the log after an epoch (silent when progress is off)."""
        note(text, self.progress)

    # ------------------------------------------------------------- resuming
    def _checkpoint(self, mid_epoch):
        arrays = ckpt.weights_arrays(self.model, self.optimizer)
        if self.recurrent:
            arrays.update(self._gathered(ckpt.recurrent_arrays(self.model)))
        meta = {"iteration": self.iteration, "epoch": self.epoch, "batches_done": self.done,
                "mid_epoch": mid_epoch, "sums": [self._total, self._count, self._epoch_total],
                "batches": self.batches.state_dict(), "data_sha256": self.batches.digest(),
                "random": mg_random.get_state(), "history": self.history,
                "generators": [mg_random.generator_state(g) for g in self.generators],
                "schedule": None if self.schedule is None else self.schedule.state_dict()}
        if self.comm is not None:
            meta["random_ranks"] = self.comm.allgather_object(meta["random"])
            meta["generators_ranks"] = self.comm.allgather_object(meta["generators"])
        if self.is_root:
            ckpt.write_state(self.checkpoint_path, arrays, meta)

    def _gathered(self, states):
        """The recurrent states of the whole batch: every rank's rows, in rank order."""
        if self.comm is None:
            return states
        everyone = self.comm.allgather_object(states)
        return {key: np.concatenate([rank[key] for rank in everyone]) for key in states}

    def _read(self, path):
        """The resume file, read by rank 0 and handed to every rank (the other
        machines need no copy); a file that cannot be read fails every rank."""
        if self.comm is None:
            return ckpt.read_state(path, self.name)
        state = None
        if self.is_root:
            try:
                state = ckpt.read_state(path, self.name)
            except Exception as exc:  # noqa: BLE001 - raised below, on every rank
                state = exc
        state = self.comm.broadcast_object(state)
        if isinstance(state, Exception):
            raise state
        return state

    def _restore(self, path, arrays, meta):
        """Check the file against this run, then load it; on a CheckpointError
        nothing has changed."""
        where = f"{self.name}: cannot resume from {path}"
        problems = ckpt.check_weights(arrays, self.model)
        mine, theirs = self.batches.state_dict(), meta["batches"]
        for key, value in mine.items():
            if key not in _POSITION_KEYS and theirs.get(key) != value:
                problems.append(f"  {key}: the checkpoint has {theirs.get(key)}, this run has "
                                f"{value}")
        if not problems and meta["data_sha256"] != self.batches.digest():
            problems.append(f"  {self.data_name}: the checkpoint was trained on other data "
                            "(its SHA-256 differs)")
        if self.recurrent:
            problems += ckpt.check_recurrent(arrays, self.model, self.batches.batch_size)
        if len(meta.get("generators", [])) != len(self.generators):
            problems.append(f"  generators: the checkpoint has the states of "
                            f"{len(meta.get('generators', []))}, this run draws from "
                            f"{len(self.generators)}")
        # (A run may drop or add a schedule when it resumes; another one
        # would continue some other schedule's state.)
        saved = meta.get("schedule")
        if saved is not None and self.schedule is not None and \
                saved.get("schedule") != type(self.schedule).__name__:
            problems.append(f"  schedule: the checkpoint has {saved.get('schedule')}, this run "
                            f"has {type(self.schedule).__name__}")
        if problems:
            raise CheckpointError(f"{where}: it does not match this run "
                                  f"({type(self.model).__name__}); nothing was changed:\n"
                                  + "\n".join(problems))
        ckpt.load_optimizer(arrays, self.optimizer, where)   # checks all before it changes
        if saved is not None and self.schedule is not None:
            self.schedule.load_state_dict(saved)
        ckpt.load_weights_from(arrays, self.model)
        if self.recurrent:
            if self.comm is not None:      # this rank's rows of the whole batch's states
                arrays = {k: a[self.batches.rows] if k.startswith("rnn.") else a
                          for k, a in arrays.items()}
            ckpt.load_recurrent(arrays, self.model)
        self.batches.load_state_dict(theirs)
        mg_random.set_state(self._random_state(meta))
        for rng, saved in zip(self.generators, self._own_state(meta, "generators") or ()):
            mg_random.set_generator_state(rng, saved)
        self.history = meta["history"]
        self.iteration, self.epoch = meta["iteration"], meta["epoch"]
        self.done, self.mid_epoch = meta["batches_done"], meta["mid_epoch"]
        self._total, self._count, self._epoch_total = meta["sums"]

    def _random_state(self, meta):
        """This rank's generator state from the file (see resumed_random_state)."""
        return resumed_random_state(meta, 0 if self.comm is None else self.comm.rank)

    def _own_state(self, meta, key):
        """This rank's entry ``key`` of the file: its own when the file has one
        per rank for as many ranks, else the file's one entry on the root rank."""
        ranks = meta.get(f"{key}_ranks")
        if self.comm is not None and ranks is not None and len(ranks) == self.comm.size:
            return ranks[self.comm.rank]
        return meta.get(key) if self.is_root else None


def resumed_random_state(meta, rank: int) -> dict:
    """The state of minigrad.random's generator that rank ``rank`` resumes
    with, from the resume file's ``meta``: the state the file holds for that
    rank (a run on several ranks saves every rank's; a run of one process,
    its one); for a rank the saved run did not have, a stream of its own
    drawn from the saved states, the same at every resume whatever seeds the
    resumed run was given. So a resume on any number of ranks is repeatable,
    and on as many ranks it continues every saved stream exactly.

    >>> meta = {"random": "r0", "random_ranks": ["r0", "r1"]}
    >>> resumed_random_state(meta, 1)
    'r1'
    >>> new = resumed_random_state({"random": np.random.default_rng(0).bit_generator.state}, 2)
    >>> new["bit_generator"], new == resumed_random_state(
    ...     {"random": np.random.default_rng(0).bit_generator.state}, 2)
    ('PCG64', True)
    """
    saved = meta.get("random_ranks") or [meta["random"]]
    if rank < len(saved):
        return saved[rank]
    digest = hashlib.sha256(json.dumps(saved, sort_keys=True).encode()).digest()
    entropy = [int.from_bytes(digest[i:i + 8], "little") for i in range(0, 32, 8)] + [rank]
    kind = getattr(np.random, saved[0]["bit_generator"])
    return kind(np.random.SeedSequence(entropy)).state
