"""The module boxes of a drawing: every node an ``nn.Module`` call made, inside its box.

:class:`Modules` names each call (a model's dotted path with ``names=model``, else its
class; "(call 2)" for a module called twice) from what :mod:`autograd_lite.core.scope`
recorded, places each drawn Value in its call's cluster, and, for ``depth=k``, draws the
calls nested deeper than ``k`` as one box each (shapes, parameter count).
:func:`emit_clusters` writes the nested clusters into the DOT text, and
:func:`cluster_meta` describes them for the interactive page.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

import graphviz  # type: ignore[import-untyped]  # graphviz ships no types (no py.typed)
import numpy as np

from autograd_lite.core.scope import Call, ModuleCalls, module_regions
from autograd_lite.core.value import Value
from autograd_lite.viz.style import CLUSTER_STYLE, cell, label_text, table
from autograd_lite.viz.walk import Walk


def _module_paths(names: Any) -> dict[int, str]:
    """{id(module): dotted path} from ``names=model`` (a model with ``named_modules()``)."""
    named: Callable[[], Iterable[tuple[Any, Any]]] | None = getattr(names, "named_modules", None)
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
    params: Callable[[], Iterable[Any]] | None = getattr(module, "parameters", None)
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


class Modules:
    """The module boxes of one drawing: call clusters, names, and collapsed boxes."""

    def __init__(self, walk: Walk, names: Any, depth: int | None) -> None:
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
        head = f"<B>{label_text(name)}</B>" + (f"  {label_text(cls)}" if name != cls else "")
        ins = ", ".join(_shape_text(x) for x in c.inputs) or "-"
        outs = ", ".join(_shape_text(x) for x in self.mc.outputs[c])
        n_params = _param_count(c.module)
        cells = [cell(head), cell(label_text(f"in {ins} \u2192 out {outs}", None))]
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
        cells.append(cell(line))
        if flags:
            text = ", ".join(f"{k} {name}" for name, k in sorted(flags.items()))
            cells.append(cell(label_text(text, None), bad=True))
            info["flags"] = dict(flags)
        return table(cells, vertical=True), info


def emit_clusters(g: graphviz.Digraph, clusters: dict[str, list[str]], mods: Modules) -> dict:
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
        g.body.append(f"\t\tlabel=<{label_text(label[key], 80)}> {CLUSTER_STYLE}\n")
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


def cluster_meta(
    clusters: dict[str, list[str]],
    ids: dict[str, tuple[str, str, str]],
    members: dict[str, list[str]],
    mods: Modules,
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
