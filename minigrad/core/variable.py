"""Variable: an ndarray (numpy or cupy) plus what backprop needs to know about it."""
from __future__ import annotations

import numpy as np

from .. import backend
from ..errors import DTypeError, ShapeError


def _differentiable(dtype) -> bool:
    return dtype.kind in "fc"


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
    # numpy's functions and operators on a Variable run minigrad's operations:
    # core/numpy_protocol.py adds __array_ufunc__, __array_function__ and
    # __array__ to this class. cupy's operators defer by priority instead, to
    # our reflected operators: ``cupy_array * Variable`` is a Variable.
    __array_priority__ = 200

    def __init__(self, data, name: str | None = None, requires_grad: bool | None = None):
        if isinstance(data, Variable):
            data = data.data
        data = backend.as_array(data)
        if requires_grad is None:
            requires_grad = _differentiable(data.dtype)
        elif requires_grad and not _differentiable(data.dtype):
            raise DTypeError(
                f"Variable: requires_grad=True needs floating-point data, got dtype {data.dtype} "
                f"with shape {data.shape}; convert it first, e.g. data.astype(np.float32)"
            )
        self.data = data
        self.name = name
        self.grad = None
        self.creator = None
        self.generation = 0
        self.requires_grad = requires_grad
        self._retain = False

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
        return self.data.item()

    def tolist(self):
        """The data as (nested lists of) Python numbers, as ``ndarray.tolist``."""
        return self.data.tolist()

    def numpy(self):
        """The data as a numpy array (copied from the GPU if needed)."""
        return backend.as_numpy(self.data)

    # ----------------------------------------------------------- one number
    # A one-element Variable, of any number of axes, converts as a numpy scalar
    # or a PyTorch tensor does: float(loss), f"{loss:.3f}", "%.2f" % loss,
    # round(loss, 3), if loss < best: ... A larger one raises, naming its shape.

    def _number(self, use):
        if self.data.size != 1:
            raise ShapeError(
                f"{use}: the Variable has shape {self.data.shape} ({self.data.size} elements), "
                "not a single number; take one element (v[i].item()), reduce it first "
                "(v.sum(), v.mean()), or use the array (v.numpy(), v.data)")
        return self.data.item()

    def __float__(self):
        return float(self._number("float()"))

    def __int__(self):
        return int(self._number("int()"))

    def __index__(self):
        if self.data.dtype.kind not in "iu":
            raise DTypeError(f"an index needs integer data, got a Variable of dtype "
                             f"{self.data.dtype}; convert it with int(v)")
        return self._number("an index")

    def __bool__(self):
        return bool(self._number("a truth value"))

    def __round__(self, ndigits=None):
        return round(self._number("round()"), ndigits)

    def __format__(self, spec):
        if not spec:
            return str(self)
        return format(self._number(f"format {spec!r}"), spec)

    # Comparisons are numpy's, on the data: boolean arrays (numpy or cupy, as
    # ``data``), with no gradient. A mask is a constant of the graph, so
    # ``x * (x > 0)`` records a Mul by a constant, and backward code compares
    # the same way on arrays and on Variables. ``==`` is elementwise too, and
    # Variables stay hashable by identity (as PyTorch's tensors): dicts and sets
    # of Variables (the backward pass keeps its gradients in one) compare
    # hashes, then identity, never values. What compares with ``==``
    # (``v in a_list``, ``list.index``, weakref.WeakKeyDictionary) compares
    # values: look Variables up in a dict or a set instead.
    __hash__ = object.__hash__

    def __eq__(self, other):
        return self.data == _operand(other)

    def __ne__(self, other):
        return self.data != _operand(other)

    def __lt__(self, other):
        return self.data < _operand(other)

    def __le__(self, other):
        return self.data <= _operand(other)

    def __gt__(self, other):
        return self.data > _operand(other)

    def __ge__(self, other):
        return self.data >= _operand(other)

    # ----------------------------------------------------------- the graph
    # backward() is added to this class by core/backward.py (the backward pass
    # uses operations, and operations are built on Variable), and Python's
    # operators (+, *, @, [], .reshape(), .sum(), ...) by minigrad.functions,
    # which defines the operations they stand for.

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

    # ----------------------------------------------------------- devices
    def to_gpu(self) -> "Variable":
        """Move data (and grad) to the GPU in place; returns self."""
        self.data = backend.as_cupy(self.data)
        if isinstance(self.grad, Variable):
            self.grad.to_gpu()
        elif self.grad is not None:  # sparse rows: not worth moving, dropped
            self.grad = None
        return self

    def to_cpu(self) -> "Variable":
        """Move data (and grad) to the CPU in place; returns self."""
        self.data = backend.as_numpy(self.data)
        if isinstance(self.grad, Variable):
            self.grad.to_cpu()
        elif self.grad is not None:
            self.grad = None
        return self


def _operand(x):
    return x.data if isinstance(x, Variable) else x


def as_variable(x, like=None) -> Variable:
    """``x`` if it is a Variable, else a constant Variable (requires_grad=False).

    Python numbers take the dtype of ``like`` (a reference array) when given."""
    if isinstance(x, Variable):
        return x
    return Variable(backend.as_array(x, like), requires_grad=False)


def array_of(x):
    """The raw array behind ``x``: Variable.data, or ``x`` itself as an array.
    (Never getattr(x, "data"): an ndarray's .data is its memoryview.)"""
    if isinstance(x, Variable):
        return x.data
    return backend.as_array(x)


def _make(data, requires_grad: bool, creator=None, generation: int = 0) -> Variable:
    """The constructor operations use: ``data`` is already an array, so none of
    ``Variable.__init__``'s conversions and checks (it runs once per operation)."""
    v = _new(Variable)
    v.data = data
    v.grad = v.name = None
    v.creator = creator
    v.generation = generation
    v.requires_grad = requires_grad
    v._retain = False
    return v


_new = object.__new__


def get_array_module(*xs):
    """numpy, or cupy if any argument (an array or a Variable) lives on the GPU.

    >>> import numpy as np
    >>> get_array_module(Variable(np.zeros(2)), 2.0).__name__
    'numpy'
    """
    return backend.get_array_module(*[x.data if isinstance(x, Variable) else x for x in xs])


def to_gpu(x):
    """An array's (or a Variable's data's) copy on the GPU; ``Variable.to_gpu()``
    moves a Variable in place."""
    return backend.as_cupy(x.data if isinstance(x, Variable) else x)


def to_cpu(x):
    """An array's (or a Variable's data's) numpy version, copied from the GPU if needed."""
    return backend.as_numpy(x.data if isinstance(x, Variable) else x)
