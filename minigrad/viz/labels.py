"""The text on each node: names, shapes, dtypes, value and gradient summaries.

Numbers are formatted here, not by numpy's print options, so a user's
``np.set_printoptions`` never changes the DOT output.
"""
from __future__ import annotations

from .. import backend

def number(x) -> str:
    """A number in at most 4 significant digits.

    >>> number(3.14159), number(2.0), number(7), number(True)
    ('3.142', '2', '7', 'True')
    """
    if isinstance(x, (bool, int)):
        return str(x)
    if isinstance(x, complex):
        return format(x, ".4g")
    return format(float(x), ".4g")


def _nested(a) -> str:
    if a.ndim == 0:
        return number(a.item())
    return "[" + " ".join(_nested(row) for row in a) + "]"


def summary(array, preview: int) -> str:
    """The values of a small array, or the L2 norm of a larger one.

    >>> import numpy as np
    >>> summary(np.array([[1.0, 2.5], [3.0, 4.0]]), preview=6)
    '[[1 2.5] [3 4]]'
    >>> summary(np.ones(100), preview=6)
    'norm 10'
    """
    if array.size <= preview:
        return _nested(backend.as_numpy(array))
    xp = backend.get_array_module(array)
    return "norm " + number(xp.sqrt((array.astype("float64") ** 2).sum()))


def shape_dtype(data, shapes: bool, dtypes: bool) -> str:
    """'(2, 3) float32', 'scalar float32', or a part of it."""
    parts = []
    if shapes:
        parts.append("scalar" if data.ndim == 0 else str(tuple(data.shape)))
    if dtypes:
        parts.append(str(data.dtype))
    return " ".join(parts)


def parameter_paths(model) -> dict:
    """id of each parameter of ``model`` (a Layer, or None) -> its dotted path
    (``affine1.W``): a parameter's own name is only its attribute (``W``), the
    same in every layer, so a drawing of a model names it by its path."""
    if model is None:
        return {}
    if not hasattr(model, "named_params"):
        raise TypeError(f"to_dot: model must be a Layer (something with named_params()), "
                        f"got {type(model).__name__}")
    return {id(p): path for path, p in model.named_params()}


def _name(v, o):
    """The name a label gives ``v``: its path in the drawn model, else its own."""
    return o.get("paths", {}).get(id(v)) or v.name


def _called(v, o) -> str:
    """How a label refers to ``v``: its name, else its shape."""
    return _name(v, o) or ("scalar" if v.ndim == 0 else str(tuple(v.shape)))


def variable_label(v, o, info=None) -> str:
    """The lines of a Variable's label under options ``o`` (a dict); ``info``
    is the drawn node's, which says whether ``v`` is a drawn leaf's ``.grad``."""
    lines = []
    name = _name(v, o)
    literal = is_constant(v) and v.data.size == 1 and not (o["names"] and name)
    owner = (info or {}).get("grad_of")
    if o["names"] and name:
        lines.append(name)
    elif o["names"] and owner is not None:
        lines.append(f"{_called(owner, o)}.grad")
    elif literal:
        lines.append(number(v.data.reshape(()).item()))  # a literal such as the 1 of 1 - z
    facts = shape_dtype(v.data, o["shapes"], o["dtypes"])
    if facts:
        lines.append(facts)
    if o["values"] and not literal:
        lines.append("data " + summary(v.data, o["preview"]))
    if o["grads"] and v.grad is not None:
        lines.append("grad " + summary(v.grad.data, o["preview"]))
    if o["generations"]:
        lines.append(f"gen {v.generation}")
    return "\n".join(lines)


def _axes_text(axes) -> str:
    return f"axis {axes[0]}" if len(axes) == 1 else f"axes {tuple(axes)}"


def _sum_to_note(f, info, o):
    """SumTo is the backward of a broadcast (the book's Repeat): which axes it sums."""
    big = getattr(f, "in_shape", None)
    if big is None:
        return f"to {f.shape}"
    lead = len(big) - len(f.shape)
    axes = list(range(lead)) + [lead + i for i, n in enumerate(f.shape)
                                if n == 1 and big[lead + i] != 1]
    return f"sums {_axes_text(axes)}: {big} to {f.shape}" if axes else f"to {f.shape}"


def _copy_note(f, info, o):
    owner = (info or {}).get("grad_of")
    return None if owner is None else f"own array for {_called(owner, o)}.grad"


# Operations whose second line is a sentence rather than their settings.
NOTES = {"SumTo": _sum_to_note, "Copy": _copy_note}


def op_tooltip(f, o, info=None):
    """The longer explanation shown when the mouse rests on an operation (SVG),
    for the operations of a gradient's graph that a reader did not write."""
    if f.name == "SumTo":
        return ("the backward of a broadcast (the book's Repeat): sums the gradients of the "
                "copies down to the input's shape")
    if f.name == "Copy" and _copy_note(f, info, o):
        return ("the engine copies a gradient that shares memory with another array before "
                "storing it in .grad, so that no two .grad arrays alias")
    return None


def op_label(f, o, info=None) -> str:
    """The lines of an operation's label; ``info`` is the drawn node's."""
    lines = [f.name]
    if o["details"]:
        parts = []
        for attr in getattr(f, "drawn", ()):  # each operation names its own
            attr, shown = attr if isinstance(attr, tuple) else (attr, attr)
            value = getattr(f, attr, None)
            if value is not None:
                parts.append(f"{shown}={_short(value)}")
        note = NOTES.get(f.name)
        if note is not None:
            parts = [text for text in [note(f, info, o)] if text]
        if parts:
            lines.append(", ".join(parts))
    if o["generations"]:
        lines.append(f"gen {f.generation}")
    return "\n".join(lines)


def repeat_label(info, o) -> str:
    """The label of a Repeat node the drawer added: the axes numpy broadcast
    along, written as the Repeat operation writes its own settings."""
    lines = ["Repeat"]
    if o["details"]:
        axes = info["axes"]
        if len(axes) == 1:
            (axis, times), = axes
            lines.append(f"repeats={times}, axis={axis}")
        else:
            lines.append(f"repeats={tuple(t for _, t in axes)}, "
                         f"axes={tuple(a for a, _ in axes)}")
    return "\n".join(lines)


def _short(value) -> str:
    if isinstance(value, float):
        return number(value)
    if isinstance(value, type):  # AsType(np.float32)
        return value.__name__
    if isinstance(value, list):
        value = tuple(value)
    text = str(value)
    return text if len(text) <= 24 else text[:21] + "..."


def is_constant(v) -> bool:
    """A leaf that needs no gradient: an array or number wrapped by an operation."""
    return v.creator is None and not v.requires_grad
