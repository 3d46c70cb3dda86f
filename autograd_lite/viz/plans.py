"""Compiled calls drawn expanded (``draw_graph(..., expand=True)``): the ops of a call's
plan in a box named for the function, each with the line that traced it, and for a whole
training step (:mod:`~autograd_lite.compile.step`) the rest of it in the same box, in
order: the calls before the ops, ``backward()`` fed by the loss, each replayed call
(``Adam.step()``) and update op, and an edge from each update to what it writes.
"""

from __future__ import annotations

import os
from typing import Any

from autograd_lite.compile.plan import host_text, read_text
from autograd_lite.compile.steptrace import Host
from autograd_lite.core.value import Value
from autograd_lite.viz.style import STYLE, constant_node, label_text, name_text, port_attrs
from autograd_lite.viz.walk import Walk

__all__ = ["draw_plan"]


def draw_plan(
    i: int,
    v: Value,
    plan: Any,
    k: int,
    walk: Walk,
    label_of: dict,
    drawn: dict,
    add_node: Any,
    edges: list,
) -> None:
    """The ops of compiled node ``v{i}`` (output ``k`` of ``plan``), in a box of their own.

    One box per compiled call: its other outputs, drawn later, link into the same box.
    """
    assert v._ctx is not None and v._inputs is not None  # a compiled call's node has its op
    run = v._ctx[0]
    made = drawn.get(id(run))
    if made is None:
        made = drawn[id(run)] = {}
        whole = ", whole step" if plan.step is not None else ""
        where = f"x:compiled {plan.name} ({len(plan.instrs)} ops{whole})#{len(drawn)}"
        for s, x in enumerate(v._inputs):  # the call's inputs: Values drawn, or raw data
            if isinstance(x, Value):
                j = walk.index.get(x)
                made[s] = f"v{j}" if j is not None else f"s{walk.group_of[x]}"
            else:
                made[s] = f"c{i}_{s}"
                add_node(where, made[s], *constant_node(x))
        for n, ins in enumerate(plan.instrs):
            _draw_instr(ins, f"{i}_{n}", made, where, add_node, edges)
        if plan.step is not None:
            _draw_step(i, v, plan, made, where, walk, label_of, add_node, edges)
    edges.append((made[plan.out_slots[k]], f"v{i}", ""))


def _draw_instr(ins: Any, n: str, made: dict, where: str, add_node: Any, edges: list) -> str:
    """Op node ``o{n}`` of a plan's instruction, fed by the nodes in ``made`` (slot -> id)."""
    op_id = f"o{n}"
    text = ins.op.describe(ins.params) if ins.fclass is None else ins.op.name
    add_node(where, op_id, _site_label(text, ins.site), dict(STYLE["op"]))
    numbered = len(ins.slots) > 1 and not ins.op.commutative
    for pos, (s, c) in enumerate(zip(ins.slots, ins.consts)):
        port = port_attrs(pos) if numbered else ""
        if s is None:  # a constant the trace saw (a number, an array)
            c_id = f"c{n}_{pos}"
            add_node(where, c_id, *constant_node(c))
            edges.append((c_id, op_id, port))
        elif s in made:
            edges.append((made[s], op_id, port))
    made[ins.out] = op_id
    return op_id


def _site_label(text: str, site: Any) -> str:
    """``text`` over the file:line that made it, as an HTML label (both escaped)."""
    label = label_text(text, 40)
    if site is not None:
        line = f"{os.path.basename(site[0])}:{site[1]}"
        label += f'<BR/><FONT POINT-SIZE="8" COLOR="#6b7280">{label_text(line)}</FONT>'
    return f"<{label}>"


_ORDER = ' [style=dashed color="#9ca3af" arrowhead=open]'  # "then", not data


def _write_edge(attr: str) -> str:
    return f' [label=" .{attr}" fontsize=8 color="#1d4ed8" fontcolor="#1d4ed8" constraint=false]'


def _draw_step(
    i: int,
    v: Value,
    plan: Any,
    made: dict,
    where: str,
    walk: Walk,
    label_of: dict,
    add_node: Any,
    edges: list,
) -> None:
    """The rest of a compiled whole step, after its forward ops in the call's box: the
    calls before the ops, ``backward()`` fed by the loss, then each replayed call and
    update op in order (dashed edges: the order), each write an edge to what it writes."""
    step = plan.step
    labels: dict[tuple, str] = {}  # (a target, attr) -> its label node

    def node_of(t: Any) -> str | None:
        """The drawn node of a step's target (the call's input, or the Value), if any."""
        slot = plan.input_slot(t)
        if slot is not None and slot in made:
            return made[slot]
        return f"v{walk.index[t]}" if isinstance(t, Value) and t in walk.index else None

    def read(t: Any, attr: str, r: Any = None) -> str:
        """A small node ``p.grad``, fed by a dotted edge from the Value's node if drawn
        (a replayed call's result, a hyper-parameter: as :func:`read_text` names them)."""
        slot = plan.input_slot(t) if isinstance(t, (Value, int)) else None
        key = ("s", slot, attr) if slot is not None else ("v", id(t), attr)
        if key not in labels:
            labels[key] = n_id = f"o{i}_r{len(labels)}"
            value = v._inputs[slot] if slot is not None and v._inputs is not None else t
            name = label_of.get(value) if isinstance(value, Value) else None
            name = name or (name_text(value.name) if isinstance(value, Value) else None)
            if r is not None and attr in ("result", "item"):
                text = label_text(read_text(r, t, plan), 40)
            else:
                text = label_text(f"{name or type(value).__name__}.{attr}", 40)
            add_node(where, n_id, f"<{text}>", dict(STYLE["constant"], fontsize="10"))
            source = node_of(t)
            if source is not None:
                edges.append((source, n_id, " [style=dotted arrowhead=none]"))
        return labels[key]

    def target(t: Any, attr: str) -> str:  # what a write writes: the Value, or its label
        return node_of(t) or read(t, attr)

    def constant(x: Any, n_id: str) -> str:
        add_node(where, n_id, f"<{label_text(repr(x), 40)}>", dict(STYLE["constant"]))
        return n_id

    prev: str | None = None
    for n, first in enumerate(step.before):
        b_id = f"o{i}_b{n}"
        if isinstance(first, tuple):  # (a gradient reset, its target)
            w, t = first
            text, site = f"{w.attr} = {w.value!r}", w.site
            edges.append((b_id, target(t, w.attr), _write_edge(w.attr)))
        else:
            text, site = host_text(first), first.site
        add_node(where, b_id, _site_label(text, site), dict(STYLE["call"]))
        if prev is not None:
            edges.append((prev, b_id, _ORDER))
        prev = b_id
    if prev is not None and plan.instrs:
        edges.append((prev, made[plan.instrs[0].out], _ORDER))
    if step.trace.backward_at is None:
        return
    prev = f"o{i}_bw"
    add_node(where, prev, _site_label("backward()", step.trace.site), dict(STYLE["call"]))
    edges.append((made[plan.out_slots[0]], prev, ""))
    for n, then in enumerate(step.after):
        if not isinstance(then, Host):  # an Update: ops on .data/.grad read now
            names = _update_nodes(plan, then, node_of, read)
            last = prev
            for m, ins in enumerate(then.plan.instrs):
                op_id = _draw_instr(ins, f"{i}_u{n}_{m}", names, where, add_node, edges)
                if m == 0:
                    edges.append((prev, op_id, _ORDER))
                last = op_id
            for m, (w, t, kind, x) in enumerate(then.writes):
                if kind == "n":
                    source = names[then.plan.out_slots[x]]
                else:
                    source = names[x] if kind == "i" else constant(x, f"c{i}_w{n}_{m}")
                edges.append((source, target(t, w.attr), _write_edge(w.attr)))
            prev = last
            continue
        h_id = f"o{i}_h{n}"
        add_node(where, h_id, _site_label(host_text(then), then.site), dict(STYLE["call"]))
        edges.append((prev, h_id, _ORDER))
        prev = h_id


def _update_nodes(plan: Any, u: Any, node_of: Any, read: Any) -> dict[int, str]:
    """The node feeding each input slot of update ``u``'s plan: the call's arguments, a
    label node for each ``.data``/``.grad`` it reads, the live Values it reads."""
    p = u.plan
    names = {}
    for s in range(len(plan.step.wrappers)):
        if (found := node_of(s)) is not None:
            names[s] = found
    for n, (r, t) in enumerate(u.reads):
        names[len(plan.step.wrappers) + n] = read(t, r.attr, r)
    for j, x in enumerate(p.externals):
        names[p.n_inputs - len(p.externals) + j] = node_of(x) or read(x, "data")
    return names
