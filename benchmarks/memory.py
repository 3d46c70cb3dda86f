"""Workload 2: bytes per scalar node, a 100,000-step chain y = y * 1.0001 + 0.5.

tracemalloc counts every byte Python allocates while the chain is built; divided by the
nodes recorded (two per step: the product and the sum). The figure compared is what the
graph holds once built ("current"); the peak while building and, for autograd_lite, what
the graph holds after ``backward()`` (gradients stored on every node) are kept too.
"""

from __future__ import annotations

import tracemalloc
from typing import Any

from benchmarks.common import Row, Target, peer


def bytes_per_node(Value: type, steps: int, backward: bool = False) -> dict[str, float]:
    """{"built", "peak", and with ``backward`` "after_backward"}: bytes per node."""
    nodes = 2 * steps
    tracemalloc.start()
    try:
        x = Value(1.0)
        before = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        y = x
        for _ in range(steps):
            y = y * 1.0001 + 0.5
        built, peak = tracemalloc.get_traced_memory()
        out = {"built": (built - before) / nodes, "peak": (peak - before) / nodes}
        if backward:
            y.backward()
            out["after_backward"] = (tracemalloc.get_traced_memory()[0] - before) / nodes
    finally:
        tracemalloc.stop()
    del x, y
    return out


def run(steps: int = 100_000) -> list[Row]:
    from autograd_lite import Value

    ours = bytes_per_node(Value, steps, backward=True)
    theirs: Any = None
    if peer("micrograd"):
        from micrograd.engine import Value as MgValue

        # micrograd's backward sorts the graph recursively: a chain this deep exceeds
        # Python's recursion limit, so only the built graph is measured on its side
        theirs = bytes_per_node(MgValue, steps)
    built = theirs["built"] if theirs else None
    return [
        Row(
            f"2. memory per scalar node ({steps:,}-step chain)",
            "B",
            ours["built"],
            {"micrograd": built},
            target="<= 1/3 of micrograd",
            targets=[]
            if built is None
            else [Target("autograd_lite / micrograd", ours["built"] / built, 1 / 3)],
            note=(
                f"tracemalloc, graph built: peak while building {ours['peak']:.0f} B/node"
                + (f" (micrograd {theirs['peak']:.0f})" if theirs else "")
                + f"; after backward (a grad on every node) {ours['after_backward']:.0f} B/node"
            ),
            extra={"autograd_lite": ours, "micrograd": theirs},
        )
    ]
