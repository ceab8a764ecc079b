"""minigrad.layers (imported as L): the pieces models are made of."""
from .layer import Layer
from .parameter import Parameter
from .linear import Linear, TiedLinear
from .embedding import Embedding
from .dropout import Dropout
from .serialization import CheckpointError, load_weights, save_weights
from .cells import GRUCell, LSTMCell, RNNCell
from .rnn import GRU, LSTM, RNN
from .bidirectional import BiGRU, BiLSTM, BiRNN
from .attention import Attention
from .negative_sampling import NegativeSamplingLoss, UnigramSampler

__all__ = ["Parameter", "Layer", "Linear", "TiedLinear", "Embedding", "Dropout",
           "save_weights", "load_weights", "CheckpointError",
           "RNNCell", "LSTMCell", "GRUCell", "RNN", "LSTM", "GRU", "BiRNN", "BiLSTM", "BiGRU",
           "Attention",
           "UnigramSampler", "NegativeSamplingLoss"]
