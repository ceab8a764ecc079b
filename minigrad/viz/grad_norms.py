"""A picture of ||dL/dh_t|| over time steps: vanishing and exploding gradients.

The book (chapter 6) shows why a plain RNN forgets: the gradient reaching step
t shrinks (or grows) geometrically as it travels back from the loss. A
sequence layer built with ``trace_grads=True`` records that gradient's norm per
step (``layer.grad_norms()``); this draws it on a log scale, where geometric
decay is a straight line.
"""
from __future__ import annotations

import numpy as np

__all__ = ["plot_grad_norms"]


def _matplotlib_figure():
    try:
        # The submodules are imported explicitly: no pyplot, so no GUI backend
        # is chosen and this works on a headless machine.
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as e:
        raise ImportError("plot_grad_norms needs matplotlib: pip install 'minigrad[plot]' "
                          "(the norms themselves come from layer.grad_norms(), no matplotlib "
                          "needed)") from e
    fig = Figure(figsize=(6, 3.5))
    FigureCanvasAgg(fig)
    return fig


def plot_grad_norms(norms, path=None, *, labels=None, log=True, title=None):
    """Draw one or more traces of ||dL/dh_t|| against t; save to ``path`` (PNG,
    SVG or PDF by its suffix) if given; return the matplotlib Figure.

    ``norms`` is one sequence of T numbers (``layer.grad_norms()``) or a list
    of them (several layers or epochs), named by ``labels``.
    """
    traces = [np.asarray(norms, dtype=np.float64)] if np.ndim(norms[0]) == 0 else \
        [np.asarray(n, dtype=np.float64) for n in norms]
    if labels is not None and len(labels) != len(traces):
        raise ValueError(f"plot_grad_norms: {len(traces)} traces but {len(labels)} labels")
    for k, trace in enumerate(traces):
        if trace.ndim != 1 or trace.size == 0:
            raise ValueError(f"plot_grad_norms: trace {k} must be a non-empty 1-D sequence of "
                             f"norms (one per time step), got shape {trace.shape}")
    fig = _matplotlib_figure()
    ax = fig.add_subplot(1, 1, 1)
    for k, trace in enumerate(traces):
        ax.plot(np.arange(trace.size), trace, marker=".",
                label=None if labels is None else labels[k])
    if log and all((t > 0).any() for t in traces):
        ax.set_yscale("log")
    ax.set_xlabel("time step t")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title or "gradient norm per time step")
    if labels is not None:
        ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(str(path))
    return fig
