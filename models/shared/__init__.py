"""What every model family of models/ shares, and nothing family-specific:
weights by name (:mod:`.weights`), the one trainer every family trains with
(:mod:`.training`), the command line's common options (:mod:`.cli`) and the
comparison of a model with its twin (:mod:`.twin_check`). A family imports its
own modules, these and the book's layers (``models.book_layers``), never
another family's."""
