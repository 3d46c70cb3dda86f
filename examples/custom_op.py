"""A user-defined operation: SiLU (swish), x * sigmoid(x), as an ``autograd_lite.Function``.

The forward computes on raw numbers or arrays; the backward returns the vector-Jacobian
product, d/dx [x s(x)] = s(x) (1 + x (1 - s(x))), written with library functions so it is
differentiable again. ``gradcheck`` and ``gradgradcheck`` compare both against finite
differences, then the op serves as the activation of an MLP that fits seed 004's
trapezoid, and the graph of one forward/backward pass is drawn (the op shows as "SiLU").

    python examples/custom_op.py [--epochs 200] [--out out] [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

import numpy as np
from _common import out_path, save_svg

import autograd_lite as ag
from autograd_lite import nn


class SiLU(ag.Function):
    """x * sigmoid(x); d/dx = s (1 + x (1 - s)) with s = sigmoid(x)."""

    @staticmethod
    def forward(ctx: ag.Context, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x * ag.sigmoid(x)

    @staticmethod
    def backward(ctx: ag.Context, grad: Any) -> Any:
        (x,) = ctx.saved_tensors  # a Value under create_graph, so this is differentiable
        s = ag.sigmoid(x)
        return grad * s * (1.0 + x * (1.0 - s))


def check(seed: int = 0) -> tuple[bool, bool]:
    x = ag.Value(np.random.default_rng(seed).uniform(-4, 4, (3, 4)))
    first = ag.gradcheck(SiLU.apply, [x])
    second = ag.gradgradcheck(SiLU.apply, [x])
    print(f"gradcheck (backprop vs finite differences): {'passed' if first else 'FAILED'}")
    print(f"gradgradcheck (second derivatives):         {'passed' if second else 'FAILED'}")
    return first, second


def run(epochs: int = 200, seed: int = 0, out: str | None = "out") -> dict:
    first, second = check(seed)
    x, y = nn.datasets.trapezoid(400, rng=seed)
    x_test, y_test = nn.datasets.trapezoid(200, rng=seed + 1)
    model = nn.MLP(1, [16, 16, 1], activation=SiLU.apply, rng=seed)
    opt = nn.optim.Adam(model.parameters(), lr=1e-2)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        for xb, yb in nn.data.batches(x, y, 32, rng=rng):
            loss = nn.mse_loss(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
        if (epoch + 1) % max(1, epochs // 5) == 0:
            print(f"epoch {epoch + 1}/{epochs}: training loss {loss.item():.5f}")
    with ag.no_grad():
        rmse = float(np.sqrt(np.mean((model(x_test).data - y_test) ** 2)))
    print(f"an MLP with SiLU activations fits the trapezoid: test RMSE {rmse:.4f}")
    result = {"gradcheck": first, "gradgradcheck": second, "rmse": rmse}
    if out:
        loss = nn.mse_loss(model(x[:4]), y[:4])
        loss.backward()
        result["graph"] = save_svg(
            ag.draw_graph(loss, names=model), out_path("custom_op_graph.svg", out)
        )
        print(f"graph of one forward/backward pass saved to {result['graph']}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=200, help="training epochs (default 200)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default="out", help="folder for the graph ('' for none)")
    parser.add_argument("--quick", action="store_true", help="40 epochs")
    args = parser.parse_args(argv)
    run(40 if args.quick else args.epochs, args.seed, args.out or None)


if __name__ == "__main__":
    main()
