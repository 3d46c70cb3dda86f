"""Seed 003, "backpropagation by hand", done by the engine.

The post's network is 1-1-2-1 with the activation phi(v) = 2v, input x = 2, target T = 2
and loss L = (Y - T)^2 / 2. It works out dL/dxh1 by the chain rule, one local derivative
at a time, and gets 40; one gradient-descent step at eta = 0.03 moves xh1 from 2 to 0.8,
and the output from 10 to 4. This script prints each of the post's local derivatives
beside the engine's, takes the step with ``nn.optim.SGD``, and draws the graph with its
gradients as an SVG (``out/backprop_by_hand.svg``).

    python examples/backprop_by_hand.py [--eta 0.03] [--out out]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from _common import out_path, save_svg

import autograd_lite as ag
from autograd_lite import Value, nn

X, T = 2.0, 2.0


def phi(v: Value) -> Value:
    """The post's activation, phi(v) = 2v (phi' = 2)."""
    return 2.0 * v


def forward(w: dict[str, Value]) -> dict[str, Value]:
    """The network, keeping every intermediate node so its gradient can be read."""
    A1 = phi(X * w["xh1"])
    A21, A22 = phi(w["hh1"] * A1), phi(w["hh2"] * A1)
    Y = phi(w["hy1"] * A21 + w["hy2"] * A22)
    L = 0.5 * (Y - T) ** 2
    for name, v in {"A1": A1, "A21": A21, "A22": A22, "Y": Y, "L": L}.items():
        v.name = name
    return {"A1": A1, "A21": A21, "A22": A22, "Y": Y, "L": L}


def local(out: Value, wrt: Value) -> float:
    """d out / d wrt, the local derivative of one edge of the post's chain."""
    (g,) = ag.grad(out, [wrt])
    return g


def run(eta: float = 0.03, out: str | None = "out") -> dict:
    """Forward, the post's local derivatives, backward, one SGD step; the key numbers.

    ``out`` is the folder for the graph picture (None: no picture).
    """
    weights = {
        "xh1": Value(2.0, name="xh1"),
        "hh1": Value(0.75, name="hh1"),
        "hh2": Value(0.25, name="hh2"),
        "hy1": Value(0.25, name="hy1"),
        "hy2": Value(0.5, name="hy2"),
    }
    n = forward(weights)
    A1, A21, A22, Y, L = n["A1"], n["A21"], n["A22"], n["Y"], n["L"]
    print(f"forward: A1 = {A1.data:g}, A21 = {A21.data:g}, A22 = {A22.data:g}, Y = {Y.data:g}")

    # the post's local derivatives (eq. 6-8) and what the engine computes for each edge
    rows = [
        ("dL/dY = Y - T", 8.0, local(L, Y)),
        ("dY/dA21 = phi'(Yin) hy1", 0.5, local(Y, A21)),
        ("dY/dA22 = phi'(Yin) hy2", 1.0, local(Y, A22)),
        ("dA21/dA1 = phi'(H21) hh1", 1.5, local(A21, A1)),
        ("dA22/dA1 = phi'(H22) hh2", 0.5, local(A22, A1)),
        ("dA1/dxh1 = phi'(H1) x", 4.0, local(A1, weights["xh1"])),
    ]
    print(f"\n{'local derivative':28} {'post':>6} {'engine':>8}")
    for label, post, engine in rows:
        print(f"{label:28} {post:6g} {engine:8g}")

    L.backward()
    grad = weights["xh1"].grad
    print(f"\ndL/dxh1 = 8 * [0.5*1.5*4 + 1*0.5*4] = 40 (post); engine: {grad:g}")

    graph = None
    if out:
        graph = save_svg(ag.draw_graph(L), out_path("backprop_by_hand.svg", out))
        print(f"graph with gradients written to {graph}")

    # one step of gradient descent on xh1 alone, as in the post
    opt = nn.optim.SGD([weights["xh1"]], lr=eta)
    opt.step()
    new_w = weights["xh1"].data
    new_y = forward(weights)["Y"].data
    print(f"xh1: 2 - {eta:g} * {grad:g} = {new_w:g} (post: 0.8)")
    print(f"new output Y = {new_y:g} (post: 4), error Y - T = {new_y - T:g} (was 8)")
    return {
        "grad": grad,
        "new_weight": new_w,
        "new_output": new_y,
        "locals": [r[2] for r in rows],
        "graph": graph,
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--eta", type=float, default=0.03, help="learning rate (default 0.03)")
    parser.add_argument(
        "--out", default="out", help="folder for the graph picture (default out/; '' for none)"
    )
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity (instant)")
    args = parser.parse_args(argv)
    run(args.eta, args.out or None)


if __name__ == "__main__":
    main()
