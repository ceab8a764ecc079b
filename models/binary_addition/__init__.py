"""The course notes' binary adder: an RNN that learns to add two 7-bit numbers
bit by bit.

model.py        NotesAdder (the notes' program) and MinibatchAdder (the faster
                recipe), the data, their training and accuracy
experiments.py  the notes' experiments: tables with a verdict per claim, loss curves
twin.py         the notes' adder with its BPTT written by hand
"""
from .model import (INITS, MinibatchAdder, NotesAdder, accuracy,
                    binary_addition_dataset, first_perfect_window, notes_loss, notes_weights,
                    notes_streams, pair_sequences, train_minibatch_adder,
                    train_notes_adder)
from .twin import BinaryAdderBPTT

__all__ = ["NotesAdder", "train_notes_adder", "notes_streams", "notes_loss", "notes_weights",
           "pair_sequences", "first_perfect_window", "INITS", "MinibatchAdder",
           "train_minibatch_adder", "binary_addition_dataset", "accuracy", "BinaryAdderBPTT"]
