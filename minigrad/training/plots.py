"""The book's pictures, for any model: loss curves, the chapter-1 decision
boundary and attention maps (chapter 8).

Each function draws into a new matplotlib Figure; with ``path`` it writes
it there as PNG (atomically) and returns the path, without it returns the
Figure (a notebook shows it). matplotlib is optional (``pip install
'minigrad[plot]'``): without it a note says so and the function returns None.
No pyplot: nothing global changes, no window opens. docs/training.md shows
each of them.
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..core.config import no_grad
from ..core.variable import Variable
from .outputs import new_figure, save_figure

__all__ = ["plot_loss", "plot_decision_boundary", "plot_attention_maps"]


def _finish(fig, path):
    return fig if path is None else save_figure(fig, path)


def plot_loss(losses, path=None, *, every=1, ylim=None, label="train", title=None):
    """The book's loss curve: ``losses`` (one value per report, e.g.
    ``trainer.loss_list`` or ``history["train_loss"]``) against the
    iterations, one report every ``every`` iterations."""
    fig = new_figure()
    if fig is None:
        return None
    ax = fig.add_subplot(1, 1, 1)
    ax.plot(np.arange(1, len(losses) + 1) * every, losses, label=label)
    if ylim is not None:
        ax.set_ylim(*ylim)
    ax.set_xlabel("iterations" if every == 1 else f"iterations (x{every})")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return _finish(fig, path)


def _scores(model, x):
    """The model's class scores for ``x``: ``model.predict(x)``, else ``model(x)``."""
    predict = getattr(model, "predict", None) or model
    with no_grad():
        scores = predict(x)
    if isinstance(scores, Variable):
        scores = scores.data
    return backend.as_numpy(scores)


def plot_decision_boundary(model, x, t, path=None, *, step=0.005, title=None):
    """The book's chapter-1 figure: the regions the model gives to each
    class over the plane of the 2-D points ``x``, with the points on top, each
    region in its class's colour. ``t``: class ids, or one-hot rows. The
    scores come from ``model.predict(points)`` (or ``model(points)``), one row
    of class scores per point."""
    fig = new_figure(size=(5, 5))
    if fig is None:
        return None
    from matplotlib.colors import ListedColormap

    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(f"plot_decision_boundary: x must be (N, 2) points of the plane, got "
                         f"shape {x.shape}")
    labels = np.asarray(t).argmax(axis=1) if np.ndim(t) == 2 else np.asarray(t)
    lo, hi = x.min(axis=0) - 0.1, x.max(axis=0) + 0.1
    xx, yy = np.meshgrid(np.arange(lo[0], hi[0], step), np.arange(lo[1], hi[1], step))
    grid = np.c_[xx.ravel(), yy.ravel()].astype(x.dtype if x.dtype.kind == "f" else np.float64)
    regions = _scores(model, grid).argmax(axis=1).reshape(xx.shape)
    classes = max(int(labels.max()), int(regions.max())) + 1
    colors = [f"C{k}" for k in range(classes)]
    ax = fig.add_subplot(1, 1, 1)
    ax.contourf(xx, yy, regions, levels=np.arange(classes + 1) - 0.5, alpha=0.25,
                cmap=ListedColormap(colors))
    for k, marker in zip(range(classes), "ox^sv" * classes):
        ax.scatter(*x[labels == k].T, s=20, marker=marker, color=colors[k], label=f"class {k}")
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_aspect("equal")
    ax.legend(loc="upper right", fontsize="small")
    if title:
        ax.set_title(title)
    return _finish(fig, path)


def plot_attention_maps(maps, path=None, *, cols=3):
    """Attention maps, ``cols`` to a row (the book's visualize_attention.py):
    ``maps`` is a list of ``(weights, source tokens, target tokens)``, the
    weights (target steps, source steps) as an Attention layer's
    ``attention_weights`` of one example; source tokens across, target tokens
    down, white where the decoder looked."""
    if not maps:
        raise ValueError("plot_attention_maps: no maps to draw")
    cols = min(cols, len(maps))
    rows = -(-len(maps) // cols)
    fig = new_figure(size=(4.6 * cols, 3.4 * rows))
    if fig is None:
        return None
    for k, (weights, source, target) in enumerate(maps):
        weights = backend.as_numpy(weights.data if isinstance(weights, Variable) else weights)
        if weights.shape != (len(target), len(source)):
            raise ValueError(f"plot_attention_maps: map {k} is {weights.shape}, but has "
                             f"{len(target)} target and {len(source)} source tokens; "
                             f"weights must be (target steps, source steps)")
        ax = fig.add_subplot(rows, cols, k + 1)
        ax.imshow(weights, cmap="gray", vmin=0.0, vmax=1.0, aspect="auto")
        ax.set_xticks(range(len(source)))
        ax.set_xticklabels(source, fontsize=7)
        ax.set_yticks(range(len(target)))
        ax.set_yticklabels(target, fontsize=8)
        ax.set_title(repr("".join(map(str, source)).rstrip()), fontsize=8)
    return _finish(fig, path)
