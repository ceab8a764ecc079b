"""A strict test device: arrays that behave as CuPy's do, on a machine without a GPU.

Most code that fails on the GPU fails for one of a few reasons that numpy never
shows: a numpy array and a cupy array mixed in one operation (``ls *= mask``
with the mask left on the CPU), a numpy call that CuPy does not take
(``np.add.at`` on a cupy array), or a cupy array handed to numpy where numpy
wants its own (``np.asarray``). The strict device makes these fail the same
way on the CPU, so a test suite catches them before the first GPU run:

* its arrays (:class:`StrictArray`) hold their values in numpy but refuse to be
  converted to numpy implicitly (``__array__`` raises CuPy's TypeError); their
  ``.get()`` returns a numpy copy, as a cupy array's does;
* :data:`xp`, the module that plays ``cupy``'s role, computes with numpy's
  functions, but refuses numpy arrays among their arguments (Python numbers,
  numpy scalars and 0-d arrays are fine, as in CuPy); ``xp.asarray`` and
  ``xp.array`` are the explicit transfer from the host, as in CuPy;
* ``ufunc.at`` is absent (CuPy had none before v12; :func:`scatter_add` plays
  ``cupyx.scatter_add``, which every CuPy has), and so is the old
  ``scatter_add`` that CuPy removed;
* indexing takes device indexes only. CuPy copies a numpy index array (or
  assigned values) to the GPU on every call, silently; the strict device asks
  for that copy to be written out (``to_gpu(idx)``), once.

Turn it on with :func:`enabled` (or :func:`enable` and :func:`disable`): while
it is on, ``minigrad.to_gpu`` and ``Variable.to_gpu()`` move data to it and
``minigrad.get_array_module`` returns :data:`xp` for its arrays, as they would
for cupy on a GPU. It does not replace a run on a real GPU (it says nothing
about speed, memory or CUDA itself); it makes the first one likely to pass.

>>> import numpy as np, minigrad as mg
>>> from minigrad.testing import strict_device
>>> with strict_device.enabled() as xp:
...     w = mg.to_gpu(np.arange(6.0).reshape(3, 2))
...     rows = w[xp.asarray([0, 2])]                  # an index on the device: fine
...     try:
...         w[np.array([0, 2])]                        # an index left on the host
...     except TypeError as e:
...         print(str(e).split(":")[0])
indexing a device array with a numpy array (shape (2,), int64)
"""
from __future__ import annotations

import types
from contextlib import contextmanager

import numpy as np

from .. import backend

IMPLICIT_CONVERSION = ("Implicit conversion to a NumPy array is not allowed. Please use `.get()` "
                       "to construct a NumPy array explicitly.")

# numpy functions that copy a host array to the device when given one, as CuPy's do.
_TRANSFERS = frozenset({"asarray", "array", "asanyarray", "ascontiguousarray"})

_ABSENT = {
    "scatter_add": "CuPy removed cupy.scatter_add; minigrad.backend.scatter_add "
                   "(cupyx.scatter_add on a GPU) adds with repeated indices.",
}


def _describe(a) -> str:
    return f"a numpy array (shape {a.shape}, {a.dtype})"


def _mixed(where: str, a) -> TypeError:
    return TypeError(
        f"{where}: got {_describe(a)}, and CuPy's functions and operators take device arrays "
        "only: move it to the device first (minigrad.to_gpu(a), or xp.asarray(a)), or bring "
        "the device arrays back with .get()")


# ------------------------------------------------------------- the boundary
def _to_host(x, where: str):
    """The numpy value behind a device argument; numpy arrays are refused."""
    if type(x) is StrictArray:
        return x._a
    if isinstance(x, np.ndarray):
        if x.ndim == 0:      # a 0-d array is a scalar to CuPy
            return x
        raise _mixed(where, x)
    if type(x) in (list, tuple):
        return type(x)(_to_host(v, where) for v in x)
    return x


def _to_device(y, inputs=()):
    """numpy results as device arrays. Scalars become 0-d arrays, as CuPy's
    reductions and indexing give; a result that is an input's own buffer comes
    back as that input, so ``xp.asarray(a) is a`` as in numpy and CuPy."""
    if isinstance(y, np.ndarray):
        for x in inputs:
            if x._a is y:
                return x
        return StrictArray(y)
    if isinstance(y, np.generic):
        return StrictArray(np.asarray(y))
    if type(y) in (list, tuple):
        return type(y)(_to_device(v, inputs) for v in y)
    return y


def _device_function(func, where: str):
    def call(*args, **kwargs):
        inputs = [a for a in args if type(a) is StrictArray]
        host_args = _to_host(args, where)
        host_kwargs = {k: _to_host(v, where) for k, v in kwargs.items()}
        return _to_device(func(*host_args, **host_kwargs), inputs)

    call.__name__ = call.__qualname__ = where
    return call


def _transfer_function(func, where: str):
    """asarray and array: the host array is copied, never shared, as a
    transfer to a GPU copies it."""
    on_device = _device_function(func, where)

    def call(a, *args, **kwargs):
        if isinstance(a, np.ndarray):
            a = np.array(a, copy=True)
            return StrictArray(np.asarray(func(a, *args, **kwargs)))
        return on_device(a, *args, **kwargs)

    call.__name__ = call.__qualname__ = where
    return call


def _index(key, where="indexing a device array"):
    """An index on the device: device arrays, numbers, slices, None, Ellipsis
    and lists of numbers; numpy index arrays are refused."""
    if type(key) is tuple:
        return tuple(_index(k, where) for k in key)
    if type(key) is StrictArray:
        return key._a
    if isinstance(key, np.ndarray) and key.ndim > 0:
        raise TypeError(
            f"{where} with {_describe(key)}: CuPy copies such an index to the GPU on every "
            "call; move it there once (minigrad.to_gpu(index), or xp.asarray(index)), or "
            "index the numpy array instead")
    if type(key) is list:
        return [_index(k, where) for k in key]
    return key


# ------------------------------------------------------------- the array
class _Flags:
    """CuPy's flags: no ``writeable`` (cupy arrays cannot be made read-only)."""

    def __init__(self, a: np.ndarray):
        self.c_contiguous = a.flags.c_contiguous
        self.f_contiguous = a.flags.f_contiguous
        self.owndata = a.flags.owndata


def _binary(name, reflected=False):
    def op(self, other):
        if _defers_to(other):
            return NotImplemented
        return getattr(xp, name)(*((other, self) if reflected else (self, other)))
    return op


def _reflected(name):
    return _binary(name, reflected=True)


def _inplace(name):
    def op(self, other):
        getattr(xp, name)(self, other, out=self)
        return self
    return op


def _through_host(convert):
    def method(self, *args):
        return convert(self._a, *args)
    return method


def _defers_to(other) -> bool:
    """CuPy's rule: an operand that opts out of ufuncs (``__array_ufunc__ =
    None``) or has a higher ``__array_priority__`` (minigrad's Variable) gets
    the reflected operator."""
    if type(other) is StrictArray:
        return False
    return (getattr(other, "__array_ufunc__", 0) is None
            or getattr(other, "__array_priority__", 0) > StrictArray.__array_priority__)


class _MemoryPointer:
    __slots__ = ("ptr",)

    def __init__(self, ptr):
        self.ptr = ptr

    def __getattr__(self, name):
        raise AttributeError(f"a device array's .data is a device memory pointer (its .ptr), "
                             f"not its values, and has no {name!r}: use the array itself, or "
                             ".get() for a numpy copy")


class StrictArray:
    """An array on the strict device (see the module docstring). Make one with
    ``xp.asarray`` or ``minigrad.to_gpu``, never from its constructor."""

    __slots__ = ("_a",)
    __array_priority__ = 100  # CuPy's

    def __init__(self, host: np.ndarray):
        self._a = host

    # -------------------------------------------------- explicit transfers
    def get(self) -> np.ndarray:
        """A numpy copy, as ``cupy.ndarray.get()`` gives."""
        return self._a.copy()

    def set(self, host: np.ndarray) -> None:
        """Copy a numpy array of the same shape in, as ``cupy.ndarray.set()``."""
        self._a[...] = host

    def __array__(self, dtype=None, copy=None):
        raise TypeError(IMPLICIT_CONVERSION)

    # -------------------------------------------------- numpy's protocols
    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method == "at":
            return NotImplemented   # as CuPy: numpy raises a TypeError naming the ufunc
        device_ufunc = getattr(xp, ufunc.__name__)
        call = device_ufunc if method == "__call__" else getattr(device_ufunc, method)
        return call(*inputs, **kwargs)

    def __array_function__(self, func, types_, args, kwargs):
        namespace = xp
        for part in func.__module__.split(".")[1:]:
            namespace = getattr(namespace, part, None)
        device_func = getattr(namespace, func.__name__, None) if namespace is not None else None
        if device_func is None:
            return NotImplemented
        return device_func(*args, **kwargs)

    # -------------------------------------------------- attributes
    shape = property(lambda self: self._a.shape)
    dtype = property(lambda self: self._a.dtype)
    ndim = property(lambda self: self._a.ndim)
    size = property(lambda self: self._a.size)
    itemsize = property(lambda self: self._a.itemsize)
    nbytes = property(lambda self: self._a.nbytes)
    strides = property(lambda self: self._a.strides)
    T = property(lambda self: StrictArray(self._a.T))
    real = property(lambda self: StrictArray(self._a.real))
    imag = property(lambda self: StrictArray(self._a.imag))
    flags = property(lambda self: _Flags(self._a))

    @property
    def base(self):
        """None when the array owns its memory, as ``owns_exclusively`` asks."""
        return None if self._a.base is None else _to_device(self._a.base)

    @property
    def data(self):
        """The device memory, as CuPy's MemoryPointer: its ``ptr`` (the address)
        and nothing else; never the values."""
        return _MemoryPointer(self._a.__array_interface__["data"][0])

    def __getattr__(self, name):
        # ndarray methods (sum, reshape, astype, ...), on the device; never the
        # dunders numpy converts through (__array_interface__, ...).
        if name.startswith("_") or name in ("setflags", "ctypes", "tofile"):
            raise AttributeError(f"strict device arrays have no attribute {name!r}")
        method = getattr(self._a, name)
        if not callable(method):
            return _to_device(method)

        def call(*args, **kwargs):
            out = method(*_to_host(args, f"ndarray.{name}"),
                         **{k: _to_host(v, f"ndarray.{name}") for k, v in kwargs.items()})
            return _to_device(out, (self,))
        return call

    # -------------------------------------------------- indexing
    def __getitem__(self, key):
        return _to_device(self._a[_index(key)])

    def __setitem__(self, key, value):
        self._a[_index(key)] = _to_host(value, "assigning into a device array")

    # -------------------------------------------------- Python's protocols
    # Conversions CuPy makes by a copy to the host, and so allows.
    __len__, __bool__, __float__, __int__, __complex__ = (
        _through_host(len), _through_host(bool), _through_host(float), _through_host(int),
        _through_host(complex))
    __repr__, __str__, __format__ = _through_host(repr), _through_host(str), _through_host(format)

    def __iter__(self):
        return (_to_device(row) for row in self._a)

    def __copy__(self):
        return StrictArray(self._a.copy())

    def __deepcopy__(self, memo):
        return StrictArray(self._a.copy())

    def __reduce__(self):
        return StrictArray, (self._a.copy(),)

    __hash__ = None

    # -------------------------------------------------- operators
    __add__, __radd__, __iadd__ = _binary("add"), _reflected("add"), _inplace("add")
    __sub__, __rsub__, __isub__ = (_binary("subtract"), _reflected("subtract"),
                                   _inplace("subtract"))
    __mul__, __rmul__, __imul__ = (_binary("multiply"), _reflected("multiply"),
                                   _inplace("multiply"))
    __truediv__, __rtruediv__, __itruediv__ = (_binary("true_divide"),
                                               _reflected("true_divide"),
                                               _inplace("true_divide"))
    __floordiv__, __rfloordiv__, __ifloordiv__ = (_binary("floor_divide"),
                                                  _reflected("floor_divide"),
                                                  _inplace("floor_divide"))
    __mod__, __rmod__, __imod__ = _binary("remainder"), _reflected("remainder"), \
        _inplace("remainder")
    __pow__, __rpow__, __ipow__ = _binary("power"), _reflected("power"), _inplace("power")
    __matmul__, __rmatmul__ = _binary("matmul"), _reflected("matmul")
    __and__, __rand__, __iand__ = (_binary("bitwise_and"), _reflected("bitwise_and"),
                                   _inplace("bitwise_and"))
    __or__, __ror__, __ior__ = (_binary("bitwise_or"), _reflected("bitwise_or"),
                                _inplace("bitwise_or"))
    __xor__, __rxor__, __ixor__ = (_binary("bitwise_xor"), _reflected("bitwise_xor"),
                                   _inplace("bitwise_xor"))
    __eq__, __ne__ = _binary("equal"), _binary("not_equal")
    __lt__, __le__ = _binary("less"), _binary("less_equal")
    __gt__, __ge__ = _binary("greater"), _binary("greater_equal")

    def __neg__(self):
        return xp.negative(self)

    def __pos__(self):
        return xp.positive(self)

    def __abs__(self):
        return xp.absolute(self)

    def __invert__(self):
        return xp.invert(self)


# ------------------------------------------------------------- the module
class _Ufunc:
    """A numpy ufunc on the device, without ``at``."""

    def __init__(self, ufunc: np.ufunc, where: str):
        self._ufunc = ufunc
        self.__name__ = ufunc.__name__
        self._call = _device_function(ufunc, where)
        self._where = where

    def __call__(self, *args, **kwargs):
        return self._call(*args, **kwargs)

    def __getattr__(self, name):
        if name == "at":
            raise AttributeError(
                f"{self._where} has no 'at' (CuPy had no ufunc.at before v12): "
                "minigrad.backend.scatter_add adds with repeated indices on every device")
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._ufunc, name)
        return _device_function(value, f"{self._where}.{name}") if callable(value) else value


class _Namespace(types.ModuleType):
    """numpy's functions (or a submodule's) on the device, made on first use."""

    def __init__(self, name: str, source, submodules=()):
        super().__init__(name)
        self._source = source
        self._submodules = submodules

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        if name in _ABSENT:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}: "
                                 f"{_ABSENT[name]}")
        value = getattr(self._source, name, None)
        where = f"{self.__name__}.{name}"
        if isinstance(value, types.ModuleType):
            if name not in self._submodules:
                value = None
            else:
                value = _Namespace(where, value)
        elif isinstance(value, np.ufunc):
            value = _Ufunc(value, where)
        elif isinstance(value, type) or not callable(value):
            pass     # dtypes (xp.float32 is numpy's, as in CuPy), finfo, constants
        elif name in _TRANSFERS:
            value = _transfer_function(value, where)
        else:
            value = _device_function(value, where)
        if value is None:
            raise AttributeError(f"module {self.__name__!r} has no attribute {name!r}")
        setattr(self, name, value)
        return value


class _Generator:
    """``xp.random.default_rng(seed)``: numpy's generator, drawing on the device."""

    def __init__(self, generator: np.random.Generator):
        self._generator = generator

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._generator, name)
        return _device_function(value, f"Generator.{name}") if callable(value) else value


class _Random(_Namespace):
    def default_rng(self, seed=None):
        return _Generator(np.random.default_rng(seed))


xp = _Namespace("strict_device", np, submodules=("linalg",))
xp.ndarray = StrictArray
xp.random = _Random("strict_device.random", np.random)
xp.lib = _Namespace("strict_device.lib", np.lib, submodules=("stride_tricks",))  # as CuPy's


def scatter_add(a: StrictArray, slices, value) -> None:
    """``a[slices] += value`` with repeated indices adding up: ``cupyx.scatter_add``'s role."""
    where = "scatter_add"
    if type(a) is not StrictArray:
        raise TypeError(f"{where}: the target must be a device array, not {type(a).__name__}")
    np.add.at(a._a, _index(slices, where), _to_host(value, where))


DEVICE = backend.Device(StrictArray, xp, scatter_add)


def enable() -> None:
    """Turn the strict device on: ``to_gpu`` moves data to it from now on."""
    backend.register_device(DEVICE, target=True)


def disable() -> None:
    backend.unregister_device(DEVICE)


@contextmanager
def enabled():
    """The strict device on for a ``with`` block, which gets :data:`xp`."""
    enable()
    try:
        yield xp
    finally:
        disable()
