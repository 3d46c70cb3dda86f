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

from benchmarks.common import Job, Row, Target, interleaved, median, peer

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


class NnUnavailable(Exception):
    """The ``nn`` package is missing or lacks part of the API this workload uses."""


def ours_step(s: dict[str, np.ndarray]) -> Callable[[], float]:
    """The step through autograd_lite's public ``nn`` API (raises NnUnavailable without it)."""
    try:
        from autograd_lite import nn

        dtype = s["W1"].dtype
        model = nn.MLP(
            784, [32, 10], activation="sigmoid", output_activation="sigmoid", dtype=dtype
        )
        params = list(model.parameters())
        opt = nn.optim.SGD(params, lr=LR)
        mse_loss = nn.mse_loss
    except (ImportError, AttributeError, TypeError) as e:
        raise NnUnavailable(f"nn not available ({type(e).__name__}: {e})") from None
    for p, k in zip(params, ("W1", "b1", "W2", "b2")):  # the same starting weights as the rest
        if p.data.shape != s[k].shape:
            raise NnUnavailable(f"nn.MLP parameter of shape {p.data.shape} where {k} is expected")
        p.data[...] = s[k]
    X, Y = s["X"], s["Y"]

    def step() -> float:
        opt.zero_grad()
        loss = mse_loss(model(X), Y)
        loss.backward()
        opt.step()
        return loss.item()

    step.params = lambda: [p.data for p in params]  # type: ignore[attr-defined]
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


def torch_model(torch: Any, s: dict[str, np.ndarray]) -> tuple[dict[str, Any], Any]:
    """The workload's tensors and network in PyTorch, from the same starting weights."""
    t = {k: torch.from_numpy(v.copy()) for k, v in s.items()}
    l1, l2 = torch.nn.Linear(784, 32), torch.nn.Linear(32, 10)
    with torch.no_grad():
        for layer, w, b in ((l1, "W1", "b1"), (l2, "W2", "b2")):
            layer.weight = torch.nn.Parameter(t[w].T.contiguous())
            layer.bias = torch.nn.Parameter(t[b])
    return t, torch.nn.Sequential(l1, torch.nn.Sigmoid(), l2, torch.nn.Sigmoid())


def torch_step(s: dict[str, np.ndarray]) -> Callable[[], float] | None:
    torch = peer("torch")
    if not torch:
        return None
    t, model = torch_model(torch, s)
    l1, l2 = model[0], model[2]
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


def make(name: str, dtype: str, batch: int) -> Callable[[], float] | str | None:
    """The step of one implementation (in a benchmark worker): None when the peer is not
    installed, a message when autograd_lite's ``nn`` is not available."""
    try:
        return IMPLEMENTATIONS[name](initial(np.dtype(dtype), batch))
    except NnUnavailable as e:
        return str(e)


def block_for(batch: int, steps: int) -> int:
    """Steps per turn: ``steps`` at batch 1, fewer for larger batches (at least 5)."""
    return max(5, steps // max(1, (batch + 15) // 16))


def run(
    block: int = 40,
    turns: int = 20,
    batches: tuple[int, ...] = (1, 32, 256),
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
    spread: float = 20.0,
) -> list[Row]:
    """Every implementation of every configuration in its own fresh interpreter, all
    taking ``turns`` turns spread over ``spread`` seconds (see ``common.interleaved``).
    The figure of each is the median step of its fastest turn (see
    ``Interleaved.best_turn``); every turn's median is kept in the JSON."""
    configs = [(np.dtype(dt).name, b) for dt in dtypes for b in batches]
    jobs = {
        (dtype, batch, name): Job(
            "mnist_step", "make", (name, dtype, batch), block_for(batch, block), 5, 3
        )
        for dtype, batch in configs
        for name in IMPLEMENTATIONS
    }
    got = interleaved(jobs, turns, spread)
    rows = []
    for dtype, batch in configs:
        keys = {name: (dtype, batch, name) for name in IMPLEMENTATIONS}
        times: dict[str, float | None] = {
            name: got.best_turn(k) * 1e6 if k in got.blocks else None for name, k in keys.items()
        }
        ours = times.pop("autograd_lite")
        targets = []
        note = ""
        if ours is None:
            note = got.unavailable.get(keys["autograd_lite"]) or "autograd_lite did not run"
        elif times["numpy"] is not None:
            targets.append(Target("autograd_lite / numpy", ours / times["numpy"], 1.25))
            targets += [
                Target(f"autograd_lite / {k}", ours / t, 0.8)
                for k, t in times.items()
                if k != "numpy" and t is not None
            ]
        rows.append(
            Row(
                f"3. MNIST step 784-32-10, batch {batch}, {dtype}",
                "us",
                ours,
                times,
                target="<= 1.25x numpy, <= 0.8x peers",
                targets=targets,
                note=note,
                extra={
                    "turns": turns,
                    "steps_per_turn": block_for(batch, block),
                    "median_of_all_steps_us": {
                        name: round(median(got.times[k]) * 1e6, 2)
                        for name, k in keys.items()
                        if k in got.blocks
                    },
                    "turn_medians_us": {
                        name: [round(m * 1e6, 2) for m in got.block_medians(k)]
                        for name, k in keys.items()
                        if k in got.blocks
                    },
                },
            )
        )
    return rows
