"""The strict test device (minigrad.testing.strict_device): its arrays refuse
what CuPy's refuse (implicit conversion to numpy, numpy arrays in an operation
or an index, ufunc.at), take what CuPy's take (Python numbers, numpy scalars
and 0-d arrays, explicit transfers), and backend's device registry sends
to_gpu to it only while it is on."""
import copy
import pickle

import numpy as np
import pytest

import minigrad as mg
from minigrad import backend
from minigrad import functions as F
from minigrad.testing import strict_device
from minigrad.testing.strict_device import StrictArray


@pytest.fixture
def xp():
    with strict_device.enabled() as device_xp:
        yield device_xp


@pytest.fixture
def a(xp):
    return xp.asarray(np.arange(6.0).reshape(2, 3))


def test_no_implicit_conversion_but_get_copies(a):
    with pytest.raises(TypeError, match="Implicit conversion to a NumPy array is not allowed"):
        np.asarray(a)
    host = a.get()
    assert type(host) is np.ndarray and host.tolist() == [[0, 1, 2], [3, 4, 5]]
    host[0, 0] = 9.0
    assert float(a[0, 0]) == 0.0          # a copy, not a view


@pytest.mark.parametrize("mix", [
    lambda a, h: a * h,
    lambda a, h: h * a,
    lambda a, h: np.multiply(h, a),
    lambda a, h: a.__imul__(h),            # ls *= mask, the mask left on the host
    lambda a, h: np.concatenate([a, h]),
    lambda a, h: a.reshape(3, 2).dot(h),
], ids=["operator", "reflected", "ufunc", "in-place", "function", "method"])
def test_numpy_arrays_are_refused_in_operations(a, mix):
    with pytest.raises(TypeError, match=r"got a numpy array \(shape \(2, 3\), float64\).*"
                                        r"move it to the device first"):
        mix(a, np.ones((2, 3)))


def test_numpy_index_or_values_are_refused_and_device_ones_taken(a, xp):
    with pytest.raises(TypeError, match=r"indexing a device array with a numpy array "
                                        r"\(shape \(2,\), int64\).*to_gpu"):
        a[np.array([1, 0])]
    with pytest.raises(TypeError, match="assigning into a device array: got a numpy array"):
        a[0] = np.zeros(3)
    rows = a[xp.asarray([1, 0, 1])]
    assert type(rows) is StrictArray and rows.get()[:, 0].tolist() == [3, 0, 3]
    a[xp.asarray([0])] = xp.zeros((1, 3))
    a[:, [0, 2]] = 7.0                     # lists of numbers and numbers are fine
    assert a.get().tolist() == [[7, 0, 7], [7, 4, 7]]


def test_scalars_numpy_scalars_and_0d_arrays_are_fine(a):
    b = a * 2 + np.float32(1) - np.array(0.5)
    assert type(b) is StrictArray and b.get()[1, 2] == 10.5
    total = a.sum()
    assert type(total) is StrictArray and total.shape == ()     # 0-d, as CuPy's reductions
    assert float(total) == 15.0 and int(a[1, 1]) == 4 and bool(a[0, 1])


def test_numpy_calls_dispatch_to_the_device(a):
    assert type(np.exp(a)) is StrictArray and type(np.sum(a, axis=0)) is StrictArray
    assert np.allclose(np.tanh(a).get(), np.tanh(a.get()))


def test_ufunc_at_is_absent_and_scatter_add_adds_repeats(a, xp):
    with pytest.raises(AttributeError, match="has no 'at'"):
        xp.add.at
    with pytest.raises(TypeError, match="'at'"):
        np.add.at(a, xp.asarray([0, 0]), 1.0)
    with pytest.raises(AttributeError, match="CuPy removed cupy.scatter_add"):
        xp.scatter_add
    target = xp.zeros(3)
    strict_device.scatter_add(target, xp.asarray([2, 0, 2]), xp.asarray([1.0, 2.0, 3.0]))
    assert target.get().tolist() == [2, 0, 4]
    backend.scatter_add(target, xp.asarray([1, 1]), xp.asarray([1.0, 1.0]))
    assert target.get().tolist() == [2, 2, 4]
    with pytest.raises(TypeError, match="scatter_add: got a numpy array"):
        strict_device.scatter_add(target, xp.asarray([0]), np.ones(1))


def test_transfers_copy_and_the_registry_routes_to_gpu(xp):
    host = np.arange(3.0)
    moved = xp.asarray(host)
    host[0] = 5.0
    assert moved.get()[0] == 0.0                          # a transfer copies
    assert xp.asarray(moved) is moved
    assert backend.get_array_module(moved, 2.0) is xp and backend.is_cupy_array(moved)
    v = mg.Variable(np.ones(2)).to_gpu()
    assert type(v.data) is StrictArray and type(mg.to_cpu(v)) is np.ndarray
    assert type(v.to_cpu().data) is np.ndarray


def test_turned_off_it_is_no_device_and_to_gpu_goes_back_to_cupy():
    with strict_device.enabled() as device_xp:
        leftover = device_xp.zeros(2)
    assert backend.device_of(leftover) is None
    assert backend.get_array_module(np.zeros(2)) is np
    if not mg.gpu_available():
        with pytest.raises(mg.DeviceError, match="to_gpu: cupy with a CUDA"):
            mg.to_gpu(np.zeros(2))


def test_variables_win_the_operators_and_gradients_stay_on_the_device(xp):
    x = mg.Variable(xp.asarray(np.array([0.5, -1.0])))
    y = xp.asarray(np.array([2.0, 3.0])) * x              # the Variable's reflected operator
    assert isinstance(y, mg.Variable)
    F.sum(F.tanh(y)).backward()
    assert type(x.grad.data) is StrictArray
    np.testing.assert_allclose(mg.to_cpu(x.grad), [2.0, 3.0] / np.cosh([1.0, -3.0]) ** 2)


def test_dropout_draws_its_mask_on_the_device(xp):
    mg.random.seed(0)
    a = F.dropout(xp.ones((4, 5)), 0.5)
    mg.random.seed(0)
    b = F.dropout(xp.ones((4, 5)), 0.5)
    assert type(a.data) is StrictArray
    assert np.array_equal(mg.to_cpu(a), mg.to_cpu(b))
    assert set(np.unique(mg.to_cpu(a))) <= {0.0, 2.0}


def test_copies_and_pickles_are_device_arrays(a):
    for c in (copy.copy(a), copy.deepcopy(a), pickle.loads(pickle.dumps(a))):
        assert type(c) is StrictArray and c.get().tolist() == a.get().tolist()
        c[0, 0] = 100.0
        assert float(a[0, 0]) == 0.0
