"""Engine overhead of minigrad: what each recorded operation costs on top of numpy.

    python benchmarks/engine_overhead.py [--quick] [--threads N] [--profile] [--per-op R]
                                         [--against DIR]

Five measurements (see benchmarks/README.md for how to read them):

1. per-op cost of forward+backward through a 1000-op chain on (8, 8) float32
   arrays, against plain numpy forward, a hand-written numpy forward+backward
   of the same chain and PyTorch (when installed), timed round-robin; the
   chain's constants as raw numpy arrays and wrapped once as Variables;
1b. a composed (unfused) LSTM layer at H 100, N 20, T 35, forward+backward,
   against the same composition written in PyTorch, per time step;
2. backward of a 16,000-branch sum (the case that sorting the work list on
   every insert makes quadratic);
3. a 10**6-op chain (10**5 with --quick): no RecursionError, time, peak RSS,
   time to delete the graph; run in a fresh child process so that peak RSS
   belongs to this graph alone;
4. linearity: per-op backward time at chain lengths 10**3 ... 10**6.

Results go to benchmarks/results/engine_overhead.{json,md}; the table is also
printed. ``--per-op R`` runs parts 1 and 1b only (R rounds), prints their
tables and writes nothing: the quick check of one change. ``--profile`` instead runs the minigrad chain under cProfile and prints
where the per-op time goes. ``--against DIR`` times part 1's chain with this
checkout's minigrad and with the one of the checkout in DIR (for example
``git worktree add /tmp/main main``), round-robin in one process, and prints
the ratio: whether a change made the per-op cost worse.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()  # before numpy: BLAS sizes its thread pool at load time

import argparse  # noqa: E402
import gc  # noqa: E402
import importlib  # noqa: E402
import shutil  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
import minigrad as mg  # noqa: E402
from minigrad import functions as F  # noqa: E402
from minigrad import layers as L  # noqa: E402
from minigrad.compiled import replayed  # noqa: E402

torch = None  # set by main() when torch imports; child processes never load it

# ---------------------------------------------------------------- the chain
# Op i of a chain is MIX[i % 3]: two binary ops with a per-op constant and one
# unary op whose backward reads its saved output.
MUL, ADD, TANH = 0, 1, 2
MIX = (MUL, ADD, TANH)
MIX_TEXT = "y = y * c_i, y = y + c_i, y = tanh(y), repeated"
CHAIN_LEN = 1000
CHAIN_SHAPE = (8, 8)

# Reference figures from shared/REFERENCE.md (same workload, another run).
REFERENCE_US = {"numpy forward": 0.36, "hand-written": 1.07, "torch": 4.69, "DeZero": 14.76}


def make_chain(n, shape, seed=0):
    """Input x and the list of (kind, constant) steps of an n-op chain.

    Constants: multipliers in [0.9, 1.1] and offsets in [-0.05, 0.05], so the
    values stay in tanh's linear-ish range and the gradient of x, although
    small after 1000 ops, stays far from zero (a correctness check on a
    vanished gradient would check nothing)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(np.float32)
    steps = []
    for i in range(n):
        kind = MIX[i % len(MIX)]
        if kind == MUL:
            c = rng.uniform(0.9, 1.1, shape).astype(np.float32)
        elif kind == ADD:
            c = rng.uniform(-0.05, 0.05, shape).astype(np.float32)
        else:
            c = None
        steps.append((kind, c))
    return x, steps


def run_chain(y, steps, tanh):
    """The chain's forward from ``y``: its constants (or parameters) are those
    of ``steps``, ``tanh`` the framework's."""
    for kind, c in steps:
        if kind == MUL:
            y = y * c
        elif kind == ADD:
            y = y + c
        else:
            y = tanh(y)
    return y


def numpy_forward(x, steps):
    """(a) the floor: the chain's forward in plain numpy, nothing recorded."""
    return run_chain(x, steps, np.tanh)


def handwritten(x, steps, const_grads):
    """(b) the book-style baseline: forward keeps what backward needs on a tape,
    backward walks it in reverse. Returns (dL/dx, [dL/dc_i]) for the seed
    dL/dy = ones; the constants' gradients only when ``const_grads``."""
    tape = []
    y = x
    for kind, c in steps:
        if kind == MUL:
            tape.append(y)           # dL/dc = g * y_in
            y = y * c
        elif kind == ADD:
            tape.append(None)
            y = y + c
        else:
            y = np.tanh(y)
            tape.append(y)           # tanh' = 1 - tanh^2, from the output
    g = np.ones_like(y)
    gcs = [None] * len(steps)
    for i in range(len(steps) - 1, -1, -1):
        kind, c = steps[i]
        if kind == MUL:
            if const_grads:
                gcs[i] = g * tape[i]
            g = g * c
        elif kind == ADD:
            if const_grads:
                gcs[i] = g
        else:
            t = tape[i]
            g = g * (1 - t * t)
    return g, gcs


def minigrad_chain(x, steps, package=None):
    """(c) minigrad: ``steps`` hold numpy arrays (constants) or Variables that
    require grad (parameters). A fresh leaf x each call, as in training.
    ``package``: another minigrad (``--against``), this one by default."""
    xv = (package or mg).Variable(x)
    y = run_chain(xv, steps, package.functions.tanh if package else F.tanh)
    y.backward(np.ones_like(x))
    return xv.grad.data


def torch_chain(x, steps):
    """(d) PyTorch CPU, same chain; ``steps`` hold tensors."""
    xt = torch.from_numpy(x).requires_grad_()
    y = run_chain(xt, steps, torch.tanh)
    y.backward(torch.ones_like(y))
    return xt.grad.numpy()


class Chain(L.Layer):
    """The chain as a model, for a compiled step: its constants are
    parameters (``params=True``, the ``param`` variant) or plain arrays
    (``const``: only dL/dx is computed, into the input's ``.grad``)."""

    def __init__(self, steps, params=True):
        super().__init__()
        self.kinds = [kind for kind, _ in steps]
        self.consts = [None if c is None or params else c for _, c in steps]
        for i, (_, c) in enumerate(steps):
            if c is not None and params:
                setattr(self, f"c{i}", L.Parameter(c.copy()))

    def forward(self, x):
        steps = [(kind, getattr(self, f"c{i}") if c is None and kind != TANH else c)
                 for i, (kind, c) in enumerate(zip(self.kinds, self.consts))]
        return run_chain(x, steps, F.tanh)

    @replayed   # the input is a leaf of the step's own: its gradient is cleared every step
    def clear_input(self, x):
        x.cleargrad()


def chain_step(model, seed):
    """A training step of ``model`` (a Chain) on an array x: a fresh leaf x,
    the chain, backward from ``seed``; returns (y, the leaf x)."""
    def step(x):
        model.zero_grad()
        xv = mg.Variable(x)
        model.clear_input(xv)
        y = model(xv)
        y.backward(seed)
        return y, xv
    return step


def compiled_chains(x, steps):
    """The const and param chains as compiled steps (mg.compile), past their
    recordings and lowering: {variant: (fn of no arguments, the model, the
    leaf x whose .grad holds dL/dx)}."""
    out = {}
    for variant in ("const", "param"):
        model = Chain(steps, params=variant == "param")
        fast = mg.compile(chain_step(model, np.ones_like(x)), model)
        while fast.replays < 2:
            _, xv = fast(x)
        out[variant] = ((lambda fast=fast: fast(x)), model, xv)
    return out


def _params(steps, wrap):
    """The same steps with every constant wrapped by ``wrap`` (Variable/tensor)."""
    return [(kind, None if c is None else wrap(c)) for kind, c in steps]


def _clear(steps, clear):
    for _, c in steps:
        if c is not None:
            clear(c)


def check_chain(x, steps, mg_wrapped, mg_params, torch_consts, torch_params):
    """Gradients of every contender against the hand-written ones, once, so the
    benchmark cannot silently time something wrong."""
    g_ref, _ = handwritten(x, steps, const_grads=False)
    g_ref_p, gc_ref = handwritten(x, steps, const_grads=True)
    assert np.abs(g_ref).max() > 1e-6, "the check would be vacuous: dL/dx vanished"
    np.testing.assert_allclose(minigrad_chain(x, steps), g_ref, rtol=1e-5, atol=0)
    np.testing.assert_allclose(minigrad_chain(x, mg_wrapped), g_ref, rtol=1e-5, atol=0)
    _clear(mg_params, mg.Variable.cleargrad)
    np.testing.assert_allclose(minigrad_chain(x, mg_params), g_ref_p, rtol=1e-5, atol=0)
    for (_, c), want in zip(mg_params, gc_ref):
        if c is not None:
            np.testing.assert_allclose(c.grad.data, want, rtol=1e-5, atol=1e-30)
    if torch is not None:
        # torch's tanh rounds differently; 1000 ops amplify it a little
        np.testing.assert_allclose(torch_chain(x, torch_consts), g_ref, rtol=2e-3, atol=1e-9)
        _clear(torch_params, lambda t: setattr(t, "grad", None))
        np.testing.assert_allclose(torch_chain(x, torch_params), g_ref_p, rtol=2e-3, atol=1e-9)
        for (_, c), want in zip(torch_params, gc_ref):
            if c is not None:
                np.testing.assert_allclose(c.grad.numpy(), want, rtol=2e-3, atol=1e-9)


def bench_chain(rounds, compiled=False):
    """Part 1: us per op of each contender, round-robin over the same inputs.
    ``compiled``: also the const and param chains compiled (mg.compile),
    ``minigrad compiled/const`` and ``minigrad compiled/param``."""
    x, steps = make_chain(CHAIN_LEN, CHAIN_SHAPE)
    mg_params = _params(steps, lambda c: mg.Variable(c.copy(), requires_grad=True))
    mg_wrapped = _params(steps, lambda c: mg.Variable(c, requires_grad=False))
    torch_consts = torch_params = None
    if torch is not None:
        torch_consts = _params(steps, torch.from_numpy)
        torch_params = _params(steps, lambda c: torch.from_numpy(c.copy()).requires_grad_())
    check_chain(x, steps, mg_wrapped, mg_params, torch_consts, torch_params)
    fast = compiled_chains(x, steps) if compiled else {}
    check_compiled_chains(x, steps, fast)

    def mg_param_step():
        _clear(mg_params, mg.Variable.cleargrad)  # zero_grad, as a training step would
        minigrad_chain(x, mg_params)

    contenders = {
        "numpy forward": lambda: numpy_forward(x, steps),
        "hand-written/const": lambda: handwritten(x, steps, False),
        "hand-written/param": lambda: handwritten(x, steps, True),
        "minigrad/const": lambda: minigrad_chain(x, steps),
        "minigrad/wrapped": lambda: minigrad_chain(x, mg_wrapped),
        "minigrad/param": mg_param_step,
        **{f"minigrad compiled/{variant}": run for variant, (run, _, _) in fast.items()},
    }
    if torch is not None:
        def torch_param_step():
            _clear(torch_params, lambda t: setattr(t, "grad", None))
            torch_chain(x, torch_params)

        contenders["torch/const"] = lambda: torch_chain(x, torch_consts)
        contenders["torch/param"] = torch_param_step
    times = H.round_robin(contenders, rounds=rounds, warmup=5)
    per_op = 1e6 / CHAIN_LEN
    result = {}
    for name in contenders:
        s = {k: (v * per_op if k != "n" else v) for k, v in H.summarize(times.wall[name]).items()}
        s["cpu_median"] = H.median(times.cpu[name]) * per_op
        # Ratios paired within each round (both contenders ran back to back),
        # by CPU time, which other jobs' load disturbs least; wall-clock ones too.
        variant = name.partition("/")[2].replace("wrapped", "const")
        for label, other in (("vs_numpy_forward", "numpy forward"),
                             ("vs_wrapped", "minigrad/wrapped"),
                             ("vs_hand_written", f"hand-written/{variant}"),
                             ("vs_torch", f"torch/{variant}"),
                             ("vs_eager", f"minigrad/{variant}" if "compiled" in name else "")):
            found = other in contenders
            s[label] = H.paired_ratio(times.cpu, name, other) if found else None
            s[label + "_wall"] = H.paired_ratio(times.wall, name, other) if found else None
        result[name] = s
    return result


def check_compiled_chains(x, steps, fast):
    """The compiled chains' gradients against the hand-written ones, after a
    replay of their lowered kernels (the step replays once more here)."""
    g_ref, _ = handwritten(x, steps, const_grads=False)
    _, gc_ref = handwritten(x, steps, const_grads=True)
    for variant, (run, model, xv) in fast.items():
        run()
        np.testing.assert_allclose(xv.grad.data, g_ref, rtol=1e-5, atol=0)
        if variant == "param":
            for i, (_, c) in enumerate(steps):
                if c is not None:
                    np.testing.assert_allclose(getattr(model, f"c{i}").grad.data, gc_ref[i],
                                               rtol=1e-5, atol=1e-30)


def other_minigrad(root):
    """The minigrad package of the checkout at ``root``, imported under another
    name (its imports are relative), so that both run in this process."""
    where = tempfile.mkdtemp(prefix="minigrad_against_")
    shutil.copytree(os.path.join(root, "minigrad"), os.path.join(where, "minigrad_against"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    sys.path.insert(0, where)
    return importlib.import_module("minigrad_against")


def bench_against(root, rounds):
    """Part 1's chain, this checkout against the one at ``root``: us per op and
    the paired CPU-time ratio this / other, const and param variants."""
    other = other_minigrad(root)
    x, steps = make_chain(CHAIN_LEN, CHAIN_SHAPE)
    g_ref, _ = handwritten(x, steps, const_grads=False)
    params = {name: _params(steps, lambda c: pkg.Variable(c.copy(), requires_grad=True))
              for name, pkg in (("this", mg), ("other", other))}
    contenders = {}
    for name, pkg in (("this", mg), ("other", other)):
        np.testing.assert_allclose(minigrad_chain(x, steps, pkg), g_ref, rtol=1e-5, atol=0)

        def param_step(p=params[name], pkg=pkg):
            _clear(p, pkg.Variable.cleargrad)
            minigrad_chain(x, p, pkg)

        contenders[f"{name}/const"] = lambda pkg=pkg: minigrad_chain(x, steps, pkg)
        contenders[f"{name}/param"] = param_step
    times = H.round_robin(contenders, rounds=rounds, warmup=5)
    rows = []
    for variant in ("const", "param"):
        this, that = f"this/{variant}", f"other/{variant}"
        rows.append([variant, f"{H.median(times.cpu[this]) * 1e6 / CHAIN_LEN:.2f}",
                     f"{H.median(times.cpu[that]) * 1e6 / CHAIN_LEN:.2f}",
                     f"**{H.paired_ratio(times.cpu, this, that):.3f}**",
                     f"{H.paired_ratio(times.wall, this, that):.3f}"])
    return H.md_table(["chain", "this CPU us/op", f"{root} CPU us/op", "ratio (CPU, paired)",
                       "ratio (wall, paired)"], rows)


# ---------------------------------------------------------------- composed LSTM
LSTM_N, LSTM_T, LSTM_D, LSTM_H = 20, 35, 100, 100


def lstm_inputs(seed=3):
    """Input (N, T, D), the book's packed weights (gates f, g, i, o) and a seed
    gradient for the hidden states."""
    rng = np.random.default_rng(seed)
    N, T, D, H = LSTM_N, LSTM_T, LSTM_D, LSTM_H
    f32 = np.float32
    return {"xs": rng.standard_normal((N, T, D)).astype(f32),
            "Wx": (rng.standard_normal((D, 4 * H)) / np.sqrt(D)).astype(f32),
            "Wh": (rng.standard_normal((H, 4 * H)) / np.sqrt(H)).astype(f32),
            "b": rng.uniform(-0.1, 0.1, 4 * H).astype(f32),
            "gy": rng.standard_normal((N, T, H)).astype(f32)}


def minigrad_lstm(layer, xs, gy):
    """The layer's forward over all T steps, then backward; the weights'
    gradients as arrays."""
    layer.cleargrads()
    layer(xs).backward(gy)
    return [p.grad.data for p in (layer.Wx, layer.Wh, layer.b)]


def torch_lstm(params, xs, gy):
    """The same composition in PyTorch: one input projection, then per step
    h Wh, a split into the book's gates f, g, i, o, sigmoid/tanh, the cell
    update and h' = o tanh(c'); backward from the stacked hidden states."""
    Wx, Wh, b = params
    for p in params:
        p.grad = None
    xw = xs @ Wx + b
    h = c = None
    hs = []
    for xw_t in xw.unbind(1):
        a = xw_t if h is None else xw_t + h @ Wh
        f, g, i, o = a.chunk(4, dim=1)
        g, i, o = torch.tanh(g), torch.sigmoid(i), torch.sigmoid(o)
        c = g * i if c is None else torch.sigmoid(f) * c + g * i
        h = o * torch.tanh(c)
        hs.append(h)
    torch.stack(hs, 1).backward(gy)
    return [p.grad.numpy() for p in params]


def bench_lstm(rounds):
    """Part 1b: one composed (unfused) LSTM layer, forward + backward, per step."""
    from minigrad import layers as L

    a = lstm_inputs()
    composed = L.LSTM(LSTM_D, LSTM_H, fused=False, Wx=a["Wx"], Wh=a["Wh"], b=a["b"])
    fused = L.LSTM(LSTM_D, LSTM_H, fused=True, Wx=a["Wx"], Wh=a["Wh"], b=a["b"])
    want = minigrad_lstm(fused, a["xs"], a["gy"])
    for got, ref in zip(minigrad_lstm(composed, a["xs"], a["gy"]), want):
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
    contenders = {"minigrad composed": lambda: minigrad_lstm(composed, a["xs"], a["gy"]),
                  "minigrad fused": lambda: minigrad_lstm(fused, a["xs"], a["gy"])}
    if torch is not None:
        params = [torch.from_numpy(a[k].copy()).requires_grad_() for k in ("Wx", "Wh", "b")]
        xs_t, gy_t = torch.from_numpy(a["xs"]), torch.from_numpy(a["gy"])
        for got, ref in zip(torch_lstm(params, xs_t, gy_t), want):
            np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)
        contenders["torch composed"] = lambda: torch_lstm(params, xs_t, gy_t)
    times = H.round_robin(contenders, rounds=rounds, warmup=3)
    result = {}
    for name in contenders:
        s = {k: (v * 1e6 / LSTM_T if k != "n" else v)
             for k, v in H.summarize(times.wall[name]).items()}
        s["cpu_median"] = H.median(times.cpu[name]) * 1e6 / LSTM_T
        s["vs_torch"] = (H.paired_ratio(times.cpu, name, "torch composed")
                         if "torch composed" in contenders else None)
        result[name] = s
    return result


# ---------------------------------------------------------------- fan-in
def fan_in(branches, seed=1):
    """Part 2: y = x*c_0 + x*c_1 + ... : one leaf feeding ``branches`` Mul nodes.

    Every Mul has generation 1 and waits in the work list while the whole Add
    chain is processed: a list sorted on every insert makes this quadratic."""
    rng = np.random.default_rng(seed)
    x = mg.Variable(rng.standard_normal(8).astype(np.float32))
    cs = rng.uniform(-1, 1, (branches, 8)).astype(np.float32)
    consts = list(cs)
    gc.collect()
    t0 = time.perf_counter()
    y = x * consts[0]
    for c in consts[1:]:
        y = y + x * c
    t1 = time.perf_counter()
    y.backward(np.ones(8, np.float32))
    t2 = time.perf_counter()
    np.testing.assert_allclose(x.grad.data, cs.sum(axis=0, dtype=np.float64), rtol=1e-3,
                               atol=1e-3)
    return t1 - t0, t2 - t1


def bench_fan_in(branches, repeats):
    fwd, bwd = zip(*[fan_in(branches) for _ in range(repeats)])
    ops = 2 * branches - 1
    return {"branches": branches, "ops": ops, "repeats": repeats,
            "forward_s": H.median(fwd), "backward_s": H.median(bwd),
            "backward_us_per_op": H.median(bwd) * 1e6 / ops}


# ---------------------------------------------------------------- deep chains
DEEP_SHAPE = (1,)


class GCTimer:
    """Seconds spent in Python's cyclic garbage collector (gc.callbacks).

    The graph has no reference cycles (outputs are weak references), so
    reference counting frees it and every collection is pure overhead; but a
    full collection walks every live tracked object, so while a big graph is
    alive it costs time in proportion to the graph."""

    def __init__(self):
        self.seconds = 0.0
        self._t0 = None
        gc.callbacks.append(self._callback)

    def _callback(self, phase, info):
        if phase == "start":
            self._t0 = time.perf_counter()
        elif self._t0 is not None:
            self.seconds += time.perf_counter() - self._t0
            self._t0 = None

    def take(self):
        s, self.seconds = self.seconds, 0.0
        return s


def deep_chain_child(n, repeats):
    """Runs in a fresh process (``--child-deep N R``): forward, backward and
    deletion of an n-op chain on a (1,) array, ``repeats`` times. Constants are
    two shared arrays, so the memory measured is the graph's own. Prints one
    JSON line."""
    rng = np.random.default_rng(2)
    c_mul = np.array([1.0], np.float32)
    c_add = np.array([0.01], np.float32)
    x0 = rng.standard_normal(DEEP_SHAPE).astype(np.float32)
    gc_timer = GCTimer()
    rss0 = H.current_rss_mib()
    out = {"n": n, "repeats": repeats, "forward_s": [], "backward_s": [], "delete_s": [],
           "forward_gc_s": [], "backward_gc_s": [], "backward_cpu_s": [], "graph_rss_mib": 0.0}
    try:
        for _ in range(repeats):
            gc.collect()
            x = mg.Variable(x0.copy())
            gc_timer.take()
            t0 = time.perf_counter()
            y = x
            for i in range(n):
                kind = MIX[i % 3]
                if kind == MUL:
                    y = y * c_mul
                elif kind == ADD:
                    y = y + c_add
                else:
                    y = F.tanh(y)
            t1 = time.perf_counter()
            out["forward_gc_s"].append(gc_timer.take())
            # the whole graph is alive now: what it costs in memory
            out["graph_rss_mib"] = max(out["graph_rss_mib"], H.current_rss_mib() - rss0)
            gc_timer.take()
            t1b, c1b = time.perf_counter(), time.process_time()
            y.backward(np.ones(DEEP_SHAPE, np.float32))
            t2, c2 = time.perf_counter(), time.process_time()
            out["backward_gc_s"].append(gc_timer.take())
            out["backward_cpu_s"].append(c2 - c1b)
            del y  # the last reference to the whole graph: frees it node by node
            t3 = time.perf_counter()
            assert np.isfinite(x.grad.data).all()
            out["forward_s"].append(t1 - t0)
            out["backward_s"].append(t2 - t1b)
            out["delete_s"].append(t3 - t2)
        out["error"] = None
    except RecursionError as e:  # what a recursive topological sort would hit
        out["error"] = f"RecursionError: {e}"
    out["rss_start_mib"] = rss0
    out["peak_rss_mib"] = H.peak_rss_mib()
    out["locked_after"] = mg.core.saved.locked_count()  # arrays still read-only: leak check
    print(__import__("json").dumps(out))


def bench_deep(lengths, op_budget, min_repeats):
    """Parts 3 and 4: each length in its own child process, with enough repeats
    that every length runs about ``op_budget`` ops, and at least ``min_repeats``
    times (a single run of the longest chain is at the mercy of other jobs)."""
    rows = []
    for n in lengths:
        repeats = max(min_repeats, min(200, op_budget // n))
        r = H.run_child(os.path.abspath(__file__), ["--child-deep", str(n), str(repeats)])
        if r["error"] is None:
            for key in ("forward_s", "backward_s", "delete_s", "forward_gc_s",
                        "backward_gc_s", "backward_cpu_s"):
                r[key.replace("_s", "_us_per_op")] = H.median(r[key]) * 1e6 / n
                r[key] = H.median(r[key])
        rows.append(r)
    # Per-op time against the shortest chain, and against the previous length:
    # the first grows while the graph outgrows the CPU caches, the second shows
    # whether the cost per op still grows once it has (it must not: linear).
    # Backward is compared by CPU time, which other jobs' load disturbs least.
    first = rows[0]
    for prev, r in zip([None] + rows[:-1], rows):
        if r["error"] is None and first["error"] is None:
            r["forward_per_op_vs_first"] = r["forward_us_per_op"] / first["forward_us_per_op"]
            r["backward_per_op_vs_first"] = (r["backward_cpu_us_per_op"]
                                             / first["backward_cpu_us_per_op"])
            if prev is not None and prev["error"] is None:
                r["backward_per_op_vs_previous"] = (r["backward_cpu_us_per_op"]
                                                    / prev["backward_cpu_us_per_op"])
    return rows


# ---------------------------------------------------------------- report
def _fmt(x, digits=2):
    return "n/a" if x is None else f"{x:.{digits}f}"


def chain_table(chain):
    ratio = lambda r: "" if r is None else f"{r:.2f}x"  # noqa: E731
    rows = []
    for name, s in chain.items():
        rows.append([
            name, f"**{s['median']:.2f}**", f"{s['p25']:.2f}-{s['p75']:.2f}", f"{s['min']:.2f}",
            f"{s['cpu_median']:.2f}",
            ratio(s["vs_numpy_forward"]), ratio(s["vs_hand_written"]), ratio(s["vs_torch"]),
            ratio(s["vs_wrapped"]) if name.startswith("minigrad/") else "",
            _fmt(REFERENCE_US.get(name.partition("/")[0])),
        ])
    return H.md_table(["contender", "us/op (median)", "p25-p75", "min", "CPU us/op", "vs numpy fwd",
                       "vs hand-written", "vs torch", "vs minigrad/wrapped",
                       "REFERENCE.md us/op"], rows)


def lstm_table(lstm):
    rows = []
    for name, s in lstm.items():
        rows.append([name, f"**{s['median']:.1f}**", f"{s['p25']:.1f}-{s['p75']:.1f}",
                     f"{s['cpu_median']:.1f}",
                     "" if s["vs_torch"] is None else f"**{s['vs_torch']:.2f}x**"])
    return H.md_table(["contender", "us/step (median)", "p25-p75", "CPU us/step", "vs torch composed"],
                      rows)


def deep_table(rows):
    out = []
    for r in rows:
        if r["error"]:
            out.append([f"{r['n']:,}", r["error"], "", "", "", "", ""])
            continue
        graph = r["graph_rss_mib"]
        out.append([
            f"{r['n']:,}", r["repeats"],
            f"{r['forward_us_per_op']:.2f} ({r['forward_gc_us_per_op']:.2f})",
            f"{r['forward_per_op_vs_first']:.2f}x",
            f"**{r['backward_us_per_op']:.2f}** ({r['backward_gc_us_per_op']:.2f}) / "
            f"{r['backward_cpu_us_per_op']:.2f}",
            f"**{r['backward_per_op_vs_first']:.2f}x** / "
            + (f"{r['backward_per_op_vs_previous']:.2f}x" if "backward_per_op_vs_previous" in r
               else "-"),
            f"{r['delete_us_per_op']:.2f}",
            f"{r['forward_s']:.3f} / {r['backward_s']:.3f} / {r['delete_s']:.3f}",
            f"{r['peak_rss_mib']:.0f} / {graph:.0f} ({graph * 2**20 / r['n']:.0f} B/op)",
        ])
    return H.md_table(["chain length", "runs", "forward us/op (of which GC)",
                       "forward per op vs 10^3",
                       "backward us/op (of which GC) / CPU us/op",
                       "backward CPU per op vs 10^3 / vs previous length",
                       "delete us/op", "fwd / bwd / delete s",
                       "peak RSS MiB / graph MiB (per op)"], out)


def report(env, quick, chain, lstm, fan, deep):
    full_n = max(r["n"] for r in deep)
    lines = [
        f"# Engine overhead ({'quick' if quick else 'full'} mode)", "",
        *H.environment_lines(env), "",
        f"## 1. Per-op cost, {CHAIN_LEN}-op chain on {CHAIN_SHAPE} float32, forward + backward",
        "",
        f"Op mix: `{MIX_TEXT}` (mul, add, tanh in turn; seed dL/dy = ones). "
        "`const`: the c_i are constants (plain numpy arrays / tensors without grad); "
        "`param`: each c_i is a leaf that requires grad (gradients of all 667 of them "
        "are computed; zero_grad is inside the timed step). "
        f"{chain['numpy forward']['n']} round-robin rounds; microseconds per op, wall clock "
        "(median, quartiles, best round) and CPU time (median; other jobs' load inflates it "
        "least). "
        "Ratios are medians of per-round CPU-time ratios (both contenders ran back to "
        "back); the JSON also has the wall-clock ratios. "
        "`minigrad/wrapped`: the constants wrapped once as Variables that need no gradient "
        "(`vs minigrad/wrapped` compares the raw-array chain with it). "
        "Gradients checked against the hand-written ones before timing. "
        f"(REFERENCE.md also gives DeZero: {REFERENCE_US['DeZero']} us/op.)", "",
        chain_table(chain), "",
        "Targets: minigrad/const <= 0.5x torch and <= 2.5x hand-written; raw-array "
        "constants within 1.1x of constants wrapped once.", "",
        f"## 1b. Composed LSTM, H {LSTM_H}, N {LSTM_N}, T {LSTM_T}, D {LSTM_D}, "
        "forward + backward", "",
        "`minigrad composed`: `layers.LSTM(fused=False)`, a dozen recorded operations per "
        "step; `torch composed`: the same composition in PyTorch (one input projection, "
        "then per step `h @ Wh`, a split into the gates, sigmoid/tanh, the cell update); "
        "`minigrad fused`: the whole sequence as one operation, for scale. Microseconds "
        "per time step; the ratio is the median of per-round CPU-time ratios. Weight "
        "gradients of all three checked against each other first.", "",
        lstm_table(lstm), "",
        "Target: minigrad composed <= 0.6x torch composed.", "",
        f"## 2. Fan-in: backward of a sum of {fan['branches']:,} branches",
        "",
        f"`y = x*c_0 + x*c_1 + ...` with x of shape (8,): {fan['ops']:,} ops, median of "
        f"{fan['repeats']} run(s); x.grad checked against sum(c_i).", "",
        H.md_table(["forward s", "backward s", "backward us/op", "DeZero backward (REFERENCE)"],
                   [[f"{fan['forward_s']:.3f}", f"**{fan['backward_s']:.3f}**",
                     f"{fan['backward_us_per_op']:.2f}", "7.5 s (0.29 s with a heap)"]]), "",
        "Target: well under 1 s.", "",
        f"## 3-4. Deep chains on a {DEEP_SHAPE} array: depth and linearity", "",
        f"Same op mix with shared constants; each length in a fresh process. Peak RSS is "
        f"that process's high-water mark (imports included); graph MiB is the RSS growth "
        f"while the finished graph is alive. GC = time inside Python's cyclic garbage "
        f"collector (gc.callbacks). The "
        f"{full_n:,}-op row is part 3" + (" (10^5 in --quick mode, not 10^6)" if quick else "")
        + "; delete = `del y` of the whole graph after backward.", "",
        deep_table(deep), "",
        "Linear means backward per op stays flat: near 1x against the previous length once "
        "the graph has outgrown the CPU caches (from 10^3 to 10^5 it grows with cache misses). "
        "Per-op memory at 10^3 is allocator noise; read it at the largest length.",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- profile
def profile_chain(runs=30, top=25):
    """cProfile the minigrad chain (const and param variants) and print the top
    functions by own time, in microseconds per chain op. cProfile inflates the
    cost of every Python call, so read the shares, and the scale factor printed
    against the unprofiled time."""
    import cProfile
    import pstats

    env = H.environment()
    print(f"minigrad commit {env['git_commit']}, Python {env['python']}, numpy {env['numpy']}, "
          f"{env['threads']} BLAS thread(s), {env['cpu']}")
    x, steps = make_chain(CHAIN_LEN, CHAIN_SHAPE)
    params = _params(steps, lambda c: mg.Variable(c.copy(), requires_grad=True))
    for label, st in (("const", steps), ("param", params)):
        def step():
            if st is params:
                _clear(st, mg.Variable.cleargrad)
            minigrad_chain(x, st)
        for _ in range(5):
            step()
        plain = H.median([H.time_once(step)[0] for _ in range(runs)])
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(runs):
            step()
        prof.disable()
        stats = pstats.Stats(prof)
        total = stats.total_tt
        ops = runs * CHAIN_LEN
        print(f"\n### minigrad/{label}: unprofiled {plain * 1e6 / CHAIN_LEN:.2f} us/op, "
              f"profiled {total * 1e6 / ops:.2f} us/op (x{total / runs / plain:.1f})")
        print(f"{'own us/op':>9} {'cum us/op':>9} {'calls/op':>8}  function")
        rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:top]
        for (path, line, func), (cc, nc, tt, ct, _) in rows:
            where = f"{os.path.relpath(path) if path.startswith('/') else path}:{line}({func})"
            print(f"{tt * 1e6 / ops:9.2f} {ct * 1e6 / ops:9.2f} {nc / ops:8.2f}  {where}")


# ---------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true",
                    help="fewer rounds, deep chain 10^5 instead of 10^6 (under ~2 minutes)")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile the minigrad chain and print the top functions")
    ap.add_argument("--per-op", type=int, metavar="ROUNDS",
                    help="parts 1 and 1b only, ROUNDS rounds; print, write nothing")
    ap.add_argument("--against", metavar="DIR",
                    help="part 1's chain against the minigrad of the checkout in DIR; print the "
                         "ratio (with --per-op ROUNDS rounds, default 100)")
    ap.add_argument("--child-deep", nargs=2, type=int, metavar=("N", "REPEATS"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_deep:
        H.limit_loaded_pools()
        return deep_chain_child(*args.child_deep)
    if args.profile:
        return profile_chain()
    if args.against:
        H.limit_loaded_pools()
        print(f"minigrad commit {H.environment()['git_commit']} against {args.against}")
        return print(bench_against(args.against, rounds=args.per_op or 100))

    global torch
    torch = H.import_torch()
    H.limit_loaded_pools()
    env = H.environment(torch)
    if torch is None:
        print("torch not installed: the PyTorch contender is skipped", file=sys.stderr)
    if args.per_op:
        print(chain_table(bench_chain(rounds=args.per_op)))
        print(lstm_table(bench_lstm(rounds=max(5, args.per_op // 5))))
        return
    t_start = time.perf_counter()
    chain = bench_chain(rounds=40 if args.quick else 300)
    lstm = bench_lstm(rounds=15 if args.quick else 60)
    fan = bench_fan_in(16_000, repeats=1 if args.quick else 3)
    lengths = [10**3, 10**4, 10**5] + ([] if args.quick else [10**6])
    deep = bench_deep(lengths, op_budget=10**5 if args.quick else 3 * 10**5,
                      min_repeats=1 if args.quick else 3)
    markdown = report(env, args.quick, chain, lstm, fan, deep)
    data = {"mode": "quick" if args.quick else "full", "environment": env,
            "chain": {"length": CHAIN_LEN, "shape": CHAIN_SHAPE, "mix": MIX_TEXT,
                      "us_per_op": chain, "reference_us_per_op": REFERENCE_US},
            "lstm": {"N": LSTM_N, "T": LSTM_T, "D": LSTM_D, "H": LSTM_H, "us_per_step": lstm},
            "fan_in": fan, "deep": deep,
            "wall_s": time.perf_counter() - t_start}
    print(markdown)
    paths = H.write_results("engine_overhead", data, markdown)
    print(f"\nwrote {paths[0]} and {paths[1]} in {data['wall_s']:.0f} s")


if __name__ == "__main__":
    main()
