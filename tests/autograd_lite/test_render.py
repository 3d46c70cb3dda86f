"""Rendering with the system's Graphviz ``dot`` and without it, through graphviz-pure.

graphviz-pure is found through its installed package (not PATH), so a PATH without
``dot`` still renders SVG, PNG, JPEG and pages; PDF then says what is missing. The
no-``dot`` path runs in a subprocess whose PATH holds only an empty folder.
"""

from __future__ import annotations

import os
import re
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, viz
from autograd_lite.viz import render

ROOT = Path(__file__).resolve().parents[2]
HAVE_DOT = render.system_dot() is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz dot is not installed")
HAVE_PURE = render.graphviz_pure() is not None
needs_pure = pytest.mark.skipif(not HAVE_PURE, reason="graphviz-pure is not installed")
needs_both = pytest.mark.skipif(
    not (HAVE_PURE and HAVE_DOT), reason="needs both Graphviz dot and graphviz-pure"
)


def model_loss():
    from autograd_lite import nn

    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.MLP(8, [6, 3], rng=1))
    x = Value(np.random.default_rng(2).normal(size=(5, 4)), name="x <&> ]\\")
    loss = (model(x) ** 2).mean()
    loss.backward()
    return model, loss


def titles(svg: str) -> set[str]:
    return set(re.findall(r'<g id="node\d+" class="node">\s*<title>([^<]*)</title>', svg))


def test_the_choice_of_program(monkeypatch):
    monkeypatch.setattr(render, "system_dot", lambda: "/usr/bin/dot")
    monkeypatch.setattr(render, "graphviz_pure", lambda: "/venv/bin/graphviz-pure")
    monkeypatch.delenv(render.ENV, raising=False)
    assert render.program("svg") == ("dot", "/usr/bin/dot")  # dot first: every format
    monkeypatch.setenv(render.ENV, "graphviz-pure")
    assert render.program("png") == ("graphviz-pure", "/venv/bin/graphviz-pure")
    assert render.program("pdf") is None  # graphviz-pure writes no pdf
    monkeypatch.setenv(render.ENV, "dot")
    monkeypatch.setattr(render, "system_dot", lambda: None)
    assert render.program("svg") is None
    monkeypatch.setenv(render.ENV, "auto")
    assert render.program("svg") == ("graphviz-pure", "/venv/bin/graphviz-pure")
    monkeypatch.setenv(render.ENV, "cairo")
    with pytest.raises(ValueError, match="expected auto, dot or graphviz-pure"):
        render.program("svg")


@needs_pure
def test_graphviz_pure_is_found_through_its_package_not_path(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    path = render.graphviz_pure()
    assert path is not None and os.path.isfile(path) and os.access(path, os.X_OK)


@needs_pure
def test_without_dot_on_path_pictures_still_come(tmp_path):
    """A subprocess with only an empty folder on PATH: no dot; graphviz-pure renders."""
    empty = tmp_path / "empty"
    empty.mkdir()
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        import autograd_lite as ag
        from autograd_lite import Value, viz
        from autograd_lite.viz import render
        from autograd_lite import nn

        assert render.system_dot() is None
        model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU())
        loss = model(Value(np.ones((2, 3)), name="x")).sum()
        loss.backward()
        g = ag.draw_graph(loss, names=model, color="grad", legend=True)
        assert b"<svg" in g.pipe()
        assert g.pipe(format="png")[:8] == b"\\x89PNG\\r\\n\\x1a\\n"
        for name in ("g.svg", "g.png", "g.jpg", "g.html"):
            viz.save_graph(g, name)
        assert ag.draw_graph(loss, format="png")._repr_mimebundle_()["image/png"]
        assert "<svg" in loss._repr_mimebundle_()["text/html"]
        out = g.render("rendered", format="svg")
        assert out == "rendered.svg", out
        try:
            viz.save_graph(g, "g.pdf")
        except viz.GraphvizNotFoundError as e:
            print("PDF:", e)
        else:
            raise AssertionError("graphviz-pure wrote a pdf?")
        """
    )
    env = dict(os.environ, PATH=str(empty), PYTHONPATH=str(ROOT))
    env.pop(render.ENV, None)
    proc = subprocess.run(
        [sys.executable, "-c", script],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "graphviz-pure (installed) cannot write pdf" in proc.stdout
    assert "apt-get install graphviz" in proc.stdout
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "g.jpg").read_bytes()[:3] == b"\xff\xd8\xff"
    assert "<svg" in (tmp_path / "g.html").read_text(encoding="utf-8")
    assert not (tmp_path / "g.pdf").exists()
    cli = subprocess.run(
        [sys.executable, "-m", "autograd_lite", "graph", "x*y", "x=1", "y=2", "-o", "c.png"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert cli.returncode == 0, cli.stderr
    assert (tmp_path / "c.png").read_bytes()[:4] == b"\x89PNG"


@needs_both
def test_both_programs_draw_the_same_graph(monkeypatch):
    """Clusters, collapsed modules, HTML labels with escapes, colours and legends: the
    same nodes, the same texts, from either program."""
    model, loss = model_loss()
    for options in ({"color": "grad", "legend": True}, {"depth": 1}, {"color": "data"}):
        g = ag.draw_graph(loss, names=model, **options)
        monkeypatch.setenv(render.ENV, "dot")
        by_dot = g.pipe(format="svg").decode()
        monkeypatch.setenv(render.ENV, "graphviz-pure")
        by_pure = g.pipe(format="svg").decode()
        assert "graphviz-pure" in by_pure and "graphviz-pure" not in by_dot
        assert titles(by_dot) == titles(by_pure) and len(titles(by_dot)) > 5

        def texts(svg):
            return sorted(t.strip() for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg))

        assert texts(by_dot) == texts(by_pure)
        assert "x &lt;&amp;&gt; ]\\" in by_pure


@needs_pure
def test_a_large_bitmap_is_capped_not_a_memory_blowup(monkeypatch):
    y = Value(1.0, name="x")
    for _ in range(150):  # a long chain: a picture ~60,000 pixels wide
        y = y * 1.0001 + 0.5
    monkeypatch.setenv(render.ENV, "graphviz-pure")
    png = ag.draw_graph(y, max_nodes=None).pipe(format="png")
    width, height = struct.unpack(">II", png[16:24])
    assert width <= 32767 and height <= 32767


@needs_pure
def test_graphviz_pure_failure_is_a_called_process_error(monkeypatch):
    import graphviz

    monkeypatch.setenv(render.ENV, "graphviz-pure")
    bad = viz.GraphDrawing(body=["\tnode [shape=\n"])  # broken DOT
    with pytest.raises(graphviz.CalledProcessError):
        bad.pipe(format="svg")


# --- every render is bounded in time and writes nothing but its output (issue 24) -------


def _fake_program(tmp_path, body: str) -> str:
    script = tmp_path / "fake-renderer"
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


@pytest.mark.skipif(os.name != "posix", reason="a shell script as the renderer")
def test_a_renderer_past_the_time_limit_is_killed(tmp_path):
    slow = _fake_program(tmp_path, "exec sleep 30")
    start = time.perf_counter()
    with render.time_limit(0.5), pytest.raises(render.RenderTimeoutError) as info:
        render.run_graphviz_pure(slow, b"digraph {}", "svg")
    assert time.perf_counter() - start < 5
    assert isinstance(info.value, OSError) and "within 0.5 s" in str(info.value)
    assert "\n" not in str(info.value)
    assert render.timeout() == render.DEFAULT_TIMEOUT  # the block's limit is gone


@pytest.mark.skipif(os.name != "posix", reason="a shell script as the renderer")
def test_a_renderer_writing_other_files_is_refused_and_leaves_nothing(tmp_path, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    messy = _fake_program(tmp_path, "touch node1.png node2.png; echo out")
    with pytest.raises(ValueError, match=r"the svg format writes 2 more file\(s\).*node1\.png"):
        render.run_graphviz_pure(messy, b"digraph {}", "svg")
    assert os.listdir(work) == []


def test_time_limit_refuses_nonsense():
    with pytest.raises(ValueError, match="positive number of seconds"), render.time_limit(0):
        pass


@needs_dot
def test_dot_renders_through_the_time_limit(monkeypatch):
    calls = []
    real = render._run
    monkeypatch.setattr(render, "_run", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    svg = ag.draw_graph(Value(2.0, name="x") * 3).pipe(format="svg")
    assert svg.startswith(b"<?xml") and calls == ["Graphviz's dot"]


@needs_dot
def test_render_to_a_file_goes_through_the_time_limit_too(monkeypatch, tmp_path):
    # GraphDrawing.render() used graphviz's own render: no time limit, and dot's extra files
    calls = []
    real = render._run
    monkeypatch.setattr(render, "_run", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    monkeypatch.chdir(tmp_path)
    out = ag.draw_graph(Value(2.0, name="x") * 3).render("g", format="svg")
    assert calls == ["Graphviz's dot"]
    assert Path(out).name == "g.svg" and Path(out).read_bytes().startswith(b"<?xml")
    assert sorted(os.listdir(tmp_path)) == ["g", "g.svg"]  # the DOT source and the picture


def test_long_edges_counts_the_ranks_that_edges_skip():
    from autograd_lite.cli.expr import parse

    def skipped(text, **kw):
        ev = parse(text).evaluate({"x": 1.0, "y": 2.0}, label_nodes=True)
        ev.backward()
        return render.long_edges(ag.draw_graph(ev.root, **kw).source)

    chain = Value(1.0, name="x")
    for _ in range(300):
        chain = chain * 1.0001 + 0.5
    assert render.long_edges(ag.draw_graph(chain).source) == 0  # leaves sit by their use
    assert skipped("tanh(x*y + x)") < 5
    assert skipped("+".join(["x"] * 40)) == 1482  # dot: about a second
    assert skipped("+".join(["x"] * 100)) == 9702  # dot: minutes
    assert skipped("+".join(["x"] * 100), max_nodes=20) < 500  # folding helps
