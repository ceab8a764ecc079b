"""numpy on the CPU, cupy on a GPU: the one place that knows about both.

It handles arrays only (Variables are the engine's, one level up:
``minigrad.get_array_module``, ``to_gpu`` and ``to_cpu`` also take them).

cupy is imported lazily, on first use, so ``import minigrad`` never pays for it
and machines without a GPU never need it.

Which library an array belongs to is asked of one small registry of devices
(:func:`register_device`): cupy registers when it loads, and a stand-in such as
``minigrad.testing.strict_device`` registers when a test turns it on, so no
other code tells the two apart.
"""
from __future__ import annotations

import functools
import sys
from typing import NamedTuple

import numpy as np

from .errors import DeviceError

_cupy = None  # the cupy module once imported, False when it is not available
_cupy_error = None  # why not: the exception importing cupy or asking it for a device raised

INSTALL_CUPY = ("Install the extra with `pip install 'minigrad[gpu]'` (cupy-cuda12x) on a "
                "machine with an NVIDIA GPU, or keep the data on the CPU.")


def _load_cupy():
    global _cupy, _cupy_error
    if _cupy is None:
        try:
            import cupy  # noqa: F401
            import cupyx  # noqa: F401

            cupy.cuda.runtime.getDeviceCount()
            _cupy = cupy
            register_device(Device(cupy.ndarray, cupy, cupyx.scatter_add))
        except Exception as e:  # ImportError, or cupy present but no usable device
            _cupy, _cupy_error = False, e
    return _cupy


def gpu_available() -> bool:
    """True when cupy imports and sees at least one CUDA device."""
    return bool(_load_cupy())


def _not_installed(error) -> bool:
    """True when cupy itself is absent, as opposed to present but failing to
    load (a missing CUDA library, a driver too old, no device)."""
    return isinstance(error, ModuleNotFoundError) and error.name in ("cupy", "cupyx")


def _require_cupy():
    cp = _load_cupy()
    if not cp:
        error = _cupy_error
        if error is None or _not_installed(error):
            raise DeviceError(f"to_gpu: cupy with a CUDA device is needed. {INSTALL_CUPY}") \
                from error
        raise DeviceError(
            f"to_gpu: cupy is installed but could not be used: {type(error).__name__}: {error}. "
            "Check that the cupy package matches the machine's CUDA version (cupy-cuda12x "
            "for CUDA 12), that the NVIDIA driver is loaded and that a GPU is visible "
            "(nvidia-smi); or keep the data on the CPU.") from error
    return cp


# ------------------------------------------------------------------ devices
class Device(NamedTuple):
    """An array library that plays cupy's role: its array type, the module
    operations take as ``xp``, and its ``scatter_add`` (``cupyx.scatter_add``
    for cupy: numpy's ``np.add.at`` is not available on device arrays)."""
    array_type: type
    xp: object
    scatter_add: object


_devices: dict = {}    # array type -> Device, for arrays that are not numpy's
_targets: list = []    # devices to_gpu moves to, the last one first; empty: cupy


def register_device(device: Device, *, target: bool = False) -> None:
    """Make ``get_array_module`` and the other helpers here recognise the
    arrays of ``device``; with ``target=True`` ``to_gpu`` moves data to it too
    (until ``unregister_device``). cupy is registered when it loads;
    ``minigrad.testing.strict_device`` registers itself when turned on."""
    _devices[device.array_type] = device
    if target and device not in _targets:
        _targets.append(device)


def unregister_device(device: Device) -> None:
    _devices.pop(device.array_type, None)
    if device in _targets:
        _targets.remove(device)


def device_of(a) -> Device | None:
    """The Device an array lives on, or None for numpy arrays and anything else."""
    device = _devices.get(type(a))
    if device is None and _cupy is None and "cupy" in sys.modules:
        # cupy was imported by the user before minigrad needed it: register it now.
        _load_cupy()
    if device is None:
        # Subclasses of a device's array type (rare: an exact match is the fast path).
        device = next((d for d in _devices.values() if isinstance(a, d.array_type)), None)
    return device


def is_cupy_array(a) -> bool:
    """True for an array on a device (cupy's, or a registered stand-in)."""
    return device_of(a) is not None


def get_array_module(*arrays):
    """numpy, or the device module (cupy) if any argument is a device array.

    >>> import numpy as np
    >>> get_array_module(np.zeros(2), 2.0).__name__
    'numpy'
    """
    for a in arrays:
        if not isinstance(a, (np.ndarray, np.generic)):
            device = device_of(a)
            if device is not None:
                return device.xp
    return np


def as_numpy(a):
    """The array on the CPU (a no-op for numpy arrays)."""
    if isinstance(a, np.ndarray):
        return a
    if is_cupy_array(a):
        return a.get()
    return np.asarray(a)


def as_cupy(a):
    """The array on the current GPU (a no-op for arrays already there)."""
    device = _targets[-1] if _targets else _devices[_require_cupy().ndarray]
    if type(a) is device.array_type:
        return a
    if is_cupy_array(a):       # on another device: through the host
        a = a.get()
    return device.xp.asarray(a)


def as_array(x, like=None):
    """An ndarray from an array, a numpy scalar or a Python number.

    Python numbers take the dtype of ``like`` when given, so ``x * 2`` keeps a
    float32 ``x`` in float32 (numpy 2 would make a 0-d int64 array of the 2
    and then promote to float64).
    """
    if isinstance(x, np.ndarray) or is_cupy_array(x):
        return x
    if like is not None and isinstance(x, (int, float, bool)) and not isinstance(like, np.generic):
        xp = get_array_module(like)
        dtype = like.dtype if like.dtype.kind in "fc" else np.result_type(like.dtype, x)
        return xp.asarray(x, dtype=dtype)
    a = np.asarray(x)
    if a.dtype == object:
        raise TypeError(f"minigrad cannot hold an object array built from {type(x).__name__}; "
                        "pass a numeric array, list or number")
    return a


def owns_exclusively(a) -> bool:
    """True when ``a`` is an array the engine may keep as a gradient without a
    copy: it owns its memory (not a view of something else) and is writeable."""
    if isinstance(a, np.ndarray):
        return a.base is None and a.flags.writeable
    return getattr(a, "base", 1) is None


def coalesce_rows(indices, rows):
    """(unique sorted indices, the rows of each summed) for integer ``indices``
    (n,) and ``rows`` (n, ...) on the CPU.

    Sort; the first row of each run of equal indices is taken as it is, and
    only the repeats are added into it (np.add.at, in their original order:
    the sums a scatter into zeros gives). Most looked-up rows are distinct, so
    this is mostly one gather, ~10x faster than np.add.at over all rows."""
    order = np.argsort(indices, kind="stable")
    ordered, rows = indices[order], rows[order]
    first = np.ones(ordered.shape, dtype=bool)
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    summed = rows[first]
    repeats = ~first
    if repeats.any():
        run = np.cumsum(first) - 1
        np.add.at(summed, run[repeats], rows[repeats])
    return ordered[first], summed


# Set by a compiled step while it lowers a call to numpy kernels (minigrad.compiled).
_kernel_hook = None


def opaque_kernel(fn):
    """Mark ``fn`` as one kernel of a compiled step: it writes only into its
    array arguments, or only reads them to refuse bad input (a check), and
    returns its first argument or None. While a compiled step lowers a call
    to numpy kernels, a call of ``fn`` is noted whole, with its arrays, and
    made again on every replay, so what it does inside (a sort, a mask, a
    value read into Python) may depend on the data."""
    @functools.wraps(fn)
    def call(*args, **kwargs):
        hook = _kernel_hook
        if hook is not None:
            return hook(fn, args, kwargs)
        return fn(*args, **kwargs)
    return call


@opaque_kernel
def scatter_add(target, indices, values):
    """``target[indices] += values`` where repeated indices accumulate.

    numpy: whole rows picked by one integer array are coalesced first and then
    added with one fancy-indexed ``+=`` (indices now distinct); other indexes
    use ``np.add.at``. cupy: ``cupyx.scatter_add`` (``cupy.scatter_add`` was
    removed from CuPy long ago).
    """
    if isinstance(target, np.ndarray):
        if isinstance(indices, np.ndarray) and indices.dtype.kind in "iu" and \
                values.shape == indices.shape + target.shape[1:]:
            flat = indices.reshape(-1)
            unique, summed = coalesce_rows(flat, values.reshape((flat.shape[0],) + target.shape[1:]))
            target[unique] += summed
        else:
            np.add.at(target, indices, values)
    else:
        device_of(target).scatter_add(target, indices, values)
    return target
