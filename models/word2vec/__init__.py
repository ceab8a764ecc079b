"""word2vec (chapters 3 and 4): CBOW and SkipGram with negative sampling.

model.py     CBOW, SkipGram and their word vectors
train.py     train_word2vec: the book's Trainer on (contexts, target) pairs
evaluate.py  the book's queries: nearest words and analogies, and loading
             saved vectors (a run's or the book's cbow_params.pkl)
twin.py      the book's layer-by-layer forward and backward
check.py     a model against its twin on the same weights
"""
from .check import word2vec_twin_errors
from .evaluate import (BOOK_ANALOGIES, BOOK_NEIGHBOURS, analogy_rank, evaluate_vectors,
                       format_report, load_model, load_vectors)
from .model import CBOW, SkipGram, WordVectors
from .train import train_word2vec
from .twin import TwinCBOW, TwinSkipGram

__all__ = ["CBOW", "SkipGram", "WordVectors", "train_word2vec", "evaluate_vectors",
           "format_report", "analogy_rank", "load_model", "load_vectors", "BOOK_NEIGHBOURS",
           "BOOK_ANALOGIES", "TwinCBOW", "TwinSkipGram", "word2vec_twin_errors"]
