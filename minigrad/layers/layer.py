"""Layer: a container of Parameters and sub-layers, registered in definition order."""
from __future__ import annotations

import numpy as np

from .. import backend
from .. import functions as F
from ..compiled import replayed
from ..core.variable import Variable
from ..errors import other_names
from .parameter import Parameter
from .serialization import load_state_dict as _load_state_dict
from .serialization import load_weights as _load_weights
from .serialization import save_weights as _save_weights
from .serialization import state_dict as _state_dict


@other_names   # PyTorch's and DeZero's names say what minigrad calls them
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

    A layer prints as the tree of its sub-layers and parameters:

    >>> print(Model())
    Model: 10 parameters
      fc: Affine()
        W: (3, 2) float64
        b: (2,) float64
      out: Affine()
        W: tied to fc.W
        b: (2,) float64

    Data given to a layer take the layer's dtype: floating-point arrays and
    Variables are cast to the dtype of its parameters, so a float32 model fed
    float64 numpy data computes in float32. The cast of a Variable is recorded
    (AsType), so its gradient still comes back in its own dtype. Layers whose
    input is numbers, never ids (``numeric_input = True``: Linear, TiedLinear,
    the recurrent layers and cells) also cast integer arrays and Python lists;
    elsewhere integer arrays (word ids, labels) pass unchanged, so a model hands
    its ids to its Embedding as they are.

    A parameter stays registered until it is deleted: assigning anything but a
    Parameter to its name raises a TypeError (``lin.W = lin.W - 0.1 * lin.W.grad``
    would otherwise drop W from the optimizer and the saved weights unseen).
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
        elif isinstance(children.get(name), Parameter):
            # Replacing a parameter by a plain value would drop it from
            # params(), the optimizer, state_dict() and save_weights unseen.
            raise TypeError(_replaced_parameter(self, name, value))
        else:
            children.pop(name, None)
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        self._children.pop(name, None)
        object.__delattr__(self, name)

    # True for layers whose input is numbers, never ids (Linear, the recurrent
    # layers): they also cast integer arrays and Python lists to their dtype.
    numeric_input = False

    def __call__(self, *args, **kwargs):
        # Runs at every layer call, so the usual case (data already in the
        # layer's dtype) costs a dtype comparison per argument and nothing more.
        numeric = self.numeric_input
        for a in (*args, *kwargs.values()) if kwargs else args:
            given = _castable_dtype(a, numeric)
            if given is None:
                continue
            some = self._some_dtype()
            if some is not None and given != some:   # (a dtype == None would compare as float64)
                dtype = self.dtype
                if dtype is not None:
                    xp = backend.get_array_module(self.params()[0].data)   # for a list
                    args = [_cast(a, dtype, numeric, xp) for a in args]
                    kwargs = {k: _cast(a, dtype, numeric, xp) for k, a in kwargs.items()}
                break
        return self.forward(*args, **kwargs)

    def _some_dtype(self):
        """The dtype of one of the layer's parameters (its own first one when
        it has one, which is quick to find), or None."""
        for child in self._children.values():
            if isinstance(child, Parameter):
                return child.data.dtype
        return self.dtype

    @property
    def dtype(self):
        """The dtype of the layer's parameters (None when it has none, or
        parameters of several dtypes): the dtype data given to it are cast to."""
        # Read on every call that gets floating-point input: a walk without
        # the lists named_params() builds.
        found, stack, seen = None, [self], set()
        while stack:
            layer = stack.pop()
            for child in layer._children.values():
                if isinstance(child, Parameter):
                    if found is None:
                        found = child.data.dtype
                    elif child.data.dtype != found:
                        return None
                elif id(child) not in seen:
                    seen.add(id(child))
                    stack.append(child)
        return found

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__}.forward is not defined")

    # ---------------------------------------------------------------- traversal
    def named_params(self, prefix: str = ""):
        """(dotted name, Parameter) pairs in definition order, each Parameter once
        (under the first name it is reachable by)."""
        return self._walk(prefix)

    def params(self):
        """Every Parameter once, in definition order."""
        return self._walk(None)

    def _walk(self, prefix):
        """The Parameters in definition order, with their dotted names unless
        ``prefix`` is None (no names: zero_grad runs it at every step)."""
        seen = set()
        stack = [(prefix, self)]
        out = []
        # Iterative depth-first walk in definition order.
        while stack:
            base, layer = stack.pop()
            nested = []
            for name, child in layer._children.items():
                full = None if base is None else f"{base}{name}"
                if isinstance(child, Parameter):
                    if id(child) not in seen:
                        seen.add(id(child))
                        out.append(child if base is None else (full, child))
                else:
                    nested.append((None if base is None else full + ".", child))
            # Sub-layers after this layer's own parameters, in order.
            stack.extend(reversed(nested))
        return out

    def layers(self):
        """Every sub-layer (recursively), each once, in definition order: a
        layer comes before its own sub-layers, as in :meth:`named_params`."""
        seen, out = set(), []
        stack = _sub_layers(self)
        while stack:
            layer = stack.pop()
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            stack += _sub_layers(layer)
        return out

    def parameters(self):
        """PyTorch's name for :meth:`params` (the same list)."""
        return self.params()


    # ---------------------------------------------------------------- printing
    def extra_repr(self) -> str:
        """The settings shown in the layer's line of the printed tree, as in
        ``Linear(3, 2, bias=True)``; a subclass overrides it."""
        return ""

    def __repr__(self):
        n = sum(p.size for p in self.params())
        head = type(self).__name__
        extra = self.extra_repr()
        lines = [f"{head}({extra})" if extra else head]
        lines[0] += f": {n:,} parameter{'' if n == 1 else 's'}"
        _tree(self, "  ", "", {}, {id(self): head}, lines)
        return "\n".join(lines)

    # ---------------------------------------------------------------- state
    @replayed   # a compiled step calls it again on every replay
    def zero_grad(self):
        """Drop every parameter's gradient, so that the next backward starts
        from zero (optimizers have the same method). ``cleargrads()`` is
        another name for it, the book's and DeZero's."""
        for p in self.params():
            p.cleargrad()

    cleargrads = zero_grad

    def train(self, mode: bool = True):
        """Training mode (dropout active); returns self."""
        for layer in [self] + self.layers():
            object.__setattr__(layer, "training", mode)
        return self

    def eval(self):
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    def state_dict(self) -> dict:
        """Copies of the parameters' arrays by dotted name, in memory (what
        save_weights writes to a file)."""
        return _state_dict(self)

    def load_state_dict(self, state: dict):
        """Set the parameters from a :meth:`state_dict`; nothing changes on a
        mismatch of names, shapes or dtypes. Returns self."""
        _load_state_dict(self, state)
        return self

    def save_weights(self, path):
        """Write the parameters to an .npz, atomically; as ``np.savez`` does,
        ``.npz`` is appended to ``path`` unless it ends with it. Returns the
        path written."""
        return _save_weights(self, path)

    def load_weights(self, path):
        """Load parameters saved by save_weights (from ``path``, or ``path``
        with ``.npz`` appended); nothing changes on a mismatch. Returns self."""
        _load_weights(self, path)
        return self

    def to_gpu(self):
        for p in self.params():
            p.to_gpu()
        return self

    def to_cpu(self):
        for p in self.params():
            p.to_cpu()
        return self



# A sentinel "dtype" for a Python list: never equal to a layer's dtype.
_LIST = "list"


def _castable_dtype(a, numeric):
    """The dtype of an input a layer casts to its dtype (a floating-point array
    or Variable; with ``numeric`` also an integer one, or a list), else None."""
    if isinstance(a, Variable):
        a = a.data
    elif not (isinstance(a, np.ndarray) or backend.is_cupy_array(a)):
        return _LIST if numeric and isinstance(a, list) else None
    kind = a.dtype.kind
    return a.dtype if kind == "f" or (numeric and kind in "iu") else None


def _cast(a, dtype, numeric, xp):
    given = _castable_dtype(a, numeric)
    if given is None or given == dtype:   # not `in (None, dtype)`: np.dtype(None) is float64
        return a
    if given is _LIST:   # onto the parameters' device (xp: numpy or cupy)
        return xp.asarray(a, dtype=dtype)
    # An operation, also for a plain array: a compiled step then replays the
    # cast on each new batch (a cast in Python would be frozen at the recording).
    return F.astype(a, dtype)


def _replaced_parameter(layer, name, value) -> str:
    what = f"{type(layer).__name__}.{name}"
    return (f"{what} is a Parameter; assigning a {type(value).__name__} to it would drop it "
            f"from params(), the optimizer, state_dict() and save_weights. Update it in "
            f"place instead (layer.{name}.data -= lr * layer.{name}.grad.data, or "
            f"layer.{name} -= ... under minigrad.no_grad()), assign a Parameter "
            f"(layer.{name} = Parameter(array)), or remove it first with del layer.{name}")


def _sub_layers(layer) -> list:
    """``layer``'s own sub-layers, last first (a stack pops them in order)."""
    return [c for c in reversed(list(layer._children.values())) if isinstance(c, Layer)]


def _tree(layer, indent, path, seen_params, seen_layers, lines):
    """The printed tree below ``layer``: its parameters, then its sub-layers,
    in definition order; something reachable twice is printed once and named
    where it is seen again."""
    for name, child in layer._children.items():
        full = f"{path}{name}"
        if isinstance(child, Parameter):
            first = seen_params.setdefault(id(child), full)
            if first != full:
                lines.append(f"{indent}{name}: tied to {first}")
            else:
                lines.append(f"{indent}{name}: {tuple(child.shape)} {child.dtype}")
    for name, child in layer._children.items():
        if isinstance(child, Parameter):
            continue
        full = f"{path}{name}"
        extra = child.extra_repr()
        head = f"{indent}{name}: {type(child).__name__}({extra})"
        first = seen_layers.setdefault(id(child), full)
        if first != full:
            lines.append(f"{head}, the same layer as {first}")
            continue
        lines.append(head)
        _tree(child, indent + "  ", full + ".", seen_params, seen_layers, lines)
