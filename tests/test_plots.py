"""The library's pictures: loss curves, the chapter-1 decision boundary and
attention maps, for any model; matplotlib optional."""
from __future__ import annotations

import sys

import numpy as np
import pytest

from minigrad import layers as L
from minigrad.training.plots import plot_attention_maps, plot_decision_boundary, plot_loss

PNG = b"\x89PNG"


class Halves(L.Layer):
    """Class 1 right of x = 0, class 0 left: a known boundary."""

    def __init__(self):
        super().__init__()
        self.fc = L.Linear(2, 2, W=np.array([[-1.0, 1.0], [0.0, 0.0]]), b=np.zeros(2))

    def forward(self, x):
        return self.fc(x)


def points():
    x = np.random.default_rng(0).uniform(-1, 1, size=(40, 2))
    return x, (x[:, 0] > 0).astype(np.int64)


def test_each_picture_writes_a_png_or_returns_the_figure(tmp_path):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    x, t = points()
    maps = [(np.full((3, 4), 0.25), list("abcd"), list("xyz"))] * 4
    for draw, name in [(lambda p: plot_loss([2.0, 1.0, 0.5], p, every=10), "loss.png"),
                       (lambda p: plot_decision_boundary(Halves(), x, t, p, step=0.05),
                        "boundary.png"),
                       (lambda p: plot_attention_maps(maps, p), "attention.png")]:
        assert draw(tmp_path / name) == str(tmp_path / name)
        assert (tmp_path / name).read_bytes()[:4] == PNG
        assert isinstance(draw(None), Figure)


def test_the_decision_boundary_is_the_models(tmp_path):
    pytest.importorskip("matplotlib")
    x, t = points()
    fig = plot_decision_boundary(Halves(), x, np.eye(2)[t], step=0.1, title="halves")
    ax = fig.axes[0]
    assert ax.get_title() == "halves"
    assert len(ax.collections) >= 3        # the regions and one scatter per class
    x_left, x_right = ax.get_xlim()
    assert x_left == pytest.approx(x[:, 0].min() - 0.1)


def test_bad_maps_are_refused():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match=r"map 0 is \(3, 4\), but has 2 target and 4 source"):
        plot_attention_maps([(np.zeros((3, 4)), list("abcd"), list("xy"))])
    with pytest.raises(ValueError, match=r"x must be \(N, 2\) points"):
        plot_decision_boundary(Halves(), np.zeros((4, 3)), np.zeros(4))


def test_without_matplotlib_a_note_and_none(monkeypatch, capsys, tmp_path):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert plot_loss([1.0, 0.5], tmp_path / "loss.png") is None
    assert "matplotlib is not installed" in capsys.readouterr().out
    assert not (tmp_path / "loss.png").exists()


def test_the_old_names_draw_with_the_library(tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import minigrad.training.plots
    import models.seq2seq.pictures
    import models.two_layer_net

    calls = []
    monkeypatch.setattr(minigrad.training.plots, "plot_decision_boundary",
                        lambda *a, **k: calls.append("boundary"))
    monkeypatch.setattr(minigrad.training.plots, "plot_attention_maps",
                        lambda *a, **k: calls.append("attention"))
    monkeypatch.setattr(models.seq2seq.pictures, "attention_maps", lambda *a: [])
    model = models.two_layer_net.TwoLayerNet(2, 4, 3, rng=0)
    x, t = points()
    models.two_layer_net.plot_decision_boundary(model, x, t, tmp_path / "b.png")
    models.seq2seq.pictures.plot_attention_maps(None, None, tmp_path / "a.png")
    assert calls == ["boundary", "attention"]
