"""minigrad's modules import downward only, and no module imports itself
back through others.

The order, lowest first: the utilities (errors, atomic writes, random
numbers) < backend (arrays) < core (the engine) < compiled (a step recorded
and replayed: the layers and optimizers mark their host calls with it) <
functions (operations) <
layers < optimizers, viz, data, testing (peers: none imports another) <
distributed < training < the package's own face (minigrad/__init__) < the
demo < ``python -m minigrad`` (__main__). models/ lives outside the package, above all of it,
with a rule of its own (at the end): no model family imports another.
Every import counts, a deferred one inside a function included: deferring an
import hides a dependency, it does not remove it.
"""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "minigrad"

LEVELS = [
    {"errors", "atomic", "random"},
    {"backend"},
    {"core"},
    {"compiled"},
    {"functions"},
    {"layers"},
    {"optimizers", "viz", "data", "testing"},
    {"distributed"},
    {"training"},
    {"__init__"},
    {"demo"},
    {"__main__"},
]
LEVEL = {unit: i for i, units in enumerate(LEVELS) for unit in units}


def _modules():
    """Dotted name -> path of every module of the package."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _unit(module):
    """The part of the package a module belongs to: 'core', 'viz', 'backend',
    or '__init__' for the package's own __init__."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(module, path):
    """The package's modules that ``module`` imports, anywhere in its code."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = ".".join(base[:len(base) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            else:
                base = node.module
            # `from x import y`: y is a module of its own or a name inside x
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base
                     for a in node.names]
        else:
            continue
        for name in names:
            while name and name not in MODULES:   # `import minigrad.core.x` -> a module
                name = name.rpartition(".")[0]
            if name and name.split(".")[0] == "minigrad":
                found.add(name)
    found.discard(module)
    return found


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_every_part_of_the_package_has_a_level():
    unknown = sorted({_unit(m) for m in MODULES} - set(LEVEL))
    assert not unknown, f"place {unknown} in LEVELS (tests/test_layering.py)"


def test_imports_go_downward_only():
    wrong = []
    for module, imported in GRAPH.items():
        here = _unit(module)
        for target in sorted(imported):
            there = _unit(target)
            if there == here:
                continue
            if LEVEL[there] > LEVEL[here]:
                wrong.append(f"{module} imports {target}: {there} is above {here}")
            elif LEVEL[there] == LEVEL[here]:
                wrong.append(f"{module} imports {target}: {here} and {there} are peers")
    assert not wrong, "\n".join(wrong)


def _cycle(graph):
    """One import cycle as a list of modules, or None."""
    state = {}   # module -> "open" while on the path, "done" after

    for start in sorted(graph):
        if start in state:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        state[start] = "open"
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = "done"
                stack.pop()
            elif state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            elif nxt not in state:
                state[nxt] = "open"
                path.append(nxt)
                stack.append(iter(sorted(graph[nxt])))
    return None


def test_no_import_cycles():
    cycle = _cycle(GRAPH)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("graph, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": set()}, None),
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b", "c"}, "b": {"c"}, "c": {"b"}}, ["b", "c", "b"]),
])
def test_the_cycle_finder_finds_cycles(graph, expected):
    assert _cycle(graph) == expected


def test_the_parser_sees_deferred_and_relative_imports():
    # functions/operators.py fills the table of Variable's operators: it imports core.ops
    assert "minigrad.core.ops" in GRAPH["minigrad.functions.operators"]
    # core/__init__ imports its modules by relative name
    assert {"minigrad.core.function", "minigrad.core.backward"} <= GRAPH["minigrad.core"]
    # the package's face imports everything below it
    assert "minigrad.functions" in GRAPH["minigrad"]


# ---------------------------------------------------------------- models/: one folder per family
# A reader follows one model from definition to twin in one folder, so a family
# imports only its own modules and what every family shares: shared/ (weights,
# optimizer, twin comparison) and book_layers/ (the book's hand-written layers).
# The command line and the tour, at the top of models/, may use every family.
MODELS_DIR = PACKAGE.parent / "models"
SHARED = {"shared", "book_layers"}
TOP = {"__init__", "__main__", "tour"}


def _models_imports(path):
    """The models/ modules (as 'models.<part>...') that a file of models/ imports,
    relative imports resolved; anywhere in its code."""
    package = list(path.relative_to(MODELS_DIR.parent).parent.parts)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1]
            name = ".".join(base + ([node.module] if node.module else []))
            names = [name] if node.module else [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        else:
            continue
        found |= {n for n in names if n.split(".")[0] in ("models", "minigrad_models")}
    return found


def _part(module):
    """models.rnnlm.train -> 'rnnlm'; models.tour -> 'tour'; models -> '__init__'."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


FAMILIES = sorted(p.name for p in MODELS_DIR.iterdir()
                  if (p / "__init__.py").is_file() and p.name not in SHARED)


def test_models_has_the_five_families():
    assert FAMILIES == ["binary_addition", "rnnlm", "seq2seq", "two_layer_net", "word2vec"]


def test_no_family_imports_another_family():
    wrong = []
    for path in sorted(MODELS_DIR.rglob("*.py")):
        here = path.relative_to(MODELS_DIR).parts[0].removesuffix(".py")
        if here in TOP:
            continue
        for target in sorted(_models_imports(path)):
            there = _part(target)
            allowed = {here} if here in SHARED else {here} | SHARED
            if there not in allowed:
                wrong.append(f"{path.relative_to(MODELS_DIR.parent)} imports {target}: "
                             + (f"models/{here} serves every family and imports none of them"
                                if here in SHARED else
                                f"the family {here} may import only its own modules, "
                                f"models.shared and models.book_layers"))
    assert not wrong, "\n".join(wrong)


def test_the_models_parser_resolves_relative_imports():
    seen = _models_imports(MODELS_DIR / "rnnlm" / "cli.py")      # deferred ones too
    assert {"models.rnnlm.model", "models.shared.cli"} <= seen, seen
    assert "models.rnnlm.check" in _models_imports(MODELS_DIR / "tour.py")
