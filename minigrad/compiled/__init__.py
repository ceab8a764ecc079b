"""minigrad.compiled: a training step recorded once and replayed (define-by-run
becomes define-and-run). See docs/compiled-step.md."""
from . import step as _step
from .inference import replayed_generation, replayed_generations
from .python_state import watching
from .rules import CompileError
from .step import CompiledStep, ScheduleEvictedWarning
from .tape import replayed

__all__ = ["compile", "CompiledStep", "CompileError", "ScheduleEvictedWarning", "replayed",
           "replayed_generation", "replayed_generations"]


def compile(step, model, *, cache_size: int = 8) -> CompiledStep:
    # The step's own Python is watched while it records (rule 4: python_state.py).
    return _step.compile(watching(step, model), model, cache_size=cache_size)


compile.__doc__ = _step.compile.__doc__
