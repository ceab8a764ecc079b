"""Data sets and text helpers: PTB, the book's sequence data sets (addition and
dates), a small shipped corpus, word2vec contexts, the book's spiral, shuffled
and truncated-BPTT batches and the binary addition task.

Nothing here touches the network except ``load_ptb`` and ``load_sequence``
when their files are missing.
"""
from .batching import ShuffledBatches, TBPTTBatcher, binary_addition_dataset
from .files import ChecksumError, DataError, DatasetNotFoundError
from .ptb import load_ptb
from .sequence import QuestionError, SequenceData, load_sequence
from .small_corpus import load_small_corpus, small_corpus_text
from .spiral import spiral
from .text import (UnknownWordError, analogy, cos_similarity, create_contexts_target,
                   most_similar, preprocess)

__all__ = [
    "load_ptb", "load_sequence", "SequenceData", "QuestionError", "load_small_corpus",
    "small_corpus_text", "preprocess",
    "create_contexts_target", "cos_similarity", "most_similar", "analogy",
    "spiral", "ShuffledBatches", "TBPTTBatcher", "binary_addition_dataset",
    "DataError", "DatasetNotFoundError", "ChecksumError", "UnknownWordError",
]
