"""Minibatches: shuffled minibatches of a data set (the book's ``Trainer``),
truncated-BPTT streams over a corpus (its ``RnnlmTrainer``), and the binary
addition task.

Both batchers hand out one batch per ``next_batch()`` call and know by their
own count where each epoch starts, so a training loop needs nothing else from
them; ``state_dict()`` / ``load_state_dict()`` let a resumed run continue with
exactly the batches an uninterrupted run would have seen.

The truncated-BPTT scheme is the book's (``RnnlmTrainer.get_batch``): the
corpus gives ``L = len(corpus) - 1`` (input, next word) pairs; row ``i`` of
every batch reads the stream that starts at offset ``i * (L // batch_size)``,
and each batch continues every row where the previous batch stopped, so a
stateful RNN sees one continuous stream per row (wrapping round at the end).

>>> b = TBPTTBatcher(np.arange(13), batch_size=2, time_size=3)
>>> len(b)                      # 12 pairs // (2 * 3)
2
>>> xs, ts = next(iter(b))
>>> xs
array([[0, 1, 2],
       [6, 7, 8]])
>>> ts
array([[1, 2, 3],
       [7, 8, 9]])
>>> xs, ts = next(iter(b))     # the next batch continues each row
>>> xs
array([[ 3,  4,  5],
       [ 9, 10, 11]])
"""
from __future__ import annotations

import hashlib

import numpy as np

from .. import backend
from .. import random as mg_random
from ..errors import ShapeError

__all__ = ["ShuffledBatches", "TBPTTBatcher", "binary_addition_dataset"]


def _kept(a):
    """A data array as given on a device (the book moves its data with to_gpu
    before training), else as a numpy array."""
    return a if backend.is_cupy_array(a) else np.asarray(a)


def _take(a, idx):
    """``a[idx]`` for a numpy ``idx``, moved to ``a``'s device first."""
    return a[backend.get_array_module(a).asarray(idx)]


def _digest(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        a = np.ascontiguousarray(backend.as_numpy(a))
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def _positive_int(name, value):
    if isinstance(value, bool) or int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class ShuffledBatches:
    """Minibatches of ``arrays`` (the same first axis), reshuffled every epoch,
    as the book's ``Trainer.fit`` takes them; ``shuffle=False`` keeps the
    arrays' own order in every epoch (data drawn in a random order already,
    as the course notes' random pairs).

    An epoch is ``len(self)`` batches: ``len(arrays[0]) // batch_size`` (the
    remainder is dropped, as in the book). The order of each epoch is a
    permutation drawn from ``rng`` (default: minigrad.random's generator, so
    ``minigrad.random.seed`` makes it repeatable) when its first batch is
    asked for.

    >>> import minigrad.random
    >>> minigrad.random.seed(0)
    >>> batches = ShuffledBatches(np.arange(10), np.arange(10) * 10, batch_size=4)
    >>> len(batches)
    2
    >>> x, t = batches.next_batch()
    >>> x.shape, bool(np.all(t == x * 10))
    ((4,), True)
    """

    def __init__(self, *arrays, batch_size: int, rng=None, shuffle: bool = True):
        if not arrays:
            raise ValueError("ShuffledBatches needs at least one array")
        self.shuffle = bool(shuffle)
        arrays = tuple(_kept(a) for a in arrays)
        sizes = [len(a) for a in arrays]
        if len(set(sizes)) != 1:
            raise ShapeError(f"ShuffledBatches: the arrays differ in length along the first "
                             f"axis ({sizes}); they must hold one entry per example")
        self.batch_size = _positive_int("batch_size", batch_size)
        if sizes[0] < self.batch_size:
            raise ValueError(f"ShuffledBatches: {sizes[0]} examples are fewer than one batch "
                             f"of {self.batch_size}; use a smaller batch_size")
        self.arrays = arrays
        # An int seeds one generator for the whole run, not one per epoch.
        rng = None if rng is None else mg_random.generator(rng)
        self.rng = rng
        self.iteration = 0      # batches handed out so far, over all epochs
        self._order = None
        self._order_state = None   # the generator's state before this epoch's draw

    def __len__(self) -> int:
        return len(self.arrays[0]) // self.batch_size

    @property
    def epoch(self) -> int:
        """The epoch the next batch belongs to (0-based)."""
        return self.iteration // len(self)

    def next_batch(self) -> tuple:
        """The next minibatch: one slice of every array, in this epoch's order."""
        i = self.iteration % len(self)
        if self._order is None or (i == 0 and self.shuffle):
            if self.shuffle:
                rng = mg_random.generator(self.rng) if self.rng is None else self.rng
                self._order_state = mg_random.generator_state(rng)
                self._order = rng.permutation(len(self.arrays[0]))
            else:
                self._order = np.arange(len(self.arrays[0]))
        idx = self._order[i * self.batch_size:(i + 1) * self.batch_size]
        self.iteration += 1
        return tuple(_take(a, idx) for a in self.arrays)

    def __iter__(self):
        remaining = len(self) - self.iteration % len(self)
        for _ in range(remaining):
            yield self.next_batch()

    def digest(self) -> str:
        """SHA-256 of the data, so a resumed run can tell it is the same."""
        return _digest(*self.arrays)

    def state_dict(self) -> dict:
        """The count and the generator state this epoch's order was drawn from
        (the order itself is drawn again on restore: no copy of it is kept)."""
        return {"iteration": self.iteration, "batch_size": self.batch_size,
                "examples": len(self.arrays[0]), "order_state": self._order_state}

    def load_state_dict(self, state: dict) -> None:
        mine = self.state_dict()
        for key in ("batch_size", "examples"):
            if key in state and state[key] != mine[key]:
                raise ValueError(f"state was saved with {key}={state[key]}, but these batches "
                                 f"have {key}={mine[key]}; resuming would give different "
                                 f"batches")
        self.iteration = int(state["iteration"])
        self._order = self._order_state = None
        saved = state.get("order_state")
        if saved is None:
            return
        if self.rng is not None:
            # A generator of our own: put it where the saved run had it, so the
            # epochs after this one draw the orders the uninterrupted run drew.
            mg_random.set_generator_state(self.rng, saved)
            order = self.rng.permutation(len(self.arrays[0]))
        else:
            # minigrad.random's generator is restored by the training loop.
            order = mg_random.generator_from_state(saved).permutation(len(self.arrays[0]))
        if self.iteration % len(self):
            self._order_state, self._order = saved, order


class TBPTTBatcher:
    """Iterate ``(xs, ts)`` int batches of shape (batch_size, time_size), where
    ``ts`` holds the word after each word of ``xs``.

    One ``for`` loop over the batcher is one epoch of ``len(batcher)`` batches
    (``(len(corpus) - 1) // (batch_size * time_size)``, as in the book). The
    streams never restart: the next epoch continues where this one stopped.
    ``position`` counts the time steps handed out so far; ``state_dict()`` /
    ``load_state_dict()`` save and restore it, and a batcher restored mid-epoch
    finishes that epoch, so an interrupted run sees exactly the batches an
    uninterrupted one would.
    """

    def __init__(self, corpus, batch_size: int, time_size: int):
        corpus = _kept(corpus)
        if corpus.ndim != 1:
            raise ShapeError(f"TBPTTBatcher needs a 1-d corpus of word ids, got shape "
                             f"{corpus.shape}")
        self.batch_size = _positive_int("batch_size", batch_size)
        self.time_size = _positive_int("time_size", time_size)
        need = self.batch_size * self.time_size + 1
        if len(corpus) < need:
            what = "empty" if len(corpus) == 0 else f"too short ({len(corpus)} words)"
            raise ValueError(
                f"corpus is {what} for batch_size={self.batch_size} and "
                f"time_size={self.time_size}: one batch needs at least "
                f"batch_size * time_size + 1 = {need} words (the +1 is the target of "
                f"the last input); use a longer corpus or smaller sizes")
        self.corpus = corpus
        self.data_size = len(corpus) - 1  # number of (input, next word) pairs
        jump = self.data_size // self.batch_size
        self.offsets = np.arange(self.batch_size) * jump
        self.position = 0

    def __len__(self) -> int:
        return self.data_size // (self.batch_size * self.time_size)

    @property
    def iteration(self) -> int:
        """Batches handed out so far, over all epochs."""
        return self.position // self.time_size

    @property
    def epoch(self) -> int:
        """The epoch the next batch belongs to (0-based)."""
        return self.iteration // len(self)

    def next_batch(self):
        """The next ``(xs, ts)``; advances ``position`` by ``time_size``."""
        idx = (self.offsets[:, None] + self.position + np.arange(self.time_size)) % self.data_size
        self.position += self.time_size
        return _take(self.corpus, idx), _take(self.corpus, idx + 1)

    def __iter__(self):
        # Finish the current epoch only, so a restored batcher resumes mid-epoch.
        remaining = len(self) - self.iteration % len(self)
        for _ in range(remaining):
            yield self.next_batch()

    def digest(self) -> str:
        """SHA-256 of the corpus, so a resumed run can tell it is the same."""
        return _digest(self.corpus)

    def state_dict(self) -> dict:
        return {"position": self.position, "batch_size": self.batch_size,
                "time_size": self.time_size, "corpus_length": len(self.corpus)}

    def load_state_dict(self, state: dict) -> None:
        mine = self.state_dict()
        for key in ("batch_size", "time_size", "corpus_length"):
            if key in state and state[key] != mine[key]:
                raise ValueError(f"state was saved with {key}={state[key]}, but this "
                                 f"batcher has {key}={mine[key]}; resuming would give "
                                 f"different batches")
        position = int(state["position"])
        if position < 0 or position % self.time_size:
            raise ValueError(f"position must be a non-negative multiple of time_size="
                             f"{self.time_size}, got {position}")
        self.position = position


def binary_addition_dataset(bits: int = 8, dtype=np.float32):
    """Every sum ``a + b`` with ``a, b`` in ``[0, 2**(bits-1))``, as bit sequences.

    Returns ``(x, t)``: ``x`` of shape (N, bits, 2) holds the bits of ``a`` in
    channel 0 and of ``b`` in channel 1, and ``t`` of shape (N, bits) holds the
    bits of ``a + b`` (int64), with N = 4**(bits-1). Time step 0 is the
    **least significant bit**, so an RNN reading left to right sees each carry
    before it is needed. Row ``k`` is ``a = k // 2**(bits-1)``, ``b = k % 2**(bits-1)``;
    operands stay below ``2**(bits-1)`` so every sum fits in ``bits`` bits.

    >>> x, t = binary_addition_dataset(bits=3)
    >>> x.shape, t.shape
    ((16, 3, 2), (16, 3))
    >>> x[6]                    # a = 1, b = 2, least significant bit first
    array([[1., 0.],
           [0., 1.],
           [0., 0.]], dtype=float32)
    >>> t[6]                    # 3
    array([1, 1, 0])
    """
    bits = _positive_int("bits", bits)
    half = 1 << (bits - 1)
    a, b = np.divmod(np.arange(half * half, dtype=np.int64), half)
    shifts = np.arange(bits, dtype=np.int64)
    to_bits = lambda v: (v[:, None] >> shifts) & 1  # noqa: E731  (LSB first)
    x = np.stack([to_bits(a), to_bits(b)], axis=-1).astype(dtype)
    return x, to_bits(a + b)
