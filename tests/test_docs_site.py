"""The documentation site builds in strict mode, and every page is reachable.

``mkdocs build --strict`` fails on any warning: a broken link or anchor, a page
missing from the nav, an API reference to a name that no longer exists, an
included results file that is gone. Building it here makes CI (which runs
pytest) build the site too. The build needs the ``docs`` extra (part of
``dev``) and no network.
"""
from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
CONFIG = ROOT / "mkdocs.yml"
HOOKS = DOCS / "hooks"


def _load(name):
    spec = importlib.util.spec_from_file_location(f"docs_hook_{name}", HOOKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _nav_pages() -> set[str]:
    # The nav's entries are "Title: page.md" lines; reading them as text keeps
    # the check independent of the YAML tags mkdocs-material may add.
    text = CONFIG.read_text(encoding="utf-8")
    nav = text[text.index("\nnav:"):]
    return set(re.findall(r":\s*([\w./-]+\.md)\s*$", nav, re.MULTILINE))


def test_every_page_is_in_the_nav():
    pages = {p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
             if "hooks" not in p.relative_to(DOCS).parts}
    nav = _nav_pages()
    assert pages - nav == set(), f"pages missing from the nav of mkdocs.yml: {sorted(pages - nav)}"
    assert nav - pages == set(), f"nav entries with no page in docs/: {sorted(nav - pages)}"


def test_site_builds_in_strict_mode(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed: "
                                         "pip install -e '.[docs]'")
    for plugin in ("mkdocstrings", "mkdocstrings_handlers.python", "material"):
        pytest.importorskip(plugin, reason="the docs extra is not installed: "
                                           "pip install -e '.[docs]'")
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")   # mkdocs-material's notice, not ours
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(CONFIG),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"mkdocs build --strict failed:\n{output}"
    site = tmp_path / "site"
    for page in ("index.html", "api/index.html", "graph-nodes/index.html",
                 "benchmarks/index.html"):
        assert (site / page).is_file(), f"{page} was not built:\n{output}"
    # The API reference really rendered the library, examples as code blocks.
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    for name in ("minigrad.core.Variable", "minigrad.functions.arithmetic.Add",
                 "minigrad.testing.gradcheck.gradcheck",
                 "minigrad.layers.Linear"):
        assert f'id="{name}"' in api, f"{name} is missing from the API reference"
    assert "<blockquote" not in api, "a doctest example rendered as a quotation"
    # The test runner's markers stay out of what the reader sees.
    for page, code in (("graph-nodes", "saves_inputs"), ("optimizers", "momentum")):
        html = (site / page / "index.html").read_text(encoding="utf-8")
        assert "doctest" not in html, f"{page}: a `# doctest:` marker is shown to the reader"
        assert code in html                                   # the block itself is still there
    # The benchmark tables were included, not left as markers.
    bench = (site / "benchmarks" / "index.html").read_text(encoding="utf-8")
    assert "include:" not in bench and "<table>" in bench


# ------------------------------------------------------------------ the build's hooks
def test_doctest_examples_become_code_blocks():
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    fence = _load("doctest_fences").fence_doctests
    text = "\n".join([
        "Add two numbers, see :func:`add`.",
        "",
        ">>> 1 + 1  # doctest: +SKIP",
        "2",
        "",
        "```python",
        ">>> left alone",
        "```",
        "    >>> indented",
    ])
    assert fence(text).split("\n") == [
        "Add two numbers, see `add`.",
        "",
        "```pycon",
        ">>> 1 + 1",
        "2",
        "```",
        "",
        "```python",
        ">>> left alone",
        "```",
        "    ```pycon",
        "    >>> indented",
        "    ```",
    ]
    assert fence(fence(text)) == fence(text)


def test_the_pages_code_blocks_lose_the_test_runners_markers():
    pytest.importorskip("griffe", reason="the docs extra is not installed")
    strip = _load("doctest_fences").strip_directives
    page = "\n".join([
        "Text about `# doctest: skip`, left alone outside code.",
        "```python",
        "# doctest: skip",
        "x = 1  # doctest: +ELLIPSIS",
        "````",
        "```",
        "y = 2",
        "```",
        "# doctest: skip (not in a block)",
    ])
    assert strip(page).split("\n") == [
        "Text about `# doctest: skip`, left alone outside code.",
        "```python",
        "x = 1",
        "````",
        "```",
        "y = 2",
        "```",
        "# doctest: skip (not in a block)",
    ]


def test_include_shifts_headings_and_fails_on_missing_files(tmp_path):
    pytest.importorskip("mkdocs", reason="the docs extra is not installed")
    hook = _load("include_results")
    (tmp_path / "r.md").write_text("# Title\n\n## Part\n\n```\n# not a heading\n```\n")
    page = "Intro\n\n<!-- include: r.md -->\n\nEnd\n"
    assert hook.include(page, tmp_path) == (
        "Intro\n\n## Title\n\n### Part\n\n```\n# not a heading\n```\n\n\nEnd\n")
    from mkdocs.exceptions import PluginError

    with pytest.raises(PluginError, match="does not exist"):
        hook.include("<!-- include: missing.md -->", tmp_path)
    with pytest.raises(PluginError, match="outside"):
        hook.include("<!-- include: ../r.md -->", tmp_path / "sub")
