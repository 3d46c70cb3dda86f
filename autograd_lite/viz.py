"""Drawings of computation graphs: :func:`draw_graph` (a ``graphviz.Digraph``) and :func:`to_dot`.

Every Value is a box showing its name, and its data and gradient (``%.4g`` for a scalar;
shape, dtype and min/mean/max for a tensor). Every operation is its own small ellipse
between its inputs and its output, labelled from the op table (``Op.describe``) or by a
user :class:`~autograd_lite.Function`'s ``name``. Inputs, parameters, constants and the
output have their own colour and shape (the legend is in ``docs/graphs.md``, or pass
``legend=True``); a value whose data or gradient holds NaN or infinity is drawn in red.
``color="grad"`` or ``"data"`` colours every Value by the size of its gradient or data
instead, flagging vanishing, exploding, saturated and dead values
(:mod:`autograd_lite.coloring`).

Every node made while an ``nn.Module`` runs is drawn inside that module's dashed box,
nested as the modules are (:mod:`autograd_lite.scope`); ``depth=k`` draws the modules
nested deeper than ``k`` as one box each, with their shapes and parameter count.

The walk is iterative and breadth-first from the output, so graphs of any depth work.
Above ``max_nodes`` Values, the ones nearest the output are drawn and the rest are
summarised in grey boxes ("19,500 more values (ops: add x9,750, ...)"), and the drawing
says so in its title. Building the DOT text needs no Graphviz binary; rendering it
(``.pipe()``, ``.render()``, Jupyter display) uses the system's ``dot``, else the
``graphviz-pure`` program (:mod:`autograd_lite.render`), and otherwise raises
:class:`GraphvizNotFoundError`, which says how to install Graphviz. :func:`save_graph`
writes a picture, the DOT text, or an interactive page (``.html``,
:mod:`autograd_lite.html`).
"""

from __future__ import annotations

import base64
import html
import math
import os
import warnings
from collections import Counter, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import graphviz
import numpy as np

from autograd_lite import coloring, render
from autograd_lite.compile import plan_of
from autograd_lite.files import atomic_write
from autograd_lite.modes import is_finite as _finite
from autograd_lite.scope import Call, ModuleCalls, module_regions
from autograd_lite.value import Parameter, Value

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

INSTALL_HINT = (
    "install Graphviz (the Python package alone is not enough, it runs the 'dot' program): "
    "Debian/Ubuntu 'sudo apt-get install graphviz', macOS 'brew install graphviz', "
    "conda 'conda install -c conda-forge graphviz', Windows 'winget install graphviz' "
    "(then add its bin folder to PATH), or 'pip install graphviz-pure' for svg, png and "
    "jpg; the DOT text (to_dot(), .source, 'autograd-lite graph --format dot') needs no "
    "Graphviz"
)

_SHORT_HINT = (
    "sudo apt-get install graphviz (macOS: brew install graphviz; conda: conda install -c "
    "conda-forge graphviz; Windows: winget install graphviz)"
)

DISPLAY_MAX_VALUES = 50
"""A Value shown in Jupyter shows its graph below its numbers only up to this many Values."""

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
    "module": {
        "shape": "box",
        "style": "rounded,filled,bold",
        "fillcolor": "#ede9fe",
        "color": "#6d28d9",
    },
}
_NONFINITE = {"color": _RED, "fillcolor": "#fee2e2", "penwidth": "2"}
_CLUSTER_STYLE = 'style="rounded,dashed" color="#9ca3af" fontcolor="#4b5563" fontsize=11'

_MAX_SUMMARIES = 8  # more separate folded regions than this are merged into one box
_LARGE = 1000  # an unfolded drawing with more values than this gets a warning note
_MAX_LABEL = 48  # characters of a name shown before it is cut with an ellipsis
_COLORS = ("grad", "data")


# ------------------------------------------------------------------------ errors


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """Rendering needs the Graphviz ``dot`` program, and it is not on PATH.

    A subclass of ``graphviz.ExecutableNotFound`` (so existing handlers still catch it)
    whose message says how to install Graphviz.
    """

    def __init__(self, program: str = "dot", note: str = "") -> None:
        if note:  # graphviz-pure is there but cannot write the format (pdf): one line, one fix
            message = f"cannot render: {note}install Graphviz's dot program: {_SHORT_HINT}"
        else:
            message = (
                f"cannot render: Graphviz's {program!r} program was not found on PATH; "
                + INSTALL_HINT
            )
        RuntimeError.__init__(self, message)


def _friendly(e: graphviz.ExecutableNotFound) -> GraphvizNotFoundError:
    if isinstance(e, GraphvizNotFoundError):
        return e
    msg = str(e)
    program = msg.split("'")[1] if msg.count("'") >= 2 else "dot"
    return GraphvizNotFoundError(program)


def _pipe_source(graph: graphviz.Digraph, format: str, **kwargs: Any) -> bytes:
    """``graph`` rendered as ``format`` by the system's dot, else by graphviz-pure."""
    prog = render.program(format)
    if prog is None:
        raise GraphvizNotFoundError("dot", render.missing_note(format))
    if prog[0] == "dot":
        try:
            return graphviz.Digraph.pipe(graph, format=format, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None
    engine = kwargs.get("engine") or graph.engine or "dot"
    return render.run_graphviz_pure(prog[1], graph.source.encode("utf-8"), format, engine)


_MIME = {"svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "pdf": "application/pdf"}


class GraphDrawing(graphviz.Digraph):
    """The ``graphviz.Digraph`` returned by :func:`draw_graph`.

    Exactly a Digraph (``.source``, ``.pipe()``, ``.render()``, Jupyter display), except
    that rendering falls back to ``graphviz-pure`` when the system has no ``dot``, a
    missing renderer raises :class:`GraphvizNotFoundError` with install instructions
    instead of a bare ``ExecutableNotFound``, and Jupyter shows it in its own ``format``
    (``draw_graph(v, format="png")`` displays a PNG).
    """

    _meta: dict[str, Any] | None = None  # what the interactive page needs (draw_graph)

    def pipe(
        self,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> Any:
        fmt = format or self.format or "svg"
        extra = {"renderer": renderer, "formatter": formatter, "neato_no_op": neato_no_op}
        kwargs = {k: v for k, v in extra.items() if v is not None}
        if engine is not None:
            kwargs["engine"] = engine
        data = _pipe_source(self, fmt, quiet=quiet, **kwargs)
        return data.decode(encoding) if encoding is not None else data

    def render(self, *args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("format") or self.format or "svg"
        prog = render.program(fmt)
        if prog is not None and prog[0] == "graphviz-pure":
            return self._render_pure(*args, **kwargs)
        if prog is None:
            raise GraphvizNotFoundError("dot", render.missing_note(fmt))
        try:
            return super().render(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None

    def _render_pure(
        self,
        filename: Any = None,
        directory: Any = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: Any = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: Any = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """``render()`` by graphviz-pure: the same files as Graphviz's would be."""
        fmt = format or self.format or "svg"
        source_path = self.save(filename, directory=directory)
        out = os.fspath(outfile) if outfile is not None else f"{source_path}.{fmt}"
        if raise_if_result_exists and os.path.exists(out):
            raise FileExistsError(f"output file exists: {out!r}")
        data = self.pipe(format=fmt, engine=engine)
        atomic_write(out, lambda f: f.write(data), who="render")
        if cleanup:
            os.remove(source_path)
        if view or quiet_view:
            self._view(out, format=fmt, quiet=quiet_view)
        return out

    def unflatten(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().unflatten(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None

    def _repr_mimebundle_(
        self,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Jupyter's display: the drawing in its own format (svg, png, jpg or pdf).

        Binary formats are base64 text, as notebooks store them; a pdf comes with an
        SVG for the frontends that cannot show a pdf.
        """
        fmt = _canonical(self.format or "svg")
        wanted = [_MIME.get(fmt, "image/svg+xml")]
        if fmt == "pdf":
            wanted.append("image/svg+xml")
        if include is not None:
            wanted = [m for m in _MIME.values() if m in set(include)]
        if exclude is not None:
            wanted = [m for m in wanted if m not in set(exclude)]
        by_mime = {m: f for f, m in _MIME.items()}
        bundle: dict[str, Any] = {}
        for mime in wanted:
            data = self.pipe(format=by_mime[mime])
            if mime == "image/svg+xml":
                bundle[mime] = data.decode("utf-8")
            else:
                bundle[mime] = base64.b64encode(data).decode("ascii")
        return bundle


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


# ------------------------------------------------------------------------ modules


def _module_paths(names: Any) -> dict[int, str]:
    """{id(module): dotted path} from ``names=model`` (a model with ``named_modules()``)."""
    named = getattr(names, "named_modules", None)
    if not callable(named):
        return {}
    paths: dict[int, str] = {}
    try:
        for path, m in named():
            paths.setdefault(id(m), str(path))
    except Exception:  # a names object of another kind: no module paths
        return {}
    return paths


def _shape_text(v: Any) -> str:
    d = v.data if isinstance(v, Value) else v
    return "scalar" if type(d) is float else str(tuple(np.shape(d)))


def _param_count(module: Any) -> int | None:
    params = getattr(module, "parameters", None)
    if not callable(params):
        return None
    try:
        seen: set[int] = set()
        total = 0
        for p in params():
            if id(p) not in seen:
                seen.add(id(p))
                total += int(np.size(p.data))
        return total
    except Exception:
        return None


class _Modules:
    """The module boxes of one drawing: call clusters, names, and collapsed boxes."""

    def __init__(self, walk: _Walk, names: Any, depth: int | None) -> None:
        self.mc: ModuleCalls = module_regions(walk.order, walk.index)
        paths = _module_paths(names)
        self.index = {c: i for i, c in enumerate(self.mc.calls)}
        per_module = Counter(id(c.module) for c in self.mc.calls)
        seen: Counter[int] = Counter()
        self.title: dict[Call, str] = {}
        self.name: dict[Call, str] = {}
        for c in self.mc.calls:
            cls = type(c.module).__name__
            path = paths.get(id(c.module))
            name = path if path else cls
            seen[id(c.module)] += 1
            if per_module[id(c.module)] > 1:
                name += f" (call {seen[id(c.module)]})"
            self.name[c] = name
            self.title[c] = f"{name}: {cls}" if path else name
        # depth: the calls drawn as one box, and the box each hidden call belongs to
        self.box_of: dict[Call, Call] = {}
        if depth is not None:
            for c in self.mc.calls:
                d = self.mc.depth[c]
                if d == depth + 1:
                    self.box_of[c] = c
                elif d > depth + 1:
                    self.box_of[c] = self.box_of[self.mc.parent[c]]  # type: ignore[index]
        self.boxes = [c for c in self.mc.calls if self.box_of.get(c) is c]

    def cluster_of_call(self, c: Call | None) -> str:
        return "" if c is None else f"c{self.index[c]}"

    def place(self, v: Value) -> tuple[str, Call | None]:
        """(cluster key, collapsed box or None) of drawn Value ``v``."""
        c = self.mc.owner.get(v)
        if c is None:
            return "", None
        box = self.box_of.get(c)
        if box is not None:
            return self.cluster_of_call(self.mc.parent[box]), box
        return self.cluster_of_call(c), None

    def box_label(self, c: Call, hidden: int, flags: Counter[str]) -> tuple[str, dict]:
        cls = type(c.module).__name__
        name = self.name[c]
        head = f"<B>{_text(name)}</B>" + (f"  {_text(cls)}" if name != cls else "")
        ins = ", ".join(_shape_text(x) for x in c.inputs) or "-"
        outs = ", ".join(_shape_text(x) for x in self.mc.outputs[c])
        n_params = _param_count(c.module)
        cells = [_cell(head), _cell(_text(f"in {ins} \u2192 out {outs}", None))]
        info: dict[str, Any] = {
            "class": cls,
            "name": name,
            "inputs": ins,
            "outputs": outs,
            "values": hidden,
        }
        line = f"{hidden:,} value{'s' if hidden != 1 else ''} inside"
        if n_params is not None:
            line = f"{n_params:,} parameter{'s' if n_params != 1 else ''}, " + line
            info["parameters"] = n_params
        cells.append(_cell(line))
        if flags:
            text = ", ".join(f"{k} {name}" for name, k in sorted(flags.items()))
            cells.append(_cell(_text(text, None), bad=True))
            info["flags"] = dict(flags)
        return _table(cells, vertical=True), info


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
    color: str | None = None,
    depth: int | None = None,
    expand: bool = False,
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
            ``named_parameters()`` (whose Values are then drawn as parameters, and whose
            modules' boxes are labelled with their dotted paths). They take precedence
            over ``Value.name``.
        legend: add a small legend of the node kinds.
        color: ``"grad"`` colours every Value by its gradient's rms on a log scale
            relative to the output's, flagging vanishing and exploding gradients;
            ``"data"`` by its data's rms, flagging saturated sigmoid/tanh and dead relu
            outputs too (:mod:`autograd_lite.coloring`). A legend gives the scale.
        depth: draw every module nested deeper than ``depth`` as one box (its name,
            class, input and output shapes, parameter count): ``0`` one box per
            outermost module call, ``1`` the model's box with one box per child, ...
            ``None`` (default): every module open.
        expand: draw the node of each :func:`~autograd_lite.compile` call as the ops of
            its plan (each with the line that traced it) in a box named for the compiled
            function, instead of one op box.

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
    if color is not None and color not in _COLORS:
        raise ValueError(f"draw_graph: color must be 'grad', 'data' or None, got {color!r}")
    if depth is not None and (
        isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth < 0
    ):
        raise ValueError(f"draw_graph: depth must be a whole number >= 0 or None, got {depth!r}")
    label_of, params = _resolve_names(names)
    walk = _Walk(roots, None if max_nodes is None else int(max_nodes))
    root_set = set(roots)
    mods = _Modules(walk, names, None if depth is None else int(depth))

    g = GraphDrawing("autograd_lite", format=format)
    g.attr(rankdir=rankdir, fontname=_FONT, nodesep="0.25", ranksep="0.35")
    g.attr("node", fontname=_FONT, fontsize="12", margin="0.06,0.03")
    g.attr("edge", color="#6b7280", arrowsize="0.7")

    reference = 1.0
    if color == "grad":
        refs = [coloring.rms(_raw(r.grad)) for r in roots]
        refs = [r for r in refs if r is not None and math.isfinite(r) and r > 0]
        reference = max(refs) if refs else 1.0

    # one statement list per cluster key ("" = top level), emitted nested at the end
    clusters: dict[str, list[str]] = {"": []}
    edges: list[tuple[str, str, str]] = []
    n_nonfinite = 0
    kinds_seen: set[str] = set()
    flag_counts: Counter[str] = Counter()
    hidden_to: dict[str, str] = {}  # node id -> id of the collapsed module box drawing it
    box_hidden: Counter[Call] = Counter()
    box_flags: dict[Call, Counter[str]] = {}
    nodes_meta: dict[str, dict[str, Any]] = {}
    cluster_members: dict[str, list[str]] = {}
    plans_drawn: dict[int, dict[int, str]] = {}  # expanded compiled calls: slot -> node id

    def add_node(where: str, node_id: str, label: str, attrs: dict[str, str]) -> None:
        # ids are [a-z0-9_], labels are HTML built by _text/_table, attribute values are
        # this module's constants: no further quoting is needed (and it is fast)
        clusters.setdefault(where, []).append(f"\t{node_id} [label={label} {_attrs(attrs)}]\n")
        cluster_members.setdefault(where, []).append(node_id)

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
        where, box = mods.place(v)
        if where == "" and box is None and v in params and "." in name:
            where = "p:" + name.rsplit(".", 1)[0]  # a parameter named by names=model
        data, grad = v.data, _raw(v.grad)
        data_ok, grad_ok = _finite(v), _finite(grad)
        verdict = None
        if color is not None:
            verdict = coloring.assess(color, data, grad, v.op, reference)
            flag_counts.update(verdict.flags)
        nodes_meta[f"v{i}"] = {"kind": kind, "name": name, "value": v, "assess": verdict}
        if box is not None:
            hidden_to[f"v{i}"] = f"m{mods.index[box]}"
            box_hidden[box] += 1
            if verdict is not None and verdict.flags:
                box_flags.setdefault(box, Counter()).update(verdict.flags)
            if not (data_ok and grad_ok):
                n_nonfinite += 1
                box_flags.setdefault(box, Counter())["NaN/inf"] += 1
        else:
            kinds_seen.add(kind)
            attrs = dict(_STYLE[kind])
            if verdict is not None and verdict.colour is not None:
                attrs["fillcolor"] = verdict.colour
                for flag in verdict.flags:
                    attrs.update(coloring.FLAG_STYLE[flag])
                if "vanishing" in verdict.flags and "dashed" not in attrs["style"]:
                    attrs["style"] += ",dashed"
            if not (data_ok and grad_ok):
                n_nonfinite += 1
                attrs.update(_NONFINITE)
            label = _value_label(v, kind, name, show_data, show_grad, color, verdict)
            add_node(where, f"v{i}", label, attrs)

        if v._op is None:
            continue
        compiled = plan_of(v) if expand and box is None else None
        if compiled is not None:
            _draw_plan(i, v, *compiled, walk, plans_drawn, add_node, edges)
            kinds_seen.update(("op", "constant"))
            continue
        op_id = f"o{i}"
        if box is not None:
            hidden_to[op_id] = f"m{mods.index[box]}"
        else:
            add_node(where, op_id, f"<{_text(_op_label(v), 40)}>", dict(_STYLE["op"]))
            kinds_seen.add("op")
        edges.append((op_id, f"v{i}", ""))
        inputs = v._inputs or ()
        numbered = len(inputs) > 1 and not getattr(v._op, "commutative", False)
        seen_summary: set[int] = set()
        for k, x in enumerate(inputs):
            port = _port(k) if numbered else ""
            if isinstance(x, Value):
                j = walk.index.get(x)
                if j is not None:
                    edges.append((f"v{j}", op_id, port))
                else:
                    s = walk.group_of[x]
                    if s not in seen_summary:
                        seen_summary.add(s)
                        edges.append((f"s{s}", op_id, ""))
            else:  # a raw constant mixed into the op
                c_id = f"c{i}_{k}"
                if box is not None:
                    hidden_to[c_id] = f"m{mods.index[box]}"
                    continue
                add_node(where, c_id, *_constant_node(x))
                kinds_seen.add("constant")
                edges.append((c_id, op_id, port))

    for s, st in enumerate(walk.groups):
        attrs = dict(_STYLE["summary"])
        if st["nonfinite"]:
            attrs["color"] = _RED
        add_node("", f"s{s}", _summary_label(st), attrs)
        nodes_meta[f"s{s}"] = {"kind": "summary", "stats": st}

    for c in mods.boxes:
        if not box_hidden[c]:
            continue
        label, info = mods.box_label(c, box_hidden[c], box_flags.get(c, Counter()))
        attrs = dict(_STYLE["module"])
        if box_flags.get(c):
            attrs["color"] = _RED if "NaN/inf" in box_flags[c] else "#a63603"
        box_id = f"m{mods.index[c]}"
        add_node(mods.cluster_of_call(mods.mc.parent[c]), box_id, label, attrs)
        kinds_seen.add("module")
        nodes_meta[box_id] = {"kind": "module", "info": info}

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
    if color is not None:
        notes.append(_flow_note(color, reference, flag_counts))
    if n_nonfinite:
        notes.append(
            f'<FONT COLOR="{_RED}">{n_nonfinite} value{"s" if n_nonfinite != 1 else ""} '
            "with NaN or inf in data or grad (red)</FONT>"
        )
    if notes:
        g.attr(label="<" + "<BR/>".join(notes) + ">", labelloc="t", labeljust="l", fontsize="12")

    g.body.extend(clusters.pop(""))
    cluster_ids = _emit_clusters(g, clusters, mods)
    done: set[tuple[str, str]] = set()
    for a, b, port in edges:
        a2, b2 = hidden_to.get(a, a), hidden_to.get(b, b)
        if a2 == b2:
            continue  # inside a collapsed module
        if a2 != a or b2 != b:
            if (a2, b2) in done:
                continue
            done.add((a2, b2))
            port = ""
        g.body.append(f"\t{a2} -> {b2}{port}\n")
    if color is not None:
        with g.subgraph(name="cluster_scale") as sc:
            sc.attr(label="colour scale", style="rounded", color="#9ca3af", fontsize="11")
            sc.node("scale", coloring.scale_label(color, reference), shape="plain")
    if legend:
        _add_legend(g)
    g._meta = {
        "nodes": nodes_meta,
        "clusters": _cluster_meta(clusters, cluster_ids, cluster_members, mods),
        "color": color,
        "notes": [html.unescape(_strip_tags(n)) for n in notes],
        "show": (show_data, show_grad),
    }
    return g


def _port(k: int) -> str:
    """The edge attributes numbering input ``k`` of an op whose inputs' order matters."""
    return f' [label=" {k}" fontsize=8 fontcolor="#9ca3af"]'


def _constant_node(x: Any) -> tuple[str, dict[str, str]]:
    """Label and attributes of a raw constant's node: its value, or an array's summary."""
    c = np.asarray(x)
    text = f"{float(c):.6g}" if c.ndim == 0 else f"{_array_text(c)}<BR/>{_stats(x)}"
    return f"<{text}>", dict(_STYLE["constant"], fontsize="10")


def _draw_plan(
    i: int, v: Value, plan: Any, k: int, walk: _Walk, drawn: dict, add_node: Any, edges: list
) -> None:
    """The ops of compiled node ``v{i}`` (output ``k`` of ``plan``), in a box of their own.

    One box per compiled call: its other outputs, drawn later, link into the same box.
    """
    run = v._ctx[0]
    made = drawn.get(id(run))
    if made is None:
        made = drawn[id(run)] = {}
        where = f"x:compiled {plan.name} ({len(plan.instrs)} ops)#{len(drawn)}"
        for s, x in enumerate(v._inputs):  # the call's inputs: Values drawn, or raw data
            if isinstance(x, Value):
                j = walk.index.get(x)
                made[s] = f"v{j}" if j is not None else f"s{walk.group_of[x]}"
            else:
                made[s] = f"c{i}_{s}"
                add_node(where, made[s], *_constant_node(x))
        for n, ins in enumerate(plan.instrs):
            op_id = f"o{i}_{n}"
            label = _text(ins.op.describe(ins.params) if ins.fclass is None else ins.op.name, 40)
            if ins.site is not None:
                line = f"{os.path.basename(ins.site[0])}:{ins.site[1]}"
                label += f'<BR/><FONT POINT-SIZE="8" COLOR="#6b7280">{_text(line)}</FONT>'
            add_node(where, op_id, f"<{label}>", dict(_STYLE["op"]))
            numbered = len(ins.slots) > 1 and not ins.op.commutative
            for pos, (s, c) in enumerate(zip(ins.slots, ins.consts)):
                port = _port(pos) if numbered else ""
                if s is None:  # a constant the trace saw (a number, an array)
                    c_id = f"c{i}_{n}_{pos}"
                    add_node(where, c_id, *_constant_node(c))
                    edges.append((c_id, op_id, port))
                elif s in made:
                    edges.append((made[s], op_id, port))
            made[ins.out] = op_id
    edges.append((made[plan.out_slots[k]], f"v{i}", ""))


def _strip_tags(text: str) -> str:
    out, inside = [], False
    for ch in text:
        if ch == "<":
            inside = True
        elif ch == ">":
            inside = False
        elif not inside:
            out.append(ch)
    return "".join(out)


def _value_label(
    v: Value,
    kind: str,
    name: str | None,
    show_data: bool,
    show_grad: bool,
    color: str | None,
    verdict: coloring.Assessment | None,
) -> str:
    data, grad = v.data, _raw(v.grad)
    data_ok, grad_ok = _finite(v), _finite(grad)
    scalar = type(data) is float
    cells = []
    if scalar:
        if name is not None:
            cells.append(_cell(_text(name), bold=True))
        if show_data:
            cells.append(_cell(f"data {_num(data)}", bad=not data_ok))
    else:
        shape = _array_text(data)
        head = f"<B>{_text(name)}</B>  {shape}" if name is not None else shape
        cells.append(_cell(head))
        if show_data:
            cells.append(_cell(f"data {_stats(data)}", bad=not data_ok))
    if show_grad and (kind != "constant" or grad is not None):
        gtxt = "grad None" if grad is None else f"grad {_stats(grad)}"
        cells.append(_cell(gtxt, bad=not grad_ok))
    if verdict is not None and verdict.rms is not None and math.isfinite(verdict.rms):
        text = f"{color} rms {verdict.rms:.3g}"
        if verdict.notes:
            text += "  " + "  ".join(verdict.notes)
        if verdict.flags:
            text += "  <B>" + " ".join(f.upper() for f in verdict.flags) + "</B>"
        cells.append(_cell(text))
    if not cells:
        cells.append(_cell(kind))
    return _table(cells, vertical=not scalar)


def _flow_note(color: str, reference: float, counts: Counter[str]) -> str:
    if color == "grad":
        head = (
            f"Gradient flow: colour = rms of each gradient relative to the output's "
            f"({reference:.4g})"
        )
        kinds = ("vanishing", "exploding")
    else:
        head = "Activations: colour = rms of each value's data"
        kinds = ("vanishing", "exploding", "saturated", "dead")
    found = [f"{counts[k]} {k}" for k in kinds if counts[k]]
    return head + ("; " + ", ".join(found) if found else "; nothing flagged")


def _emit_clusters(g: graphviz.Digraph, clusters: dict[str, list[str]], mods: _Modules) -> dict:
    """Nest the clusters: module calls as they were nested, dotted paths ("layers.0"
    inside "layers") for parameters named by ``names=model`` outside any call.

    Returns {cluster key: (DOT id, label text, parent key)} for the clusters drawn.
    """
    parent: dict[str, str] = {}
    label: dict[str, str] = {}
    is_path: set[str] = set()
    for key in list(clusters):
        if key.startswith("c"):  # a call, and the calls holding it
            c: Call | None = mods.mc.calls[int(key[1:])]
            while c is not None:
                k = mods.cluster_of_call(c)
                if k in parent:
                    break
                parent[k] = mods.cluster_of_call(mods.mc.parent[c])
                label[k] = mods.title[c]
                c = mods.mc.parent[c]
        elif key.startswith("x:"):  # an expanded compiled call: "x:compiled f#1"
            parent[key] = ""
            label[key] = key[2:].rsplit("#", 1)[0]
        else:  # "p:layers.0": a dotted path, and its prefixes
            parts = key[2:].split(".")
            for n in range(len(parts), 0, -1):
                path = ".".join(parts[:n])
                if not path:
                    continue
                k = "p:" + path
                if k in parent:
                    break
                prefix = ".".join(parts[: n - 1])
                parent[k] = "p:" + prefix if prefix else ""
                label[k] = path
                is_path.add(k)
    children: dict[str, list[str]] = {}
    for k in sorted(parent, key=_cluster_order):
        children.setdefault(parent[k], []).append(k)
    ids: dict[str, tuple[str, str, str]] = {}

    # iterative pre-order emission: (key, closing?) pairs
    stack: list[tuple[str, bool]] = [(k, False) for k in reversed(children.get("", []))]
    counter = 0
    while stack:
        key, closing = stack.pop()
        if closing:
            g.body.append("\t}\n")
            continue
        kids = children.get(key, [])
        if key in is_path and not clusters.get(key) and len(kids) == 1:
            stack.append((kids[0], False))  # no box around a lone sub-module
            continue
        cid = f"cluster_m{counter}"
        counter += 1
        ids[key] = (cid, label[key], parent[key])
        g.body.append(f"\tsubgraph {cid} {{\n")
        g.body.append(f"\t\tlabel=<{_text(label[key], 80)}> {_CLUSTER_STYLE}\n")
        g.body.extend("\t" + line for line in clusters.get(key, []))
        stack.append((key, True))
        stack.extend((c, False) for c in reversed(kids))
    return ids


def _cluster_order(key: str) -> tuple:
    if key.startswith("c"):
        return (0, int(key[1:]), "")
    if key.startswith("x:"):
        return (2, 0, key)
    return (1, key.count("."), key)


def _cluster_meta(
    clusters: dict[str, list[str]],
    ids: dict[str, tuple[str, str, str]],
    members: dict[str, list[str]],
    mods: _Modules,
) -> list[dict[str, Any]]:
    """The drawn clusters for the interactive page: id, label, parent id, members, info."""
    out = []
    for key, (cid, label, parent) in ids.items():
        entry: dict[str, Any] = {
            "id": cid,
            "label": label,
            "parent": ids[parent][0] if parent in ids else None,
            "members": list(members.get(key, [])),
        }
        if key.startswith("c"):
            c = mods.mc.calls[int(key[1:])]
            entry["class"] = type(c.module).__name__
            entry["inputs"] = ", ".join(_shape_text(x) for x in c.inputs) or "-"
            entry["outputs"] = ", ".join(_shape_text(x) for x in mods.mc.outputs[c])
            n = _param_count(c.module)
            if n is not None:
                entry["parameters"] = n
        out.append(entry)
    return out


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
            ("module", "module (depth=)"),
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
    ".html": "html",
}
"""File suffixes and the format each one names: the one table behind :func:`save_graph`
and ``autograd-lite graph -o``. Any other suffix that is a Graphviz output format
(``.gif``, ``.svgz``, ``.ps``...) names that format; "dot" is the DOT text itself;
"html" is the interactive page (:mod:`autograd_lite.html`)."""


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
    writes one self-contained interactive page (:func:`autograd_lite.html.page`). The
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
        from autograd_lite.html import page

        data = page(graph).encode("utf-8")
    else:
        data = _pipe_source(graph, format)
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


def repr_mimebundle(value: Value, include: Any = None, exclude: Any = None, **_: Any) -> dict:
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
Value._repr_mimebundle_ = repr_mimebundle  # type: ignore[attr-defined]
