"""Long runs: memory stays flat and nothing recurses.

    python benchmarks/long_run.py [--quick] [--threads N]

Three measurements:

1. 10**4 training steps (10**3 with --quick) of a small LSTM language model
   (V 200, D = H 32, batch 8, time 10, SGD with clipping, the step of
   models.rnnlm.train_rnnlm): resident memory (VmRSS) every 500 steps (100
   with --quick) and its growth after warm-up (the first 10% of the steps;
   target < 5%), and the live Variable objects after every step, once its
   graph is dropped (gc.get_objects(); the parameters, their gradients and
   the two carried states are all that may remain: 2 x 6 + 2 = 14), with the
   arrays still held read-only (must be 0) and live graph nodes (Functions).
2. An RNN and an LSTM layer unrolled over 10**4 steps (10**3 with --quick),
   step by step (not the fused whole-sequence node), forward + backward, with
   Python's recursion limit lowered to 200: a recursive backward or graph
   walk would raise RecursionError within the first few hundred steps.
3. A 10**6-op chain (10**5 with --quick), forward + backward + deletion, in a
   fresh process: benchmarks/engine_overhead.py's depth test, called here.

Results go to benchmarks/results/long_run.{json,md}.
"""
from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _harness import pin_threads  # noqa: E402

THREADS = pin_threads()  # before numpy: BLAS sizes its thread pool at load time

import argparse  # noqa: E402
import gc  # noqa: E402
import inspect  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import _harness as H  # noqa: E402
import minigrad as mg  # noqa: E402
import minigrad.layers as L  # noqa: E402
from minigrad.core import saved  # noqa: E402
from minigrad.data import TBPTTBatcher  # noqa: E402
from minigrad.optimizers import SGD, ClipGradNorm  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from models.rnnlm import Rnnlm  # noqa: E402

VOCAB, HIDDEN, BATCH, TIME = 200, 32, 8, 10
RECURSION_LIMIT = 200


# ---------------------------------------------------------------- helpers
def rss_mib() -> float:
    """VmRSS from /proc/self/status, in MiB (0 where there is no /proc)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def live(cls) -> int:
    """How many objects of ``cls`` are alive. Variables and Functions hold
    other objects, so the cyclic collector tracks every one of them and
    gc.get_objects() sees them all."""
    return sum(1 for o in gc.get_objects() if isinstance(o, cls))


# ---------------------------------------------------------------- 1. training
def train_steps(steps, rss_every, count_every, seed=0):
    """``steps`` training steps of a small LSTM language model; returns the
    RSS samples, the live-object counts and the timing."""
    rng = np.random.default_rng(seed)
    mg.random.seed(seed)
    # Random ids: the corpus content does not matter to memory, its length
    # does not either (the batcher wraps round).
    corpus = rng.integers(0, VOCAB, size=BATCH * TIME * 100 + 1)
    batcher = TBPTTBatcher(corpus, BATCH, TIME)
    model = Rnnlm(VOCAB, HIDDEN, HIDDEN, rng=seed)
    opt = SGD(model, lr=0.5)
    opt.add_hook(ClipGradNorm(0.25))
    model.train()
    model.reset_state()
    # Counts go into an array allocated, and written through, before the
    # first step: a list of tuples would itself grow the RSS being measured.
    counts = np.full((steps // count_every + 1, 4), -1, dtype=np.int64)
    n_counts = 0
    samples, losses = [], []
    gc.collect()
    start = time.perf_counter()
    counting_s = 0.0
    for step in range(1, steps + 1):
        xs, ts = batcher.next_batch()
        loss = model.loss(xs, ts)
        model.zero_grad()
        loss.backward()
        opt.update()
        value = float(loss.data)
        del loss             # the step's graph is dropped here, as train_rnnlm does
        if step % count_every == 0:
            t0 = time.perf_counter()
            counts[n_counts] = (step, live(mg.Variable), live(mg.Function), saved.locked_count())
            n_counts += 1
            counting_s += time.perf_counter() - t0
        if step % rss_every == 0 or step == 1:
            samples.append((step, rss_mib()))
            losses.append((step, value))
    elapsed = time.perf_counter() - start
    expected = 2 * len(model.params()) + 2       # params, their grads, h and c
    return {"steps": steps, "samples": samples, "counts": counts[:n_counts].tolist(),
            "losses": losses,
            "seconds": elapsed - counting_s, "counting_s": counting_s,
            "ms_per_step": (elapsed - counting_s) * 1e3 / steps,
            "expected_variables": expected, "params": len(model.params())}


def summarize_training(r, warmup_steps):
    after = [(s, m) for s, m in r["samples"] if s >= warmup_steps]
    base = after[0][1]
    end = after[-1][1]
    peak = max(m for _, m in after)
    var_counts = sorted({c[1] for c in r["counts"]})
    fn_counts = sorted({c[2] for c in r["counts"]})
    locked = sorted({c[3] for c in r["counts"]})
    return {"warmup_steps": warmup_steps, "rss_at_warmup_mib": base, "rss_end_mib": end,
            "rss_peak_after_warmup_mib": peak, "rss_first_mib": r["samples"][0][1],
            "growth_pct": 100.0 * (end - base) / base,
            "peak_growth_pct": 100.0 * (peak - base) / base,
            "live_variables": var_counts, "live_functions": fn_counts, "locked_arrays": locked,
            "counted_steps": len(r["counts"]),
            "flat": (var_counts == [r["expected_variables"]] and fn_counts == [0]
                     and locked == [0] and 100.0 * (peak - base) / base < 5.0)}


# ---------------------------------------------------------------- 2. deep RNN
def step_by_step(layer_cls, *args, **kwargs):
    """The layer recording one graph node per operation of each time step, not
    one fused node for the whole sequence (where the layer offers one)."""
    if "fused" in inspect.signature(layer_cls.__init__).parameters:
        kwargs["fused"] = False
    return layer_cls(*args, **kwargs)


def unrolled(layer_cls, T, N=2, D=8, Hd=8, seed=0):
    """Forward and backward of ``layer_cls`` over T steps with the recursion
    limit lowered; returns timings and whether the gradient is finite."""
    rng = np.random.default_rng(seed)
    layer = step_by_step(layer_cls, D, Hd, rng=seed)
    xs = rng.standard_normal((N, T, D)).astype(np.float32)
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(RECURSION_LIMIT)
    error = None
    t0 = time.perf_counter()
    t1 = t2 = t0
    try:
        hs = layer(xs)
        loss = (hs * hs).sum()
        t1 = time.perf_counter()
        loss.backward()
        t2 = time.perf_counter()
        del hs, loss
    except RecursionError as e:
        error = f"RecursionError: {e}"
    finally:
        sys.setrecursionlimit(old)
    t3 = time.perf_counter()
    finite = error is None and all(np.isfinite(p.grad.data).all() for p in layer.params())
    return {"layer": layer_cls.__name__, "fused": bool(getattr(layer, "fused", False)), "T": T,
            "N": N, "D": D, "H": Hd, "error": error,
            "forward_s": t1 - t0, "backward_s": t2 - t1, "delete_s": t3 - t2,
            "total_s": t3 - t0, "finite_grads": bool(finite),
            "recursion_limit": RECURSION_LIMIT}


# ---------------------------------------------------------------- 3. chain
def deep_chain(n):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "engine_overhead.py")
    r = H.run_child(script, ["--child-deep", str(n), "1"])
    for key in ("forward_s", "backward_s", "delete_s"):
        if r.get(key):
            r[key] = r[key][0]
    return r


# ---------------------------------------------------------------- report
def report(env, quick, train, summary, rnns, chain):
    lines = [f"# Long runs{' (--quick)' if quick else ''}", "",
             *H.environment_lines(env), "",
             f"## 1. {train['steps']:,} training steps of an LSTM language model", "",
             f"V {VOCAB}, D = H {HIDDEN}, batch {BATCH}, time {TIME}, SGD lr 0.5 with "
             f"global-norm clipping 0.25; {train['ms_per_step']:.2f} ms per step "
             f"({train['seconds']:.1f} s, not counting the {train['counting_s']:.1f} s of "
             "object counting).", "",
             H.md_table(["", "value"], [
                 ["RSS at step 1", f"{summary['rss_first_mib']:.1f} MiB"],
                 [f"RSS after warm-up (step {summary['warmup_steps']:,})",
                  f"{summary['rss_at_warmup_mib']:.1f} MiB"],
                 [f"RSS at the end (step {train['steps']:,})",
                  f"{summary['rss_end_mib']:.1f} MiB"],
                 ["growth after warm-up (end)", f"{summary['growth_pct']:+.2f}%"],
                 ["growth after warm-up (peak)", f"{summary['peak_growth_pct']:+.2f}%"],
                 ["live Variables after each step (distinct counts)",
                  f"{summary['live_variables']} (expected {train['expected_variables']}: "
                  f"{train['params']} parameters, their gradients, h and c)"],
                 ["live Functions (graph nodes) after each step", str(summary["live_functions"])],
                 ["arrays still held read-only", str(summary["locked_arrays"])],
                 ["steps counted", f"{summary['counted_steps']:,}"],
                 ["flat (counts as expected, RSS growth < 5%)", str(summary["flat"])],
             ]), "",
             "RSS samples (step: MiB): " + ", ".join(f"{s}: {m:.1f}" for s, m in train["samples"]),
             "", "Loss samples (step: loss): " + ", ".join(f"{s}: {v:.3f}"
                                                         for s, v in train["losses"]), "",
             f"## 2. Recurrent layers unrolled, recursion limit {RECURSION_LIMIT}", "",
             H.md_table(["layer", "fused", "T", "N, D, H", "forward s", "backward s", "delete s",
                         "total s", "error", "finite grads"],
                        [[r["layer"], r["fused"], f"{r['T']:,}", f"{r['N']}, {r['D']}, {r['H']}",
                          f"{r['forward_s']:.2f}", f"{r['backward_s']:.2f}",
                          f"{r['delete_s']:.2f}", f"{r['total_s']:.2f}", r["error"] or "none",
                          r["finite_grads"]] for r in rnns]), "",
             f"## 3. A {chain['n']:,}-op chain (engine_overhead.py's depth test, fresh process)",
             "",
             H.md_table(["ops", "forward s", "backward s", "delete s", "peak RSS MiB", "error",
                         "arrays left read-only"],
                        [[f"{chain['n']:,}", f"{chain.get('forward_s') or 0:.2f}",
                          f"{chain.get('backward_s') or 0:.2f}",
                          f"{chain.get('delete_s') or 0:.2f}",
                          f"{chain['peak_rss_mib']:.0f}", chain["error"] or "none",
                          chain["locked_after"]]]), ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (about a minute)")
    ap.add_argument("--steps", type=int, help="training steps (default 10**4, 10**3 quick)")
    ap.add_argument("--count-every", type=int, default=1,
                    help="count live objects every N steps (default: every step)")
    args = ap.parse_args()
    H.limit_loaded_pools()
    steps = args.steps or (1_000 if args.quick else 10_000)
    rss_every = 100 if args.quick else 500
    T = 1_000 if args.quick else 10_000
    chain_n = 10**5 if args.quick else 10**6

    train = train_steps(steps, rss_every, args.count_every)
    summary = summarize_training(train, warmup_steps=max(rss_every, steps // 10))
    print(f"training: {train['ms_per_step']:.2f} ms/step, RSS {summary['rss_at_warmup_mib']:.1f}"
          f" -> {summary['rss_end_mib']:.1f} MiB ({summary['growth_pct']:+.2f}%), live Variables "
          f"{summary['live_variables']}, Functions {summary['live_functions']}, "
          f"locked {summary['locked_arrays']}", flush=True)
    rnns = [unrolled(L.RNN, T), unrolled(L.LSTM, T)]
    for r in rnns:
        print(f"{r['layer']} T={r['T']}: {r['total_s']:.2f} s, error {r['error']}", flush=True)
    chain = deep_chain(chain_n)
    print(f"chain {chain_n}: backward {chain.get('backward_s')} s, error {chain['error']}",
          flush=True)

    env = H.environment()
    # One row per counted step is too much for a results file: the summary
    # keeps the distinct counts.
    kept = {k: v for k, v in train.items() if k != "counts"}
    data = {"env": env, "quick": args.quick, "training": {**kept, "summary": summary},
            "unrolled": rnns, "chain": chain}
    paths = H.write_results("long_run", data,
                            report(env, args.quick, train, summary, rnns, chain))
    print("wrote", *paths)
    ok = summary["flat"] and all(r["error"] is None and r["finite_grads"] for r in rnns) \
        and chain["error"] is None
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
