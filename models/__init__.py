"""The book's models written on minigrad's public API, one folder per model
family, each beside its hand-written twin (book-style explicit forward and
backward passes on numpy arrays, the reference the autograd model is checked
against):

two_layer_net/    chapter 1: the two-layer network on the spiral
binary_addition/  the course notes' binary adder
word2vec/         chapters 3 and 4: CBOW and SkipGram
rnnlm/            chapters 5 and 6: the RNN language models
seq2seq/          chapters 7 and 8: seq2seq and attention

Shared by every family: the book's hand-written layers the twins are made of
(book_layers/) and the helpers in shared/ (weights by name, the optimizer a
trainer is given, the twin comparison). ``python -m models`` is the command
line, ``python -m models.tour`` the newcomer's tour."""
