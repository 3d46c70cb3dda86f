"""``python -m benchmarks [--quick] [--json PATH] [--only NAME] [--repeat N]``.

Importing the ``benchmarks`` package (which ``python -m benchmarks`` does first) pins BLAS
to one thread before numpy is loaded; see ``benchmarks/__init__.py``.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

from benchmarks import common, compiled, memory, mnist_step, scalar_mlp, scaling

WORKLOADS = ("scalar", "memory", "mnist", "scaling", "compiled")
PEERS = ["numpy", "micrograd", "autograd", "torch", "torch.compile", "eager"]
INSTALL = {
    "micrograd": 'pip install -e ".[bench]"',
    "autograd": 'pip install -e ".[bench]"',
    "torch": "pip install torch==2.13.0",
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="autograd_lite side by side with micrograd, HIPS autograd and PyTorch "
        "(BLAS pinned to one thread). In the table, (k x) after a peer's figure is the "
        "peer's time (or bytes) divided by autograd_lite's: above 1, autograd_lite wins.",
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run in ~30 s")
    parser.add_argument("--json", metavar="PATH", help="also write every number to PATH")
    parser.add_argument(
        "--only", choices=WORKLOADS, action="append", help="run only this workload (repeatable)"
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="turns per library in workloads 1 (default 7, of 3 steps each) and 3 "
        "(default 20, of 40 steps at batch 1, fewer at larger batches)",
    )
    args = parser.parse_args(argv)
    only = args.only or list(WORKLOADS)
    started = time.perf_counter()
    info = common.machine()
    info["cpu_busy_before"] = common.cpu_busy()
    print(common.header(info), flush=True)
    _warn_if_busy(info["cpu_busy_before"], "before the run")
    load = common.OtherLoad()
    rows: list[common.Row] = []
    if "scalar" in only:
        print("... 1. scalar MLP", flush=True)
        rows += scalar_mlp.run(
            turns=args.repeat or (2 if args.quick else 7),
            n=30 if args.quick else 100,
            block=1 if args.quick else 3,
        )
    if "memory" in only:
        print("... 2. memory per node", flush=True)
        rows += memory.run(steps=10_000 if args.quick else 100_000)
    if "mnist" in only:
        print("... 3. MNIST step", flush=True)
        rows += mnist_step.run(
            block=10 if args.quick else 40,
            turns=args.repeat or (3 if args.quick else 20),
            batches=(1, 256) if args.quick else (1, 32, 256),
            spread=0.0 if args.quick else 20.0,
        )
    if "scaling" in only:
        print("... 4. scaling", flush=True)
        rows += scaling.run(
            max_scalar=10_000 if args.quick else 1_000_000,
            max_tensor=10_000 if args.quick else 100_000,
        )
    if "compiled" in only:
        print("... 5. ag.compile", flush=True)
        rows += compiled.run(quick=args.quick, repeat=args.repeat)
    info["cpu_used_by_others"] = load.share()
    info["seconds"] = round(time.perf_counter() - started, 1)

    peers = [p for p in PEERS if any(p in r.peers for r in rows)]
    print()
    print(common.table(rows, peers))
    print(
        "(k x) after a peer's figure: the peer's time or bytes / autograd_lite's "
        "(above 1: autograd_lite is faster or smaller).\nIn workloads 1 and 3 each side runs "
        "in a fresh interpreter and the sides take turns; the figure is the fastest turn's\n"
        "mean step (workload 1) or median step (workload 3): this VM slows down for seconds "
        "at a time (docs/performance.md)."
    )
    notes = [f"{r.workload}: {r.note}" for r in rows if r.note]
    if notes:
        print("\nnotes:")
        print("\n".join("  " + n for n in notes))
    missing = [p for p in ("micrograd", "autograd", "torch") if info[p] == "not installed"]
    for p in missing:
        print(f"  {p} is not installed: its column is skipped ({INSTALL[p]})")
    print("\ntargets:")
    passed = missed = 0
    for r in rows:
        for t in r.targets:
            passed += t.passed
            missed += not t.passed
            print(f"  {'PASS' if t.passed else 'MISS'}  {r.workload}: {t.text()}")
    print(f"  {passed} met, {missed} missed")
    _warn_if_busy(info["cpu_used_by_others"], "with other processes during the run")
    if not math.isnan(info["cpu_used_by_others"]):
        print(f"other processes used {info['cpu_used_by_others']:.0%} of the CPU during the run")
    print(f"\n{info['seconds']:.0f} s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(
                {
                    "machine": info,
                    "quick": args.quick,
                    "args": vars(args),
                    "rows": [r.as_json() for r in rows],
                    "targets": {"met": passed, "missed": missed},
                },
                f,
                indent=2,
                default=str,
            )
        print(f"wrote {args.json}")
    return 0


def _warn_if_busy(busy: float, when: str) -> None:
    if not math.isnan(busy) and busy > 0.25:
        print(
            f"WARNING: {busy:.0%} of the CPU was busy {when}: every time here is "
            "inflated and noisier; rerun on a quiet machine"
        )


if __name__ == "__main__":
    sys.exit(main())
