"""MkDocs hook: pages include files from outside docs/ at build time.

A line of the form

    <!-- include: benchmarks/results/engine_overhead.md -->

(the path relative to the repository root) is replaced by that file's text,
with its headings moved one level down so that the file's own title nests
under the page's section. The file is read at every build, so a page shows the
latest results and cannot go stale; a missing file stops the build, as a broken
link does. On GitHub the marker is an HTML comment and shows nothing.
"""
from __future__ import annotations

import re
from pathlib import Path

from mkdocs.exceptions import PluginError

MARKER = re.compile(r"^<!--\s*include:\s*(?P<path>\S+)\s*-->[ \t]*$", re.MULTILINE)
_HEADING = re.compile(r"^(#{1,5})(?=\s)")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")


def shift_headings(text: str) -> str:
    """Every ATX heading of ``text`` one level deeper; code fences untouched."""
    out, fence = [], None
    for line in text.splitlines():
        m = _FENCE.match(line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None and m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence):
            fence = None
        elif fence is None:
            line = _HEADING.sub(r"#\1", line)
        out.append(line)
    return "\n".join(out) + "\n"


def include(markdown: str, root: Path, page: str = "a page") -> str:
    def replace(m: re.Match) -> str:
        path = (root / m.group("path")).resolve()
        if not path.is_relative_to(root.resolve()):
            raise PluginError(f"{page}: include {m.group('path')} is outside the repository")
        if not path.is_file():
            raise PluginError(f"{page}: included file {m.group('path')} does not exist")
        return shift_headings(path.read_text(encoding="utf-8"))

    return MARKER.sub(replace, markdown)


def on_page_markdown(markdown, page, config, files, **kwargs):  # noqa: ARG001
    root = Path(config.config_file_path).resolve().parent
    return include(markdown, root, page.file.src_uri)
