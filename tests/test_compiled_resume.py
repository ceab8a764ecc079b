"""A compiled run resumed from a checkpoint: a recording is not saved with the
checkpoint (it holds this process's Python objects), so the resumed run records
its step afresh: the first two calls of each signature are recorded (eager
steps), the third and later ones replayed. With two steps or fewer of a
signature left it only records; either way it continues the run exactly."""
import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.data import ShuffledBatches
from minigrad.optimizers import Adam
from minigrad.training import TrainingLoop

EPOCHS, BATCHES = 2, 6       # 12 steps of one signature


class Stop(Exception):
    pass


def _run(tmp_path, *, compiled=True, stop_after=None, resume=None, init=0):
    mg.random.seed(0)
    model = L.Sequential(L.Linear(3, 4, rng=init), L.Tanh(), L.Linear(4, 1, rng=init + 1))
    rng = np.random.default_rng(1)
    data = ShuffledBatches(rng.normal(size=(4 * BATCHES, 3)).astype(np.float32),
                           rng.normal(size=(4 * BATCHES, 1)).astype(np.float32), batch_size=4)

    def stop(loop, loss):
        if stop_after is not None and loop.iteration == stop_after:
            raise Stop()     # during the step after the checkpoint

    loop = TrainingLoop(model, Adam(model, lr=0.01), data, max_epoch=EPOCHS, progress=False,
                        loss=lambda x, t: F.mean((model(x) - t) ** 2), compiled=compiled,
                        checkpoint_every=stop_after or 1000,
                        checkpoint_path=tmp_path / "run_resume.npz", after_step=stop)
    return loop.run(resume=resume), model


@pytest.mark.parametrize("left, replayed", [(5, 3), (3, 1), (2, 0)])
def test_a_resumed_compiled_run_records_afresh_and_replays_from_the_third_step(
        tmp_path, left, replayed):
    want, eager_model = _run(tmp_path / "eager", compiled=False)
    with pytest.raises(Stop):
        _run(tmp_path / "part", stop_after=EPOCHS * BATCHES - left)
    got, model = _run(tmp_path / "part", resume=tmp_path / "part" / "run_resume.npz", init=5)
    assert got["loss"] == want["loss"]
    for (name, p), (_, q) in zip(eager_model.named_params(), model.named_params()):
        np.testing.assert_array_equal(q.data, p.data, err_msg=name)
    # replayed_steps counts this run's replays, since it started or resumed.
    assert got["replayed_steps"] == replayed
