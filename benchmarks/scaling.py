"""Workload 4: cost per node as graphs grow, freeing without the collector, gradcheck cost."""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
from typing import Any

import numpy as np

from benchmarks.common import Row, Target, peer


def _chain(Value: type, n_ops: int, tensor: bool) -> Any:
    y = x = Value(np.full(100, 0.1) if tensor else 0.1)
    for _ in range(n_ops):
        y = (y * 1.0001 + 0.5).tanh() if tensor else y * 1.0001 + 0.5
    return x, y


def per_node(Value: type, sizes: list[int], tensor: bool) -> list[tuple[int, float, float]]:
    """(nodes, backward seconds per node, bytes per node) for chains of growing length."""
    nodes_per_op = 3 if tensor else 2
    out = []
    for n in sizes:
        n_ops = n // nodes_per_op
        tracemalloc.start()
        before = tracemalloc.get_traced_memory()[0]
        x, y = _chain(Value, n_ops, tensor)
        built = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        seed = np.ones(100) if tensor else None
        elapsed = math.inf
        for _ in range(3):  # best of three: one stray collector pass is not the trend
            t = time.perf_counter()
            y.backward(seed)
            elapsed = min(elapsed, time.perf_counter() - t)
        out.append(
            (
                n_ops * nodes_per_op,
                elapsed / (n_ops * nodes_per_op),
                (built - before) / (n_ops * nodes_per_op),
            )
        )
        del x, y
    return out


def freed_without_collector(Value: type, steps: int = 100_000, backward: bool = True) -> float:
    """Fraction of a graph's memory still held after its output is dropped, collector off.

    A few kilobytes always stay in the interpreter's free lists (e.g. 2,000 cached tuples),
    whatever the graph's size; the rest is what the graph keeps alive.
    (micrograd's recursive backward cannot walk a chain this deep, so for it the graph is
    only built: its closures hold their own output from the moment they are made.)
    """
    gc.collect()
    gc.disable()
    try:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
        x = Value(1.0)
        y = x
        for _ in range(steps):
            y = y * 1.0001 + 0.5
        if backward:
            y.backward()
        built = tracemalloc.get_traced_memory()[0]
        del x, y
        left = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
    finally:
        gc.enable()
        gc.collect()
    return (left - base) / (built - base)


def gradcheck_calls(n: int) -> float:
    """Forward calls gradcheck makes for an n-element input, divided by n."""
    import autograd_lite as ag

    calls = 0

    def f(v: Any) -> Any:
        nonlocal calls
        calls += 1
        return (v * v).sum()

    ag.gradcheck(f, [ag.Value(np.linspace(0.1, 1.0, n))])
    return calls / n


def run(max_scalar: int = 1_000_000, max_tensor: int = 100_000) -> list[Row]:
    from autograd_lite import Value

    rows = []
    for tensor, top in ((False, max_scalar), (True, max_tensor)):
        sizes = [10**k for k in range(3, 7) if 10**k <= top]
        stats = per_node(Value, sizes, tensor)
        times = [s[1] for s in stats]
        mems = [s[2] for s in stats]
        kind = "tensor (100,)" if tensor else "scalar"
        spread_t = max(times) / min(times)
        spread_m = max(mems) / min(mems)
        detail = ", ".join(f"{n:.0e}: {t * 1e6:.2f} us {m:.0f} B" for n, t, m in stats)
        rows.append(
            Row(
                f"4. {kind} chain {sizes[0]:.0e}..{sizes[-1]:.0e} nodes: backward time/node spread",
                "x",
                spread_t,
                target="flat (< 2x): linear",
                targets=[
                    Target("max/min backward time per node", spread_t, 2, "<"),
                    Target("max/min bytes per node", spread_m, 2, "<"),
                ],
                note=f"memory/node spread {spread_m:.2f}x; " + detail,
                extra={"nodes_us_bytes": [(n, t * 1e6, m) for n, t, m in stats]},
            )
        )
    steps = 20_000 if max_scalar < 100_000 else 100_000
    ours_left = freed_without_collector(Value, steps)
    mg_left = None
    if peer("micrograd"):
        from micrograd.engine import Value as MgValue

        mg_left = freed_without_collector(MgValue, steps, backward=False)
    rows.append(
        Row(
            f"4. share of a {2 * steps:,}-node graph held after del (collector off)",
            "x",
            ours_left,
            {"micrograd": mg_left},
            target="~0: freed at once",
            targets=[Target("share of the graph's bytes still held", ours_left, 0.05, "<")],
            note="fraction of the graph's bytes still allocated (free lists keep a few kB)",
        )
    )
    ratios = {n: gradcheck_calls(n) for n in (10, 100, 1000)}
    rows.append(
        Row(
            "4. gradcheck forward calls / input elements",
            "x",
            ratios[1000],
            target="about 2 (<= 2n + 3 calls)",
            targets=[Target(f"calls / n at n={n}", r, 2 + 3 / n) for n, r in ratios.items()],
            note=", ".join(
                f"n={n}: {r * n:.0f} calls ({r:.2f} per element)" for n, r in ratios.items()
            ),
            extra={"calls_per_element": ratios},
        )
    )
    return rows
