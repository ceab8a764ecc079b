"""The book's two character-level sequence-to-sequence data sets (chapters 7 and 8).

``addition``: ``"16+75  _91  "``, questions 7 characters wide, answers 5 (the
``_`` included). ``date``: ``"september 27, 1994           _1994-09-27"``,
questions 29 wide, answers 11. 50,000 lines each; the ``_`` that starts every
answer is the decoder's start symbol.

``load_sequence(name)`` splits them exactly as the book's ``dataset/sequence.py``
does, so results compare with the book's:

* characters are numbered in order of first appearance in the file (each
  line's question, then its answer);
* the lines are shuffled with ``numpy.random.seed(1984)`` and
  ``numpy.random.shuffle``, here through a ``RandomState(1984)`` of its own,
  which gives the same order without touching numpy's global generator;
* the last 10% (5,000 lines) are the test set.

Unlike the book, the vocabulary lives in the returned :class:`SequenceData`,
not in module globals, so loading both files in one process gives each its
own vocabulary (the book's would merge them).

Where the files live, first match wins: the ``data_dir`` argument, the
``MINIGRAD_DATA`` environment variable, ``$XDG_CACHE_HOME/minigrad/sequence``
(``~/.cache/minigrad/sequence``). The first two may also be a root with these
files in its subfolder ``sequence/`` (``data/sequence/``, beside ``data/ptb/``):
that subfolder is looked in first. Missing files are downloaded from the book's
repository and every file is checked against its MD5 sum before it is parsed.

>>> data = parse_lines(["1+2  _3  ", "10+20_30 ", "3+4  _7  "], test_fraction=0.4)
>>> data
SequenceData('sequence': train (2, 5) / (2, 4), test (1, 5) / (1, 4), 9 characters)
>>> data.decode(data.x_train[0]), data.vocab_size, data.start_id
('3+4  ', 9, 4)
>>> data.encode(["4+3"]), data.encode(["4+3"], reverse=True)
(array([[7, 1, 5, 3, 3]]), array([[3, 3, 5, 1, 7]]))
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import MinigradError
from . import files
from .files import DataError

__all__ = ["load_sequence", "parse_lines", "numeric_dates", "SequenceData", "QuestionError",
           "NAMES", "FILES", "MD5", "SEED", "START"]

BASE_URL = "https://raw.githubusercontent.com/oreilly-japan/deep-learning-from-scratch-2/master/dataset/"
NAMES = ("addition", "date")
FILES = {name: f"{name}.txt" for name in NAMES}
MD5 = {
    "addition.txt": "0be232e09ddbc99aa7c7f54b5081dbc0",
    "date.txt": "831a4a9fd17c969a1419bb4b86253987",
}
SEED = 1984          # the book's shuffle seed
START = "_"          # separates question and answer; the decoder's first input
TEST_FRACTION = 0.1  # the book keeps len // 10 lines for the test set

# Module-level so tests can replace it and never touch the network.
_download = files.download_url
# BASE_URL and _download are read at each use, so patching this module's names works.
_SOURCE = files.DataSource("Sequence data", "load_sequence", MD5, lambda: BASE_URL,
                           lambda: _download, folder="sequence")


class QuestionError(MinigradError, ValueError):
    """A question that the data set's encoder input cannot hold: too long for
    its fixed width, or with a character outside its vocabulary."""


@dataclass(frozen=True, eq=False)
class SequenceData:
    """One split data set: id arrays and the character vocabulary that made them.

    ``x_train`` / ``x_test`` (N, question width) and ``t_train`` / ``t_test``
    (N, answer width) hold character ids (int64); every answer starts with
    ``start_id`` (the ``_``). Input reversal is an option of reading, not a
    second copy of the data: :meth:`split` and :meth:`batches` take
    ``reverse=True``.
    """

    name: str
    x_train: np.ndarray
    t_train: np.ndarray
    x_test: np.ndarray
    t_test: np.ndarray
    char_to_id: dict
    id_to_char: dict

    @property
    def vocab_size(self) -> int:
        return len(self.char_to_id)

    @property
    def start_id(self) -> int:
        return self.char_to_id[START]

    @property
    def question_width(self) -> int:
        return self.x_train.shape[1]

    @property
    def answer_width(self) -> int:
        return self.t_train.shape[1]

    def split(self, which: str = "train", reverse: bool = False):
        """``(x, t)`` of ``which`` ("train" or "test"); with ``reverse`` the
        questions read right to left (a view: nothing is copied)."""
        if which not in ("train", "test"):
            raise ValueError(f"SequenceData.split: which must be 'train' or 'test', "
                             f"got {which!r}")
        x, t = (self.x_train, self.t_train) if which == "train" else (self.x_test, self.t_test)
        return (x[:, ::-1] if reverse else x), t

    def batches(self, batch_size: int, rng=None, reverse: bool = False, which: str = "train"):
        """One epoch of ``(xs, ts)`` minibatches as the book's Trainer makes them:
        a fresh shuffle (``rng``: a numpy Generator or a seed; None: unshuffled)
        and ``len // batch_size`` full batches, the remainder dropped.

        >>> data = parse_lines([f"{i}+1 _{i + 1} " for i in range(5, 9)], test_fraction=0)
        >>> [(xs.shape, ts.shape) for xs, ts in data.batches(3, rng=0)]
        [((3, 4), (3, 3))]
        """
        x, t = self.split(which, reverse)
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"batches: batch_size must be a positive integer, "
                             f"got {batch_size!r}")
        order = (np.arange(len(x)) if rng is None else
                 np.random.default_rng(rng).permutation(len(x)))
        for i in range(len(x) // batch_size):
            idx = order[i * batch_size:(i + 1) * batch_size]
            yield x[idx], t[idx]

    # ------------------------------------------------------------ text <-> ids
    def encode(self, questions, reverse: bool = False) -> np.ndarray:
        """Questions (strings) as an (N, question_width) id array, each padded
        with spaces on the right as the data set pads them; ``reverse`` as for
        training. A question longer than the width or with a character the
        vocabulary lacks raises :class:`QuestionError`."""
        if isinstance(questions, str):
            questions = [questions]
        width = self.question_width
        ids = np.empty((len(questions), width), dtype=np.int64)
        for n, q in enumerate(questions):
            if len(q) > width:
                raise QuestionError(
                    f"encode: the question {q!r} has {len(q)} characters, but the "
                    f"{self.name} encoder reads questions {width} wide; shorten it")
            for k, ch in enumerate(q.ljust(width)):
                i = self.char_to_id.get(ch)
                if i is None:
                    known = "".join(sorted(self.char_to_id))
                    raise QuestionError(
                        f"encode: the question {q!r} has the character {ch!r} (position "
                        f"{k}), which the {self.name} vocabulary lacks; use only {known!r}")
                ids[n, k] = i
        return ids[:, ::-1] if reverse else ids

    def decode(self, ids):
        """Characters of an id sequence (a string), or of each row of a 2-D array
        (a list of strings)."""
        ids = np.asarray(ids)
        if ids.ndim == 2:
            return [self.decode(row) for row in ids]
        try:
            return "".join(self.id_to_char[int(i)] for i in ids)
        except KeyError as exc:
            raise ValueError(f"decode: id {exc.args[0]} is not in the {self.name} vocabulary "
                             f"of {self.vocab_size} characters") from None

    def __repr__(self):
        return (f"SequenceData({self.name!r}: train {self.x_train.shape} / {self.t_train.shape}, "
                f"test {self.x_test.shape} / {self.t_test.shape}, {self.vocab_size} characters)")


def parse_lines(lines, name: str = "sequence", seed=SEED, test_fraction=TEST_FRACTION):
    """A :class:`SequenceData` from lines ``question _answer``, split the book's
    way: vocabulary by first appearance, a ``RandomState(seed)`` shuffle (None:
    no shuffle), the last ``floor(len * test_fraction)`` lines as the test set
    (the book's ``len // 10``)."""
    questions, answers = [], []
    for number, line in enumerate(lines, 1):
        line = line.rstrip("\n")
        cut = line.find(START)
        if cut < 0:
            raise DataError(f"{name}: line {number} ({line!r}) has no {START!r} between "
                            "question and answer")
        questions.append(line[:cut])
        answers.append(line[cut:])
    if not questions:
        raise DataError(f"{name}: no lines to read")
    for what, texts in (("question", questions), ("answer", answers)):
        width = len(texts[0])
        for number, text in enumerate(texts, 1):
            if len(text) != width:
                raise DataError(f"{name}: line {number} has a {what} of {len(text)} "
                                f"characters, line 1 one of {width}; every {what} must have "
                                "the same width")
    char_to_id: dict = {}
    for q, a in zip(questions, answers):
        for ch in q + a:
            if ch not in char_to_id:
                char_to_id[ch] = len(char_to_id)
    x = np.array([[char_to_id[c] for c in q] for q in questions], dtype=np.int64)
    t = np.array([[char_to_id[c] for c in a] for a in answers], dtype=np.int64)
    if seed is not None:
        order = np.arange(len(x))
        np.random.RandomState(seed).shuffle(order)   # the book's seed(1984) + shuffle
        x, t = x[order], t[order]
    # The book's len // 10, for any fraction (the epsilon keeps 0.1 * 50,000 at 5,000).
    cut = len(x) - int(len(x) * test_fraction + 1e-9)
    return SequenceData(name, x[:cut], t[:cut], x[cut:], t[cut:], char_to_id,
                        {i: c for c, i in char_to_id.items()})


def numeric_dates(n: int, seed=0) -> list:
    """``n`` lines like the date set's numeric questions, generated: a day
    between 1970-01-01 and 2017-06-30 written M/D/YY, padded to the set's 29
    characters, then ``_YYYY-MM-DD`` (``"6/3/73 ... _1973-06-03"``). A
    quarter of the book's date set is of this kind; the tour and the tests
    train on these lines where the file may be absent.

    >>> numeric_dates(2, seed=1)[0]
    '6/22/92                      _1992-06-22'
    """
    import datetime

    rng = np.random.default_rng(seed)
    first = datetime.date(1970, 1, 1).toordinal()
    last = datetime.date(2017, 6, 30).toordinal()
    lines = []
    for day in rng.integers(first, last + 1, n):
        d = datetime.date.fromordinal(int(day))
        question = f"{d.month}/{d.day}/{d.year % 100:02d}"
        lines.append(f"{question:<29}{START}{d.isoformat()}")
    return lines


def default_data_dir(name=None) -> Path:
    """``MINIGRAD_DATA`` (or its ``sequence/``) if set, else the user cache
    directory for these files; ``name`` (addition, date): the folder that
    holds that data set's file."""
    return files.default_data_dir(_SOURCE.folder, _names(name))


def resolve_data_dir(data_dir=None, name=None) -> Path:
    """The directory ``load_sequence`` reads: the argument wins over the
    environment; either may hold the files in its ``sequence/`` subfolder."""
    return files.resolve_data_dir(data_dir, _SOURCE.folder, _names(name))


def _names(name):
    return tuple(FILES.values()) if name is None else (FILES[name],)


def load_sequence(name: str, data_dir=None, download: bool = True) -> SequenceData:
    """The book's ``addition`` or ``date`` data set, split as the book splits it.

    Every call reads and checks the file afresh (50,000 short lines: a fraction
    of a second) and returns arrays and a vocabulary of its own."""
    if name not in NAMES:
        raise ValueError(f"load_sequence: unknown data set {name!r}; choose one of "
                         f"{', '.join(NAMES)}")
    directory = _SOURCE.ensure(resolve_data_dir(data_dir, name), [FILES[name]], download)
    with open(directory / FILES[name], encoding="utf-8", newline="\n") as f:
        return parse_lines(f, name=name)
