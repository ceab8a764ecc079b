"""Rendering DOT into pictures through the optional ``graphviz`` package.

The package (``pip install 'minigrad[viz]'``) and the ``dot`` program it runs
are both optional, so they are looked for only here, when a picture is asked
for. When either is missing and a file was asked for, the DOT source is still
written next to it, so nothing is lost, and the error says what to install.

A picture is rendered in memory and written to a file only when a path is
given; either way the returned :class:`Picture` shows itself in Jupyter.
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from ..atomic import atomic_write
from ..errors import MinigradError

# The formats a picture shows itself in, in Jupyter; any format `dot` writes
# can be saved.
FORMATS = ("svg", "png")

INSTALL = ("Install the Python package with `pip install 'minigrad[viz]'` and the Graphviz "
           "programs with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
           "(macOS) or `conda install graphviz`.")


class GraphvizNotFoundError(MinigradError, ImportError, RuntimeError):
    """The ``graphviz`` Python package or the ``dot`` program is missing.

    ``dot_path`` is where the DOT source was written instead of the picture
    (None when no file was asked for). (An ImportError for code that treats
    optional packages that way, and a RuntimeError like graphviz's own
    ``ExecutableNotFound``.)"""

    def __init__(self, message, dot_path=None):
        super().__init__(message)
        self.dot_path = dot_path


class PictureFormatError(MinigradError, ValueError):
    """A format that Graphviz's ``dot`` cannot write (or a path that names none)."""


def _save_source(source, path):
    if path is None:
        return None
    dot_path = path.with_suffix(".dot")
    atomic_write(dot_path, lambda f: f.write(source.encode("utf-8")))
    return dot_path


def _missing(what, source, path, fmt):
    dot_path = _save_source(source, path)
    if dot_path is None:
        return GraphvizNotFoundError(
            f"plot: {what}, so the graph was not drawn. {INSTALL} Meanwhile to_dot() gives "
            "the graph's DOT source as text.")
    return GraphvizNotFoundError(
        f"plot: {what}, so {path} was not drawn. {INSTALL} The graph's DOT source was written "
        f"to {dot_path}; once Graphviz is installed, `dot -T{fmt} {dot_path} -o "
        f"{path}` draws it.", dot_path)


def pipe(source: str, fmt: str, path: Path | None = None) -> bytes:
    """``source`` rendered by ``dot`` in format ``fmt``. On failure the source
    is saved next to ``path`` (when given) before the error is raised."""
    try:
        import graphviz
    except ImportError as e:
        raise _missing("the graphviz Python package is not installed", source, path, fmt) from e
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise _missing("the Graphviz program `dot` was not found on PATH", source, path,
                       fmt) from e
    except (ValueError, subprocess.CalledProcessError) as e:
        # An unknown format (the package's check) or one this `dot` lacks.
        _save_source(source, path)
        said = getattr(e, "stderr", None)
        said = said.decode("utf-8", "replace").strip() if isinstance(said, bytes) else str(e)
        raise PictureFormatError(
            f"plot: Graphviz's `dot` cannot write format {fmt!r}: {said}. Common formats: "
            "svg, png, pdf (the path's ending picks the format, or pass format=...)") from e
    except Exception:
        _save_source(source, path)  # a failing dot must not lose the graph either
        raise


class Picture:
    """A rendered graph: ``data`` (the bytes ``dot`` wrote), ``format``, the
    DOT ``source`` and ``path`` (None when it was not written to a file).
    Shown inline in Jupyter: as SVG, or as PNG when it is a PNG."""

    def __init__(self, source: str, fmt: str, data: bytes, path: Path | None = None):
        self.source, self.format, self.data, self.path = source, fmt, data, path
        self._svg = data.decode("utf-8") if fmt == "svg" else None

    def _repr_svg_(self):
        if self.format == "png":
            return None  # shown as itself, by _repr_png_
        if self._svg is None:
            self._svg = pipe(self.source, "svg").decode("utf-8")
        return self._svg

    def _repr_png_(self):
        return self.data if self.format == "png" else None

    def __repr__(self):
        if self.path is None:
            return f"<Picture: {self.format}, {len(self.data)} bytes, in memory>"
        return f"Picture({str(self.path)!r})"


def _format_of(path, fmt):
    if fmt is not None:
        return str(fmt).lower().lstrip(".")
    if path is None:
        return "svg"
    suffix = path.suffix[1:].lower()
    if not suffix:
        raise PictureFormatError(
            f"plot: cannot tell the format from {str(path)!r}; end the path with the format "
            "`dot` should write (.svg, .png, .pdf, ...) or pass format=...")
    return suffix


def plot_source(source: str, path=None, fmt=None) -> Picture:
    """Render DOT ``source``: into the file ``path`` (atomically) when given,
    else in memory; the format is ``fmt``, else the path's ending, else SVG."""
    path = None if path is None else Path(os.fspath(path))
    fmt = _format_of(path, fmt)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    data = pipe(source, fmt, path)
    if path is not None:
        atomic_write(path, lambda f: f.write(data))
    return Picture(source, fmt, data, path)
