"""Graph drawings: DOT text (nodes, edges, labels), real rendering, folding, NaN, no-dot errors."""

from __future__ import annotations

import html
import os
import re
import shutil
import stat
import string
import warnings
import xml.etree.ElementTree as ET
from functools import reduce

import graphviz
import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, viz
from autograd_lite.viz import output, render, style

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not installed")

# ---------------------------------------------------------------------- DOT parsing

_NODE = re.compile(r"^\s*(\w+) \[label=<(.*)> (.*)\]$", re.M)
_EDGE = re.compile(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", re.M)


class Dot:
    """The nodes, edges and labels of a drawing, read back from its DOT text."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.nodes: dict[str, dict] = {}
        for node_id, label, attrs in _NODE.findall(source):
            cells = re.findall(r"<TD>(.*?)</TD>", label) or [label]
            texts = [html.unescape(re.sub(r"<[^>]*>", "", c)) for c in cells]
            texts = [re.sub(r"\\(.)", r"\1", t) for t in texts]  # Graphviz reads \\ as \
            texts = [" ".join(t.split()) for t in texts]
            self.nodes[node_id] = {"label": label, "cells": texts, "attrs": attrs}
        self.edges = [(a, b) for a, b, _ in _EDGE.findall(source)]
        self.edge_attrs = {(a, b): attrs for a, b, attrs in _EDGE.findall(source)}

    def values(self) -> list[str]:
        return [n for n in self.nodes if re.fullmatch(r"v\d+", n)]

    def named(self, name: str) -> str:
        found = [n for n, d in self.nodes.items() if n.startswith("v") and d["cells"][0] == name]
        assert len(found) == 1, (name, found)
        return found[0]

    def cells(self, node_id: str) -> list[str]:
        return self.nodes[node_id]["cells"]

    def into(self, node_id: str) -> list[str]:
        return [a for a, b in self.edges if b == node_id]

    def out_of(self, node_id: str) -> list[str]:
        return [b for a, b in self.edges if a == node_id]

    def ops(self, label: str) -> list[str]:
        return [
            n
            for n, d in self.nodes.items()
            if n.startswith("o") and html.unescape(d["label"]) == label
        ]


def neuron():
    """micrograd's neuron, backpropagated."""
    x1 = Value(2.0, name="x1")
    x2 = Value(0.0, name="x2")
    w1 = Value(-3.0, name="w1")
    w2 = Value(1.0, name="w2")
    b = Value(6.8813735870195432, name="b")
    o = (x1 * w1 + x2 * w2 + b).tanh()
    o.name = "o"
    o.backward()
    return o, (x1, x2, w1, w2, b)


# ------------------------------------------------------------------- scalar graphs


def test_neuron_nodes_edges_and_labels():
    o, _ = neuron()
    d = Dot(ag.to_dot(o))
    assert len(d.values()) == 10  # 5 leaves, 2 products, 2 sums, tanh
    assert d.cells(d.named("x1")) == ["x1", "data 2", "grad -1.5"]
    assert d.cells(d.named("w1")) == ["w1", "data -3", "grad 1"]
    assert d.cells(d.named("x2")) == ["x2", "data 0", "grad 0.5"]
    assert d.cells(d.named("w2")) == ["w2", "data 1", "grad 0"]
    assert d.cells(d.named("b")) == ["b", "data 6.881", "grad 0.5"]  # %.4g
    assert d.cells(d.named("o")) == ["o", "data 0.7071", "grad 1"]

    # each "*" op node sits between its two inputs and its output
    muls = d.ops("*")
    assert len(muls) == 2
    pairs = {frozenset(d.cells(v)[0] for v in d.into(m)) for m in muls}
    assert pairs == {frozenset({"x1", "w1"}), frozenset({"x2", "w2"})}
    for m in muls:
        (out,) = d.out_of(m)
        assert d.cells(out)[0] in ("data -6", "data 0")
    (tanh,) = d.ops("tanh")
    assert d.out_of(tanh) == [d.named("o")]
    (pre,) = d.into(tanh)
    assert d.cells(pre) == ["data 0.8814", "grad 0.5"]
    assert len(d.ops("+")) == 2
    # every op node has exactly one output, and every non-leaf value exactly one op
    for op_id in [n for n in d.nodes if n.startswith("o")]:
        assert len(d.out_of(op_id)) == 1


def test_kinds_are_told_apart():
    o, _ = neuron()
    d = Dot(ag.to_dot(o))
    out_attrs = d.nodes[d.named("o")]["attrs"]
    leaf_attrs = d.nodes[d.named("x1")]["attrs"]
    mid = d.into(d.ops("tanh")[0])[0]
    assert 'peripheries="2"' in out_attrs and "#dcfce7" in out_attrs
    assert "#dbeafe" in leaf_attrs and "peripheries" not in leaf_attrs
    assert "#ffffff" in d.nodes[mid]["attrs"]
    for n in d.nodes:
        if n.startswith("o"):
            assert 'shape="ellipse"' in d.nodes[n]["attrs"]


def test_numbers_use_4g_and_grad_none_before_backward():
    x = Value(1234567.0, name="x")
    y = x * 0.000123456
    d = Dot(ag.to_dot(y))
    assert d.cells(d.named("x")) == ["x", "data 1.235e+06", "grad None"]
    (const,) = [n for n in d.nodes if n.startswith("c")]
    assert d.nodes[const]["label"] == "0.000123456"  # constants: %.6g
    assert d.into(d.ops("*")[0]) == [d.named("x"), const]


def test_constant_values_and_raw_constants():
    x = Value(3.0, name="x")
    k = Value(2.0, name="k", requires_grad=False)
    y = x * k + 2.5
    y.backward()
    d = Dot(ag.to_dot(y))
    assert d.cells(d.named("k")) == ["k", "data 2"]  # a constant has no gradient
    assert "dashed" in d.nodes[d.named("k")]["attrs"]
    consts = [n for n in d.nodes if n.startswith("c")]
    assert [d.nodes[c]["label"] for c in consts] == ["2.5"]
    assert d.out_of(consts[0]) == d.ops("+")


def test_non_commutative_inputs_are_numbered():
    a, b = Value(5.0, name="a"), Value(3.0, name="b")
    d = Dot(ag.to_dot(a - b))
    (sub,) = d.ops("-")
    assert '" 0"' in d.edge_attrs[(d.named("a"), sub)]
    assert '" 1"' in d.edge_attrs[(d.named("b"), sub)]
    d2 = Dot(ag.to_dot(a + b))
    (add,) = d2.ops("+")
    assert d2.edge_attrs[(d2.named("a"), add)] == ""


def test_repeated_input_gives_two_edges():
    x = Value(3.0, name="x")
    d = Dot(ag.to_dot(x * x))
    (mul,) = d.ops("*")
    assert d.into(mul) == [d.named("x"), d.named("x")]


def test_op_labels_come_from_the_op_table():
    x = Value(np.ones((2, 3)), name="x")
    y = ((x**2).sum(axis=0) @ np.ones(3)).tanh()
    y.backward()
    d = Dot(ag.to_dot(y))
    for label in ("**2", "sum(axis=0)", "@", "tanh"):
        assert len(d.ops(label)) == 1, label
    # the labels are exactly what the op table says
    y2 = x**2
    assert ag.OPS["pow_const"].describe(y2._ctx) == "**2"


def test_user_function_is_labelled_by_its_name():
    class Cube(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x**2 * g

    x = Value(2.0, name="x")
    y = Cube.apply(x)
    y.backward()
    d = Dot(ag.to_dot(y))
    (op,) = d.ops("Cube")
    assert d.into(op) == [d.named("x")]
    assert d.cells(d.named("x")) == ["x", "data 2", "grad 12"]


def test_show_data_and_show_grad_switches():
    o, _ = neuron()
    d = Dot(ag.to_dot(o, show_data=False))
    assert d.cells(d.named("x1")) == ["x1", "grad -1.5"]
    d = Dot(ag.to_dot(o, show_grad=False))
    assert d.cells(d.named("x1")) == ["x1", "data 2"]
    assert "rankdir=TB" in ag.to_dot(o, rankdir="TB")


def test_dot_is_deterministic_with_stable_ids():
    a = ag.to_dot(neuron()[0])
    b = ag.to_dot(neuron()[0])
    assert a == b
    ids = [i for i in re.findall(r"^\s*(\w+) \[", a, re.M) if i not in ("node", "edge")]
    assert "v0" in ids and all(re.fullmatch(r"[voc]\d+(_\d+)?", i) for i in ids)
    assert not re.search(r"\d{9,}", a)  # no id() values


def test_second_order_grads_are_drawn():
    x = Value(3.0, name="x")
    y = x**3
    y.backward(create_graph=True)  # .grad holds Values
    d = Dot(ag.to_dot(y))
    assert d.cells(d.named("x")) == ["x", "data 3", "grad 27"]


def test_multiple_outputs():
    x = Value(2.0, name="x")
    a, b = x * 3.0, x + 1.0
    a.name, b.name = "a", "b"
    d = Dot(ag.to_dot([a, b]))
    for name in ("a", "b"):
        assert 'peripheries="2"' in d.nodes[d.named(name)]["attrs"]
    assert len(d.values()) == 3


# ------------------------------------------------------------------- tensor graphs


def test_tensor_labels_show_shape_dtype_and_summary():
    W = Value(np.arange(12, dtype=np.float32).reshape(3, 4), name="W")
    x = Value([1.0, -1.0, 2.0, 0.5], name="x")
    y = (W @ x).sum()
    y.backward()
    d = Dot(ag.to_dot(y))
    w = d.named("W (3, 4) float32")
    assert d.cells(w) == [
        "W (3, 4) float32",
        "data min 0 mean 5.5 max 11",
        "grad min -1 mean 0.625 max 2",
    ]
    # at most 4 numbers: all of them
    assert d.cells(d.named("x (4,) float64")) == [
        "x (4,) float64",
        "data [1, -1, 2, 0.5]",
        "grad [12, 15, 18, 21]",
    ]
    (mm,) = d.ops("@")
    assert set(d.into(mm)) == {w, d.named("x (4,) float64")}
    (s,) = d.ops("sum")
    assert d.cells(d.out_of(s)[0]) == ["() float64", "data 43.5", "grad 1"]


def test_empty_and_zero_d_tensors():
    e = Value(np.zeros((0, 3)), name="e")
    z = Value(np.float32(1.5), name="z")
    d = Dot(ag.to_dot(e.sum() + z))
    assert d.cells(d.named("e (0, 3) float64")) == ["e (0, 3) float64", "data empty", "grad None"]
    assert d.cells(d.named("z () float32"))[1] == "data 1.5"


def test_tensor_constant_is_summarised():
    x = Value(np.ones(3), name="x")
    y = (x * np.array([1.0, 2.0, 3.0])).sum()
    d = Dot(ag.to_dot(y))
    (c,) = [n for n in d.nodes if n.startswith("c")]
    assert "(3,) float64" in d.nodes[c]["label"] and "[1, 2, 3]" in d.nodes[c]["label"]


# ------------------------------------------------------------------ non-finite


def test_nan_and_inf_are_red():
    a = Value(-1.0, name="a")
    c = Value(0.0, name="c")
    big = Value(np.inf, name="big", requires_grad=False)
    r = a.log() * 2.0 + c * big
    r.name = "r"
    r.backward()
    d = Dot(ag.to_dot(r))
    red = style.RED
    log_out = d.out_of(d.ops("log")[0])[0]
    assert red in d.nodes[log_out]["attrs"] and "#fee2e2" in d.nodes[log_out]["attrs"]
    assert f'<FONT COLOR="{red}">data nan</FONT>' in d.nodes[log_out]["label"]
    # c's data is fine but its gradient is inf: only the grad cell is red
    c_label = d.nodes[d.named("c")]["label"]
    assert f'<FONT COLOR="{red}">grad inf</FONT>' in c_label
    assert f'<FONT COLOR="{red}">data' not in c_label
    # a finite node stays normal
    assert red not in d.nodes[d.named("a")]["attrs"]
    assert "6 values with NaN or inf" in d.source  # log, its product, c*big, the sum, c, big


def test_nan_count_in_tensor_summary():
    x = Value(np.array([1.0, np.nan, np.inf, 2.0, -np.inf, 3.0]), name="x")
    d = Dot(ag.to_dot(x))
    assert (
        d.cells(d.named("x (6,) float64"))[1] == "data min 1 mean 2 max 3 | 1 nan, 1 +inf, 1 -inf"
    )
    assert style.RED in d.nodes[d.named("x (6,) float64")]["attrs"]


# ------------------------------------------------------------------- names, modules


class TinyModel:
    def __init__(self):
        rng = np.random.default_rng(0)
        self.params = {
            "layers.0.weight": Value(rng.standard_normal((3, 2))),
            "layers.0.bias": Value(np.zeros(3)),
            "layers.1.weight": Value(rng.standard_normal((1, 3))),
        }

    def named_parameters(self):
        yield from self.params.items()

    def __call__(self, x):
        p = self.params
        h = (p["layers.0.weight"] @ x + p["layers.0.bias"]).tanh()
        return (p["layers.1.weight"] @ h).sum()


def test_names_from_a_model_label_parameters_and_cluster_modules():
    model = TinyModel()
    loss = model(np.ones(2))
    loss.backward()
    d = Dot(ag.to_dot(loss, names=model))
    w0 = d.named("layers.0.weight (3, 2) float64")
    assert 'shape="box3d"' in d.nodes[w0]["attrs"]  # a parameter
    # nested clusters: "layers" holds "layers.0" and "layers.1"
    labels = re.findall(r"subgraph (cluster_\w+) \{\s*label=<([^>]*)>", d.source)
    assert sorted(lab for _, lab in labels) == ["layers", "layers.0", "layers.1"]
    block = d.source.split("label=<layers.0>")[1].split("}")[0]
    assert "layers.0.weight" in block and "layers.0.bias" in block
    assert "layers.1.weight" not in block


def test_parameters_are_drawn_as_parameters_by_type_not_by_name():
    w = ag.Parameter(np.ones(2), name="w")
    v = Value(np.ones(2), name="encoder.weight")  # a dotted name alone says nothing
    d = Dot(ag.to_dot((w * v).sum()))
    assert 'shape="box3d"' in d.nodes[d.named("w (2,) float64")]["attrs"]
    assert 'shape="box3d"' not in d.nodes[d.named("encoder.weight (2,) float64")]["attrs"]
    assert "subgraph cluster" not in d.source


def test_names_dict_overrides_value_names():
    w = Value(3.0, name="old")
    x = Value(2.0)
    y = w * x
    d = Dot(ag.to_dot(y, names={"w": w, "x": x}))
    assert d.cells(d.named("w"))[0] == "w" and d.cells(d.named("x"))[0] == "x"
    assert "#dbeafe" in d.nodes[d.named("w")]["attrs"]  # a dict only names; not a parameter
    d = Dot(ag.to_dot(y, names=[("ww", w)]))
    assert d.named("ww")


def test_labels_are_escaped():
    nasty = '<b>{x}|"q"&\\ \x01 ]'
    x = Value(2.0, name=nasty)
    w = Value(np.ones(2), name='a<b>."c"')  # a dotted name: becomes a cluster label too
    y = x * (w * 1.0).sum()
    src = ag.to_dot(y)
    assert "<b>{x}" not in src and "&lt;b&gt;{x}|&quot;q&quot;&amp;" in src
    assert "\x01" not in src and "\\x01" in src
    d = Dot(src)
    assert d.named('<b>{x}|"q"&\\ \\x01 ]')
    if HAVE_DOT:  # and Graphviz accepts it
        svg = ag.draw_graph(y).pipe(format="svg").decode()
        assert "&lt;b&gt;{x}" in svg


# every printable ASCII character, in one name and one by one (tab, newline... excluded)
PRINTABLE = "".join(c for c in string.printable if c not in "\t\n\r\x0b\x0c")
NASTY_NAMES = [
    PRINTABLE,
    *(PRINTABLE[i : i + 40] for i in range(0, len(PRINTABLE), 40)),
    *PRINTABLE,
    *("]]", "]]>", "<b>", "</B>", '"', "&amp;", "&#93;", "\\N", "\\G", "\\\\", "x\\"),
]
FLOAT_DTYPES = [
    np.dtype(t).newbyteorder(order)
    for t in (np.float16, np.float32, np.float64, np.longdouble)
    for order in "<>"
]


def svg_texts(svg: bytes) -> list[str]:
    """The text of each <text> element of an SVG, whitespace collapsed."""
    root = ET.fromstring(svg)
    return [
        " ".join("".join(t.itertext()).split())
        for t in root.iter("{http://www.w3.org/2000/svg}text")
    ]


def shown(name: str, limit: int = 48) -> str:
    """A name as a drawing shows it: cut with an ellipsis, whitespace collapsed."""
    cut = name if len(name) <= limit else name[: limit - 1] + "\u2026"
    return " ".join(cut.split())


class Named:
    """A stand-in model: named_parameters() makes its dotted names module clusters."""

    def __init__(self, params):
        self.params = params

    def named_parameters(self):
        return list(self.params.items())


@needs_dot
def test_any_printable_name_renders_as_itself(tmp_path):
    xs = [Value(float(i), name=name) for i, name in enumerate(NASTY_NAMES)]
    y = reduce(lambda a, b: a + b, xs)
    y.name = "]"
    y.backward()
    path = tmp_path / "names.svg"
    viz.save_graph(ag.draw_graph(y, max_nodes=None), path)  # Graphviz accepts it...
    texts = svg_texts(path.read_bytes())
    for name in NASTY_NAMES + ["]"]:
        if name.strip():
            assert shown(name) in texts, name  # ... and shows it as it is


@needs_dot
def test_any_printable_module_path_and_op_name_renders(tmp_path):
    paths = [n for n in NASTY_NAMES if "." not in n] + ["", ".", "..", "a..b", "a.", ".a"]
    params = {f"{p}.w": ag.Parameter(np.ones(2)) for p in paths}
    double = ag.defop(PRINTABLE, lambda x: 2.0 * x, lambda g, out, x: 2.0 * g, register=False)
    y = reduce(lambda a, b: a + b, [double(p).sum() for p in params.values()])
    y.backward()
    svg = ag.draw_graph(y, names=Named(params), max_nodes=None).pipe(format="svg")
    texts = svg_texts(svg)
    assert shown(PRINTABLE, 40) in texts  # the op's label
    for p in paths:
        if p.strip(" ."):
            assert shown(p) in texts, p  # the module's cluster label
    folded = ag.draw_graph(y, names=Named(params), max_nodes=3).pipe(format="svg")
    assert any(shown(PRINTABLE) in t for t in svg_texts(folded))  # named in the summary


@needs_dot
@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: d.str)
def test_every_float_dtype_in_both_byte_orders_renders(dtype, tmp_path):
    x = Value(np.arange(1.0, 7.0).reshape(2, 3).astype(dtype), name="x")
    assert x.dtype == dtype
    c = np.full((2, 3), 0.5).astype(dtype)  # a constant array: drawn as a node of its own
    y = (x * c).sum()
    y.backward()
    path = tmp_path / "g.svg"
    viz.save_graph(ag.draw_graph(y, legend=True), path)
    texts = svg_texts(path.read_bytes())
    assert any(t.endswith(f"(2, 3) {dtype}") for t in texts), texts  # x's box
    d = Dot(ag.to_dot(y))
    (const,) = [n for n in d.nodes if n.startswith("c")]
    assert d.cells(const)[0].startswith(f"(2, 3) {dtype}")  # and the constant's


def test_folded_summaries_name_ops_by_the_public_value_op(monkeypatch):
    _, y = _chain(10)
    monkeypatch.setattr(Value, "op", property(lambda v: None if v.is_leaf else "plus"))
    d = Dot(ag.to_dot(y, max_nodes=4))
    (s,) = [n for n in d.nodes if n.startswith("s")]
    assert "plus\u00d76" in d.nodes[s]["label"]


def test_long_names_are_cut():
    x = Value(1.0, name="n" * 500)
    src = ag.to_dot(x * 2.0)
    assert "n" * 47 + "\u2026" in src and "n" * 48 not in src


def test_bad_arguments():
    with pytest.raises(TypeError, match="expected a Value"):
        ag.draw_graph(3.0)
    with pytest.raises(TypeError, match="expected a Value"):
        ag.draw_graph([])
    with pytest.raises(ValueError, match="max_nodes"):
        ag.draw_graph(Value(1.0), max_nodes=0)
    with pytest.raises(TypeError, match="max_nodes"):
        ag.draw_graph(Value(1.0), max_nodes=2.5)
    with pytest.raises(ValueError, match="rankdir"):
        ag.draw_graph(Value(1.0), rankdir="sideways")
    with pytest.raises(TypeError, match="not a Value"):
        ag.draw_graph(Value(1.0), names={"x": 3.0})
    with pytest.raises(TypeError, match="names"):
        ag.draw_graph(Value(1.0), names=42)


# ---------------------------------------------------------------- large graphs


def _chain(n):
    x = Value(1.0, name="x")
    y = x
    for _ in range(n):
        y = y + 0.5
    return x, y


def test_deep_chain_is_walked_iteratively_and_folded():
    _, y = _chain(20_000)
    y.backward()
    src = ag.to_dot(y)  # default max_nodes=500
    d = Dot(src)
    assert len(d.values()) == 500
    assert "showing the 500 values nearest the output out of 20,001" in src
    (s,) = [n for n in d.nodes if n.startswith("s")]
    assert "19,501 more values" in d.nodes[s]["label"]
    assert "add\u00d719,500" in d.nodes[s]["label"] and "1 leaf" in d.nodes[s]["label"]


def test_deep_chain_unfolded():
    _, y = _chain(20_000)
    src = ag.to_dot(y, max_nodes=None)
    d = Dot(src)
    assert len(d.values()) == 20_001 and len(d.ops("+")) == 20_000
    assert "Large graph: 20,001 values drawn unfolded" in src


def test_folding_counts_what_it_hides():
    _, y = _chain(10)  # 11 values: x and 10 sums
    y.backward()
    d = Dot(ag.to_dot(y, max_nodes=4))
    assert d.values() == ["v0", "v1", "v2", "v3"]
    (s,) = [n for n in d.nodes if n.startswith("s")]
    label = d.nodes[s]["label"]
    assert "7 more values" in label and "add\u00d76" in label and "1 leaf" in label
    assert d.out_of(s) == ["o3"]  # the summary feeds the op of the last drawn value
    assert "Folded: showing the 4 values nearest the output out of 11" in d.source
    # no budget exceeded, ever
    for k in range(1, 12):
        assert len(Dot(ag.to_dot(y, max_nodes=k)).values()) == k
    assert "Folded" not in ag.to_dot(y, max_nodes=11)


def test_many_folded_regions_merge_into_one_box():
    xs = [Value(float(i), name=f"x{i}") for i in range(30)]
    y = ag.stack([x * x for x in xs]).sum()
    d = Dot(ag.to_dot(y, max_nodes=5))
    summaries = [n for n in d.nodes if n.startswith("s")]
    assert summaries == ["s0"]
    assert "in 30 regions" in d.nodes["s0"]["label"]  # 27 reshapes + 3 products
    total = len(Dot(ag.to_dot(y, max_nodes=None)).values())
    assert f"{total - 5:,} more values" in d.nodes["s0"]["label"]


def test_folded_nan_is_reported():
    x = Value(-1.0, name="x")
    y = x.log()
    for _ in range(10):
        y = y + 1.0
    d = Dot(ag.to_dot(y, max_nodes=3))
    (s,) = [n for n in d.nodes if n.startswith("s")]
    assert "with NaN/inf!" in d.nodes[s]["label"]


# ---------------------------------------------------------------------- rendering


@needs_dot
def test_svg_is_rendered_for_real():
    o, _ = neuron()
    g = ag.draw_graph(o)
    assert isinstance(g, graphviz.Digraph) and g.format == "svg"
    svg = g.pipe(format="svg").decode()
    assert "<svg" in svg and "tanh" in svg and ">x1<" in svg and "data 0.7071" in svg
    bundle = g._repr_mimebundle_()  # what Jupyter displays
    assert "<svg" in bundle["image/svg+xml"]


@needs_dot
def test_save_graph_writes_exactly_the_path(tmp_path):
    o, _ = neuron()
    g = ag.draw_graph(o, legend=True)
    assert viz.save_graph(g, tmp_path / "out.png") == "png"
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    viz.save_graph(g, tmp_path / "noext")
    assert (tmp_path / "noext").read_bytes().lstrip().startswith(b"<?xml")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["noext", "out.png"]


def test_output_format_rules():
    f = viz.output_format
    assert [f("g.svg"), f("G.PNG"), f("g.pdf"), f("g.dot"), f("g.gv")] == [
        "svg",
        "png",
        "pdf",
        "dot",
        "dot",
    ]
    assert f("g.jpg") == f("g.jpeg") == "jpg" and f("g.gif") == "gif"  # any Graphviz format
    assert f("noext") == "svg" and f("noext", default="pdf") == "pdf"
    assert f("g.txt", "dot") == "dot" and f("g.png", "png") == "png" and f("g.dot", "gv") == "dot"
    for path, fmt in [("g.png", "svg"), ("g.jpg", "png"), ("g.svg", "dot"), ("g.gv", "pdf")]:
        with pytest.raises(ValueError, match=f"names the {f(path)} format, not {f('x', fmt)}"):
            f(path, fmt)
    with pytest.raises(ValueError, match=r"cannot tell the format from the suffix \.weird"):
        f("g.weird")


@needs_dot
def test_save_graph_never_writes_one_format_under_anothers_suffix(tmp_path):
    o, _ = neuron()
    g = ag.draw_graph(o)
    assert viz.save_graph(g, tmp_path / "g.jpg") == "jpg"
    assert (tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # a real JPEG
    with pytest.raises(ValueError, match=r"suffix \.png names the png format, not svg"):
        viz.save_graph(g, tmp_path / "g.png", "svg")
    with pytest.raises(ValueError, match="cannot tell the format"):
        viz.save_graph(g, tmp_path / "g.weird")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["g.jpg"]


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_save_graph_is_atomic_through_symlinks_keeping_the_mode(tmp_path):
    o, _ = neuron()
    g = ag.draw_graph(o)
    real = tmp_path / "real.dot"
    real.write_text("old")
    real.chmod(0o640)
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    assert viz.save_graph(g, link) == "dot"
    assert link.is_symlink() and real.read_text() == g.source  # written through the link
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    fifo = tmp_path / "pipe.dot"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="FIFO"):  # refused without being opened
        viz.save_graph(g, fifo)
    with pytest.raises(IsADirectoryError):
        viz.save_graph(g, tmp_path, "dot")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.dot", "pipe.dot", "real.dot"]


@needs_dot
def test_repr_svg_helper_for_value():
    o, _ = neuron()
    svg = viz.repr_svg(o)
    assert svg is not None and "<svg" in svg and "tanh" in svg


def test_save_graph_dot_needs_no_binary(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    o, _ = neuron()
    viz.save_graph(ag.draw_graph(o), tmp_path / "g.dot")
    assert (tmp_path / "g.dot").read_text().startswith("digraph")


def test_missing_dot_explains_how_to_install(tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(render, "graphviz_pure", lambda: None)  # no graphviz-pure either
    o, _ = neuron()
    g = ag.draw_graph(o)  # building works
    assert "digraph" in g.source and "tanh" in ag.to_dot(o)
    for attempt in (
        lambda: g.pipe(),
        lambda: g.render(directory=tmp_path / "out"),
        lambda: g._repr_mimebundle_(),
        lambda: viz.save_graph(g, tmp_path / "x.svg"),
        lambda: viz.save_graph(graphviz.Digraph(), tmp_path / "y.svg"),
    ):
        with pytest.raises(viz.GraphvizNotFoundError) as info:
            attempt()
        assert isinstance(info.value, graphviz.ExecutableNotFound)  # old handlers still work
        msg = str(info.value)
        for hint in ("apt-get install graphviz", "brew install graphviz", "conda", "winget"):
            assert hint in msg
    assert not (tmp_path / "x.svg").exists()
    output._warned_missing_dot = False
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert viz.repr_svg(o) is None  # Jupyter falls back to the text repr
    assert any("brew install graphviz" in str(w.message) for w in caught)


# --------------------------------------------------------------- gradient flow colours


def fill(d: Dot, node_id: str) -> str:
    return re.search(r'fillcolor="([^"]+)"', d.nodes[node_id]["attrs"]).group(1)


def test_color_grad_scale_and_flags():
    from autograd_lite.viz import coloring

    small = Value(6.0, name="small")  # tanh'(6) = 2.46e-05: a vanishing gradient
    big = Value(1.0, name="big")
    mid = Value(3.0, name="mid")
    y = small.tanh() + big * 1e6 + mid * 0.5
    y.name = "y"
    y.backward()
    d = Dot(ag.to_dot(y, color="grad"))
    s, b, m = d.named("small"), d.named("big"), d.named("mid")
    assert "grad rms 2.46e-05 VANISHING" in " ".join(d.cells(s))
    assert "grad rms 1e+06 EXPLODING" in " ".join(d.cells(b))
    assert not any("VANISHING" in c or "EXPLODING" in c for c in d.cells(m))
    # colours: one per decade of |grad| / |output grad| (1 here), clipped at 1e-4 and 1e4
    assert fill(d, s) == coloring.PALETTE[0] and fill(d, b) == coloring.PALETTE[-1]
    assert fill(d, m) == coloring.colour_of(0.5) == coloring.PALETTE[4]  # 0.5 rounds to 1e0
    assert fill(d, d.named("y")) == coloring.PALETTE[4]
    assert "#08519c" in d.nodes[s]["attrs"] and "dashed" in d.nodes[s]["attrs"]
    assert "#a63603" in d.nodes[b]["attrs"]
    bad = Value(-1.0, name="bad")
    z = bad.log() * 2.0
    z.name = "z"
    z.backward()
    d2 = Dot(ag.to_dot(z, color="grad"))
    assert _RED_FILL in d2.nodes[d2.named("z")]["attrs"]  # NaN: red, as always
    # the legend gives the scale, and the title counts the flags
    assert "subgraph cluster_scale" in d.source
    assert all(c in d.source for c in coloring.PALETTE)
    assert "1e-04" in d.source and "1e+04" in d.source
    assert "1 vanishing, 1 exploding" in d.source


_RED_FILL = 'fillcolor="#fee2e2"'


def test_color_grad_is_relative_to_the_output_gradient():
    x = Value(np.full(4, 2.0), name="x")
    y = (x * 1e-3).sum()
    y.backward(np.float64(1e3))  # output grad 1e3: x.grad = 1, a ratio of 1e-3
    d = Dot(ag.to_dot(y, color="grad"))
    assert "grad rms 1" in " ".join(d.cells(d.named("x (4,) float64")))
    from autograd_lite.viz import coloring

    assert fill(d, d.named("x (4,) float64")) == coloring.colour_of(1e-3)
    assert "relative to the output's (1000)" in d.source


def test_color_grad_norm_is_per_element():
    a = Value(np.full(100, 0.5), name="a")
    y = (a * 1.0).sum()  # a.grad: 100 ones, norm 10, rms 1
    y.backward()
    d = Dot(ag.to_dot(y, color="grad"))
    assert "grad rms 1" in d.cells(d.named("a (100,) float64"))
    g = Value(np.full(100, 1.0), name="g")
    z = (g * -0.5).sum()
    z.backward()
    d = Dot(ag.to_dot(z, color="grad"))
    assert "grad rms 0.5" in d.cells(d.named("g (100,) float64"))


def test_color_data_flags_saturation_and_dead_relus():
    s = Value(np.array([50.0, -50.0, 0.1]), name="s").sigmoid()
    s.name = "sig"
    t = Value(np.array([0.0, 0.5]), name="t").tanh()
    t.name = "th"
    X = Value(np.array([[1.0, -1.0, -2.0], [2.0, -3.0, -1.0]]), name="X")
    r = X.relu()  # units 1 and 2 are 0 for every sample: 2/3 dead
    r.name = "r"
    y = s.sum() + t.sum() + r.sum()
    y.backward()
    d = Dot(ag.to_dot(y, color="data"))
    sig = " ".join(d.cells(d.named("sig (3,) float64")))
    assert "saturated 67%" in sig and "SATURATED" in sig
    th = " ".join(d.cells(d.named("th (2,) float64")))
    assert "saturated 0%" in th and "SATURATED" not in th
    rl = " ".join(d.cells(d.named("r (2, 3) float64")))
    assert "dead 67%" in rl and "DEAD" in rl
    assert "#7c3aed" in d.nodes[d.named("r (2, 3) float64")]["attrs"]
    assert "1 saturated, 1 dead" in d.source and "SATURATED" in d.source  # title, legend


def test_color_data_vanishing_applies_to_results_not_leaves():
    b = Value(np.zeros(3), name="b")  # a zero bias is not a vanishing activation
    h = (b * 1e-9 + 1e-7) * 1.0
    h.name = "h"
    y = h.sum()
    y.backward()
    d = Dot(ag.to_dot(y, color="data"))
    assert "VANISHING" not in " ".join(d.cells(d.named("b (3,) float64")))
    assert "VANISHING" in " ".join(d.cells(d.named("h (3,) float64")))


def test_color_without_grad_and_bad_color():
    x = Value(2.0, name="x")
    y = x * 3.0
    d = Dot(ag.to_dot(y, color="grad"))  # before backward: "no grad" colour, nothing flagged
    from autograd_lite.viz import coloring

    assert fill(d, d.named("x")) == coloring.NO_GRAD_FILL
    with pytest.raises(ValueError, match="color must be 'grad', 'data' or None"):
        ag.draw_graph(y, color="red")


# ------------------------------------------------------------------- module boxes


def clusters_of(source: str) -> dict[str, list[str]]:
    """{node id: the labels of the clusters holding it, outermost first}."""
    where: dict[str, list[str]] = {}
    stack: list[str | None] = []
    for line in source.splitlines():
        s = line.strip()
        if s.startswith("subgraph "):
            stack.append(None)
        elif s.startswith("label=<") and stack and stack[-1] is None:
            stack[-1] = html.unescape(s[len("label=<") :].split(">")[0])
        elif s == "}" and stack:
            stack.pop()
        else:
            m = re.match(r"(\w+) \[label=", s)
            if m:
                where[m.group(1)] = [x for x in stack if x]
    return where


def model_and_loss():
    from autograd_lite import nn

    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.MLP(8, [6, 3], rng=1))
    x = Value(np.random.default_rng(2).normal(size=(5, 4)), name="x")
    loss = (model(x) ** 2).mean()
    loss.name = "loss"
    loss.backward()
    return model, x, loss


def test_intermediate_nodes_belong_to_the_module_that_made_them():
    model, _, loss = model_and_loss()
    d = Dot(ag.to_dot(loss, names=model))
    where = clusters_of(d.source)
    ops = {d.nodes[n]["label"]: n for n in d.nodes if n.startswith("o")}
    relu = ops["relu"]
    assert where[relu] == ["Sequential", "1: ReLU"]
    assert where[relu.replace("o", "v")] == ["Sequential", "1: ReLU"]  # the relu's output too
    (tanh,) = d.ops("tanh")
    assert where[tanh] == ["Sequential", "2: MLP", "2.layers.0: Layer"]
    lin = [o for o in d.ops("linear") if where[o][-1] == "0: Linear"]
    assert len(lin) == 1 and where[lin[0].replace("o", "v")][-1] == "0: Linear"
    w = d.named("0.weight (4, 8) float64")
    assert where[w] == ["Sequential", "0: Linear"]  # parameters inside their module
    # outside every module: the input, the loss and its ops
    assert where[d.named("x (5, 4) float64")] == []
    assert where[d.named("loss () float64")] == [] and where[d.ops("mean")[0]] == []


def test_module_boxes_without_names_use_class_names():
    _, _, loss = model_and_loss()
    labels = re.findall(r"subgraph cluster_\w+ \{\s*label=<([^>]*)>", ag.to_dot(loss))
    assert labels == ["Sequential", "Linear", "ReLU", "MLP", "Layer", "Layer"]  # nested order


def test_only_the_returned_value_is_marked():
    model, x, loss = model_and_loss()
    out = model(x)
    assert len(getattr(out, "_calls", ())) == 3  # the Layer's, the MLP's, the Sequential's
    h = out._inputs[0]  # the first Layer's output (returned: marked once)
    assert len(h._calls) == 1
    inner = h._inputs[0]  # made inside that Layer, not returned by any module
    assert getattr(inner, "_calls", None) is None
    assert getattr(loss, "_calls", None) is None


def test_a_module_called_twice_shares_its_weights_with_the_caller():
    from autograd_lite import nn

    class Twice(nn.Module):
        def __init__(self):
            self.cell = nn.Linear(3, 3, rng=0)

        def forward(self, x):
            return self.cell(self.cell(x).tanh())

    model = Twice()
    y = model(Value(np.ones((2, 3)), name="x")).sum()
    y.backward()
    d = Dot(ag.to_dot(y, names=model))
    where = clusters_of(d.source)
    w = d.named("cell.weight (3, 3) float64")
    assert where[w] == ["Twice"]  # used by both calls: it belongs to their caller
    (tanh,) = d.ops("tanh")
    assert where[tanh] == ["Twice"]  # between the two calls
    calls = sorted(where[o][-1] for o in d.ops("linear"))
    assert calls == ["cell (call 1): Linear", "cell (call 2): Linear"]


def test_state_kept_on_the_module_stops_the_walk():
    from autograd_lite import nn

    class Cell(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.full(2, 0.5))
            self.h = None

        def forward(self, x):
            h = x * self.w if self.h is None else (x + self.h) * self.w
            self.h = h
            return h

    cell = Cell()
    x = Value(np.ones(2), name="x")
    for _ in range(3):
        out = cell(x)
    y = out.sum()
    y.backward()
    d = Dot(ag.to_dot(y))
    where = clusters_of(d.source)
    adds = d.ops("+")
    # each step's add belongs to its own call (the previous state came from another call)
    assert sorted(where[a][-1] for a in adds) == ["Cell (call 2)", "Cell (call 3)"]
    assert sorted(where[m][-1] for m in d.ops("*")) == [
        "Cell (call 1)",
        "Cell (call 2)",
        "Cell (call 3)",
    ]


def test_depth_collapses_modules_into_boxes_with_shapes_and_counts():
    model, _, loss = model_and_loss()
    d = Dot(ag.to_dot(loss, names=model, depth=1))
    boxes = {n: d.cells(n) for n in d.nodes if n.startswith("m")}
    texts = sorted(" | ".join(c) for c in boxes.values())
    assert texts == [
        "0 Linear | in (5, 4) → out (5, 8) | 40 parameters, 3 values inside",
        "1 ReLU | in (5, 8) → out (5, 8) | 0 parameters, 1 value inside",
        "2 MLP | in (5, 8) → out (5, 3) | 75 parameters, 7 values inside",
    ]
    where = clusters_of(d.source)
    assert all(where[n] == ["Sequential"] for n in boxes)
    by_text = {" ".join(c).split(" ")[1]: n for n, c in boxes.items()}
    # the boxes are chained: x -> Linear -> ReLU -> MLP -> **2
    x = d.named("x (5, 4) float64")
    assert d.out_of(x) == [by_text["Linear"]]
    assert d.out_of(by_text["Linear"]) == [by_text["ReLU"]]
    assert d.out_of(by_text["ReLU"]) == [by_text["MLP"]]
    assert d.out_of(by_text["MLP"]) == d.ops("**2")
    assert not d.ops("linear") and not d.ops("relu") and not d.ops("tanh")  # all inside
    # every edge joins drawn nodes
    assert all(a in d.nodes and b in d.nodes for a, b in d.edges)


def test_depth_zero_and_deeper_depths():
    model, _, loss = model_and_loss()
    d0 = Dot(ag.to_dot(loss, names=model, depth=0))
    (box,) = [n for n in d0.nodes if n.startswith("m")]
    assert d0.cells(box)[0] == "Sequential"
    assert "115 parameters, 11 values inside" in d0.cells(box)
    assert "subgraph cluster_m" not in d0.source
    d2 = Dot(ag.to_dot(loss, names=model, depth=2))
    layers = sorted(d2.cells(n)[0] for n in d2.nodes if n.startswith("m"))
    assert layers == ["2.layers.0 Layer", "2.layers.1 Layer"]
    assert d2.ops("relu") and d2.ops("linear")  # the Linear and ReLU stay open
    full = ag.to_dot(loss, names=model, depth=9)
    assert full == ag.to_dot(loss, names=model)
    with pytest.raises(ValueError, match="depth must be a whole number"):
        ag.draw_graph(loss, depth=-1)


def test_depth_box_reports_what_it_hides():
    from autograd_lite import nn

    class Bad(nn.Module):
        def forward(self, x):
            return (x * -1.0).log() * 0.0  # log of negatives: NaN inside the module

    y = Bad()(Value(np.ones(3), name="x")).sum()
    y.backward()
    d = Dot(ag.to_dot(y, depth=0))
    (box,) = [n for n in d.nodes if n.startswith("m")]
    assert d.cells(box)[0] == "Bad" and "2 NaN/inf" in d.cells(box)  # log(-1), then * 0
    assert _RED in d.nodes[box]["attrs"]
    assert "values with NaN or inf" in d.source  # counted in the title too


_RED = "#c0392b"


# -------------------------------------------------------------------- Jupyter


@needs_dot
def test_drawing_displays_in_its_own_format():
    import base64

    o, _ = neuron()
    png = ag.draw_graph(o, format="png")._repr_mimebundle_()
    assert list(png) == ["image/png"]
    assert base64.b64decode(png["image/png"])[:8] == b"\x89PNG\r\n\x1a\n"
    jpg = ag.draw_graph(o, format="jpg")._repr_mimebundle_()
    assert base64.b64decode(jpg["image/jpeg"])[:3] == b"\xff\xd8\xff"
    svg = ag.draw_graph(o)._repr_mimebundle_()
    assert list(svg) == ["image/svg+xml"] and "<svg" in svg["image/svg+xml"]
    both = ag.draw_graph(o)._repr_mimebundle_(include=["image/png", "image/svg+xml"])
    assert sorted(both) == ["image/png", "image/svg+xml"]
    assert ag.draw_graph(o)._repr_mimebundle_(exclude=["image/svg+xml"]) == {}


@needs_dot
def test_value_shows_its_numbers_then_a_small_graph():
    o, _ = neuron()
    bundle = o._repr_mimebundle_()
    assert bundle["text/plain"] == repr(o)
    page = bundle["text/html"]
    assert page.startswith("<pre>Value(0.7071") and page.index("<pre>") < page.index("<svg")
    y = Value(1.0, name="x")
    for _ in range(300):  # a 300-step loop: 600 values, far above the limit
        y = y * 0.99 + 0.01
    big = y._repr_mimebundle_()
    assert "<svg" not in big["text/html"] and big["text/html"].startswith("<pre>Value(")
    assert output._graph_size(y, viz.DISPLAY_MAX_VALUES) == viz.DISPLAY_MAX_VALUES + 1
    assert not hasattr(Value, "_repr_svg_")  # no second, unbounded SVG for Jupyter


def test_leaves_and_inputs_handed_back_are_never_marked():
    from autograd_lite import nn

    class Weight(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(np.ones(2))

        def forward(self, x):
            return self.w

    x = Value(np.ones(2), name="x")
    ident, weight = nn.Identity(), Weight()
    for _ in range(3):  # a record per call would pile up on these long-lived Values
        assert ident(x) is x and weight(x) is weight.w
    assert getattr(x, "_calls", None) is None and getattr(weight.w, "_calls", None) is None
    h = x * 2.0
    assert ident(h) is h and getattr(h, "_calls", None) is None


# ------------------------------------------------------------------- compiled calls


def _compiled_pair():
    w = Value(np.array([[0.5, -1.0], [2.0, 0.25]]), name="w")

    def two(x):  # TWO-LINE
        h = (x @ w).tanh()
        return h.sum(), (h * h).sum()

    return ag.compile(two)


def test_a_compiled_call_is_one_op_box_unless_expanded():
    f = _compiled_pair()
    a, b = f(np.ones((3, 2)))
    d = Dot(viz.to_dot([a, b]))
    name = f"compiled {f.__qualname__}"  # _compiled_pair.<locals>.two
    assert len(d.ops(name + "[0]")) == 1 and len(d.ops(name + "[1]")) == 1
    assert not d.ops("@") and not d.ops("tanh")


def test_expand_draws_the_plan_ops_with_their_lines_once_per_call():
    f = _compiled_pair()
    a, b = f(np.ones((3, 2)))
    (a + b).backward()
    d = Dot(viz.to_dot([a, b], expand=True))
    assert not d.ops(f"compiled {f.__qualname__}[0]")
    line = f"test_viz.py:{_line_of('# TWO-LINE') + 1}"  # the line of x @ w
    matmul = [n for n, v in d.nodes.items() if v["cells"][0].startswith("@") and line in v["label"]]
    assert len(matmul) == 1  # one box for the call, though it has two outputs
    (w_id,) = [n for n in d.values() if d.cells(n)[0].startswith("w ")]
    assert w_id in d.into(matmul[0])  # the live parameter feeds the op that read it
    assert any(d.nodes[n]["attrs"].count("dashed") for n in d.into(matmul[0]))  # x: raw data
    (tanh,) = d.out_of(matmul[0])
    sums = [n for n in d.out_of(tanh)] + [n for m in d.out_of(tanh) for n in d.out_of(m)]
    outputs = {n for s in sums for n in d.out_of(s) if re.fullmatch(r"v\d+", n)}
    assert len(outputs) == 2  # each output Value fed by the op that made it
    assert re.search(r"label=<compiled \S*two \(5 ops\)>", html.unescape(d.source))


def test_expand_draws_the_constants_of_the_plan_with_numbered_ports():
    left = ag.compile(lambda x: ag.sum(x - 2.0))(Value(np.ones(3)))
    right = ag.compile(lambda x: ag.sum(2.0 - x))(Value(np.ones(3)))
    a, b = Dot(viz.to_dot(left, expand=True)), Dot(viz.to_dot(right, expand=True))
    for d, const_port in ((a, " 1"), (b, " 0")):
        (sub,) = [n for n, v in d.nodes.items() if v["label"].startswith("-<BR/>")]
        (c,) = [n for n in d.into(sub) if n.startswith("c")]
        assert d.cells(c) == ["2"] and f'label="{const_port}"' in d.edge_attrs[(c, sub)]


@needs_dot
def test_an_expanded_drawing_renders(tmp_path):
    f = _compiled_pair()
    a, _ = f(np.ones((3, 2)))
    a.backward()
    path = tmp_path / "plan.svg"
    viz.save_graph(viz.draw_graph(a, expand=True), str(path))
    text = path.read_text()
    assert "two (5 ops)" in text and "tanh" in text and "test_viz.py:" in text


def _train_step():
    from autograd_lite import nn

    model = nn.Linear(3, 2, rng=0)
    opt = nn.optim.Adam(model.parameters(), lr=0.01)

    def step(x):
        opt.zero_grad()  # DRAWN-ZERO-GRAD
        loss = (model(x) ** 2).mean()
        loss.backward()  # DRAWN-BACKWARD
        nn.utils.clip_grad_norm_(model.parameters(), 1.0)  # DRAWN-CLIP
        opt.step()  # DRAWN-STEP
        return loss

    f = ag.compile(step)
    for _ in range(2):
        loss = f(np.ones((4, 3)))
    return model, loss


def _box_of(drawing, node_id):
    (box,) = [c for c in drawing._meta["clusters"] if node_id in c["members"]]
    return box


def test_expand_draws_a_whole_step_in_order_in_the_call_box():
    model, loss = _train_step()
    g = viz.draw_graph(loss, expand=True, names=model)
    d = Dot(g.source)

    def call(text, marker):
        line = f"test_viz.py:{_line_of('# DRAWN-' + marker)}"
        (n,) = [n for n, v in d.nodes.items() if v["cells"][0] == f"{text}{line}"]
        assert "cds" in d.nodes[n]["attrs"]  # drawn as a call, not an op
        return n

    zero = call("Adam.zero_grad()", "ZERO-GRAD")
    back = call("backward()", "BACKWARD")
    clip = call("clip_grad_norm_([2 Parameters], 1.0)", "CLIP")
    step = call("Adam.step()", "STEP")
    loss_line = f"test_viz.py:{_line_of('# DRAWN-BACKWARD') - 1}"
    (mean,) = [n for n, v in d.nodes.items() if v["cells"][0] == f"mean{loss_line}"]
    assert d.into(back) == [mean]  # backward() of the loss, fed by the op that made it
    (out,) = [n for n in d.out_of(mean) if n != back]
    assert "peripheries" in d.nodes[out]["attrs"]  # and the output Value
    for a, b in ((back, clip), (clip, step)):
        assert d.out_of(a) == [b] and "dashed" in d.edge_attrs[(a, b)]  # in order
    (linear,) = d.out_of(zero)  # zero_grad() runs before the forward's first op
    assert d.cells(linear)[0].startswith("linear") and "dashed" in d.edge_attrs[(zero, linear)]
    box = _box_of(g, back)
    assert box["label"] == "compiled _train_step.<locals>.step (3 ops, whole step)"
    assert {zero, clip, step, mean, linear} <= set(box["members"])


def test_a_plan_without_a_step_draws_no_step():
    f = _compiled_pair()
    a, _ = f(np.ones((3, 2)))
    a.backward()
    source = viz.to_dot(a, expand=True)
    assert "backward()" not in source and "whole step" not in source and "cds" not in source


def _hand_step(p_name="p", q_name="q"):
    p = Value(np.array([1.0, -2.0]), name=p_name)
    q = Value(3.0, name=q_name)  # updated, never read by the forward: not drawn

    def step(x, r):
        p.grad = None
        loss = (p * x).sum() * r
        loss.backward()
        p.data = p.data - 0.1 * p.grad  # DRAWN-UPDATE
        q.data -= 0.5
        r.data -= 0.5 * r.grad
        return loss

    f = ag.compile(step)
    r = Value(2.0, name="r")
    for _ in range(2):
        loss = f(np.ones(2), r)
    return loss


def test_expand_draws_the_updates_and_an_edge_to_each_value_written():
    g = viz.draw_graph(_hand_step(), expand=True)
    d = Dot(g.source)
    (p,) = [n for n in d.values() if d.cells(n)[0].startswith("p (2,)")]
    r = d.named("r")
    line = f"test_viz.py:{_line_of('# DRAWN-UPDATE')}"
    (sub,) = [n for n, v in d.nodes.items() if v["cells"][0] == f"-{line}"]
    (times,) = [n for n, v in d.nodes.items() if v["cells"][0] == f"*{line}"]
    p_data, p_grad = (n for n in d.out_of(p) if d.cells(n)[0] in ("p.data", "p.grad"))
    assert d.cells(p_data) == ["p.data"] and d.cells(p_grad) == ["p.grad"]
    assert "dotted" in d.edge_attrs[(p, p_data)]  # what the update reads, of which Value
    assert set(d.into(sub)) == {p_data, times} and p_grad in d.into(times)
    assert '" .data"' in d.edge_attrs[(sub, p)]  # the write, into the live Value's node
    assert "constraint=false" in d.edge_attrs[(sub, p)]  # (not a rank: the graph has a loop)
    (q_data,) = [n for n, v in d.nodes.items() if v["cells"] == ["q.data"]]
    assert len(d.into(q_data)) == 1 and '" .data"' in d.edge_attrs[(d.into(q_data)[0], q_data)]
    assert any('" .data"' in d.edge_attrs[(a, r)] for a in d.into(r))  # an argument Value
    (reset,) = [n for n, v in d.nodes.items() if v["cells"][0].startswith("grad = None")]
    assert '" .grad"' in d.edge_attrs[(reset, p)]
    assert all(n in _box_of(g, sub)["members"] for n in (sub, times, p_data, q_data, reset))


@needs_dot
def test_an_expanded_step_renders(tmp_path):
    model, loss = _train_step()
    path = tmp_path / "step.svg"
    viz.save_graph(viz.draw_graph(loss, expand=True, names=model), str(path))
    text = path.read_text()
    assert "whole step" in text and "backward()" in text and "Adam.step()" in text
    ET.fromstring(text)


def _line_of(marker):
    with open(__file__) as file:
        source = file.read().splitlines()
    (n,) = [i + 1 for i, t in enumerate(source) if marker in t and "_line_of(" not in t]
    return n


# ------------------------------------------------------------------- hostile names
# A name must not add a node, edge, attribute or element to the DOT or the SVG: each one
# below carries the marker PWN, which may appear in the SVG as text only.

DOT_HOSTILE = [
    '"',
    '\\"',
    "\\",
    'PWN"]; evil [label="x',
    'PWN" fontcolor="red',
    "PWN];",
    "PWN}; digraph x {",
    "<B>PWN</B>",
    "<<TABLE><TR><TD>PWN</TD></TR></TABLE>>",
    ">PWN<",
    "PWN\nsecond line",
    "PWN\\N \\G \\L \\l \\r \\n",
    "&amp;PWN&#93;&lt;",
    "<![CDATA[PWN]]>",
    "--><PWN/><!--",
    "<?xml PWN?>",
    '<svg onload="PWN">',
    "<a xlink:href='javascript:PWN'>",
    "%SVG%PWN%DATA%",
    "PWN\x1b[2J\x00\u202e\u2028",
    "PWN" + "<" * 5_000,
]


def svg_of(name: str, module: bool) -> bytes:
    if module:  # the name as a module path: the label of a cluster
        w = ag.Parameter(np.ones(2))
        y = (w * 2.0).sum()
        y.backward()
        return ag.draw_graph(y, names=Named({f"{name}.w": w})).pipe(format="svg")
    x = Value(1.0, name=name)
    y = x * 2.0
    y.backward()
    return ag.draw_graph(y).pipe(format="svg")


def structure(svg: bytes) -> list:
    """Every element's tag and attribute names, in document order (no text, no values)."""
    return [(e.tag, sorted(e.attrib)) for e in ET.fromstring(svg).iter()]


@needs_dot
@pytest.mark.parametrize("module", [False, True], ids=["value", "module"])
@pytest.mark.parametrize("name", DOT_HOSTILE, ids=lambda n: repr(n)[:30])
def test_a_name_reaches_dot_and_svg_as_text_only(name, module):
    benign = svg_of("PWN", module)
    svg = svg_of(name, module)
    assert structure(svg) == structure(benign)  # no element or attribute injected
    root = ET.fromstring(svg)
    for e in root.iter():
        assert not any("PWN" in v for v in e.attrib.values()), (e.tag, e.attrib)
    assert not any(b"PWN" in c for c in re.findall(rb"<!--(.*?)-->", svg, re.S))
    limit = 80 if module else 48
    texts = svg_texts(svg)
    assert any(
        shown(html.unescape(style.label_text(name, limit)).replace("\\\\", "\\")) in t
        for t in texts
    )
    assert b"\x1b" not in svg and b"\x00" not in svg


@pytest.mark.parametrize("name", DOT_HOSTILE[:14], ids=lambda n: repr(n)[:30])
def test_a_hostile_name_or_file_in_a_drawn_step_is_label_text(name):
    """A step's names (of a Value written and not drawn) and its file are user text."""
    source = (
        "def make(p, q):\n"
        "    def step(x):\n"
        "        loss = (p * x).sum()\n"
        "        loss.backward()\n"
        "        p.data = p.data - 0.1 * p.grad\n"
        "        q.data -= 0.5\n"
        "        return loss\n"
        "    return step\n"
    )

    def drawn(text):
        scope: dict = {}
        exec(compile(source, f"{text}.py", "exec"), scope)
        p, q = Value(np.ones(2), name=text), Value(1.0, name=text)
        f = ag.compile(scope["make"](p, q))
        for _ in range(2):
            loss = f(np.ones(2))
        return Dot(viz.to_dot(loss, expand=True))

    benign, d = drawn("PWN"), drawn(name)
    assert sorted(d.nodes) == sorted(benign.nodes) and sorted(d.edges) == sorted(benign.edges)
    assert not any("PWN" in v["attrs"] for v in d.nodes.values())
    assert not any("PWN" in a for a in d.edge_attrs.values())
    for n, v in d.nodes.items():  # each HTML label: the same elements, the name as text
        assert structure(f"<x>{v['label']}</x>") == structure(f"<x>{benign.nodes[n]['label']}</x>")
    shown_name = html.unescape(style.label_text(f"{name}.data", 40)).replace("\\\\", "\\")
    cells = [" ".join(shown_name.split())]
    assert sum(v["cells"] == cells for v in d.nodes.values()) >= 2  # p.data read, q.data written
    file = html.unescape(style.label_text(os.path.basename(f"{name}.py"))).replace("\\\\", "\\")
    (back,) = [v["cells"][0] for v in d.nodes.values() if v["cells"][0].startswith("backward()")]
    assert back == "backward()" + " ".join(f"{file}:4".split())  # the file, as text


@pytest.mark.parametrize(
    "argv",
    [
        ["grad", "x", "x\x1b[2J=1"],
        ["grad", "x", "x=1", "y\x1b[2J=1"],  # an unused variable is printed too
        ["grad", "x", "x=1", "y\nd/dz = 42=1"],
        ["grad", "x\x1b[2J+1", "x=1"],
        ["grad", "x\u202e+1", "x=1"],
        ["grad", "x", "x\nd/dz = 42=1"],
        ["grad", "x", "x=1\x1b[2J"],
        ["graph", "x\x1b]0;title\x07", "-o", "-", "--format", "dot"],
        ["graph", "x", "x\n\tevil [label=PWN]=1", "-o", "-", "--format", "dot"],
    ],
    ids=repr,
)
def test_a_name_cannot_forge_cli_output(argv, capsys):
    """A variable name with a terminal escape, a direction mark or a newline is refused,
    in one line that shows it escaped: nothing reaches a table, a drawing or the terminal."""
    from autograd_lite.cli import app as cli

    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("autograd-lite: error: ")
    assert not set(err) & {"\x1b", "\x07", "\u202e", "\x00", "\t"}


# ------------------------------------------------------------------ package layout


def test_the_drawing_package_keeps_its_names_and_does_one_job_per_module():
    """autograd_lite.viz is a package of small modules, each with a docstring, and the
    names it had as one module are still there (``ag.viz.save_graph``...)."""
    import importlib
    import pathlib

    names = {
        "DISPLAY_MAX_VALUES", "GraphDrawing", "GraphvizNotFoundError", "INSTALL_HINT",
        "SUFFIX_FORMATS", "draw_graph", "output_format", "repr_mimebundle", "repr_svg",
        "save_graph", "to_dot",
    }  # fmt: skip
    assert set(viz.__all__) == names
    assert all(hasattr(ag.viz, n) for n in names)
    assert ag.draw_graph is viz.draw_graph and Value._repr_mimebundle_ is viz.repr_mimebundle
    assert ag.viz.coloring.VANISHING == 1e-4  # the documented path of the thresholds
    folder = pathlib.Path(viz.__file__).parent
    modules = sorted(p.stem for p in folder.glob("*.py"))
    assert len(modules) >= 8
    for stem in modules:
        module = importlib.import_module(
            f"autograd_lite.viz.{stem}" if stem != "__init__" else "autograd_lite.viz"
        )
        assert module.__doc__ and module.__doc__.strip(), stem
        lines = (folder / f"{stem}.py").read_text().count("\n")
        assert lines <= 600, f"autograd_lite/viz/{stem}.py has {lines} lines"
