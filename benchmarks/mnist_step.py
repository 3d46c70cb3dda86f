"""Workload 3: one training step of seed 002's MNIST network, 784-32-10, sigmoid, MSE, SGD.

Four implementations of exactly the same step (same weights, same loss, same update):
hand-written numpy (forward, hand-derived backward, in-place update: the floor for any
numpy-based engine), autograd_lite through the public ``nn`` API, HIPS autograd, and
PyTorch eager. Random data stands in for MNIST.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks.common import Row, in_fresh_process, median_time, peer

LR = 0.1
SIZES = (784, 32, 10)


def initial(dtype: Any, batch: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(SIZES[0]), 1 / np.sqrt(SIZES[1])
    return {
        "W1": rng.uniform(-b1, b1, SIZES[:2]).astype(dtype),
        "b1": rng.uniform(-b1, b1, SIZES[1]).astype(dtype),
        "W2": rng.uniform(-b2, b2, SIZES[1:]).astype(dtype),
        "b2": rng.uniform(-b2, b2, SIZES[2]).astype(dtype),
        "X": rng.random((batch, SIZES[0])).astype(dtype),
        "Y": np.eye(SIZES[2], dtype=dtype)[rng.integers(0, SIZES[2], batch)],
    }


def numpy_step(s: dict[str, np.ndarray]) -> Callable[[], float]:
    W1, b1, W2, b2, X, Y = (s[k].copy() for k in ("W1", "b1", "W2", "b2", "X", "Y"))

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 0.5 + 0.5 * np.tanh(0.5 * z)

    def step() -> float:
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        diff = a2 - Y
        loss = float(np.mean(diff * diff))
        d2 = (2.0 / diff.size) * diff * a2 * (1 - a2)
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        np.subtract(W2, LR * (a1.T @ d2), out=W2)
        np.subtract(b2, LR * d2.sum(axis=0), out=b2)
        np.subtract(W1, LR * (X.T @ d1), out=W1)
        np.subtract(b1, LR * d1.sum(axis=0), out=b1)
        return loss

    step.params = lambda: [W1, b1, W2, b2]  # type: ignore[attr-defined]
    return step


def ours_step(s: dict[str, np.ndarray]) -> Callable[[], float]:
    import nn

    dtype = s["W1"].dtype
    model = nn.Sequential(
        nn.Linear(784, 32, dtype=dtype), nn.Sigmoid(), nn.Linear(32, 10, dtype=dtype), nn.Sigmoid()
    )
    model.load_state_dict(
        {"0.weight": s["W1"], "0.bias": s["b1"], "2.weight": s["W2"], "2.bias": s["b2"]}
    )
    opt = nn.optim.SGD(model.parameters(), lr=LR)
    X, Y = s["X"], s["Y"]

    def step() -> float:
        opt.zero_grad()
        loss = nn.mse_loss(model(X), Y)
        loss.backward()
        opt.step()
        return loss.item()

    step.params = lambda: [p.data for p in model.parameters()]  # type: ignore[attr-defined]
    return step


def hips_step(s: dict[str, np.ndarray]) -> Callable[[], float] | None:
    if not peer("autograd"):
        return None
    import autograd.numpy as anp
    from autograd import value_and_grad

    def loss(params: list, X: np.ndarray, Y: np.ndarray) -> Any:
        W1, b1, W2, b2 = params
        a1 = 0.5 + 0.5 * anp.tanh(0.5 * (anp.dot(X, W1) + b1))
        a2 = 0.5 + 0.5 * anp.tanh(0.5 * (anp.dot(a1, W2) + b2))
        return anp.mean((a2 - Y) ** 2)

    vg = value_and_grad(loss)
    params = [s[k].copy() for k in ("W1", "b1", "W2", "b2")]
    X, Y = s["X"], s["Y"]

    def step() -> float:
        value, grads = vg(params, X, Y)
        for p, g in zip(params, grads):
            p -= LR * g
        return float(value)

    step.params = lambda: params  # type: ignore[attr-defined]
    return step


def torch_step(s: dict[str, np.ndarray]) -> Callable[[], float] | None:
    torch = peer("torch")
    if not torch:
        return None
    t = {k: torch.from_numpy(v.copy()) for k, v in s.items()}
    l1, l2 = torch.nn.Linear(784, 32), torch.nn.Linear(32, 10)
    with torch.no_grad():
        for layer, w, b in ((l1, "W1", "b1"), (l2, "W2", "b2")):
            layer.weight = torch.nn.Parameter(t[w].T.contiguous())
            layer.bias = torch.nn.Parameter(t[b])
    model = torch.nn.Sequential(l1, torch.nn.Sigmoid(), l2, torch.nn.Sigmoid())
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    X, Y = t["X"], t["Y"]
    mse = torch.nn.functional.mse_loss

    def step() -> float:
        opt.zero_grad()
        loss = mse(model(X), Y)
        loss.backward()
        opt.step()
        return loss.item()

    step.params = lambda: [  # type: ignore[attr-defined]
        l1.weight.detach().numpy().T,
        l1.bias.detach().numpy(),
        l2.weight.detach().numpy().T,
        l2.bias.detach().numpy(),
    ]
    return step


IMPLEMENTATIONS = {
    "numpy": numpy_step,
    "autograd_lite": ours_step,
    "autograd": hips_step,
    "torch": torch_step,
}


def measure(name: str, dtype: str, batch: int, repeat: int) -> float | None:
    """Median microseconds per step of one implementation, in this process (None: missing)."""
    step = IMPLEMENTATIONS[name](initial(np.dtype(dtype), batch))
    if step is None:
        return None
    return median_time(step, max(5, repeat // max(1, batch // 16)), warmup=3) * 1e6


def run(
    repeat: int = 200,
    batches: tuple[int, ...] = (1, 32, 256),
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
) -> list[Row]:
    """Each implementation in a fresh interpreter: large temporaries make the allocator's
    history (what earlier code freed and trimmed) part of a step's cost."""
    rows = []
    for dtype in dtypes:
        name_of_dtype = np.dtype(dtype).name
        for batch in batches:
            times: dict[str, float | None] = {
                name: in_fresh_process("mnist_step", "measure", name, name_of_dtype, batch, repeat)
                for name in IMPLEMENTATIONS
            }
            ours = times.pop("autograd_lite")
            floor = times["numpy"]
            others = [t for k, t in times.items() if k != "numpy" and t is not None]
            ok = ours <= 1.25 * floor and all(ours <= 0.8 * t for t in others)
            rows.append(
                Row(
                    f"3. MNIST step 784-32-10, batch {batch}, {name_of_dtype}",
                    "us",
                    ours,
                    times,
                    target="<= 1.25x numpy, <= 0.8x peers",
                    passed=ok,
                    note=f"{ours / floor:.2f}x numpy",
                )
            )
    return rows
