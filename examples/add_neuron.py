"""Seeds 000/001, "Learning from Backpropagation": one linear neuron learns to add.

The post's neuron has two weights (drawn from U(0, 2)), no bias and no activation; it is
trained one sample at a time on pairs of numbers and their sum, with the learning rate
1 / (2 * 100000 * (epoch + 1)), and a test prediction counts as correct when it is within
0.01% of the true sum. Here the sums come from ``nn.datasets.addition`` with inputs in
[0, 140) (the range that the post's final demo implies), the model is ``nn.Neuron``, and
the schedule is ``nn.optim.LambdaLR``.

The post's "regularisation" computes ``w -= lr * (grad - w)``: that is weight decay with
coefficient -1, the gradient of the loss term -|w|^2 / 2. It pushes the weights *away*
from zero, so they settle slightly above 1 (at about 1 + 1/lambda_max of the inputs'
second-moment matrix) instead of at 1. ``--weight-decay W`` adds W |w|^2 / 2 to the loss;
the default run compares W = -1 (the post) with W = 0 and shows what the post found:
without the term the neuron is exact after one epoch, up to float rounding (here
2.2 + 1.5 = 3.700000000000002; the post printed 3.7000000000000006).

Last, it shows the post's exploding gradient: a learning rate 200 times larger makes the
weights overshoot further each step until they overflow, and ``ag.detect_anomaly()`` stops
at the first operation that produced infinity.

    python examples/add_neuron.py [--rows 20000] [--epochs 10] [--weight-decay W] [--quick]
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Sequence

import numpy as np

import autograd_lite as ag
import nn

HIGH = 140.0  # inputs in [0, HIGH)
TOLERANCE = 0.01 / 100  # "correct within -/+0.01%"
DEMO = [(2.2, 1.5), (1024.0, 2048.0)]


def make_neuron(seed: int) -> nn.Neuron:
    """Two weights from U(0, 2), no bias, no activation: the post's neuron."""
    init = functools.partial(nn.init.uniform, low=0.0, high=2.0)
    return nn.Neuron(2, activation="linear", bias=False, init=init, rng=seed)


def accuracy(neuron: nn.Neuron, X: np.ndarray, y: np.ndarray) -> float:
    with ag.no_grad():
        pred = neuron(X).data
    return float(np.mean(np.abs(y - pred) <= y * TOLERANCE))


def demo(neuron: nn.Neuron) -> list[float]:
    with ag.no_grad():
        return [neuron(np.array(pair)).item() for pair in DEMO]


def train(
    rows: int = 20_000,
    epochs: int = 10,
    weight_decay: float = 0.0,
    seed: int = 0,
    test_rows: int = 5_000,
    verbose: bool = True,
) -> dict:
    """Train sample by sample as the post does; per-epoch test accuracies and the demo."""
    X, y = nn.datasets.addition(rows, 0.0, HIGH, rng=seed)
    X_test, y_test = nn.datasets.addition(test_rows, 0.0, HIGH, rng=seed + 1)
    neuron = make_neuron(seed)
    w = neuron.weight
    opt = nn.optim.SGD([w], lr=1 / (2 * 100_000))
    schedule = nn.optim.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    before = demo(neuron)
    accuracies = []
    for epoch in range(epochs):
        for x_i, y_i in zip(X, y):
            out = neuron(x_i)
            loss = 0.5 * (out - y_i) ** 2
            if weight_decay:
                loss = loss + 0.5 * weight_decay * (w * w).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        schedule.step()
        accuracies.append(accuracy(neuron, X_test, y_test))
        if verbose:
            correct = round(accuracies[-1] * test_rows)
            print(
                f"epoch {epoch + 1}/{epochs} completed\n"
                f"Accuracy: {correct}/{test_rows}({100 * accuracies[-1]:.2f}%) correct within "
                f"-/+{100 * TOLERANCE:g}%"
            )
    return {
        "before": before,
        "after": demo(neuron),
        "accuracies": accuracies,
        "weights": w.data.copy(),
    }


def show_demo(values: list[float], title: str) -> None:
    print(title)
    for (a, b), got in zip(DEMO, values):
        print(f"  Expected : {a:g} + {b:g} = {a + b:g}\n  Actual   : {a:g} + {b:g} = {got!r}")


def explode(lr: float = 1e-3, seed: int = 0, steps: int = 500) -> str:
    """Train with a far too large learning rate under detect_anomaly; the error message."""
    X, y = nn.datasets.addition(steps, 0.0, HIGH, rng=seed)
    neuron = make_neuron(seed)
    opt = nn.optim.SGD(neuron.parameters(), lr=lr)
    try:
        with ag.detect_anomaly(), np.errstate(over="ignore"):
            for x_i, y_i in zip(X, y):
                loss = 0.5 * (neuron(x_i) - y_i) ** 2
                opt.zero_grad()
                loss.backward()
                opt.step()
    except ag.AnomalyError as e:
        return str(e)
    return ""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rows",
        type=int,
        default=20_000,
        help="training pairs per epoch (the post used 500,000; default 20,000)",
    )
    parser.add_argument("--epochs", type=int, default=10, help="epochs (default 10)")
    parser.add_argument(
        "--weight-decay",
        type=float,
        default=None,
        help="add W |w|^2 / 2 to the loss; the post's term is W = -1 "
        "(default: run both W = -1 and W = 0)",
    )
    parser.add_argument("--quick", action="store_true", help="2,000 rows, 3 epochs")
    args = parser.parse_args(argv)
    rows, epochs = (2_000, 3) if args.quick else (args.rows, args.epochs)
    decays = [-1.0, 0.0] if args.weight_decay is None else [args.weight_decay]
    for wd in decays:
        label = "the post's regulariser (weight decay -1)" if wd == -1 else f"weight decay {wd:g}"
        print(f"\n=== {label}, {rows:,} rows per epoch ===")
        result = train(rows, epochs, wd, verbose=False)
        show_demo(result["before"], "Demo before training:")
        for epoch, acc in enumerate(result["accuracies"], 1):
            print(f"epoch {epoch}/{epochs}: {100 * acc:.2f}% of test sums within +/-0.01%")
        show_demo(result["after"], "Demo after training:")
        print(f"weights: {result['weights'].tolist()}")
    print("\n=== the exploding gradient, learning rate 1e-3 ===")
    message = explode()
    print(message.split(" <- ")[0] if message else "no overflow (try a larger learning rate)")
    print(
        "Each step overshoots the minimum by more than the last (lr * |x|^2 > 2 for inputs "
        "this large), so the weights grow geometrically until they overflow to inf."
    )


if __name__ == "__main__":
    main()
