"""The book's RNN language models (chapters 5 and 6): SimpleRnnlm, Rnnlm and
BetterRnnlm.

model.py          the three models and their perplexity
train.py          train_rnnlm: truncated BPTT, validation, lr / 4 when worse, resume
generate_text.py  text from a trained model (the book's generate_text.py)
twin.py           TwinLM, the models assembled from the book's hand-written layers
check.py          a model and its twin built from the same weights
"""
from .check import LM_KINDS, build_lm_pair, dropout_keeps
from .generate_text import generate, ids_to_text
from .model import BetterRnnlm, Rnnlm, SimpleRnnlm, eval_perplexity
from .train import LR_SCHEDULES, train_rnnlm
from .twin import TwinLM

__all__ = ["SimpleRnnlm", "Rnnlm", "BetterRnnlm", "eval_perplexity", "train_rnnlm",
           "LR_SCHEDULES", "generate", "ids_to_text", "TwinLM", "build_lm_pair",
           "dropout_keeps", "LM_KINDS"]
