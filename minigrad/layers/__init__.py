"""minigrad.layers (imported as L): the pieces models are made of."""
from .layer import Layer
from .parameter import Parameter
from .linear import Linear, TiedLinear
from .embedding import Embedding
from .dropout import Dropout
from .activation import ReLU, Sigmoid, Tanh
from .sequential import Sequential
from .serialization import (CheckpointError, book_params, load_param_list, load_state_dict,
                            load_weights, read_weights, save_weights, state_dict)
from .safe_pickle import UnsafePickleError, load_pickle
from .cells import GRUCell, LSTMCell, RNNCell
from .rnn import GRU, LSTM, RNN
from .bidirectional import BiGRU, BiLSTM, BiRNN
from .attention import Attention
from .negative_sampling import NegativeSamplingLoss, UnigramSampler

__all__ = ["Parameter", "Layer", "Linear", "TiedLinear", "Embedding", "Dropout",
           "Sequential", "Sigmoid", "Tanh", "ReLU",
           "save_weights", "load_weights", "state_dict", "load_state_dict", "CheckpointError",
           "load_pickle", "UnsafePickleError", "book_params", "load_param_list",
           "read_weights",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "BiRNN", "BiLSTM", "BiGRU",
           "Attention",
           "UnigramSampler", "NegativeSamplingLoss"]
