"""Finding, downloading and verifying data files: what every loader shares.

A data set is a few named files with known MD5 sums in one directory. The
directory is, first match wins:

1. the ``data_dir`` argument,
2. the ``MINIGRAD_DATA`` environment variable,
3. ``$XDG_CACHE_HOME/minigrad/<data set>`` (``~/.cache/minigrad/...`` by default).

The first two may name the data set's own folder or a root that holds every
data set in a subfolder of its own (``data/ptb/``, ``data/sequence/``): the
data set's subfolder is looked in first, then the folder itself.

Missing files are downloaded (unless ``download=False``) into a temporary
file beside their final place, checked, and only then renamed into place, so
the final path either does not exist or holds the verified file. Every file is
checked against its MD5 sum before a loader parses it.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
from pathlib import Path

from ..errors import MinigradError

__all__ = ["DataError", "DatasetNotFoundError", "ChecksumError", "DataSource",
           "default_data_dir", "resolve_data_dir", "own_folder", "md5sum", "download_url"]

_DOWNLOAD_TIMEOUT_S = 60


class DataError(MinigradError, RuntimeError):
    """A data set could not be found, fetched or verified."""


class DatasetNotFoundError(DataError, FileNotFoundError):
    """Data files are missing and could not be downloaded."""


class ChecksumError(DataError):
    """A data file does not have its known MD5 sum (corrupt or truncated)."""


def default_data_dir(cache_name: str, names=()) -> Path:
    """Where a data set's files are looked for without a ``data_dir``:
    ``MINIGRAD_DATA`` (see :func:`own_folder`) if set, else the user cache
    directory ``cache_name``."""
    env = os.environ.get("MINIGRAD_DATA")
    if env:
        return own_folder(Path(env).expanduser(), cache_name, names)
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "minigrad" / cache_name


def resolve_data_dir(data_dir, cache_name: str, names=()) -> Path:
    """The directory a loader reads: the argument wins over the environment."""
    if data_dir is not None:
        return own_folder(Path(data_dir).expanduser(), cache_name, names)
    return default_data_dir(cache_name, names)


def own_folder(folder: Path, subfolder: str, names=()) -> Path:
    """The folder that holds a data set's files ``names``, given a folder a
    user named: its ``subfolder`` (the data set's own, as in a ``data/``
    root holding ``ptb/`` and ``sequence/``) if that holds them all, else the
    folder itself if it does; neither: the subfolder if it exists, else the
    folder (where the files are then downloaded, or said to be missing)."""
    candidates = (folder / subfolder, folder)
    for candidate in candidates:
        if names and all((candidate / name).is_file() for name in names):
            return candidate
    return candidates[0] if candidates[0].is_dir() else folder


def md5sum(path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download_url(url: str, dest) -> None:
    """Write the bytes at ``url`` to ``dest`` (a temporary file of the caller's)."""
    with urllib.request.urlopen(url, timeout=_DOWNLOAD_TIMEOUT_S) as response, \
            open(dest, "wb") as out:
        while True:
            block = response.read(1 << 20)
            if not block:
                break
            out.write(block)


class DataSource:
    """One data set's files: where they come from and what they must hash to.

    ``label`` names the data set in messages ("PTB"), ``loader`` the function
    a user calls ("load_ptb"), ``folder`` the data set's own folder ("ptb":
    the cache's, and the subfolder looked in first). ``base_url`` and ``download`` are functions
    returning the URL prefix and the downloader, looked up at each use, so a
    loader module's own ``BASE_URL`` and ``_download`` stay the ones to patch.
    """

    def __init__(self, label, loader, md5, base_url, download, folder):
        # md5 is the loader's own dict, not a copy: one table of sums per data set.
        self.label, self.loader, self.md5, self.folder = label, loader, md5, folder
        self._base_url, self._download = base_url, download

    @property
    def base_url(self) -> str:
        return self._base_url()

    def checksum_message(self, name, path, found, downloaded) -> str:
        url = self.base_url + name
        if downloaded:
            advice = ("The download was corrupt or truncated and has been discarded; "
                      f"try again, or fetch the file by hand from {url} into {path.parent}.")
        else:
            advice = (f"The file is corrupt or truncated. Delete {path} and call "
                      f"{self.loader} again to re-download it, or replace it with a good "
                      f"copy from {url}.")
        return (f"checksum mismatch for {name} ({path}): expected MD5 {self.md5[name]}, "
                f"found {found}. {advice}")

    def missing_message(self, directory: Path, missing, reason: str) -> str:
        lines = "\n".join(f"  {directory / name}    (from {self.base_url}{name})"
                          for name in missing)
        return (f"{self.label} files are missing ({reason}). Put these files in {directory}:\n"
                f"{lines}\n"
                f"or point {self.loader}(data_dir=...) or the MINIGRAD_DATA environment "
                f"variable at a directory that holds {_listing(sorted(self.md5))}, or "
                f"holds them in a subfolder {self.folder}/.")

    def fetch(self, name: str, directory: Path) -> None:
        """Download ``name`` into ``directory`` atomically: the final path either
        does not exist or holds the verified file, never a partial one."""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / name
        fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
        os.close(fd)
        tmp = Path(tmp)
        try:
            self._download()(self.base_url + name, tmp)
            found = md5sum(tmp)
            if found != self.md5[name]:
                raise ChecksumError(self.checksum_message(name, path, found, True))
            os.replace(tmp, path)
        finally:
            if tmp.exists():
                tmp.unlink()

    def ensure(self, directory: Path, names, download=True) -> Path:
        """Make sure ``names`` are in ``directory`` and verified; return it."""
        missing = [n for n in names if not (directory / n).is_file()]
        if missing and not download:
            raise DatasetNotFoundError(self.missing_message(directory, missing,
                                                            "download=False"))
        for name in missing:
            try:
                self.fetch(name, directory)
            except ChecksumError:
                raise
            except Exception as exc:  # any network or file-system failure reads the same
                raise DatasetNotFoundError(self.missing_message(
                    directory, [n for n in missing if not (directory / n).is_file()],
                    f"download of {self.base_url}{name} failed: {exc}")) from exc
        for name in names:
            path = directory / name
            found = md5sum(path)
            if found != self.md5[name]:
                raise ChecksumError(self.checksum_message(name, path, found, False))
        return directory


def _listing(names) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
