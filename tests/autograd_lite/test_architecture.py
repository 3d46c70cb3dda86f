"""The package's structure, as docs/architecture.md draws it: sub-packages by job, imports that
only point down the layers, no import cycle, no private name across modules, no module that
grows past ~600 lines without saying why.

Every ``.py`` file under ``autograd_lite/`` (sub-packages at any depth) and the ``nn`` short
name is read, so a module moved or added is checked without touching this file.
"""

from __future__ import annotations

import ast
import pathlib
import re

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("autograd_lite", "nn")

# What each part may import at module level (lazy imports inside functions are allowed: they
# are how Value's methods reach the functional layer without a cycle at import).
LAYERS: dict[str, set[str]] = {
    "autograd_lite.core": set(),
    "autograd_lite.files": set(),
    "autograd_lite.ops": {"autograd_lite.core"},
    # Value's operators are bound to the public functions (x.exp() is ag.exp(x))
    "autograd_lite.ops.operators": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
    },
    "autograd_lite.functional": {"autograd_lite.core", "autograd_lite.ops"},
    "autograd_lite.nn": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
        "autograd_lite.files",
    },
    "autograd_lite.transforms": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
    },
    "autograd_lite.gradcheck": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
    },
    "autograd_lite.testing": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
        "autograd_lite.gradcheck",
        "autograd_lite.transforms",
    },
    "autograd_lite.compile": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
    },
    "autograd_lite.viz": {
        "autograd_lite.core",
        "autograd_lite.ops",
        "autograd_lite.functional",
        "autograd_lite.files",
        "autograd_lite.compile",
    },
}
"""Parts not listed (the package's ``__init__``, ``cli``, the ``nn`` short name) may import any."""

MAX_LINES = 600


def _module_name(path: pathlib.Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, tuple[pathlib.Path, ast.Module]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = (path, ast.parse(path.read_text(), str(path)))
    return found


MODULES = _modules()


def _imports(tree: ast.Module) -> list[tuple[str, str | None, int]]:
    """(module, imported name or None, line) for every import of a package module."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [(a.name, None, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out += [(node.module, a.name, node.lineno) for a in node.names]
    return [(m, n, line) for m, n, line in out if m.split(".")[0] in PACKAGES]


def _top_level_edges(name: str, tree: ast.Module) -> set[str]:
    """Package modules imported when ``name`` is imported (module-level statements)."""
    edges = set()
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for module, imported, _ in _imports(ast.Module(body=[node], type_ignores=[])):
                target = f"{module}.{imported}"
                edges.add(target if target in MODULES else module)
    edges.discard(name)
    return edges


def _part(name: str) -> str | None:
    """The LAYERS key that ``name`` belongs to (the longest matching prefix)."""
    keys = [k for k in LAYERS if name == k or name.startswith(k + ".")]
    return max(keys, key=len) if keys else None


def test_every_part_is_a_module_that_exists():
    assert all(k in MODULES for k in LAYERS), sorted(set(LAYERS) - set(MODULES))


def test_imports_point_down_the_layers():
    offences = []
    for name, (_, tree) in MODULES.items():
        part = _part(name)
        if part is None:
            continue
        allowed = LAYERS[part] | {part}
        for target in _top_level_edges(name, tree):
            if target == "autograd_lite" or not any(
                target == a or target.startswith(a + ".") for a in allowed
            ):
                offences.append(f"{name} imports {target}")
    assert offences == []


def test_the_layer_rule_catches_an_upward_import():
    # The rule above must be able to fail: a core module importing a drawing is refused.
    tree = ast.parse("from autograd_lite.viz import draw_graph\n")
    part = _part("autograd_lite.core.value")
    assert part == "autograd_lite.core"
    targets = _top_level_edges("autograd_lite.core.value", tree)
    assert targets and not any(t.startswith(a) for t in targets for a in LAYERS[part])


def test_no_module_imports_a_private_name_of_another():
    offences = [
        f"{name}:{line} imports {imported} from {module}"
        for name, (_, tree) in MODULES.items()
        for module, imported, line in _imports(tree)
        if imported and imported.startswith("_") and imported != "__version__"
    ]
    assert offences == []


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path, node, nxt]
            if nxt not in state and (found := visit(nxt, [*path, node])):
                return found
        state[node] = 2
        return None

    for name in sorted(graph):
        if name not in state and (found := visit(name, [])):
            return found
    return None


def test_the_package_has_no_import_cycle():
    graph = {name: _top_level_edges(name, tree) for name, (_, tree) in MODULES.items()}
    # The package's own __init__ imports everything; a submodule importing "autograd_lite"
    # itself would be a cycle through it, and is caught by the layer rule instead.
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_a_cycle():
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]


def test_each_sub_package_says_what_it_holds_and_may_import():
    for name, (path, tree) in MODULES.items():
        if path.name == "__init__.py" and name.count(".") == 1:
            doc = ast.get_docstring(tree) or ""
            assert len(doc) > 40, f"{name} has no docstring saying what it holds"


def test_no_module_over_600_lines_without_a_reason():
    long = []
    for name, (path, tree) in MODULES.items():
        lines = len(path.read_text().splitlines())
        doc = ast.get_docstring(tree) or ""
        if lines > MAX_LINES and not re.search(r"over 600 lines for a reason", doc, re.I):
            long.append(f"{name}: {lines} lines")
    assert long == []


def test_architecture_doc_names_every_sub_package():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    for name, (path, _) in MODULES.items():
        if path.name == "__init__.py" and name.count(".") == 1:
            assert f"`{name.split('.')[1]}/`" in doc, name
