"""Rendering DOT to PNG, SVG or PDF through the optional ``graphviz`` package.

The package (``pip install 'minigrad[viz]'``) and the ``dot`` program it runs
are both optional, so they are looked for only here, when a picture is asked
for. When either is missing the DOT source is still written next to the
requested file, so nothing is lost, and the error says what to install.
"""
from __future__ import annotations

from pathlib import Path

from ..atomic import atomic_write
from ..errors import MinigradError

FORMATS = ("png", "svg", "pdf")

INSTALL = ("Install the Python package with `pip install 'minigrad[viz]'` and the Graphviz "
           "programs with `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
           "(macOS) or `conda install graphviz`.")


class GraphvizNotFoundError(MinigradError, ImportError, RuntimeError):
    """The ``graphviz`` Python package or the ``dot`` program is missing.

    ``dot_path`` is where the DOT source was written instead of the picture.
    (An ImportError for code that treats optional packages that way, and a
    RuntimeError like graphviz's own ``ExecutableNotFound``.)"""

    def __init__(self, message, dot_path=None):
        super().__init__(message)
        self.dot_path = dot_path


def _save_source(source, path):
    dot_path = path.with_suffix(".dot")
    atomic_write(dot_path, lambda f: f.write(source.encode("utf-8")))
    return dot_path


def _missing(what, source, path):
    dot_path = _save_source(source, path)
    return GraphvizNotFoundError(
        f"plot: {what}, so {path} was not drawn. {INSTALL} The graph's DOT source was written "
        f"to {dot_path}; once Graphviz is installed, `dot -T{path.suffix[1:]} {dot_path} -o "
        f"{path}` draws it.", dot_path)


def pipe(source: str, fmt: str, path: Path) -> bytes:
    """``source`` rendered by ``dot`` in format ``fmt``; on failure the source
    is saved next to ``path`` before the error is raised."""
    try:
        import graphviz
    except ImportError as e:
        raise _missing("the graphviz Python package is not installed", source, path) from e
    try:
        return graphviz.Source(source).pipe(format=fmt)
    except graphviz.ExecutableNotFound as e:
        raise _missing("the Graphviz program `dot` was not found on PATH", source, path) from e
    except Exception:
        _save_source(source, path)  # a failing dot must not lose the graph either
        raise


class Picture:
    """A rendered graph: ``path``, ``format`` and the DOT ``source``. Shown
    inline in Jupyter as SVG."""

    def __init__(self, source: str, path: Path):
        self.source, self.path, self.format = source, path, path.suffix[1:].lower()
        self._svg = None

    def _repr_svg_(self):
        if self._svg is None:
            if self.format == "svg":
                self._svg = self.path.read_text(encoding="utf-8")
            else:
                self._svg = pipe(self.source, "svg", self.path).decode("utf-8")
        return self._svg

    def __repr__(self):
        return f"Picture({str(self.path)!r})"


def plot_source(source: str, path) -> Picture:
    path = Path(path)
    fmt = path.suffix[1:].lower()
    if fmt not in FORMATS:
        raise ValueError(f"plot: cannot tell the format from {str(path)!r}; end the path with "
                         f".png, .svg or .pdf (to_dot() gives the DOT text itself)")
    path.parent.mkdir(parents=True, exist_ok=True)
    image = pipe(source, fmt, path)
    atomic_write(path, lambda f: f.write(image))
    return Picture(source, path)
