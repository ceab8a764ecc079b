"""Anomaly mode (NaN/Inf named at the operation that made it) and the
per-time-step gradient-norm trace of the sequence layers."""
import os

import numpy as np
import pytest

import minigrad as mg
from minigrad import functions as F
from minigrad import layers as L
from minigrad.core.config import state
from models.book_layers.time_layers import RNN as TwinRNNCell

HERE = os.path.basename(__file__)


def _line_of(marker):
    """The line number in this file of the source line containing ``marker``."""
    with open(__file__) as f:
        for k, line in enumerate(f, start=1):
            if marker in line and "_line_of" not in line:
                return k
    raise AssertionError(marker)


@pytest.fixture(autouse=True)
def _mode_off_afterwards():
    yield
    assert not state.detect_anomaly, "a test left anomaly mode on"


# ----------------------------------------------------------------- forward
def test_forward_nan_names_op_shapes_and_user_line():
    x = mg.Variable(np.array([[1.0, 0.0, 2.0]]))
    with pytest.raises(mg.AnomalyError) as e, mg.detect_anomaly(), \
            np.errstate(divide="ignore", invalid="ignore"):
        y = F.exp(x)
        z = F.log(x - 1.0) * y      # MARK-log: log(0) = -inf, log(-1) = nan
    msg = str(e.value)
    assert msg.startswith("Log produced nan and -inf in its output")
    assert "(1, 3) float64" in msg
    assert f"{HERE}:{_line_of('MARK-log')}" in msg
    assert "every input was finite" in msg


def test_forward_inf_from_a_layer_names_the_layer_line_too():
    lin = L.Linear(2, 2, dtype=np.float64, rng=0)
    lin.W.data[...] = 1e308          # the product overflows in the layer's own op
    with pytest.raises(mg.AnomalyError) as e, mg.detect_anomaly(), np.errstate(over="ignore"):
        lin(np.array([[10.0, 10.0]]))   # MARK-layer
    msg = str(e.value)
    assert "Linear produced inf" in msg
    assert f"{HERE}:{_line_of('MARK-layer')}" in msg
    assert "through minigrad/layers/linear.py:" in msg


def test_non_finite_data_is_blamed_on_the_data_not_the_operation():
    x = mg.Variable(np.array([1.0, np.nan]))
    with pytest.raises(mg.AnomalyError, match=r"Mul produced nan .* input\(s\) \[0\] were "
                                              r"already not finite: they came from data"):
        with mg.detect_anomaly():
            x * 2.0


def test_multi_output_operation_names_the_output():
    x = mg.Variable(np.array([1.0, 2.0, 1e308, 1e308]))
    with pytest.raises(mg.AnomalyError, match=r"^Mul produced inf"), mg.detect_anomaly(), \
            np.errstate(over="ignore"):
        a, b = F.split(x * 10.0, 2)


# ----------------------------------------------------------------- backward
def test_backward_inf_names_the_backward_and_the_forward_line():
    x = mg.Variable(np.array([0.0, 4.0]))
    with mg.detect_anomaly():
        y = F.sqrt(x)                # MARK-sqrt: finite forward, infinite slope at 0
        loss = F.sum(y * 3.0)
        with pytest.raises(mg.AnomalyError) as e, np.errstate(divide="ignore"):
            loss.backward()
    msg = str(e.value)
    assert msg.startswith("Sqrt.backward produced inf in the gradient for input 0 "
                          "(shape (2,) float64)")
    assert "its incoming gradient was finite, so this backward made it" in msg
    assert f"{HERE}:{_line_of('MARK-sqrt')}" in msg
    assert x.grad is None            # nothing half-accumulated into the leaf


def test_backward_with_create_graph_is_checked_too():
    x = mg.Variable(np.array([0.0, 1.0]))
    with mg.detect_anomaly():
        y = F.sum(F.sqrt(x))
        with pytest.raises(mg.AnomalyError, match=r"^Div produced inf .* while computing "
                                                  r"Sqrt\.backward"), \
                np.errstate(divide="ignore"):
            y.backward(create_graph=True)


def test_a_non_finite_seed_is_reported_as_incoming():
    x = mg.Variable(np.array([1.0, 2.0]))
    with mg.detect_anomaly():
        y = x * 3.0
        with pytest.raises(mg.AnomalyError, match="incoming gradient was already not finite"):
            y.backward(np.array([np.inf, 1.0]))


# ----------------------------------------------------------------- switches
def test_off_by_default_records_nothing_and_lets_nan_through():
    assert not mg.is_anomaly_enabled()
    x = mg.Variable(np.array([-1.0]))
    with np.errstate(invalid="ignore"):
        y = F.log(x)
    assert np.isnan(y.data).all()
    assert y.creator.created_at is None


def test_global_switch_and_context_manager_restore_state():
    mg.set_detect_anomaly(True)
    try:
        assert mg.is_anomaly_enabled()
        with mg.detect_anomaly(False):
            assert not mg.is_anomaly_enabled()
            y = mg.Variable(np.array([-1.0])) * 1.0
            assert y.creator.created_at is None
        assert mg.is_anomaly_enabled()
        y = mg.Variable(np.array([1.0])) * 1.0
        assert y.creator.created_at.startswith(__file__)
    finally:
        mg.set_detect_anomaly(False)
    with pytest.raises(mg.AnomalyError), mg.detect_anomaly(), np.errstate(invalid="ignore"):
        F.log(mg.Variable(np.array([-1.0])))
    assert not mg.is_anomaly_enabled()   # restored after the raise


def test_results_unchanged_in_anomaly_mode():
    rng = np.random.default_rng(0)
    x0, W0 = rng.normal(size=(4, 3)), rng.normal(size=(3, 2))

    def run():
        x, W = mg.Variable(x0.copy()), mg.Variable(W0.copy())
        loss = F.mean(F.tanh(x @ W) ** 2)
        loss.backward()
        return loss.data, x.grad.data, W.grad.data

    plain = run()
    with mg.detect_anomaly():
        checked = run()
    for a, b in zip(plain, checked):
        np.testing.assert_array_equal(a, b)


def test_overflow_inside_a_sequence_layer_names_both_lines():
    lstm = L.LSTM(3, 4, dtype=np.float64, rng=0)
    lstm.Wx.data[...] = 1.0
    x = np.full((2, 5, 3), 1e308)      # x Wx = 3e308: inf in the input projection
    with pytest.raises(mg.AnomalyError) as e, mg.detect_anomaly(), \
            np.errstate(over="ignore", invalid="ignore"):
        lstm(x)                            # MARK-lstm
    assert f"{HERE}:{_line_of('MARK-lstm')}" in str(e.value)
    assert "through minigrad/layers/" in str(e.value)


# ----------------------------------------------------------------- norm trace
def _twin_dh_norms(Wx, Wh, b, xs, dhs):
    """||dL/dh_t|| from the book's loop: dh_t = dhs[:, t] + (from step t+1)."""
    N, T, _ = xs.shape
    cells, h = [], np.zeros((N, Wh.shape[0]))
    for t in range(T):
        cell = TwinRNNCell(Wx, Wh, b)
        h = cell.forward(xs[:, t], h)
        cells.append(cell)
    norms, dh = np.zeros(T), np.zeros_like(h)
    for t in reversed(range(T)):
        total = dhs[:, t] + dh
        norms[t] = np.linalg.norm(total)
        _, dh = cells[t].backward(total)
    return norms


@pytest.mark.parametrize("fused", [True, False])
@pytest.mark.parametrize("scale", [0.5, 3.0])
def test_grad_norms_match_the_hand_written_loop(scale, fused):
    rng = np.random.default_rng(1)
    D, H, N, T = 3, 5, 2, 12
    Wx, Wh, b = rng.normal(size=(D, H)), scale * rng.normal(size=(H, H)) / np.sqrt(H), \
        rng.normal(size=H) * 0.1
    xs, dhs = rng.normal(size=(N, T, D)), rng.normal(size=(N, T, H))
    rnn = L.RNN(Wx=Wx, Wh=Wh, b=b, dtype=np.float64, trace_grads=True, fused=fused)
    hs = rnn(xs)
    F.sum(hs * dhs).backward()
    np.testing.assert_allclose(rnn.grad_norms(), _twin_dh_norms(Wx, Wh, b, xs, dhs),
                               rtol=1e-12)


def test_grad_norms_show_vanishing_gradients():
    lstm = L.LSTM(3, 8, trace_grads=True, dtype=np.float64, rng=0)
    hs = lstm(np.random.default_rng(0).normal(size=(4, 30, 3)))
    F.sum(hs[:, -1]).backward()
    norms = lstm.grad_norms()
    assert norms[-1] > 100 * norms[0] > 0


def test_grad_norms_errors_say_what_to_do():
    rnn = L.GRU(2, 3, rng=0)
    with pytest.raises(RuntimeError, match="trace_grads=True"):
        rnn.grad_norms()
    rnn.trace_grads = True
    rnn(np.ones((1, 4, 2), dtype=np.float32))
    with pytest.raises(RuntimeError, match="call backward"):
        rnn.grad_norms()


def test_plot_grad_norms_writes_a_picture(tmp_path):
    pytest.importorskip("matplotlib")
    from minigrad.viz import plot_grad_norms
    fig = plot_grad_norms([[1.0, 0.1, 0.01], [1.0, 2.0, 4.0]], tmp_path / "norms.png",
                          labels=["vanishing", "exploding"])
    assert (tmp_path / "norms.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert fig.axes[0].get_yscale() == "log"
    with pytest.raises(ValueError, match="2 traces but 1 labels"):
        plot_grad_norms([[1.0], [2.0]], labels=["one"])


def test_plot_grad_norms_without_matplotlib_says_what_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    from minigrad.viz import plot_grad_norms
    with pytest.raises(ImportError, match=r"pip install 'minigrad\[plot\]'"):
        plot_grad_norms([1.0, 0.5])
