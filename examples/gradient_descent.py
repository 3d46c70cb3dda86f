"""Seed 002, section 3: plain gradient descent on the paraboloid g(a, b) = a^2 + b^2.

Starting from (a, b) = (10, 10) with eta = 0.3, every step multiplies both coordinates
by 1 - 2 * 0.3 = 0.4. The script prints the post's step table in the post's format
(the error is g at the point before the step, (a, b) the point after it); the gradient
comes from backprop and the step from ``nn.optim.SGD``. The error per step is plotted
into ``out/gradient_descent.png`` when matplotlib is installed.

    python examples/gradient_descent.py [--steps 7] [--eta 0.3] [--out out]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from _common import out_path, save_plot

from autograd_lite import Value, nn


def run(
    a0: float = 10.0,
    b0: float = 10.0,
    eta: float = 0.3,
    steps: int = 7,
    out: str | None = None,
) -> list[str]:
    """Gradient descent from (a0, b0); the printed table lines (and a plot into ``out``)."""
    a, b = Value(a0, name="a"), Value(b0, name="b")
    opt = nn.optim.SGD([a, b], lr=eta)
    lines, errors = [], []
    for step in range(steps):
        error = a**2 + b**2
        opt.zero_grad()
        error.backward()
        opt.step()
        line = f"Step: {step:>2}, (a, b): ({a.data:>1.2}, {b.data:>1.2}) Error: {error.data:>3.5}"
        print(line)
        lines.append(line)
        errors.append(error.data)
    if out:

        def draw(plt):
            plt.semilogy(range(len(errors)), errors, marker="o")
            plt.xlabel("step")
            plt.ylabel("error a^2 + b^2 (before the step)")
            plt.title(f"gradient descent on a^2 + b^2, eta = {eta:g}")

        if save_plot(draw, out_path("gradient_descent.png", out)):
            print(f"error curve saved to {out_path('gradient_descent.png', out)}")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=7, help="number of steps (default 7)")
    parser.add_argument("--eta", type=float, default=0.3, help="learning rate (default 0.3)")
    parser.add_argument("--out", default="out", help="folder for the plot ('' for none)")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity (instant)")
    args = parser.parse_args(argv)
    run(eta=args.eta, steps=args.steps, out=args.out or None)


if __name__ == "__main__":
    main()
