"""Habits from the book and from PyTorch that used to look as if they trained
and silently did not: each one now works or is refused with a clear message."""
from __future__ import annotations

import numpy as np
import pytest

import minigrad as mg
from minigrad.errors import GraphError, ShapeError
from minigrad.layers import Embedding, GRU, Layer, Linear, Parameter, Sequential, Tanh


# ------------------------------------------------------------ assigning to a parameter
@pytest.mark.parametrize("value", ["variable", "array", "none"])
def test_assigning_a_non_parameter_to_a_parameter_is_refused(value):
    lin = Linear(2, 3, rng=0)
    lin.W.grad = mg.Variable(np.ones((2, 3), dtype=np.float32))
    new = {"variable": lambda: lin.W - 0.1 * lin.W.grad,
           "array": lambda: lin.W.data - 0.1, "none": lambda: None}[value]()
    with pytest.raises(TypeError, match=r"Linear\.W is a Parameter.*W\.data -=.*Parameter\(array\)"):
        lin.W = new
    assert [name for name, _ in lin.named_params()] == ["W", "b"]
    assert set(lin.state_dict()) == {"W", "b"}


def test_assigning_a_parameter_or_deleting_first_still_works():
    lin = Linear(2, 3, rng=0)
    lin.W = Parameter(np.zeros((2, 3), dtype=np.float32))
    assert [name for name, _ in lin.named_params()] == ["W", "b"]
    assert not lin.W.data.any()
    del lin.b
    lin.b = np.zeros(3)          # no longer a parameter's name: a plain attribute
    assert [name for name, _ in lin.named_params()] == ["W"]


# ------------------------------------------------------------ the PyTorch update by hand
def _model_with_grads():
    mg.random.seed(0)
    model = Sequential(Linear(2, 3, rng=0), Tanh(), Linear(3, 1, rng=1))
    loss = mg.functions.mean(model(np.ones((4, 2), dtype=np.float32)) ** 2)
    loss.backward()
    return model


@pytest.mark.parametrize("op", ["-=", "+=", "*=", "/="])
def test_in_place_arithmetic_under_no_grad_updates_the_parameter(op):
    model = _model_with_grads()
    before = [p.data.copy() for p in model.params()]
    grads = [p.grad.data.copy() for p in model.params()]
    ids = [id(p) for p in model.params()]
    with mg.no_grad():
        for p in model.params():
            if op == "-=":
                p -= 0.1 * p.grad
            elif op == "+=":
                p += 0.1 * p.grad
            elif op == "*=":
                p *= 2.0
            else:
                p /= 2.0
    want = {"-=": lambda w, g: w - np.float32(0.1) * g, "+=": lambda w, g: w + np.float32(0.1) * g,
            "*=": lambda w, g: w * 2, "/=": lambda w, g: w / 2}[op]
    for p, w, g in zip(model.params(), before, grads):
        np.testing.assert_allclose(p.data, want(w, g), rtol=1e-6)
        assert p.dtype == np.float32
    assert [id(p) for p in model.params()] == ids        # the same Parameters, still registered


def test_the_attribute_form_of_the_update_keeps_the_parameter():
    model = _model_with_grads()
    first = model[0]
    W = first.W
    with mg.no_grad():
        first.W -= 0.5 * first.W.grad
    assert first.W is W
    assert [name for name, _ in model.named_params()] == ["0.W", "0.b", "2.W", "2.b"]


def test_in_place_arithmetic_outside_no_grad_is_refused():
    model = _model_with_grads()
    p = model.params()[0]
    before = p.data.copy()
    with pytest.raises(GraphError, match=r"-= on Parameter.*requires grad.*no_grad"):
        p -= 0.1 * p.grad
    np.testing.assert_array_equal(p.data, before)


def test_in_place_update_of_a_parameter_saved_by_a_live_graph_is_refused():
    lin = Linear(2, 2, rng=0, dtype=np.float64)
    x = mg.Variable(np.ones((1, 2)))
    loss = (lin(x) ** 2).sum()           # saves W for the gradient of x
    before = lin.W.data.copy()
    with pytest.raises(GraphError, match="saved by a graph"), mg.no_grad():
        lin.W -= 1.0
    np.testing.assert_array_equal(lin.W.data, before)
    loss.backward()                      # the gradient is still the right one (b is 0)
    np.testing.assert_allclose(x.grad.data, 2 * (np.ones((1, 2)) @ before) @ before.T)
    with mg.no_grad():                   # after backward the update goes through
        lin.W -= 1.0
    np.testing.assert_array_equal(lin.W.data, before - 1.0)


def test_in_place_update_with_an_operand_of_another_shape_is_refused():
    p = Parameter(np.zeros(3))
    with pytest.raises(ShapeError, match=r"-= on Parameter \(3,\).*\(2, 3\)"), mg.no_grad():
        p -= np.ones((2, 3))


# ------------------------------------------------------------ order and dtype
def test_layers_come_in_definition_order():
    first, tanh, last = Linear(2, 3), Tanh(), Linear(3, 4)

    class Model(Layer):
        def __init__(self):
            super().__init__()
            self.body = Sequential(first, tanh)
            self.head = last

    assert Sequential(first, tanh, last).layers() == [first, tanh, last]
    model = Model()
    assert model.layers() == [model.body, first, tanh, last]


@pytest.mark.parametrize("given", [[[1, 2]], [[1.0, 2.0]], np.array([[1, 2]]),
                                   np.array([[1, 2]], dtype=np.int32)])
def test_a_float32_linear_casts_lists_and_integer_arrays(given):
    lin = Linear(2, 3, rng=0)
    y = lin(given)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.data, np.array([[1.0, 2.0]]) @ lin.W.data + lin.b.data,
                               rtol=1e-6)


def test_a_list_goes_to_the_parameters_device(xp):
    lin = Linear(2, 3, rng=0)
    if xp is not np:
        lin.to_gpu()
    y = lin([[1, 2], [3, 4]])
    assert type(y.data) is type(lin.W.data) and y.dtype == np.float32


def test_integer_ids_still_reach_an_embedding_inside_a_model():
    class Model(Layer):
        def __init__(self):
            super().__init__()
            self.embed = Embedding(5, 3, rng=0)
            self.fc = Linear(3, 2, rng=0)

        def forward(self, ids):
            return self.fc(self.embed(ids))

    model = Model()
    assert model(np.array([[1, 4]])).shape == (1, 2, 2)
    assert GRU(3, 4, rng=0)(np.ones((1, 2, 3), dtype=np.int64)).dtype == np.float32


# ------------------------------------------------------------ optimizers
def test_an_optimizer_whose_parameters_get_no_gradient_says_so_once():
    from minigrad.optimizers import SGD, NoGradientWarning

    trained, other = _model_with_grads(), Sequential(Linear(2, 3, rng=0))
    opt = SGD(other, lr=0.1)              # built on the wrong model
    with pytest.warns(NoGradientWarning, match=r"SGD\.update: none of its 2 parameters has a "
                                               r"gradient.*model the optimizer was built on"):
        opt.update()
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.update()                      # once per optimizer, not every step
        SGD(trained, lr=0.1).update()     # gradients present: no warning


@pytest.mark.parametrize("build, match", [
    (lambda O, m: O(None), r"Adam: params must be a Layer \(the model\) or a list of its "
                           r"Parameters, got NoneType"),
    (lambda O, m: O([]), r"Adam: params is empty"),
    (lambda O, m: O([np.zeros(2)]), r"Adam: params must be .* holding a ndarray"),
    (lambda O, m: O(m, lr=-1), r"Adam: lr must be a finite number >= 0, got -1"),
    (lambda O, m: O(m, lr=float("nan")), r"Adam: lr must be"),
    (lambda O, m: O(m, lr=None), r"Adam: lr must be a finite number >= 0, got None"),
    (lambda O, m: O(m, beta1=1.0), r"Adam: beta1 must be a number in \[0, 1\), got 1.0"),
])
def test_optimizer_argument_errors_name_the_argument(build, match):
    from minigrad.optimizers import Adam

    with pytest.raises((TypeError, ValueError), match=match):
        build(Adam, Linear(2, 2))


def test_sgd_momentum_and_a_later_lr_are_checked_too():
    from minigrad.optimizers import SGD, Momentum

    with pytest.raises(ValueError, match=r"SGD: lr must be a finite number >= 0, got -1"):
        SGD(Linear(2, 2), lr=-1)
    with pytest.raises(ValueError, match=r"Momentum: momentum must be a number in \[0, 1\)"):
        Momentum(Linear(2, 2), momentum=1.5)
    opt = SGD(Linear(2, 2), lr=0.1)
    with pytest.raises(ValueError, match="SGD: lr must be"):
        opt.lr = -0.5
    assert opt.lr == 0.1


def test_step_is_update_and_other_names_say_what_minigrad_calls_them():
    from minigrad.optimizers import SGD

    model = _model_with_grads()
    before = [p.data.copy() for p in model.params()]
    opt = SGD(model, lr=0.1)
    opt.step()
    for p, w in zip(model.params(), before):
        np.testing.assert_allclose(p.data, w - np.float32(0.1) * p.grad.data, rtol=1e-6)
    assert opt.steps == 1
    with pytest.raises(AttributeError, match=r"SGD has no 'param_groups': .*\.lr"):
        opt.param_groups
    with pytest.raises(AttributeError, match=r"SGD has no 'target': .*optimizer\.model"):
        opt.target                                   # minigrad's own former name
    with pytest.raises(AttributeError, match=r"SGD\(model, lr=0.1\)"):
        opt.setup(model)
    with pytest.raises(AttributeError, match="'SGD' object has no attribute 'nonsense'"):
        opt.nonsense


def test_layer_names_from_pytorch():
    model = _model_with_grads()
    assert model.parameters() == model.params()
    for name, says in [("named_parameters", r"named_params\(\)"), ("children", r"layers\(\)"),
                       ("modules", r"layers\(\)"), ("cuda", r"to_gpu\(\)"),
                       ("requires_grad_", "requires_grad")]:
        with pytest.raises(AttributeError, match=f"Sequential has no '{name}': .*{says}"):
            getattr(model, name)
    with pytest.raises(AttributeError, match="'Sequential' object has no attribute 'nonsense'"):
        model.nonsense
    assert not hasattr(model, "__deepcopy__")        # copy and pickle still see the usual error
    import copy
    assert [n for n, _ in copy.deepcopy(model).named_params()] == ["0.W", "0.b", "2.W", "2.b"]


# ------------------------------------------------------------ a stateful layer, a new batch size
@pytest.mark.parametrize("cls", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("fused", [True, False])
def test_a_stateful_layer_fed_another_batch_size_names_the_carried_state(cls, fused):
    import minigrad.layers as layers

    layer = getattr(layers, cls)(3, 8, stateful=True, fused=fused, rng=0)
    layer(np.ones((1, 4, 3), dtype=np.float32))
    with pytest.raises(ShapeError, match=rf"{cls}\(stateful=True\): the state carried from the "
                                         r"last call is for a batch of 1 \(\(1, 8\)\), this batch "
                                         r"has 8 rows .*reset_state\(\)"):
        layer(np.ones((8, 4, 3), dtype=np.float32))
    layer.reset_state()
    assert layer(np.ones((8, 4, 3), dtype=np.float32)).shape == (8, 4, 8)
