"""What a training run leaves behind besides its weights: the history as JSON
and its curves as a PNG, both written atomically."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..atomic import atomic_write

__all__ = ["save_outputs", "save_metrics", "plot_history", "to_builtin"]


def to_builtin(value):
    """numpy scalars/arrays and Paths as JSON-friendly Python values.

    >>> to_builtin({"loss": np.float32(0.5), "shape": np.arange(2), "dir": Path("runs")})
    {'loss': 0.5, 'shape': [0, 1], 'dir': 'runs'}
    """
    if isinstance(value, dict):
        return {str(k): to_builtin(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_builtin(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    return value


def save_metrics(history, path) -> str:
    """The history as indented JSON at ``path`` (atomically); returns the path."""
    text = json.dumps(to_builtin(history), indent=2, allow_nan=True) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))
    return str(path)


# The curves a history may hold: (x key, y key, label, style). x None: one
# point per epoch, at the iteration that ends it.
_PERPLEXITY = (("train_iters", "train_ppl", "train perplexity", "-"),
               (None, "valid_ppl", "valid perplexity", "o-"))
_LOSS = (("train_iters", "train_loss", "train loss", "-"),)
_ACCURACY = ((None, "train_accuracy", "train accuracy", "o-"),
             (None, "test_accuracy", "test accuracy", "s-"),
             (None, "valid_accuracy", "valid accuracy", "s-"))


def _curves(history, kinds):
    per = history.get("iters_per_epoch") or 1
    for x_key, y_key, label, style in kinds:
        ys = history.get(y_key)
        if not ys:
            continue
        xs = history.get(x_key) if x_key else [per * (i + 1) for i in range(len(ys))]
        yield xs[:len(ys)], ys, label, style


def _draw(history, fig):
    """Perplexity (log scale) for language models, else the loss; accuracies
    per epoch on a second axis when the history has them."""
    ax = fig.add_subplot(1, 1, 1)
    kinds, ylabel = (_PERPLEXITY, "perplexity") if history.get("train_ppl") else (_LOSS, "loss")
    lines = []
    for xs, ys, label, style in _curves(history, kinds):
        lines += ax.plot(xs, ys, style, label=label)
    if ylabel == "perplexity":
        ax.set_yscale("log")     # perplexity falls over orders of magnitude early on
    ax.set_ylabel(ylabel)
    ax.set_xlabel("iteration")
    accuracy = list(_curves(history, _ACCURACY))
    if accuracy:
        right = ax.twinx()
        for (xs, ys, label, style), color in zip(accuracy, ("C2", "C3", "C4")):
            lines += right.plot(xs, ys, style, color=color, label=label)
        right.set_ylabel("accuracy")
        right.set_ylim(0, 1.02)
    ax.set_title(str(history.get("model", "")))
    ax.grid(True, alpha=0.3)
    ax.legend(lines, [line.get_label() for line in lines], loc="best")


def _has_curve(history) -> bool:
    keys = ("train_ppl", "train_loss", "train_accuracy", "test_accuracy", "valid_accuracy")
    return any(history.get(k) for k in keys)


def new_figure(size=(6, 4)):
    """A matplotlib Figure on the Agg canvas (no pyplot: no global backend switch,
    no GUI, nothing leaked), or None with a note when matplotlib is missing."""
    try:
        # The package itself first, so that a missing (or blocked) matplotlib is
        # noticed even when its submodules are cached.
        import matplotlib  # noqa: F401
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        print("note: matplotlib is not installed, so no plot was written; "
              "pip install 'minigrad[plot]' to get plots")
        return None
    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    return fig


def save_figure(fig, path) -> str:
    """Write a figure as PNG at ``path``, atomically; returns the path."""
    fig.tight_layout()
    atomic_write(path, lambda f: fig.savefig(f, format="png"))
    return str(path)


def plot_history(history, path):
    """The history's curves as a PNG at ``path``; returns the path, or None when
    there is nothing to draw or matplotlib is missing (a note says so)."""
    if not _has_curve(history):
        return None
    fig = new_figure()
    if fig is None:
        return None
    _draw(history, fig)
    return save_figure(fig, path)


def save_outputs(history, out_dir, name):
    """Write ``out_dir/{name}_metrics.json`` (the history) and
    ``out_dir/{name}_curves.png`` (perplexity or loss against iterations, and
    accuracies per epoch), both atomically. Returns ``{"metrics": path, "plot":
    path or None}``. Without matplotlib only the JSON is written, and a note
    says how to get plots."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"metrics": save_metrics(history, out_dir / f"{name}_metrics.json")}
    paths["plot"] = plot_history(history, out_dir / f"{name}_curves.png")
    return paths
