"""minigrad.compiled: a training step recorded once and replayed (define-by-run
becomes define-and-run). See docs/compiled-step.md."""
from .inference import replayed_generation, replayed_generations
from .rules import CompileError
from .step import CompiledStep, ScheduleEvictedWarning, compile
from .tape import replayed

__all__ = ["compile", "CompiledStep", "CompileError", "ScheduleEvictedWarning", "replayed",
           "replayed_generation", "replayed_generations"]

