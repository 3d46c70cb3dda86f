"""Redraw the pictures of docs/graphs.md: python docs/images/make_graph_images.py

The drawings are the chapter's own examples; the page screenshot (graph_page.png) is made
by hand with headless Chromium (see tests/autograd_lite/test_html.py for the steps).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.viz import save_graph

HERE = Path(__file__).resolve().parent


def main() -> None:
    model = nn.Sequential(nn.Linear(4, 8, rng=0), nn.ReLU(), nn.MLP(8, [6, 3], rng=1))
    x = Value(np.random.default_rng(2).normal(size=(5, 4)), name="x")
    loss = (model(x) ** 2).mean()
    loss.backward()
    save_graph(ag.draw_graph(loss, names=model), HERE / "modules.svg")
    save_graph(ag.draw_graph(loss, names=model, depth=1), HERE / "modules_depth1.svg")

    rng = np.random.default_rng(0)
    deep = nn.MLP(3, [8, 8, 8, 1], activation="sigmoid", rng=0)
    x = Value(rng.normal(size=(4, 3)) * 40, name="x")
    loss = deep(x).mean()
    loss.backward()
    save_graph(ag.draw_graph(loss, names=deep, color="grad"), HERE / "flow_grad.svg")
    save_graph(ag.draw_graph(loss, names=deep, color="data"), HERE / "flow_data.svg")
    nn.utils.plot_grad_flow(deep, HERE / "grad_flow.png")


if __name__ == "__main__":
    main()
