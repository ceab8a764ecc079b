"""hypothesis profiles: HYPOTHESIS_PROFILE=default|ci|thorough (default: default).

Tests size their example counts relative to the loaded profile's
max_examples (100 in "default"), so "thorough" runs every property 10x longer.
"""
import os

from hypothesis import settings

settings.register_profile("default", max_examples=100, deadline=None)
settings.register_profile("ci", max_examples=200, deadline=None, derandomize=True,
                          print_blob=True)
settings.register_profile("thorough", max_examples=1000, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


# ---------------------------------------------------------------- backends
# Every backend-dependent test takes the `xp` fixture: numpy always, cupy where
# a GPU with CuPy is present (skipped cleanly elsewhere), and the strict device
# always (minigrad.testing.strict_device: CuPy's refusals on the CPU, so the
# GPU-only mistakes fail here too). No GPU test file is a copy of a CPU one.
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import minigrad  # noqa: E402


from minigrad.testing import strict_device  # noqa: E402


@pytest.fixture(params=["numpy", pytest.param("cupy", marks=pytest.mark.gpu), "strict"])
def xp(request):
    if request.param == "numpy":
        yield np
    elif request.param == "strict":
        with strict_device.enabled() as device_xp:
            yield device_xp
    else:
        if not minigrad.gpu_available():
            pytest.skip("cupy with a CUDA device is not available")
        import cupy

        yield cupy
