"""The pictures of chapters 7 and 8: test accuracy by epoch of several runs in
one figure (the book's plain / reversed / Peeky comparison), attention maps of
date questions (the book's visualize_attention.py), and the graph of one
decoder step with attention, drawn by minigrad.viz from what the step records.

Every PNG is written atomically; without matplotlib (or Graphviz, for the
graph) a note says what is missing and nothing is written.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.training.outputs import new_figure, save_figure

__all__ = ["plot_accuracy_by_epoch", "read_accuracy_runs", "attention_maps",
           "plot_attention_maps", "decoder_step_graph", "plot_decoder_step_graph"]


# ---------------------------------------------------------------- accuracy by epoch
def read_accuracy_runs(paths) -> list:
    """``(label, test accuracies)`` of each metrics JSON that a seq2seq training
    run wrote (its ``label``, else the file name)."""
    runs = []
    for path in paths:
        history = json.loads(Path(path).read_text(encoding="utf-8"))
        if not history.get("test_accuracy"):
            raise ValueError(f"{path}: no test_accuracy in these metrics; pass the "
                             "*_metrics.json of a seq2seq or attention-seq2seq run")
        runs.append((history.get("label") or Path(path).stem, history["test_accuracy"]))
    return runs


def plot_accuracy_by_epoch(runs, path, title="Test accuracy by epoch"):
    """One line per ``(label, accuracies)`` run, epochs from 1, accuracy in %,
    as the book's figure 7-23 / 7-26. Returns the path, or None without
    matplotlib."""
    fig = new_figure(size=(6, 4))
    if fig is None:
        return None
    ax = fig.add_subplot(1, 1, 1)
    for (label, accuracies), marker in zip(runs, "os^dv<>" * len(runs)):
        epochs = np.arange(1, len(accuracies) + 1)
        ax.plot(epochs, 100 * np.asarray(accuracies), marker=marker, label=label)
    ax.set(xlabel="epoch", ylabel="test accuracy (%)", ylim=(-2, 102), title=title)
    ax.grid(True, alpha=0.3)
    ax.legend(loc="best")
    return save_figure(fig, path)


# ---------------------------------------------------------------- attention maps
def attention_maps(model, data, reverse=True, count=5, seed=1984):
    """The book's visualize_attention.py: ``count`` test questions drawn with
    ``RandomState(seed).randint`` (the book's ``np.random.seed(1984)``), each
    run with teacher forcing; returns ``[(map, question characters, answer
    characters)]``, the map (answer steps, question steps) in reading order."""
    rng = np.random.RandomState(seed)
    x_test, t_test = data.split("test", reverse)
    out = []
    for _ in range(count):
        i = rng.randint(0, len(x_test))
        x, t = x_test[i:i + 1], t_test[i:i + 1]
        with mg.no_grad():
            model.forward(x, t[:, :-1])
        weights = mg.to_cpu(model.decoder.attention.attention_weights)[0]     # (Td, Te)
        question = x[0]
        if reverse:                                 # back to the order the question is written
            weights, question = weights[:, ::-1], question[::-1]
        out.append((weights, list(data.decode(question)), list(data.decode(t[0, 1:]))))
    return out


def plot_attention_maps(model, data, path, reverse=True, count=5, seed=1984):
    """The maps of :func:`attention_maps`, three to a row, drawn by
    :func:`minigrad.training.plots.plot_attention_maps`: question characters across,
    answer characters down, white where the decoder looked."""
    from minigrad.training.plots import plot_attention_maps as draw

    return draw(attention_maps(model, data, reverse, count, seed), path)


# ---------------------------------------------------------------- one decoder step
def decoder_step_graph(model, data=None):
    """One step of an AttentionSeq2seq's decoder as a recorded graph: the
    previous character ``x`` (1, 1), the LSTM state ``h``, ``c`` and the
    encoder's states ``hs_enc`` are leaves (so the picture stops there),
    ``scores`` the output. Returns the output Variable to draw."""
    H = model.decoder.lstm.hidden_size
    Te = data.question_width if data is not None else 7
    rng = np.random.default_rng(0)
    dtype = model.decoder.affine.W.dtype
    hs_enc = mg.Variable(rng.standard_normal((1, Te, H)).astype(dtype), name="hs_enc")
    h = mg.Variable(rng.standard_normal((1, H)).astype(dtype), name="h")
    c = mg.Variable(rng.standard_normal((1, H)).astype(dtype), name="c")
    x = mg.Variable(np.zeros((1, 1), dtype=np.int64), name="x")
    scores, _ = model.decoder.run(x, (h, c), hs_enc)
    scores.name = "scores"
    return scores


def plot_decoder_step_graph(model, path, data=None):
    """Draw :func:`decoder_step_graph` into ``path`` (.png); the DOT text is
    written beside it whatever happens. Returns the PNG path, or None with a
    note when Graphviz is missing."""
    from minigrad.viz import GraphvizNotFoundError, plot, to_dot

    from minigrad.atomic import atomic_write

    scores = decoder_step_graph(model, data)
    path = Path(path)
    # Labelled by their paths in the decoder (lstm.Wx, affine.W), as its boxes are.
    dot = to_dot(scores, model=model.decoder)
    atomic_write(path.with_suffix(".dot"), lambda f: f.write(dot.encode("utf-8")))
    try:
        plot(scores, path=path, model=model.decoder)
    except GraphvizNotFoundError as exc:
        print(f"note: Graphviz is missing, so only {path.with_suffix('.dot')} was written "
              f"({exc.__class__.__name__}); pip install graphviz and apt-get install graphviz")
        return None
    return str(path)
