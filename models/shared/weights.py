"""Weights by name, shared by every model family: ``to_weights`` /
``load_arrays`` / ``from_book`` / ``from_file`` over a model's table of
weights, and the error a layout that does not fit raises."""
from __future__ import annotations

import os

import numpy as np

import minigrad as mg
import minigrad.layers as L

__all__ = ["WeightsMixin", "WeightsError"]


class WeightsError(mg.MinigradError, KeyError, ValueError):
    """Weights that do not fit a model's layout: keys missing or unexpected,
    or arrays of another shape. Nothing was loaded."""

    def __str__(self):
        # KeyError's own __str__ would show the message's repr, quotes and all.
        return str(self.args[0])


class WeightsMixin:
    """from_weights / to_weights over a table of slots.

    A model's ``slots()`` maps each key of its weight dict to the places that
    hold that weight: a list of (layer, attribute) pairs. A tied weight has two
    places and one key. The tests use the same table to put gradcheck's
    Variables into the model."""

    def slots(self):
        raise NotImplementedError

    def to_weights(self) -> dict:
        """Copies of the weights as numpy arrays, keyed as in ``slots()``."""
        return {key: mg.to_cpu(getattr(layer, attr).data).copy()
                for key, ((layer, attr), *_) in self.slots().items()}

    def load_arrays(self, weights: dict):
        """Overwrite every weight with the given arrays (copied, cast to the
        model's dtype). The keys must be exactly ``slots()``'s and every shape
        the model's: anything else raises :class:`WeightsError` listing every
        difference, before a single weight has changed."""
        slots = self.slots()
        owner = type(self).__name__
        problems = [f"  {k}: missing (the model has {tuple(getattr(*slots[k][0]).shape)})"
                    for k in slots if k not in weights]
        problems += [f"  {k}: unexpected, the model has no such weight" for k in weights
                     if k not in slots]
        for key, ((layer, attr), *_) in slots.items():
            if key in weights:
                want, got = tuple(getattr(layer, attr).shape), np.shape(weights[key])
                if got != want:
                    problems.append(f"  {key}: shape {got}, the model's is {want}")
        if problems:
            raise WeightsError(f"{owner}: these weights do not fit the model's layout (the "
                               "book's, see the module's docstring); nothing was loaded:\n"
                               + "\n".join(problems))
        for key, ((layer, attr), *_) in slots.items():
            p = getattr(layer, attr)
            # Assigned to the data, not a new Parameter: a tied weight stays one object.
            p.data = np.array(weights[key], dtype=p.dtype, copy=True)
        return self

    @classmethod
    def _weight_dict(cls, weights) -> dict:
        """``weights`` if it is a dict of named arrays; a list (the book's
        ``params``, as its .pkl files hold them) is refused, pointing at from_book."""
        if not isinstance(weights, dict):
            raise WeightsError(f"{cls.__name__}.from_weights: weights must be a dict of named "
                               f"arrays (its keys in the module's docstring), got a "
                               f"{type(weights).__name__}; for the book's params list (its .pkl "
                               f"files) use {cls.__name__}.from_book(path)")
        return weights

    @classmethod
    def from_book(cls, path, dtype=np.float32):
        """A model holding the weights of one of the book's pickles (``Rnnlm.pkl``,
        ``AttentionSeq2seq.pkl``: the ``params`` list its ``save_params``
        writes, float16), read safely (nothing in the file can run) and cast to
        ``dtype``: float32 by default, the dtype the book's code computes in.
        V, D and H are read off the first arrays: the embedding (V, D), then
        the first recurrent layer's Wx (D, kH) and Wh (H, kH)."""
        return cls._from_param_list(L.book_params(path), os.fspath(path), dtype)

    @classmethod
    def from_file(cls, path, dtype=np.float32):
        """A model holding the weights of any file ``load_weights`` reads: one of
        the book's pickles, an .npz of ``save_weights`` or a training run's
        resume file; its sizes are read off the file."""
        weights = L.read_weights(path)
        if isinstance(weights, list):
            return cls._from_param_list(weights, os.fspath(path), dtype)
        return cls.from_weights(weights, dtype=dtype)

    @classmethod
    def _from_param_list(cls, arrays, source, dtype):
        try:
            (V, D), H = arrays[0].shape, arrays[2].shape[0]
        except (IndexError, ValueError):
            raise WeightsError(f"{cls.__name__}.from_book: {source} holds "
                               f"{mg.errors.describe(arrays) or 'no arrays'}; the book's params "
                               "list begins with the embedding (V, D), then the recurrent "
                               "layer's Wx (D, kH) and Wh (H, kH)") from None
        model = cls(V, D, H, dtype=dtype, rng=0)
        L.load_param_list(model, arrays, source)
        return model
