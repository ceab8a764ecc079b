"""What `pip install` carries: minigrad, and models/ under the installed name
minigrad_models, never a top-level package named plain `models` (it would clash
in site-packages with any other project's `models`)."""
from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# setuptools reads pyproject.toml and setup.py as `pip install` does, and stops
# before building anything.
_ASK_SETUPTOOLS = """
import json, warnings
warnings.simplefilter("ignore")
import setuptools
import os
if os.path.exists("setup.py"):
    from distutils.core import run_setup
    dist = run_setup("setup.py", stop_after="config")
else:
    from setuptools.config.pyprojecttoml import apply_configuration
    from setuptools.dist import Distribution
    dist = apply_configuration(Distribution(), "pyproject.toml")
print(json.dumps({"packages": dist.packages, "package_dir": dist.package_dir or {}}))
"""


def _install_plan():
    done = subprocess.run([sys.executable, "-c", _ASK_SETUPTOOLS], cwd=ROOT, text=True,
                          capture_output=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_install_carries_no_top_level_models_package():
    plan = _install_plan()
    packages = set(plan["packages"])
    assert not any(p == "models" or p.startswith("models.") for p in packages), sorted(packages)
    assert {"minigrad", "minigrad.core", "minigrad_models"} <= packages, sorted(packages)
    assert plan["package_dir"].get("minigrad_models") == "models", plan["package_dir"]
    assert not any(p.startswith(("tests", "benchmarks", "docs")) for p in packages)


def test_every_folder_of_models_is_installed():
    """A new family folder is carried without an edit to the packaging."""
    folders = {"minigrad_models" + ("." + ".".join(p.parent.relative_to(ROOT / "models").parts)
                                    if p.parent != ROOT / "models" else "")
               for p in (ROOT / "models").rglob("__init__.py")}
    assert folders <= set(_install_plan()["packages"])


def test_imports_inside_models_are_relative():
    """The same files run as `models` (the checkout) and as `minigrad_models`
    (installed) only if no import names the folder itself."""
    absolute = []
    for path in sorted((ROOT / "models").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module]
            else:
                continue
            absolute += [f"{path.relative_to(ROOT)}:{node.lineno} imports {n}"
                         for n in names if n == "models" or n.startswith("models.")]
    assert not absolute, "use a relative import:\n" + "\n".join(absolute)


def test_the_command_line_names_itself_by_the_name_it_runs_under():
    done = subprocess.run([sys.executable, "-m", "models", "--help"], cwd=ROOT, text=True,
                          capture_output=True, check=True)
    assert done.stdout.startswith("usage: python -m models "), done.stdout[:80]
