"""Drawings of computation graphs: :func:`draw_graph` (a ``graphviz.Digraph``) and :func:`to_dot`.

Every Value is a box showing its name, and its data and gradient (``%.4g`` for a scalar;
shape, dtype and min/mean/max for a tensor). Every operation is its own small ellipse
between its inputs and its output, labelled from the op table (``Op.describe``) or by a
user :class:`~autograd_lite.Function`'s ``name``. Inputs, parameters, constants and the
output have their own colour and shape (the legend is in ``docs/graphs.md``, or pass
``legend=True``); a value whose data or gradient holds NaN or infinity is drawn in red.

The walk is iterative and breadth-first from the output, so graphs of any depth work.
Above ``max_nodes`` Values, the ones nearest the output are drawn and the rest are
summarised in grey boxes ("19,500 more values (ops: add x9,750, ...)"), and the drawing
says so in its title. Building the DOT text needs no Graphviz binary; rendering it
(``.pipe()``, ``.render()``, Jupyter display) needs ``dot`` and otherwise raises
:class:`GraphvizNotFoundError`, which says how to install it.
"""

from __future__ import annotations

import html
import math
import os
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import graphviz
import numpy as np

from autograd_lite.files import atomic_write
from autograd_lite.modes import is_finite as _finite
from autograd_lite.value import Parameter, Value

__all__ = [
    "GraphDrawing",
    "GraphvizNotFoundError",
    "INSTALL_HINT",
    "SUFFIX_FORMATS",
    "draw_graph",
    "output_format",
    "repr_svg",
    "save_graph",
    "to_dot",
]

INSTALL_HINT = (
    "install Graphviz (the Python package alone is not enough, it runs the 'dot' program): "
    "Debian/Ubuntu 'sudo apt-get install graphviz', macOS 'brew install graphviz', "
    "conda 'conda install -c conda-forge graphviz', Windows 'winget install graphviz' "
    "(then add its bin folder to PATH); the DOT text (to_dot(), .source, "
    "'autograd-lite graph --format dot') needs no Graphviz"
)

# ------------------------------------------------------------------------- styles
# One place for the look of each kind of node; docs/graphs.md has the legend.
_FONT = "Helvetica"
_RED = "#c0392b"
_STYLE: dict[str, dict[str, str]] = {
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
    "summary": {
        "shape": "note",
        "style": "filled,dashed",
        "fillcolor": "#e5e7eb",
        "fontcolor": "#374151",
        "fontsize": "11",
    },
}
_NONFINITE = {"color": _RED, "fillcolor": "#fee2e2", "penwidth": "2"}

_MAX_SUMMARIES = 8  # more separate folded regions than this are merged into one box
_LARGE = 1000  # an unfolded drawing with more values than this gets a warning note
_MAX_LABEL = 48  # characters of a name shown before it is cut with an ellipsis


# ------------------------------------------------------------------------ errors


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """Rendering needs the Graphviz ``dot`` program, and it is not on PATH.

    A subclass of ``graphviz.ExecutableNotFound`` (so existing handlers still catch it)
    whose message says how to install Graphviz.
    """

    def __init__(self, program: str = "dot") -> None:
        RuntimeError.__init__(
            self,
            f"cannot render: Graphviz's {program!r} program was not found on PATH; " + INSTALL_HINT,
        )


def _friendly(e: graphviz.ExecutableNotFound) -> GraphvizNotFoundError:
    if isinstance(e, GraphvizNotFoundError):
        return e
    msg = str(e)
    program = msg.split("'")[1] if msg.count("'") >= 2 else "dot"
    return GraphvizNotFoundError(program)


class GraphDrawing(graphviz.Digraph):
    """The ``graphviz.Digraph`` returned by :func:`draw_graph`.

    Exactly a Digraph (``.source``, ``.pipe()``, ``.render()``, Jupyter display), except
    that a missing Graphviz binary raises :class:`GraphvizNotFoundError` with install
    instructions instead of a bare ``ExecutableNotFound``.
    """

    def pipe(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().pipe(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None

    def render(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None

    def unflatten(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().unflatten(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None


# ----------------------------------------------------------------------- helpers


def _text(s: Any, limit: int | None = _MAX_LABEL) -> str:
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


def _array_text(a: Any) -> str:
    """``(2, 3) float32``: the shape and dtype of an array, as label text."""
    a = np.asarray(a)
    return _text(f"{a.shape} {a.dtype}", None)


def _num(x: Any) -> str:
    return f"{x:.4g}"


def _raw(x: Any) -> Any:
    """A gradient's raw data (``create_graph=True`` leaves Values in ``.grad``)."""
    return x.data if isinstance(x, Value) else x


def _stats(x: Any) -> str:
    """A few numbers describing an array: all of them when there are at most 4."""
    a = np.asarray(x)
    if a.size == 0:
        return "empty"
    if a.size <= 4:
        items = ", ".join(_num(v) for v in a.ravel().tolist())
        return items if a.ndim == 0 else f"[{items}]"
    if a.dtype.kind not in "fiub":
        return _text(f"{a.dtype} array", None)
    a = a.astype(np.float64, copy=False)
    ok = np.isfinite(a)
    parts = []
    if ok.any():
        f = a[ok]
        with np.errstate(all="ignore"):
            parts.append(f"min {_num(f.min())}  mean {_num(f.mean())}  max {_num(f.max())}")
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


def _attrs(attrs: dict[str, str]) -> str:
    return " ".join(f'{k}="{v}"' for k, v in attrs.items())


def _cell(text: str, bad: bool = False, bold: bool = False) -> str:
    if bold:
        text = f"<B>{text}</B>"
    if bad:
        text = f'<FONT COLOR="{_RED}">{text}</FONT>'
    return f"<TD>{text}</TD>"


def _table(cells: list[str], vertical: bool) -> str:
    if vertical:
        body = "<HR/>".join(f"<TR>{c}</TR>" for c in cells)
    else:
        body = "<TR>" + "<VR/>".join(cells) + "</TR>"
    return f'<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3">{body}</TABLE>>'


def _op_label(node: Value) -> str:
    """The op's label from the op table (built-ins) or the Function's name (user ops)."""
    op = node._op
    describe = getattr(op, "describe", None)
    if callable(describe):
        try:
            return str(describe(node._ctx if isinstance(node._ctx, tuple) else ()))
        except Exception:  # a label must never stop a drawing
            pass
    return str(getattr(op, "name", None) or getattr(op, "__name__", None) or type(op).__name__)


def _resolve_names(names: Any) -> tuple[dict[Value, str], set[Value]]:
    """``names`` as {Value: name}, and the Values that are a module's parameters."""
    if names is None:
        return {}, set()
    is_module = hasattr(names, "named_parameters") and callable(names.named_parameters)
    if is_module:
        pairs: Iterable[Any] = names.named_parameters()
    elif isinstance(names, Mapping):
        pairs = names.items()
    elif isinstance(names, Iterable) and not isinstance(names, (str, bytes)):
        pairs = names
    else:
        raise TypeError(
            "draw_graph(names=...): expected a dict {name: Value}, a model with "
            f"named_parameters(), or (name, Value) pairs; got {type(names).__name__}"
        )
    out: dict[Value, str] = {}
    for pair in pairs:
        try:
            name, v = pair
        except (TypeError, ValueError):
            raise TypeError(
                f"draw_graph(names=...): expected (name, Value) pairs, got {pair!r}"
            ) from None
        if not isinstance(v, Value):
            raise TypeError(
                f"draw_graph(names=...): {name!r} maps to a {type(v).__name__}, not a Value"
            )
        out.setdefault(v, str(name))
    return out, (set(out) if is_module else set())


def _roots(root: Any) -> list[Value]:
    roots = [root] if isinstance(root, Value) else None
    if roots is None and isinstance(root, Sequence) and not isinstance(root, (str, bytes)):
        roots = list(root)
    if not roots or not all(isinstance(r, Value) for r in roots):
        raise TypeError(
            f"draw_graph: expected a Value (or a list of Values), got {type(root).__name__}"
        )
    unique: list[Value] = []
    seen: set[Value] = set()
    for r in roots:
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


# ------------------------------------------------------------------------- walk


class _Walk:
    """The Values to draw (breadth-first from the roots) and a summary of the rest."""

    def __init__(self, roots: list[Value], max_nodes: int | None) -> None:
        budget = math.inf if max_nodes is None else max_nodes
        self.index: dict[Value, int] = {}
        self.order: list[Value] = []
        for r in roots:
            self.index[r] = len(self.order)
            self.order.append(r)
        boundary: dict[Value, None] = {}  # hidden Values with a drawn consumer, in order
        queue = deque(self.order)
        while queue:
            v = queue.popleft()
            for x in v._inputs or ():
                if not isinstance(x, Value) or x in self.index or x in boundary:
                    continue
                if len(self.order) < budget:
                    self.index[x] = len(self.order)
                    self.order.append(x)
                    queue.append(x)
                else:
                    boundary[x] = None
        self.group_of: dict[Value, int] = {}  # boundary Value -> index of its summary box
        self.groups: list[dict[str, Any]] = []
        self.hidden = 0
        if boundary:
            self._fold(list(boundary))

    def _fold(self, boundary: list[Value]) -> None:
        """Split the hidden Values into regions, one per boundary Value reaching them first."""
        owner: dict[Value, int] = {}
        stats: list[dict[str, Any]] = []
        for b in boundary:
            if b in owner:
                continue
            g = len(stats)
            st: dict[str, Any] = {"count": 0, "ops": Counter(), "leaves": 0, "nonfinite": 0}
            stats.append(st)
            owner[b] = g
            queue = deque([b])
            while queue:
                v = queue.popleft()
                st["count"] += 1
                if v._op is None:
                    st["leaves"] += 1
                else:
                    st["ops"][v.op] += 1
                if not (_finite(v) and _finite(_raw(v.grad))):
                    st["nonfinite"] += 1
                for x in v._inputs or ():
                    if isinstance(x, Value) and x not in owner and x not in self.index:
                        owner[x] = g
                        queue.append(x)
        merge = len(stats) > _MAX_SUMMARIES
        if merge:
            total: dict[str, Any] = {"count": 0, "ops": Counter(), "leaves": 0, "nonfinite": 0}
            for st in stats:
                total["count"] += st["count"]
                total["ops"].update(st["ops"])
                total["leaves"] += st["leaves"]
                total["nonfinite"] += st["nonfinite"]
            total["regions"] = len(stats)
            self.groups = [total]
        else:
            self.groups = stats
        for b in boundary:
            self.group_of[b] = 0 if merge else owner[b]
        self.hidden = sum(st["count"] for st in stats)


def _summary_label(st: dict[str, Any]) -> str:
    n = st["count"]
    head = f"{n:,} more value{'s' if n != 1 else ''}"
    if st.get("regions", 1) > 1:
        head += f" in {st['regions']:,} regions"
    lines = [f"<B>{head}</B>"]
    ops = st["ops"].most_common()
    if ops:
        shown = ", ".join(f"{_text(name)}\u00d7{k:,}" for name, k in ops[:5])
        more = f", +{len(ops) - 5} more kinds" if len(ops) > 5 else ""
        lines.append(f"ops: {shown}{more}")
    if st["leaves"]:
        lines.append(f"{st['leaves']:,} lea{'ves' if st['leaves'] != 1 else 'f'}")
    if st["nonfinite"]:
        lines.append(f'<FONT COLOR="{_RED}">{st["nonfinite"]:,} with NaN/inf!</FONT>')
    return "<" + "<BR/>".join(lines) + ">"


# -------------------------------------------------------------------------- drawing


def draw_graph(
    root: Value | Sequence[Value],
    *,
    format: str = "svg",
    rankdir: str = "LR",
    show_data: bool = True,
    show_grad: bool = True,
    max_nodes: int | None = 500,
    names: Any = None,
    legend: bool = False,
) -> GraphDrawing:
    """Draw the graph that computed ``root`` (a Value, or a list of Values).

    Args:
        root: the output Value (any shape); usually call ``backward()`` first so the
            gradients are shown.
        format: output format for ``.pipe()``/``.render()``/display ("svg", "png", "pdf").
        rankdir: "LR" (left to right, as micrograd) or "TB", "RL", "BT".
        show_data: show the data in each box.
        show_grad: show the gradient in each box.
        max_nodes: most Values to draw (op and constant nodes are not counted); the rest
            are folded into summary boxes and the title says so. ``None``: no limit.
        names: extra labels: a dict ``{"w": w}``, (name, Value) pairs, or a model with
            ``named_parameters()`` (whose Values are then drawn as parameters). They take
            precedence over ``Value.name``.
        legend: add a small legend of the node kinds.

    Returns:
        a ``graphviz.Digraph`` (see :class:`GraphDrawing`). ``.source`` is the DOT text;
        ``.pipe()`` renders it; in Jupyter it displays inline.
    """
    roots = _roots(root)
    if max_nodes is not None and (
        isinstance(max_nodes, bool) or not isinstance(max_nodes, (int, np.integer))
    ):
        raise TypeError(f"draw_graph: max_nodes must be an int or None, not {max_nodes!r}")
    if max_nodes is not None and max_nodes < len(roots):
        raise ValueError(f"draw_graph: max_nodes must be at least {len(roots)}, got {max_nodes}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"draw_graph: rankdir must be LR, RL, TB or BT, got {rankdir!r}")
    label_of, params = _resolve_names(names)
    walk = _Walk(roots, None if max_nodes is None else int(max_nodes))
    root_set = set(roots)

    g = GraphDrawing("autograd_lite", format=format)
    g.attr(rankdir=rankdir, fontname=_FONT, nodesep="0.25", ranksep="0.35")
    g.attr("node", fontname=_FONT, fontsize="12", margin="0.06,0.03")
    g.attr("edge", color="#6b7280", arrowsize="0.7")

    # one statement list per cluster path ("" = top level), emitted nested at the end
    clusters: dict[str, list[str]] = {"": []}
    edges: list[str] = []
    n_nonfinite = 0
    kinds_seen: set[str] = set()

    def add_node(where: str, node_id: str, label: str, attrs: dict[str, str]) -> None:
        # ids are [a-z0-9_], labels are HTML built by _text/_table, attribute values are
        # this module's constants: no further quoting is needed (and it is fast)
        clusters.setdefault(where, []).append(f"\t{node_id} [label={label} {_attrs(attrs)}]\n")

    for i, v in enumerate(walk.order):
        name = label_of.get(v, v.name)
        if v in root_set:
            kind = "output"
        elif v._op is not None:
            kind = "intermediate"
        elif not v.requires_grad:
            kind = "constant"
        elif v in params or isinstance(v, Parameter):
            kind = "parameter"
        else:
            kind = "input"
        kinds_seen.add(kind)
        data, grad = v.data, _raw(v.grad)
        data_ok, grad_ok = _finite(v), _finite(grad)
        attrs = dict(_STYLE[kind])
        if not (data_ok and grad_ok):
            n_nonfinite += 1
            attrs.update(_NONFINITE)
        scalar = type(data) is float
        cells = []
        if scalar:
            if name is not None:
                cells.append(_cell(_text(name), bold=True))
            if show_data:
                cells.append(_cell(f"data {_num(data)}", bad=not data_ok))
            if show_grad and (kind != "constant" or grad is not None):
                gtxt = "grad None" if grad is None else f"grad {_stats(grad)}"
                cells.append(_cell(gtxt, bad=not grad_ok))
        else:
            shape = _array_text(data)
            head = f"<B>{_text(name)}</B>  {shape}" if name is not None else shape
            cells.append(_cell(head))
            if show_data:
                cells.append(_cell(f"data {_stats(data)}", bad=not data_ok))
            if show_grad and (kind != "constant" or grad is not None):
                gtxt = "grad None" if grad is None else f"grad {_stats(grad)}"
                cells.append(_cell(gtxt, bad=not grad_ok))
        if not cells:
            cells.append(_cell(kind))
        where = ""
        if v in params and "." in name:  # a module's parameter, named by names=model
            where = name.rsplit(".", 1)[0]
        add_node(where, f"v{i}", _table(cells, vertical=not scalar), attrs)

        if v._op is None:
            continue
        op_id = f"o{i}"
        add_node("", op_id, f"<{_text(_op_label(v), 40)}>", dict(_STYLE["op"]))
        edges.append(f"{op_id} -> v{i}")
        kinds_seen.add("op")
        inputs = v._inputs or ()
        numbered = len(inputs) > 1 and not getattr(v._op, "commutative", False)
        seen_summary: set[int] = set()
        for k, x in enumerate(inputs):
            port = f' [label=" {k}" fontsize=8 fontcolor="#9ca3af"]' if numbered else ""
            if isinstance(x, Value):
                j = walk.index.get(x)
                if j is not None:
                    edges.append(f"v{j} -> {op_id}{port}")
                else:
                    s = walk.group_of[x]
                    if s not in seen_summary:
                        seen_summary.add(s)
                        edges.append(f"s{s} -> {op_id}")
            else:  # a raw constant mixed into the op
                c_id = f"c{i}_{k}"
                c = np.asarray(x)
                text = f"{float(c):.6g}" if c.ndim == 0 else f"{_array_text(c)}<BR/>{_stats(x)}"
                cattrs = dict(_STYLE["constant"], fontsize="10")
                add_node("", c_id, f"<{text}>", cattrs)
                kinds_seen.add("constant")
                edges.append(f"{c_id} -> {op_id}{port}")

    for s, st in enumerate(walk.groups):
        attrs = dict(_STYLE["summary"])
        if st["nonfinite"]:
            attrs["color"] = _RED
        add_node("", f"s{s}", _summary_label(st), attrs)

    # ---------------------------------------------------------------- emit
    notes = []
    total = len(walk.order) + walk.hidden
    if walk.hidden:
        notes.append(
            f"Folded: showing the {len(walk.order):,} values nearest the output out of "
            f"{total:,}; the other {walk.hidden:,} are summarised in grey boxes "
            "(pass a larger max_nodes to see more)"
        )
    elif max_nodes is None and total > _LARGE:
        notes.append(
            f"Large graph: {total:,} values drawn unfolded, which may be hard to read "
            "(pass max_nodes to fold it)"
        )
    if n_nonfinite:
        notes.append(
            f'<FONT COLOR="{_RED}">{n_nonfinite} value{"s" if n_nonfinite != 1 else ""} '
            "with NaN or inf in data or grad (red)</FONT>"
        )
    if notes:
        g.attr(label="<" + "<BR/>".join(notes) + ">", labelloc="t", labeljust="l", fontsize="12")

    g.body.extend(clusters.pop(""))
    _emit_clusters(g, clusters)
    g.body.extend(f"\t{e}\n" for e in edges)
    if legend:
        _add_legend(g)
    return g


def _emit_clusters(g: graphviz.Digraph, clusters: dict[str, list[str]]) -> None:
    """Nest the dotted module paths ("layers.0" inside "layers") as cluster subgraphs."""
    if not clusters:
        return
    children: dict[str, list[str]] = {}
    paths: set[str] = set()
    for path in clusters:
        parts = path.split(".")
        for n in range(1, len(parts) + 1):
            if ".".join(parts[:n]):  # "" is the top level (a name such as "..w" has it too)
                paths.add(".".join(parts[:n]))
    for path in sorted(paths, key=lambda p: (p.count("."), p)):
        parent = path.rsplit(".", 1)[0] if "." in path else ""
        children.setdefault(parent, []).append(path)
    ids = {p: f"cluster_m{i}" for i, p in enumerate(sorted(paths))}

    # iterative pre-order emission: (path, closing?) pairs
    stack: list[tuple[str, bool]] = [(p, False) for p in reversed(children.get("", []))]
    while stack:
        path, closing = stack.pop()
        if closing:
            g.body.append("\t}\n")
            continue
        kids = children.get(path, [])
        if not clusters.get(path) and len(kids) == 1:  # no box around a lone sub-module
            stack.append((kids[0], False))
            continue
        label = f"<{_text(path)}>"
        g.body.append(f"\tsubgraph {ids[path]} {{\n")
        g.body.append(
            f'\t\tlabel={label} style="rounded,dashed" color="#9ca3af" '
            f'fontcolor="#4b5563" fontsize=11\n'
        )
        g.body.extend("\t" + line for line in clusters.get(path, []))
        stack.append((path, True))
        stack.extend((c, False) for c in reversed(children.get(path, [])))


def _add_legend(g: graphviz.Digraph) -> None:
    with g.subgraph(name="cluster_legend") as lg:
        lg.attr(label="legend", style="rounded", color="#9ca3af", fontsize="11")
        samples = [
            ("input", "input (leaf)"),
            ("parameter", "parameter"),
            ("constant", "constant"),
            ("intermediate", "result of an op"),
            ("output", "output"),
            ("op", "op"),
            ("summary", "folded values"),
        ]
        prev = None
        for i, (kind, text) in enumerate(samples):
            lg.node(f"legend{i}", text, **_STYLE[kind])
            if prev is not None:
                lg.edge(prev, f"legend{i}", style="invis")
            prev = f"legend{i}"
        lg.node("legend_bad", "NaN / inf", **dict(_STYLE["intermediate"], **_NONFINITE))
        lg.edge(prev, "legend_bad", style="invis")


def to_dot(root: Value | Sequence[Value], **options: Any) -> str:
    """The DOT text of :func:`draw_graph` ``(root, **options)``; needs no Graphviz binary."""
    return draw_graph(root, **options).source


# ------------------------------------------------------------------ files, Jupyter

SUFFIX_FORMATS: dict[str, str] = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".jpe": "jpg",
}
"""File suffixes and the format each one names: the one table behind :func:`save_graph`
and ``autograd-lite graph -o``. Any other suffix that is a Graphviz output format
(``.gif``, ``.svgz``, ``.ps``...) names that format; "dot" is the DOT text itself."""


def _canonical(format: str) -> str:
    format = format.lower()
    return SUFFIX_FORMATS.get("." + format, format)


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
        named = _canonical(suffix[1:])
    if format is not None:
        wanted = _canonical(format)
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
    return _canonical(default)


def save_graph(graph: graphviz.Digraph, path: str | os.PathLike, format: str | None = None) -> str:
    """Render ``graph`` to exactly ``path`` (no extension added), atomically.

    The format is :func:`output_format` ``(path, format)``: ``format``, else the one the
    suffix names (.svg .png .pdf .jpg .dot .gv, any Graphviz format), else, without a
    suffix, the graph's own; a suffix naming another format is a ValueError. "dot" writes
    the DOT text and needs no Graphviz. The file is written by
    :func:`autograd_lite.files.atomic_write`: all or nothing, through symlinks, keeping
    an existing file's mode; a directory, FIFO or device is refused. Returns the format.
    """
    format = output_format(path, format, graph.format or "svg")
    if format == "dot":
        data = graph.source.encode("utf-8")
    else:
        try:
            data = graph.pipe(format=format)
        except graphviz.ExecutableNotFound as e:  # plain Digraphs get the friendly error too
            raise _friendly(e) from None
    atomic_write(path, lambda f: f.write(data), who="save_graph")
    return format


_warned_missing_dot = False


def repr_svg(value: Value, max_nodes: int = 200) -> str | None:
    """SVG text of the graph of ``value``, for ``Value._repr_svg_`` (Jupyter display).

    Returns None (so Jupyter falls back to the text repr) when Graphviz is missing,
    after one warning saying how to install it.
    """
    global _warned_missing_dot
    try:
        return draw_graph(value, max_nodes=max_nodes).pipe(format="svg", encoding="utf-8")
    except GraphvizNotFoundError as e:
        if not _warned_missing_dot:
            _warned_missing_dot = True
            warnings.warn(str(e), RuntimeWarning, stacklevel=2)
        return None


# Jupyter displays a Value as the graph that computed it. The hook is bound here, in the
# module that knows drawings, so that the Value class itself imports none.
Value._repr_svg_ = repr_svg  # type: ignore[attr-defined]
