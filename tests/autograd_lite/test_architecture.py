"""The package's structure: no import cycle, no private name across modules, one way to
declare an op (the built-ins' call, available to users), parameters that say what they are.
"""

from __future__ import annotations

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("autograd_lite", "nn")


def _modules() -> dict[str, ast.Module]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = (package, *path.relative_to(ROOT / package).with_suffix("").parts)
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = ast.parse(path.read_text(), str(path))
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


def test_no_module_imports_a_private_name_of_another():
    offences = [
        f"{name}:{line} imports {imported} from {module}"
        for name, tree in MODULES.items()
        for module, imported, line in _imports(tree)
        if imported and imported.startswith("_") and imported != "__version__"
    ]
    assert offences == []


def test_the_package_has_no_import_cycle():
    graph = {name: _top_level_edges(name, tree) for name, tree in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for name in graph:
        if name not in state:
            visit(name, [])


def test_the_core_knows_no_op_and_no_drawing():
    for core in ("autograd_lite.value", "autograd_lite.modes", "autograd_lite.op"):
        edges = _top_level_edges(core, MODULES[core])
        assert not edges & {
            "autograd_lite.primitives",
            "autograd_lite.functional",
            "autograd_lite.viz",
            "autograd_lite.operators",
        }, core
