"""What the example scripts share: an output folder, a progress bar, optional plots."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from typing import Any

OUT = "out"  # default output folder, under the current directory


def out_path(name: str, folder: str = OUT) -> str:
    """``folder/name``, creating the folder."""
    os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, name)


def progress(items: Iterable[Any], desc: str, total: int | None = None) -> Iterator[Any]:
    """A tqdm progress bar when tqdm is installed (the examples extra), else the plain items.

    Without tqdm the examples' own per-epoch lines (printed with :func:`log`) are the
    progress report.
    """
    try:
        from tqdm import tqdm
    except ImportError:
        return iter(items)
    return iter(tqdm(items, desc=desc, total=total, leave=False))


def log(message: str) -> None:
    """Print without breaking a progress bar that is being drawn."""
    try:
        from tqdm import tqdm
    except ImportError:
        print(message)
    else:
        tqdm.write(message)


def save_svg(graph: Any, path: str) -> str:
    """Render a ``draw_graph`` result to ``path`` (SVG); without Graphviz's ``dot``, write
    the DOT text next to it instead and say how to get pictures. Returns the file written."""
    from autograd_lite.viz import GraphvizNotFoundError, save_graph

    try:
        save_graph(graph, path)
    except GraphvizNotFoundError as e:
        path = os.path.splitext(path)[0] + ".dot"
        save_graph(graph, path, "dot")
        print(f"(no picture, the DOT text is in {path}: {e})")
    return path


def save_plot(draw: Any, path: str) -> str | None:
    """Call ``draw(plt)`` and save the figure as a PNG at ``path``; None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print(
            "(no plot: install matplotlib, e.g. pip install -e '.[examples]' in a checkout "
            "(pip install 'autograd-lite[examples]' once published))"
        )
        return None
    fig = plt.figure(figsize=(6, 4))
    draw(plt)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
