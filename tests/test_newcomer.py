"""What a newcomer hits first (issue 23, item 7): the messages and leftovers of a first try."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

try:
    import tomllib
except ImportError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

import autograd_lite as ag
from autograd_lite import Value
from autograd_lite.cli import app as cli
from autograd_lite.viz import GraphvizNotFoundError, draw_graph, render, save_graph


def test_a_defops_raw_numpy_vjp_is_named_by_its_op():
    """gradgradcheck of a defop whose VJP uses numpy on raw arrays names that op."""
    cube = ag.defop("my_cube", lambda x: x**3, lambda g, out, x: 3 * np.square(x) * g)
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradgradcheck(cube, [Value(np.array([0.3, 0.5]))])
    message = str(info.value)
    assert "the backward of 'my_cube' (declared with defop) computed on raw arrays" in message
    assert "a Function" not in message


def test_the_demo_without_scikit_learn_leaves_no_folder(monkeypatch, tmp_path):
    from autograd_lite import nn

    def missing():
        raise ImportError("load_digits needs scikit-learn: pip install 'autograd-lite[examples]'")

    monkeypatch.setattr(nn.datasets, "load_digits", missing)
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "--quick"]) == 1
    assert cli.main(["demo", "--quick", "--out", "elsewhere"]) == 1
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(render.graphviz_pure() is None, reason="graphviz-pure is not installed")
def test_pdf_without_the_dot_program_is_one_short_line_with_the_install_command(
    monkeypatch, tmp_path
):
    monkeypatch.setenv(render.ENV, "graphviz-pure")  # as if dot were not installed
    x = Value(2.0, name="x")
    y = (x * x).tanh()
    y.backward()
    with pytest.raises(GraphvizNotFoundError) as info:
        save_graph(draw_graph(y), tmp_path / "g.pdf")
    message = str(info.value)
    assert "\n" not in message and len(message) < 300, message
    assert "pdf" in message and "sudo apt-get install graphviz" in message
    assert "pip install graphviz-pure" not in message  # it is installed: no advice to install it
    assert not (tmp_path / "g.pdf").exists()


ROOT = Path(__file__).resolve().parents[1]


def test_the_end_of_a_run_says_what_was_skipped_and_how_to_run_it(tmp_path):
    """tests/conftest.py's summary: one line per group of skips, with the install command."""
    (tmp_path / "test_skips.py").write_text(
        "import pytest\n"
        "def test_a():\n    pytest.importorskip('torch_is_not_here')\n"
        "def test_b():\n    pytest.skip(\"could not import 'torch': No module named 'torch'\")\n"
        "def test_c():\n    pytest.skip(\"could not import 'torch': No module named 'torch'\")\n"
        "def test_d():\n    pytest.skip(\"Graphviz 'dot' is not installed\")\n"
        "def test_e():\n    pass\n"
    )
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "conftest", "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT / "tests")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    lines = proc.stdout.splitlines()
    assert (
        "skipped 2 PyTorch comparisons (torch is not installed); "
        "to run them: pip install torch==2.13.0"
    ) in lines
    assert any(line.startswith("skipped 1 tests of Graphviz's dot") for line in lines)
    assert any("apt-get install graphviz" in line for line in lines)
    assert any(line.startswith("skipped 1 tests this platform cannot run") for line in lines)


def test_the_slowest_tests_are_marked_slow_and_ci_still_runs_them():
    """-m 'not slow' leaves them out; the plain command (what CI runs) keeps them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    assert any(m.startswith("slow:") for m in config["ini_options"]["markers"])
    assert "-m" not in config["ini_options"]["addopts"]  # nothing deselects them by default
    files = ["tests/benchmarks", "tests/autograd_lite/test_backward.py", "tests/examples"]
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-m",
            "slow",
            "-p",
            "no:cacheprovider",
            *files,
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    slow = {line.split("::")[1] for line in proc.stdout.splitlines() if "::" in line}
    assert {
        "test_quick_run_writes_every_workload_to_json",
        "test_a_million_node_chain_with_the_default_recursion_limit",
        "test_main_prints_both_figures_and_the_ratio",
        "test_the_full_run_reaches_exactly_the_readmes_accuracy",
    } <= slow, proc.stdout + proc.stderr
