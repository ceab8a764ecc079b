"""What Variable's operators and ndarray-like methods run.

``a + b``, ``a @ W``, ``x[i]``, ``x.reshape(...)``, ``x.sum()``, ... are the
operations of this package: Variable's methods (core/variable.py) call them
through the ``ops`` table, filled in here. Backward code reads the same on
arrays and on Variables because Variables have these methods.
"""
from __future__ import annotations

from ..core import ops
from .arithmetic import Add, Div, Mul, Neg, Sub, pow
from .elementwise import (abs, astype, clip, copy, cos, exp, leaky_relu, log, log1p, relu,
                          sigmoid, sin, sqrt, tanh)
from .linalg import matmul
from .reduction import argmax, argmin, logsumexp, max, mean, min, sum
from .shape import expand_dims, flatten, get_item, reshape, squeeze, transpose

ops.register(
    Add=Add, Sub=Sub, Mul=Mul, Div=Div, Neg=Neg, pow=pow, matmul=matmul, get_item=get_item,
    reshape=reshape, transpose=transpose, flatten=flatten, squeeze=squeeze,
    expand_dims=expand_dims, sum=sum, mean=mean, max=max, min=min, argmax=argmax,
    argmin=argmin, logsumexp=logsumexp, astype=astype, copy=copy, clip=clip, abs=abs, exp=exp,
    log=log, log1p=log1p, sqrt=sqrt, sin=sin, cos=cos, tanh=tanh, sigmoid=sigmoid, relu=relu,
    leaky_relu=leaky_relu)
