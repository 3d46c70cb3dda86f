"""Workload 5: ``ag.compile`` on the steps of workloads 1 and 3, and on seed 004's trapezoid.

* micrograd's scalar MLP (workload 1's graph, the loss function compiled): the compiled
  step against micrograd and against the same code eagerly, and the compile time (the
  first call: trace, plan, code generation) in eager steps.
* the MNIST step (workload 3): the loss ``nn.mse_loss(model(X), Y)`` compiled, with the
  same ``zero_grad``/``backward``/``SGD.step`` around it, against hand-written numpy,
  PyTorch eager and autograd_lite eager.
* seed 004's trapezoid, the post's 1-32-32-16-16-1 network trained the post's way (full
  batch of 400 points, plain gradient descent): seconds per epoch compiled and eagerly,
  times 250,000 epochs (extrapolated from the epochs timed; the table says so).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import mnist_step, scalar_mlp
from benchmarks.common import Job, Row, Target, interleaved, mean

POST_EPOCHS = 250_000


# ------------------------------------------------------------------------ scalar MLP


def scalar_make(library: str, n: int) -> Any:
    """The scalar MLP step: ``compiled``, ``eager`` (workload 1's) or ``micrograd``."""
    if library != "compiled":
        return scalar_mlp.make("autograd_lite" if library == "eager" else library, n)
    from autograd_lite import Value
    from autograd_lite.compile import compile

    X, y = scalar_mlp.data(n)
    random.seed(0)  # the same weights as workload 1
    model = scalar_mlp.MLP(Value, 2, [16, 16, 1])
    params = model.parameters()

    def loss(X: list) -> Any:  # workload 1's loss; the inputs are plain floats
        scores = [model(x) for x in X]
        losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
        data_loss = sum(losses) * (1.0 / len(losses))
        return data_loss + 1e-4 * sum(p * p for p in params)

    seconds = math.inf
    for _ in range(3):  # the fastest of three first calls (as steps: the fastest turn)
        compiled = compile(loss)
        start = time.perf_counter()
        compiled(X)  # the trace, the plan, the generated code
        seconds = min(seconds, time.perf_counter() - start)

    def step() -> Any:
        total = compiled(X)
        for p in params:
            p.grad = None
        total.backward()
        return total

    step.info = {"compile_s": seconds, "ops": len(compiled.plans[0].instrs)}  # type: ignore[attr-defined]
    return step


def run_scalar(turns: int = 7, n: int = 100, block: int = 3) -> list[Row]:
    jobs = {
        "compiled": Job("compiled", "scalar_make", ("compiled", n), block * 10),
        "eager": Job("compiled", "scalar_make", ("eager", n), block),
        "micrograd": Job("compiled", "scalar_make", ("micrograd", n), block),
    }
    got = interleaved(jobs, turns)
    ours = got.best_turn("compiled", mean)
    eager = got.best_turn("eager", mean)
    theirs = got.best_turn("micrograd", mean) if "micrograd" in got.blocks else None
    compile_s = got.info["compiled"]["compile_s"]
    targets = [Target("compile time / eager step", compile_s / eager, 20)]
    if theirs is not None:
        targets.insert(0, Target("micrograd / compiled", theirs / ours, 30, ">="))
    return [
        Row(
            f"5. scalar MLP 2-16-16-1, {n} samples, fwd+bwd, compiled",
            "s",
            ours,
            {"micrograd": theirs, "eager": eager},
            target=">= 30x micrograd; compile <= 20 eager steps",
            targets=targets,
            note=(
                f"compile (first call, fastest of 3) {compile_s:.2f} s = "
                f"{compile_s / eager:.1f} eager steps, "
                f"{got.info['compiled']['ops']:,} ops in the plan"
            ),
            extra={"turns_s": got.blocks, "compile_s": compile_s},
        )
    ]


# ------------------------------------------------------------------------ MNIST step


def compiled_mnist_step(s: dict[str, np.ndarray]) -> Callable[[], float]:
    """Workload 3's step through ``nn`` with the loss function compiled."""
    from autograd_lite import nn
    from autograd_lite.compile import compile

    dtype = s["W1"].dtype
    model = nn.MLP(784, [32, 10], activation="sigmoid", output_activation="sigmoid", dtype=dtype)
    params = list(model.parameters())
    for p, k in zip(params, ("W1", "b1", "W2", "b2")):
        p.data[...] = s[k]
    opt = nn.optim.SGD(params, lr=mnist_step.LR)
    loss_fn = compile(lambda X, Y: nn.mse_loss(model(X), Y))
    X, Y = s["X"], s["Y"]

    def step() -> float:
        opt.zero_grad()
        loss = loss_fn(X, Y)
        loss.backward()
        opt.step()
        return loss.item()

    step.params = lambda: [p.data for p in params]  # type: ignore[attr-defined]
    return step


MNIST = {
    "compiled": compiled_mnist_step,
    "numpy": mnist_step.numpy_step,
    "torch": mnist_step.torch_step,
    "eager": mnist_step.ours_step,
}


def mnist_make(name: str, dtype: str, batch: int) -> Any:
    return MNIST[name](mnist_step.initial(np.dtype(dtype), batch))


def run_mnist(
    block: int = 40,
    turns: int = 20,
    batches: tuple[int, ...] = (1, 32, 256),
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
    spread: float = 20.0,
) -> list[Row]:
    configs = [(np.dtype(dt).name, b) for dt in dtypes for b in batches]
    jobs = {
        (dtype, batch, name): Job(
            "compiled", "mnist_make", (name, dtype, batch), mnist_step.block_for(batch, block), 5, 3
        )
        for dtype, batch in configs
        for name in MNIST
    }
    got = interleaved(jobs, turns, spread)
    rows = []
    for dtype, batch in configs:
        times = {
            name: got.best_turn(key) * 1e6 if (key := (dtype, batch, name)) in got.blocks else None
            for name in MNIST
        }
        ours = times.pop("compiled")
        targets = []
        if ours is not None and times["numpy"] is not None:
            targets.append(Target("compiled / numpy", ours / times["numpy"], 1.0))
        if ours is not None and times["torch"] is not None:
            targets.append(Target("compiled / torch", ours / times["torch"], 1.0, "<"))
        rows.append(
            Row(
                f"5. MNIST step 784-32-10, batch {batch}, {dtype}, compiled",
                "us",
                ours,
                times,
                target="<= 1.0x numpy, < torch",
                targets=targets,
                extra={
                    "turn_medians_us": {
                        name: [round(m * 1e6, 2) for m in got.block_medians(k)]
                        for name in MNIST
                        if (k := (dtype, batch, name)) in got.blocks
                    }
                },
            )
        )
    return rows


# ------------------------------------------------------------------------ trapezoid


def trapezoid_make(mode: str, n_train: int = 400) -> Any:
    """One full-batch epoch of plain gradient descent (lr 0.1) on the post's network."""
    from autograd_lite import nn
    from autograd_lite.compile import compile

    x, y = nn.datasets.trapezoid(n_train, rng=0)
    rng = np.random.default_rng(0)
    sizes = [1, 32, 32, 16, 16, 1]
    layers: list[Any] = []
    for i in range(5):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], rng=rng))
        layers.append(nn.Sigmoid() if i < 4 else nn.Tanh())
    model = nn.Sequential(*layers)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    def loss_fn(xb: Any, yb: Any) -> Any:
        return nn.mse_loss(model(xb), yb)

    loss = compile(loss_fn) if mode == "compiled" else loss_fn

    def epoch() -> float:
        value = loss(x, y)
        opt.zero_grad()
        value.backward()
        opt.step()
        return value.item()

    return epoch


def run_trapezoid(turns: int = 10, block: int = 200) -> list[Row]:
    jobs = {m: Job("compiled", "trapezoid_make", (m,), block, 5, 5) for m in ("compiled", "eager")}
    got = interleaved(jobs, turns)
    per_epoch = {m: got.best_turn(m) for m in jobs}
    timed = turns * block
    return [
        Row(
            f"5. trapezoid 1-32-32-16-16-1, full batch of 400, {POST_EPOCHS:,} epochs, compiled",
            "s",
            per_epoch["compiled"] * POST_EPOCHS,
            {"eager": per_epoch["eager"] * POST_EPOCHS},
            target="report (extrapolated)",
            note=(
                f"extrapolated from the median epoch of the fastest of {turns} turns of "
                f"{block} epochs ({timed:,} epochs timed per side): compiled "
                f"{per_epoch['compiled'] * 1e6:.0f} us/epoch, eager "
                f"{per_epoch['eager'] * 1e6:.0f} us/epoch"
            ),
            extra={"us_per_epoch": {m: v * 1e6 for m, v in per_epoch.items()}},
        )
    ]


def run(quick: bool = False, repeat: int | None = None) -> list[Row]:
    """Every part of workload 5 (small sizes with ``quick``)."""
    rows = run_scalar(turns=repeat or (2 if quick else 7), n=30 if quick else 100)
    rows += run_mnist(
        block=10 if quick else 40,
        turns=repeat or (3 if quick else 20),
        batches=(1, 256) if quick else (1, 32, 256),
        spread=0.0 if quick else 20.0,
    )
    rows += run_trapezoid(turns=repeat or (2 if quick else 10), block=20 if quick else 200)
    return rows
