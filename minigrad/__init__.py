"""minigrad: a small, readable and fast define-by-run autograd framework.

>>> import numpy as np, minigrad as mg
>>> x = mg.Variable(np.array(2.0))
>>> y = x ** 3 + 2 * x
>>> y.backward()
>>> x.grad
variable(14.)
"""
from . import backend, random
from .backend import gpu_available
from .core import (Function, Variable, as_variable, detect_anomaly, enable_grad,
                   get_array_module, grad, is_anomaly_enabled, is_grad_enabled, name_scope,
                   no_grad, set_detect_anomaly, to_cpu, to_gpu, using_config)
from .core.sparse import SparseRows
from .errors import AnomalyError, DeviceError, DTypeError, GraphError, MinigradError, ShapeError
from . import functions
from .compiled import CompileError, compile

__version__ = "0.1.0"


def __getattr__(name):
    # ``mg.viz`` without ``import minigrad.viz``, still imported only on first use.
    if name == "viz":
        import importlib

        return importlib.import_module(".viz", __name__)
    raise AttributeError(f"module 'minigrad' has no attribute {name!r}")

__all__ = [
    "Variable", "Function", "SparseRows", "as_variable", "grad", "no_grad", "enable_grad",
    "is_grad_enabled", "name_scope", "using_config", "functions", "backend", "random",
    "get_array_module", "gpu_available", "to_gpu", "to_cpu", "viz",
    "detect_anomaly", "set_detect_anomaly", "is_anomaly_enabled", "AnomalyError",
    "MinigradError", "ShapeError", "DTypeError", "GraphError", "DeviceError",
    "compile", "CompileError",
]
