"""The Penn Treebank language-modelling corpus (Mikolov's preprocessed version).

``load_ptb(split)`` returns ``(corpus, word_to_id, id_to_word)`` exactly as the
book's ``dataset/ptb.py`` does: every line end becomes ``<eos>``, ids are given
by first occurrence in the *training* file, and valid/test use train's
vocabulary (10,000 words). Token counts: 929,589 / 73,760 / 82,430.

Where the files live, first match wins:

1. the ``data_dir`` argument,
2. the ``MINIGRAD_DATA`` environment variable,
3. ``$XDG_CACHE_HOME/minigrad/ptb`` (``~/.cache/minigrad/ptb`` by default).

The first two may also be a root with PTB in its subfolder ``ptb/``
(``data/ptb/``, beside ``data/sequence/``): that subfolder is looked in first.

Missing files are downloaded (unless ``download=False``) and every file is
checked against its known MD5 sum before it is parsed.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from . import files
from .files import ChecksumError, DataError, DatasetNotFoundError, md5sum

# The book and most PTB language-model code fetch the corpus from here.
BASE_URL = "https://raw.githubusercontent.com/tomsercu/lstm/master/data/"

SPLITS = ("train", "valid", "test")
FILES = {split: f"ptb.{split}.txt" for split in SPLITS}
MD5 = {
    "ptb.train.txt": "f26c4b92c5fdc7b3f8c7cdcb991d8420",
    "ptb.valid.txt": "aa0affc06ff7c36e977d7cd49e3839bf",
    "ptb.test.txt": "8b80168b89c18661a38ef683c0dc3721",
}
TOKEN_COUNTS = {"train": 929_589, "valid": 73_760, "test": 82_430}
VOCAB_SIZE = 10_000
EOS = "<eos>"

__all__ = ["load_ptb", "clear_cache", "ensure_files", "resolve_data_dir", "default_data_dir",
           "md5sum", "DataError", "DatasetNotFoundError", "ChecksumError"]

# Module-level so tests can replace it and never touch the network.
_download = files.download_url
_NAMES = tuple(FILES.values())
# BASE_URL and _download are read at each use, so patching this module's names works.
_SOURCE = files.DataSource("PTB", "load_ptb", MD5, lambda: BASE_URL, lambda: _download,
                           folder="ptb")


def default_data_dir() -> Path:
    """``MINIGRAD_DATA`` (or its ``ptb/``) if set, else the user cache directory for PTB."""
    return files.default_data_dir(_SOURCE.folder, _NAMES)


def resolve_data_dir(data_dir=None) -> Path:
    """The directory ``load_ptb`` reads: the argument wins over the environment;
    either may hold PTB in its ``ptb/`` subfolder."""
    return files.resolve_data_dir(data_dir, _SOURCE.folder, _NAMES)


def ensure_files(data_dir=None, download=True, splits=SPLITS) -> Path:
    """Make sure the files of ``splits`` are present and verified; return the directory."""
    return _SOURCE.ensure(resolve_data_dir(data_dir), [FILES[s] for s in splits], download)


def _read_words(path: Path) -> list:
    # The book: every line end is a token of its own.
    with open(path, encoding="utf-8") as f:
        return f.read().replace("\n", f" {EOS} ").split()


# One entry per directory; the train file's stat is kept with it so that a file
# replaced on disk is re-read and re-verified rather than served stale.
_cache: dict = {}


def _train_stat(directory: Path):
    st = (directory / FILES["train"]).stat()
    return (st.st_mtime_ns, st.st_size)


def _cached(directory: Path):
    entry = _cache.get(str(directory.resolve()))
    if entry is None or not (directory / FILES["train"]).is_file():
        return None
    return entry if entry["stat"] == _train_stat(directory) else None


def load_ptb(split: str = "train", data_dir=None, download: bool = True):
    """Load one PTB split as ``(corpus, word_to_id, id_to_word)``.

    ``corpus`` is an int64 array of word ids; both dicts cover the 10,000 words
    of the training file. Each call returns fresh copies, so callers may edit
    them; parsing happens once per directory and process.
    """
    if split not in SPLITS:
        raise ValueError(f"unknown PTB split {split!r}; choose one of {', '.join(SPLITS)}")
    directory = resolve_data_dir(data_dir)
    # valid/test ids come from train's vocabulary, so train is always needed.
    needed = ("train",) if split == "train" else ("train", split)
    entry = _cached(directory)
    if entry is None or any(s not in entry["corpora"] for s in needed):
        ensure_files(directory, download=download, splits=needed)
        entry = _cached(directory)
        if entry is None:
            words = _read_words(directory / FILES["train"])
            word_to_id: dict = {}
            for w in words:
                if w not in word_to_id:
                    word_to_id[w] = len(word_to_id)
            corpus = np.fromiter((word_to_id[w] for w in words), dtype=np.int64,
                                 count=len(words))
            entry = {"word_to_id": word_to_id, "corpora": {"train": corpus},
                     "stat": _train_stat(directory)}
            _cache[str(directory.resolve())] = entry
        if split not in entry["corpora"]:
            words = _read_words(directory / FILES[split])
            w2i = entry["word_to_id"]
            try:
                ids = [w2i[w] for w in words]
            except KeyError as exc:
                raise DataError(f"{FILES[split]} holds the word {exc.args[0]!r}, which "
                                "is not in ptb.train.txt's vocabulary") from None
            entry["corpora"][split] = np.array(ids, dtype=np.int64)
    word_to_id = dict(entry["word_to_id"])
    id_to_word = {i: w for w, i in word_to_id.items()}
    return entry["corpora"][split].copy(), word_to_id, id_to_word


def clear_cache() -> None:
    """Forget the parsed corpora (about 8 MB per directory)."""
    _cache.clear()
