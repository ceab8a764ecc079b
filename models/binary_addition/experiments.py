"""The course notes' binary-addition experiments, reproduced on minigrad.

    python -m models experiment binary-addition [--seeds 5] [--jobs 2] [--out DIR]

The notes train their RNN adder (models.binary_addition.NotesAdder: sigmoid
hidden units, no biases, hidden 16, weights 1.0 * randn, squared error, SGD
lr 0.1 on one random pair per iteration, 10,000 iterations) and report what
happens when one setting changes. Every setting below runs over the same
seeds (a seed fixes the pairs and, where the shapes allow, the weights, so
settings are compared on the same draws). For each run: the number of
iterations until the running accuracy of the last 100 pairs reaches 100%
(or "not converged" by the last iteration), and the final accuracy over all
128 x 128 sums. The verdict on each of the notes' claims compares medians
over the runs (one random seed each) with the notes' own setting ("baseline").

Writes DIR/table.md (the tables, atomically), DIR/results.json (every run)
and DIR/loss_curves.png (needs matplotlib; without it a note says so).
"""
from __future__ import annotations

import io
import json
import math
import os
import time
from multiprocessing import get_context

import numpy as np

from minigrad.atomic import atomic_write

# (name, group, what changes from the notes' program, NotesAdder's arguments and lr)
SETTINGS = [
    ("baseline", "-", "the notes' program", {}),
    ("std 0.5", "weight_init_std", "weights 0.5 * randn", {"weight_init_std": 0.5}),
    ("std 2.0", "weight_init_std", "weights 2.0 * randn", {"weight_init_std": 2.0}),
    ("lr 0.01", "learning rate", "SGD lr 0.01", {"lr": 0.01}),
    ("lr 1.0", "learning rate", "SGD lr 1.0", {"lr": 1.0}),
    ("lr 3.0", "learning rate", "SGD lr 3.0", {"lr": 3.0}),
    ("hidden 8", "hidden size", "8 hidden units", {"hidden_size": 8}),
    ("hidden 32", "hidden size", "32 hidden units", {"hidden_size": 32}),
    ("hidden 128", "hidden size", "128 hidden units", {"hidden_size": 128}),
    ("Xavier", "initialisation", "randn / sqrt(fan_in)", {"init": "xavier"}),
    ("He", "initialisation", "randn * sqrt(2 / fan_in)", {"init": "he"}),
    ("ReLU", "hidden units", "ReLU hidden units", {"nonlinearity": "relu"}),
    ("tanh", "hidden units", "tanh hidden units", {"nonlinearity": "tanh"}),
]
SETTING = {name: (group, text, kwargs) for name, group, text, kwargs in SETTINGS}

# The notes' claims: (setting, what the notes say, expected: "slower" | "faster" | "fails").
CLAIMS = [
    ("std 0.5", "weight_init_std 0.5 converges more slowly than 1.0", "slower"),
    ("std 2.0", "weight_init_std 2.0 converges more slowly than 1.0", "slower"),
    ("lr 0.01", "learning rate 0.01 is slower", "slower"),
    ("lr 1.0", "learning rate 1.0 is faster", "faster"),
    ("lr 3.0", "learning rate 3.0 does not learn", "fails"),
    ("hidden 8", "hidden size 8 is slower", "slower"),
    ("hidden 32", "hidden size 32 is faster", "faster"),
    ("hidden 128", "hidden size 128 is slower", "slower"),
    ("Xavier", "Xavier initialisation is slower", "slower"),
    ("He", "He initialisation is slower", "slower"),
]
CURVE_WINDOW = 100   # the loss curves: mean loss over each 100 iterations (the notes plot every 100)


def run_one(task):
    """One run, in a worker: (setting name, seed, iterations) -> a JSON-able dict."""
    from .model import NotesAdder, notes_streams, train_notes_adder

    name, seed, iterations = task
    start = time.perf_counter()
    options = dict(SETTING[name][2])
    lr = options.pop("lr", 0.1)                  # the rest are the model's
    weights_rng, pairs_rng = notes_streams(seed)
    model = NotesAdder(rng=weights_rng, **options)
    # The notes' program trains on through a diverging setting (lr 3.0 gives NaN).
    run = train_notes_adder(model, iterations=iterations, lr=lr, rng=pairs_rng,
                            progress=False, stop_on_nonfinite=False)
    elapsed = time.perf_counter() - start
    usable = iterations // CURVE_WINDOW * CURVE_WINDOW
    losses = np.asarray(run["loss"])
    curve = losses[:usable].reshape(-1, CURVE_WINDOW).mean(axis=1) if usable else []
    return {"setting": name, "seed": seed, "converged_at": run["converged_at"],
            "accuracy": run["accuracy"], "seconds": elapsed,
            "loss_curve": [None if not math.isfinite(v) else float(v) for v in curve]}


def run_all(names, seeds, iterations, jobs, say=print):
    """Every (setting, seed) run, in ``jobs`` processes; results in a stable order."""
    tasks = [(name, seed, iterations) for name in names for seed in seeds]
    # Biggest first, so that no process is left with a long run at the end.
    tasks.sort(key=lambda t: -SETTING[t[0]][2].get("hidden_size", 16))
    results = []
    if jobs > 1:
        with get_context("fork").Pool(jobs) as pool:
            for r in pool.imap_unordered(run_one, tasks):
                results.append(r)
                say(_progress(r, len(results), len(tasks)))
    else:
        for task in tasks:
            results.append(run_one(task))
            say(_progress(results[-1], len(results), len(tasks)))
    order = {name: i for i, name in enumerate(names)}
    return sorted(results, key=lambda r: (order[r["setting"]], r["seed"]))


def _progress(r, done, total):
    at = "not converged" if r["converged_at"] is None else f"100% after {r['converged_at']}"
    return (f"[{done:>3}/{total}] {r['setting']:<10} seed {r['seed']}: {at}, accuracy "
            f"{r['accuracy']:.4f} ({r['seconds']:.1f} s)")


# ================================================================ summary and verdicts
def summarize(results, iterations):
    """Per setting: each seed's convergence iterations (inf when not converged),
    their median, how many converged, and the final accuracies."""
    out = {}
    for name in dict.fromkeys(r["setting"] for r in results):
        rs = [r for r in results if r["setting"] == name]
        its = [math.inf if r["converged_at"] is None else r["converged_at"] for r in rs]
        accs = [r["accuracy"] for r in rs]
        out[name] = {"iterations": its, "median": float(np.median(its)),
                     "converged": sum(math.isfinite(i) for i in its), "runs": len(rs),
                     "accuracies": accs, "mean_accuracy": float(np.mean(accs)),
                     "seeds": [r["seed"] for r in rs], "iterations_limit": iterations}
    return out


def verdict(expected, mine, base):
    """(agrees?, why) for one claim: medians of the iterations to 100%,
    not converged counting as more than any number; when both medians are
    'not converged', the mean final accuracy decides (lower is slower)."""
    m, b = mine["median"], base["median"]
    if expected == "fails":
        ok = mine["converged"] == 0
        return ok, (f"{mine['converged']} of {mine['runs']} runs converged, mean final accuracy "
                    f"{mine['mean_accuracy']:.1%}")
    why = f"median {_its(m)} vs {_its(b)}"
    if math.isinf(m) and math.isinf(b):
        slower = mine["mean_accuracy"] < base["mean_accuracy"]
        faster = mine["mean_accuracy"] > base["mean_accuracy"]
        why += (f" (neither median converged: mean final accuracy "
                f"{mine['mean_accuracy']:.1%} vs {base['mean_accuracy']:.1%})")
    else:
        slower, faster = m > b, m < b
    return (slower if expected == "slower" else faster), why


def _its(v):
    return "not converged" if math.isinf(v) else f"{v:.0f}"


def tables(summary, iterations, seeds):
    """The markdown report: every setting, then the notes' claims with a verdict."""
    base = summary.get("baseline")
    lines = [f"Each row: {len(seeds)} runs (seeds {', '.join(map(str, seeds))}), "
             f"{iterations:,} iterations of SGD on one random pair each. **Iterations** "
             "until the running accuracy of the last 100 pairs reaches 100% (median over "
             "the runs, then each run's; n.c. = not converged); **final accuracy** over all "
             "128 x 128 sums (mean, then min-max).", "",
             "| setting | changed from the notes' program | converged | iterations, median | "
             "iterations, each seed | final accuracy, mean | min-max |",
             "|---|---|---|---|---|---|---|"]
    for name, s in summary.items():
        each = ", ".join("n.c." if math.isinf(i) else f"{i:.0f}" for i in s["iterations"])
        lines.append(f"| {name} | {SETTING[name][1]} | {s['converged']}/{s['runs']} | "
                     f"{_its(s['median'])} | {each} | {s['mean_accuracy']:.1%} | "
                     f"{min(s['accuracies']):.1%}-{max(s['accuracies']):.1%} |")
    claims = [c for c in CLAIMS if c[0] in summary]
    if base is not None and claims:
        lines += ["", "| the notes' claim | minigrad's runs | agree? |", "|---|---|---|"]
        for name, text, expected in claims:
            ok, why = verdict(expected, summary[name], base)
            lines.append(f"| {text} | {why} | {'**yes**' if ok else '**no**'} |")
        others = [n for n in ("ReLU", "tanh") if n in summary]
        if others:
            lines.append("")
            lines.append("The notes state no claim for " + " and ".join(others) + " hidden units; "
                         "their rows above show what minigrad's runs do.")
    return "\n".join(lines) + "\n"


# ================================================================ the picture
def plot(results, path):
    """Mean loss curve over the runs of every setting, one panel per group
    (the notes' program in each); written atomically. Returns False without
    matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return False
    present = {r["setting"] for r in results}
    groups = [g for g in dict.fromkeys(group for name, group, _, _ in SETTINGS
                                       if name in present) if g != "-"]
    groups = groups or ["-"]
    cols = min(3, len(groups))
    rows = -(-len(groups) // cols)
    fig = Figure(figsize=(4.3 * cols, 3.2 * rows))
    FigureCanvasAgg(fig)
    names = [name for name, _, _, _ in SETTINGS if name in present]
    for k, group in enumerate(groups):
        ax = fig.add_subplot(rows, cols, k + 1)
        for name in names:
            if name != "baseline" and SETTING[name][0] != group:
                continue
            curves = np.array([[np.nan if v is None else v for v in r["loss_curve"]]
                               for r in results if r["setting"] == name], dtype=np.float64)
            if curves.size == 0 or np.isnan(curves).all():
                continue
            with np.errstate(all="ignore"):
                mean = np.nanmean(curves, axis=0)
            x = (np.arange(mean.size) + 1) * CURVE_WINDOW
            ax.plot(x, mean, label=name, lw=2.2 if name == "baseline" else 1.2,
                    color="black" if name == "baseline" else None)
        ax.set_title(group if group != "-" else "the notes' program")
        ax.set_xlabel("iteration")
        if k % cols == 0:
            ax.set_ylabel(f"loss, mean of {CURVE_WINDOW} iterations")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90)
    atomic_write(path, lambda f: f.write(buffer.getvalue()))
    return True


# ================================================================ the command
def main(args, say=print):
    """Run the settings of ``args`` (seeds, iterations, jobs, only, out: the
    options of ``python -m models experiment``) and write the outputs."""
    names = list(SETTING) if not args.only else [n.strip() for n in args.only.split(",")]
    unknown = [n for n in names if n not in SETTING]
    if unknown:
        raise SystemExit(f"experiment binary-addition: unknown setting(s) {unknown}; choose "
                         f"from {', '.join(SETTING)}")
    if args.seeds < 1 or args.iterations < 1 or args.jobs < 1:
        raise SystemExit("experiment binary-addition: --seeds, --iterations and --jobs must be "
                         "at least 1")
    seeds = list(range(args.seeds))
    out_dir = args.out or os.path.join("runs", "experiments", "binary-addition")
    os.makedirs(out_dir, exist_ok=True)
    say(f"the course notes' binary adder: {len(names)} settings x {len(seeds)} seeds x "
        f"{args.iterations:,} iterations, {args.jobs} process(es)")
    start = time.perf_counter()
    results = run_all(names, seeds, args.iterations, args.jobs, say)
    wall = time.perf_counter() - start
    summary = summarize(results, args.iterations)
    report = ("# The course notes' binary-addition experiments on minigrad\n\n"
              + tables(summary, args.iterations, seeds)
              + f"\n{len(results)} runs in {wall:.0f} s with {args.jobs} process(es).\n")
    paths = {"table": os.path.join(out_dir, "table.md"),
             "results": os.path.join(out_dir, "results.json"),
             "plot": os.path.join(out_dir, "loss_curves.png")}
    atomic_write(paths["table"], lambda f: f.write(report.encode()))
    record = {"iterations": args.iterations, "seeds": seeds, "jobs": args.jobs,
              "wall_s": wall, "runs": results}
    atomic_write(paths["results"], lambda f: f.write(json.dumps(record, indent=1).encode()))
    if not plot(results, paths["plot"]):
        paths["plot"] = None
        say("note: matplotlib is not installed, so no loss curves were drawn "
            "(pip install 'minigrad[plot]')")
    say("")
    say(report)
    say("outputs:")
    for key, path in paths.items():
        say(f"  {key:<8} {path or '(none)'}")
    return 0
