"""``python -m benchmarks [--quick] [--json PATH] [--only NAME] [--repeat N]``."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from benchmarks import common, memory, mnist_step, scalar_mlp, scaling

WORKLOADS = ("scalar", "memory", "mnist", "scaling")
PEERS = ["numpy", "micrograd", "autograd", "torch"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="autograd_lite side by side with micrograd, HIPS autograd and PyTorch "
        "(BLAS pinned to one thread). In the table, (k x) after a peer's figure is the "
        "peer's time (or bytes) divided by autograd_lite's: above 1, autograd_lite wins.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in ~30 s")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    parser.add_argument("--only", choices=WORKLOADS, action="append", help="run only these")
    parser.add_argument("--repeat", type=int, default=None, help="timed runs per measurement")
    args = parser.parse_args(argv)
    only = args.only or list(WORKLOADS)
    info = common.machine()
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)
    rows: list[common.Row] = []
    if "scalar" in only:
        rows += scalar_mlp.run(
            repeat=args.repeat or (2 if args.quick else 7), n=30 if args.quick else 100
        )
    if "memory" in only:
        rows += memory.run(steps=10_000 if args.quick else 100_000)
    if "mnist" in only:
        rows += mnist_step.run(
            repeat=args.repeat or (20 if args.quick else 300),
            batches=(1, 256) if args.quick else (1, 32, 256),
        )
    if "scaling" in only:
        rows += scaling.run(
            max_scalar=10_000 if args.quick else 1_000_000,
            max_tensor=10_000 if args.quick else 100_000,
        )
    print()
    print(common.table(rows, [p for p in PEERS if any(p in r.peers for r in rows)]))
    print()
    for r in rows:
        if r.note:
            print(f"{r.workload}: {r.note}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {"machine": info, "quick": args.quick, "rows": [asdict(r) for r in rows]},
                f,
                indent=2,
                default=str,
            )
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
