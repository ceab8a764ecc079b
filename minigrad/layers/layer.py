"""Layer: a container of Parameters and sub-layers, registered in definition order."""
from __future__ import annotations

from .parameter import Parameter
from .serialization import load_weights as _load_weights
from .serialization import save_weights as _save_weights


class Layer:
    """Base of every layer and model.

    Assigning a Parameter or a Layer to an attribute registers it, in the order
    of assignment (never a set, so the order is the same in every run and the
    same across ``PYTHONHASHSEED`` values). ``params()`` yields each Parameter
    once even when it is reachable twice (a tied or shared weight), so an
    optimizer updates it once with its summed gradient.

    >>> import numpy as np
    >>> from minigrad.layers import Layer, Parameter
    >>> class Affine(Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.W = Parameter(np.zeros((3, 2)))
    ...         self.b = Parameter(np.zeros(2))
    ...     def forward(self, x):
    ...         return x @ self.W + self.b
    >>> class Model(Layer):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.fc = Affine()
    ...         self.out = Affine()
    ...         self.out.W = self.fc.W            # shared weight: counted once
    >>> [name for name, _ in Model().named_params()]
    ['fc.W', 'fc.b', 'out.b']
    """

    def __init__(self):
        # Set through object.__setattr__: our own __setattr__ reads them.
        object.__setattr__(self, "_children", {})
        object.__setattr__(self, "training", True)

    def __setattr__(self, name, value):
        children = self.__dict__.get("_children")
        if children is None:
            raise RuntimeError(f"{type(self).__name__}: call super().__init__() before assigning "
                               "attributes in __init__")
        if isinstance(value, (Parameter, Layer)):
            children[name] = value
        else:
            children.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._children.pop(name, None)
        object.__delattr__(self, name)

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    # ---------------------------------------------------------------- traversal
    def named_params(self, prefix: str = ""):
        """(dotted name, Parameter) pairs in definition order, each Parameter once
        (under the first name it is reachable by)."""
        seen = set()
        stack = [(prefix, self)]
        out = []
        # Iterative depth-first walk in definition order.
        while stack:
            base, layer = stack.pop()
            nested = []
            for name, child in layer._children.items():
                full = f"{base}{name}"
                if isinstance(child, Parameter):
                    if id(child) not in seen:
                        seen.add(id(child))
                        out.append((full, child))
                else:
                    nested.append((full + ".", child))
            # Sub-layers after this layer's own parameters, in order.
            stack.extend(reversed(nested))
        return out

    def params(self):
        """Every Parameter once, in definition order."""
        return [p for _, p in self.named_params()]

    def layers(self):
        """Every sub-layer (recursively), each once, in definition order."""
        seen, out, stack = set(), [], [self]
        while stack:
            layer = stack.pop()
            for child in reversed(list(layer._children.values())):
                if isinstance(child, Layer) and id(child) not in seen:
                    seen.add(id(child))
                    out.append(child)
                    stack.append(child)
        return out

    # ---------------------------------------------------------------- state
    def cleargrads(self):
        for p in self.params():
            p.cleargrad()

    def train(self, mode: bool = True):
        """Training mode (dropout active); returns self."""
        for layer in [self] + self.layers():
            object.__setattr__(layer, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    def save_weights(self, path):
        """Write the parameters to an .npz at ``path``, atomically."""
        _save_weights(self, path)

    def load_weights(self, path):
        """Load parameters saved by save_weights; nothing changes on a mismatch."""
        _load_weights(self, path)

    def to_gpu(self):
        for p in self.params():
            p.to_gpu()
        return self

    def to_cpu(self):
        for p in self.params():
            p.to_cpu()
        return self
