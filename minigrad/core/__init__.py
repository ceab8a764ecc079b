"""The engine: Variable, Function, the backward pass and the global switches."""
from .anomaly import detect_anomaly, is_anomaly_enabled, set_detect_anomaly
from .config import enable_grad, is_grad_enabled, name_scope, no_grad, using_config
from .variable import Variable
from .arrays import as_variable, get_array_module, to_cpu, to_gpu
from .function import Function
from .backward import grad

__all__ = ["Variable", "Function", "as_variable", "grad", "no_grad", "enable_grad",
           "is_grad_enabled", "name_scope", "using_config", "detect_anomaly",
           "set_detect_anomaly", "is_anomaly_enabled", "get_array_module", "to_gpu", "to_cpu"]
