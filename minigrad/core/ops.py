"""The operations that Variable's methods call, filled in by the modules that
define them.

``x * y`` is ``Variable.__mul__``, which calls ``ops.mul``: the Mul operation of
``minigrad.functions.arithmetic``. The operations are built on Variable, so
Variable cannot import them; instead each module registers its entries here
when it is imported (``minigrad.functions`` the arithmetic, the reductions and
numpy's calls; ``core/backward.py`` the backward pass). ``import minigrad``
imports them all.
"""
from __future__ import annotations


class _Table:
    """A plain namespace that names the missing module when an entry is absent."""

    def register(self, **entries):
        for name, function in entries.items():
            setattr(self, name, function)

    def __getattr__(self, name):
        # Reached only for a name nothing registered (attributes set by
        # register() are found before __getattr__ is consulted).
        raise AttributeError(
            f"minigrad: the operation {name!r} is not registered; `import minigrad` (which "
            "imports minigrad.functions) before using Variables' operators")


ops = _Table()
