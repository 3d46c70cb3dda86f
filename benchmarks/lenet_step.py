"""A LeNet-style training step at batch 32: autograd_lite's ``nn`` against PyTorch eager.

``python -m benchmarks.lenet_step [--quick] [--size 28|8] [--dtype float32|float64]``.

The network is LeNet-5 on 28x28 images (MNIST's size; ``--size 8`` adapts it to the 8x8
digits): conv 5x5 (1 -> 6, padding 2), ReLU, 2x2 max pool, conv 5x5 (6 -> 16), ReLU,
2x2 max pool, flatten, Linear 400 -> 120 -> 84 -> 10 with ReLUs, cross-entropy, SGD.
Both sides start from the same weights (PyTorch's model is ``nn.utils.to_torch`` of
ours) and take the same step. Each side runs in its own fresh interpreter with one BLAS
thread (``benchmarks/__init__.py``) and ``torch.set_num_threads(1)``, the sides taking
turns (``common.interleaved``); a figure is the median step of the side's fastest turn.
The target is autograd_lite within 2x of PyTorch's time.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import Job, Row, Target, interleaved, median, peer

LR = 0.05
TARGET = 2.0  # autograd_lite's step time / PyTorch's, at most


def model(size: int, dtype: Any, seed: int = 0) -> Any:
    """LeNet-5 (size 28) or its 8x8 version (3x3 convolutions, padding 1)."""
    from autograd_lite import nn

    rng = np.random.default_rng(seed)
    if size == 28:
        convs = [
            nn.Conv2d(1, 6, 5, padding=2, rng=rng, dtype=dtype),
            nn.Conv2d(6, 16, 5, rng=rng, dtype=dtype),
        ]
        flat = 16 * 5 * 5
    else:
        convs = [
            nn.Conv2d(1, 6, 3, padding=1, rng=rng, dtype=dtype),
            nn.Conv2d(6, 16, 3, padding=1, rng=rng, dtype=dtype),
        ]
        flat = 16 * (size // 4) ** 2
    return nn.Sequential(
        convs[0],
        nn.ReLU(),
        nn.MaxPool2d(2),
        convs[1],
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(flat, 120, rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.Linear(120, 84, rng=rng, dtype=dtype),
        nn.ReLU(),
        nn.Linear(84, 10, rng=rng, dtype=dtype),
    )


def data(size: int, dtype: Any, batch: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((batch, 1, size, size)).astype(dtype), rng.integers(0, 10, batch)


def ours_step(size: int, dtype: Any, batch: int) -> Callable[[], float]:
    from autograd_lite import nn

    m = model(size, dtype)
    opt = nn.optim.SGD(m.parameters(), lr=LR)
    X, y = data(size, dtype, batch)

    def step() -> float:
        loss = nn.cross_entropy(m(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    step.params = lambda: [p.data for p in m.parameters()]  # type: ignore[attr-defined]
    return step


def torch_step(size: int, dtype: Any, batch: int) -> Callable[[], float] | None:
    torch = peer("torch")  # one thread
    if not torch:
        return None
    from autograd_lite import nn

    m = nn.utils.to_torch(model(size, dtype))
    opt = torch.optim.SGD(m.parameters(), lr=LR)
    X, y = (torch.from_numpy(a) for a in data(size, dtype, batch))
    cross_entropy = torch.nn.functional.cross_entropy

    def step() -> float:
        loss = cross_entropy(m(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    def params() -> list[np.ndarray]:  # in our layout: Linear weights back to (in, out)
        out = []
        for p in m.parameters():
            a = p.detach().numpy()
            out.append(a.T if a.ndim == 2 else a)
        return out

    step.params = params  # type: ignore[attr-defined]
    return step


IMPLEMENTATIONS = {"autograd_lite": ours_step, "torch": torch_step}


def make(name: str, dtype: str, batch: int, size: int = 28) -> Callable[[], float] | None:
    """The step of one implementation (in a benchmark worker); None without PyTorch."""
    return IMPLEMENTATIONS[name](size, np.dtype(dtype), batch)


def run(
    batch: int = 32,
    size: int = 28,
    dtype: str = "float32",
    block: int = 20,
    turns: int = 10,
    spread: float = 10.0,
) -> Row:
    jobs = {
        name: Job("lenet_step", "make", (name, dtype, batch, size), block, 3, 2)
        for name in IMPLEMENTATIONS
    }
    got = interleaved(jobs, turns, spread)
    times = {k: got.best_turn(k) * 1e6 if k in got.blocks else None for k in IMPLEMENTATIONS}
    ours = times.pop("autograd_lite")
    targets = []
    if ours is not None and times["torch"] is not None:
        targets.append(Target("autograd_lite / torch", ours / times["torch"], TARGET))
    return Row(
        f"LeNet step {size}x{size}, batch {batch}, {dtype}",
        "us",
        ours,
        times,
        target=f"<= {TARGET:g}x torch",
        targets=targets,
        note="" if times["torch"] is not None else "torch is not installed",
        extra={
            "turns": turns,
            "steps_per_turn": block,
            "median_of_all_steps_us": {k: round(median(v) * 1e6, 1) for k, v in got.times.items()},
        },
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.lenet_step", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run of a few seconds")
    parser.add_argument("--batch", type=int, default=32, help="batch size (default 32)")
    parser.add_argument("--size", type=int, choices=(8, 28), default=28, help="image side")
    parser.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    args = parser.parse_args(argv)
    row = run(
        args.batch,
        args.size,
        args.dtype,
        block=3 if args.quick else 20,
        turns=2 if args.quick else 10,
        spread=0.0 if args.quick else 10.0,
    )
    print(row.workload)
    print(f"  autograd_lite  {row.ours:10.0f} us per step")
    torch_us = row.peers.get("torch")
    if torch_us is None:
        print(f"  torch          (not installed: {row.note})")
        return 0
    print(f"  torch eager    {torch_us:10.0f} us per step (one thread)")
    for t in row.targets:
        print(
            f"  ratio {t.measured:.2f}x (target <= {t.limit:g}x): {'PASS' if t.passed else 'MISS'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
