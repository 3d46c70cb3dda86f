"""The drawing itself: :func:`draw_graph` (a :class:`~autograd_lite.viz.digraph.GraphDrawing`)
and :func:`to_dot`.

Every Value is a box showing its name, and its data and gradient (``%.4g`` for a scalar;
shape, dtype and min/mean/max for a tensor). Every operation is its own small ellipse
between its inputs and its output, labelled from the op table (``Op.describe``) or by a
user :class:`~autograd_lite.Function`'s ``name``; ``expand=True`` draws a compiled call
as the ops of its plan (:mod:`~autograd_lite.viz.plans`). Also here: the labels of
values, the notes of the title, and the legend. Which Values are drawn is
:mod:`~autograd_lite.viz.walk`'s job, the module boxes :mod:`~autograd_lite.viz.modules`',
the colours :mod:`~autograd_lite.viz.coloring`'s.
"""

from __future__ import annotations

import html
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import graphviz  # type: ignore[import-untyped]  # graphviz ships no types (no py.typed)
import numpy as np

from autograd_lite.compile import plan_of
from autograd_lite.core.modes import is_finite as _finite
from autograd_lite.core.scope import Call
from autograd_lite.core.value import Parameter, Value
from autograd_lite.viz import coloring
from autograd_lite.viz.digraph import GraphDrawing
from autograd_lite.viz.modules import Modules, cluster_meta, emit_clusters
from autograd_lite.viz.plans import draw_plan
from autograd_lite.viz.style import (
    FONT,
    NONFINITE,
    RED,
    STYLE,
    array_text,
    cell,
    constant_node,
    dot_attrs,
    label_text,
    name_text,
    num_text,
    port_attrs,
    raw_grad,
    stats_text,
    table,
)
from autograd_lite.viz.walk import Walk, resolve_names, root_values, summary_label

__all__ = ["draw_graph", "to_dot"]

_LARGE = 1000  # an unfolded drawing with more values than this gets a warning note
_COLORS = ("grad", "data")


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
            outputs too (:mod:`autograd_lite.viz.coloring`). A legend gives the scale.
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
    roots = root_values(root)
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
    label_of, params = resolve_names(names)
    walk = Walk(roots, None if max_nodes is None else int(max_nodes))
    root_set = set(roots)
    mods = Modules(walk, names, None if depth is None else int(depth))

    g = GraphDrawing("autograd_lite", format=format)
    g.attr(rankdir=rankdir, fontname=FONT, nodesep="0.25", ranksep="0.35")
    g.attr("node", fontname=FONT, fontsize="12", margin="0.06,0.03")
    g.attr("edge", color="#6b7280", arrowsize="0.7")

    reference = 1.0
    if color == "grad":
        rms_of_roots = [coloring.rms(raw_grad(r.grad)) for r in roots]
        refs = [r for r in rms_of_roots if r is not None and math.isfinite(r) and r > 0]
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
        # ids are [a-z0-9_], labels are HTML built by label_text/table, attribute values are
        # this module's constants: no further quoting is needed (and it is fast)
        clusters.setdefault(where, []).append(f"\t{node_id} [label={label} {dot_attrs(attrs)}]\n")
        cluster_members.setdefault(where, []).append(node_id)

    for i, v in enumerate(walk.order):
        name = label_of[v] if v in label_of else name_text(v.name)
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
        # (a parameter's name is a str: params are keys of label_of)
        if where == "" and box is None and v in params and name is not None and "." in name:
            where = "p:" + name.rsplit(".", 1)[0]  # a parameter named by names=model
        data, grad = v.data, raw_grad(v.grad)
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
            attrs = dict(STYLE[kind])
            if verdict is not None and verdict.colour is not None:
                attrs["fillcolor"] = verdict.colour
                for flag in verdict.flags:
                    attrs.update(coloring.FLAG_STYLE[flag])
                if "vanishing" in verdict.flags and "dashed" not in attrs["style"]:
                    attrs["style"] += ",dashed"
            if not (data_ok and grad_ok):
                n_nonfinite += 1
                attrs.update(NONFINITE)
            label = _value_label(v, kind, name, show_data, show_grad, color, verdict)
            add_node(where, f"v{i}", label, attrs)

        if v._op is None:
            continue
        compiled = plan_of(v) if expand and box is None else None
        if compiled is not None:
            draw_plan(i, v, *compiled, walk, label_of, plans_drawn, add_node, edges)
            kinds_seen.update(("op", "constant"))
            continue
        op_id = f"o{i}"
        if box is not None:
            hidden_to[op_id] = f"m{mods.index[box]}"
        else:
            add_node(where, op_id, f"<{label_text(_op_label(v), 40)}>", dict(STYLE["op"]))
            kinds_seen.add("op")
        edges.append((op_id, f"v{i}", ""))
        inputs = v._inputs or ()
        numbered = len(inputs) > 1 and not getattr(v._op, "commutative", False)
        seen_summary: set[int] = set()
        for k, x in enumerate(inputs):
            port = port_attrs(k) if numbered else ""
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
                add_node(where, c_id, *constant_node(x))
                kinds_seen.add("constant")
                edges.append((c_id, op_id, port))

    for s, st in enumerate(walk.groups):
        attrs = dict(STYLE["summary"])
        if st["nonfinite"]:
            attrs["color"] = RED
        add_node("", f"s{s}", summary_label(st), attrs)
        nodes_meta[f"s{s}"] = {"kind": "summary", "stats": st}

    for c in mods.boxes:
        if not box_hidden[c]:
            continue
        label, info = mods.box_label(c, box_hidden[c], box_flags.get(c, Counter()))
        attrs = dict(STYLE["module"])
        if box_flags.get(c):
            attrs["color"] = RED if "NaN/inf" in box_flags[c] else "#a63603"
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
            f'<FONT COLOR="{RED}">{n_nonfinite} value{"s" if n_nonfinite != 1 else ""} '
            "with NaN or inf in data or grad (red)</FONT>"
        )
    if notes:
        g.attr(label="<" + "<BR/>".join(notes) + ">", labelloc="t", labeljust="l", fontsize="12")

    g.body.extend(clusters.pop(""))
    cluster_ids = emit_clusters(g, clusters, mods)
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
        # subgraph(name=...) without graph= returns a context manager; graphviz's annotation
        # says Optional for both uses
        with g.subgraph(name="cluster_scale") as sc:  # pyright: ignore[reportOptionalContextManager]
            sc.attr(label="colour scale", style="rounded", color="#9ca3af", fontsize="11")
            sc.node("scale", coloring.scale_label(color, reference), shape="plain")
    if legend:
        _add_legend(g)
    g._meta = {
        "nodes": nodes_meta,
        "clusters": cluster_meta(clusters, cluster_ids, cluster_members, mods),
        "color": color,
        "notes": [html.unescape(_strip_tags(n)) for n in notes],
        "show": (show_data, show_grad),
    }
    return g


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
    data, grad = v.data, raw_grad(v.grad)
    data_ok, grad_ok = _finite(v), _finite(grad)
    scalar = type(data) is float
    cells = []
    if scalar:
        if name is not None:
            cells.append(cell(label_text(name), bold=True))
        if show_data:
            cells.append(cell(f"data {num_text(data)}", bad=not data_ok))
    else:
        shape = array_text(data)
        head = f"<B>{label_text(name)}</B>  {shape}" if name is not None else shape
        cells.append(cell(head))
        if show_data:
            cells.append(cell(f"data {stats_text(data)}", bad=not data_ok))
    if show_grad and (kind != "constant" or grad is not None):
        gtxt = "grad None" if grad is None else f"grad {stats_text(grad)}"
        cells.append(cell(gtxt, bad=not grad_ok))
    if verdict is not None and verdict.rms is not None and math.isfinite(verdict.rms):
        text = f"{color} rms {verdict.rms:.3g}"
        if verdict.notes:
            text += "  " + "  ".join(verdict.notes)
        if verdict.flags:
            text += "  <B>" + " ".join(f.upper() for f in verdict.flags) + "</B>"
        cells.append(cell(text))
    if not cells:
        cells.append(cell(kind))
    return table(cells, vertical=not scalar)


def _flow_note(color: str, reference: float, counts: Counter[str]) -> str:
    if color == "grad":
        head = (
            f"Gradient flow: colour = rms of each gradient relative to the output's "
            f"({reference:.4g})"
        )
        kinds: tuple[str, ...] = ("vanishing", "exploding")
    else:
        head = "Activations: colour = rms of each value's data"
        kinds = ("vanishing", "exploding", "saturated", "dead")
    found = [f"{counts[k]} {k}" for k in kinds if counts[k]]
    return head + ("; " + ", ".join(found) if found else "; nothing flagged")


def _add_legend(g: graphviz.Digraph) -> None:
    # a context manager without graph= (graphviz annotates both uses Optional)
    with g.subgraph(name="cluster_legend") as lg:  # pyright: ignore[reportOptionalContextManager]
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
            lg.node(f"legend{i}", text, **STYLE[kind])
            if prev is not None:
                lg.edge(prev, f"legend{i}", style="invis")
            prev = f"legend{i}"
        lg.node("legend_bad", "NaN / inf", **dict(STYLE["intermediate"], **NONFINITE))
        lg.edge(f"legend{len(samples) - 1}", "legend_bad", style="invis")


def to_dot(root: Value | Sequence[Value], **options: Any) -> str:
    """The DOT text of :func:`draw_graph` ``(root, **options)``; needs no Graphviz binary."""
    return draw_graph(root, **options).source
