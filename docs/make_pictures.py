"""Draw every graph picture of the docs (seeing-the-graph.md, graph-nodes.md,
seq2seq.md) into docs/images/, and the schedule of a compiled step
(seeing-the-graph.md).

    python docs/make_pictures.py            # SVG, the committed files
    python docs/make_pictures.py --png      # PNG instead, e.g. to look at them
    python docs/make_pictures.py rnn add    # only these pictures

Needs the viz extra (`pip install 'minigrad[viz]'`) and Graphviz's `dot`
(`apt-get install graphviz`). The graphs are the ones in
``minigrad.viz.examples``, the same the golden DOT files of tests/test_viz.py
are drawn from, so rerunning this regenerates the committed images; the
multiply node, which the golden files do not cover, is built here.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

import minigrad as mg
from minigrad.viz import examples, plot, plot_schedule

IMAGES = Path(__file__).resolve().parent / "images"


def _added_backward():
    z, = examples.add()
    z.backward()  # so the picture can show the gradients too
    return (z,)


def _multiplied_backward():
    # The book's multiply node with the numbers of their figure's style: each
    # input's gradient is the other input, which the picture shows.
    x = mg.Variable(np.array(2.0, dtype=np.float32), name="x")
    y = mg.Variable(np.array(3.0, dtype=np.float32), name="y")
    z = x * y
    z.name = "z"
    z.backward()
    return (z,)


def _attention_decoder_step():
    # One step of the book's AttentionDecoder at its date sizes (V 59, D 16,
    # H 256, 29 encoder steps), its inputs leaves: models/seq2seq/pictures.py.
    sys.path.insert(0, str(IMAGES.parent.parent))
    from minigrad.data.sequence import numeric_dates, parse_lines
    from models.seq2seq import AttentionSeq2seq
    from models.seq2seq.pictures import decoder_step_graph

    model = AttentionSeq2seq(59, 16, 256, rng=0)
    scores = decoder_step_graph(model, parse_lines(numeric_dates(10)))
    # Its weights labelled by their paths in the decoder (lstm.Wx), as the
    # picture that `python -m models train attention-seq2seq` draws.
    return {"outputs": (scores,), "options": {"model": model.decoder}}


# picture name -> (graph, to_dot options); a graph may also give options of its
# own: {"outputs": ..., "options": ...}
PICTURES = {
    "add": (_added_backward, {"values": True, "grads": True}),
    "mul": (_multiplied_backward, {"values": True, "grads": True}),
    "branch": (examples.branch, {}),
    "reuse": (examples.reuse, {}),
    "repeat": (examples.repeat, {}),
    "sum": (examples.sum, {}),
    "matmul": (examples.matmul, {}),
    "affine": (examples.affine, {}),
    "linear": (examples.linear, {}),
    "gru_cell": (examples.gru_cell, {"compact": True, "dtypes": False}),
    "rnn": (examples.rnn, {"compact": True, "dtypes": False}),
    "rnn_collapsed": (examples.rnn, {"collapse": True, "dtypes": False}),
    "second_order": (examples.second_order, {"values": True}),
    "attention_decoder_step": (_attention_decoder_step, {"dtypes": False}),
}


def _linear_step_lowered():
    # The step of seeing-the-graph.md's schedule section: Linear(3, 1), the mean
    # squared error, SGD, compiled and called three times (the third lowers it).
    from minigrad import functions as F, layers as L, optimizers as O

    model = L.Linear(3, 1, rng=0)
    opt = O.SGD(model, lr=0.1)

    def train_step(x, t):
        model.zero_grad()
        loss = F.mean((model(x) - t) ** 2)
        loss.backward()
        opt.update()
        return loss

    fast = mg.compile(train_step, model)
    x, t = np.ones((4, 3), dtype=np.float32), np.zeros((4, 1), dtype=np.float32)
    for _ in range(4):
        fast(x, t)
    return fast


# picture name -> a compiled step whose schedule plot_schedule draws
SCHEDULES = {"linear_schedule": _linear_step_lowered}


def main(argv):
    suffix = ".png" if "--png" in argv else ".svg"
    only = [a for a in argv if not a.startswith("--")]
    for name, (build, options) in PICTURES.items():
        if only and name not in only:
            continue
        built = build()
        if isinstance(built, dict):
            built, options = built["outputs"], {**options, **built["options"]}
        picture = plot(*built, path=IMAGES / f"{name}{suffix}", **options)
        print(picture.path.relative_to(IMAGES.parent.parent))
    for name, build in SCHEDULES.items():
        if not only or name in only:
            picture = plot_schedule(build(), path=IMAGES / f"{name}{suffix}")
            print(picture.path.relative_to(IMAGES.parent.parent))


if __name__ == "__main__":
    main(sys.argv[1:])
