"""Workload 5's MNIST step whole: zero_grad, forward, backward and the update, SGD or Adam.

Five implementations of the same step of seed 002's 784-32-10 network (sigmoid, MSE), from
the same weights: hand-written numpy (forward, hand-derived backward, the update in place:
SGD is workload 3's :func:`mnist_step.numpy_step`, Adam is written here with PyTorch's
rule), autograd_lite eager and with the whole step under ``ag.compile``, PyTorch eager and
``torch.compile`` of the same PyTorch step. Every step returns the loss as a float.

:func:`make` (in a benchmark worker) builds one and runs its first :data:`PARITY_STEPS`
steps, reporting their losses (``info["losses"]``): the run compares them across the
implementations before it trusts the timings (:func:`parity`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import mnist_step
from benchmarks.common import Target, faults_per_step, peer

OPTIMIZERS = ("sgd", "adam")
ADAM_LR, BETAS, EPS = 1e-3, (0.9, 0.999), 1e-8  # PyTorch's defaults, on every side
PARITY_STEPS = 4  # losses compared: the last one after three updates
PARITY_RTOL = 1e-6
IMPLEMENTATIONS = ("compiled", "numpy", "torch", "torch.compile", "eager")


def numpy_adam_step(s: dict[str, np.ndarray]) -> Callable[[], float]:
    """By hand, with PyTorch's Adam: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
    p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)."""
    W1, b1, W2, b2, X, Y = (s[k].copy() for k in ("W1", "b1", "W2", "b2", "X", "Y"))
    params = [W1, b1, W2, b2]
    ms = [np.zeros_like(p) for p in params]
    vs = [np.zeros_like(p) for p in params]
    beta1, beta2 = BETAS
    t = 0

    def sigmoid(z: np.ndarray) -> np.ndarray:
        return 0.5 + 0.5 * np.tanh(0.5 * z)

    def step() -> float:
        nonlocal t
        a1 = sigmoid(X @ W1 + b1)
        a2 = sigmoid(a1 @ W2 + b2)
        diff = a2 - Y
        loss = float(np.mean(diff * diff))
        d2 = (2.0 / diff.size) * diff * a2 * (1 - a2)
        d1 = (d2 @ W2.T) * a1 * (1 - a1)
        grads = (X.T @ d1, d1.sum(axis=0), a1.T @ d2, d2.sum(axis=0))
        t += 1
        step_size = ADAM_LR / (1.0 - beta1**t)
        root2 = math.sqrt(1.0 - beta2**t)
        for p, g, m, v in zip(params, grads, ms, vs):
            m *= beta1
            m += (1.0 - beta1) * g
            v *= beta2
            v += (1.0 - beta2) * (g * g)
            denom = np.sqrt(v)
            denom /= root2
            denom += EPS
            p -= step_size * (m / denom)
        return loss

    return step


def ours_step(s: dict[str, np.ndarray], opt_name: str, compiled: bool) -> Callable[[], float]:
    """autograd_lite's ``nn``, the whole step eagerly or under ``ag.compile``."""
    import autograd_lite as ag
    from autograd_lite import nn

    dtype = s["W1"].dtype
    model = nn.MLP(784, [32, 10], activation="sigmoid", output_activation="sigmoid", dtype=dtype)
    params = list(model.parameters())
    for p, k in zip(params, ("W1", "b1", "W2", "b2")):
        p.data[...] = s[k]
    opt: Any = (
        nn.optim.SGD(params, lr=mnist_step.LR)
        if opt_name == "sgd"
        else nn.optim.Adam(params, lr=ADAM_LR, betas=BETAS, eps=EPS)
    )

    def train(x: np.ndarray, y: np.ndarray) -> Any:
        opt.zero_grad()
        loss = nn.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    f = ag.compile(train) if compiled else train
    X, Y = s["X"], s["Y"]

    def step() -> float:
        return f(X, Y).item()

    step.function = f  # type: ignore[attr-defined]
    return step


def torch_step(
    s: dict[str, np.ndarray], opt_name: str, compiled: bool
) -> Callable[[], float] | None:
    """PyTorch's same step, eagerly or through ``torch.compile`` (None: not installed)."""
    torch = peer("torch")
    if not torch:
        return None
    t, model = mnist_step.torch_model(torch, s)
    opt: Any = (
        torch.optim.SGD(model.parameters(), lr=mnist_step.LR)
        if opt_name == "sgd"
        else torch.optim.Adam(model.parameters(), lr=ADAM_LR, betas=BETAS, eps=EPS)
    )
    mse = torch.nn.functional.mse_loss

    def train(x: Any, y: Any) -> Any:
        opt.zero_grad()
        loss = mse(model(x), y)
        loss.backward()
        opt.step()
        return loss

    f = torch.compile(train) if compiled else train
    X, Y = t["X"], t["Y"]

    def step() -> float:
        return f(X, Y).item()

    return step


def build(name: str, s: dict[str, np.ndarray], opt_name: str) -> Callable[[], float] | None:
    if name == "numpy":
        return mnist_step.numpy_step(s) if opt_name == "sgd" else numpy_adam_step(s)
    if name in ("torch", "torch.compile"):
        return torch_step(s, opt_name, compiled=name == "torch.compile")
    return ours_step(s, opt_name, compiled=name == "compiled")


def make(name: str, opt_name: str, dtype: str, batch: int) -> Callable[[], float] | str | None:
    """One implementation's step, its first :data:`PARITY_STEPS` steps run, their losses
    and the first step's seconds (a compile's) in ``step.info``; None when the peer is not
    installed, ``"n/a: ..."`` (why) when ``torch.compile`` fails here."""
    step = build(name, mnist_step.initial(np.dtype(dtype), batch), opt_name)
    if step is None:
        return None
    start = time.perf_counter()
    try:
        losses = [step()]
    except Exception as e:  # torch.compile needs a C++ compiler, Triton..., per platform
        if name != "torch.compile":
            raise
        first = (str(e).strip().splitlines() or [""])[0][:160]
        return f"n/a: torch.compile failed here ({type(e).__name__}: {first})"
    first_s = time.perf_counter() - start
    losses += [step() for _ in range(PARITY_STEPS - 1)]
    info: dict[str, Any] = {"losses": losses, "first_call_s": first_s}
    info["faults_per_step"] = faults_per_step(step)
    if name == "torch.compile":
        from torch._dynamo.utils import counters

        info["graph_breaks"] = sum(counters["graph_break"].values())
    if name == "compiled":
        info["traces"] = step.function.traces  # type: ignore[attr-defined]
    step.info = info  # type: ignore[attr-defined]
    return step


def parity(losses: dict[str, list[float]], reference: str = "numpy") -> tuple[float, str]:
    """The largest relative difference of any implementation's losses from the
    reference's over the parity steps, and who differed most."""
    want = np.asarray(losses[reference])
    worst, who = 0.0, reference
    for name, got in losses.items():
        d = float(np.max(np.abs(np.asarray(got) - want) / np.abs(want)))
        if d > worst:
            worst, who = d, name
    return worst, who


# torch.compile's Adam keeps its step count as a float32 tensor and computes the bias
# corrections from it in float32, where 1 - 0.999 is 1.3e-5 off: its updates differ from
# eager Adam's by a few 1e-6 even in float64 (eager takes the count as a Python float)
TORCH_COMPILE_ADAM_RTOL = 1e-5


def parity_targets(losses: dict[str, list[float]], opt_name: str, rtol: float) -> list[Target]:
    """Every implementation's losses within ``rtol`` of numpy's (torch.compile's Adam
    within :data:`TORCH_COMPILE_ADAM_RTOL`, a target of its own)."""
    loose = opt_name == "adam" and "torch.compile" in losses
    strict = {k: v for k, v in losses.items() if not (loose and k == "torch.compile")}
    worst, who = parity(strict)
    targets = [Target(f"same losses over {PARITY_STEPS} steps, max rel. diff ({who})", worst, rtol)]
    if loose:
        d, _ = parity({"numpy": losses["numpy"], "torch.compile": losses["torch.compile"]})
        rtol_tc = max(rtol, TORCH_COMPILE_ADAM_RTOL)
        targets.append(Target("same losses, torch.compile (float32 step count)", d, rtol_tc))
    return targets
