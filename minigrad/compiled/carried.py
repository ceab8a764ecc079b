"""Carried state: Variables a model keeps from one call to the next (a
stateful RNN's ``h`` and ``c``).

Any attribute of the model's layers holding a Variable that is not one of its
parameters is state. Whether each is present (None after ``reset_state()``)
and its shape are part of a compiled step's signature. After a recording,
every such attribute the call changed is carried: a replay reads its current
value into the Variable the recorded operations read it from, and at the end
points the attribute to the Variable holding the new value."""
from __future__ import annotations

from ..core.variable import Variable
from .rules import CompileError
from .views import OutputView


def walk(model) -> list:
    """The model and its sub-layers."""
    return [model] + list(model.layers())


def present_state(layers, params) -> dict:
    """{(layer position, attribute): (layer, Variable)} of every state present now."""
    found = {}
    for i, layer in enumerate(layers):
        for name, value in vars(layer).items():
            if isinstance(value, Variable) and id(value) not in params:
                found[(i, name)] = (layer, value)
    return found


def state_signature(found) -> tuple:
    return tuple((key, tuple(v.shape), str(v.dtype)) for key, (_, v) in found.items())


class Carried:
    __slots__ = ("layer", "name", "before", "after", "view")

    def __init__(self, layer, name, before, after, view):
        self.layer, self.name = layer, name
        self.before, self.after, self.view = before, after, view

    def read(self):
        """Before a replay: the state as it is now, into the recorded input."""
        if self.before is not None:
            self.before.data = getattr(self.layer, self.name).data

    def write(self):
        """After a replay: the attribute points to the new value."""
        if self.view is not None:
            self.view.refresh()
        setattr(self.layer, self.name, self.after)


def carried_between(before, after, outputs, is_argument) -> list:
    """The states a recorded call changed, as :class:`Carried`."""
    out = []
    for key in list(after) + [k for k in before if k not in after]:
        layer = (after.get(key) or before[key])[0]
        old = before[key][1] if key in before else None
        new = after[key][1] if key in after else None
        if new is old:
            continue
        view = None
        if new is not None and not is_argument(new.data):
            view = OutputView.find(new, outputs)
            if view is None:
                raise CompileError(
                    f"compile: {type(layer).__name__}.{key[1]} was set during the step to a "
                    f"Variable of shape {tuple(new.shape)} that no operation of the step "
                    "computed, so a replay could not update it; compute it with minigrad "
                    "operations, or run this step eagerly")
        out.append(Carried(layer, key[1], old, new, view))
    return out
