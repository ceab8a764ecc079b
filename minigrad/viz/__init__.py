"""Drawing the recorded graph: :func:`to_dot` (DOT text) and :func:`plot` (a
picture through Graphviz: shown inline in Jupyter, or written to SVG, PNG, PDF
or any format Graphviz writes).

Variables are ellipses, operations boxes labelled with their names (Add, Mul,
MatMul, Repeat, Sum, ...). A Variable used more than once is drawn through a
Branch node, as the book draws it: its backward sums the gradients of the uses.
Operations created inside ``minigrad.name_scope`` blocks are grouped into one
cluster per scope, and ``collapse`` draws whole scopes as single boxes.

The drawing is deterministic: node ids follow a fixed walk of the graph, so the
same code gives the same DOT text on every run. Neither ``import minigrad`` nor
``import minigrad.viz`` imports the optional ``graphviz`` package; only
:func:`plot` needs it.

>>> import numpy as np, minigrad as mg
>>> from minigrad.viz import to_dot
>>> x = mg.Variable(np.array(2.0, dtype=np.float32), name="x")
>>> y = mg.Variable(np.array(3.0, dtype=np.float32), name="y")
>>> z = x + y
>>> z.name = "z"
>>> print(to_dot(z))  # doctest: +ELLIPSIS
digraph minigrad {
  ...
  v0 [label="x\\nscalar float32", shape=ellipse, ...];
  v1 [label="y\\nscalar float32", shape=ellipse, ...];
  f0 [label="Add", shape=box, ...];
  v2 [label="z\\nscalar float32", shape=ellipse, ..., penwidth=2];
  v0 -> f0;
  v1 -> f0;
  f0 -> v2;
}
"""
from __future__ import annotations

import os

from ..core.variable import Variable
from . import dot, labels
from .graph import Graph
from .grad_norms import plot_grad_norms
from .render import GraphvizNotFoundError, Picture, PictureFormatError, plot_source
from .compiled_schedule import plot_schedule, schedule, schedule_text, schedule_to_dot

__all__ = ["to_dot", "plot", "plot_grad_norms", "Picture", "GraphvizNotFoundError",
           "PictureFormatError", "schedule", "schedule_text", "schedule_to_dot",
           "plot_schedule"]


def to_dot(*outputs, shapes=True, dtypes=True, names=True, values=False, grads=False,
           preview=6, generations=False, details=True, branches=True, repeats=True,
           clusters=True, collapse=None, compact=False, rankdir="LR", model=None) -> str:
    """DOT source for the graph that produced ``outputs`` (Variables).

    Labels: ``names`` (set by the user), ``shapes`` and ``dtypes`` on variable
    nodes; ``values`` and ``grads`` add the data and the gradient (the numbers
    of arrays of at most ``preview`` elements, else their L2 norm);
    ``generations`` adds each node's generation (its rank in backward order);
    ``details`` adds an operation's settings (``axis=0``, ``c=3``, ...).

    Structure: ``branches`` draws a Branch node where a Variable has two or
    more uses; ``repeats`` draws a Repeat node where an elementwise operation
    (Add, Sub, Mul, Div) broadcast an input that needs a gradient, such as the
    bias of ``x @ W + b`` (both added by the drawer, drawn dashed: the engine
    sums the gradients of the uses, and of the copies, exactly as the book's
    Branch and Repeat nodes do); ``clusters`` groups the operations of each ``name_scope``;
    ``collapse`` draws scopes as single boxes: True (every outermost scope), a
    scope name, a collection of names, or a predicate on names such as
    ``lambda s: s != "t=9"``. ``compact`` draws unnamed intermediate
    Variables as labelled arrows between operations, as the book's figures
    do, instead of as nodes. ``rankdir`` is "LR" (left to right, as the book
    draw) or "TB".

    ``model``: the Layer whose parameters the graph uses. A parameter's own
    name is its attribute (``W``, ``b``), the same in every layer; given the
    model, each is labelled with its path instead (``affine1.W``,
    ``lstm.Wx``), as ``model.named_params()`` names it.

    To see how a gradient is computed, draw it after
    ``backward(create_graph=True)``: ``to_dot(x.grad)``.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.ones(3), name="x")
    >>> lines = to_dot(x * x, shapes=False, dtypes=False).splitlines()
    >>> [line.strip().split(" [")[0].rstrip(";") for line in lines[4:]]
    ['v0', 'b0', 'f0', 'v1', 'v0 -> b0', 'b0 -> f0', 'b0 -> f0', 'f0 -> v1', '}']
    """
    if not outputs:
        raise ValueError("to_dot: pass the Variables to draw, e.g. to_dot(loss)")
    for y in outputs:
        if not isinstance(y, Variable):
            raise TypeError(f"to_dot: expected Variables, got {type(y).__name__}")
    if rankdir not in ("LR", "TB", "RL", "BT"):
        raise ValueError(f"to_dot: rankdir must be 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
    if not isinstance(preview, int) or preview < 0:
        raise ValueError(f"to_dot: preview must be a non-negative int, got {preview!r}")
    graph = Graph(outputs, branches=branches, repeats=repeats, collapse=collapse,
                  clusters=clusters, compact=compact)
    options = dict(shapes=shapes, dtypes=dtypes, names=names, values=values, grads=grads,
                   preview=preview, generations=generations, details=details, rankdir=rankdir,
                   paths=labels.parameter_paths(model))
    return dot.write(graph, options)


def plot(*outputs, path=None, format=None, **options) -> Picture:
    """Draw the graph of ``outputs`` with Graphviz; ``options`` are those of
    :func:`to_dot`. Returns a :class:`Picture`, which Jupyter shows inline.

    Without a path the picture is rendered in memory (SVG unless ``format``
    says otherwise) and no file is written: ``plot(loss)`` as the last line of
    a notebook cell shows the graph. With a path, given by keyword or as the
    last positional argument (``plot(loss, "graph.png")``), the picture is
    also written there, atomically, in the format its ending names (or
    ``format``): svg, png, pdf or any other format ``dot`` writes.

    Needs the ``graphviz`` package (``pip install 'minigrad[viz]'``) and the
    ``dot`` program (``apt-get install graphviz``, ``brew install graphviz`` or
    ``conda install graphviz``). Without either it raises
    :class:`GraphvizNotFoundError`, after writing the DOT source next to
    ``path`` when one was given (``graph.png`` -> ``graph.dot``).
    """
    if outputs and isinstance(outputs[-1], (str, os.PathLike)):
        if path is not None:
            raise TypeError("plot: the path was given twice, as the last argument and as path=")
        outputs, path = outputs[:-1], outputs[-1]
    return plot_source(to_dot(*outputs, **options), path, format)
