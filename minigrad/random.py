"""The random source of minigrad's own draws (dropout masks, samplers).

One seed makes runs repeatable: ``minigrad.random.seed(0)``.
"""
from __future__ import annotations

import numpy as np

_numpy_rng = np.random.default_rng()
_device_rngs: dict = {}  # device module -> its generator, made on first use
_seed = None
# Called before each draw when set: a compiled step, while it records, refuses
# draws that a replay would not repeat (minigrad.compiled).
_draw_check = None


def seed(value: int) -> None:
    """Seed minigrad's generators (numpy now, cupy on first GPU use)."""
    global _numpy_rng, _seed
    _seed = value
    _numpy_rng = np.random.default_rng(value)
    _device_rngs.clear()


def numpy_generator() -> np.random.Generator:
    """minigrad's own generator, for a draw made now."""
    note_draw()
    return _numpy_rng


def note_draw() -> None:
    """Say that a draw is made now (from minigrad's generator or a layer's own):
    a compiled step must know which operations draw."""
    if _draw_check is not None:
        _draw_check()


def set_draw_check(check) -> None:
    """Call ``check()`` before each draw from minigrad's generator (None: stop)."""
    global _draw_check
    _draw_check = check


def generator(rng=None) -> np.random.Generator:
    """The generator to draw from: ``rng`` itself if it is a Generator (or a
    legacy ``RandomState``: the book's ``np.random.seed`` stream, replayed), a
    new one seeded with ``rng`` if it is an int, else minigrad's own (so
    ``minigrad.random.seed`` makes every default draw repeatable)."""
    if rng is None:
        return _numpy_rng
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    return np.random.default_rng(rng)


def get_state():
    """The generator state, for checkpoints (restore with set_state)."""
    return _numpy_rng.bit_generator.state


def set_state(state) -> None:
    _numpy_rng.bit_generator.state = state


def generator_state(rng) -> dict:
    """The state of ``rng`` (a Generator or a legacy RandomState), in a form
    that JSON keeps (a resume file's record)."""
    if isinstance(rng, np.random.RandomState):
        state = rng.get_state(legacy=False)
        state["state"] = {"key": state["state"]["key"].tolist(), "pos": state["state"]["pos"]}
        return state
    return rng.bit_generator.state


def generator_from_state(state):
    """A new generator in ``state`` (from :func:`generator_state`), of the same kind."""
    if "has_gauss" in state:
        rng = np.random.RandomState()
        rng.set_state(dict(state, state={"key": np.asarray(state["state"]["key"], np.uint32),
                                         "pos": state["state"]["pos"]}))
        return rng
    rng = np.random.Generator(getattr(np.random, state["bit_generator"])())
    rng.bit_generator.state = state
    return rng


def set_generator_state(rng, state) -> None:
    """Put ``rng`` (a Generator or a RandomState) in ``state`` (from :func:`generator_state`)."""
    source = generator_from_state(state)
    if isinstance(rng, np.random.RandomState):
        rng.set_state(source.get_state())
    else:
        rng.bit_generator.state = source.bit_generator.state


def uniform(xp, shape, dtype):
    """Uniform [0, 1) samples of ``dtype`` on the device of ``xp``."""
    if _draw_check is not None:
        _draw_check()
    if xp is np:
        kind = dtype if np.dtype(dtype) in (np.float32, np.float64) else np.float64
        return _numpy_rng.random(shape, dtype=kind)
    rng = _device_rngs.get(xp)
    if rng is None:
        rng = _device_rngs[xp] = xp.random.default_rng(_seed)
    return rng.random(shape, dtype=dtype)
