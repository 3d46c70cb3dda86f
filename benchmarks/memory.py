"""Workload 2: bytes per scalar node, a 100,000-step chain y = y * 1.0001 + 0.5."""

from __future__ import annotations

import tracemalloc
from typing import Any

from benchmarks.common import Row, peer


def bytes_per_node(Value: type, steps: int) -> float:
    tracemalloc.start()
    try:
        x = Value(1.0)
        before = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(steps):
            y = y * 1.0001 + 0.5
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    del y
    return (after - before) / (2 * steps)


def run(steps: int = 100_000) -> list[Row]:
    from autograd_lite import Value

    ours = bytes_per_node(Value, steps)
    theirs: Any = None
    if peer("micrograd"):
        from micrograd.engine import Value as MgValue

        theirs = bytes_per_node(MgValue, steps)
    return [
        Row(
            f"2. memory per scalar node ({steps:,}-step chain)",
            "B",
            ours,
            {"micrograd": theirs},
            target="<= 1/3 of micrograd",
            passed=None if theirs is None else ours <= theirs / 3,
        )
    ]
