"""The book's models written on minigrad's public API, beside their hand-written
twins (``models.twins``), which run book-style explicit forward/backward passes
on numpy arrays and are the reference the autograd models are checked against."""
