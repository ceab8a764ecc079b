"""Training steps of a model on one backend (numpy, cupy or the strict device),
for the tests that check a model's step on each backend gives the CPU's numbers."""
from __future__ import annotations

import numpy as np

import minigrad as mg
from minigrad.optimizers import Adam


def on_device(xp, a):
    """``a`` (an array, or a list of arrays) moved to xp's device."""
    if xp is np:
        return a
    return [mg.to_gpu(x) for x in a] if isinstance(a, list) else mg.to_gpu(a)


def train_on(xp, model, batches, **kwargs):
    """The model's parameters (numpy copies, by name) after one Adam step per
    batch, with the model, the batches and ``kwargs`` on xp's device. Two
    batches carry a recurrent model's state and read Adam's state back once."""
    if xp is not np:
        model.to_gpu()
    batches = [[on_device(xp, a) for a in batch] for batch in batches]
    kwargs = {k: on_device(xp, v) for k, v in kwargs.items()}
    opt = Adam(model, lr=0.01)
    for batch in batches:
        loss = model.loss(*batch, **kwargs)
        assert mg.get_array_module(loss) is xp
        model.zero_grad()
        loss.backward()
        opt.update()
    assert all(mg.get_array_module(p) is xp for p in model.params())
    return {name: mg.to_cpu(p.data) for name, p in model.named_params()}


def assert_same_params(got, expected, rtol=1e-10):
    assert set(got) == set(expected)
    for name in expected:
        assert isinstance(got[name], np.ndarray), name
        np.testing.assert_allclose(got[name], expected[name], rtol=rtol, atol=1e-12,
                                   err_msg=name)
