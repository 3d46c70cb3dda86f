"""Seed 004, "Deep learning from scratch 2": fitting a trapezoidal function.

The post fits y = clip(2 - |x|, 0, 1) on [-3, 3] with a 1-32-32-16-16-1 network (sigmoid
hidden layers, tanh output) by plain full-batch gradient descent, and needs 250,000 epochs
to reach a test RMSE of 0.065; it promises mini-batches and Adam as the fix. Here is the
same network trained with ``nn.optim.Adam`` on mini-batches of 32: a far lower RMSE in
0.2% of the epochs. ``--compare`` also trains it the post's way (full batch, plain SGD)
for the same number of epochs, to show the difference. ``--compile`` runs each whole
step (loss, backward, update) through ``ag.compile`` (one trace per batch size, then
replays; the same numbers) and prints the wall time. Predictions are plotted as a PNG.

    python examples/trapezoid.py [--epochs 500] [--compare] [--compile] [--quick]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
from _common import log, out_path, progress, save_plot

import autograd_lite as ag
from autograd_lite import nn

POST_RMSE, POST_EPOCHS = 0.065, 250_000


def make_network(seed: int) -> nn.Sequential:
    """The post's 1-32-32-16-16-1: four sigmoid layers and a tanh output."""
    rng = np.random.default_rng(seed)
    sizes = [1, 32, 32, 16, 16, 1]
    layers: list[nn.Module] = []
    for i in range(5):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], rng=rng))
        layers.append(nn.Sigmoid() if i < 4 else nn.Tanh())
    return nn.Sequential(*layers)


def rmse(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    with ag.no_grad():
        return float(np.sqrt(np.mean((model(x).data - y) ** 2)))


def train(
    epochs: int, adam: bool = True, seed: int = 0, n_train: int = 400, compile: bool = False
) -> tuple[nn.Module, list]:
    """Adam on mini-batches of 32, or (``adam=False``) the post's full-batch gradient descent;
    ``compile``: each whole step (loss, backward, update) through ``ag.compile``."""
    x, y = nn.datasets.trapezoid(n_train, rng=seed)
    x_test, y_test = nn.datasets.trapezoid(200, rng=seed + 1)
    model = make_network(seed)
    if adam:
        opt: nn.optim.Optimizer = nn.optim.Adam(model.parameters(), lr=1e-2)
        batch_size = 32
    else:
        opt, batch_size = nn.optim.SGD(model.parameters(), lr=1e-1), n_train
    rng = np.random.default_rng(seed)

    def train_step(xb: np.ndarray, yb: np.ndarray) -> ag.Value:
        opt.zero_grad()
        loss = nn.mse_loss(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    step = ag.compile(train_step) if compile else train_step
    curve = []
    for epoch in progress(range(epochs), "adam" if adam else "plain GD", total=epochs):
        for xb, yb in nn.data.batches(x, y, batch_size, rng=rng):
            step(xb, yb)
        if (epoch + 1) % max(1, epochs // 10) == 0:
            curve.append((epoch + 1, rmse(model, x_test, y_test)))
            log(f"epoch {epoch + 1}/{epochs}: test RMSE {curve[-1][1]:.4f}")
    return model, curve


def run(
    epochs: int = 500,
    compare: bool = False,
    seed: int = 0,
    out: str | None = "out",
    compile: bool = False,
) -> dict:
    x_test, y_test = nn.datasets.trapezoid(200, rng=seed + 1)
    start = time.perf_counter()
    model, _ = train(epochs, True, seed, compile=compile)
    seconds = time.perf_counter() - start
    result = {"rmse": rmse(model, x_test, y_test), "epochs": epochs, "seconds": seconds}
    print(
        f"Adam + mini-batches: test RMSE {result['rmse']:.4f} after {epochs:,} epochs; "
        f"the post: {POST_RMSE} after {POST_EPOCHS:,} epochs of plain gradient descent "
        f"({epochs / POST_EPOCHS:.2%} of them)"
        + (f"; {seconds:.1f} s, compiled" if compile else f"; {seconds:.1f} s")
    )
    plain = None
    if compare:
        plain, _ = train(epochs, False, seed, compile=compile)
        result["plain_rmse"] = rmse(plain, x_test, y_test)
        print(
            f"plain full-batch gradient descent, same {epochs:,} epochs: test RMSE "
            f"{result['plain_rmse']:.4f}"
        )
    if out:
        grid = np.linspace(-3, 3, 300)[:, None]

        def draw(plt):
            plt.plot(grid, nn.datasets.trapezoid_function(grid), "k--", label="trapezoid")
            with ag.no_grad():
                plt.plot(grid, model(grid).data, label=f"Adam, RMSE {result['rmse']:.3f}")
                if plain is not None:
                    plt.plot(
                        grid, plain(grid).data, label=f"plain GD, RMSE {result['plain_rmse']:.3f}"
                    )
            plt.scatter(x_test, y_test, s=6, c="gray", label="test points")
            plt.legend()
            plt.title(f"1-32-32-16-16-1 after {epochs} epochs")

        result["plot"] = save_plot(draw, out_path("trapezoid.png", out))
        if result["plot"]:
            print(f"predictions plotted in {result['plot']}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=500, help="epochs (default 500)")
    parser.add_argument(
        "--compare", action="store_true", help="also train the post's way (full batch, plain SGD)"
    )
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default="out", help="folder for the plot ('' for none)")
    parser.add_argument("--quick", action="store_true", help="150 epochs")
    parser.add_argument(
        "--compile", action="store_true", help="compile each whole training step with ag.compile"
    )
    args = parser.parse_args(argv)
    run(150 if args.quick else args.epochs, args.compare, args.seed, args.out or None, args.compile)


if __name__ == "__main__":
    main()
