"""The benchmark suite: every workload in one command, one table.

    python benchmarks/suite.py [--quick] [--threads N] [--only NAME,...] [--no-torch] [--out NAME]
    python benchmarks/suite.py --profile NAME [--threads N]

Each workload runs its contenders round-robin in this one process over the
same inputs and the same starting weights, after a warm-up, with the BLAS
thread count pinned (see _harness.py): minigrad's models on its public API,
the hand-written book-style twins (each family's twin.py in models/), PyTorch CPU when it is
installed and, for the recurrent language models, the matmul-only lower
bound. Before anything is timed, minigrad's loss is checked against the
twin's (and torch's where the math is the same), so a benchmark cannot time
something wrong.

Writes benchmarks/results/suite.md (the table, also printed) and suite.json
(everything, raw). ``--profile NAME`` instead runs NAME's minigrad step under
cProfile and prints the functions with the most own time. See
benchmarks/README.md for the workloads and how to read the table.
"""
from __future__ import annotations

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))  # the repository root: `models` is not installed
from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()  # before numpy: BLAS sizes its thread pool at load time

import argparse  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
import engine_overhead  # noqa: E402
import minigrad as mg  # noqa: E402
import minigrad.functions as F  # noqa: E402
import minigrad.layers as L  # noqa: E402
from minigrad.optimizers import SGD, Adam, ClipGradNorm  # noqa: E402
from models import book_layers as twins  # noqa: E402
from models.binary_addition import BinaryAdderBPTT  # noqa: E402
from models.rnnlm import BetterRnnlm, Rnnlm, TwinLM  # noqa: E402
from models.seq2seq import TwinSeq2seq  # noqa: E402
from models.word2vec import CBOW, TwinCBOW  # noqa: E402

torch = None   # set by main() when torch imports
T_ = None      # benchmarks/_torch_models, loaded with torch

f32 = np.float32
LOSS_RTOL = 1e-4   # float32 losses of a few hundred thousand terms agree to ~1e-6


# ================================================================ book-style updates
# The twins hold parameters and gradients as parallel lists of arrays (the book's
# params / grads) and have no optimizers: these are the book's (common/optimizer.py,
# common/util.py clip_grads), updating the arrays in place.
class BookSGD:
    def __init__(self, lr):
        self.lr = lr

    def update(self, params, grads):
        for p, g in zip(params, grads):
            p -= self.lr * g


class BookAdam:
    def __init__(self, lr=0.001, beta1=0.9, beta2=0.999):
        self.lr, self.beta1, self.beta2 = lr, beta1, beta2
        self.iter, self.m, self.v = 0, None, None

    def update(self, params, grads):
        if self.m is None:
            self.m = [np.zeros_like(p) for p in params]
            self.v = [np.zeros_like(p) for p in params]
        self.iter += 1
        lr_t = self.lr * math.sqrt(1.0 - self.beta2 ** self.iter) / (1.0 - self.beta1 ** self.iter)
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m += (1 - self.beta1) * (g - m)
            v += (1 - self.beta2) * (g ** 2 - v)
            p -= lr_t * m / (np.sqrt(v) + 1e-7)


def clip_grads(grads, max_norm):
    total = math.sqrt(sum(float(np.sum(g ** 2)) for g in grads))
    rate = max_norm / (total + 1e-6)
    if rate < 1:
        for g in grads:
            g *= rate


def book_step(forward, backward, params, grads, optimizer, max_grad=None):
    """One training step of a book-style model: forward, backward, clip, update."""
    def step():
        forward()
        backward()
        if max_grad is not None:
            clip_grads(grads, max_grad)
        optimizer.update(params, grads)
    return step


def train_step(model, optimizer, loss_of):
    """One training step on minigrad's public API, as TrainingLoop runs it:
    ``step(*arrays)`` returns the loss Variable of ``loss_of(*arrays)``."""
    def step(*arrays):
        loss = loss_of(*arrays)
        model.zero_grad()
        loss.backward()
        optimizer.update()
        return loss
    return step


def minigrad_step(model, optimizer, loss_fn):
    """The eager step of ``loss_fn()`` (no arguments). The loss is a local:
    its graph is freed when the step returns."""
    step = train_step(model, optimizer, loss_fn)

    def run():
        step()
    return run


def compiled_step(make, batches, checks, what):
    """The compiled twin of a minigrad contender: ``make()`` -> (model, step),
    ``step(*arrays)`` one training step returning its loss (train_step), each
    call a fresh model from the same weights. One model steps eagerly and
    another through ``mg.compile`` side by side on ``batches`` (cycled), with
    the same dropout draws, until the compiled one has recorded, lowered its
    tape and replayed it: their losses must be equal bit for bit at every
    step. Returns the compiled step, or None when compiling fails: the error
    is then noted in ``checks.failed`` and the suite goes on without it."""
    from minigrad.viz.compiled_schedule import lowered_tape

    _, eager = make()
    model, step = make()
    fast = mg.compile(step, model)
    worst, i = 0.0, 0
    try:
        while fast.replays < 2:
            if i == 8:
                raise AssertionError(f"the compiled step did not replay in {i} calls")
            batch = batches[i % len(batches)]
            mg.random.seed(i)
            want = np.array(eager(*batch).data)
            mg.random.seed(i)
            got = fast(*batch).data
            worst = max(worst, float(np.max(np.abs(got - want))))
            i += 1
        lowered_tape(fast)   # says why, if the tape was not lowered to kernels
    except Exception as e:   # noqa: BLE001 -- reported in the results, not hidden
        checks.failed.append(f"{what}: compiling failed at call {i + 1}: "
                             f"{type(e).__name__}: {e}")
        print(f"warning: {checks.failed[-1]}", file=sys.stderr)
        return None
    checks.same(f"{what}: compiled loss vs eager, {i} steps side by side", worst)
    return fast


# ================================================================ contenders and targets
class Target:
    """A workload's goal for one contender: ``row[key] <= limit``."""

    def __init__(self, text, key, limit):
        self.text, self.key, self.limit = text, key, limit

    def met(self, row):
        value = row.get(self.key)
        return None if value is None else bool(value <= self.limit)


class AllOf:
    """Several goals for one contender: met when every one is."""

    def __init__(self, *targets):
        self.targets = targets
        self.text = "; ".join(t.text for t in targets)

    def met(self, row):
        found = [t.met(row) for t in self.targets]
        return None if None in found else all(found)


# The compiled step's goals against the eager step it compiles. Where the
# engine's own work (building the graph, the backward schedule) is at least a
# fifth of the eager step, by the suite's record (benchmarks/results/suite.md:
# minigrad at 1.25x its twin or more), compiling must make the step 1.5x
# faster; elsewhere it must not make it slower.
NOT_SLOWER = Target("<= 1.0x eager", "vs_eager", 1.0)
OVERHEAD_BOUND = Target("<= 0.67x eager (1.5x faster)", "vs_eager", 1 / 1.5)


class Contender:
    """One contender of a workload: its step (a function of no arguments, or a
    dict of stages) and the contenders its ratios are taken against."""

    def __init__(self, name, step, torch=None, twin=None, bound=None, target=None, eager=None):
        self.name, self.step, self.target = name, step, target
        self.refs = {"vs_torch": torch, "vs_twin": twin, "vs_bound": bound, "vs_eager": eager}


def compiled_contender(eager, fast, run, target=NOT_SLOWER):
    """The contender ``minigrad compiled`` (or ``<name> compiled``) beside
    the eager contender ``eager``, compared with the same references;
    ``run(fast)`` is one timed sample of the compiled step ``fast`` (None
    when it could not be compiled: the contender is left out)."""
    name = "minigrad compiled" if eager.name == "minigrad" else f"{eager.name} compiled"
    refs = {k[3:]: v for k, v in eager.refs.items() if k != "vs_eager"}
    contender = Contender(name, None if fast is None else run(fast), eager=eager.name,
                          target=target, **refs)
    contender.compiled = fast     # for --profile's time per kernel
    return contender


def kernel_times(fast, sample, runs, top):
    """Where a compiled step's time goes: each kernel of its lowered tape
    timed on its own over ``runs`` replays (after ``sample()``, one timed
    sample, for scale), summed by the operation it came from and by numpy
    call. Host calls (the optimizer's update, the clipping) count as theirs."""
    import time
    from collections import Counter

    from minigrad.viz.compiled_schedule import schedule, lowered_tape

    kernels = lowered_tape(fast).kernels
    steps = schedule(fast).steps
    sample()
    whole = H.median([H.time_once(sample)[0] for _ in range(runs)])
    by_op, by_call, clock = Counter(), Counter(), time.perf_counter
    for _ in range(runs):
        for k, s in zip(kernels, steps):
            t0 = clock()
            k.run()
            t = clock() - t0
            where = s.name if s.where == "host call" else s.where
            by_op[where] += t
            by_call[s.name if s.where == "host call" else f"{s.name} ({s.where.split('.')[-1]})"] += t
    total = sum(by_op.values())
    lines = [f"one sample {whole * 1e3:.2f} ms; its kernels timed one by one: "
             f"{total / runs * 1e3:.2f} ms per step, {len(kernels)} kernels"]
    for title, counts in (("by operation", by_op), ("by numpy call", by_call)):
        lines.append(f"{'ms':>8} {'share':>6}  {title}")
        for key, t in counts.most_common(top):
            lines.append(f"{t / runs * 1e3:8.2f} {t / total:6.1%}  {key}")
    return "\n".join(lines)


def ratio_clock(times):
    """Per-round ratios by CPU time at one thread (other jobs' load disturbs it
    least); by wall time with more threads, where CPU time adds up all threads."""
    return times.cpu if THREADS == 1 else times.wall


def time_contenders(contenders, rounds, warmup):
    """Round-robin the contenders; one table row per contender."""
    contenders = [c for c in contenders if c.step is not None]
    times = H.round_robin({c.name: c.step for c in contenders}, rounds=rounds, warmup=warmup)
    clock = ratio_clock(times)
    rows = []
    for c in contenders:
        s = H.summarize(times.wall[c.name])
        row = {"contender": c.name, "median_ms": s["median"] * 1e3, "p25_ms": s["p25"] * 1e3,
               "p75_ms": s["p75"] * 1e3, "min_ms": s["min"] * 1e3, "rounds": s["n"],
               "cpu_median_ms": H.median(times.cpu[c.name]) * 1e3}
        for key, other in c.refs.items():
            row[key] = (H.paired_ratio(clock, c.name, other)
                        if other is not None and other in times.wall else None)
        if c.target is not None:
            row["target"], row["met"] = c.target.text, c.target.met(row)
        rows.append(row)
    return rows, times


# ================================================================ checks
class Checks:
    """Losses of the contenders compared before timing; a mismatch stops the suite."""

    def __init__(self):
        self.done = []
        self.failed = []    # compiled contenders that could not be built, and why

    def close(self, what, value, reference, rtol=LOSS_RTOL):
        value, reference = float(value), float(reference)
        err = abs(value - reference) / max(abs(reference), 1e-30)
        self.done.append({"what": what, "value": value, "reference": reference,
                          "rel_err": err})
        if not err <= rtol:
            raise AssertionError(f"check failed: {what}: {value!r} vs {reference!r} "
                                 f"(relative error {err:.2e} > {rtol:g})")

    def same(self, what, largest_difference):
        """Two runs that must agree bit for bit: their largest difference is 0."""
        self.done.append({"what": what, "value": largest_difference, "reference": 0.0,
                          "rel_err": largest_difference})
        if largest_difference != 0:
            raise AssertionError(f"check failed: {what}: they differ by up to "
                                 f"{largest_difference!r}")


def torch_missing_note():
    return [] if torch is not None else ["torch not available (not installed, or --no-torch): "
                                         "its contenders are skipped."]


# ================================================================ 1. per-op overhead
HAND_WRITTEN_US = 1.08   # the hand-written chain on a quiet machine
def run_chain(quick):
    """engine_overhead's 1000-op chain and its contenders, run by its own code."""
    engine_overhead.torch = torch
    chain = engine_overhead.bench_chain(rounds=40 if quick else 300, compiled=True)
    # The 4 us/op goal was set on a quiet machine where the hand-written
    # chain took 1.08 us/op; other jobs' load inflates absolute times here by up
    # to 3x, so the target is judged as that ratio to the twin of the same run.
    target = Target(f"<= 4 us/op (~{4 / HAND_WRITTEN_US:.1f}x twin)", "vs_twin",
                    4 / HAND_WRITTEN_US)
    rows = []
    for name, s in chain.items():
        variant = name.partition("/")[2]
        row = {"contender": name, "median_ms": s["median"], "p25_ms": s["p25"],
               "p75_ms": s["p75"], "min_ms": s["min"], "rounds": s["n"],
               "cpu_median_ms": s["cpu_median"], "vs_bound": None,
               "vs_torch": s["vs_torch"] if variant and not name.startswith("torch") else None,
               "vs_twin": (s["vs_hand_written"] if variant and not name.startswith("hand")
                           else None),
               "vs_eager": s.get("vs_eager")}
        goal = OVERHEAD_BOUND if name.startswith("minigrad compiled") else target
        if name.startswith("minigrad"):
            row["target"], row["met"] = goal.text, goal.met(row)
        rows.append(row)
    notes = [f"Chain of {engine_overhead.CHAIN_LEN} ops on {engine_overhead.CHAIN_SHAPE} float32 "
             f"({engine_overhead.MIX_TEXT}), forward + backward, from engine_overhead.py: "
             "ms per chain = us per op. `const`: only dL/dx; `param`: every constant is a "
             "leaf needing a gradient. The twin is the hand-written numpy forward+backward. "
             f"The target is judged as a ratio to the twin ({HAND_WRITTEN_US} us/op in the "
             "figures of a quiet machine), which other jobs' load does not move. `minigrad "
             "compiled`: the same chains as training steps of a model (a fresh leaf x each "
             "step; `param`: the constants are its parameters) through `mg.compile`, past their "
             "recordings and lowering, checked against the hand-written gradients after a "
             "replay; `vs eager` is against `minigrad/const` or `minigrad/param`."]
    return {"rows": rows, "notes": notes + torch_missing_note()}


# ================================================================ 2. MLP
MLP_SIZES = (784, 1000, 10)
MLP_BATCH = 100
MLP_LR = 0.1


class MinigradMLP(L.Layer):
    def __init__(self, w):
        super().__init__()
        self.fc1 = L.Linear(*w["fc1.W"].shape, W=w["fc1.W"], b=w["fc1.b"])
        self.fc2 = L.Linear(*w["fc2.W"].shape, W=w["fc2.W"], b=w["fc2.b"])

    def loss(self, x, t):
        return F.softmax_cross_entropy(self.fc2(F.sigmoid(self.fc1(x))), t)


class BookMLP:
    """The book's two-layer net (ch. 5) from the twins' layers."""

    def __init__(self, w):
        self.layers = [twins.Affine(w["fc1.W"].copy(), w["fc1.b"].copy()), twins.Sigmoid(),
                       twins.Affine(w["fc2.W"].copy(), w["fc2.b"].copy())]
        self.loss_layer = twins.SoftmaxWithLoss()
        self.params = [p for layer in self.layers for p in layer.params]
        self.grads = [g for layer in self.layers for g in layer.grads]

    def forward(self, x, t):
        for layer in self.layers:
            x = layer.forward(x)
        return self.loss_layer.forward(x, t)

    def backward(self):
        d = self.loss_layer.backward(1.0)
        for layer in reversed(self.layers):
            d = layer.backward(d)


def build_mlp(quick):
    rng = np.random.default_rng(3)
    n_in, n_hidden, n_out = MLP_SIZES
    w = {"fc1.W": (rng.standard_normal((n_in, n_hidden)) / np.sqrt(n_in)).astype(f32),
         "fc1.b": np.zeros(n_hidden, f32),
         "fc2.W": (rng.standard_normal((n_hidden, n_out)) / np.sqrt(n_hidden)).astype(f32),
         "fc2.b": np.zeros(n_out, f32)}
    x = rng.standard_normal((MLP_BATCH, n_in)).astype(f32)
    t = rng.integers(0, n_out, MLP_BATCH)
    checks = Checks()

    model = MinigradMLP(w)
    book = BookMLP(w)
    checks.close("MLP: minigrad loss vs twin", model.loss(x, t).data, book.forward(x, t))
    eager = Contender("minigrad", minigrad_step(model, SGD(model, lr=MLP_LR),
                                                lambda: model.loss(x, t)),
                      torch="torch", twin="twin", target=Target("<= 1.0x torch", "vs_torch", 1.0))

    def make():
        m = MinigradMLP(w)
        return m, train_step(m, SGD(m, lr=MLP_LR), m.loss)
    fast = compiled_step(make, [(x, t)], checks, "MLP")
    contenders = [
        eager, compiled_contender(eager, fast, lambda f: lambda: f(x, t)),
        Contender("twin", book_step(lambda: book.forward(x, t), book.backward, book.params,
                                    book.grads, BookSGD(MLP_LR)), torch="torch"),
    ]
    if torch is not None:
        net = T_.MLP(w)
        xt, tt = T_.tensor(x), T_.ids(t)
        loss_fn = lambda: net(xt, tt)  # noqa: E731
        checks.close("MLP: torch loss vs twin", T_.loss_value(net, loss_fn), book.forward(x, t))
        opt = torch.optim.SGD(net.parameters(), lr=MLP_LR)
        contenders.append(Contender("torch", T_.train_step(net, [opt], loss_fn)))
    notes = [f"MLP {'-'.join(map(str, MLP_SIZES))} (sigmoid), batch {MLP_BATCH}, softmax "
             f"cross-entropy, one SGD step (lr {MLP_LR}). minigrad: layers.Linear + F.sigmoid + "
             "F.softmax_cross_entropy; twin: Affine/Sigmoid/Affine/SoftmaxWithLoss."]
    return {"contenders": contenders, "checks": checks, "notes": notes,
            "rounds": 10 if quick else 60, "warmup": 3}


# ================================================================ 3. CBOW
CBOW_V, CBOW_H, CBOW_WINDOW, CBOW_BATCH, CBOW_K = 10_000, 100, 5, 100, 5
CBOW_LR = 0.001


class BookCBOW:
    """The book's CBOW (ch. 4, negative sampling) kept across steps as its
    trainer keeps it: one Embedding per context position, all sharing W_in, and
    one NegativeSamplingLoss whose EmbeddingDots share W_out. The gradients of
    the shared matrices are summed, as the book's remove_duplicate does.
    (models.word2vec.TwinCBOW builds the same layers anew, from copies, on every
    call: right for a check, not for timing a training step.)"""

    def __init__(self, W_in, W_out, contexts, target, negatives):
        self.ins = [twins.Embedding(W_in) for _ in range(contexts.shape[1])]
        self.ns = twins.NegativeSamplingLoss(W_out, negatives.shape[1])
        self.params = [W_in, W_out]
        self.grads = [np.zeros_like(W_in), self.ns.grads[0]]
        self.batch = (contexts, target, negatives)

    def forward(self):
        contexts, target, negatives = self.batch
        h = sum(layer.forward(contexts[:, i]) for i, layer in enumerate(self.ins))
        return self.ns.forward(h / len(self.ins), target, negatives)

    def backward(self):
        dh = self.ns.backward(1.0) / len(self.ins)
        dW_in = self.grads[0]
        dW_in[...] = 0
        for layer in self.ins:
            layer.backward(dh)
            dW_in += layer.grads[0]


def build_cbow(quick):
    rng = np.random.default_rng(4)
    V, Hd, C, N, k = CBOW_V, CBOW_H, 2 * CBOW_WINDOW, CBOW_BATCH, CBOW_K
    w = {"W_in": (0.01 * rng.standard_normal((V, Hd))).astype(f32),
         "W_out": (0.01 * rng.standard_normal((V, Hd))).astype(f32)}
    contexts, target = rng.integers(0, V, (N, C)), rng.integers(0, V, N)
    negatives = rng.integers(0, V, (N, k))
    checks = Checks()
    reference = TwinCBOW(w).forward((contexts, target, negatives))

    contenders = []
    # (name, row gradients?, lazy Adam?, the torch contender it is compared with)
    for name, rows, lazy, versus in (("minigrad", True, False, "torch dense"),
                                     ("minigrad dense grads", False, False, "torch dense"),
                                     ("minigrad --sparse", True, True, "torch sparse")):
        def make(rows=rows, lazy=lazy):
            model = CBOW.from_weights(w, CBOW_WINDOW, sample_size=k, sparse=rows)
            return model, train_step(model, Adam(model, lr=CBOW_LR, lazy=lazy), model.loss)
        model, step = make()
        checks.close(f"CBOW: {name} loss vs TwinCBOW",
                     model.loss(contexts, target, negatives).data, reference)
        eager = Contender(name, lambda step=step: step(contexts, target, negatives),
                          torch=versus, twin="twin",
                          target=Target(f"<= 1.0x {versus}", "vs_torch", 1.0))
        fast = compiled_step(make, [(contexts, target, negatives)], checks, f"CBOW {name}")
        contenders += [eager, compiled_contender(
            eager, fast, lambda f: lambda: f(contexts, target, negatives))]
    book = BookCBOW(w["W_in"].copy(), w["W_out"].copy(), contexts, target, negatives)
    checks.close("CBOW: book-style CBOW loss vs TwinCBOW", book.forward(), reference)
    contenders.append(Contender("twin", book_step(book.forward, book.backward, book.params,
                                                  book.grads, BookAdam(CBOW_LR)),
                                torch="torch dense"))
    if torch is not None:
        batch = (T_.ids(contexts), T_.ids(target), T_.ids(negatives))
        for kind in ("dense", "sparse"):
            net = T_.CBOW(w["W_in"], w["W_out"], sparse=kind == "sparse")
            loss_fn = (lambda n: lambda: n(*batch))(net)
            checks.close(f"CBOW: torch {kind} loss vs TwinCBOW", T_.loss_value(net, loss_fn),
                         reference)
            opt_class = torch.optim.SparseAdam if kind == "sparse" else torch.optim.Adam
            opt = opt_class(list(net.parameters()), lr=CBOW_LR)
            contenders.append(Contender(f"torch {kind}", T_.train_step(net, [opt], loss_fn)))
    notes = [f"CBOW with negative sampling: V {V:,}, H {Hd}, window {CBOW_WINDOW} ({C} context "
             f"words), batch {N}, {k} negatives, one Adam step (lr {CBOW_LR}). The negatives "
             "are drawn once and passed in (the sampler is benchmarked in "
             "negative_sampler.py), so every contender computes the same loss.",
             "minigrad: `python -m models train cbow`'s step: row gradients (`CBOW(sparse="
             "True)`) and the book's Adam on every row (`Adam(lazy=False)`), the book's "
             "numbers without a dense gradient. minigrad dense grads: `CBOW(sparse=False)`, "
             "(V, H) gradient tables, the same Adam. minigrad --sparse: row gradients and "
             "`Adam(lazy=True)`, only the looked-up rows move (another algorithm). torch "
             "dense: `nn.Embedding` + Adam; torch sparse: both embeddings `sparse=True` with "
             "SparseAdam. twin: the book's layers kept across steps (see BookCBOW), dense "
             "gradients, the book's Adam."]
    return {"contenders": contenders, "checks": checks, "notes": notes + torch_missing_note(),
            "rounds": 10 if quick else 60, "warmup": 3}


# ================================================================ 4. language models
class GruRnnlm(Rnnlm):
    """Rnnlm with a GRU: models.rnnlm picks the recurrent layer by these class
    attributes, and BetterRnnlm is the only GRU model it ships."""

    rnn_class = L.GRU
    rnn_name = "gru"


LM_SPECS = {
    "rnnlm-lstm": {"title": "Rnnlm LSTM (H 100)", "cell": "lstm", "better": False, "H": 100},
    "rnnlm-gru": {"title": "Rnnlm GRU (H 100)", "cell": "gru", "better": False, "H": 100},
    "better-lstm": {"title": "BetterRnnlm LSTM (H 650)", "cell": "lstm", "better": True, "H": 650},
    "better-gru": {"title": "BetterRnnlm GRU (H 650)", "cell": "gru", "better": True, "H": 650},
}
LM_V, LM_N, LM_T = 10_000, 20, 35
LM_LR, LM_MAX_GRAD, LM_DROPOUT = 20.0, 0.25, 0.5   # the book's settings


def lm_spec(name):
    return dict(LM_SPECS[name], name=name, V=LM_V, N=LM_N, T=LM_T,
                layers=2 if LM_SPECS[name]["better"] else 1)


def minigrad_lm(spec, w=None):
    """The minigrad model of ``spec``, from ``w`` or from its own seeded draw."""
    V, Hd = spec["V"], spec["H"]
    if spec["better"]:
        model = BetterRnnlm(V, Hd, Hd, dropout_ratio=LM_DROPOUT, cell=spec["cell"], rng=0)
    else:
        model = (Rnnlm if spec["cell"] == "lstm" else GruRnnlm)(V, Hd, Hd, rng=0)
    return model if w is None else model.load_arrays(w)


def lm_data(spec):
    """Weights (float32, the model's own initialisation) and one batch of ids."""
    rng = np.random.default_rng(5)
    xs = rng.integers(0, spec["V"], (spec["N"], spec["T"]))
    ts = rng.integers(0, spec["V"], (spec["N"], spec["T"]))
    return minigrad_lm(spec).to_weights(), xs, ts


def keep_shapes(spec):
    return [(spec["N"], spec["T"], spec["H"])] * 3   # D == H in BetterRnnlm


def twin_lm(spec, w):
    kind = ("better-" if spec["better"] else "") + spec["cell"]
    if kind != "gru":
        return TwinLM(w, kind, LM_DROPOUT)
    # TwinLM has no one-layer GRU kind: its "rnn" kind with the twins' TimeGRU in place.
    twin = TwinLM({k.replace("gru.", "rnn."): a for k, a in w.items()}, "rnn")
    twin.rnns = [twins.TimeGRU(*twin.rnns[0].params, stateful=True)]
    twin.names = ["gru"]
    return twin


def twin_lm_params(twin):
    """The book's params / grads lists of a TwinLM, each weight once, and a
    function that adds the tied output weight's gradient into the embedding's
    (the book's remove_duplicate, run after every backward)."""
    params, grads = list(twin.embed.params), list(twin.embed.grads)
    for rnn in twin.rnns:
        params += rnn.params
        grads += rnn.grads
    tied = bool(twin.drops)
    params += twin.affine.params[1:] if tied else twin.affine.params
    grads += twin.affine.grads[1:] if tied else twin.affine.grads

    def gather():
        if tied:
            grads[0] += twin.affine.grads[0].T
    return params, grads, gather


# Builders of one contender's training step, shared by the timing and the
# memory children: (spec, weights, xs, ts) -> (step, model).
def minigrad_lm_step(spec, w):
    """(model, step(xs, ts)): the book's step, clipped SGD."""
    model = minigrad_lm(spec, w)
    opt = SGD(model, lr=LM_LR)
    opt.add_hook(ClipGradNorm(LM_MAX_GRAD))
    return model, train_step(model, opt, model.loss)


def build_minigrad_lm(spec, w, xs, ts):
    model, step = minigrad_lm_step(spec, w)
    return (lambda: step(xs, ts)), model


def build_compiled_lm(spec, w, xs, ts):
    """The same step through mg.compile (unchecked: the memory child's; the
    timed one is built by compiled_step, which checks it)."""
    model, step = minigrad_lm_step(spec, w)
    fast = mg.compile(step, model)
    return (lambda: fast(xs, ts)), model


def build_twin_lm(spec, w, xs, ts):
    twin = twin_lm(spec, w)
    params, grads, gather = twin_lm_params(twin)
    rng = np.random.default_rng(6)
    shapes = keep_shapes(spec)

    def forward():
        # New dropout masks every step, drawn as the book's TimeDropout draws them.
        keeps = [rng.random(s) >= LM_DROPOUT for s in shapes] if twin.drops else None
        return twin.forward((xs, ts, keeps))

    def backward():
        twin.backward()
        gather()
    return book_step(forward, backward, params, grads, BookSGD(LM_LR), LM_MAX_GRAD), twin


def build_torch_lm(spec, w, xs, ts):
    net = T_.LanguageModel(w, spec["cell"], spec["better"], LM_DROPOUT)
    xt, tt = T_.ids(xs), T_.ids(ts)
    opt = torch.optim.SGD(net.parameters(), lr=LM_LR)
    return T_.train_step(net, [opt], lambda: net(xt, tt), LM_MAX_GRAD), net


LM_BUILDERS = {"minigrad": build_minigrad_lm, "twin": build_twin_lm, "torch": build_torch_lm,
               "minigrad compiled": build_compiled_lm}


def matmul_plan(spec):
    """Every matrix product of one training step, as (m, k, n, count): an
    (m, k) @ (k, n) product ``count`` times, each in its cheapest legitimate
    form. Batched over all N*T rows: the input projection x Wx and its two
    backward products, the output layer and its two, and the recurrent weight's
    gradient (sum over t of h_{t-1}^T dA_t is one product once the backward
    loop has run). One per time step, because step t needs step t-1: h @ Wh
    and dA @ Wh^T. The GRU's recurrent part is two products per step, h @
    Wh[:, :2H] and (r * h) @ Wh[:, 2H:], as in the book' GRU."""
    N, T, V, Hd = spec["N"], spec["T"], spec["V"], spec["H"]
    NT, G = N * T, (4 if spec["cell"] == "lstm" else 3) * Hd
    recurrent = [(Hd, G)] if spec["cell"] == "lstm" else [(Hd, 2 * Hd), (Hd, Hd)]
    plan = []
    for _ in range(spec["layers"]):
        D = Hd   # D == H in all four models
        plan += [(NT, D, G, 1), (D, NT, G, 1), (NT, G, D, 1)]     # x Wx, dWx, dx
        for h_in, h_out in recurrent:
            plan += [(N, h_in, h_out, T), (N, h_out, h_in, T),     # h Wh, dh (per step)
                     (h_in, NT, h_out, 1)]                          # dWh (all steps at once)
    plan += [(NT, Hd, V, 1), (Hd, NT, V, 1), (NT, V, Hd, 1)]       # scores, dW, dh
    return plan


def build_matmul_bound(spec):
    """The plan's products alone, in numpy, into preallocated outputs: what one
    step costs if nothing but its matmuls ran."""
    rng = np.random.default_rng(7)
    ops = [(rng.standard_normal((m, k)).astype(f32), rng.standard_normal((k, n)).astype(f32),
            np.empty((m, n), f32), count) for m, k, n, count in matmul_plan(spec)]

    def step():
        for a, b, out, count in ops:
            for _ in range(count):
                np.matmul(a, b, out=out)
    return step


def check_lm(spec, checks, model, twin, net, xs, ts):
    """minigrad's loss against the twin's, dropout masks fixed, and against
    torch's in eval mode (no dropout) where the math is the same (not GRU).
    Both start from zero state and are reset afterwards."""
    title = spec["title"]
    if spec["better"]:
        keeps = [np.random.default_rng(8).random(s) >= LM_DROPOUT for s in keep_shapes(spec)]
        masks = [k / (1 - LM_DROPOUT) for k in keeps]
        checks.close(f"{title}: minigrad loss vs twin, same dropout masks",
                     model.loss(xs, ts, masks=masks).data, twin.forward((xs, ts, keeps)))
    else:
        checks.close(f"{title}: minigrad loss vs twin", model.loss(xs, ts).data,
                     twin.forward((xs, ts)))
    model.reset_state()
    for rnn in twin.rnns:
        rnn.reset_state()
    if net is not None and spec["cell"] == "lstm":
        model.eval()
        with mg.no_grad():
            mine = float(model.loss(xs, ts).data)
        model.train()
        model.reset_state()
        xt, tt = T_.ids(xs), T_.ids(ts)
        checks.close(f"{title}: torch loss vs minigrad, dropout off",
                     T_.loss_value(net, lambda: net(xt, tt)), mine)
        net.reset_state()


def build_lm(name, quick):
    spec = lm_spec(name)
    w, xs, ts = lm_data(spec)
    steps = {}
    models = {}
    for contender in ("minigrad", "twin", "torch"):
        if contender == "torch" and torch is None:
            continue
        steps[contender], models[contender] = LM_BUILDERS[contender](spec, w, xs, ts)
    checks = Checks()
    check_lm(spec, checks, models["minigrad"], models["twin"], models.get("torch"), xs, ts)
    fast = compiled_step(lambda: minigrad_lm_step(spec, w), [(xs, ts)], checks, spec["title"])
    steps["matmul bound"] = build_matmul_bound(spec)
    target = (Target("<= 1.1x matmul bound", "vs_bound", 1.1) if spec["better"]
              else Target("<= 0.9x torch", "vs_torch", 0.9))
    refs = {"torch": "torch", "bound": "matmul bound"}
    eager = Contender("minigrad", steps["minigrad"], twin="twin", target=target, **refs)
    contenders = [eager, compiled_contender(eager, fast, lambda f: lambda: f(xs, ts)),
                  Contender("twin", steps["twin"], **refs),
                  Contender("torch", steps.get("torch"), bound="matmul bound"),
                  Contender("matmul bound", steps["matmul bound"])]
    plan = matmul_plan(spec)
    flops = sum(2 * m * k * n * count for m, k, n, count in plan)
    layout = (f"V {spec['V']:,}, D = H = {spec['H']}, batch {spec['N']}, T {spec['T']}"
              + (f", 2 layers, dropout {LM_DROPOUT}, output tied to the embedding"
                 if spec["better"] else ""))
    notes = [f"{spec['title']}: {layout}; one step = forward, backward, clip to global norm "
             f"{LM_MAX_GRAD}, SGD (lr {LM_LR}), state carried between steps (truncated BPTT). "
             f"Matmul bound: {len(plan)} distinct products, {flops / 1e9:.2f} GFLOP per step."]
    if spec["cell"] == "gru":
        notes.append("torch's nn.GRU applies the reset gate after the recurrent matmul, the "
                     "book's GRU before it: the same matmul shapes, slightly different math, "
                     "so torch's GRU loss is not checked.")
    if spec["better"]:
        notes.append("torch runs its two layers as one nn.LSTM/nn.GRU(num_layers=2, "
                     "dropout=0.5).")
    return {"contenders": contenders, "checks": checks, "notes": notes + torch_missing_note(),
            "rounds": (3 if spec["better"] else 6) if quick else (25 if spec["better"] else 60),
            "warmup": 1 if spec["better"] else 2, "flops_per_step": flops,
            "matmul_plan": plan}


# ================================================================ 4b. encoder-decoder models
# The book's chapters 7 and 8 at its own sizes, one Adam step (lr 1e-3) with
# global-norm clipping 5 on a batch of 128 questions of the data set's shape.
SEQ2SEQ_SPECS = {
    "seq2seq-addition": {"title": "Seq2seq on addition (H 128)", "kind": "seq2seq", "V": 13,
                         "D": 16, "H": 128, "Te": 7, "Ta": 5, "target": 0.7},
    "attention-date": {"title": "AttentionSeq2seq on date (H 256)", "kind": "attention",
                       "V": 59, "D": 16, "H": 256, "Te": 29, "Ta": 11, "target": 0.3},
}
SEQ2SEQ_N, SEQ2SEQ_LR, SEQ2SEQ_MAX_GRAD = 128, 1e-3, 5.0
SEQ2SEQ_COMPILED_BOUND = 1.2   # the compiled step's goal, as a multiple of the matmul bound


def seq2seq_data(spec):
    """The model's own float32 initialisation and one batch of random ids of
    the data set's shapes (the answers start with the same start symbol)."""
    from models.seq2seq import AttentionSeq2seq, Seq2seq

    cls = AttentionSeq2seq if spec["kind"] == "attention" else Seq2seq
    w = cls(spec["V"], spec["D"], spec["H"], rng=0).to_weights()
    rng = np.random.default_rng(10)
    xs = rng.integers(0, spec["V"], (SEQ2SEQ_N, spec["Te"]))
    ts = rng.integers(0, spec["V"], (SEQ2SEQ_N, spec["Ta"]))
    ts[:, 0] = 0
    return w, xs, ts


def seq2seq_matmul_plan(spec):
    """Every matrix product of one training step, as (a shape, b shape, count):
    the embeddings' projections over all rows at once and their two backward
    products, one h @ Wh and one dh @ Wh^T per step that has a previous state
    (the encoder's first step starts from zeros), dWh as one product over all
    steps, the output layer, and (attention) the four batched products over
    all decoder steps."""
    N, D, H, V, Te, Td = (SEQ2SEQ_N, spec["D"], spec["H"], spec["V"], spec["Te"],
                          spec["Ta"] - 1)
    G = 4 * H
    plan = []
    for T, recurrent_steps in ((Te, Te - 1), (Td, Td)):     # encoder, decoder
        plan += [((N * T, D), (D, G), 1), ((D, N * T), (N * T, G), 1),
                 ((N * T, G), (G, D), 1)]
        plan += [((N, H), (H, G), recurrent_steps), ((N, G), (G, H), recurrent_steps),
                 ((H, N * recurrent_steps), (N * recurrent_steps, G), 1)]
    out_in = 2 * H if spec["kind"] == "attention" else H
    plan += [((N * Td, out_in), (out_in, V), 1), ((out_in, N * Td), (N * Td, V), 1),
             ((N * Td, V), (V, out_in), 1)]
    if spec["kind"] == "attention":
        plan += [((N, Td, H), (N, H, Te), 1), ((N, Td, Te), (N, Te, H), 1),   # scores, context
                 ((N, Td, Te), (N, Te, H), 1), ((N, Td, H), (N, H, Te), 1),   # their four
                 # gradients: the same FLOPs in each, whichever operand is transposed
                 ((N, Te, Td), (N, Td, H), 2)]
    return plan


def build_seq2seq_matmul_bound(spec):
    rng = np.random.default_rng(11)
    ops = []
    for a_shape, b_shape, count in seq2seq_matmul_plan(spec):
        a, b = (rng.standard_normal(s).astype(f32) for s in (a_shape, b_shape))
        ops.append((a, b, np.empty(np.matmul(a, b).shape, f32), count))

    def step():
        for a, b, out, count in ops:
            for _ in range(count):
                np.matmul(a, b, out=out)
    return step


def build_seq2seq(name, quick):
    from models.seq2seq import AttentionSeq2seq, Seq2seq

    spec = SEQ2SEQ_SPECS[name]
    w, xs, ts = seq2seq_data(spec)
    cls = AttentionSeq2seq if spec["kind"] == "attention" else Seq2seq

    def make():
        model = cls.from_weights(w)
        opt = Adam(model, lr=SEQ2SEQ_LR)
        opt.add_hook(ClipGradNorm(SEQ2SEQ_MAX_GRAD))
        return model, train_step(model, opt, model.loss)
    model, step = make()
    twin = TwinSeq2seq(w, spec["kind"])
    checks = Checks()
    checks.close(f"{spec['title']}: minigrad loss vs twin", model.loss(xs, ts).data,
                 twin.forward((xs, ts)))
    fast = compiled_step(make, [(xs, ts)], checks, spec["title"])
    steps = {"minigrad": lambda: step(xs, ts),
             "twin": book_step(lambda: twin.forward((xs, ts)), twin.backward, twin.params,
                               twin.param_grads, BookAdam(SEQ2SEQ_LR), SEQ2SEQ_MAX_GRAD),
             "matmul bound": build_seq2seq_matmul_bound(spec)}
    if torch is not None:
        net = T_.Seq2seq(w, attention=spec["kind"] == "attention")
        xt, tt = T_.ids(xs), T_.ids(ts)
        checks.close(f"{spec['title']}: torch loss vs twin",
                     T_.loss_value(net, lambda: net(xt, tt)), twin.forward((xs, ts)))
        opt_t = torch.optim.Adam(net.parameters(), lr=SEQ2SEQ_LR)
        steps["torch"] = T_.train_step(net, [opt_t], lambda: net(xt, tt), SEQ2SEQ_MAX_GRAD)
    refs = {"torch": "torch", "bound": "matmul bound"}
    eager = Contender("minigrad", steps["minigrad"], twin="twin",
                      target=Target(f"<= {spec['target']}x twin", "vs_twin", spec["target"]),
                      **refs)
    bound = Target(f"<= {SEQ2SEQ_COMPILED_BOUND}x matmul bound", "vs_bound",
                   SEQ2SEQ_COMPILED_BOUND)
    contenders = [eager,
                  compiled_contender(eager, fast, lambda f: lambda: f(xs, ts),
                                     AllOf(NOT_SLOWER, bound)),
                  Contender("twin", steps["twin"], **refs),
                  Contender("torch", steps.get("torch"), bound="matmul bound"),
                  Contender("matmul bound", steps["matmul bound"])]
    plan = seq2seq_matmul_plan(spec)
    flops = sum(2 * np.prod(a) * b[-1] * count for a, b, count in plan)
    notes = [f"{spec['title']}: V {spec['V']}, D {spec['D']}, H {spec['H']}, batch {SEQ2SEQ_N}, "
             f"questions {spec['Te']} wide, answers {spec['Ta']} (the decoder reads "
             f"{spec['Ta'] - 1}); one step = forward, backward, clip to global norm "
             f"{SEQ2SEQ_MAX_GRAD}, Adam (lr {SEQ2SEQ_LR}). twin: models.seq2seq.TwinSeq2seq, the "
             "book's layers written out by hand, with the book's Adam and clip_grads"
             + (" (its TimeAttention loops over the decoder steps)"
                if spec["kind"] == "attention" else "")
             + f". Matmul bound: {len(plan)} distinct products, {flops / 1e9:.2f} GFLOP per "
             "step, the least any implementation of this step computes."]
    return {"contenders": contenders, "checks": checks, "notes": notes + torch_missing_note(),
            "rounds": (4 if spec["kind"] == "attention" else 15) if quick else
                      (30 if spec["kind"] == "attention" else 150),
            "warmup": 2, "flops_per_step": float(flops), "matmul_plan": plan}


# ================================================================ 5. bwd/fwd over T
BF_N, BF_H = 20, 100
BF_FLAT = 1.25   # "flat": the largest bwd/fwd ratio over T at most this times the smallest


def lstm_stages(forward, backward):
    """Forward and backward as two timed stages; the output travels between them."""
    held = {}
    return {"forward": lambda: held.__setitem__("y", forward()),
            "backward": lambda: backward(held.pop("y"))}


def run_bwd_fwd(quick):
    Ts = (100, 200) if quick else (100, 200, 400, 800)
    rounds = 3 if quick else 15
    layer = L.LSTM(BF_H, BF_H, rng=0)
    Wx, Wh, b = (p.data.copy() for p in (layer.Wx, layer.Wh, layer.b))
    rng = np.random.default_rng(9)
    per_T = []
    for T in Ts:
        xs = rng.standard_normal((BF_N, T, BF_H)).astype(f32)
        gy = rng.standard_normal((BF_N, T, BF_H)).astype(f32)
        x_mg = mg.Variable(xs)   # the input needs a gradient in every contender, as in a model

        def mg_forward():
            layer.zero_grad()
            x_mg.cleargrad()
            return layer(x_mg)

        twin = twins.TimeLSTM(Wx, Wh, b)
        stages = {"minigrad": lstm_stages(mg_forward, lambda y: y.backward(gy)),
                  # the twin keeps what its backward needs itself
                  "twin": {"forward": lambda: twin.forward(xs),
                           "backward": lambda: twin.backward(gy)}}
        if torch is not None:
            net = torch.nn.LSTM(BF_H, BF_H, batch_first=True)
            T_.load_rnn_layer(net, 0, Wx, Wh, b, "lstm")
            x_t, g_t = T_.tensor(xs).requires_grad_(), T_.tensor(gy)

            def torch_forward():
                net.zero_grad()
                x_t.grad = None
                return net(x_t)[0]
            stages["torch"] = lstm_stages(torch_forward, lambda y: y.backward(g_t))
        times = H.round_robin(stages, rounds=rounds, warmup=1)
        clock = ratio_clock(times)
        for name in stages:
            fwd, bwd = times.wall[f"{name}/forward"], times.wall[f"{name}/backward"]
            per_T.append({"T": T, "contender": name, "forward_ms": H.median(fwd) * 1e3,
                          "backward_ms": H.median(bwd) * 1e3,
                          "total_ms": H.median(times.wall[name]) * 1e3,
                          "bwd_over_fwd": H.paired_ratio(clock, f"{name}/backward",
                                                         f"{name}/forward")})
    rows = []
    longest = {r["contender"]: r["total_ms"] for r in per_T if r["T"] == Ts[-1]}
    for name, total in longest.items():
        ratios = [r["bwd_over_fwd"] for r in per_T if r["contender"] == name]
        row = {"contender": f"{name} (T {Ts[-1]})", "median_ms": total, "p25_ms": None,
               "p75_ms": None, "vs_bound": None, "flatness": max(ratios) / min(ratios),
               "bwd_over_fwd": ratios,
               "vs_torch": total / longest["torch"] if "torch" in longest and name != "torch"
               else None,
               "vs_twin": total / longest["twin"] if name != "twin" else None}
        if name == "minigrad":
            row["target"] = f"bwd/fwd flat in T (max/min <= {BF_FLAT})"
            row["met"] = row["flatness"] <= BF_FLAT
        rows.append(row)
    notes = [f"One LSTM layer (minigrad.layers.LSTM, the twins' TimeLSTM, torch nn.LSTM), "
             f"N {BF_N}, D = H = {BF_H}, input requiring a gradient; forward and backward "
             f"(from a given dL/dhs) timed separately, {rounds} rounds per T. The table row "
             f"is fwd+bwd at T {Ts[-1]} (ratios of medians); the detail table has each T."]
    return {"rows": rows, "per_T": per_T, "notes": notes + torch_missing_note()}


# ================================================================ 6. peak memory
MEMORY_WORKLOAD = "better-lstm"
MEMORY_STEPS = 2
COMPILED_FIRST_CALLS = 4   # recordings and the lowering, before a compiled step's replays


def memory_child(workload, contender):
    """In a fresh process: build one contender's training step, then the peak
    RSS of MEMORY_STEPS steps above the RSS after building. Prints one JSON line."""
    global torch, T_
    spec = lm_spec(workload)
    if contender == "torch":
        torch = H.import_torch()
        import _torch_models as T_  # noqa: F811
    H.limit_loaded_pools()
    w, xs, ts = lm_data(spec)
    step, _ = LM_BUILDERS[contender](spec, w, xs, ts)
    del w
    gc.collect()
    base = H.current_rss_mib()
    reset = H.reset_peak_rss()
    # A compiled step's first calls record (twice, and once more for the first
    # batch, which has no carried state yet) and lower its tape: all counted.
    for _ in range(MEMORY_STEPS + (COMPILED_FIRST_CALLS if "compiled" in contender else 0)):
        step()
    print(json.dumps({"contender": contender, "baseline_mib": base, "hwm_reset": reset,
                      "peak_mib": H.peak_rss_mib(), "step_peak_mib": H.peak_rss_mib() - base}))


def run_memory(quick):
    names = ["minigrad", "minigrad compiled", "twin"] + (["torch"] if torch is not None else [])
    found = {n: H.run_child(os.path.abspath(__file__), ["--child-memory", MEMORY_WORKLOAD, n])
             for n in names}
    rows = []
    for n, r in found.items():
        row = {"contender": n, "median_ms": None, "peak_mib": r["step_peak_mib"],
               "p25_ms": None, "p75_ms": None, "vs_bound": None,
               "vs_twin": r["step_peak_mib"] / found["twin"]["step_peak_mib"] if n != "twin"
               else None,
               "vs_torch": r["step_peak_mib"] / found["torch"]["step_peak_mib"]
               if "torch" in found and n != "torch" else None, "child": r}
        if n.startswith("minigrad"):
            row["target"], row["met"] = "<= the twin's", row["peak_mib"] <= found["twin"][
                "step_peak_mib"]
        rows.append(row)
    spec = lm_spec(MEMORY_WORKLOAD)
    notes = [f"Peak memory of {MEMORY_STEPS} training steps of {spec['title']} (batch "
             f"{spec['N']}, T {spec['T']}, V {spec['V']:,}), each contender in a fresh "
             "process: VmHWM after the steps minus the RSS after building the model, its "
             "optimizer and the batch (the high-water mark is reset there"
             + ("" if all(r["hwm_reset"] for r in found.values()) else
                ", NOT possible on this kernel: the figures include building") + "). "
             "The 'median ms' column holds MiB for this workload. minigrad compiled: the "
             f"same steps through mg.compile, after its {COMPILED_FIRST_CALLS} first calls "
             "(three recordings, the lowering), all counted: its buffers, held between calls, "
             "and the peak of the lowering, which traces one call with every value in a buffer "
             "of its own before they share memory."]
    return {"rows": rows, "notes": notes + torch_missing_note()}


# ================================================================ 7. the course notes' binary adder
ADDER_H, ADDER_LR = 16, 0.1      # the notes' settings
ADDER_ITERS = 1000               # iterations per timed step: its ms read as us per iteration
ADDER_PAIRS = 2000               # pre-drawn pairs, cycled


class NotesAdderByStep(L.Layer):
    """The notes' model as a reader first writes it on minigrad: every step's
    operations spelled out (x_t W_in + z W, sigmoid, z W_out, sigmoid, the
    step's squared error), about 70 recorded operations per pair; the same
    numbers as NotesAdder."""

    def __init__(self, W_in, W, W_out):
        super().__init__()
        self.W_in, self.W, self.W_out = (L.Parameter(a.copy()) for a in (W_in, W, W_out))

    def loss(self, x, d):
        z, loss = None, 0.0
        for t in range(x.shape[0]):
            u = x[t:t + 1] @ self.W_in if z is None else x[t:t + 1] @ self.W_in + z @ self.W
            z = F.sigmoid(u)
            y = F.sigmoid(z @ self.W_out)
            loss = loss + F.mean_squared_error(y, d[t:t + 1, None]) / 2
        return loss


def _cycled(n):
    """A counter that runs 0, 1, ..., n - 1, 0, ...: each contender walks the
    same pairs in the same order."""
    state = {"i": -1}

    def next_index():
        state["i"] = (state["i"] + 1) % n
        return state["i"]
    return next_index


def _repeated(iteration, times):
    def step():
        for _ in range(times):
            iteration()
    return step


def build_notes_adder(quick):
    from models.binary_addition import NotesAdder, notes_loss, notes_weights, pair_sequences

    W_in, W, W_out = notes_weights(ADDER_H, rng=10)
    rng = np.random.default_rng(11)
    xs, ds = pair_sequences(*rng.integers(0, 128, (2, ADDER_PAIRS)))
    checks = Checks()
    weights = {"W_in": W_in, "W": W, "W_out": W_out}
    pairs = [(xs[i:i + 1], ds[i:i + 1]) for i in range(ADDER_PAIRS)]

    def notes_pair_loss(model):
        return lambda x, d: notes_loss(model(x), d)

    def by_step_pair_loss(model):
        return lambda x, d: model.loss(x[0], d[0])
    # name -> (a fresh model, its loss of one pair: x (1, 8, 2), d (1, 8))
    variants = {
        "minigrad": (lambda: NotesAdder.from_weights(weights, fused=True), notes_pair_loss),
        "minigrad fused=False": (lambda: NotesAdder.from_weights(weights, fused=False),
                                 notes_pair_loss),
        "minigrad step by step": (lambda: NotesAdderByStep(W_in, W, W_out), by_step_pair_loss),
    }

    def maker(name):
        def make():
            build, loss_of = variants[name]
            model = build()
            return model, train_step(model, SGD(model.params(), lr=ADDER_LR), loss_of(model))
        return make

    def iterations(step):
        nxt = _cycled(ADDER_PAIRS)
        return _repeated(lambda: step(*pairs[nxt()]), ADDER_ITERS)

    twin = BinaryAdderBPTT(weights)
    reference = twin.forward((xs[0], ds[0]))
    contenders = []
    for name, (build, loss_of) in variants.items():
        model, step = maker(name)()
        checks.close(f"notes' adder: {name} loss vs twin", loss_of(model)(*pairs[0]).data,
                     reference, rtol=1e-12)
        eager = Contender(name, iterations(step), torch="torch", twin="twin",
                          target=Target("<= 1.5x twin", "vs_twin", 1.5) if name == "minigrad"
                          else None)
        fast = compiled_step(maker(name), pairs, checks, f"notes' adder, {name}")
        contenders += [eager, compiled_contender(
            eager, fast, iterations, NOT_SLOWER if name == "minigrad" else OVERHEAD_BOUND)]
    nxt, sgd = _cycled(ADDER_PAIRS), BookSGD(ADDER_LR)

    def twin_iteration():
        i = nxt()
        twin.forward((xs[i], ds[i]))
        twin.backward()
        sgd.update(twin.params, twin.param_grads)
    contenders.append(Contender("twin", _repeated(twin_iteration, ADDER_ITERS), torch="torch"))
    if torch is not None:
        net = T_.NotesAdder(W_in, W, W_out)
        xt, dt = T_.tensor(xs, np.float64), T_.tensor(ds, np.float64)
        checks.close("notes' adder: torch loss vs twin", T_.loss_value(net, lambda: net(xt[0], dt[0])),
                     reference, rtol=1e-12)
        opt = torch.optim.SGD(net.parameters(), lr=ADDER_LR)
        nxt_t = _cycled(ADDER_PAIRS)

        def torch_loss():
            i = nxt_t()
            return net(xt[i], dt[i])
        contenders.append(Contender("torch", _repeated(T_.train_step(net, [opt], torch_loss),
                                                       ADDER_ITERS)))
    notes = [f"The course notes' binary adder: RNN 2 -> {ADDER_H} -> 1, sigmoid units, no biases, "
             f"float64, one pair (8 steps) per iteration, the notes' halved squared error, SGD "
             f"lr {ADDER_LR}. One timed step is {ADDER_ITERS} training iterations, so its ms read "
             "as microseconds per iteration. minigrad: models.binary_addition.NotesAdder (the "
             "RNN layer: input projection as one matmul, then F.rnn, the fused sequence); "
             "`fused=False`: the same layer recording every step's operations (about 40 per "
             "pair); `step by step`: the model written out per step with its per-step loss, as "
             "a reader first writes it (about 70 operations per pair). twin: "
             "models.binary_addition.BinaryAdderBPTT, the notes' hand-written BPTT. torch: the same "
             "equations, input projection as one matmul, a Python loop over the steps "
             "(nn.RNN has no sigmoid units)."]
    return {"contenders": contenders, "checks": checks, "notes": notes + torch_missing_note(),
            "rounds": 5 if quick else 20, "warmup": 1}


# ================================================================ registry and report
def standard(build):
    """A workload that is one round-robin over its contenders."""
    def run(quick):
        built = build(quick)
        rows, _ = time_contenders(built["contenders"], built["rounds"], built["warmup"])
        extra = {k: v for k, v in built.items() if k not in ("contenders", "checks", "notes")}
        failed = [f"not measured: {f}" for f in built["checks"].failed]
        return {"rows": rows, "notes": built["notes"] + failed, "checks": built["checks"].done,
                **extra}
    return run


BUILDERS = {"mlp": build_mlp, "cbow": build_cbow, "notes-adder": build_notes_adder,
            **{name: (lambda n: lambda quick: build_lm(n, quick))(name) for name in LM_SPECS},
            **{name: (lambda n: lambda quick: build_seq2seq(n, quick))(name)
               for name in SEQ2SEQ_SPECS}}
WORKLOADS = {
    "chain": ("per-op overhead (1000-op chain)", run_chain),
    "mlp": ("MLP 784-1000-10", standard(build_mlp)),
    "cbow": ("CBOW + negative sampling", standard(build_cbow)),
    **{name: (spec["title"], standard(BUILDERS[name])) for name, spec in LM_SPECS.items()},
    **{name: (spec["title"], standard(BUILDERS[name])) for name, spec in SEQ2SEQ_SPECS.items()},
    "notes-adder": ("the course notes' binary adder (us per iteration)",
                    standard(build_notes_adder)),
    "bwd-fwd": ("LSTM bwd/fwd over T", run_bwd_fwd),
    "memory": ("peak memory, BetterRnnlm LSTM step", run_memory),
}


COMPILED_NOTE = (
    "- **compiled**: every minigrad contender has a compiled twin (`... compiled`): the same "
    "step through `mg.compile`, run side by side with the eager step until it has recorded, "
    "lowered its tape to numpy kernels and replayed it, with the same loss bit for bit at "
    "every step (the checks below), then timed on its replays. `vs eager` is its time over "
    "the eager contender's. Its targets: never slower than eager; 1.5x faster where the "
    "engine's own work is at least a fifth of the eager step, which by the suite's record "
    "(results/suite.md, minigrad against its twin: 1 - twin / minigrad) are the 1000-op "
    "chain (const 77%, param 82%) and the notes' adder written with one operation per step "
    "(`fused=False` 50%, `step by step` 67%); everywhere else minigrad is already as fast "
    "as its twin or faster (MLP 0.73x, CBOW 0.48x, Rnnlm 0.79-0.81x, BetterRnnlm "
    "0.63-0.65x, Seq2seq 1.00x, AttentionSeq2seq 0.78x, the fused adder 0.82x). Seq2seq "
    "and AttentionSeq2seq compiled: also <= 1.2x their matmul bound.")


def _num(x):
    if x is None:
        return ""
    return f"{x:.0f}" if abs(x) >= 100 else f"{x:.1f}" if abs(x) >= 10 else f"{x:.2f}"


def _ratio(x):
    return "" if x is None else f"{x:.2f}x"


def main_table(results):
    rows = []
    for name, res in results.items():
        for r in res["rows"]:
            if "peak_mib" in r:
                value, spread = f"{r['peak_mib']:.0f} MiB", ""
            else:
                value = f"**{_num(r['median_ms'])}**"
                spread = (f"{_num(r['p25_ms'])}-{_num(r['p75_ms'])}" if r.get("p25_ms") is not None
                          else "")
            met = r.get("met")
            rows.append([WORKLOADS[name][0], r["contender"], value, spread,
                         _ratio(r.get("vs_eager")), _ratio(r.get("vs_torch")),
                         _ratio(r.get("vs_twin")), _ratio(r.get("vs_bound")),
                         r.get("target", ""),
                         "" if met is None else ("**yes**" if met else "**no**")])
    return H.md_table(["workload", "contender", "median ms", "p25-p75", "vs eager", "vs torch",
                       "vs twin", "vs matmul bound", "target", "met?"], rows)


def bwd_fwd_table(res):
    rows = [[r["T"], r["contender"], _num(r["forward_ms"]), _num(r["backward_ms"]),
             f"{r['bwd_over_fwd']:.2f}"] for r in res["per_T"]]
    flat = [[r["contender"].split(" ")[0], f"{r['flatness']:.2f}"] for r in res["rows"]]
    return (H.md_table(["T", "contender", "forward ms", "backward ms", "bwd/fwd"], rows) + "\n\n"
            + H.md_table(["contender", "max/min of bwd/fwd over T"], flat))


def memory_table(res):
    rows = [[r["contender"], f"{r['peak_mib']:.0f}", f"{r['child']['baseline_mib']:.0f}",
             f"{r['child']['peak_mib']:.0f}"] for r in res["rows"]]
    return H.md_table(["contender", "step peak MiB (above built)", "RSS after building MiB",
                       "process peak MiB"], rows)


def report(env, quick, results, wall_s, load_end):
    clock = "CPU time" if THREADS == 1 else "wall-clock time"
    lines = [f"# Benchmark suite ({'quick' if quick else 'full'} mode, {THREADS} BLAS "
             f"thread{'s' if THREADS > 1 else ''})", "",
             *H.environment_lines(env),
             f"- load average at the end {', '.join(f'{x:.2f}' for x in load_end)}; "
             f"the run took {wall_s / 60:.1f} min", "",
             "Median and quartiles: wall-clock ms per training step over the round-robin "
             f"rounds. Ratios (vs ...): medians of per-round ratios of {clock}, the two "
             "contenders having run back to back (less sensitive to other jobs' load than the "
             "medians). Compare numbers only within one run.", "",
             main_table(results), "", "## Notes", "", COMPILED_NOTE, ""]
    for name, res in results.items():
        for note in res["notes"]:
            lines.append(f"- **{name}**: {note}")
    checks = [c for res in results.values() for c in res.get("checks", [])]
    if checks:
        lines += ["", "## Checks before timing", "",
                  H.md_table(["check", "value", "reference", "relative error"],
                             [[c["what"], f"{c['value']:.6f}", f"{c['reference']:.6f}",
                               f"{c['rel_err']:.1e}"] for c in checks])]
    if "bwd-fwd" in results:
        lines += ["", "## LSTM backward/forward time over T", "", bwd_fwd_table(results["bwd-fwd"])]
    if "memory" in results:
        lines += ["", "## Peak memory", "", memory_table(results["memory"])]
    return "\n".join(lines)


# ================================================================ main
def main():
    global torch, T_
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="few rounds and short sequences (a few minutes)")
    ap.add_argument("--only", help="comma-separated workloads: " + ",".join(WORKLOADS))
    ap.add_argument("--no-torch", action="store_true", help="leave torch out even if installed")
    ap.add_argument("--out", metavar="NAME",
                    help="write results/NAME.{md,json} instead of the name the mode gives")
    ap.add_argument("--profile", metavar="NAME", choices=list(BUILDERS),
                    help="cProfile NAME's minigrad step and print the top functions by own time")
    ap.add_argument("--child-memory", nargs=2, metavar=("WORKLOAD", "CONTENDER"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_memory:
        return memory_child(*args.child_memory)
    selected = list(WORKLOADS) if not args.only else args.only.split(",")
    unknown = [n for n in selected if n not in WORKLOADS]
    if unknown:
        ap.error(f"unknown workload(s) {unknown}; choose from {list(WORKLOADS)}")

    if not args.no_torch:
        torch = H.import_torch()
        if torch is not None:
            import _torch_models as T_  # noqa: F811
    H.limit_loaded_pools()
    if torch is None:
        print("torch not installed (or --no-torch): the PyTorch contenders are skipped",
              file=sys.stderr)
    if args.profile:
        contenders = BUILDERS[args.profile](True)["contenders"]
        step = next(c.step for c in contenders if c.name.startswith("minigrad"))
        print(f"minigrad step of {args.profile}, {THREADS} BLAS thread(s), commit "
              f"{H.environment()['git_commit']}")
        print(H.profile_top(step, runs=10, top=15))
        fast = next((c for c in contenders if getattr(c, "compiled", None) is not None), None)
        if fast is not None:
            print(f"\n{fast.name} of {args.profile}:")
            print(H.profile_top(fast.step, runs=10, top=15))
            print(kernel_times(fast.compiled, fast.step, runs=10, top=12))
        return

    env = H.environment(torch)
    t0 = time.perf_counter()
    results = {}
    for name in selected:
        t = time.perf_counter()
        print(f"[{time.perf_counter() - t0:6.0f} s] {name} ...", file=sys.stderr, flush=True)
        results[name] = WORKLOADS[name][1](args.quick)
        print(f"         {name} done in {time.perf_counter() - t:.0f} s", file=sys.stderr,
              flush=True)
    wall_s = time.perf_counter() - t0
    load_end = os.getloadavg()
    markdown = report(env, args.quick, results, wall_s, load_end)
    data = {"mode": "quick" if args.quick else "full", "threads": THREADS, "environment": env,
            "load_avg_end": load_end, "wall_s": wall_s, "workloads": results}
    print(markdown)
    if args.only:
        # A partial run must not replace the record the docs show.
        print("\n--only: results printed, no files written", file=sys.stderr)
        return
    # The full 1-thread run is the record (suite.md); other thread counts and
    # quick runs get their own files beside it.
    name = args.out or ("suite" + ("" if THREADS == 1 else f"-{THREADS}threads")
                        + ("-quick" if args.quick else ""))
    paths = H.write_results(name, data, markdown)
    print(f"\nwrote {paths[0]} and {paths[1]} in {wall_s:.0f} s", file=sys.stderr)


if __name__ == "__main__":
    main()
