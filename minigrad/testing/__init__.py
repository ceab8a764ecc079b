"""minigrad.testing: tools for testing gradients in your own test suite.

* :func:`gradcheck` and :func:`gradgradcheck` compare minigrad's first and
  second derivatives with central differences in float64;
* :func:`gradcheck_params` does the same for every parameter of a Layer (or
  any Parameters a function reads), a float32 model included;
* :func:`stand_in` puts a gradcheck input where a layer holds a weight, to
  check a whole model as a function of its weights;
* :mod:`minigrad.testing.strategies` has hypothesis strategies for inputs that
  make such checks meaningful (no ties for max, no kinks for relu, ...). It
  needs hypothesis (``pip install 'minigrad[testing]'``) and is imported only
  when first used, so ``import minigrad.testing`` does not need hypothesis;
* :mod:`minigrad.testing.strict_device` is a stand-in for CuPy on the CPU
  that refuses what CuPy refuses (numpy arrays mixed with device arrays,
  ``np.add.at`` on them, implicit conversion to numpy), so code meant for a GPU
  can be tested without one.

>>> import numpy as np, minigrad.functions as F
>>> from minigrad.testing import gradcheck, gradgradcheck
>>> gradcheck(F.exp, np.array([0.1, 0.2])) and gradgradcheck(F.exp, np.array([0.1, 0.2]))
True
"""
import importlib

from .gradcheck import GradcheckError, gradcheck, gradcheck_params, gradgradcheck, stand_in

__all__ = ["gradcheck", "gradgradcheck", "gradcheck_params", "GradcheckError", "stand_in",
           "strategies"]


def __getattr__(name):
    # Lazy: `minigrad.testing.strategies` imports hypothesis only when touched.
    if name == "strategies":
        return importlib.import_module(".strategies", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
