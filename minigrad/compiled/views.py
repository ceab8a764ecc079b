"""Where a Variable's array comes from, when no operation made it: a view of
a step argument's buffer (read live: the buffer is refilled in place), or a
view of a recorded operation's output (remade after each replay, since the
replayed operation makes a new output array).

The recurrent layers carry their state this way: ``Variable(hs.data[:, -1])``
or ``detach()`` share the output's memory without an operation."""
from __future__ import annotations

from .. import backend
from .rules import CompileError


def root(a):
    """The array that owns ``a``'s memory."""
    while getattr(a, "base", None) is not None and hasattr(a.base, "shape"):
        a = a.base
    return a


def address(a) -> int:
    if backend.is_cupy_array(a):
        return a.data.ptr
    return a.__array_interface__["data"][0]


def same_memory(a, b) -> bool:
    """True if ``a`` and ``b`` view one allocation. By its address, not by
    identity: a device's ``base`` may be a new object at each reading."""
    return address(root(a)) == address(root(b))


def place(a, source):
    """(byte offset, shape, strides) of ``a`` inside ``source``, or None if
    ``a`` is not a view of ``source``'s memory."""
    if not same_memory(a, source):
        return None
    offset = address(a) - address(source)
    if offset < 0 or offset >= source.nbytes:
        return None
    return offset, a.shape, a.strides


class OutputView:
    """``var.data`` is ``source.data`` or a view of it, ``source`` being a
    recorded output: :meth:`refresh` makes it so again after a replay."""

    __slots__ = ("var", "source", "where", "source_strides")

    def __init__(self, var, source, where):
        self.var, self.source, self.where = var, source, where
        self.source_strides = source.data.strides

    @classmethod
    def find(cls, var, outputs):
        """The OutputView of ``var`` among ``outputs`` ({id(array): Variable}), or None."""
        data = var.data
        out = outputs.get(id(data))
        if out is not None:
            return cls(var, out, None)
        for out in outputs.values():
            if same_memory(out.data, data) and out.data.flags.c_contiguous:
                where = place(data, out.data)
                if where is not None:
                    return cls(var, out, where)
        return None

    def refresh(self):
        new = self.source.data
        if self.where is None:
            self.var.data = new
            return
        offset, shape, strides = self.where
        if new.strides != self.source_strides or not new.flags.c_contiguous:
            raise CompileError(
                f"compile: a Variable viewing the output of {self.source.creator.name} cannot be "
                f"remade: the output's layout changed between calls ({self.source_strides} "
                f"strides, now {new.strides}); run this step eagerly")
        xp = backend.get_array_module(new)
        flat = new.reshape(-1)[offset // new.itemsize:]
        self.var.data = xp.lib.stride_tricks.as_strided(flat, shape, strides)
