"""A drawing of a model's graph names each parameter by its path in the model
(affine1.W, lstm.Wx), not by its attribute alone (W, the same in every layer)."""
import re

import numpy as np
import pytest

import minigrad.functions as F
import minigrad.layers as L
from minigrad.viz import to_dot
from models.rnnlm import Rnnlm
from models.seq2seq import AttentionSeq2seq
from models.seq2seq.pictures import plot_decoder_step_graph


class TwoLayers(L.Layer):
    def __init__(self):
        super().__init__()
        self.affine1 = L.Linear(3, 4, rng=0)
        self.affine2 = L.Linear(4, 2, rng=1)

    def forward(self, x):
        return self.affine2(F.tanh(self.affine1(x)))


def names(dot: str) -> set:
    """The first line of every label: a variable's name, an operation's kind."""
    return set(re.findall(r'label="([^"\\]*)', dot))


def test_parameters_are_labelled_with_their_path_in_the_model():
    model = TwoLayers()
    y = model(np.ones((2, 3), dtype=np.float32))
    drawn = names(to_dot(y, model=model))
    assert {"affine1.W", "affine1.b", "affine2.W", "affine2.b"} <= drawn
    assert not drawn & {"W", "b"}
    assert {"W", "b"} <= names(to_dot(y))         # without the model: their own names


def test_a_recurrent_models_weights_and_their_gradients_carry_the_path():
    model = Rnnlm(7, 3, 3, rng=0)
    loss = model.loss(np.zeros((1, 2), np.int64), np.ones((1, 2), np.int64))
    assert {"embed.W", "lstm.Wx", "lstm.Wh", "lstm.b", "affine.W", "affine.b"} <= \
        names(to_dot(loss, model=model))
    loss.backward(create_graph=True)
    assert "affine.W.grad" in names(to_dot(model.affine.W.grad, model=model))


def test_the_decoder_step_picture_names_the_decoders_weights(tmp_path):
    model = AttentionSeq2seq(13, 4, 5, rng=0)
    plot_decoder_step_graph(model, tmp_path / "step.png")
    drawn = names((tmp_path / "step.dot").read_text())
    assert {"embed.W", "lstm.Wx", "lstm.Wh", "lstm.b", "affine.W", "affine.b"} <= drawn


def test_model_must_be_a_layer():
    y = TwoLayers()(np.ones((1, 3), dtype=np.float32))
    with pytest.raises(TypeError, match="to_dot: model must be a Layer.*got dict"):
        to_dot(y, model={})
