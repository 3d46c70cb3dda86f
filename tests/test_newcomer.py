"""What a newcomer hits first (issue 23, item 7): the messages and leftovers of a first try."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, cli, render
from autograd_lite.viz import GraphvizNotFoundError, draw_graph, save_graph


def test_a_defops_raw_numpy_vjp_is_named_by_its_op():
    """gradgradcheck of a defop whose VJP uses numpy on raw arrays names that op."""
    cube = ag.defop("my_cube", lambda x: x**3, lambda g, out, x: 3 * np.square(x) * g)
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradgradcheck(cube, [Value(np.array([0.3, 0.5]))])
    message = str(info.value)
    assert "the backward of 'my_cube' (declared with defop) computed on raw arrays" in message
    assert "a Function" not in message


def test_the_demo_without_scikit_learn_leaves_no_folder(monkeypatch, tmp_path):
    import nn

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
