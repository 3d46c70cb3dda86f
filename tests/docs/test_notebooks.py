"""The guide's notebooks: built from the Markdown pages, executed, every drawing shown.

``docs/notebooks/graphs.ipynb`` is ``docs/graphs.md`` as a notebook (made by
``docs/notebooks/build.py`` with nbformat). It is executed here with nbclient on an
ipykernel kernel; the test skips (saying why) when nbclient, nbformat or ipykernel cannot
be imported, or when nothing can render a picture.
"""

from __future__ import annotations

import base64
import importlib.util
import os
from pathlib import Path

import pytest

from autograd_lite.viz import render

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "docs" / "notebooks"
MISSING = [m for m in ("nbformat", "nbclient", "ipykernel") if importlib.util.find_spec(m) is None]


def _build_module():
    spec = importlib.util.spec_from_file_location("_notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.skipif("nbformat" in MISSING, reason="nbformat is not installed (test extra)")
def test_notebook_is_built_from_the_current_page():
    build = _build_module()
    stored = (NOTEBOOKS / "graphs.ipynb").read_text(encoding="utf-8")
    assert stored == build.build("graphs.ipynb"), (
        "docs/notebooks/graphs.ipynb is out of date: run python docs/notebooks/build.py"
    )


def _shows_picture(cell) -> bool:
    for out in cell.get("outputs", []):
        data = out.get("data", {})
        if "image/svg+xml" in data or "image/png" in data:
            return True
        if "<svg" in data.get("text/html", ""):
            return True
    return False


@pytest.mark.skipif(bool(MISSING), reason=f"not installed (test extra): {', '.join(MISSING)}")
@pytest.mark.skipif(render.program("svg") is None, reason="neither Graphviz dot nor graphviz-pure")
def test_graphs_notebook_runs_and_shows_every_drawing(tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    # the kernel imports this checkout's autograd_lite and nn, with this interpreter
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    nb = nbformat.read(NOTEBOOKS / "graphs.ipynb", as_version=4)
    client = NotebookClient(
        nb,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(tmp_path)}},
    )
    client.execute()

    shown = [c for c in nb.cells if "display" in c.metadata.get("tags", [])]
    assert len(shown) >= 7
    for cell in shown:
        assert _shows_picture(cell), f"no picture for the cell:\n{cell.source}"
    (png,) = [c for c in shown if 'format="png"' in c.source]
    (result,) = [o for o in png.outputs if o.output_type == "execute_result"]
    assert "image/png" in result.data and "image/svg+xml" not in result.data  # its own format
    assert base64.b64decode(result.data["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    (value,) = [c for c in shown if c.source.startswith("o  #")]
    (result,) = [o for o in value.outputs if o.output_type == "execute_result"]
    assert result.data["text/plain"].startswith("Value(0.7071")
    html = result.data["text/html"]
    assert html.startswith("<pre>Value(0.7071") and html.index("<pre>") < html.index("<svg")
    assert not any(o.output_type == "error" for c in nb.cells for o in c.get("outputs", []))
    assert (tmp_path / "graph.html").exists() and (tmp_path / "neuron.svg").exists()
