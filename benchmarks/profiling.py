"""Where autograd_lite spends a benchmark step: ``python -m benchmarks.profiling WORKLOAD``.

WORKLOAD is ``scalar`` (workload 1, micrograd's MLP built from scalars) or ``mnist``
(workload 3, one training step; ``--batch`` and ``--dtype`` choose which). Runs the step
under cProfile and prints the functions with the most time of their own, then by
cumulative time. cProfile adds a fixed cost to every Python call, so many-call functions
look heavier than they are: read the shares, not the absolute times.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import random
import sys

import benchmarks  # noqa: F401  (BLAS pinned before numpy is imported)


def make_step(workload: str, batch: int, dtype: str):  # type: ignore[no-untyped-def]
    if workload == "scalar":
        from autograd_lite import Value
        from benchmarks import scalar_mlp

        X, y = scalar_mlp.data(100)
        random.seed(0)
        return scalar_mlp.make_step(Value, scalar_mlp.MLP(Value, 2, [16, 16, 1]), X, y), 5
    import numpy as np

    from benchmarks import mnist_step

    return mnist_step.ours_step(mnist_step.initial(np.dtype(dtype), batch)), 2000 // batch + 20


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profiling")
    parser.add_argument("workload", choices=("scalar", "mnist"))
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--dtype", default="float64")
    parser.add_argument("--steps", type=int, default=None, help="steps to profile")
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args(argv)
    step, steps = make_step(args.workload, args.batch, args.dtype)
    step()  # warm-up
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(args.steps or steps):
        step()
    prof.disable()
    stats = pstats.Stats(prof, stream=sys.stdout).strip_dirs()
    stats.sort_stats("tottime").print_stats(args.top)
    stats.sort_stats("cumulative").print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
