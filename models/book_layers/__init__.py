"""The book's layers, written by hand: book-style numpy layers with explicit
forward and backward passes ("Deep Learning from Scratch 2" conventions:
``params``, ``grads`` written in place, ``forward`` caches, ``backward(dout)``).

They import nothing from minigrad, run in the dtype of the given weights
(float64 for gradient checks), and are what each model family's hand-written
twin (``models/<family>/twin.py``) is assembled from: the independent
reference the autograd models are compared with.
"""
from .layers import (Affine, Embedding, EmbeddingDot, MatMul, NegativeSamplingLoss, Sigmoid,
                     SigmoidWithLoss, SoftmaxWithLoss, log_softmax, sigmoid, softmax,
                     softmax_cross_entropy)
from .time_layers import (GRU, LSTM, RNN, TimeAffine, TimeBiLSTM, TimeDropout, TimeEmbedding,
                          TimeGRU, TimeLSTM, TimeRNN, TimeSoftmaxWithLoss)
from .attention import Attention, AttentionWeight, TimeAttention, WeightSum

__all__ = ["MatMul", "Affine", "Sigmoid", "SoftmaxWithLoss", "SigmoidWithLoss", "Embedding",
           "EmbeddingDot", "NegativeSamplingLoss",
           "RNN", "TimeRNN", "LSTM", "TimeLSTM", "GRU", "TimeGRU", "TimeEmbedding",
           "TimeAffine", "TimeSoftmaxWithLoss", "TimeDropout", "TimeBiLSTM",
           "WeightSum", "AttentionWeight", "Attention", "TimeAttention",
           "sigmoid", "softmax", "log_softmax", "softmax_cross_entropy"]
