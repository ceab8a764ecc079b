"""What a new user meets first: a model prints as a tree, Parameters show
their names, Sequential and the activation layers, in-memory state dicts, one
name for clearing gradients, and the dtype rules (data take the layer's dtype;
dtype=None keeps the given weights' dtype)."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
import minigrad.functions as F
from minigrad.errors import DTypeError
from minigrad.layers import (GRU, LSTM, CheckpointError, Dropout, Embedding, Layer, Linear,
                             NegativeSamplingLoss, Parameter, ReLU, RNNCell, Sequential, Sigmoid,
                             Tanh, TiedLinear)
from minigrad.optimizers import SGD


class Net(Layer):
    def __init__(self):
        super().__init__()
        self.embed = Embedding(10, 4, rng=0)
        self.body = Sequential(Linear(4, 4, rng=1), Tanh(), Dropout(0.1))
        self.out = TiedLinear(self.embed.W)

    def forward(self, ids):
        return self.out(self.body(self.embed(ids)))


# ------------------------------------------------------------------ printing
def test_a_model_prints_as_a_tree_with_names_shapes_dtypes_and_a_count():
    text = repr(Net())
    assert text.splitlines() == [
        "Net: 70 parameters",
        "  embed: Embedding(10, 4)",
        "    W: (10, 4) float32",
        "  body: Sequential()",
        "    0: Linear(4, 4, bias=True)",
        "      W: (4, 4) float32",
        "      b: (4,) float32",
        "    1: Tanh()",
        "    2: Dropout(0.1)",
        "  out: TiedLinear(4, 10, bias=True)",
        "    W: tied to embed.W",
        "    b: (10,) float32",
    ]
    assert 40 + 16 + 4 + 10 == 70 == sum(p.size for p in Net().params())   # the tie counted once
    assert str(Net()) == text


def test_leaf_layers_print_their_settings_and_parameters():
    assert repr(Linear(3, 2, bias=False, dtype=np.float64)).splitlines() == [
        "Linear(3, 2, bias=False): 6 parameters", "  W: (3, 2) float64"]
    assert repr(GRU(3, 4, rng=0)).splitlines()[0] == "GRU(3, 4): 96 parameters"
    assert repr(Dropout(0.5)) == "Dropout(0.5): 0 parameters"
    assert repr(RNNCell(2, 1, rng=0)).splitlines()[0] == "RNNCell(2, 1): 4 parameters"


def test_a_layer_reached_twice_is_printed_once():
    class Twice(Layer):
        def __init__(self):
            super().__init__()
            self.a = Linear(2, 2, rng=0)
            self.b = self.a

    assert repr(Twice()).splitlines()[-1] == "  b: Linear(2, 2, bias=True), the same layer as a"


def test_a_parameter_repr_names_it():
    W = Parameter(np.zeros((2, 2), dtype=np.float32), name="W")
    assert repr(W) == ("parameter([[0., 0.],\n"
                       "           [0., 0.]], dtype=float32, name='W')")
    assert repr(Parameter(np.ones(2))) == "parameter([1., 1.])"
    assert repr(Linear(1, 1, W=np.ones((1, 1))).W) == "parameter([[1.]], name='W')"


# ------------------------------------------------------------------ Sequential and activations
def test_sequential_applies_its_layers_in_order_and_names_them_by_position():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((5, 3))
    first, second = Linear(3, 4, dtype=np.float64, rng=0), Linear(4, 2, dtype=np.float64, rng=1)
    model = Sequential(first, ReLU(), second, Sigmoid())
    expected = 1 / (1 + np.exp(-(np.maximum(x @ first.W.data + first.b.data, 0)
                                 @ second.W.data + second.b.data)))
    np.testing.assert_allclose(model(x).data, expected, rtol=1e-12)
    assert [n for n, _ in model.named_params()] == ["0.W", "0.b", "2.W", "2.b"]
    assert len(model) == 4 and model[2] is second and list(model)[1].__class__ is ReLU
    assert model.append(Tanh()) is model and len(model) == 5
    with pytest.raises(TypeError, match="item 5 is relu, not a Layer.*ReLU"):
        model.append(F.relu)


@pytest.mark.parametrize("layer, f", [(Sigmoid(), lambda x: 1 / (1 + np.exp(-x))),
                                      (Tanh(), np.tanh), (ReLU(), lambda x: np.maximum(x, 0))])
def test_activation_layers_are_their_functions(layer, f):
    x = mg.Variable(np.array([-2.0, -0.5, 0.3, 1.7]))
    y = layer(x)
    np.testing.assert_allclose(y.data, f(x.data), rtol=1e-12)
    assert y.creator is not None and not list(layer.params())


# ------------------------------------------------------------------ state dicts
def test_state_dict_round_trip_in_memory():
    src, dst = Net(), Net()
    dst.body[0].W.data = dst.body[0].W.data + 1.0
    state = src.state_dict()
    assert list(state) == ["embed.W", "body.0.W", "body.0.b", "out.b"]
    assert dst.load_state_dict(state) is dst
    for (n, p), (_, q) in zip(src.named_params(), dst.named_params()):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
        assert p.data is not q.data                     # copies, no aliasing either way
    state["out.b"][0] = 99.0
    assert src.out.b.data[0] != 99.0 and dst.out.b.data[0] != 99.0
    assert dst.out.W is dst.embed.W                     # the tie survives


def test_load_state_dict_mismatch_changes_nothing():
    model = Net()
    before = model.state_dict()
    bad = dict(before, **{"out.b": np.zeros(3, dtype=np.float32)})
    del bad["embed.W"]
    with pytest.raises(CheckpointError) as info:
        model.load_state_dict(bad)
    message = str(info.value)
    assert message.startswith("load_state_dict: the state dict does not match the model (Net)")
    assert "embed.W: missing from the state dict" in message
    assert "out.b: shape differs: the model has (10,), the state dict has (3,)" in message
    for name, a in model.state_dict().items():
        np.testing.assert_array_equal(a, before[name])


# ------------------------------------------------------------------ clearing gradients
def test_zero_grad_is_the_name_for_layers_and_optimizers_cleargrads_the_alias():
    model = Net()
    model(np.array([[1, 2]])).sum().backward()
    assert all(p.grad is not None for p in model.params())
    model.zero_grad()
    assert all(p.grad is None for p in model.params())
    assert Layer.cleargrads is Layer.zero_grad
    opt = SGD(model.params())
    assert type(opt).cleargrads is type(opt).zero_grad


# ------------------------------------------------------------------ dtypes
def test_a_float32_layer_fed_float64_data_computes_in_float32():
    fc = Linear(3, 2, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 3))           # float64
    y = fc(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, x.astype(np.float32) @ fc.W.data + fc.b.data,
                               rtol=1e-6)
    # keyword data, constant Variables and nested models too
    assert Net()(np.array([[1, 2]])).dtype == np.float32
    assert Sequential(Linear(3, 2, rng=0))(mg.Variable(x, requires_grad=False)).dtype == np.float32
    assert NegativeSamplingLoss((5, 3), counts=[1] * 5, sample_size=2)(x, np.arange(4) % 5).dtype == np.float32
    assert LSTM(3, 2, rng=0)(x[None]).dtype == np.float32


def test_integers_pass_unchanged_and_a_cast_variable_gets_its_own_dtypes_gradient():
    emb = Embedding(10, 2, rng=0)
    ids = np.array([1, 2])
    assert emb(ids).dtype == np.float32 and ids.dtype == np.int64
    x = mg.Variable(np.ones((1, 3)))                 # float64, needs a gradient
    fc = Linear(3, 2, rng=0)
    y = fc(x)
    assert y.dtype == np.float32 and y.creator.inputs[0].creator.name == "AsType"
    y.sum().backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad.data, fc.W.data.sum(axis=1)[None], rtol=1e-6)


def test_dtype_none_keeps_the_given_weights_dtype_else_float32():
    W64 = np.ones((3, 2))
    assert Linear(3, 2, W=W64).W.dtype == np.float64
    assert Linear(3, 2, W=W64).b.dtype == np.float64          # b follows W
    assert Linear(3, 2, b=np.zeros(2)).W.dtype == np.float64  # or b, when only b is given
    assert Linear(3, 2, W=W64, dtype=np.float32).W.dtype == np.float32
    assert Linear(3, 2, W=np.ones((3, 2), dtype=np.int64)).W.dtype == np.float32
    assert Linear(3, 2, rng=0).W.dtype == np.float32
    assert Embedding(3, 2, W=np.zeros((3, 2))).W.dtype == np.float64
    assert GRU(Wx=np.zeros((2, 9)), Wh=np.zeros((3, 9))).b.dtype == np.float64
    assert NegativeSamplingLoss(np.zeros((4, 2)), counts=[1] * 4, sample_size=2).W.dtype == np.float64
    assert NegativeSamplingLoss((4, 2), counts=[1] * 4, sample_size=2).W.dtype == np.float32
    with pytest.raises(DTypeError, match="Linear: dtype must be a floating-point type"):
        Linear(3, 2, dtype=np.int32)
    # float64 data into a float64 layer built from float64 weights: all float64
    assert Linear(3, 2, W=W64)(np.ones((1, 3))).dtype == np.float64
