"""The rules a compiled step keeps, and the errors that name a broken one.

A replay runs the recorded operations and host calls again and nothing else,
so anything else the step's Python did while recording would be frozen at its
recorded value. Where that can happen, recording stops with an error that
says which rule, where, and what to write instead (docs/compiled-step.md).
"""
from __future__ import annotations

import sys

from ..core.anomaly import _is_operation, creation_site
from ..core.config import state
from ..errors import MinigradError


class CompileError(MinigradError, RuntimeError):
    """A step that a compiled replay could not repeat faithfully."""


def refuse_read(use):
    raise CompileError(
        f"compile: {use} reads a value into Python at {creation_site()} while the step is "
        "recorded. A replay does not run the step's Python again, so a decision or a number "
        "made from it would be frozen at this call's value. Return the Variable instead "
        "(loss, not float(loss)) and read it after the call, or run this step eagerly")


def refuse_create_graph():
    raise CompileError(
        f"compile: backward(create_graph=True) or minigrad.grad() at {creation_site()}: a "
        "compiled step replays ordinary backward passes only (loss.backward()); run a step "
        "with higher-order gradients eagerly")


def refuse_draw():
    """Called at every draw from minigrad.random: a draw outside an operation's
    forward would be frozen by a replay."""
    recorder = state.recorder
    if recorder is None:
        return
    f = _drawing_operation()
    if f is not None:
        recorder.drawing.add(id(f))
        return
    raise CompileError(
        f"compile: a random draw at {creation_site()} is made outside any operation while the "
        "step is recorded, so a replay would reuse this call's numbers every time. Draw it "
        "outside the step and pass it in as an argument (for negative sampling: "
        "negatives = sampler.sample(target), then step(..., negatives)), or draw it inside an "
        "operation's forward, as F.dropout does")


def refuse_dropped_draw():
    raise CompileError(
        "compile: the step drops the result of an operation whose forward draws random "
        "numbers (a dropout whose output is not used). A replay leaves such an operation "
        "out, so it would not draw them, and every later draw would differ from the eager "
        "step's; use its result or leave the call out of the step")


def _drawing_operation():
    """The operation whose forward is running, or None."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name == "forward" and _is_operation(frame.f_locals.get("self")):
            return frame.f_locals["self"]
        frame = frame.f_back
    return None
