"""The interactive page of a drawing: ``save_graph(v_or_drawing, "graph.html")``.

One self-contained HTML file: the SVG rendered by Graphviz, the details of every node
as JSON, and a small script, all inline (no network access, no CDN). It offers:

* pan (drag) and zoom (wheel, the + and - buttons, "fit"), by moving the SVG's viewBox,
  so that the picture stays sharp at any zoom;
* search by name or op (Enter goes to the next match, which is also selected);
* a click on a node shows its full details: kind, name, op, shape, dtype, the
  statistics of its data and gradient (min, max, mean, std, rms, zeros, NaN/inf), the
  gradient-flow verdict of a coloured drawing and, for tensors of at most
  :data:`MAX_VALUES` elements, the values themselves;
* the modules (the dashed boxes of ``draw_graph``) as a tree: each collapses to one box
  (its name, class, shapes and parameter count) and expands again, in place.

The page only shows the drawing: a folded drawing (``max_nodes``) stays folded, so a
20,000-node graph is a page of the 500 values nearest the output, quick to open.
"""

from __future__ import annotations

import html
import json
import re
from typing import Any

import numpy as np

from autograd_lite.core.value import Value

__all__ = ["MAX_VALUES", "details", "page"]

MAX_VALUES = 64
"""Tensors with at most this many elements show their values in the detail panel."""


def _f(x: float) -> str:
    return f"{x:.6g}"


def _array_stats(x: Any) -> dict[str, Any]:
    a = np.asarray(x.data if isinstance(x, Value) else x)
    out: dict[str, Any] = {"shape": str(tuple(a.shape)), "dtype": str(a.dtype), "size": a.size}
    if a.size == 0 or a.dtype.kind not in "fiub":
        return out
    f = a.astype(np.float64, copy=False)
    ok = np.isfinite(f)
    with np.errstate(all="ignore"):
        if ok.any():
            good = f[ok]
            out.update(
                min=_f(good.min()),
                max=_f(good.max()),
                mean=_f(good.mean()),
                std=_f(good.std()),
                rms=_f(np.sqrt(np.mean(np.square(good)))),
                zeros=f"{float((good == 0).mean()):.1%}",
            )
    n_nan, n_inf = int(np.isnan(f).sum()), int(np.isinf(f).sum())
    if n_nan:
        out["nan"] = n_nan
    if n_inf:
        out["inf"] = n_inf
    if a.size <= MAX_VALUES:
        out["values"] = np.array2string(
            f, precision=6, separator=", ", threshold=MAX_VALUES, max_line_width=72
        )
    return out


def details(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The detail record of every drawn node, by DOT node id (all values as text)."""
    out: dict[str, dict[str, Any]] = {}
    for node_id, m in meta["nodes"].items():
        kind = m["kind"]
        if kind == "summary":
            st = m["stats"]
            out[node_id] = {
                "kind": "folded values",
                "name": f"{st['count']:,} more values",
                "ops": ", ".join(f"{k} \u00d7{n:,}" for k, n in st["ops"].most_common()),
                "leaves": st["leaves"],
                "NaN/inf": st["nonfinite"],
            }
            continue
        if kind == "module":
            info = dict(m["info"])
            out[node_id] = {"kind": "module (collapsed)", **{k: str(v) for k, v in info.items()}}
            continue
        v: Value = m["value"]
        rec: dict[str, Any] = {"kind": kind, "name": m["name"] or ""}
        if v.op is not None:
            rec["op"] = str(v.op)
        rec["data"] = _array_stats(v.data)
        grad = v.grad.data if isinstance(v.grad, Value) else v.grad
        rec["grad"] = None if grad is None else _array_stats(grad)
        verdict = m.get("assess")
        if verdict is not None:
            rec["flow"] = {
                "rms": None if verdict.rms is None else _f(verdict.rms),
                "flags": list(verdict.flags),
                "notes": list(verdict.notes),
            }
        out[node_id] = rec
        if v.op is not None:
            i = node_id[1:]
            out[f"o{i}"] = {"kind": "op", "name": "", "op": rec["op"], "output": node_id}
    return out


def page(drawing: Any, title: str = "autograd_lite graph") -> str:
    """The self-contained HTML page of ``drawing`` (a :func:`~autograd_lite.draw_graph`)."""
    svg = drawing.pipe(format="svg", encoding="utf-8")
    svg = svg[svg.find("<svg") :]
    meta = getattr(drawing, "_meta", None) or {"nodes": {}, "clusters": [], "notes": []}
    data = {
        "nodes": details(meta),
        "clusters": meta.get("clusters", []),
        "notes": meta.get("notes", []),
        "color": meta.get("color"),
    }
    blob = json.dumps(data, ensure_ascii=True, allow_nan=False, separators=(",", ":"))
    parts = {
        "TITLE": html.escape(str(title), quote=True)
        .encode("utf-8", "backslashreplace")  # a lone surrogate: shown, not raised
        .decode("utf-8"),
        "CSS": _CSS,
        "JS": _JS,
        "SVG": svg,
        "DATA": blob.translate(_SCRIPT_SAFE),
    }
    # one pass: a placeholder inside a filled-in part (a name "%DATA%") stays text
    return _PLACEHOLDER.sub(lambda m: parts[m.group(1)], _TEMPLATE)


_SCRIPT_SAFE = {ord(c): f"\\u{ord(c):04x}" for c in "<>&\u2028\u2029"}
"""JSON text that cannot end its ``<script>`` element (``</script>``, ``<!--``) nor be read
as HTML: these characters only occur inside JSON strings, where ``\\uXXXX`` means the same."""

_PLACEHOLDER = re.compile(r"%(TITLE|CSS|JS|SVG|DATA)%")

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>%TITLE%</title>
<style>%CSS%</style>
</head>
<body>
<header>
  <b class="brand">autograd_lite</b>
  <input id="search" type="search" placeholder="search name or op (Enter: next)"
    autocomplete="off" aria-label="search nodes by name or op">
  <span id="hits"></span>
  <button id="zoom-in" title="zoom in">+</button>
  <button id="zoom-out" title="zoom out">&minus;</button>
  <button id="fit" title="fit the whole graph">fit</button>
  <button id="collapse-all" title="collapse every module">collapse modules</button>
  <button id="expand-all" title="expand every module">expand modules</button>
  <span id="zoom-level"></span>
</header>
<main>
  <aside id="side">
    <section id="notes"></section>
    <h3>Modules</h3><div id="modules"><i>none</i></div>
    <h3>Matches</h3><ol id="results"></ol>
  </aside>
  <div id="viewport">%SVG%</div>
  <aside id="details"><h3>Details</h3><div id="detail-body">
    <p class="hint">Click a node for its details. Drag to pan, wheel to zoom.</p></div>
  </aside>
</main>
<script type="application/json" id="graph-data">%DATA%</script>
<script>%JS%</script>
</body>
</html>
"""

_CSS = """
* { box-sizing: border-box; }
html, body { margin: 0; height: 100%; font: 13px/1.4 system-ui, -apple-system, "Segoe UI",
  Helvetica, Arial, sans-serif; color: #111827; }
header { display: flex; gap: 6px; align-items: center; padding: 6px 10px;
  border-bottom: 1px solid #e5e7eb; background: #f9fafb; height: 42px; }
header .brand { margin-right: 8px; }
#search { width: 280px; padding: 4px 6px; }
button { padding: 3px 9px; border: 1px solid #d1d5db; background: #fff; border-radius: 4px;
  cursor: pointer; }
button:hover { background: #f3f4f6; }
#hits, #zoom-level { color: #6b7280; min-width: 70px; }
main { display: flex; height: calc(100% - 42px); }
#side { width: 230px; overflow: auto; padding: 6px 10px; border-right: 1px solid #e5e7eb; }
#details { width: 330px; overflow: auto; padding: 6px 10px; border-left: 1px solid #e5e7eb; }
#viewport { flex: 1; overflow: hidden; position: relative; cursor: grab; background: #fff; }
#viewport.dragging { cursor: grabbing; }
#viewport > svg { width: 100%; height: 100%; display: block; user-select: none; }
h3 { font-size: 12px; text-transform: uppercase; color: #6b7280; margin: 10px 0 4px; }
#notes { color: #374151; font-size: 12px; }
#modules ul { list-style: none; margin: 0; padding-left: 12px; }
#modules > ul { padding-left: 0; }
#modules li { white-space: nowrap; }
#modules .toggle { width: 18px; padding: 0; margin-right: 3px; font-size: 11px; }
#modules .mod { cursor: pointer; }
#modules .mod:hover { text-decoration: underline; }
#results { padding-left: 20px; margin: 0; }
#results li { cursor: pointer; }
#results li:hover { text-decoration: underline; }
.hint { color: #6b7280; }
table.kv { border-collapse: collapse; width: 100%; }
table.kv td { border-top: 1px solid #f3f4f6; padding: 2px 4px; vertical-align: top; }
table.kv td:first-child { color: #6b7280; width: 80px; }
pre.values { background: #f9fafb; padding: 4px; overflow: auto; font-size: 11px;
  max-height: 220px; }
.flag { color: #b91c1c; font-weight: bold; }
p.title { font-weight: bold; font-size: 14px; margin: 4px 0; word-break: break-all; }
g.node, g.cluster > text { cursor: pointer; }
g.node.hit > polygon, g.node.hit > path, g.node.hit > ellipse {
  stroke: #f59e0b !important; stroke-width: 5px !important; }
g.node.selected > polygon, g.node.selected > path, g.node.selected > ellipse {
  stroke: #2563eb !important; stroke-width: 5px !important; }
.agl-hidden { display: none; }
g.agl-box rect { fill: #ede9fe; stroke: #6d28d9; stroke-width: 2px; }
g.agl-box text { font-family: Helvetica, Arial, sans-serif; fill: #1f2937; }
g.agl-box { cursor: pointer; }
"""

_JS = r"""
(function () {
  "use strict";
  var t0 = performance.now();
  var data = JSON.parse(document.getElementById("graph-data").textContent);
  var viewport = document.getElementById("viewport");
  var svg = viewport.querySelector("svg");
  var graph0 = svg.querySelector("g.graph") || svg;
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  var SVGNS = "http://www.w3.org/2000/svg";

  // ------------------------------------------------------------ index the SVG
  var nodeEl = {}, clusterEl = {}, edgesOf = {}, edgeList = [];
  Array.prototype.forEach.call(svg.querySelectorAll("g.node"), function (g) {
    var t = g.querySelector("title");
    if (t) { nodeEl[t.textContent] = g; g.setAttribute("data-id", t.textContent); }
  });
  Array.prototype.forEach.call(svg.querySelectorAll("g.cluster"), function (g) {
    var t = g.querySelector("title");
    if (t) clusterEl[t.textContent] = g;
  });
  Array.prototype.forEach.call(svg.querySelectorAll("g.edge"), function (g) {
    var t = g.querySelector("title");
    if (!t) return;
    var ends = t.textContent.split("->");
    if (ends.length !== 2) return;
    var e = { el: g, a: ends[0], b: ends[1] };
    edgeList.push(e);
    (edgesOf[e.a] = edgesOf[e.a] || []).push(e);
    (edgesOf[e.b] = edgesOf[e.b] || []).push(e);
  });

  // ------------------------------------------------------------ pan and zoom
  var full = svg.viewBox.baseVal;
  var home = { x: full.x, y: full.y, w: full.width, h: full.height };
  var view = { x: home.x, y: home.y, w: home.w, h: home.h };
  function apply() {
    svg.setAttribute("viewBox", view.x + " " + view.y + " " + view.w + " " + view.h);
    var scale = Math.min(viewport.clientWidth / view.w, viewport.clientHeight / view.h);
    document.getElementById("zoom-level").textContent = Math.round(scale * 100) + "%";
  }
  function fit() { view = { x: home.x, y: home.y, w: home.w, h: home.h }; apply(); }
  function toSvg(clientX, clientY) {
    var p = svg.createSVGPoint(); p.x = clientX; p.y = clientY;
    return p.matrixTransform(svg.getScreenCTM().inverse());
  }
  function zoomAt(factor, cx, cy) {  // factor > 1 zooms in, around svg point (cx, cy)
    var w = view.w / factor, h = view.h / factor;
    if (w < 20 || w > home.w * 20) return;
    view = { x: cx - (cx - view.x) / factor, y: cy - (cy - view.y) / factor, w: w, h: h };
    apply();
  }
  function zoomCenter(factor) { zoomAt(factor, view.x + view.w / 2, view.y + view.h / 2); }
  viewport.addEventListener("wheel", function (ev) {
    ev.preventDefault();
    var p = toSvg(ev.clientX, ev.clientY);
    zoomAt(ev.deltaY < 0 ? 1.25 : 0.8, p.x, p.y);
  }, { passive: false });
  var drag = null;
  viewport.addEventListener("pointerdown", function (ev) {
    if (ev.button !== 0) return;
    drag = { x: ev.clientX, y: ev.clientY, view: view, moved: false };
  });
  window.addEventListener("pointermove", function (ev) {
    if (!drag) return;
    var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
    if (!drag.moved && Math.abs(dx) + Math.abs(dy) < 4) return;
    drag.moved = true;
    viewport.classList.add("dragging");
    var m = svg.getScreenCTM();
    view = { x: drag.view.x - dx / m.a, y: drag.view.y - dy / m.d, w: view.w, h: view.h };
    apply();
  });
  window.addEventListener("pointerup", function () {
    viewport.classList.remove("dragging");
    if (drag && drag.moved) { drag.justMoved = true; setTimeout(function () { drag = null; }, 0); }
    else drag = null;
  });
  function centerOn(el) {
    var b = el.getBBox();
    var m = svg.getScreenCTM().inverse().multiply(el.getScreenCTM());
    var p = svg.createSVGPoint(); p.x = b.x + b.width / 2; p.y = b.y + b.height / 2;
    p = p.matrixTransform(m);
    var w = Math.min(view.w, Math.max(b.width * 6, 600)), h = w * view.h / view.w;
    view = { x: p.x - w / 2, y: p.y - h / 2, w: w, h: h };
    apply();
  }
  document.getElementById("zoom-in").onclick = function () { zoomCenter(1.25); };
  document.getElementById("zoom-out").onclick = function () { zoomCenter(0.8); };
  document.getElementById("fit").onclick = fit;
  window.addEventListener("resize", apply);

  // ------------------------------------------------------------ details
  function esc(s) {
    return String(s).replace(/[&<>"]/g, function (c) {
      return { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" }[c];
    });
  }
  function rows(obj, skip) {
    var out = "";
    Object.keys(obj).forEach(function (k) {
      if (skip && skip.indexOf(k) >= 0) return;
      var v = obj[k];
      if (v === null || v === undefined || typeof v === "object") return;
      out += "<tr><td>" + esc(k) + "</td><td>" + esc(v) + "</td></tr>";
    });
    return out;
  }
  function stats(title, st) {
    if (st === null) return "<h3>" + title + "</h3><p class='hint'>None</p>";
    var out = "<h3>" + title + "</h3><table class='kv'>" + rows(st, ["values"]) + "</table>";
    if (st.values) out += "<pre class='values'>" + esc(st.values) + "</pre>";
    return out;
  }
  var selected = null;
  function select(id) {
    if (selected && nodeEl[selected]) nodeEl[selected].classList.remove("selected");
    selected = id;
    if (nodeEl[id]) nodeEl[id].classList.add("selected");
    var d = data.nodes[id] || {};
    var body = "<p class='title'>" + esc(d.name || d.op || id) + " <span class='hint'>" +
      esc(id) + "</span></p><table class='kv'>" +
      rows(d, ["data", "grad", "flow"]) + "</table>";
    if (d.flow) {
      body += "<h3>flow</h3><table class='kv'><tr><td>rms</td><td>" + esc(d.flow.rms) +
        "</td></tr>";
      if (d.flow.notes.length) body += "<tr><td>notes</td><td>" + esc(d.flow.notes.join(", ")) +
        "</td></tr>";
      if (d.flow.flags.length) body += "<tr><td>flags</td><td class='flag'>" +
        esc(d.flow.flags.join(", ")) + "</td></tr>";
      body += "</table>";
    }
    if ("data" in d) body += stats("data", d.data);
    if ("grad" in d) body += stats("grad", d.grad);
    if (d.output && data.nodes[d.output]) body += stats("output data", data.nodes[d.output].data);
    document.getElementById("detail-body").innerHTML = body;
  }
  viewport.addEventListener("click", function (ev) {
    if (drag && drag.justMoved) return;
    var box = ev.target.closest("g.agl-box");
    if (box) { toggle(box.getAttribute("data-cluster")); return; }
    var g = ev.target.closest("g.node");
    if (g) { select(g.getAttribute("data-id")); return; }
    var c = ev.target.closest("g.cluster");
    if (c && ev.target.tagName === "text") {
      var t = c.querySelector("title"); if (t) toggle(t.textContent);
    }
  });

  // ------------------------------------------------------------ search
  var index = [];
  Object.keys(nodeEl).forEach(function (id) {
    var d = data.nodes[id] || {};
    var text = [id, d.name || "", d.op || "", d.kind || ""].join(" ");
    var label = nodeEl[id].textContent.replace(/\s+/g, " ");
    index.push({ id: id, text: (text + " " + label).toLowerCase() });
  });
  var hits = [], hitAt = -1, searched = null;
  function search(q) {
    searched = q;
    hits.forEach(function (id) { nodeEl[id].classList.remove("hit"); });
    hits = []; hitAt = -1;
    q = q.trim().toLowerCase();
    var list = document.getElementById("results");
    list.innerHTML = "";
    if (!q) { document.getElementById("hits").textContent = ""; return; }
    index.forEach(function (e) { if (e.text.indexOf(q) >= 0) hits.push(e.id); });
    hits.forEach(function (id) { nodeEl[id].classList.add("hit"); });
    document.getElementById("hits").textContent = hits.length + " match" +
      (hits.length === 1 ? "" : "es");
    hits.slice(0, 200).forEach(function (id) {
      var d = data.nodes[id] || {};
      var li = document.createElement("li");
      li.textContent = (d.name || d.op || id) + " (" + id + ")";
      li.onclick = function () { reveal(id); centerOn(nodeEl[id]); select(id); };
      list.appendChild(li);
    });
  }
  var timer = null;
  var box = document.getElementById("search");
  box.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(function () { search(box.value); }, 120);
  });
  box.addEventListener("keydown", function (ev) {
    if (ev.key !== "Enter") return;
    clearTimeout(timer);
    if (searched !== box.value) search(box.value);
    if (!hits.length) return;
    hitAt = (hitAt + 1) % hits.length;
    var id = hits[hitAt];
    reveal(id); centerOn(nodeEl[id]); select(id);
  });

  // ------------------------------------------------------------ modules
  var clusters = {}, kids = {}, roots = [];
  data.clusters.forEach(function (c) {
    clusters[c.id] = c;
    if (c.parent && c.parent !== c.id) (kids[c.parent] = kids[c.parent] || []).push(c.id);
    else roots.push(c.id);
  });
  var collapsed = {};
  function members(cid, out) {
    (clusters[cid].members || []).forEach(function (m) { out.push(m); });
    (kids[cid] || []).forEach(function (k) { members(k, out); });
    return out;
  }
  function parentsCollapsed(cid) {
    for (var c = clusters[cid] && clusters[cid].parent; c; c = clusters[c] && clusters[c].parent)
      if (collapsed[c]) return true;
    return false;
  }
  function hiddenNodes() {
    var hidden = {};
    Object.keys(collapsed).forEach(function (cid) {
      if (collapsed[cid]) members(cid, []).forEach(function (m) { hidden[m] = true; });
    });
    return hidden;
  }
  function render() {
    var hidden = hiddenNodes();
    Object.keys(nodeEl).forEach(function (id) {
      nodeEl[id].classList.toggle("agl-hidden", !!hidden[id]);
    });
    edgeList.forEach(function (e) {
      e.el.classList.toggle("agl-hidden", !!(hidden[e.a] && hidden[e.b]));
    });
    Object.keys(clusters).forEach(function (cid) {
      var el = clusterEl[cid];
      if (!el) return;
      var under = parentsCollapsed(cid);
      el.classList.toggle("agl-hidden", under);
      var boxEl = svg.querySelector('g.agl-box[data-cluster="' + cid + '"]');
      if (collapsed[cid] && !under) { if (!boxEl) drawBox(cid, el); }
      else if (boxEl) boxEl.parentNode.removeChild(boxEl);
      if (collapsed[cid] && !under) el.classList.add("agl-hidden");
    });
    document.querySelectorAll("#modules .toggle").forEach(function (b) {
      b.textContent = collapsed[b.getAttribute("data-cluster")] ? "+" : "\u2212";
    });
  }
  function drawBox(cid, el) {
    el.classList.remove("agl-hidden");
    var b = el.getBBox();
    var c = clusters[cid];
    var g = document.createElementNS(SVGNS, "g");
    g.setAttribute("class", "agl-box");
    g.setAttribute("data-cluster", cid);
    var r = document.createElementNS(SVGNS, "rect");
    r.setAttribute("x", b.x); r.setAttribute("y", b.y);
    r.setAttribute("width", b.width); r.setAttribute("height", b.height);
    r.setAttribute("rx", 8);
    g.appendChild(r);
    var lines = [c.label];
    if (c.inputs !== undefined) lines.push("in " + c.inputs + " \u2192 out " + c.outputs);
    if (c.parameters !== undefined) lines.push(c.parameters.toLocaleString() + " parameters");
    lines.push(members(cid, []).length + " nodes (click to expand)");
    var fs = Math.max(14, Math.min(28, b.height / (lines.length + 2)));
    var top = b.y + b.height / 2 - (lines.length - 1) * fs * 0.65 + fs * 0.35;
    lines.forEach(function (line, i) {
      var t = document.createElementNS(SVGNS, "text");
      t.setAttribute("x", b.x + b.width / 2);
      t.setAttribute("y", top + i * fs * 1.3);
      t.setAttribute("font-size", fs);
      t.setAttribute("text-anchor", "middle");
      if (i === 0) t.setAttribute("font-weight", "bold");
      t.textContent = line;
      g.appendChild(t);
    });
    graph0.appendChild(g);
  }
  function toggle(cid) {
    if (!clusters[cid]) return;
    collapsed[cid] = !collapsed[cid];
    render();
  }
  function reveal(id) {  // expand the modules holding node id
    var changed = false;
    Object.keys(clusters).forEach(function (cid) {
      if (collapsed[cid] && members(cid, []).indexOf(id) >= 0) {
        collapsed[cid] = false; changed = true;
      }
    });
    if (changed) render();
  }
  function tree(ids) {
    var ul = document.createElement("ul");
    ids.forEach(function (cid) {
      var c = clusters[cid];
      var li = document.createElement("li");
      var b = document.createElement("button");
      b.className = "toggle"; b.setAttribute("data-cluster", cid); b.textContent = "\u2212";
      b.title = "collapse / expand";
      b.onclick = function () { toggle(cid); };
      var span = document.createElement("span");
      span.className = "mod"; span.textContent = c.label;
      span.onclick = function () {
        var el = clusterEl[cid];
        if (el) { centerOn(el); }
      };
      li.appendChild(b); li.appendChild(span);
      if (kids[cid]) li.appendChild(tree(kids[cid]));
      ul.appendChild(li);
    });
    return ul;
  }
  if (roots.length) {
    var mods = document.getElementById("modules");
    mods.innerHTML = "";
    mods.appendChild(tree(roots));
  }
  document.getElementById("collapse-all").onclick = function () {
    Object.keys(clusters).forEach(function (cid) { collapsed[cid] = true; }); render();
  };
  document.getElementById("expand-all").onclick = function () { collapsed = {}; render(); };
  document.getElementById("notes").textContent = data.notes.join(" \u2014 ");

  fit();
  window.AGL = { data: data, select: select, search: search, toggle: toggle, fit: fit,
    zoom: zoomCenter, view: function () { return view; },
    readyMs: performance.now() - t0, readyAt: performance.now() };
  document.body.setAttribute("data-ready", "1");
})();
"""
