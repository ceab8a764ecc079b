"""Variable: an ndarray (numpy or cupy) plus what backprop needs to know about it.

Every method of Variable is in this file. The operators (``x * y``, ``x @ W``,
``x[i]``, ``x.sum()``) are one line each: they call the operation that
``minigrad.functions`` defines, through the ``ops`` table (core/ops.py).
"""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError, other_names
from . import ops
from .config import state


@other_names   # PyTorch's and DeZero's names say what minigrad calls them
class Variable:
    """A node of the computation graph: ``data`` and, after backward, ``grad``.

    ``requires_grad`` defaults to True for floating-point data and False for
    integer and boolean data. Plain arrays passed to operations are wrapped as
    constants (``requires_grad=False``): no gradient is computed for them.

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.array([1.0, 2.0, 3.0]), name="x")
    >>> y = (x * x).sum()
    >>> y.backward()
    >>> x.grad
    variable([2., 4., 6.])
    """

    __slots__ = ("data", "grad", "creator", "generation", "name", "requires_grad",
                 "_retain", "__weakref__")
    # cupy's operators defer to ours by this priority: ``cupy_array * v`` is a Variable.
    __array_priority__ = 200

    def __init__(self, data, name: str | None = None, requires_grad: bool | None = None):
        if type(data) is not np.ndarray:  # the common case needs no conversion
            data = data.data if isinstance(data, Variable) else backend.as_array(data)
        if requires_grad is None:
            requires_grad = data.dtype.kind in "fc"     # floating point: differentiable
        elif requires_grad and data.dtype.kind not in "fc":
            raise DTypeError(
                f"Variable: requires_grad=True needs floating-point data, got dtype {data.dtype} "
                f"with shape {data.shape}; convert it first, e.g. data.astype(np.float32)")
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None     # the Function that computed it; None for a leaf
        self.generation = 0     # its creator's generation + 1: orders the backward pass
        self.requires_grad = requires_grad
        self._retain = False

    # ----------------------------------------------------------- the graph
    def backward(self, grad=None, retain_graph=None, create_graph=False):
        """Backpropagate from this Variable: every leaf that requires a gradient
        and that it depends on gets ``dL/dleaf`` added to its ``.grad``.

        ``grad`` is the seed dL/dself (ones for a single-element output).
        ``retain_graph=True`` keeps the saved arrays so backward can run again.
        ``create_graph=True`` records the backward computation itself, so the
        gradients are differentiable (higher-order derivatives); it implies
        ``retain_graph=True`` unless told otherwise."""
        ops.backward(self, grad, retain_graph, create_graph)

    def retain_grad(self):
        """Keep this intermediate Variable's gradient after backward (leaves keep
        theirs always)."""
        self._retain = True
        return self

    def cleargrad(self):
        self.grad = None

    def detach(self) -> "Variable":
        """A new leaf sharing this data, outside any graph and needing no gradient."""
        return Variable(self.data, name=self.name, requires_grad=False)

    def unchain(self) -> "Variable":
        """Cut this Variable from its creator in place: it becomes a leaf, and
        nothing upstream of it is reached by later backward passes.

        In place means for every graph that uses it: an output computed earlier
        from this Variable no longer backpropagates past it either. To carry a
        state into the next batch of truncated BPTT while keeping the old graph
        whole, carry ``detach()`` instead (the recurrent layers do)."""
        self.creator = None
        self.generation = 0
        return self

    def unchain_backward(self) -> "Variable":
        """Cut every link upstream of this Variable, iteratively (no recursion),
        so an old graph's memory is released even if someone still holds a node."""
        stack = [self.creator] if self.creator is not None else []
        seen = set()
        while stack:
            f = stack.pop()
            if f in seen:
                continue
            seen.add(f)
            for x in f.inputs or ():
                if isinstance(x, Variable) and x.creator is not None:
                    stack.append(x.creator)
                    x.unchain()
        return self.unchain()

    # ----------------------------------------------------------- array facts
    @property
    def shape(self):
        return self.data.shape

    @property
    def ndim(self):
        return self.data.ndim

    @property
    def size(self):
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError(f"len() of a 0-d Variable (a single number, dtype {self.data.dtype}): "
                            "it has no length; float(v) or v.item() is its value")
        return len(self.data)

    def __repr__(self):
        if self.data is None:
            return "variable(None)"
        body = np.array2string(backend.as_numpy(self.data), separator=", ", prefix="variable(")
        dtype = "" if self.data.dtype in (np.float64, np.int64, np.bool_) else f", dtype={self.data.dtype}"
        return f"variable({body}{dtype})"

    def item(self):
        """The value of a one-element Variable as a Python number."""
        return self._number("item()")

    def tolist(self):
        """The data as (nested lists of) Python numbers, as ``ndarray.tolist``."""
        _reading("tolist()")
        return self.data.tolist()

    def numpy(self):
        """The data as a numpy array (copied from the GPU if needed)."""
        _reading("numpy()")
        return backend.as_numpy(self.data)

    # ----------------------------------------------------------- one number
    # A one-element Variable, of any number of axes, converts as a numpy scalar
    # or a PyTorch tensor does: float(loss), f"{loss:.3f}", round(loss, 3),
    # if loss < best: ... A larger one raises, naming its shape.
    def _number(self, use):
        _reading(use)
        if self.data.size != 1:
            raise ShapeError(
                f"{use}: the Variable has shape {self.data.shape} ({self.data.size} elements), "
                "not a single number; take one element (v[i].item()), reduce it first "
                "(v.sum(), v.mean()), or use the array (v.numpy(), v.data)")
        return self.data.item()

    def __float__(self): return float(self._number("float()"))
    def __int__(self): return int(self._number("int()"))
    def __bool__(self): return bool(self._number("a truth value"))
    def __round__(self, ndigits=None): return round(self._number("round()"), ndigits)

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise DTypeError(f"an index needs integer data, got a Variable of dtype "
                             f"{self.data.dtype}; convert it with int(v)")
        return self._number("an index")

    def __format__(self, spec):
        if not spec:
            return str(self)
        return format(self._number(f"format {spec!r}"), spec)

    # ----------------------------------------------------------- comparisons
    # numpy's, on the data: boolean arrays with no gradient. A mask is a
    # constant of the graph, so ``x * (x > 0)`` records a Mul by a constant.
    # ``==`` is elementwise too, and Variables stay hashable by identity (as
    # PyTorch's tensors): look Variables up in a dict or a set, not a list.
    __hash__ = object.__hash__

    def __eq__(self, other): return _compared(self) == _operand(other)
    def __ne__(self, other): return _compared(self) != _operand(other)
    def __lt__(self, other): return _compared(self) < _operand(other)
    def __le__(self, other): return _compared(self) <= _operand(other)
    def __gt__(self, other): return _compared(self) > _operand(other)
    def __ge__(self, other): return _compared(self) >= _operand(other)

    # ----------------------------------------------------------- operators
    # Each records the operation of minigrad.functions named in the call:
    # x * y is the book's Mul node, Mul().apply(x, y).
    def __add__(self, other): return ops.Add().apply(self, other)
    def __radd__(self, other): return ops.Add().apply(other, self)
    def __sub__(self, other): return ops.Sub().apply(self, other)
    def __rsub__(self, other): return ops.Sub().apply(other, self)
    def __mul__(self, other): return ops.Mul().apply(self, other)
    def __rmul__(self, other): return ops.Mul().apply(other, self)
    def __truediv__(self, other): return ops.Div().apply(self, other)
    def __rtruediv__(self, other): return ops.Div().apply(other, self)
    def __neg__(self): return ops.Neg().apply(self)
    def __pow__(self, exponent): return ops.pow(self, exponent)
    def __matmul__(self, other): return ops.matmul(self, other)
    def __rmatmul__(self, other): return ops.matmul(other, self)
    def __abs__(self): return ops.abs(self)
    def __getitem__(self, index): return ops.get_item(self, index)

    # ----------------------------------------------------------- ndarray-like methods
    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return ops.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 0:
            axes = None
        elif len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return ops.transpose(self, axes)

    @property
    def T(self):
        return ops.transpose(self, None)

    def sum(self, axis=None, keepdims=False): return ops.sum(self, axis, keepdims)
    def mean(self, axis=None, keepdims=False): return ops.mean(self, axis, keepdims)
    def max(self, axis=None, keepdims=False): return ops.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return ops.min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return ops.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return ops.argmin(self, axis, keepdims)
    def logsumexp(self, axis=None, keepdims=False): return ops.logsumexp(self, axis, keepdims)
    def astype(self, dtype): return ops.astype(self, dtype)
    def copy(self): return ops.copy(self)
    def flatten(self): return ops.flatten(self)
    def squeeze(self, axis=None): return ops.squeeze(self, axis)
    def expand_dims(self, axis): return ops.expand_dims(self, axis)
    def clip(self, lo, hi): return ops.clip(self, lo, hi)
    # The element-wise functions as methods, as PyTorch's tensors have them.
    def abs(self): return ops.abs(self)
    def exp(self): return ops.exp(self)
    def log(self): return ops.log(self)
    def log1p(self): return ops.log1p(self)
    def sqrt(self): return ops.sqrt(self)
    def sin(self): return ops.sin(self)
    def cos(self): return ops.cos(self)
    def tanh(self): return ops.tanh(self)
    def sigmoid(self): return ops.sigmoid(self)
    def relu(self): return ops.relu(self)
    def leaky_relu(self, slope=0.2): return ops.leaky_relu(self, slope)

    # ----------------------------------------------------------- numpy's calls
    # np.tanh(v), ndarray * v, np.concatenate([v, w]) run minigrad's operations;
    # np.asarray(v) gives the data of a constant; the rest is explained
    # (minigrad/functions/numpy_protocol.py).
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return ops.array_ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return ops.array_function(func, args, kwargs)

    def __array__(self, dtype=None, copy=None):
        return ops.array(self, dtype, copy)

    # ----------------------------------------------------------- devices
    def to_gpu(self) -> "Variable":
        """Move data and gradient to the GPU in place; returns self."""
        return self._move(backend.as_cupy)

    def to_cpu(self) -> "Variable":
        """Move data and gradient to the CPU in place; returns self."""
        return self._move(backend.as_numpy)

    def _move(self, convert):
        self.data = convert(self.data)
        if isinstance(self.grad, Variable):
            self.grad._move(convert)
        elif self.grad is not None:
            self.grad = self.grad.moved(convert)   # sparse rows: indices and rows
        return self



def _operand(x):
    return x.data if isinstance(x, Variable) else x


def _reading(use):
    """A value is read into Python: a compiled step, while it records, refuses
    it (a replay would not read it again)."""
    if state.recorder is not None:
        state.recorder.read(use)


def _compared(v):
    _reading("a comparison")   # computed outside any operation, like a read
    return v.data
