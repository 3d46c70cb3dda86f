"""nn.utils.grad_flow (a table of gradient statistics) and plot_grad_flow (the bar chart)."""

from __future__ import annotations

import builtins
import importlib.util

import numpy as np
import pytest

from autograd_lite import Value, nn

HAVE_MPL = importlib.util.find_spec("matplotlib") is not None


def trained():
    model = nn.MLP(3, [4, 2], rng=0)
    model.layers[1].bias.data[...] = 0.0
    x = Value(np.random.default_rng(0).normal(size=(5, 3)))
    loss = (model(x) ** 2).mean()
    model.zero_grad()
    loss.backward()
    return model


def test_grad_flow_rows_are_the_gradient_statistics():
    model = trained()
    flow = nn.utils.grad_flow(model)
    assert len(flow) == 4 and flow.names() == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
    ]
    w = model.layers[0].weight
    row = flow["layers.0.weight"]
    assert row is flow[0] and row.shape == (3, 4)
    assert row.mean_abs == pytest.approx(np.abs(w.grad).mean())
    assert row.max_abs == pytest.approx(np.abs(w.grad).max())
    assert row.norm == pytest.approx(np.linalg.norm(w.grad))
    assert row.zero_fraction == 0.0
    with pytest.raises(KeyError):
        flow["nope"]


def test_grad_flow_str_is_a_table_and_missing_grads_show_a_dash():
    model = nn.MLP(2, [2], rng=0)
    model.layers[0].weight.grad = np.array([[0.0, 1.0], [0.0, -3.0]])
    flow = nn.utils.grad_flow(model)
    text = str(flow)
    lines = text.splitlines()
    assert lines[0].split() == ["parameter", "shape", "mean", "|g|", "max", "|g|", "norm", "zeros"]
    assert set(lines[1]) <= {"-", " "}
    assert "layers.0.weight  (2, 2)" in lines[2] and "50.0%" in lines[2]
    assert "3.000e+00" in lines[2] and "1.000e+00" in lines[2]  # max, mean
    assert lines[3].split()[2:] == ["-", "-", "-", "-"]  # the bias has no gradient
    assert flow["layers.0.bias"].norm is None
    assert "<table>" in flow._repr_html_() and repr(flow).startswith("GradFlow(2 parameters)")
    assert list(flow) == flow.rows


def test_grad_flow_of_a_dict_and_bad_input():
    w = Value(np.ones(3))
    (w * 2.0).sum().backward()
    assert nn.utils.grad_flow({"w": w})["w"].max_abs == 2.0
    with pytest.raises(TypeError, match="named_parameters"):
        nn.utils.grad_flow([w])


@pytest.mark.skipif(not HAVE_MPL, reason="matplotlib is not installed (examples extra)")
def test_plot_grad_flow_draws_the_bars(tmp_path):
    model = trained()
    path = tmp_path / "flow.png"
    fig = nn.utils.plot_grad_flow(model, path)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == nn.utils.grad_flow(model).names()
    assert len(ax.patches) == 8 and ax.get_yscale() == "log"  # max and mean per parameter
    assert nn.utils.plot_grad_flow(model, log=False).axes[0].get_yscale() == "linear"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flow.png"]  # atomic, no debris


def test_plot_grad_flow_without_matplotlib_says_how_to_install(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    with pytest.raises(ImportError, match=r"pip install 'autograd-lite\[examples\]'"):
        nn.utils.plot_grad_flow(trained())
