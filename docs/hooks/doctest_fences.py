"""The test runner's markers, kept out of what the reader sees.

Two parts: a griffe extension for the API reference, and an MkDocs hook for
the pages (mkdocs.yml lists this file among its hooks too).

The extension: doctest examples become code blocks.

minigrad's docstrings are prose with ``>>>`` examples anywhere in them (they run
under ``pytest --doctest-modules``). Markdown reads a line that starts with
``>`` as a quotation, so an example would render as three nested quotes. This
extension wraps each run of doctest lines (a ``>>>`` line up to the next blank
line, the example's expected output included) in a ``pycon`` fence before
mkdocstrings renders the docstring, and drops the ``# doctest:`` directives,
which matter to the test runner and not to a reader. Sphinx roles such as
``:func:`gradcheck` `` are written for a reader of the source; they become
plain code here.
"""
from __future__ import annotations

import re

import griffe

_DIRECTIVE = re.compile(r"\s*#\s*doctest:.*$")
_DIRECTIVE_LINE = re.compile(r"^\s*#\s*doctest:.*$")
_FENCE = re.compile(r"^\s*(`{3,}|~{3,})")
_ROLE = re.compile(r":(?:func|class|meth|mod|attr|data|exc|obj):(`[^`]+`)")


def fence_doctests(text: str) -> str:
    """``text`` with every doctest example wrapped in a ```pycon fence
    (tests/test_docs_site.py shows the rewriting on an example)."""
    out, in_example, in_fence, indent = [], False, None, ""
    for line in text.split("\n"):
        fence = _FENCE.match(line)
        if in_fence is not None:
            # An example already inside a fence is the author's choice: keep it.
            if fence and fence.group(1)[0] == in_fence[0] and len(fence.group(1)) >= len(in_fence):
                in_fence = None
            out.append(line)
            continue
        if in_example and not line.strip():
            out.append(f"{indent}```")
            in_example = False
        elif not in_example and fence:
            in_fence = fence.group(1)
        elif not in_example and line.lstrip().startswith(">>>"):
            indent = line[: len(line) - len(line.lstrip())]
            out.append(f"{indent}```pycon")
            in_example = True
        out.append(_DIRECTIVE.sub("", line) if in_example else _ROLE.sub(r"\1", line))
    if in_example:
        out.append(f"{indent}```")
    return "\n".join(out)


def _rewrite(obj: griffe.Object) -> None:
    if obj.docstring is not None:
        obj.docstring.value = fence_doctests(obj.docstring.value)


class DoctestFences(griffe.Extension):
    """Rewrites each loaded object's docstring with `fence_doctests`."""

    # Rewriting is idempotent (a fenced example is left alone), so an object
    # that several events reach is safe.
    def on_object(self, *, obj: griffe.Object, **kwargs) -> None:  # noqa: ARG002
        _rewrite(obj)

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:  # noqa: ARG002
        _rewrite(pkg)


# ---------------------------------------------------------------- the pages
def strip_directives(markdown: str) -> str:
    """``markdown`` with the test runner's directives taken out of its code
    blocks: a line that is only a directive (``# doctest: skip``, which
    tests/test_docs_examples.py reads) is dropped, a trailing one is cut."""
    out, fence = [], None
    for line in markdown.split("\n"):
        m = _FENCE.match(line)
        if fence is None:
            if m:
                fence = m.group(1)
            out.append(line)
            continue
        if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence) \
                and not line.strip()[len(m.group(1)):].strip():
            fence = None
            out.append(line)
        elif not _DIRECTIVE_LINE.match(line):
            out.append(_DIRECTIVE.sub("", line))
    return "\n".join(out)


def on_page_markdown(markdown, page, config, files, **kwargs):  # noqa: ARG001
    return strip_directives(markdown)
