"""Jacobians forward vs reverse, and hvp vs forming the Hessian, beside torch.autograd.functional.

``python -m benchmarks.transforms [--quick]``. A *tall* function (few inputs, many
outputs) wants forward mode: one forward pass per input element; a *wide* one (many
inputs, few outputs) wants reverse mode: one reverse pass per output element. An
``hvp`` costs two reverse passes, whatever the size; forming the Hessian costs one
reverse pass per input element. Each figure is the best of a few runs, in milliseconds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

import autograd_lite as ag


def _best(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times) * 1e3


def problems(quick: bool) -> dict[str, tuple[int, int]]:
    """name -> (input size, output size)."""
    small, big = (4, 64) if quick else (8, 256)
    return {"tall": (small, big), "wide": (big, small)}


def _ours(n_in: int, n_out: int, seed: int = 0) -> tuple[Callable, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((n_in, n_out)) / np.sqrt(n_in)
    x = rng.standard_normal(n_in)

    def f(x: ag.Value) -> ag.Value:  # R^n_in -> R^n_out, three ops deep
        return ag.tanh(x @ ag.Value(a, requires_grad=False)) * 2.0 + 0.5

    return f, x, a


def run(quick: bool = False, repeat: int = 3) -> list[tuple[str, str, float]]:
    """Rows ``(case, library and method, milliseconds)``."""
    rows: list[tuple[str, str, float]] = []
    try:
        import torch
        import torch.autograd.functional as TF
    except ImportError:  # pragma: no cover - torch is optional
        torch = None
    for name, (n_in, n_out) in problems(quick).items():
        f, x, a = _ours(n_in, n_out)
        case = f"jacobian {name} ({n_in} -> {n_out})"
        for mode in ("forward", "reverse"):
            ms = _best(lambda f=f, x=x, mode=mode: ag.jacobian(f, x, mode=mode), repeat)
            rows.append((case, f"autograd_lite {mode}", ms))
        if torch is not None:
            ta, tx = torch.tensor(a), torch.tensor(x)

            def tf(x: torch.Tensor, ta: torch.Tensor = ta) -> torch.Tensor:
                return torch.tanh(torch.sum(x[:, None] * ta, 0)) * 2.0 + 0.5  # (vmap-safe @)

            for strategy in ("forward-mode", "reverse-mode"):
                vec = strategy == "forward-mode"  # torch's forward mode needs vectorize
                ms = _best(
                    lambda s=strategy, v=vec, tf=tf, tx=tx: TF.jacobian(
                        tf, tx, strategy=s, vectorize=v
                    ),
                    repeat,
                )
                rows.append((case, f"torch {strategy} (vectorize={vec})", ms))
    n = 32 if quick else 128
    rng = np.random.default_rng(1)
    x, v = rng.standard_normal(n), rng.standard_normal(n)

    def g(x: ag.Value) -> ag.Value:
        return ag.sum(ag.tanh(x) ** 3.0) + ag.sum(x * x) * 0.5

    case = f"hvp vs hessian (n = {n})"
    rows.append((case, "autograd_lite hvp", _best(lambda: ag.hvp(g, x, v), repeat)))
    rows.append((case, "autograd_lite hessian @ v", _best(lambda: ag.hessian(g, x) @ v, repeat)))
    if torch is not None:
        tx, tv = torch.tensor(x), torch.tensor(v)

        def tg(x: torch.Tensor) -> torch.Tensor:
            return torch.sum(torch.tanh(x) ** 3.0) + torch.sum(x * x) * 0.5

        rows.append((case, "torch hvp", _best(lambda: TF.hvp(tg, tx, tv), repeat)))
        rows.append((case, "torch hessian @ v", _best(lambda: TF.hessian(tg, tx) @ tv, repeat)))
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.transforms", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="small sizes")
    args = parser.parse_args(argv)
    last = None
    for case, who, ms in run(quick=args.quick):
        if case != last:
            print(case)
            last = case
        print(f"  {who:<40} {ms:10.2f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
