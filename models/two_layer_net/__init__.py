"""Chapter 1: the two-layer network on the spiral data set.

model.py  TwoLayerNet, its training (the book's ch01/train.py), accuracy and
          the decision-boundary picture
twin.py   the book's layer-list version with its backward written by hand
"""
from .model import (TwoLayerNet, accuracy, book_setup, plot_decision_boundary,
                    train_two_layer_net)
from .twin import TwinTwoLayerNet

__all__ = ["TwoLayerNet", "book_setup", "train_two_layer_net", "accuracy",
           "plot_decision_boundary", "TwinTwoLayerNet"]
