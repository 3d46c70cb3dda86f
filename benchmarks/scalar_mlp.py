"""Workload 1: micrograd's own demo, MLP 2-16-16-1 on 100 samples, built from scalars.

Both sides build the identical graph: micrograd's ``nn.MLP`` on its side, and on ours the
same Neuron/Layer/MLP classes written over ``autograd_lite.Value`` scalars (Python floats),
with micrograd's max-margin loss and L2 regularisation (its demo.ipynb).
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.common import Job, Row, Target, interleaved, mean, median, peer


class Neuron:
    def __init__(self, Value: type, nin: int, nonlin: bool = True) -> None:
        self.w = [Value(random.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin

    def __call__(self, x: list) -> Any:
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list:
        return [*self.w, self.b]


class MLP:
    """micrograd.nn.MLP, node for node."""

    def __init__(self, Value: type, nin: int, nouts: list[int]) -> None:
        sizes = [nin, *nouts]
        self.layers = [
            [Neuron(Value, sizes[i], nonlin=i != len(nouts) - 1) for _ in range(sizes[i + 1])]
            for i in range(len(nouts))
        ]

    def __call__(self, x: list) -> Any:
        for layer in self.layers:
            out = [n(x) for n in layer]
            x = out[0] if len(out) == 1 else out
        return x

    def parameters(self) -> list:
        return [p for layer in self.layers for n in layer for p in n.parameters()]


def data(n: int = 100) -> tuple[list[list[float]], list[float]]:
    rng = random.Random(1337)
    X = [[rng.uniform(-2, 2), rng.uniform(-1.5, 1.5)] for _ in range(n)]
    y = [1.0 if x[1] > 0.5 * x[0] ** 2 - 0.8 else -1.0 for x in X]
    return X, y


def make_step(Value: type, model: Any, X: list, y: list) -> Any:
    params = model.parameters()

    def step() -> Any:
        inputs = [[Value(a), Value(b)] for a, b in X]
        scores = [model(x) for x in inputs]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        reg_loss = 1e-4 * sum(p * p for p in params)
        total = data_loss + reg_loss
        for p in params:
            p.grad = 0.0 if hasattr(p, "_backward") else None  # micrograd starts grads at 0
        total.backward()
        return total

    return step


def count_nodes(root: Any) -> tuple[int, int]:
    """(Value objects in the graph, nodes made by an operation) below ``root``.

    micrograd wraps every constant operand (the 1 in ``1 + x``, the 0 that ``sum`` starts
    from) in a Value of its own, so its first count is a little higher; the second, the
    operations recorded, is the same for both engines when the graphs are identical.
    """
    children = (lambda v: v._prev) if hasattr(root, "_prev") else (lambda v: v.inputs)
    seen, stack, ops = {id(root)}, [root], 0
    while stack:
        v = stack.pop()
        kids = [c for c in children(v) if hasattr(c, "data")]
        ops += bool(kids)
        for c in kids:
            if id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return len(seen), ops


def make(library: str, n: int) -> Any:
    """The step for one library (in a benchmark worker), with its graph's node counts."""
    if library == "micrograd":
        if not peer("micrograd"):
            return None
        from micrograd.engine import Value
    else:
        from autograd_lite import Value
    X, y = data(n)
    random.seed(0)
    step = make_step(Value, MLP(Value, 2, [16, 16, 1]), X, y)
    step.info = count_nodes(step())  # type: ignore[attr-defined]
    return step


def run(turns: int = 7, n: int = 100, block: int = 3) -> list[Row]:
    """Each library in a fresh interpreter, the two taking ``turns`` turns of ``block``
    steps (see ``common.interleaved``). The figure is the mean step of the fastest turn:
    the mean, because the collector's full passes come every one or two steps and must
    be counted in proportion; the fastest turn, because this VM slows down for seconds
    at a time (see ``Interleaved.best_turn``)."""
    libs = ("autograd_lite", "micrograd")
    jobs = {lib: Job("scalar_mlp", "make", (lib, n), block) for lib in libs}
    got = interleaved(jobs, turns)
    ours = got.best_turn("autograd_lite", mean)
    theirs = got.best_turn("micrograd", mean) if "micrograd" in got.blocks else None
    values, ops = got.info["autograd_lite"]
    note = f"{values:,} nodes, {ops:,} of them ops"
    if theirs is not None:
        mg_values, mg_ops = got.info["micrograd"]
        note += (
            f"; micrograd {mg_values:,} nodes (it wraps each constant in a node too), "
            f"{mg_ops:,} of them ops"
        )
    return [
        Row(
            f"1. scalar MLP 2-16-16-1, {n} samples, fwd+bwd",
            "s",
            ours,
            {"micrograd": theirs},
            target=">= 6x faster than micrograd",
            targets=[]
            if theirs is None
            else [Target("micrograd / autograd_lite", theirs / ours, 6, ">=")],
            note=note,
            extra={
                "turns_s": got.blocks,
                "median_of_all_steps_s": {k: median(v) for k, v in got.times.items()},
                "nodes": got.info,
            },
        )
    ]
