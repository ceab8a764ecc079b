"""The training steps that test_distributed_mpi.py runs both ways: on one
process with the whole batch (``comm=None``) and on each rank of an mpirun
job with its shard (``comm`` given). Everything else (models, data, seeds)
is the same code, so any difference comes from the distribution.

Each ``run_*`` returns a list of step records: the loss (mean over the whole
batch), every gradient after averaging and clipping, and every parameter
after the update, as numpy arrays keyed by parameter name.
"""
from __future__ import annotations

import hashlib

import numpy as np

import minigrad as mg
import minigrad.distributed as dist
import minigrad.functions as F
from minigrad import layers as L
from minigrad import optimizers as O
from minigrad.data import TBPTTBatcher, create_contexts_target

IGNORE = -1
# name: (rule, its arguments); Adam is the book's, "lazy Adam" updates only
# the rows a sparse gradient holds.
OPTIMIZERS = {"SGD": (O.SGD, dict(lr=0.1)), "Momentum": (O.Momentum, dict(lr=0.1)),
              "Nesterov": (O.Nesterov, dict(lr=0.1)), "AdaGrad": (O.AdaGrad, dict(lr=0.1)),
              "RMSprop": (O.RMSprop, dict(lr=0.01)), "Adam": (O.Adam, dict(lr=0.01)),
              "lazy Adam": (O.Adam, dict(lr=0.01, lazy=True))}
BATCH = 12          # divides over 1, 2, 3 and 4 ranks


def _wrap(opt, comm, shard=False, **exchange):
    """``exchange``: the DistributedOptimizer's overlap and bucket_bytes."""
    return opt if comm is None else dist.DistributedOptimizer(opt, comm, shard=shard, **exchange)


def _rows(n, comm):
    return slice(0, n) if comm is None else dist.shard(n, comm.rank, comm.size)


def _record(model, loss):
    grads, params = {}, {}
    for name, p in model.named_params():
        g = p.grad
        grads[name] = None if g is None else np.array(mg.to_cpu(
            g.to_dense() if isinstance(g, mg.SparseRows) else g.data))
        params[name] = np.array(mg.to_cpu(p.data))
    return {"loss": float(loss), "grads": grads, "params": params}


def _step(model, opt, comm, loss, weight=None):
    model.zero_grad()
    loss.backward()
    if comm is None:
        opt.update()
        return float(loss.data)
    return opt.update(loss=loss, weight=weight)


# ---------------------------------------------------------------- MLP with ignored targets
class MLP(L.Layer):
    def __init__(self):
        super().__init__()
        self.fc1 = L.Linear(4, 8, rng=1)
        self.fc2 = L.Linear(8, 3, rng=2)

    def forward(self, x):
        return self.fc2(F.tanh(self.fc1(x)))


def mlp_data():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((BATCH, 4)).astype(np.float32)
    t = rng.integers(0, 3, BATCH)
    # Uneven: the first rows keep all their targets, the last ones lose most,
    # so the ranks count different numbers of targets.
    t[[5, 8, 9, 10, 11]] = IGNORE
    return x, t


def run_mlp(comm=None, steps=2, gpu=False, shard=False):
    x, t = mlp_data()
    model = MLP()
    if gpu:
        model.to_gpu()
        x, t = mg.to_gpu(x), mg.to_gpu(t)
    opt = _wrap(O.Momentum(model, lr=0.5), comm, shard)
    rows = _rows(BATCH, comm)
    out = []
    for _ in range(steps):
        loss = F.softmax_cross_entropy(model(x[rows]), t[rows], ignore_index=IGNORE)
        kept = int((t[rows] != IGNORE).sum())
        out.append(_record(model, _step(model, opt, comm, loss, weight=kept)))
    return out


# ---------------------------------------------------------------- Rnnlm: stateful, clipped
def rnnlm_corpus():
    return np.random.default_rng(4).integers(0, 40, 500)


def run_rnnlm(comm=None, steps=3, shard=False, **exchange):
    from models.rnnlm import Rnnlm

    corpus = rnnlm_corpus()
    model = Rnnlm(40, 8, 8, rng=0)
    opt = _wrap(O.SGD(model, lr=1.0), comm, shard, **exchange)
    clip = opt.add_hook(O.ClipGradNorm(0.1))     # below the norms: it clips
    batcher = TBPTTBatcher(corpus, 6, 5)
    if comm is not None:
        batcher = dist.ShardedBatches(batcher, comm.rank, comm.size)
    out = []
    for _ in range(steps):
        xs, ts = batcher.next_batch()
        loss = model.loss(xs, ts)
        rec = _record(model, _step(model, opt, comm, loss))
        rec["norm"] = clip.last_norm
        out.append(rec)
    return out


def run_perplexity(comm=None):
    """After two training steps, perplexity of a held-out stream."""
    from models.rnnlm import Rnnlm, eval_perplexity

    model = Rnnlm(40, 8, 8, rng=0)
    held_out = np.random.default_rng(6).integers(0, 40, 300)
    if comm is None:
        return eval_perplexity(model, held_out, batch_size=6, time_size=5)
    return dist.perplexity(model, held_out, comm, batch_size=6, time_size=5)


# ---------------------------------------------------------------- CBOW: sparse rows
def cbow_data(steps=2):
    rng = np.random.default_rng(5)
    corpus = rng.integers(0, 30, 200 if steps <= 2 else steps * BATCH + 4)
    contexts, target = create_contexts_target(corpus, 2)
    negatives = rng.integers(0, 30, (steps, BATCH, 5))
    return corpus, contexts, target, negatives


def run_cbow(comm=None, steps=2, shard=False, **exchange):
    from models.word2vec import CBOW

    corpus, contexts, target, negatives = cbow_data(steps)
    model = CBOW(30, 8, 2, corpus, sparse=True, rng=0)
    opt = _wrap(O.Adam(model, lr=0.01), comm, shard, **exchange)
    rows = _rows(BATCH, comm)
    out = []
    for s in range(steps):
        batch = slice(s * BATCH, (s + 1) * BATCH)
        loss = model.loss(contexts[batch][rows], target[batch][rows], negatives[s][rows])
        out.append(_record(model, _step(model, opt, comm, loss)))
    return out


# ---------------------------------------------------------------- 20 steps, every optimizer
class Tagger(L.Layer):
    """An embedding (sparse rows) and a linear layer: dense and sparse gradients."""

    def __init__(self):
        super().__init__()
        self.embed = L.Embedding(20, 4, rng=7, sparse=True)
        self.out = L.Linear(4, 5, rng=8)

    def forward(self, ids):
        return self.out(F.mean(self.embed(ids), axis=1))


def run_identical(comm, name, steps=20, shard=False, **exchange):
    """Each rank trains on its own random data; returns a digest of the
    parameters after each step, and whether they moved at all."""
    model = Tagger()
    start = [p.data.copy() for p in model.params()]
    rule, kwargs = OPTIMIZERS[name]
    opt = dist.DistributedOptimizer(rule(model, **kwargs), comm, shard=shard, **exchange)
    opt.add_hook(O.ClipGradNorm(1.0))
    rng = np.random.default_rng(100 + comm.rank)
    digests = []
    for _ in range(steps):
        ids = rng.integers(0, 20, (6, 3))
        loss = F.softmax_cross_entropy(model(ids), rng.integers(0, 5, 6))
        _step(model, opt, comm, loss)
        h = hashlib.sha256()
        for p in model.params():
            h.update(p.data.tobytes())
        digests.append(h.hexdigest())
    moved = any(not np.array_equal(a, p.data) for a, p in zip(start, model.params()))
    return {"digests": digests, "moved": moved}


# ---------------------------------------------------------------- train_rnnlm, resumed
class Crash(Exception):
    pass


def run_training(comm, out_dir, *, seed=0, model_rng=0, crash=None, resume=None):
    """train_rnnlm on BetterRnnlm (dropout: each rank its own masks) over a
    small corpus, 2 epochs, a resume file every 5 batches; ``crash=k`` raises
    Crash on every rank during update k + 1."""
    from minigrad.data import load_small_corpus
    from models.rnnlm import BetterRnnlm
    from models.rnnlm import train_rnnlm

    words = load_small_corpus(120)[0]
    train, valid = words[:300], words[300:420]
    dist.seed(seed, comm.rank)
    model = BetterRnnlm(int(words[:420].max()) + 1, 8, 8, dropout_ratio=0.5, rng=model_rng)
    opt = O.SGD(model, lr=1.0)
    if crash is not None:
        def hook(params):
            if opt.steps == crash:
                raise Crash()
        opt.add_hook(hook)
    # A batch of 6 rows: 2 or 3 per rank on 2 or 3 ranks, so a resume file of
    # one can be resumed on the other.
    history = train_rnnlm(model, train, valid, batch_size=6, time_size=5, lr=None, max_epoch=2,
                          max_grad=0.5, optimizer=opt, lr_schedule="divide_by_4_when_worse",
                          report_every=5, eval_batch_size=6, progress=False, out_dir=out_dir,
                          checkpoint_every=5, resume=resume, comm=comm)
    return history, {name: p.data.copy() for name, p in model.named_params()}


# ---------------------------------------------------------------- the compiled step on ranks
# The ways a DistributedOptimizer can exchange: the plain Allreduce, buckets
# of 512 bytes, those buckets overlapped with the backward pass, the sharded
# update.
EXCHANGES = {"whole": {}, "bucketed": dict(bucket_bytes=512),
             "overlapped": dict(overlap=True, bucket_bytes=512), "sharded": dict(shard=True)}


def run_loop(comm, exchange, compiled):
    """Rnnlm on TrainingLoop (clipped, stateful, 2 epochs: 32 steps), eager or
    compiled; the parameters after every step, and how many steps replayed."""
    from minigrad.training import TrainingLoop
    from models.rnnlm import Rnnlm

    model = Rnnlm(40, 8, 8, rng=0)
    opt = O.SGD(model, lr=1.0)
    opt.add_hook(O.ClipGradNorm(0.1))
    opt = dist.DistributedOptimizer(opt, comm, **EXCHANGES[exchange])
    after = []
    loop = TrainingLoop(model, opt, TBPTTBatcher(rnnlm_corpus(), 6, 5), max_epoch=2,
                        recurrent=True, progress=False, comm=comm, compiled=compiled,
                        after_step=lambda loop, loss: after.append(
                            [p.data.copy() for p in model.params()]))
    history = loop.run()
    buckets = comm._buckets
    return {"params": after, "replayed": history["replayed_steps"],
            "early": 0 if buckets is None else buckets.started_early}
