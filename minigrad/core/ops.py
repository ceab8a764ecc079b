"""The operations that Variable's methods call, filled in by the modules that
define them.

``x * y`` is ``Variable.__mul__``, which calls ``ops.Mul``: the Mul operation of
``minigrad.functions.arithmetic``. The operations are built on Variable, so
Variable cannot import them; instead each module registers its entries in this
module when it is imported (``minigrad.functions`` the arithmetic, the
reductions and numpy's calls; ``core/backward.py`` the backward pass).
``import minigrad`` imports them all.
"""
from __future__ import annotations


def register(**entries):
    """Add ``name=function`` entries to this module's namespace."""
    globals().update(entries)


def __getattr__(name):
    # Reached only for a name nothing registered.
    raise AttributeError(
        f"minigrad: the operation {name!r} is not registered; `import minigrad` (which "
        "imports minigrad.functions) before using Variables' operators")
