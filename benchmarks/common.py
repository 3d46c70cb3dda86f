"""Timing, machine description and the result table shared by the workloads."""

from __future__ import annotations

import contextlib
import datetime
import gc
import importlib.metadata
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


def median_time(fn: Callable[[], Any], repeat: int, warmup: int = 1) -> float:
    """Median wall time of ``fn()`` in seconds over ``repeat`` runs (the collector stays on:
    its cost is part of real use)."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def in_fresh_process(module: str, function: str, *args: Any) -> Any:
    """Call ``benchmarks.<module>.<function>(*args)`` in a new interpreter; its JSON result.

    For workloads that the garbage collector dominates: CPython decides when to run a full
    collection from what the previous ones found, so a library measured after another in
    the same process inherits that history. A fresh process gives each side a clean heap.
    """
    code = (
        "import json, sys, benchmarks\n"
        f"from benchmarks.{module} import {function}\n"
        f"print(json.dumps({function}(*json.loads(sys.argv[1]))))"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    )
    done = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark worker {module}.{function} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def peer(name: str) -> Any | None:
    """Import a peer library, or None when it is not installed."""
    try:
        if name == "micrograd":
            import micrograd.engine

            return micrograd
        if name == "autograd":
            import autograd

            return autograd
        if name == "torch":
            import torch

            torch.set_num_threads(1)
            return torch
    except ImportError:
        return None
    raise ValueError(name)


@dataclass
class Row:
    """One line of the table: a workload, our figure, each peer's, and a target."""

    workload: str
    unit: str
    ours: float
    peers: dict[str, float | None] = field(default_factory=dict)
    target: str = ""
    passed: bool | None = None
    note: str = ""


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    info: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "blas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
        "gc_threshold": gc.get_threshold(),
    }
    try:
        from threadpoolctl import threadpool_info

        blas = [p for p in threadpool_info() if p.get("user_api") == "blas"]
        if blas:
            info["blas"] = f"{blas[0].get('internal_api')} {blas[0].get('version')} "
            info["blas"] += f"({blas[0].get('architecture')}, {blas[0].get('num_threads')} thread)"
    except ImportError:
        pass
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        info["commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            timeout=5,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    for lib in ("micrograd", "autograd", "torch"):
        # from the package metadata: importing torch here would put its objects on the heap
        # that every later garbage collection walks, slowing the scalar workloads
        try:
            info[lib] = importlib.metadata.version(lib)
        except importlib.metadata.PackageNotFoundError:
            info[lib] = "not installed"
    return info


def fmt(x: float | None, unit: str) -> str:
    if x is None:
        return "-"
    if unit == "s":
        return f"{x * 1e3:.1f} ms" if x < 10 else f"{x:.1f} s"
    if unit == "us":
        return f"{x:.0f} us" if x >= 100 else f"{x:.1f} us"
    if unit == "B":
        return f"{x:.0f} B"
    if unit == "x":
        return f"{x:.2f}x"
    return f"{x:.3g} {unit}"


def table(rows: list[Row], peers: list[str]) -> str:
    head = ["workload", "autograd_lite", *peers, "target", ""]
    lines = [head]
    for r in rows:
        cells = [r.workload, fmt(r.ours, r.unit)]
        for p in peers:
            v = r.peers.get(p)
            ratio = f" ({v / r.ours:.1f}x)" if v and r.ours and r.unit in ("s", "us", "B") else ""
            cells.append("-" if v is None else fmt(v, r.unit) + ratio)
        cells.append(r.target)
        cells.append("" if r.passed is None else ("PASS" if r.passed else "MISS"))
        lines.append(cells)
    widths = [max(len(row[i]) for row in lines) for i in range(len(head))]
    out = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in lines]
    out.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(out)
