"""Tracing: one run of a recorded tape on arrays that note every numpy kernel
they go through, so that later calls run those kernels alone.

While a :class:`Lowering` is active, the arrays of the step are
:class:`Traced`: an ndarray subclass whose ufuncs (``x * y``, ``np.tanh``,
``x.sum()``, ``x @ W``), numpy functions (``np.concatenate``, ``np.dot``...)
and array methods (``astype``, ``copy``, fancy indexing...) are computed as
usual *and* appended to :attr:`Lowering.kernels` as a call that writes into a
buffer allocated once. A view (reshape, transpose, slicing) needs no kernel:
it is a view of a buffer that every replay refills.

What a replay could not repeat ends the lowering (:meth:`Lowering.give_up`):
the call goes on untraced, computing as usual, and the step keeps its
operation-level replay, which is always faithful:
a value read into Python (``float(x)``, ``if x.any()``), a result whose shape
depends on the data (``np.unique``, a boolean mask), a numpy call this module
does not know. numpy's array makers (``np.zeros``, ``np.empty``...) are
swapped for traced ones while the lowering runs, so an operation's own work
arrays are buffers too.
"""
from __future__ import annotations

import functools
import operator
import threading

import numpy as np

from .. import backend

_active = None            # the Lowering running now, if any


class Kernel:
    """One numpy call of a replay: ``run()`` writes ``writes`` from ``reads``."""

    __slots__ = ("name", "run", "reads", "writes", "where", "elementwise")

    def __init__(self, name, run, reads, writes, where, elementwise=False):
        self.name, self.run, self.reads, self.writes, self.where = name, run, reads, writes, where
        # A ufunc called element by element: numpy gives the same result when its
        # output overlaps an input, so the output may take the memory of an input
        # read for the last time.
        self.elementwise = elementwise


def root(a):
    """The array that owns ``a``'s memory."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a


def plain(a):
    """``a`` as a plain ndarray (a view of the same memory), recursively."""
    if type(a) is Traced:
        return a.view(np.ndarray)
    if type(a) in (tuple, list):
        return type(a)(plain(x) for x in a)
    if type(a) is dict:
        return {k: plain(v) for k, v in a.items()}
    return a


def _arrays_in(args):
    for a in args:
        if isinstance(a, np.ndarray):
            yield a
        elif type(a) in (tuple, list):
            yield from _arrays_in(a)


def _reads(args, kwargs) -> list:
    """The arrays a call reads, by position and by keyword (``where=``...)."""
    return list(_arrays_in(args)) + list(_arrays_in(kwargs.values()))


class Lowering:
    """The kernels of one traced run, and the memory they read and write."""

    def __init__(self):
        self.kernels = []
        self.known = {}          # id(root) -> root: memory a replay reads or writes
        self.tracing = False     # False while a host call or an opaque operation runs
        self.where = ""          # the operation being traced, for messages and drawings
        self.failed = None       # why the step could not be lowered, once it could not
        self.thread = None       # the thread it traces (set while active)

    # ------------------------------------------------------------- memory
    def buffer(self, like):
        """A buffer owned by the replay, holding a copy of ``like``."""
        buf = np.ndarray.__new__(Traced, like.shape, like.dtype)
        np.copyto(buf.view(np.ndarray), like, casting="no")
        self.known[id(buf)] = buf
        return buf

    def source(self, a):
        """An array read from outside the traced code (a parameter, a batch,
        a constant): read live by every replay."""
        if type(a) is Traced or not hasattr(a, "shape") or isinstance(a, np.generic):
            return a
        if not isinstance(a, np.ndarray):
            self.give_up(f"reads an array on a device ({type(a).__module__})")
            return a
        r = root(a)
        self.known[id(r)] = r
        return a.view(Traced)

    def constants_of(self, kernel) -> list:
        """The values a kernel reads that the step's Python made during the call:
        numbers, and arrays that neither a kernel writes nor come from outside
        (a parameter, the batch). Two calls must agree on them."""
        run = kernel.run
        if type(run) is not functools.partial:
            return []
        found = []

        def walk(x):
            if isinstance(x, np.ndarray):
                if id(root(x)) not in self.known:
                    found.append(x)
            elif isinstance(x, (int, float, complex, np.generic)):
                found.append(x)
            elif type(x) in (tuple, list):
                for v in x:
                    walk(v)
            elif type(x) is dict:
                for v in x.values():
                    walk(v)
        walk(run.args)
        walk(run.keywords)
        return found

    def give_up(self, reason):
        """Stop noting kernels: the rest of the call runs untraced."""
        self.failed = self.failed or f"{self.where} {reason}"
        self.tracing = False

    def check(self, args) -> bool:
        """Every array a kernel reads or writes must be memory the replay
        knows; an array numpy made without this module seeing it would be
        frozen at this call's value. False (and tracing ends) if one is not."""
        for a in _arrays_in(args):
            if type(a) is Traced and id(root(a)) not in self.known:
                self.give_up(f"uses an array made by a numpy call a replay cannot repeat "
                             f"(shape {a.shape})")
                return False
        return True

    def target(self, a):
        """An array written in place: memory from outside becomes live state."""
        if isinstance(a, np.ndarray) and type(a) is not Traced:
            r = root(a)
            self.known.setdefault(id(r), r)

    def add(self, name, run, reads, writes, elementwise=False):
        self.kernels.append(Kernel(name, run, reads, writes, self.where, elementwise))

    # ------------------------------------------------------------ kernels
    def ufunc(self, uf, method, inputs, kwargs):
        fn = uf if method == "__call__" else getattr(uf, method)
        out = kwargs.pop("out", None)
        if not (self.tracing and self.check(inputs) and self.check(kwargs.values())
                and self.check(out or ())):
            if out is not None:
                kwargs["out"] = plain(out)
            result = fn(*plain(inputs), **plain(kwargs))
            return None if method == "at" else out[0] if out is not None and len(out) == 1 \
                else out if out is not None else result
        ins, kw = plain(inputs), plain(kwargs)
        name = uf.__name__ if method == "__call__" else f"{uf.__name__}.{method}"
        if method == "at":              # in place into inputs[0]
            self.target(inputs[0])
            fn(*ins, **kw)
            self.add(name, functools.partial(fn, *ins, **kw), _reads(ins[1:], kw), ins[0])
            return None
        if out is not None:
            for o in out:
                self.target(o)
            outs = plain(out)
            fn(*ins, out=outs, **kw)
            self.add(name, functools.partial(fn, *ins, out=outs, **kw), _reads(ins, kw), outs,
                     method == "__call__")
            return out[0] if len(out) == 1 else out
        result = fn(*ins, **kw)
        if type(result) is tuple:
            bufs = tuple(self.buffer(np.asarray(r)) for r in result)
            outs = plain(bufs)
            self.add(name, functools.partial(fn, *ins, out=outs, **kw), _reads(ins, kw), outs)
            return bufs
        buf = self.buffer(np.asarray(result))
        out = plain(buf)
        # out= given by position is parsed faster than by keyword (about 0.15 us a call)
        run = functools.partial(fn, *ins, out) if method == "__call__" and not kw and \
            uf not in _OUT_BY_KEYWORD else \
            functools.partial(fn, *ins, out=out, **kw)
        self.add(name, run, _reads(ins, kw), out, method == "__call__")
        return buf

    def function(self, func, types, args, kwargs):
        if not self.tracing:
            return func(*plain(args), **plain(kwargs))
        made = _MAKERS_LIKE.get(func)
        if made is not None:
            return self.made(func(*plain(args), **plain(kwargs)), made(args, kwargs))
        if func in _IN_PLACE and self.check(args):
            self.target(args[0])
            func(*plain(args), **plain(kwargs))
            self.add(func.__name__, functools.partial(func, *plain(args), **plain(kwargs)),
                     _reads(plain(args[1:]), plain(kwargs)), plain(args[0]))
            return None
        mark = len(self.kernels)
        result = func._implementation(*args, **kwargs)
        if not self.tracing or self._is_known(result):
            return result        # views, or made of kernels already noted
        del self.kernels[mark:]
        if func not in _FIXED_SHAPE or (func is np.where and len(args) + len(kwargs) < 3):
            self.give_up(f"calls np.{func.__name__}, which a replay cannot repeat into a "
                         "buffer of fixed shape")
        if not (self.tracing and self.check(args) and self.check(kwargs.values())):
            return func(*plain(args), **plain(kwargs))
        if kwargs.get("out", False) is None:
            kwargs = {k: v for k, v in kwargs.items() if k != "out"}   # np.stack passes out=None
        return self.computed(func.__name__, func, plain(args), plain(kwargs),
                             out_ok=func in _TAKES_OUT)

    def computed(self, name, fn, args, kwargs, out_ok):
        """A kernel for ``fn(*args, **kwargs)``, a fresh array of fixed shape."""
        buf = self.buffer(np.asarray(fn(*args, **kwargs)))
        out = plain(buf)
        if out_ok:
            run = functools.partial(fn, *args, out=out, **kwargs)
        else:
            run = functools.partial(_copy_result, out, fn, args, kwargs)
        self.add(name, run, _reads(args, kwargs), out)
        return buf

    def opaque(self, fn, args, kwargs):
        """A call of an ``@opaque_kernel`` function: made now, and again on
        every replay, whole."""
        if not (_tracing() is self and self.check(args) and self.check(kwargs.values())):
            return fn(*plain(args), **plain(kwargs))
        pargs, pkwargs = plain(args), plain(kwargs)
        for a in _arrays_in(args):
            self.target(a)
        with paused(self):
            result = fn(*pargs, **pkwargs)
        self.add(fn.__name__, functools.partial(fn, *pargs, **pkwargs),
                 _reads(pargs, pkwargs), pargs[0] if result is not None else None)
        if result is None:
            return None
        if result is not pargs[0]:
            self.give_up(f"calls {fn.__name__}, which made a new array (an opaque kernel "
                         "must write into its arguments)")
        return args[0]

    def made(self, a, fill):
        """An array a numpy maker made (zeros, ones, full, empty): a buffer,
        refilled by each replay unless its contents are left undefined."""
        buf = self.buffer(a)
        if fill is not None:
            self.add("fill", functools.partial(np.copyto, plain(buf), fill), (), plain(buf))
        return buf

    def made_cast(self, a, dtype):
        """``a.astype(dtype)`` or ``a.copy()`` into a buffer: one copy kernel."""
        src = plain(a)
        if not self.check((a,)):
            return src.astype(dtype)
        buf = self.buffer(src.astype(dtype))
        out = plain(buf)
        self.add("astype" if out.dtype != src.dtype else "copy",
                 functools.partial(np.copyto, out, src, casting="unsafe"), (src,), out)
        return buf

    def _is_known(self, result):
        if isinstance(result, np.ndarray):
            return type(result) is Traced and id(root(result)) in self.known
        if type(result) in (tuple, list):
            return all(self._is_known(r) for r in result)
        return not isinstance(result, np.generic)


def _tracing():
    """The lowering noting kernels now, in this thread, or None (numpy's makers
    are swapped for the whole process: another thread's calls are its own)."""
    t = _active
    return t if t is not None and t.tracing and t.thread == threading.get_ident() else None


def _copy_result(out, fn, args, kwargs):
    np.copyto(out, fn(*args, **kwargs), casting="no")


def _like_fill(value):
    return lambda args, kwargs: value


def _full_like_fill(args, kwargs):
    """The fill value of ``np.full(shape, value)`` and ``np.full_like(a, value)``."""
    return args[1] if len(args) > 1 else kwargs["fill_value"]


_OUT_BY_KEYWORD = {np.maximum, np.minimum}   # numpy 2 deprecates their third positional
_MAKERS_LIKE = {np.zeros_like: _like_fill(0), np.ones_like: _like_fill(1),
                np.empty_like: _like_fill(None), np.full_like: _full_like_fill}
_IN_PLACE = {np.copyto, np.put, np.put_along_axis, np.fill_diagonal}
_FIXED_SHAPE = {np.concatenate, np.stack, np.hstack, np.vstack, np.dot, np.take, np.where,
                np.einsum, np.tensordot, np.outer, np.cumsum, np.cumprod, np.repeat, np.tile,
                np.pad, np.roll, np.sort, np.argsort, np.argmax, np.argmin, np.take_along_axis,
                np.triu, np.tril, np.kron, np.inner, np.vdot, np.diff, np.searchsorted}
_TAKES_OUT = {np.concatenate, np.dot, np.take, np.cumsum, np.cumprod, np.argmax, np.argmin}


def _traced_method(name, out_ok):
    """An array method that computes a new array: a kernel of the numpy
    function of the same name (with ``out=`` where it has one)."""
    fn = getattr(np, name)
    method = getattr(np.ndarray, name)

    def call(self, *args, **kwargs):
        t = _tracing()
        if t is None or not t.check((self,) + args):
            return method(plain(self), *plain(args), **plain(kwargs))
        return t.computed(name, fn, (plain(self),) + plain(args), plain(kwargs), out_ok)

    call.__name__ = name
    return call


def _read(name):
    method = getattr(np.ndarray, name)

    def call(self, *args):
        t = _tracing()
        if t is not None:
            t.give_up(f"reads a value into Python ({name} of an array of shape {self.shape})")
        return method(plain(self), *args)

    call.__name__ = name
    return call


class Traced(np.ndarray):
    """An array whose numpy calls the active :class:`Lowering` notes."""

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return (_active or _UNTRACED).ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return (_active or _UNTRACED).function(func, types, args, kwargs)

    def astype(self, dtype, order="K", casting="unsafe", subok=True, copy=True):
        t = _tracing()
        if t is None:
            return plain(self).astype(dtype, order, casting, False, copy)
        if not copy and self.dtype == np.dtype(dtype):
            return self
        return t.made_cast(self, dtype)

    def copy(self, order="C"):
        t = _tracing()
        if t is None:
            return plain(self).copy(order)
        return t.made_cast(self, self.dtype)

    def reshape(self, *shape, **kwargs):
        view = np.ndarray.reshape(self, *shape, **kwargs)
        if np.may_share_memory(view, self):     # a view (a copy is memory of its own)
            return view
        return self.copy().reshape(*shape, **kwargs)

    def ravel(self, order="C"):
        return self.reshape(-1, order=order)

    def flatten(self, order="C"):
        return self.copy(order).reshape(-1)

    def __getitem__(self, index):
        t = _tracing()
        if t is not None and _is_basic(index):
            return np.ndarray.__getitem__(self, index)
        if t is not None and _has_bool(index):
            t.give_up("indexes with a boolean mask (a result whose shape depends on the data)")
        if t is None or not t.check((self, index)):
            return plain(self)[plain(index)]
        src, idx = plain(self), plain(index)
        if isinstance(idx, np.ndarray) and idx.dtype.kind in "iu":
            return t.computed("take", np.take, (src, idx), {"axis": 0}, True)
        return t.computed("getitem", operator.getitem, (src, idx), {}, False)

    def __setitem__(self, index, value):
        t = _tracing()
        if t is not None and _has_bool(index) and isinstance(value, np.ndarray) and value.ndim:
            t.give_up("assigns through a boolean mask")
        if t is None or not t.check((self, index, value)):
            plain(self)[plain(index)] = plain(value)
            return
        dst, idx, val = plain(self), plain(index), plain(value)
        dst[idx] = val
        t.add("setitem", functools.partial(operator.setitem, dst, idx, val),
              list(_arrays_in((idx, val))), dst)

    def fill(self, value):
        t = _tracing()
        plain(self).fill(value)
        if t is not None:
            t.add("fill", functools.partial(np.copyto, plain(self), value), (), plain(self))

    take = _traced_method("take", True)
    dot = _traced_method("dot", True)
    argmax = _traced_method("argmax", True)
    argmin = _traced_method("argmin", True)
    cumsum = _traced_method("cumsum", True)
    repeat = _traced_method("repeat", False)
    argsort = _traced_method("argsort", False)

    def nonzero(self):
        t = _tracing()
        if t is not None:
            t.give_up("calls nonzero (a result whose shape depends on the data)")
        return plain(self).nonzero()

    __bool__ = _read("__bool__")
    __float__ = _read("__float__")
    __int__ = _read("__int__")
    __index__ = _read("__index__")
    __complex__ = _read("__complex__")
    item = _read("item")
    tolist = _read("tolist")


def _is_basic(index) -> bool:
    items = index if type(index) is tuple else (index,)
    return all(i is None or i is Ellipsis or type(i) in (int, slice) or
               isinstance(i, np.integer) for i in items)


def _has_bool(index) -> bool:
    items = index if type(index) is tuple else (index,)
    return any(isinstance(i, np.ndarray) and i.dtype == bool or i is True or i is False
               for i in items)


# -------------------------------------------- numpy's makers, while lowering
def _maker(name, fill):
    original = getattr(np, name)

    def make(*args, **kwargs):
        t = _tracing()
        a = original(*args, **kwargs)
        if t is None:
            return a
        return t.made(a, fill(args, kwargs))

    make.__name__ = name
    make.original = original
    return make


def _converter(name):
    original = getattr(np, name)

    def convert(a, *args, **kwargs):
        t = _tracing()
        if t is None or type(a) is not Traced:
            return original(plain(a), *args, **kwargs)
        dtype = kwargs.get("dtype", args[0] if args else None)
        dtype = a.dtype if dtype is None else np.dtype(dtype)
        if dtype == a.dtype and (name == "asarray" or (
                name == "ascontiguousarray" and a.flags.c_contiguous) or (
                name == "array" and kwargs.get("copy", True) is not True)):
            return a
        return t.made_cast(a, dtype)

    convert.__name__ = name
    convert.original = original
    return convert


_PATCHES = {
    "zeros": _maker("zeros", _like_fill(0)), "ones": _maker("ones", _like_fill(1)),
    "empty": _maker("empty", _like_fill(None)),
    "full": _maker("full", _full_like_fill),
    "asarray": _converter("asarray"), "array": _converter("array"),
    "ascontiguousarray": _converter("ascontiguousarray"),
}


_UNTRACED = Lowering()      # computes plainly: for Traced arrays met outside a lowering


class active:
    """``with active(lowering):`` traces (numpy's makers swapped meanwhile)."""

    def __init__(self, lowering):
        self.lowering = lowering

    def __enter__(self):
        global _active
        if _active is not None:
            raise RuntimeError("a lowering is already running")
        _active = self.lowering
        self.lowering.tracing = True
        self.lowering.thread = threading.get_ident()
        backend._kernel_hook = self.lowering.opaque
        for name, patch in _PATCHES.items():
            setattr(np, name, patch)
        return self.lowering

    def __exit__(self, *exc):
        global _active
        for name, patch in _PATCHES.items():
            setattr(np, name, patch.original)
        self.lowering.tracing = False
        backend._kernel_hook = None
        _active = None


class paused:
    """``with paused(lowering):`` runs code for real, unnoted (host calls)."""

    def __init__(self, lowering):
        self.lowering = lowering

    def __enter__(self):
        self.was, self.lowering.tracing = self.lowering.tracing, False

    def __exit__(self, *exc):
        self.lowering.tracing = self.was and self.lowering.failed is None
