"""Build the notebooks from the user guide: python docs/notebooks/build.py

``graphs.ipynb`` is ``docs/graphs.md`` as a notebook: its prose becomes markdown cells
(relative links and pictures made relative to this folder), each ``python`` block a code
cell, and the other blocks (bash, text) stay in the markdown. A code cell whose last line
is a bare name (``g``, ``o``) displays that drawing or Value; it is tagged ``display``,
and the test suite (tests/docs/test_notebooks.py) executes the notebook with nbclient and
checks that each such cell shows a picture. The notebook is stored without outputs.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import nbformat

HERE = Path(__file__).resolve().parent
DOCS = HERE.parent
NOTEBOOKS = {"graphs.ipynb": DOCS / "graphs.md"}

_FENCE = re.compile(r"^```(\w*)\n(.*?)^```\n?", re.S | re.M)
_LINK = re.compile(r"\]\((?![a-z]+:|#|/)([^)]+)\)")
_BARE = re.compile(r"^([A-Za-z_]\w*)\s*(#.*)?$")


def _markdown(text: str) -> str:
    return _LINK.sub(lambda m: f"](../{m.group(1)})", text).strip("\n")


def notebook(markdown: str) -> nbformat.NotebookNode:
    """The notebook of one page of the guide."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    cells = []
    pending = ""
    pos = 0
    for m in _FENCE.finditer(markdown):
        pending += markdown[pos : m.start()]
        pos = m.end()
        lang, code = m.group(1), m.group(2)
        if lang != "python":
            pending += m.group(0)
            continue
        if pending.strip():
            cells.append(nbformat.v4.new_markdown_cell(_markdown(pending)))
        pending = ""
        cell = nbformat.v4.new_code_cell(code.rstrip("\n"))
        last = code.rstrip("\n").splitlines()[-1]
        if _BARE.match(last):
            cell.metadata["tags"] = ["display"]
        cells.append(cell)
    pending += markdown[pos:]
    if pending.strip():
        cells.append(nbformat.v4.new_markdown_cell(_markdown(pending)))
    for i, cell in enumerate(cells):  # stable ids, so a rebuild changes nothing
        cell["id"] = f"cell-{i}"
    nb.cells = cells
    return nb


def build(name: str) -> str:
    """The text of notebook ``name``, as it is stored."""
    nb = notebook(NOTEBOOKS[name].read_text(encoding="utf-8"))
    nbformat.validate(nb)
    return nbformat.writes(nb) + "\n"


def main() -> int:
    sys.path.insert(0, str(DOCS.parent))
    from autograd_lite.files import atomic_write

    for name in NOTEBOOKS:
        data = build(name).encode("utf-8")
        atomic_write(HERE / name, lambda f, data=data: f.write(data), who="build")
        print(f"wrote {HERE / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
