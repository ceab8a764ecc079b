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
    """Weights by name, in the book's layout, derived from ``named_params()``.

    A weight's key is its dotted name in ``named_params()``, renamed where the
    book calls it otherwise: ``BOOK_NAMES`` maps a dotted name, or the dotted
    name of a layer (then every weight under it), to the book's
    (``{"affine1.W": "W1"}``). A tied weight is one Parameter and has one key.
    """

    BOOK_NAMES: dict = {}

    @classmethod
    def book_name(cls, name: str) -> str:
        """The book's key of the weight ``named_params()`` calls ``name``."""
        for ours, books in cls.BOOK_NAMES.items():
            if name == ours:
                return books
            if name.startswith(ours + "."):
                return books + name[len(ours):]
        return name

    def named_weights(self) -> dict:
        """The book's key -> Parameter, in ``named_params()`` order."""
        return {self.book_name(name): p for name, p in self.named_params()}

    def weight_places(self) -> dict:
        """The book's key -> every (layer, attribute) that holds the weight (both
        places of a tied weight): where gradcheck's ``stand_in`` puts a Variable."""
        key_of = {id(p): key for key, p in self.named_weights().items()}
        places = {key: [] for key in key_of.values()}
        for layer, attr, p in _places(self):
            places[key_of[id(p)]].append((layer, attr))
        return places

    def to_weights(self) -> dict:
        """Copies of the weights as numpy arrays, by the book's keys."""
        return {key: mg.to_cpu(p.data).copy() for key, p in self.named_weights().items()}

    def load_arrays(self, weights: dict):
        """Overwrite every weight with a copy of the given array, through the
        layers' own assignment (``load_state_dict``): each copy lands on its
        weight's device, and the dtypes must be the model's. The keys must be
        exactly the model's and every shape and dtype its own: anything else
        raises :class:`WeightsError` listing every difference, before a single
        weight has changed."""
        params = self.named_weights()
        problems = [f"  {k}: missing (the model has {tuple(params[k].shape)})"
                    for k in params if k not in weights]
        problems += [f"  {k}: unexpected, the model has no such weight" for k in weights
                     if k not in params]
        for key, p in params.items():
            if key not in weights:
                continue
            got = weights[key]
            if np.shape(got) != tuple(p.shape):
                problems.append(f"  {key}: shape {np.shape(got)}, the model's is "
                                f"{tuple(p.shape)}")
            elif _dtype(got) != p.dtype:
                problems.append(f"  {key}: dtype {_dtype(got)}, the model's is {p.dtype} "
                                f"(cast with .astype({p.dtype.name!r}), or build the model "
                                f"with from_weights(..., dtype=...))")
        if problems:
            raise WeightsError(f"{type(self).__name__}: these weights do not fit the model's "
                               "layout (the book's, see the module's docstring); nothing was "
                               "loaded:\n" + "\n".join(problems))
        self.load_state_dict({name: weights[self.book_name(name)]
                              for name, _ in self.named_params()})
        return self

    @classmethod
    def _weights_in(cls, weights, dtype=None) -> dict:
        """``weights`` checked to be a dict, its arrays in ``dtype`` (the dtype
        the caller builds the model in; None: as they are)."""
        cls._weight_dict(weights)
        return {k: (a if dtype is None or _dtype(a) == dtype else np.asarray(a).astype(dtype))
                for k, a in weights.items()}

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
        # save_weights writes named_params()'s names; from_weights takes the book's.
        return cls.from_weights({cls.book_name(k): a for k, a in weights.items()}, dtype=dtype)

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


def _dtype(array):
    """The dtype of a numpy or cupy array, or of what numpy makes of a list."""
    dtype = getattr(array, "dtype", None)
    return np.asarray(array).dtype if dtype is None else dtype


def _places(model):
    """(layer, attribute, Parameter) for every place a Parameter is held in
    ``model`` and the layers below it, in definition order (as ``named_params``
    walks them), a tied Parameter at each of its places."""
    seen, stack = set(), [model]
    while stack:
        layer = stack.pop()
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        below = []
        for attr, child in layer._children.items():
            if isinstance(child, L.Parameter):
                yield layer, attr, child
            else:
                below.append(child)
        stack.extend(reversed(below))
