"""Drawings of computation graphs: :func:`draw_graph` (a ``graphviz.Digraph``), :func:`to_dot`,
:func:`save_graph`, the interactive page, and Jupyter's display of a Value.

Every Value is a box showing its name, and its data and gradient; every operation is its
own small ellipse between its inputs and its output; inputs, parameters, constants and the
output have their own colour and shape (the legend is in ``docs/graphs.md``), and a value
whose data or gradient holds NaN or infinity is drawn in red. The modules, one job each:

* :mod:`~autograd_lite.viz.draw`: :func:`draw_graph` and :func:`to_dot`, the labels of
  values, the title's notes, the legend;
* :mod:`~autograd_lite.viz.plans`: compiled calls drawn expanded (``expand=True``): a
  plan's ops, and a whole training step's calls, ``backward()`` and updates;
* :mod:`~autograd_lite.viz.walk`: which Values are drawn (breadth-first from the output,
  iterative), the folding of the rest above ``max_nodes`` into summary boxes, the roots and
  the ``names=`` given;
* :mod:`~autograd_lite.viz.modules`: the dashed box of every ``nn.Module`` call, nested as
  the modules are, and ``depth=k``'s collapsed boxes;
* :mod:`~autograd_lite.core.scope`: what ``Module.__call__`` records, and which module made
  which node;
* :mod:`~autograd_lite.viz.coloring`: ``color="grad"``/``"data"``, flagging vanishing,
  exploding, saturated and dead values;
* :mod:`~autograd_lite.viz.style`: the look of each kind of node, and label text (escaped);
* :mod:`~autograd_lite.viz.digraph`: :class:`GraphDrawing`, :class:`GraphvizNotFoundError`
  and the output formats (:data:`SUFFIX_FORMATS`);
* :mod:`~autograd_lite.viz.render`: which program renders (Graphviz's ``dot``, else
  ``graphviz-pure``);
* :mod:`~autograd_lite.viz.output`: :func:`output_format`, :func:`save_graph`, and a
  Value's display in Jupyter (bound as ``Value._repr_mimebundle_`` on import);
* :mod:`~autograd_lite.viz.html`: the interactive page (``save_graph(v, "graph.html")``).

What it may import: the core (``autograd_lite.core.value``, ``modes``, ``op``, ``backward``,
``function``), the ops (``primitives``, ``functional``), ``autograd_lite.files`` (atomic
writes) and ``autograd_lite.compile`` (to draw plans); never the command line, and the core
imports nothing from here (``nn.Module`` uses :mod:`~autograd_lite.core.scope` to record
its calls).
"""

from __future__ import annotations

# the submodules users reach as ag.viz.coloring and ag.viz.render
from autograd_lite.viz import coloring, render  # noqa: F401
from autograd_lite.viz.digraph import (
    INSTALL_HINT,
    SUFFIX_FORMATS,
    GraphDrawing,
    GraphvizNotFoundError,
)
from autograd_lite.viz.draw import draw_graph, to_dot
from autograd_lite.viz.output import (
    DISPLAY_MAX_VALUES,
    output_format,
    repr_mimebundle,
    repr_svg,
    save_graph,
)

__all__ = [
    "DISPLAY_MAX_VALUES",
    "GraphDrawing",
    "GraphvizNotFoundError",
    "INSTALL_HINT",
    "SUFFIX_FORMATS",
    "draw_graph",
    "output_format",
    "repr_mimebundle",
    "repr_svg",
    "save_graph",
    "to_dot",
]
