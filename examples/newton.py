"""Fit a logistic regression by Newton's method: ag.hessian, and Newton-CG with ag.hvp only.

The loss is L(w) = mean(log(1 + exp(X w)) - y * (X w)) + lam/2 |w|^2 on 200 synthetic
points in 5 features (plus a bias column). Newton's step solves H d = -g with the full
Hessian (``ag.hessian``: one reverse pass per weight); Newton-CG solves it by conjugate
gradients, touching H only through Hessian-vector products (``ag.hvp``: two reverse
passes each, no Hessian formed) -- the way to go when there are too many weights for H.
Both converge quadratically: the gradient's norm roughly squares at each step.

    python examples/newton.py [--steps 8] [--quick] [--out DIR]
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Sequence

import numpy as np

import autograd_lite as ag


def problem(n: int = 200, d: int = 5, seed: int = 0, lam: float = 0.1) -> Callable:
    """The regularised logistic loss of synthetic data, as a function of the weights."""
    rng = np.random.default_rng(seed)
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    w_true = rng.standard_normal(d + 1)
    y = (rng.random(n) < 1.0 / (1.0 + np.exp(-X @ w_true))).astype(float)
    Xc, yc = ag.Value(X, requires_grad=False), ag.Value(y, requires_grad=False)

    def loss(w: ag.Value) -> ag.Value:
        z = Xc @ w
        return ag.mean(ag.log(1.0 + ag.exp(z)) - yc * z) + 0.5 * lam * ag.sum(w * w)

    return loss


def gradient(loss: Callable, w: np.ndarray) -> np.ndarray:
    return ag.vjp(loss, w)[1]


def conjugate_gradient(hv: Callable, b: np.ndarray, rtol: float = 1e-10) -> tuple[np.ndarray, int]:
    """Solve H x = b for positive definite H given only x -> H x; returns (x, products)."""
    tol = rtol * np.linalg.norm(b)
    x, r = np.zeros_like(b), b.copy()
    p, rr = r.copy(), r @ r
    for k in range(len(b)):
        if np.sqrt(rr) <= tol:
            return x, k
        hp = hv(p)
        alpha = rr / (p @ hp)
        x, r = x + alpha * p, r - alpha * hp
        rr, rr_old = r @ r, rr
        p = r + (rr / rr_old) * p
    return x, len(b)


def run(steps: int = 8, cg: bool = False, quiet: bool = False) -> dict:
    """Newton's method from w = 0; the loss, gradient norm and weights after each step."""
    loss = problem()
    w = np.zeros(6)
    history = []
    products = 0
    for step in range(steps):
        g = gradient(loss, w)
        if cg:
            d, k = conjugate_gradient(lambda v, w=w: ag.hvp(loss, w, v)[1], -g)
            products += k
        else:
            d = np.linalg.solve(ag.hessian(loss, w), -g)
        w = w + d
        value, gnorm = float(loss(ag.Value(w)).data), float(np.linalg.norm(gradient(loss, w)))
        history.append((value, gnorm))
        if not quiet:
            name = "Newton-CG" if cg else "Newton"
            print(f"{name} step {step}: loss {value:.12f}  |grad| {gnorm:.3e}")
        if gnorm < 1e-12:
            break
    return {"w": w, "history": history, "hvps": products}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=8, help="Newton steps (default 8)")
    parser.add_argument("--quick", action="store_true", help="accepted for uniformity (fast)")
    parser.add_argument(
        "--out", default="out", help="folder for newton.csv, the losses per step ('' for none)"
    )
    args = parser.parse_args(argv)
    newton = run(args.steps)
    cg = run(args.steps, cg=True)
    if args.out:
        os.makedirs(args.out, exist_ok=True)
        path = os.path.join(args.out, "newton.csv")
        with open(path, "w") as f:
            f.write("step,newton_loss,newton_grad_norm,newton_cg_loss,newton_cg_grad_norm\n")
            for k, ((a, ga), (b, gb)) in enumerate(zip(newton["history"], cg["history"])):
                f.write(f"{k},{a!r},{ga!r},{b!r},{gb!r}\n")
        print(f"wrote {path}")
    print(f"weights (Newton):    {np.array2string(newton['w'], precision=6)}")
    print(f"weights (Newton-CG): {np.array2string(cg['w'], precision=6)}  ({cg['hvps']} hvps)")


if __name__ == "__main__":
    main()
