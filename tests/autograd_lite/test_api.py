"""The public API: every path docs/api.md documents imports, and the top level, ``__all__``
and the API page agree (a function added to ``functional`` reaches ``ag.*`` and the docs)."""

from __future__ import annotations

import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[2]


def _documented_paths() -> list[str]:
    """Every ``::: dotted.path`` of docs/api.md, and each member listed under one."""
    paths: list[str] = []
    current = None
    for line in (ROOT / "docs" / "api.md").read_text().splitlines():
        if line.startswith("::: "):
            current = line[4:].strip()
            paths.append(current)
        elif line.startswith("        - ") and current:
            paths.append(f"{current}.{line.strip()[2:]}")
        elif line and not line.startswith(" "):
            current = None
    return paths


def _resolve(path: str) -> object:
    import importlib

    parts = path.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj: object = importlib.import_module(".".join(parts[:i]))
        except ModuleNotFoundError:
            continue
        for attr in parts[i:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(path)


def test_every_documented_import_path_imports():
    paths = _documented_paths()
    assert len(paths) > 50
    for path in paths:
        _resolve(path)


def test_the_top_level_the_all_list_and_the_api_page_agree():
    import autograd_lite as ag
    from autograd_lite import functional, viz

    documented = set(_documented_paths())
    missing_top = [n for n in functional.__all__ if n not in ag.__all__]
    undocumented = [
        n for n in functional.__all__ if f"autograd_lite.functional.{n}" not in documented
    ]
    assert (missing_top, undocumented) == ([], [])
    for name in ag.__all__:  # every exported name exists, and is the function itself
        obj = getattr(ag, name)
        if name in functional.__all__:
            assert obj is getattr(functional, name), name
    assert ag.save_graph is viz.save_graph
    assert sorted(set(ag.__all__)) == sorted(ag.__all__)  # no name twice
