"""The ``autograd-lite`` command, run as a real process: graph, grad, demo, refusals, --help."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
from pathlib import Path

import pytest

import autograd_lite as ag
from autograd_lite import viz
from autograd_lite.cli import app as cli
from autograd_lite.cli import expr

ROOT = Path(__file__).resolve().parents[2]
HAVE_DOT = shutil.which("dot") is not None  # a program: which() is the right question
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not installed")
# The console script of *this* interpreter (PATH may hold another one, e.g. a pyenv shim)
SCRIPT = Path(sysconfig.get_path("scripts")) / (
    "autograd-lite.exe" if os.name == "nt" else "autograd-lite"
)


def run(*args, cwd=None, path=None, check_clean=True, env=None, module="autograd_lite"):
    """Run ``python -m autograd_lite ARGS`` on this checkout; optionally with PATH replaced
    (no `dot`) and more environment variables."""
    env = {**os.environ, **(env or {})}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    if path is not None:
        env["PATH"] = str(path)
    proc = subprocess.run(
        [sys.executable, "-m", module, *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )
    if check_clean:
        assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def one_error_line(proc, code):
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    errors = [ln for ln in lines if ln.startswith("autograd-lite: error: ")]
    assert len(errors) == 1 and lines[-1] == errors[0], proc.stderr
    return errors[0]


# ---------------------------------------------------------------------------- grad


def test_grad_prints_value_and_every_partial():
    proc = run("grad", "x**2 * y", "x=3", "y=2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["x**2 * y = 18", "d/dx = 12", "d/dy = 9"]


def test_grad_check_prints_the_gradcheck_report():
    proc = run("grad", "tanh(x*w + b)", "x=2", "w=-3", "b=6.88", "--check")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "tanh(x*w + b) = 0.7064193204"
    assert lines[1].split() == ["d/dx", "=", "-1.502915231"]
    assert [ln.split()[0] for ln in lines[2:4]] == ["d/dw", "d/db"]
    assert "gradcheck passed: 3 checked, all agree with finite differences" in proc.stdout
    rows = {ln.split(")")[0].strip() + ")": ln.split()[-1] for ln in lines if "input " in ln}
    assert rows == {"input 0 (x)": "ok", "input 1 (w)": "ok", "input 2 (b)": "ok"}


def test_grad_check_calls_gradcheck_and_prints_its_message(monkeypatch, capsys):
    calls = []
    real = cli.gradcheck

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(cli, "gradcheck", spy)
    assert cli.main(["grad", "x**2 * y", "x=3", "y=2", "--check"]) == 0
    assert len(calls) == 1 and calls[0]["raise_exception"] is False
    assert "gradcheck passed: 2 checked" in capsys.readouterr().out


def test_grad_check_at_a_kink_passes_with_a_note():
    proc = run("grad", "relu(x)", "x=0", "--check")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "ok (kink)" in proc.stdout and "valid subgradient" in proc.stdout


def test_grad_check_catches_a_wrong_derivative(monkeypatch, capsys):
    import numpy as np

    class TanhWithoutItsDerivative(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return np.tanh(x)

        @staticmethod
        def backward(ctx, grad):
            return grad  # forgets the factor 1 - tanh(x)**2

    monkeypatch.setitem(expr.FUNCTIONS, "tanh", (TanhWithoutItsDerivative.apply, 1))
    assert cli.main(["grad", "tanh(x) * y", "x=0.5", "y=2", "--check"]) == 1
    out, err = capsys.readouterr()
    assert "gradcheck FAILED: 1 of 2 checked disagree" in out
    assert "input 0 (x)" in out and "worst entries" in out
    (line,) = err.strip().splitlines()
    assert line.startswith("autograd-lite: error: gradient check failed for input 0 (x)")


def test_grad_expression_starting_with_minus_and_options_anywhere():
    proc = run("grad", "-x*y", "--check", "x=1", "y=2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "-x*y = -2"
    proc = run("grad", "--", "-x", "x=1")
    assert proc.returncode == 0 and "d/dx = -1" in proc.stdout


@pytest.mark.parametrize(
    ("args", "first_line"),
    [
        (["grad", "-h*x", "h=1", "x=2"], "-h*x = -2"),  # not --help
        (["grad", "-h", "h=3"], "-h = -3"),
        (["grad", "-o", "o=3"], "-o = -3"),
        (["grad", "--x", "x=3"], "--x = 3"),
        (["grad", "-x", "--check", "x=3"], "-x = -3"),
        (["graph", "-ox", "ox=2", "--format", "dot", "-o", "-"], "-ox = -2"),  # not -o x
        (["graph", "-h*x", "h=1", "x=2", "--format", "dot", "-o", "-"], "-h*x = -2"),
    ],
)
def test_expression_is_always_the_first_argument_after_the_command(args, first_line):
    proc = run(*args, module="autograd_lite.cli")
    assert proc.returncode == 0, proc.stderr
    shown = proc.stderr if args[0] == "graph" else proc.stdout  # graph -o -: DOT on stdout
    assert shown.splitlines()[0] == first_line
    if args[0] == "graph":
        assert proc.stdout.startswith("digraph")


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script of this Python not installed")
def test_expression_first_through_the_console_script():
    proc = subprocess.run(
        [str(SCRIPT), "grad", "-h*x", "h=1", "x=2"],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["-h*x = -2", "d/dh = -2", "d/dx = -1"]


@pytest.mark.parametrize("command", ["graph", "grad"])
@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_alone_after_the_command_is_still_help(command, flag):
    proc = run(command, flag)
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: autograd-lite {command}")


def test_an_option_where_the_expression_goes_gets_a_hint():
    proc = run("grad", "--check", "x*y", "x=1", "y=2")
    line = one_error_line(proc, 2)
    assert "EXPR is always the first argument after the command" in line
    assert "'--check' was read as the expression" in line


# ------------------------------------------------------------------------ encoding

ASCII = {"PYTHONIOENCODING": "ascii"}


def test_non_ascii_output_on_an_ascii_terminal_is_escaped_not_an_error():
    proc = run("grad", "x·y", "x·y=2", env=ASCII, module="autograd_lite.cli")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["x\\xb7y = 2", "d/dx\\xb7y = 1"]
    proc = run("grad", "é*y", "é=1", "y=2", "--check", env=ASCII)
    assert proc.returncode == 0, proc.stderr
    assert "d/d\\xe9 = 2" in proc.stdout and "input 0 (\\xe9)" in proc.stdout
    proc = run("graph", "é", "é=1", "--format", "dot", "-o", "-", env=ASCII)
    assert proc.returncode == 0 and "\\xe9 = 1" in proc.stderr
    assert "é" in proc.stdout  # the DOT text itself is UTF-8 bytes


def test_non_ascii_errors_on_an_ascii_terminal_are_one_line():
    proc = run("grad", "é*y", "é=1", env=ASCII, module="autograd_lite.cli")
    line = one_error_line(proc, 2)
    assert "no value for the variable 'y'" in line and "internal error" not in line
    proc = run("grad", "x·y", env=ASCII)
    line = one_error_line(proc, 2)
    assert "no value for the variable 'x\\xb7y'" in line


def test_grad_unused_variable_and_no_variables():
    proc = run("grad", "x*2", "x=1", "z=5")
    assert proc.stdout.splitlines() == ["x*2 = 2", "d/dx = 2", "d/dz = 0"]
    proc = run("grad", "2*pi")
    assert proc.returncode == 0 and "nothing to differentiate" in proc.stdout


# --------------------------------------------------------------------------- graph


@needs_dot
def test_graph_writes_exactly_the_svg_path(tmp_path):
    proc = run("graph", "tanh(x*w + b)", "x=2", "w=-3", "b=6.88", "-o", "graph.svg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote graph.svg" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["graph.svg"]  # no graph.svg.svg
    svg = (tmp_path / "graph.svg").read_text()
    assert "<svg" in svg and "tanh(x*w + b)" in svg and "grad &#45;1.503" in svg  # dot escapes "-"


@needs_dot
def test_graph_png_from_suffix_and_pdf_from_format(tmp_path):
    proc = run("graph", "x**2 * y", "x=3", "y=2", "-o", str(tmp_path / "g.png"))
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    proc = run("graph", "x*y", "x=3", "y=2", "--format", "pdf", "-o", str(tmp_path / "out"))
    assert proc.returncode == 0 and (tmp_path / "out").read_bytes()[:5] == b"%PDF-"
    proc = run("graph", "x*y", "x=3", "y=2", cwd=tmp_path)  # default name
    assert proc.returncode == 0 and (tmp_path / "graph.svg").exists()


def test_graph_dot_format_needs_no_binary(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run(
        "graph",
        "sigmoid(a*b)",
        "a=1",
        "b=2",
        "--format",
        "dot",
        "-o",
        "g.dot",
        cwd=tmp_path,
        path=empty,
    )
    assert proc.returncode == 0, proc.stderr
    text = (tmp_path / "g.dot").read_text()
    assert text.startswith("digraph") and "sigmoid" in text and "a*b" in text
    proc = run("graph", "sigmoid(a*b)", "a=1", "b=2", "--format", "dot", "-o", "-", path=empty)
    assert proc.returncode == 0 and proc.stdout.startswith("digraph")
    assert "sigmoid(a*b) = 0.880797078" in proc.stderr  # stdout holds only the DOT text


def test_graph_without_dot_says_how_to_install(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    no_pure = {"AUTOGRAD_LITE_DOT": "dot"}  # nor the graphviz-pure fallback (test_render.py)
    proc = run("graph", "x*y", "x=1", "y=2", "-o", "g.svg", cwd=tmp_path, path=empty, env=no_pure)
    line = one_error_line(proc, 1)
    for hint in ("apt-get install graphviz", "brew install graphviz", "conda", "winget"):
        assert hint in line
    assert "--format dot" in line
    assert not (tmp_path / "g.svg").exists() and list(tmp_path.iterdir()) == [empty]


def test_graph_refuses_nan_unless_allowed(tmp_path):
    proc = run("graph", "log(x) * y", "x=-1", "y=2", "-o", "nan.dot", cwd=tmp_path)
    assert "log(x) (column 1) is nan" in one_error_line(proc, 1)
    proc = run(
        "graph", "log(x) * y", "x=-1", "y=2", "--allow-nonfinite", "-o", "nan.dot", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert "#c0392b" in (tmp_path / "nan.dot").read_text()  # drawn in red


def test_graph_cannot_write(tmp_path):
    proc = run("graph", "x", "x=1", "-o", str(tmp_path / "missing" / "g.dot"))
    assert "cannot write" in one_error_line(proc, 1)
    proc = run("graph", "x", "x=1", "--format", "dot", "-o", str(tmp_path))
    assert "is a directory" in one_error_line(proc, 1)


@needs_dot
def test_graph_jpg_suffix_writes_a_real_jpeg(tmp_path):
    proc = run("graph", "x*y", "x=3", "y=2", "-o", "pic.jpg", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "wrote pic.jpg (jpg)" in proc.stdout
    assert (tmp_path / "pic.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG, not SVG


@pytest.mark.parametrize(
    ("output", "fmt", "fragment"),
    [
        ("x.png", "svg", "suffix .png names the png format, not svg"),
        ("x.svg", "dot", "suffix .svg names the svg format, not dot"),
        ("x.jpg", "png", "suffix .jpg names the jpg format, not png"),
        ("x.weird", None, "cannot tell the format from the suffix .weird"),
    ],
)
def test_graph_never_writes_one_format_under_anothers_suffix(tmp_path, output, fmt, fragment):
    extra = ["--format", fmt] if fmt else []
    proc = run("graph", "x*y", "x=3", "y=2", "-o", output, *extra, cwd=tmp_path)
    assert fragment in one_error_line(proc, 2)
    assert list(tmp_path.iterdir()) == []


def test_graph_unknown_suffix_with_a_format_is_fine(tmp_path):
    proc = run("graph", "x", "x=1", "-o", "g.txt", "--format", "dot", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "g.txt").read_text().startswith("digraph")


def test_graph_reads_the_one_suffix_table_in_viz(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(viz.SUFFIX_FORMATS, ".weird", "dot")
    assert not hasattr(cli, "_SUFFIX_FORMATS")
    assert cli.main(["graph", "x", "x=1", "-o", str(tmp_path / "g.weird")]) == 0
    assert (tmp_path / "g.weird").read_text().startswith("digraph")
    assert "(dot)" in capsys.readouterr().out


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs here")
def test_graph_output_is_written_atomically(tmp_path):
    real = tmp_path / "real.dot"
    real.write_text("old")
    real.chmod(0o600)
    link = tmp_path / "link.dot"
    link.symlink_to(real)
    proc = run("graph", "x", "x=1", "-o", str(link))
    assert proc.returncode == 0, proc.stderr
    assert link.is_symlink() and real.read_text().startswith("digraph")  # written through
    assert stat.S_IMODE(real.stat().st_mode) == 0o600  # the mode is kept
    fifo = tmp_path / "fifo.dot"
    os.mkfifo(fifo)
    proc = run("graph", "x", "x=1", "-o", str(fifo))  # refused, never opened: no hang
    line = one_error_line(proc, 1)
    assert "cannot write" in line and "FIFO" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fifo.dot", "link.dot", "real.dot"]


def test_graph_folds_with_max_nodes(tmp_path):
    expr = "+".join(["x"] * 50)
    proc = run("graph", expr, "x=1", "--max-nodes", "5", "--format", "dot", "-o", "-")
    assert proc.returncode == 0, proc.stderr
    assert "Folded: showing the 5 values" in proc.stdout


# ---------------------------------------------------------------------------- demo


def _have(module):
    try:
        __import__(module)
    except ImportError:
        return False
    return True


needs_sklearn = pytest.mark.skipif(not _have("sklearn"), reason="scikit-learn not installed")


@needs_dot
@needs_sklearn
def test_demo_trains_draws_and_checks(tmp_path):
    proc = run("demo", "--quick", "--out", "results", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    accuracy = float(out.split("test accuracy: ")[1].split("%")[0])
    assert accuracy > 50  # two epochs are far better than chance (10%)
    assert "gradients of input, weight and bias match" in out
    svg = (tmp_path / "results" / "graph.svg").read_text()
    assert "<svg" in svg and "layers.0.weight" in svg
    if _have("matplotlib"):
        assert (tmp_path / "results" / "loss_curve.png").read_bytes()[:4] == b"\x89PNG"


@needs_sklearn
def test_demo_trains_through_a_compiled_loss(monkeypatch):
    """The demo's training step is ag.compile'd: traced once per batch shape, then replayed."""
    from autograd_lite.cli import demo as main_demo

    made = []

    def spy(fn):
        made.append(ag.compile(fn))
        return made[-1]

    monkeypatch.setattr(main_demo, "compile", spy)
    main_demo.train(1)
    (loss_fn,) = made
    assert loss_fn.traces == 2  # batches of 32, and the last, shorter one
    assert sum(plan.calls for plan in loss_fn.plans) > 40  # the other batches replay


@needs_sklearn
def test_demo_without_dot_explains_and_keeps_the_dot_text(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    no_pure = {"AUTOGRAD_LITE_DOT": "dot"}  # nor the graphviz-pure fallback (test_render.py)
    proc = run("demo", "--quick", cwd=tmp_path, path=empty, env=no_pure)
    assert "apt-get install graphviz" in one_error_line(proc, 1)
    assert "test accuracy" in proc.stdout  # training ran before the drawing failed
    assert "digraph" in (tmp_path / "autograd_lite_demo" / "graph.dot").read_text()


def test_demo_without_scikit_learn_is_one_clear_line(monkeypatch, capsys, tmp_path):
    from autograd_lite import nn

    monkeypatch.chdir(tmp_path)

    def missing():
        raise ImportError("load_digits needs scikit-learn: pip install 'autograd-lite[examples]'")

    monkeypatch.setattr(nn.datasets, "load_digits", missing)
    assert cli.main(["demo", "--quick", "--out", "unused"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "autograd-lite[examples]" in err[0]


def test_demo_gradcheck_runs_the_layers_own_forward_and_can_fail(monkeypatch):
    """The demo's check covers nn.Layer's code: a wrong backward there makes it fail."""
    import numpy as np

    import autograd_lite as ag
    from autograd_lite import nn
    from autograd_lite.cli import demo as main_demo

    assert main_demo.check_a_layer() is True

    class TanhWithoutItsDerivative(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return np.tanh(x)

        @staticmethod
        def backward(ctx, grad):
            return grad  # forgets the factor 1 - tanh(x)**2

    monkeypatch.setattr(
        nn.Layer,
        "forward",
        lambda self, x: TanhWithoutItsDerivative.apply(nn.Linear.forward(self, x)),
    )
    assert main_demo.check_a_layer() is False


def test_demo_accepts_o_for_the_folder(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "demo", lambda args: seen.append(args.out) or 0)
    assert cli.main(["demo", "-o", "elsewhere"]) == 0
    assert seen == ["elsewhere"]


def test_demo_dispatches_to_cli_demo(monkeypatch):
    seen = []
    monkeypatch.setattr(cli, "demo", lambda args: seen.append((args.out, args.epochs)) or 0)
    assert cli.main(["demo", "--out", "x", "--epochs", "3"]) == 0
    assert seen == [("x", 3)]


# ------------------------------------------------------------------------ refusals


@pytest.mark.parametrize(
    ("args", "code", "fragment"),
    [
        (["grad", "x.real", "x=1"], 2, "attribute access at column 1"),
        (["grad", "x[0]", "x=1"], 2, "indexing"),
        (["grad", "__import__('os').system('echo pwned')"], 2, "not allowed"),
        (["graph", "lambda: 1", "-o", "-"], 2, "lambda"),
        (["grad", "foo(x)", "x=1"], 2, "unknown function 'foo'"),
        (["grad", "x*w + b", "x=2", "w=-3"], 2, "no value for the variable 'b'"),
        (["grad", "x +* y", "x=1", "y=1"], 2, "syntax error at column 4"),
        (["grad", "log(x)", "x=-1"], 1, "math error: log(x) (column 1) is nan"),
        (["grad", "log(-1)"], 1, "log(-1) (column 1) is nan"),
        (["grad", "1/x", "x=0"], 1, "is inf"),
        (["grad", "sqrt(x)", "x=0"], 1, "derivative of sqrt(x)"),
        (["grad", "x", "x=abc"], 2, "the value of x must be a number"),
        (["grad", "x", "x=nan"], 2, "must be finite"),
        (["grad", "x", "x"], 2, "expected NAME=VALUE"),
        (["grad", "x", "x=1", "x=2"], 2, "given twice"),
        (["grad", "tanh(x)", "tanh=1"], 2, "is a function"),
        (["grad", "x", "1x=1"], 2, "not a valid variable name"),
        (["graph", "x", "x=1", "--max-nodes", "0"], 2, "must be at least 1"),
        (["graph", "x", "x=1", "--format", "gif"], 2, "invalid choice"),
        (["grad"], 2, "EXPR"),
        (["frobnicate"], 2, "invalid choice"),
    ],
)
def test_refused_inputs_exit_with_one_line(args, code, fragment, tmp_path):
    proc = run(*args, cwd=tmp_path)
    assert fragment in one_error_line(proc, code)
    assert proc.stdout == "" or code == 1
    assert list(tmp_path.iterdir()) == []  # nothing was written, nothing was run


def test_no_command_prints_help():
    proc = run()
    assert proc.returncode == 2 and "graph" in proc.stderr and "demo" in proc.stderr


# ---------------------------------------------------------------------------- help


@pytest.mark.parametrize("command", ["graph", "grad", "demo"])
def test_help_has_an_example(command):
    proc = run(command, "--help")
    assert proc.returncode == 0
    assert "example" in proc.stdout and f"autograd-lite {command}" in proc.stdout


def test_top_level_help_and_version():
    proc = run("--help")
    assert proc.returncode == 0 and "graph" in proc.stdout and "example" in proc.stdout
    proc = run("--version")
    assert proc.returncode == 0 and proc.stdout.startswith("autograd-lite ")


@pytest.mark.skipif(not SCRIPT.exists(), reason="console script of this Python not installed")
def test_console_script():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(
        [str(SCRIPT), "grad", "x**2 * y", "x=3", "y=2"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert proc.returncode == 0 and proc.stdout.splitlines()[1] == "d/dx = 12"
    proc = subprocess.run(
        [str(SCRIPT), "grad", "x.y"], capture_output=True, text=True, timeout=120, env=env
    )
    assert proc.returncode == 2 and proc.stderr.startswith("autograd-lite: error: ")


# --- hostile input: bounded render time, exactly one output file, clear errors (issue 24)


def test_the_help_states_the_render_time_limit():
    proc = run("graph", "--help")
    assert proc.returncode == 0
    assert "--timeout SECONDS" in proc.stdout and f"{cli.TIMEOUT:g} seconds" in proc.stdout


@needs_dot
def test_a_graph_dot_cannot_lay_out_in_time_fails_fast_in_one_line(tmp_path):
    expression = "+".join(["x"] * 100)  # dot ran 287 s on this, unfinished
    start = time.perf_counter()
    proc = run("graph", expression, "x=1", "-o", "g.svg", "--timeout", "1", cwd=tmp_path)
    assert time.perf_counter() - start < 20
    line = one_error_line(proc, 1)
    assert "within 1 s" in line and "--max-nodes" in line and "--timeout" in line
    assert os.listdir(tmp_path) == []


def _graph_in_process(tmp_path, monkeypatch, capsys, *args):
    monkeypatch.chdir(tmp_path)
    status = cli.main(["graph", "x*y", "x=1", "y=2", "--timeout", "5", *args])
    return status, capsys.readouterr()


@needs_dot
def test_vrml_writes_nothing_besides_the_path_given(tmp_path, monkeypatch, capsys):
    (tmp_path / "node1.png").write_bytes(b"mine")  # was overwritten
    status, out = _graph_in_process(tmp_path, monkeypatch, capsys, "-o", "g.vrml")
    assert status == 1 and "vrml format writes" in out.err and "one file" in out.err
    assert sorted(os.listdir(tmp_path)) == ["node1.png"]
    assert (tmp_path / "node1.png").read_bytes() == b"mine"


@needs_dot
def test_fuzz_output_formats(tmp_path, monkeypatch, capsys):
    """Graphviz's formats (a fixed sample, vrml included): each writes exactly the path
    given, or fails with one error line and writes nothing."""
    import random

    import graphviz

    formats = sorted(graphviz.FORMATS)
    sample = sorted(set(random.Random(24).sample(formats, 12)) | {"vrml", "svg", "dot", "gv"})
    for fmt in sample:
        folder = tmp_path / fmt
        folder.mkdir()
        status, out = _graph_in_process(folder, monkeypatch, capsys, "-o", f"out.{fmt}")
        errors = [ln for ln in out.err.splitlines() if ln.startswith("autograd-lite: error:")]
        if status == 0:
            assert os.listdir(folder) == [f"out.{fmt}"], fmt
        else:
            assert status in (1, 2) and len(errors) == 1, (fmt, out.err)
            assert os.listdir(folder) == [], fmt


def _run_with_stdout(stdout, *args, **kwargs):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "autograd_lite", *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        timeout=120,
        **kwargs,
    )


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize(
    "args", [("grad", "x*y", "x=1", "y=2"), ("graph", "x", "x=1", "-o", "-", "--format", "dot")]
)
def test_a_full_disk_on_stdout_is_one_clear_error(args):
    with open("/dev/full", "w") as full:
        proc = _run_with_stdout(full, *args)
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert (
        lines[-1] == "autograd-lite: error: cannot write the output to standard output: "
        "No space left on device"
    ), proc.stderr
    assert "internal error" not in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.skipif(os.name != "posix", reason="closes fd 1 in the child")
@pytest.mark.parametrize(
    "args", [("grad", "x*y", "x=1", "y=2"), ("graph", "x", "x=1", "-o", "-", "--format", "dot")]
)
def test_a_closed_stdout_is_one_clear_error(args):
    proc = _run_with_stdout(None, *args, preexec_fn=lambda: os.close(1))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr.strip().splitlines()[-1] == (
        "autograd-lite: error: standard output is closed: nowhere to print the result"
    )


@needs_dot
def test_a_tangled_graph_is_refused_at_once_and_a_smaller_one_drawn(tmp_path):
    start = time.perf_counter()
    proc = run("graph", "+".join(["x"] * 60), "x=1", "-o", "g.svg", cwd=tmp_path)
    assert time.perf_counter() - start < 15  # dot ran for minutes on this
    line = one_error_line(proc, 1)
    assert "too tangled" in line and "within 10 s" in line and "--max-nodes" in line
    assert os.listdir(tmp_path) == []
    proc = run("graph", "+".join(["x"] * 30), "x=1", "-o", "g.svg", cwd=tmp_path)
    assert proc.returncode == 0 and os.listdir(tmp_path) == ["g.svg"]
