"""The ``autograd-lite`` command, run as a real process: graph, grad, demo, refusals, --help."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

import pytest

from autograd_lite import cli

HAVE_DOT = shutil.which("dot") is not None
needs_dot = pytest.mark.skipif(not HAVE_DOT, reason="Graphviz 'dot' is not installed")


def run(*args, cwd=None, path=None, check_clean=True):
    """Run ``python -m autograd_lite ARGS``; optionally with PATH replaced (no `dot`)."""
    env = dict(os.environ)
    if path is not None:
        env["PATH"] = str(path)
    proc = subprocess.run(
        [sys.executable, "-m", "autograd_lite", *args],
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


def test_grad_check_prints_finite_differences_and_errors():
    proc = run("grad", "tanh(x*w + b)", "x=2", "w=-3", "b=6.88", "--check")
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "tanh(x*w + b) = 0.7064193204"
    assert "finite difference" in lines[1] and "abs error" in lines[1]
    rows = {ln.split()[0]: ln.split() for ln in lines[2:]}
    assert set(rows) == {"d/dx", "d/dw", "d/db"}
    for _, _eq, backprop, fd, err, verdict in rows.values():
        assert verdict == "ok"
        assert abs(float(backprop) - float(fd)) < 1e-6 and float(err) < 1e-6
    assert float(rows["d/dx"][2]) == pytest.approx(-1.502915231)


def test_grad_check_fails_at_a_kink():
    proc = run("grad", "relu(x)", "x=0", "--check")
    assert "MISMATCH" in proc.stdout
    assert "gradient check failed for x" in one_error_line(proc, 1)


def test_grad_expression_starting_with_minus_and_options_anywhere():
    proc = run("grad", "-x*y", "--check", "x=1", "y=2")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "-x*y = -2"
    proc = run("grad", "--", "-x", "x=1")
    assert proc.returncode == 0 and "d/dx = -1" in proc.stdout


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
    proc = run("graph", "x*y", "x=1", "y=2", "-o", "g.svg", cwd=tmp_path, path=empty)
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
def test_demo_without_dot_explains_and_keeps_the_dot_text(tmp_path):
    empty = tmp_path / "bin"
    empty.mkdir()
    proc = run("demo", "--quick", cwd=tmp_path, path=empty)
    assert "apt-get install graphviz" in one_error_line(proc, 1)
    assert "test accuracy" in proc.stdout  # training ran before the drawing failed
    assert "digraph" in (tmp_path / "autograd_lite_demo" / "graph.dot").read_text()


def test_demo_without_scikit_learn_is_one_clear_line(monkeypatch, capsys, tmp_path):
    import nn

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
    import nn
    from autograd_lite import demo as main_demo

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


@pytest.mark.skipif(shutil.which("autograd-lite") is None, reason="console script not on PATH")
def test_console_script():
    proc = subprocess.run(
        ["autograd-lite", "grad", "x**2 * y", "x=3", "y=2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0 and proc.stdout.splitlines()[1] == "d/dx = 12"
    proc = subprocess.run(
        ["autograd-lite", "grad", "x.y"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2 and proc.stderr.startswith("autograd-lite: error: ")
