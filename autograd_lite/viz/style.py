"""The look of a drawing, and the text that goes into its labels.

One place for the style of each kind of node (:data:`STYLE`; the legend is in
``docs/graphs.md``), the red of NaN and infinity, and the helpers that turn names, numbers
and arrays into safe Graphviz HTML-label text (:func:`label_text` escapes every text that
goes into a label) and lay it out in cells and tables, a raw constant's node, an op's
numbered input edge. Imports only numpy and Value.
"""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from autograd_lite.core.value import Value

# ------------------------------------------------------------------------- styles
# One place for the look of each kind of node; docs/graphs.md has the legend.
FONT = "Helvetica"
RED = "#c0392b"
STYLE: dict[str, dict[str, str]] = {
    "input": {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbeafe"},
    "parameter": {"shape": "box3d", "style": "filled", "fillcolor": "#fef3c7"},
    "constant": {
        "shape": "box",
        "style": "rounded,filled,dashed",
        "fillcolor": "#f3f4f6",
        "fontcolor": "#4b5563",
        "color": "#9ca3af",
    },
    "intermediate": {"shape": "box", "style": "rounded,filled", "fillcolor": "#ffffff"},
    "output": {
        "shape": "box",
        "style": "rounded,filled",
        "fillcolor": "#dcfce7",
        "peripheries": "2",
    },
    "op": {
        "shape": "ellipse",
        "style": "filled",
        "fillcolor": "#f9fafb",
        "fontsize": "11",
        "height": "0.3",
        "margin": "0.04,0.02",
    },
    "call": {  # a whole step's replayed call or backward(), drawn with expand=True
        "shape": "cds",
        "style": "filled",
        "fillcolor": "#ffedd5",
        "fontsize": "11",
        "margin": "0.08,0.02",
    },
    "summary": {
        "shape": "note",
        "style": "filled,dashed",
        "fillcolor": "#e5e7eb",
        "fontcolor": "#374151",
        "fontsize": "11",
    },
    "module": {
        "shape": "box",
        "style": "rounded,filled,bold",
        "fillcolor": "#ede9fe",
        "color": "#6d28d9",
    },
}
NONFINITE = {"color": RED, "fillcolor": "#fee2e2", "penwidth": "2"}
CLUSTER_STYLE = 'style="rounded,dashed" color="#9ca3af" fontcolor="#4b5563" fontsize=11'

_MAX_LABEL = 48  # characters of a name shown before it is cut with an ellipsis


# ----------------------------------------------------------------------- helpers


def label_text(s: Any, limit: int | None = _MAX_LABEL) -> str:
    """``s`` as safe HTML-label text: escaped, printable, valid UTF-8, not too long.

    Every text that goes into a label passes through here: names, op labels, module
    paths, and dtypes too (a big-endian array's dtype is ``>f8``). Besides ``& < > " '``:
    ``]`` is written ``&#93;`` (Graphviz's HTML-label lexer rejects a ``]`` just before a
    tag, ``<B>]</B>``), and a backslash is doubled (Graphviz expands ``\\N``, ``\\G``...
    in HTML labels too, even when written as an entity).
    """
    s = str(s)
    if limit is not None and len(s) > limit:
        s = s[: limit - 1] + "\u2026"
    if not s.isprintable():
        s = "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in s)
    s = s.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates
    return html.escape(s, quote=True).replace("]", "&#93;").replace("\\", "\\\\")


def name_text(name: Any) -> str | None:
    """A Value's name as text: a ``str`` or None as it is, anything else (bytes, NaN, an
    object) as its ``repr``, never raising (a name must not stop a drawing)."""
    if name is None or isinstance(name, str):
        return name
    try:
        return repr(name)
    except Exception:
        return object.__repr__(name)


def array_text(a: Any) -> str:
    """``(2, 3) float32``: the shape and dtype of an array, as label text."""
    a = np.asarray(a)
    return label_text(f"{a.shape} {a.dtype}", None)


def num_text(x: Any) -> str:
    return f"{x:.4g}"


def raw_grad(x: Any) -> Any:
    """A gradient's raw data (``create_graph=True`` leaves Values in ``.grad``)."""
    return x.data if isinstance(x, Value) else x


def stats_text(x: Any) -> str:
    """A few numbers describing an array: all of them when there are at most 4."""
    a = np.asarray(x)
    if a.size == 0:
        return "empty"
    if a.size <= 4:
        items = ", ".join(num_text(v) for v in a.ravel().tolist())
        return items if a.ndim == 0 else f"[{items}]"
    if a.dtype.kind not in "fiub":
        return label_text(f"{a.dtype} array", None)
    a = a.astype(np.float64, copy=False)
    ok = np.isfinite(a)
    parts = []
    if ok.any():
        f = a[ok]
        with np.errstate(all="ignore"):
            parts.append(
                f"min {num_text(f.min())}  mean {num_text(f.mean())}  max {num_text(f.max())}"
            )
    if not ok.all():
        bad = []
        n_nan = int(np.isnan(a).sum())
        n_pinf = int(np.isposinf(a).sum())
        n_ninf = int(np.isneginf(a).sum())
        for n, what in ((n_nan, "nan"), (n_pinf, "+inf"), (n_ninf, "-inf")):
            if n:
                bad.append(f"{n} {what}")
        parts.append(", ".join(bad))
    return "  |  ".join(parts)


def dot_attrs(attrs: dict[str, str]) -> str:
    return " ".join(f'{k}="{v}"' for k, v in attrs.items())


def cell(text: str, bad: bool = False, bold: bool = False) -> str:
    if bold:
        text = f"<B>{text}</B>"
    if bad:
        text = f'<FONT COLOR="{RED}">{text}</FONT>'
    return f"<TD>{text}</TD>"


def table(cells: list[str], vertical: bool) -> str:
    if vertical:
        body = "<HR/>".join(f"<TR>{c}</TR>" for c in cells)
    else:
        body = "<TR>" + "<VR/>".join(cells) + "</TR>"
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">{body}</TABLE>>'


def port_attrs(k: int) -> str:
    """The edge attributes numbering input ``k`` of an op whose inputs' order matters."""
    return f' [label=" {k}" fontsize=8 fontcolor="#9ca3af"]'


def constant_node(x: Any) -> tuple[str, dict[str, str]]:
    """Label and attributes of a raw constant's node: its value, or an array's summary."""
    c = np.asarray(x)
    text = f"{float(c):.6g}" if c.ndim == 0 else f"{array_text(c)}<BR/>{stats_text(x)}"
    return f"<{text}>", dict(STYLE["constant"], fontsize="10")
