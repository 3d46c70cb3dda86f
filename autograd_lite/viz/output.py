"""Where a drawing goes: a file (:func:`save_graph`) or Jupyter's display of a Value.

:func:`output_format` tells the format from a path's suffix (never one format under
another's suffix); :func:`save_graph` writes a picture, the DOT text, or an interactive
page (``.html``, :mod:`autograd_lite.viz.html`), atomically. :func:`repr_mimebundle` is
bound as ``Value._repr_mimebundle_`` when this module is imported: a Value in Jupyter
shows its numbers, then its graph when it is small (:data:`DISPLAY_MAX_VALUES`).
"""

from __future__ import annotations

import html
import os
import warnings
from collections import deque
from collections.abc import Sequence
from typing import Any

import graphviz  # type: ignore[import-untyped]  # graphviz ships no types (no py.typed)

from autograd_lite.core.value import Value
from autograd_lite.files import atomic_write
from autograd_lite.viz.digraph import (
    SUFFIX_FORMATS,
    GraphDrawing,
    GraphvizNotFoundError,
    canonical_format,
    pipe_source,
)
from autograd_lite.viz.draw import draw_graph

__all__ = ["DISPLAY_MAX_VALUES", "output_format", "repr_mimebundle", "repr_svg", "save_graph"]

DISPLAY_MAX_VALUES = 50
"""A Value shown in Jupyter shows its graph below its numbers only up to this many Values."""


def output_format(path: str | os.PathLike, format: str | None = None, default: str = "svg") -> str:
    """The format in which to write the file ``path``: never one format under another's suffix.

    ``format`` when given; else the format the suffix names (:data:`SUFFIX_FORMATS`, or
    a Graphviz output format such as ``.gif``); else, for a name without a suffix,
    ``default``. Raises ValueError when the suffix names another format than ``format``
    (``x.png`` with "svg"), or names no format at all and ``format`` is not given.
    """
    name = os.fsdecode(os.fspath(path))
    suffix = os.path.splitext(name)[1].lower()
    named = SUFFIX_FORMATS.get(suffix)
    if named is None and suffix[1:] in graphviz.FORMATS:
        named = canonical_format(suffix[1:])
    if format is not None:
        wanted = canonical_format(format)
        if named is not None and named != wanted:
            raise ValueError(
                f"{name}: its suffix {suffix} names the {named} format, not {wanted}; "
                f"change the suffix or the format"
            )
        return wanted
    if named is not None:
        return named
    if suffix:
        known = " ".join(SUFFIX_FORMATS)
        raise ValueError(
            f"{name}: cannot tell the format from the suffix {suffix}, which is no Graphviz "
            f"format; use a suffix such as {known}, or give the format"
        )
    return canonical_format(default)


def save_graph(
    graph: graphviz.Digraph | Value | Sequence[Value],
    path: str | os.PathLike,
    format: str | None = None,
) -> str:
    """Render ``graph`` to exactly ``path`` (no extension added), atomically.

    ``graph`` is a drawing, or a Value (or list of Values) drawn with the defaults of
    :func:`draw_graph`. The format is :func:`output_format` ``(path, format)``:
    ``format``, else the one the suffix names (.svg .png .pdf .jpg .dot .gv .html, any
    Graphviz format), else, without a suffix, the graph's own; a suffix naming another
    format is a ValueError. "dot" writes the DOT text and needs no Graphviz; "html"
    writes one self-contained interactive page (:func:`autograd_lite.viz.html.page`). The
    file is written by :func:`autograd_lite.files.atomic_write`: all or nothing, through
    symlinks, keeping an existing file's mode; a directory, FIFO or device is refused.
    Returns the format.
    """
    if isinstance(graph, Value) or (
        isinstance(graph, Sequence)
        and not isinstance(graph, (str, bytes))
        and graph
        and all(isinstance(v, Value) for v in graph)
    ):
        graph = draw_graph(graph)  # type: ignore[arg-type]
    if not isinstance(graph, graphviz.Digraph):
        raise TypeError(f"save_graph: expected a drawing or a Value, got {type(graph).__name__}")
    format = output_format(path, format, graph.format or "svg")
    if format == "dot":
        data = graph.source.encode("utf-8")
    elif format == "html":
        from autograd_lite.viz.html import page

        data = page(graph).encode("utf-8")
    else:
        data = pipe_source(graph, format)
    atomic_write(path, lambda f: f.write(data), who="save_graph")
    return format


_warned_missing_dot = False


def _svg_or_none(drawing: GraphDrawing) -> str | None:
    global _warned_missing_dot
    try:
        return drawing.pipe(format="svg", encoding="utf-8")
    except GraphvizNotFoundError as e:
        if not _warned_missing_dot:
            _warned_missing_dot = True
            warnings.warn(str(e), RuntimeWarning, stacklevel=3)
        return None


def repr_svg(value: Value, max_nodes: int = 200) -> str | None:
    """SVG text of the graph of ``value`` (folded at ``max_nodes`` Values).

    Returns None when nothing can render it, after one warning saying how to install
    Graphviz.
    """
    return _svg_or_none(draw_graph(value, max_nodes=max_nodes))


def _graph_size(value: Value, limit: int) -> int:
    """How many Values computed ``value``, counting no further than ``limit + 1``."""
    seen = {value}
    queue = deque([value])
    while queue and len(seen) <= limit:
        for x in queue.popleft()._inputs or ():
            if isinstance(x, Value) and x not in seen:
                seen.add(x)
                queue.append(x)
    return len(seen)


def repr_mimebundle(
    value: Value, include: Any = None, exclude: Any = None, **_: Any
) -> dict[str, Any]:
    """Jupyter's display of a Value: its numbers first, then its graph when it is small.

    ``text/plain`` is the repr; ``text/html`` is the repr, followed by the SVG of the
    graph when it has at most :data:`DISPLAY_MAX_VALUES` Values (so a value computed by
    a 300-step loop shows its numbers only) and something can render it.
    """
    text = repr(value)
    bundle = {"text/plain": text}
    body = f"<pre>{html.escape(text)}</pre>"
    if _graph_size(value, DISPLAY_MAX_VALUES) <= DISPLAY_MAX_VALUES:
        svg = _svg_or_none(draw_graph(value))
        if svg is not None:
            body += svg[svg.find("<svg") :]
    bundle["text/html"] = body
    if include is not None:
        bundle = {k: v for k, v in bundle.items() if k in set(include)}
    if exclude is not None:
        bundle = {k: v for k, v in bundle.items() if k not in set(exclude)}
    return bundle


# Jupyter displays a Value as its numbers, then its graph when small. The hook is bound
# here, in the module that knows drawings, so that the Value class itself imports none.
# (declared on Value for checkers, as the operators bound in ops/operators.py are; the
# public function names its Value "value", the declaration "self": the types are the same)
Value._repr_mimebundle_ = repr_mimebundle  # type: ignore[method-assign, assignment]
