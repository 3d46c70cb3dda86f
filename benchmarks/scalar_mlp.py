"""Workload 1: micrograd's own demo, MLP 2-16-16-1 on 100 samples, built from scalars.

Both sides build the identical graph: micrograd's ``nn.MLP`` on its side, and on ours the
same Neuron/Layer/MLP classes written over ``autograd_lite.Value`` scalars (Python floats),
with micrograd's max-margin loss and L2 regularisation (its demo.ipynb).
"""

from __future__ import annotations

import random
from typing import Any

from benchmarks.common import Row, in_fresh_process, median_time, peer


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


def count_nodes(root: Any) -> int:
    children = (lambda v: v._prev) if hasattr(root, "_prev") else (lambda v: v.inputs)
    seen, stack = {id(root)}, [root]
    while stack:
        v = stack.pop()
        for c in children(v):
            if hasattr(c, "data") and id(c) not in seen:
                seen.add(id(c))
                stack.append(c)
    return len(seen)


def measure(library: str, repeat: int, n: int) -> tuple[float, int]:
    """(median seconds per step, nodes in the graph) for one library, in this process."""
    if library == "micrograd":
        from micrograd.engine import Value
    else:
        from autograd_lite import Value
    X, y = data(n)
    random.seed(0)
    step = make_step(Value, MLP(Value, 2, [16, 16, 1]), X, y)
    return median_time(step, repeat), count_nodes(step())


def run(repeat: int = 5, n: int = 100) -> list[Row]:
    """Each library in a fresh interpreter (see ``common.in_fresh_process``)."""
    ours, nodes = in_fresh_process("scalar_mlp", "measure", "autograd_lite", repeat, n)
    theirs = mg_nodes = None
    if peer("micrograd"):
        theirs, mg_nodes = in_fresh_process("scalar_mlp", "measure", "micrograd", repeat, n)
    note = f"{nodes:,} nodes" + (
        ""
        if mg_nodes is None
        else f" (micrograd: {mg_nodes:,}, which counts each constant as a node too)"
    )
    return [
        Row(
            f"1. scalar MLP 2-16-16-1, {n} samples, fwd+bwd",
            "s",
            ours,
            {"micrograd": theirs},
            target=">= 5x faster than micrograd",
            passed=None if theirs is None else theirs / ours >= 5,
            note=note,
        )
    ]
