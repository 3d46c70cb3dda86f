"""What a gradient check of a real model costs: fast mode against the full Jacobian.

``python -m benchmarks.gradcheck_cost`` checks every parameter of ``nn.MLP(784, [32, 10])``
(25,450 of them) on a batch of 4: once in fast mode (random projections v^T J u, a few
forward and backward passes per parameter tensor) and once in full mode (two forward
passes per parameter element, one backward pass per output element). Target: fast mode
under one second.
"""

from __future__ import annotations

import time

import numpy as np

import autograd_lite as ag
from autograd_lite import nn
from autograd_lite.gradcheck import GradcheckResult

FAST_TARGET_SECONDS = 1.0


def check(fast_mode: bool, seed: int = 0) -> tuple[float, GradcheckResult]:
    """gradcheck of the MLP's parameters on a batch of 4; returns (seconds, result)."""
    model = nn.MLP(784, [32, 10], rng=seed)
    x = ag.Value(np.random.default_rng(seed).standard_normal((4, 784)), requires_grad=False)
    start = time.perf_counter()
    result = ag.gradcheck(model, [x], fast_mode=fast_mode, raise_exception=False)
    return time.perf_counter() - start, result


def main() -> int:
    """Time fast mode, then full mode, and print both; exit status 1 if fast mode misses."""
    n_params = sum(p.size for p in nn.MLP(784, [32, 10], rng=0).parameters())
    print(f"gradcheck of nn.MLP(784, [32, 10]): {n_params} parameters, batch of 4")
    fast_s, fast = check(True)
    print(
        f"  fast mode: {fast_s:8.3f} s  ({fast.forward_passes} forward, "
        f"{fast.backward_passes} backward passes; {'passed' if fast else 'FAILED'}; "
        f"target < {FAST_TARGET_SECONDS:g} s: {'PASS' if fast_s < FAST_TARGET_SECONDS else 'MISS'})"
    )
    full_s, full = check(False)
    print(
        f"  full mode: {full_s:8.3f} s  ({full.forward_passes} forward, "
        f"{full.backward_passes} backward passes; {'passed' if full else 'FAILED'})"
    )
    print(f"  full / fast: {full_s / fast_s:.0f}x")
    return 0 if fast and full and fast_s < FAST_TARGET_SECONDS else 1


if __name__ == "__main__":
    raise SystemExit(main())
