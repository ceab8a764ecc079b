"""The engine's global switches: recording on/off, the backward mode, name scopes.

They live on one small object because every operation reads them.
"""
from __future__ import annotations

import contextlib


class _State:
    def __init__(self):
        # True: operations on Variables that require gradients record the graph.
        self.enable_backprop = True
        # True while a backward pass runs without create_graph: backward code then
        # sees raw arrays, and operations called on raw arrays return raw arrays.
        self.raw_backward = False
        # The names of the enclosing name_scope blocks, outermost first.
        self.scope = ()
        # True in anomaly mode (anomaly.py): every result is checked for NaN/Inf.
        self.detect_anomaly = False
        # A compiled step's recorder while it records one call (minigrad.compiled),
        # else None: it is told of every recorded operation, every backward pass
        # and every value read into Python.
        self.recorder = None


state = _State()


@contextlib.contextmanager
def using_config(name: str, value):
    """Set one engine switch (``enable_backprop``, ...) inside a ``with`` block
    or a decorated function, and restore it afterwards."""
    old = getattr(state, name)
    setattr(state, name, value)
    try:
        yield
    finally:
        setattr(state, name, old)


def _switch(value, func):
    block = using_config("enable_backprop", value)
    return block if func is None else block(func)


def no_grad(func=None):
    """Operations inside record no graph and save nothing. A ``with`` block or
    a decorator, with or without parentheses (``@no_grad`` and ``@no_grad()``).

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.ones(3))
    >>> with mg.no_grad():
    ...     y = x * 2
    >>> y.creator is None, y.requires_grad
    (True, False)
    >>> @mg.no_grad
    ... def predict(x):
    ...     return x * 2
    >>> predict(x).requires_grad
    False
    """
    return _switch(False, func)


def enable_grad(func=None):
    """Turn recording back on inside a ``no_grad`` block (a ``with`` block or a
    decorator, as ``no_grad``)."""
    return _switch(True, func)


def is_grad_enabled() -> bool:
    return state.enable_backprop


@contextlib.contextmanager
def name_scope(name: str):
    """Tag every operation created inside the block with ``name``.

    Scopes nest; the visualizer draws one cluster per scope (for example one per
    time step of an unrolled RNN).

    >>> import numpy as np, minigrad as mg
    >>> x = mg.Variable(np.ones(2))
    >>> with mg.name_scope("t=0"):
    ...     y = x * 3
    >>> y.creator.scope
    ('t=0',)
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"name_scope: the name must be a non-empty string, got {name!r}")
    old = state.scope
    state.scope = old + (name,)
    try:
        yield
    finally:
        state.scope = old

