"""Hand-written twins of the book's layers: book-style numpy layers with explicit
forward and backward passes ("Deep Learning from Scratch 2" conventions:
``params``, ``grads`` written in place, ``forward`` caches, ``backward(dout)``).

They import nothing from minigrad, run in the dtype of the given weights
(float64 for gradient checks), and are the independent reference the autograd
models in ``models`` are compared with.
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
           "Encoder", "Decoder", "PeekyDecoder", "AttentionEncoder", "AttentionDecoder",
           "TwinSeq2seq",
           "sigmoid", "softmax", "log_softmax", "softmax_cross_entropy", "TwinLM",
           "twin_cbow", "twin_skipgram", "TwinTwoLayerNet", "BinaryAdderBPTT"]

from .binary_addition import BinaryAdderBPTT  # noqa: E402
from .language_models import TwinLM  # noqa: E402
from .two_layer_net import TwinTwoLayerNet  # noqa: E402
from .word2vec import twin_cbow, twin_skipgram  # noqa: E402
from .seq2seq import (AttentionDecoder, AttentionEncoder, Decoder, Encoder,  # noqa: E402
                      PeekyDecoder, TwinSeq2seq)
