"""Inference replayed: a computation with no backward pass and no update (the
seq2seq models' greedy generation), recorded once per signature and replayed
by the same machinery as a training step.

A compiled step needs neither a backward pass nor an optimizer: under
``no_grad`` the engine makes no graph, but while a step records, each
operation is still recorded (as an operation that needs no gradient is in a
training step), so the tape holds the forward operations only. What a replay
must recompute from each call's data has to be an operation: a greedy
decoder's argmax is :func:`minigrad.functions.argmax_ids`, whose ids the next
step's Embedding reads as an input. An argmax taken in NumPy on ``.data``
would be frozen at the recorded call's ids; the second recording sees its
other values and refuses it (rule 3 of docs/compiled-step.md).
"""
from __future__ import annotations

import weakref

from .step import CompiledStep

__all__ = ["replayed_generation", "replayed_generations"]

# The attribute of a model holding its compiled generations: {function: CompiledStep},
# and under "model" a weak reference to the model they were made for.
_KEPT = "_replayed_generations"


def replayed_generation(model, generate, *, cache_size: int = 8) -> CompiledStep:
    """``generate`` compiled for ``model``: made on the first call, kept with
    the model (so that it is freed with it) and returned on the next ones.

    ``generate(*args)`` takes arrays and fixed settings (numbers), runs the
    model's forward operations, and returns the Variable an operation made;
    the compiled one returns that same Variable on each replay, its values
    refilled, so copy them before the next call.
    """
    kept = model.__dict__.get(_KEPT)
    # A copy of the model (copy.deepcopy) has a copy of this dict, whose
    # recordings would run the original's operations: it makes its own.
    if kept is None or kept["model"]() is not model:
        kept = {"model": weakref.ref(model)}
        object.__setattr__(model, _KEPT, kept)
    # A bound method is a new object at each reading: key by its function.
    key = getattr(generate, "__func__", generate)
    compiled = kept.get(key)
    if compiled is None:
        compiled = kept[key] = CompiledStep(generate, model,
                                            cache_size=cache_size)
    return compiled


def replayed_generations(model) -> list:
    """The compiled generations made for ``model`` (their ``recordings`` and
    ``replays`` say how each call ran)."""
    kept = model.__dict__.get(_KEPT)
    if kept is None or kept["model"]() is not model:
        return []
    return [compiled for key, compiled in kept.items() if key != "model"]
