"""``autograd-lite demo``: the three uses of the project in a few seconds.

1. Train: an MLP learns scikit-learn's 8x8 handwritten digits (a progress bar, the test
   accuracy, and the loss curve as a PNG), its whole training step compiled with ``ag.compile``.
2. See: the graph of one forward/backward pass of that model, drawn as an SVG, with the
   parameters grouped by the layer they belong to.
3. Check: ``gradcheck`` compares a layer's backprop gradients with finite differences.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from autograd_lite.compile import compile
from autograd_lite.core.modes import no_grad
from autograd_lite.core.value import Value
from autograd_lite.gradcheck import gradcheck
from autograd_lite.viz import GraphvizNotFoundError, draw_graph, save_graph


class DemoError(Exception):
    """The demo could not run a step (a missing extra or program); the message says why."""


def _progress(items: range, desc: str) -> Any:
    try:
        # tqdm ships no types (its stubs are the separate types-tqdm)
        from tqdm import tqdm  # type: ignore[import-untyped]
    except ImportError:
        return items
    return tqdm(items, desc=desc)


def train(epochs: int, seed: int = 0) -> tuple[Any, list[float], float]:
    """An MLP 64-32-10 on the digits; (model, loss per epoch, test accuracy)."""
    from autograd_lite import nn

    try:
        X, y = nn.datasets.load_digits()
    except ImportError as e:
        raise DemoError(f"{e}") from None
    order = np.random.default_rng(seed).permutation(len(X))
    train_idx, test_idx = order[:1500], order[1500:]
    model = nn.MLP(64, [32, 10], activation="tanh", init="xavier_uniform", rng=seed)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)

    # the whole step (zero_grad, loss, backward, Adam's update) traced once per batch shape
    # and replayed: the same numbers as eager code, in a fraction of the Python time
    def train_step(xb: np.ndarray, yb: np.ndarray) -> Any:
        opt.zero_grad()
        loss = nn.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    step = compile(train_step)
    losses = []
    for _ in _progress(range(epochs), "training on the digits"):
        total = 0.0
        for xb, yb in nn.data.batches(X[train_idx], y[train_idx], 32, rng=rng):
            total += step(xb, yb).item() * len(xb)
        losses.append(total / len(train_idx))
    with no_grad():
        accuracy = float(np.mean(model(X[test_idx]).data.argmax(axis=1) == y[test_idx]))
    return model, losses, accuracy


def plot_losses(losses: list[float], path: str) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig = plt.figure(figsize=(6, 4))
    plt.plot(range(1, len(losses) + 1), losses, marker="o")
    plt.xlabel("epoch")
    plt.ylabel("training loss (cross-entropy)")
    plt.title("an MLP learning the 8x8 digits")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def check_a_layer(seed: int = 0) -> bool:
    """gradcheck of an ``nn.Layer(4, 3, activation="tanh")`` (Linear + tanh), in float64.

    The layer is the function checked: its input and its own weight and bias (which
    gradcheck perturbs in place) are all checked, through the code the model trains with.
    """
    from autograd_lite import nn

    layer = nn.Layer(4, 3, activation="tanh", rng=seed)
    x = Value(np.random.default_rng(seed).standard_normal((2, 4)))
    return bool(gradcheck(layer, [x], raise_exception=False))


def run(out: str = "autograd_lite_demo", epochs: int = 15, seed: int = 0) -> int:
    """Run the demo, writing into folder ``out``; returns the exit status."""
    from autograd_lite import nn

    print(f"1. training an MLP 64-32-10 on the 8x8 handwritten digits ({epochs} epochs, compiled)")
    model, losses, accuracy = train(epochs, seed)
    print(f"   test accuracy: {accuracy:.1%} (loss {losses[0]:.3f} -> {losses[-1]:.3f})")
    os.makedirs(out, exist_ok=True)  # only now: a demo stopped by a missing extra leaves none
    curve = os.path.join(out, "loss_curve.png")
    if plot_losses(losses, curve):
        print(f"   loss curve:   {curve}")
    else:
        print("   (no loss curve: pip install matplotlib, or the examples extra)")

    print("2. the graph of one forward/backward pass (a batch of 8)")
    X, y = nn.datasets.load_digits()
    model.zero_grad()
    loss = nn.cross_entropy(model(X[:8]), y[:8])
    loss.backward()
    graph = draw_graph(loss, legend=True, names=model)
    picture = os.path.join(out, "graph.svg")
    missing_dot = None
    try:
        save_graph(graph, picture)
        print(f"   graph:        {picture} (open it in a web browser)")
    except GraphvizNotFoundError as e:
        picture = os.path.join(out, "graph.dot")
        save_graph(graph, picture, "dot")
        print(f"   graph as DOT text: {picture} (no picture: Graphviz is missing)")
        missing_dot = e

    print("3. gradcheck: backprop against finite differences for an nn.Layer(4, 3) (Linear + tanh)")
    ok = check_a_layer(seed)
    print(f"   gradients of input, weight and bias {'match' if ok else 'DO NOT match'}")
    if missing_dot is not None:
        raise DemoError(str(missing_dot))
    return 0 if ok else 1
