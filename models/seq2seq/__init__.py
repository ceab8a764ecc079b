"""The book's encoder-decoder models (chapters 7 and 8): Seq2seq, PeekySeq2seq
and AttentionSeq2seq.

model.py     the models and their exact-match accuracy
train.py     train_seq2seq: Adam, clipping, accuracy on the test questions each epoch
pictures.py  accuracy by epoch, attention maps, the graph of one decoder step
twin.py      TwinSeq2seq, the models assembled from the book's hand-written layers
check.py     a model and its twin built from the same weights
"""
from .check import SEQ2SEQ_KINDS, build_seq2seq_pair
from .model import (MODELS, AttentionDecoder, AttentionEncoder, AttentionSeq2seq, Decoder,
                    Encoder, PeekyDecoder, PeekySeq2seq, Seq2seq, exact_match_accuracy)
from .train import BOOK_SETTINGS, show_answers, train_seq2seq
from .twin import TwinSeq2seq

__all__ = ["Seq2seq", "PeekySeq2seq", "AttentionSeq2seq", "Encoder", "Decoder", "PeekyDecoder",
           "AttentionEncoder", "AttentionDecoder", "exact_match_accuracy", "MODELS",
           "train_seq2seq", "BOOK_SETTINGS", "show_answers", "TwinSeq2seq",
           "build_seq2seq_pair", "SEQ2SEQ_KINDS"]
