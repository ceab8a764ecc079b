"""Every ```python block of every docs/*.md page runs: one test per page.

The blocks of a page run in order in one shared namespace (a later block may use
names an earlier one defined), from a temporary working directory so examples
that write files (pictures, checkpoints) leave nothing in the repository.

Conventions a page may use:

* a block opts out only with ``# doctest: skip`` on its first line;
* a block that needs a GPU is fenced as ```` ```python {.gpu} ```` (the
  attribute list MkDocs also reads, to label it): it runs only in the page's
  second, ``gpu``-marked test, which is skipped where CuPy finds no CUDA
  device. Later blocks must not depend on what a GPU block defines, since the
  page's first test runs without it;
* a fenced block tagged ``output`` directly after a python block (only blank
  lines between) is what that block prints: the test compares it with the
  captured stdout (trailing spaces and blank lines ignored), so shown output
  cannot go stale.

A page whose blocks fail only with ``minigrad.viz.GraphvizNotFoundError`` is
skipped (not failed) where Graphviz's ``dot`` program is missing; where ``dot``
is installed that error fails the test like any other.
"""
from __future__ import annotations

import contextlib
import difflib
import gc
import io
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from minigrad.core.config import state

DOCS = Path(__file__).resolve().parent.parent / "docs"
PAGES = sorted(DOCS.glob("*.md"))

PYTHON = {"python", "py", "python3"}
OUTPUT = "output"
OPEN = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})[ \t]*(?P<info>[^`]*?)[ \t]*$")
SKIP = re.compile(r"^\s*#\s*doctest:\s*skip\b", re.IGNORECASE)
SWITCHES = ("enable_backprop", "raw_backward", "scope")


ATTRS = re.compile(r"\{([^}]*)\}")
GPU = "gpu"


@dataclass
class Block:
    lang: str        # first word of the info string, lower case ("" if none)
    code: str        # the block's text, dedented by the fence's indentation
    line: int        # 1-based line of the block's first line of text in the page
    adjacent: bool   # only blank lines separate it from the previous block
    classes: frozenset = frozenset()   # the .names of a {...} attribute list


def _info(info: str) -> tuple[str, frozenset]:
    """The language and the classes of an info string: ``python {.gpu}`` and
    ``{.python .gpu}`` both give ("python", {"gpu"})."""
    classes = []
    for attrs in ATTRS.findall(info):
        classes += [a[1:].lower() for a in attrs.split() if a.startswith(".")]
    words = ATTRS.sub(" ", info).split()
    if words:
        return words[0].lower(), frozenset(classes)
    return (classes[0] if classes else ""), frozenset(classes[1:])


def parse(text: str) -> list[Block]:
    """The fenced code blocks of a markdown text, in order (CommonMark fences:
    ``` or ~~~, closed by a fence of the same character at least as long)."""
    lines = text.splitlines()
    blocks, i, last_end = [], 0, None
    while i < len(lines):
        m = OPEN.match(lines[i])
        if not m or (m.group("fence")[0] == "`" and "`" in m.group("info")):
            i += 1
            continue
        indent, fence = len(m.group("indent")), m.group("fence")
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        start, body = i + 1, []
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            line = lines[i]
            body.append(line[indent:] if line[:indent].strip() == "" else line.lstrip())
            i += 1
        adjacent = last_end is not None and all(not s.strip() for s in lines[last_end + 1:start - 1])
        lang, classes = _info(m.group("info"))
        blocks.append(Block(lang, "\n".join(body) + "\n", start + 1, adjacent, classes))
        last_end = i
        i += 1
    return blocks


def runnable(blocks: list[Block], gpu: bool = False) -> list[tuple[Block, str | None]]:
    """The python blocks that run (GPU blocks only if ``gpu``), each with the
    output it must print (or None)."""
    out = []
    for k, b in enumerate(blocks):
        if b.lang == OUTPUT and not (k and blocks[k - 1].lang in PYTHON and b.adjacent):
            raise AssertionError(f"line {b.line}: an `output` block must directly follow a "
                                 "python block")
        if b.lang not in PYTHON or SKIP.match(b.code.split("\n", 1)[0]):
            continue
        if GPU in b.classes and not gpu:
            continue
        nxt = blocks[k + 1] if k + 1 < len(blocks) else None
        expected = nxt.code if nxt is not None and nxt.lang == OUTPUT and nxt.adjacent else None
        out.append((b, expected))
    return out


def _normalize(text: str) -> list[str]:
    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def _graphviz_missing(error: BaseException) -> bool:
    try:
        from minigrad.viz import GraphvizNotFoundError
    except ImportError:
        return False
    return isinstance(error, GraphvizNotFoundError) and shutil.which("dot") is None


def run_page(page: Path, gpu: bool = False) -> list[str]:
    """Run the page's python blocks (its GPU blocks too if ``gpu``); returns the
    reasons to skip (Graphviz missing), raises on any other failure."""
    namespace = {"__name__": f"docs_{page.stem.replace('-', '_')}"}
    missing = []
    for block, expected in runnable(parse(page.read_text(encoding="utf-8")), gpu):
        where = f"{page.name}, python block at line {block.line}"
        # Padding keeps line numbers: tracebacks point into the page itself.
        code = compile("\n" * (block.line - 1) + block.code, str(page), "exec")
        printed = io.StringIO()
        try:
            with contextlib.redirect_stdout(printed):
                exec(code, namespace)
        except Exception as e:  # noqa: BLE001
            if _graphviz_missing(e):
                missing.append(f"{where}: {e}")
                continue
            if missing:
                e.add_note(f"(earlier, without Graphviz: {missing[0]})")
            e.add_note(f"in {where}")
            raise
        finally:
            sys.stdout.write(printed.getvalue())
        if expected is not None:
            got, want = _normalize(printed.getvalue()), _normalize(expected)
            if got != want:
                diff = "\n".join(difflib.unified_diff(want, got, "shown in the page", "printed",
                                                      lineterm=""))
                pytest.fail(f"{where} prints something other than the output shown:\n{diff}",
                            pytrace=False)
    namespace.clear()
    return missing


def _has_gpu_blocks(page: Path) -> bool:
    return any(GPU in b.classes for b in parse(page.read_text(encoding="utf-8")))


# Every page once on the CPU; a page with GPU blocks once more, all blocks, on a GPU.
CASES = [pytest.param(p, False, id=p.name) for p in PAGES] + [
    pytest.param(p, True, id=f"{p.name}-gpu", marks=pytest.mark.gpu)
    for p in PAGES if _has_gpu_blocks(p)]


@pytest.mark.parametrize(("page", "gpu"), CASES)
def test_page_examples_run(page, gpu, tmp_path, monkeypatch):
    if gpu:
        import minigrad

        if not minigrad.gpu_available():
            pytest.skip("cupy with a CUDA device is not available")
    monkeypatch.chdir(tmp_path)
    switches = {name: getattr(state, name) for name in SWITCHES}
    limit, gc_on = sys.getrecursionlimit(), gc.isenabled()
    try:
        missing = run_page(page, gpu)
    finally:
        left = {n: getattr(state, n) for n in SWITCHES if getattr(state, n) != switches[n]}
        for name, value in switches.items():
            setattr(state, name, value)
        sys.setrecursionlimit(limit)
        if gc_on:
            gc.enable()
    assert not left, f"{page.name} left engine switches changed: {left}"
    if missing:
        pytest.skip(f"{page.name} needs Graphviz's `dot` program, which is not installed "
                    f"(apt-get install graphviz): {len(missing)} block(s) raised "
                    f"GraphvizNotFoundError, first {missing[0]}")


# ------------------------------------------------------------------ the runner itself
def test_parse_finds_fences_skips_and_outputs():
    text = "\n".join([
        "# page",
        "```python",
        "a = 1",
        "print(a)",
        "```",
        "",
        "```output",
        "1",
        "```",
        "",
        "- a list item:",
        "",
        "  ```py",
        "  b = a + 1",
        "  ```",
        "````python",
        "# doctest: skip",
        "this is not python",
        "```",
        "````",
        "~~~",
        "```python",
        "~~~",
        "``` python",
        "c = 3",
        "```",
        "```python {.gpu}",
        "import cupy",
        "```",
        "```{.python .gpu}",
        "import cupy",
        "```",
    ])
    blocks = parse(text)
    assert [b.lang for b in blocks] == ["python", "output", "py", "python", "", "python",
                                        "python", "python"]
    assert blocks[-1].classes == blocks[-2].classes == {"gpu"} and not blocks[0].classes
    assert blocks[2].code == "b = a + 1\n" and blocks[2].line == 14
    assert blocks[3].code.endswith("```\n")  # a longer fence holds a shorter one
    runs = runnable(blocks)
    assert [(b.line, out) for b, out in runs] == [(3, "1\n"), (14, None), (25, None)]
    assert [b.line for b, _ in runnable(blocks, gpu=True)] == [3, 14, 25, 28, 31]
    with pytest.raises(AssertionError, match="must directly follow"):
        runnable(parse("text\n```output\n1\n```\n"))


def test_every_page_is_collected():
    assert PAGES, f"no pages found in {DOCS}"
    assert {"engine.md", "seeing-the-graph.md", "graph-nodes.md", "custom-ops.md",
            "getting-started.md", "gpu.md"} <= {p.name for p in PAGES}
    assert any(p.name == "gpu.md" for p in PAGES if _has_gpu_blocks(p))
