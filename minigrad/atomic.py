"""Writing a file so that a crash never leaves it half-written.

The content goes to a temporary file in the same directory (same filesystem,
so the rename cannot degrade into a copy), is flushed to disk, and is then
renamed over the target in one step: readers see the old file or the new one,
never a mixture. Used by checkpoints, training state, metrics and pictures.
"""
from __future__ import annotations

import os
import secrets

__all__ = ["atomic_write", "remove_stale_temporaries"]


def atomic_write(path, write) -> None:
    """Run ``write(f)`` on a binary file object, then put the result at ``path``
    atomically. On any error (KeyboardInterrupt included) the temporary file
    is removed and ``path`` keeps its previous content.

    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "notes.txt")
    >>> atomic_write(path, lambda f: f.write(b"first"))
    >>> def broken(f):
    ...     f.write(b"half of the sec")
    ...     raise OSError("disk full")
    >>> atomic_write(path, broken)
    Traceback (most recent call last):
    OSError: disk full
    >>> open(path).read(), sorted(os.listdir(os.path.dirname(path)))
    ('first', ['notes.txt'])
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f"{_temporary_prefix(path)}{secrets.token_hex(6)}.tmp")
    try:
        # "x": exclusive creation; unlike tempfile.mkstemp (0o600) the file gets
        # the permissions the umask gives any new file.
        with open(tmp, "xb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _temporary_prefix(path) -> str:
    return f".{os.path.basename(path)}."


def remove_stale_temporaries(path) -> None:
    """Delete the temporaries a killed writer left beside ``path`` (an
    exception removes its own; SIGKILL or a power cut cannot). Call it when no
    other process may be writing ``path``, e.g. when a training run starts."""
    directory = os.path.dirname(os.path.abspath(os.fspath(path)))
    prefix = _temporary_prefix(os.fspath(path))
    for name in os.listdir(directory):
        if name.startswith(prefix) and name.endswith(".tmp"):
            try:
                os.unlink(os.path.join(directory, name))
            except FileNotFoundError:
                pass


def _fsync_directory(directory) -> None:
    """Make the rename itself durable (POSIX); a no-op where directories cannot
    be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
