"""Optimizers: each rule against arithmetic done by hand, hooks, tied weights,
skipping, dtypes, resuming from a state dict, and a convergence smoke test."""
from __future__ import annotations

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import optimizers as O
from minigrad.layers import Layer, Parameter
from minigrad.optimizers import OptimizerStateError

EPS = 1e-7
ALL = [O.SGD, O.Momentum, O.Nesterov, O.AdaGrad, O.RMSprop, O.Adam]

# Two steps on one parameter: p0, then gradients G1 and G2.
P0 = [1.0, -2.0]
G1 = [0.5, -1.0]
G2 = [0.25, 2.0]


def param(values, dtype=np.float64):
    return Parameter(np.array(values, dtype=dtype))


def set_grad(p, g):
    p.grad = mg.Variable(np.array(g, dtype=p.dtype))


def two_steps(opt_cls, **kw):
    p = param(P0)
    opt = opt_cls([p], **kw)
    for g in (G1, G2):
        set_grad(p, g)
        opt.update()
    return p, opt


def close(got, want):
    np.testing.assert_allclose(got, np.array(want, dtype=np.float64), rtol=1e-12, atol=1e-15)


# ------------------------------------------------------------ each rule by hand
def test_sgd_two_steps():
    p, _ = two_steps(O.SGD, lr=0.1)
    # p1 = [1 - 0.05, -2 + 0.1] = [0.95, -1.9]; p2 = [0.95 - 0.025, -1.9 - 0.2]
    close(p.data, [0.925, -2.1])


def test_momentum_two_steps():
    p, opt = two_steps(O.Momentum, lr=0.1, momentum=0.9)
    # v1 = -0.1*g1 = [-0.05, 0.1]            p1 = [0.95, -1.9]
    # v2 = 0.9*v1 - 0.1*g2 = [-0.07, -0.11]  p2 = p1 + v2
    close(opt.state_of(p)["v"], [-0.07, -0.11])
    close(p.data, [0.88, -2.01])


def test_nesterov_two_steps():
    p, opt = two_steps(O.Nesterov, lr=0.1, momentum=0.9)
    # v1 = [-0.05, 0.1]; p1 = p0 + 0.81*v1 - 0.19*g1
    p1 = [1 - 0.0405 - 0.095, -2 + 0.081 + 0.19]          # [0.8645, -1.729]
    # v2 = 0.9*v1 - 0.1*g2 = [-0.07, -0.11]; p2 = p1 + 0.81*v2 - 0.19*g2
    p2 = [p1[0] - 0.0567 - 0.0475, p1[1] - 0.0891 - 0.38]  # [0.7603, -2.1981]
    close(opt.state_of(p)["v"], [-0.07, -0.11])
    close(p.data, p2)


def test_adagrad_two_steps():
    p, opt = two_steps(O.AdaGrad, lr=0.1)
    # h1 = g1^2 = [0.25, 1.0]
    p1 = [1 - 0.1 * 0.5 / (0.5 + EPS), -2 + 0.1 * 1.0 / (1.0 + EPS)]
    # h2 = h1 + g2^2 = [0.3125, 5.0]
    p2 = [p1[0] - 0.1 * 0.25 / (math.sqrt(0.3125) + EPS),
          p1[1] - 0.1 * 2.0 / (math.sqrt(5.0) + EPS)]
    close(opt.state_of(p)["h"], [0.3125, 5.0])
    close(p.data, p2)


def test_rmsprop_two_steps():
    p, opt = two_steps(O.RMSprop, lr=0.1, decay_rate=0.9)
    # h1 = 0.9*0 + 0.1*g1^2 = [0.025, 0.1]
    p1 = [1 - 0.1 * 0.5 / (math.sqrt(0.025) + EPS), -2 + 0.1 * 1.0 / (math.sqrt(0.1) + EPS)]
    # h2 = 0.9*h1 + 0.1*g2^2 = [0.0225 + 0.00625, 0.09 + 0.4]
    p2 = [p1[0] - 0.1 * 0.25 / (math.sqrt(0.02875) + EPS),
          p1[1] - 0.1 * 2.0 / (math.sqrt(0.49) + EPS)]
    close(opt.state_of(p)["h"], [0.02875, 0.49])
    close(p.data, p2)


def test_adam_two_steps():
    p, opt = two_steps(O.Adam, lr=0.1, beta1=0.9, beta2=0.999)
    # t = 1: lr_t = 0.1*sqrt(1 - 0.999)/(1 - 0.9); m1 = 0.1*g1; v1 = 0.001*g1^2
    lr1 = 0.1 * math.sqrt(0.001) / 0.1
    m1, v1 = [0.05, -0.1], [0.00025, 0.001]
    p1 = [1 - lr1 * m1[0] / (math.sqrt(v1[0]) + EPS), -2 - lr1 * m1[1] / (math.sqrt(v1[1]) + EPS)]
    # t = 2: lr_t = 0.1*sqrt(1 - 0.999^2)/(1 - 0.81)
    #        m2 = m1 + 0.1*(g2 - m1); v2 = v1 + 0.001*(g2^2 - v1)
    lr2 = 0.1 * math.sqrt(1 - 0.998001) / 0.19
    m2 = [0.05 + 0.1 * (0.25 - 0.05), -0.1 + 0.1 * (2.0 + 0.1)]       # [0.07, 0.11]
    v2 = [0.00025 + 0.001 * (0.0625 - 0.00025), 0.001 + 0.001 * (4.0 - 0.001)]
    p2 = [p1[k] - lr2 * m2[k] / (math.sqrt(v2[k]) + EPS) for k in range(2)]
    assert opt.steps == 2
    close(opt.state_of(p)["m"], m2)
    close(opt.state_of(p)["v"], v2)
    close(p.data, p2)


def test_defaults_are_the_books():
    p = param(P0)
    assert O.SGD([p]).lr == 0.01
    assert (O.Momentum([p]).lr, O.Momentum([p]).momentum) == (0.01, 0.9)
    assert (O.Nesterov([p]).lr, O.Nesterov([p]).momentum) == (0.01, 0.9)
    assert O.AdaGrad([p]).lr == 0.01
    assert (O.RMSprop([p]).lr, O.RMSprop([p]).decay_rate) == (0.01, 0.99)
    adam = O.Adam([p])
    assert (adam.lr, adam.beta1, adam.beta2) == (0.001, 0.9, 0.999)


def test_default_rmsprop_step_by_hand():
    # Guards the default decay (0.99) being used, not just stored.
    p = param([1.0])
    opt = O.RMSprop([p])
    set_grad(p, [2.0])
    opt.update()
    # h = 0.01*4 = 0.04; p = 1 - 0.01*2/(0.2 + eps)
    close(p.data, [1 - 0.02 / (0.2 + EPS)])


# ------------------------------------------------------------ dtypes and placement
@pytest.mark.parametrize("opt_cls", ALL)
def test_float32_stays_float32_and_updates_in_place(opt_cls, xp):
    p = Parameter(xp.asarray(np.array(P0, dtype=np.float32)))
    buffer = p.data
    opt = opt_cls([p], lr=0.1)
    for g in (G1, G2):
        p.grad = mg.Variable(xp.asarray(np.array(g, dtype=np.float32)))
        opt.update()
    assert p.data is buffer and p.dtype == np.float32
    for slot in opt.slots:
        assert opt.state_of(p)[slot].dtype == np.float32
        assert type(opt.state_of(p)[slot]) is type(buffer)
    # Same numbers as a float64 run, to float32 precision.
    ref, _ = two_steps(opt_cls, lr=0.1)
    np.testing.assert_allclose(mg.to_cpu(p.data), ref.data, rtol=1e-5)


# ------------------------------------------------------------ hooks
def test_clip_grad_norm_clips_by_the_global_norm():
    a, b = param([1.0, 1.0]), param([[1.0]])
    set_grad(a, [3.0, 0.0])
    set_grad(b, [[4.0]])
    clip = O.ClipGradNorm(max_norm=1.0)
    clip([a, b])
    assert clip.last_norm == 5.0  # sqrt(9 + 0 + 16)
    close(a.grad.data, [3.0 / (5.0 + 1e-6), 0.0])
    close(b.grad.data, [[4.0 / (5.0 + 1e-6)]])


@pytest.mark.parametrize("max_norm", [10.0, 5.000001])
def test_clip_grad_norm_leaves_small_gradients_alone(max_norm):
    # rate = max_norm/(5 + 1e-6) >= 1: no scaling (5.000001 is the exact boundary).
    a = param([1.0, 1.0, 1.0])
    set_grad(a, [3.0, 0.0, -4.0])
    O.ClipGradNorm(max_norm)([a])
    assert a.grad.data.tolist() == [3.0, 0.0, -4.0]


def test_clip_grad_norm_at_max_norm_still_scales_like_the_book():
    # The book compares rate = max_norm/(norm + 1e-6) with 1, so norm == max_norm scales.
    a = param([0.0, 0.0])
    set_grad(a, [3.0, 4.0])
    O.ClipGradNorm(5.0)([a])
    close(a.grad.data, [15.0 / 5.000001, 20.0 / 5.000001])


def test_weight_decay_adds_rate_times_param():
    p = param(P0)
    opt = O.SGD([p], lr=0.1)
    opt.add_hook(O.WeightDecay(0.1))
    set_grad(p, G1)
    opt.update()
    # g = [0.5 + 0.1, -1 - 0.2] = [0.6, -1.2]; p = p0 - 0.1*g
    close(p.grad.data, [0.6, -1.2])
    close(p.data, [0.94, -1.88])


def test_hooks_run_in_the_order_added():
    def run(hooks):
        p = param([1.0, 0.0])
        opt = O.SGD([p], lr=1.0)
        for h in hooks:
            opt.add_hook(h)
        set_grad(p, [2.0, 4.0])
        opt.update()
        return p.grad.data

    # decay then clip: g = [3, 4] (norm 5), scaled by 1/(5 + 1e-6)
    close(run([O.WeightDecay(1.0), O.ClipGradNorm(1.0)]), [3 / 5.000001, 4 / 5.000001])
    # clip then decay: [2, 4]/(sqrt(20) + 1e-6) + [1, 0]
    s = math.sqrt(20.0) + 1e-6
    close(run([O.ClipGradNorm(1.0), O.WeightDecay(1.0)]), [2 / s + 1.0, 4 / s])

    calls = []
    p = param([1.0])
    opt = O.SGD([p])
    opt.add_hook(lambda ps: calls.append(("first", len(ps))))
    opt.add_hook(lambda ps: calls.append(("second", len(ps))))
    set_grad(p, [1.0])
    opt.update()
    assert calls == [("first", 1), ("second", 1)]


class Tied(Layer):
    def __init__(self):
        super().__init__()
        self.W = Parameter(np.array([1.0, -2.0]))
        self.inner = Layer()
        self.inner.W = self.W                 # the same Parameter, reachable twice
        self.b = Parameter(np.array([0.5]))

    def forward(self, x1, x2):
        return (self.W * x1).sum() + (self.inner.W * x2).sum() + self.b.sum()


@pytest.mark.parametrize("from_layer", [True, False])
def test_tied_parameter_is_updated_and_decayed_once(from_layer):
    model = Tied()
    source = model if from_layer else [model.W, model.inner.W, model.b, model.W]
    opt = O.Momentum(source, lr=0.1, momentum=0.9)
    opt.add_hook(O.WeightDecay(0.5))
    assert [id(p) for p in opt.params()] == [id(model.W), id(model.b)]
    model(np.array([1.0, 2.0]), np.array([3.0, 4.0])).backward()
    close(model.W.grad.data, [4.0, 6.0])  # summed over both uses by the engine
    opt.update()
    # g = [4, 6] + 0.5*[1, -2] = [4.5, 5]; v = -0.1*g; W = [1 - 0.45, -2 - 0.5]
    close(model.W.grad.data, [4.5, 5.0])
    close(model.W.data, [0.55, -2.5])
    close(model.b.data, [0.5 - 0.1 * (1.0 + 0.25)])


def test_parameters_without_a_gradient_are_skipped():
    a, b = param([1.0, 2.0]), param([3.0])
    opt = O.Adam([a, b], lr=0.1)
    clip, seen = O.ClipGradNorm(1e-3), []
    opt.add_hook(lambda ps: seen.append(list(ps)))
    opt.add_hook(clip)
    set_grad(a, [0.5, 0.5])
    opt.update()
    assert b.data.tolist() == [3.0] and b.grad is None
    assert [id(p) for p in seen[0]] == [id(a)]
    assert clip.last_norm == math.sqrt(0.5)
    state = opt.state_dict()
    assert "state.0.m" in state and not any(k.startswith("state.1.") for k in state)
    assert not np.array_equal(a.data, [1.0, 2.0])


def test_parameters_added_to_a_layer_later_are_updated():
    model = Layer()
    model.W = param([1.0])
    opt = O.SGD(model, lr=1.0)
    model.late = param([5.0])                 # e.g. a layer sizing itself on first call
    set_grad(model.W, [1.0])
    set_grad(model.late, [2.0])
    opt.update()
    assert (model.W.data.tolist(), model.late.data.tolist()) == ([0.0], [3.0])


def test_zero_grad_and_input_checks():
    a, b = param([1.0]), param([2.0])
    opt = O.SGD([a, b, a])
    assert len(opt.params()) == 2
    set_grad(a, [1.0])
    set_grad(b, [1.0])
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    assert opt.cleargrads == opt.zero_grad
    assert len(O.SGD(a).params()) == 1        # one Parameter, not its elements
    with pytest.raises(TypeError, match="ndarray"):
        O.SGD([np.zeros(2)])


# ------------------------------------------------------------ state dict
class Net(Layer):
    def __init__(self, rng):
        super().__init__()
        self.W = Parameter(rng.standard_normal((3, 2)).astype(np.float32))
        self.b = Parameter(rng.standard_normal(2).astype(np.float32))


def copy_of(net):
    twin = Net(np.random.default_rng(0))
    twin.W.data[...] = net.W.data
    twin.b.data[...] = net.b.data
    return twin


def steps(opt, net, grads):
    for gW, gb in grads:
        net.W.grad = mg.Variable(gW.copy())
        net.b.grad = mg.Variable(gb.copy())
        opt.update()


@pytest.mark.parametrize("opt_cls", ALL)
@pytest.mark.parametrize("via_npz", [False, True])
def test_state_dict_resumes_bit_identically(opt_cls, via_npz, tmp_path):
    rng = np.random.default_rng(1)
    grads = [(rng.standard_normal((3, 2)).astype(np.float32),
              rng.standard_normal(2).astype(np.float32)) for _ in range(7)]
    net = Net(rng)
    opt = opt_cls(net, lr=0.05)
    opt.add_hook(O.ClipGradNorm(2.0))
    steps(opt, net, grads[:3])
    state = opt.state_dict()
    if via_npz:
        np.savez(tmp_path / "opt.npz", **state)
        state = dict(np.load(tmp_path / "opt.npz"))
    twin = copy_of(net)
    steps(opt, net, grads[3:])

    resumed = opt_cls(twin, lr=123.0)          # hyper-parameters come from the state
    resumed.add_hook(O.ClipGradNorm(2.0))
    resumed.load_state_dict(state)
    assert resumed.lr == 0.05
    kept = {k: v.copy() for k, v in state.items() if k.startswith("state.")}
    steps(resumed, twin, grads[3:])
    assert all(np.array_equal(state[k], v) for k, v in kept.items())  # loaded by copy
    assert np.array_equal(twin.W.data, net.W.data) and np.array_equal(twin.b.data, net.b.data)
    assert twin.W.dtype == np.float32
    assert resumed.steps == opt.steps == 7


def test_state_dict_contents():
    net = Net(np.random.default_rng(0))
    opt = O.Adam(net, lr=0.01)
    set_grad(net.W, np.ones((3, 2)))
    set_grad(net.b, np.ones(2))
    opt.update()
    state = opt.state_dict()
    assert state["optimizer"] == "Adam" and state["steps"] == 1 and state["params"] == 2
    assert (state["hyper.lr"], state["hyper.beta1"], state["hyper.beta2"]) == (0.01, 0.9, 0.999)
    assert (state["param.0.name"], state["param.1.name"]) == ("W", "b")
    assert state["param.0.shape"] == (3, 2) and state["param.0.dtype"] == "float32"
    m = state["state.0.m"]
    assert type(m) is np.ndarray and m.dtype == np.float32
    assert m is not opt.state_of(net.W)["m"]   # a copy: saving it later sees this step's value
    # The optimizer never writes into a dict it returned or loaded.
    before = m.copy()
    opt.update()
    assert np.array_equal(m, before)
    assert "param.0.name" not in O.Adam([net.W, net.b]).state_dict()


def snapshot(opt):
    s = opt.state_dict()
    return {k: (v.copy() if isinstance(v, np.ndarray) else v) for k, v in s.items()}


def assert_same(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def trained_adam():
    net = Net(np.random.default_rng(0))
    opt = O.Adam(net, lr=0.01)
    set_grad(net.W, np.ones((3, 2)))
    set_grad(net.b, np.ones(2))
    opt.update()
    return net, opt


def broken(kind):
    net, opt = trained_adam()
    state = opt.state_dict()
    opt.update()                                # make the target differ from the state
    if kind == "count":
        state = O.Adam([net.W], lr=0.01).state_dict()
        return opt, state, "holds 1 parameters, this Adam has 2"
    if kind == "shape":
        state["param.1.shape"] = (3,)
        return opt, state, r"parameter 1 \('b'\) is \(2,\) float32 here but \(3,\) float32"
    if kind == "dtype":
        state["param.0.dtype"] = "float64"
        return opt, state, "parameter 0 .* float32 here but .* float64"
    if kind == "state_shape":
        state["state.1.v"] = np.zeros(5, np.float32)
        return opt, state, r"state 'v' of parameter 1 \('b'\) is \(5,\) float32"
    if kind == "state_dtype":
        state["state.1.m"] = state["state.1.m"].astype(np.float64)
        return opt, state, "state 'm' of parameter 1 .* float64"
    if kind == "type":
        return opt, O.SGD(net).state_dict(), "of a SGD optimizer, this one is Adam"
    if kind == "name":
        state["param.0.name"] = "encoder.W"
        return opt, state, "named 'W' here but 'encoder.W'"
    if kind == "unknown":
        state["hyper.eps"] = 1e-8
        return opt, state, "unexpected keys"
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["count", "shape", "dtype", "state_shape", "state_dtype",
                                  "type", "name", "unknown"])
def test_bad_state_raises_and_leaves_the_optimizer_untouched(kind):
    opt, state, message = broken(kind)
    opt.lr = 0.5                                  # differs from the state's 0.01
    before = snapshot(opt)
    with pytest.raises(OptimizerStateError, match=message) as info:
        opt.load_state_dict(state)
    assert isinstance(info.value, mg.MinigradError)
    assert_same(snapshot(opt), before)
    assert opt.lr == 0.5 and opt.steps == 2


# ------------------------------------------------------------ convergence
@pytest.mark.parametrize("opt_cls, lr", [(O.SGD, 0.1), (O.Momentum, 0.05), (O.Nesterov, 0.05),
                                         (O.AdaGrad, 0.5), (O.RMSprop, 0.05), (O.Adam, 0.1)])
def test_minimizes_a_quadratic(opt_cls, lr):
    a = np.array([1.0, 3.0, 0.5], dtype=np.float32)   # unequal curvatures
    c = np.array([2.0, -1.0, 4.0], dtype=np.float32)
    x = Parameter(np.zeros(3, dtype=np.float32))
    opt = opt_cls([x], lr=lr)

    def loss():
        return (a * (x - c) ** 2).sum()

    first = float(loss().data)
    for _ in range(300):
        opt.zero_grad()
        loss().backward()
        opt.update()
    last = float(loss().data)
    assert last < 1e-2 * first, (first, last)
    assert x.dtype == np.float32
