"""Workload 5: the whole training step under ``ag.compile`` (issue 19's targets).

Every compiled function here is the whole step: zeroing the gradients, the forward,
``backward()`` and the update, as the user writes it eagerly.

* micrograd's scalar MLP (workload 1's graph) with micrograd's loop: the compiled step,
  ``p.grad = None`` and ``p.data -= lr * p.grad`` inside, against micrograd's own step
  and the same code eagerly; and the compile time (the first call: trace, plan, code
  generation) in eager steps.
* the MNIST step (workload 3's network) with SGD and with Adam
  (``opt.zero_grad(); loss = nn.mse_loss(model(x), y); loss.backward(); opt.step()``)
  against hand-written numpy, PyTorch eager, ``torch.compile`` of the same PyTorch step
  and autograd_lite eager (see :mod:`benchmarks.whole_step`).
* seed 004's trapezoid, the post's 1-32-32-16-16-1 network trained the post's way (full
  batch of 400 points, plain gradient descent): seconds per epoch compiled, eagerly and
  in PyTorch eager, times 250,000 epochs (extrapolated from the epochs timed).

Before a row's timings count, its implementations' losses over the first few steps from
the same weights are compared (a ``same losses`` target in the row): the sides compute
the same step, and the compiled step the eager one's.
"""

from __future__ import annotations

import math
import random
import time
from typing import Any

import numpy as np

from benchmarks import mnist_step, scalar_mlp, whole_step
from benchmarks.common import (
    Job,
    Row,
    Target,
    faults_note,
    faults_per_step,
    interleaved,
    mean,
    peer,
)

POST_EPOCHS = 250_000
SCALAR_LR = 0.05
OPT_NAMES = {"sgd": "SGD", "adam": "Adam"}

# ------------------------------------------------------------------------ scalar MLP


def scalar_make(library: str, n: int) -> Any:
    """micrograd's training step on workload 1's MLP (forward, zeroing, backward, update)
    for ``compiled``, ``eager`` (autograd_lite) or ``micrograd``; the first three losses
    in ``step.info`` and, compiled, the compile time."""
    if library == "micrograd":
        if not peer("micrograd"):
            return None
        from micrograd.engine import Value
    else:
        from autograd_lite import Value
    X, y = scalar_mlp.data(n)
    zero = 0.0 if library == "micrograd" else None  # micrograd starts its grads at 0

    def build() -> Any:
        random.seed(0)  # the same weights as workload 1, on every side
        model = scalar_mlp.MLP(Value, 2, [16, 16, 1])
        params = model.parameters()

        def train(X: list, lr: float) -> Any:  # the inputs are plain floats
            scores = [model(x) for x in X]
            losses = [(1 + -yi * si).relu() for yi, si in zip(y, scores)]
            data_loss = sum(losses) * (1.0 / len(losses))
            total = data_loss + 1e-4 * sum(p * p for p in params)
            for p in params:
                p.grad = zero
            total.backward()
            for p in params:
                p.data -= lr * p.grad
            return total

        return train

    info: dict[str, Any] = {}
    if library == "compiled":
        from autograd_lite.compile import compile

        info["compile_s"] = math.inf
        for _ in range(3):  # the fastest of three first calls (as steps: the fastest turn)
            f = compile(build())
            start = time.perf_counter()
            first = f(X, SCALAR_LR)  # the trace, the plan, the generated code, one step
            info["compile_s"] = min(info["compile_s"], time.perf_counter() - start)
        info["ops"] = sum(len(p.instrs) for p in f.plans)
    else:
        f = build()
        first = f(X, SCALAR_LR)
    info["losses"] = [float(first.data)] + [float(f(X, SCALAR_LR).data) for _ in range(2)]

    def step() -> Any:
        return f(X, SCALAR_LR)

    step.info = info  # type: ignore[attr-defined]
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
    losses = {k: v["losses"] for k, v in got.info.items()}
    ref = "micrograd" if "micrograd" in losses else "eager"
    worst = max(max(abs(a - b) / abs(b) for a, b in zip(v, losses[ref])) for v in losses.values())
    targets = [
        Target("compile time / eager step", compile_s / eager, 10),
        Target(f"same losses over 3 steps, max rel. diff (vs {ref})", worst, 1e-9),
    ]
    if theirs is not None:
        targets.insert(0, Target("micrograd / compiled", theirs / ours, 400, ">="))
    bitwise = losses["compiled"] == losses["eager"]
    return [
        Row(
            f"5. scalar MLP 2-16-16-1, {n} samples, whole step (+update), compiled",
            "s",
            ours,
            {"micrograd": theirs, "eager": eager},
            target=">= 400x micrograd; compile <= 10 eager steps",
            targets=targets,
            note=(
                f"compile (first call, fastest of 3) {compile_s:.2f} s = "
                f"{compile_s / eager:.1f} eager steps, "
                f"{got.info['compiled']['ops']:,} ops in the plans; "
                f"compiled losses {'equal' if bitwise else 'NOT equal'} to eager's to the bit"
            ),
            extra={"turns_s": got.blocks, "compile_s": compile_s, "losses": losses},
        )
    ]


# ------------------------------------------------------------------------ MNIST step


def mnist_rows(
    opt_name: str, dtype: str, batches: tuple[int, ...], block: int, turns: int, spread: float
) -> list[Row]:
    names = whole_step.IMPLEMENTATIONS
    jobs = {
        (batch, name): Job(
            "whole_step",
            "make",
            (name, opt_name, dtype, batch),
            mnist_step.block_for(batch, block),
            5,
            3,
        )
        for batch in batches
        for name in names
    }
    got = interleaved(jobs, turns, spread)
    rtol = whole_step.PARITY_RTOL if dtype == "float64" else 10 * whole_step.PARITY_RTOL
    rows = []
    for batch in batches:
        keys = {name: (batch, name) for name in names}
        times: dict[str, float | None] = {
            name: got.best_turn(k) * 1e6 if k in got.blocks else None for name, k in keys.items()
        }
        ours = times.pop("compiled")
        info = {name: got.info[k] for name, k in keys.items() if k in got.info}
        targets = []
        if ours is not None and times["numpy"] is not None:
            targets.append(Target("compiled / numpy", ours / times["numpy"], 0.9))
        if ours is not None and times["torch"] is not None:
            targets.append(Target("compiled / torch", ours / times["torch"], 0.5))
        losses = {name: i["losses"] for name, i in info.items()}
        if "numpy" in losses:
            targets += whole_step.parity_targets(losses, opt_name, rtol)
        notes = []
        if "compiled" in info:
            c = info["compiled"]
            same = losses["compiled"] == losses.get("eager")
            notes.append(
                f"compiled: first call {c['first_call_s'] * 1e3:.0f} ms, {c['traces']} trace, "
                f"losses {'equal' if same else 'NOT equal'} to eager's to the bit"
            )
        tc = keys["torch.compile"]
        if tc in got.info:
            notes.append(
                f"torch.compile: first call {got.info[tc]['first_call_s']:.1f} s, "
                f"{got.info[tc]['graph_breaks']} graph breaks"
            )
        elif got.unavailable.get(tc):
            notes.append(f"torch.compile {got.unavailable[tc]}")
        if faults := faults_note({k: i["faults_per_step"] for k, i in info.items()}):
            notes.append(faults)
        rows.append(
            Row(
                f"5. MNIST whole step 784-32-10, {OPT_NAMES[opt_name]}, batch {batch}, {dtype}, "
                "compiled",
                "us",
                ours,
                times,
                target="<= 0.9x numpy, <= 0.5x torch",
                targets=targets,
                note="; ".join(notes),
                extra={
                    "losses": losses,
                    "info": info,
                    "turn_medians_us": {
                        name: [round(m * 1e6, 2) for m in got.block_medians(k)]
                        for name, k in keys.items()
                        if k in got.blocks
                    },
                },
            )
        )
    return rows


def run_mnist(
    block: int = 40,
    turns: int = 20,
    batches: tuple[int, ...] = (1, 32, 256),
    dtypes: tuple[Any, ...] = (np.float32, np.float64),
    optimizers: tuple[str, ...] = whole_step.OPTIMIZERS,
    spread: float = 20.0,
) -> list[Row]:
    """One :func:`interleaved` run per optimizer and dtype (the five implementations of
    every batch size taking turns): fewer workers at once than all 60 together."""
    return [
        row
        for opt_name in optimizers
        for dt in dtypes
        for row in mnist_rows(opt_name, np.dtype(dt).name, batches, block, turns, spread)
    ]


# ------------------------------------------------------------------------ trapezoid


def trapezoid_make(mode: str, n_train: int = 400) -> Any:
    """One full-batch epoch of plain gradient descent (lr 0.1) on the post's network, the
    whole step ``compiled``, ``eager`` or in ``torch`` eager (the same initial weights)."""
    from autograd_lite import nn

    x, y = nn.datasets.trapezoid(n_train, rng=0)
    rng = np.random.default_rng(0)
    sizes = [1, 32, 32, 16, 16, 1]
    layers: list[Any] = []
    for i in range(5):
        layers.append(nn.Linear(sizes[i], sizes[i + 1], rng=rng))
        layers.append(nn.Sigmoid() if i < 4 else nn.Tanh())
    if mode == "torch":
        torch = peer("torch")
        if not torch:
            return None
        tl: list[Any] = []
        for layer in layers:
            if isinstance(layer, nn.Linear):
                lin = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
                with torch.no_grad():
                    lin.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
                    lin.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
                tl.append(lin)
            else:
                tl.append(torch.nn.Sigmoid() if isinstance(layer, nn.Sigmoid) else torch.nn.Tanh())
        model: Any = torch.nn.Sequential(*tl)
        opt: Any = torch.optim.SGD(model.parameters(), lr=0.1)
        mse: Any = torch.nn.functional.mse_loss
        x, y = torch.from_numpy(x), torch.from_numpy(y)
    else:
        model = nn.Sequential(*layers)
        opt = nn.optim.SGD(model.parameters(), lr=0.1)
        mse = nn.mse_loss

    def train(xb: Any, yb: Any) -> Any:
        opt.zero_grad()
        loss = mse(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    if mode == "compiled":
        from autograd_lite.compile import compile

        train = compile(train)

    def epoch() -> float:
        return train(x, y).item()

    losses = [epoch() for _ in range(3)]
    epoch.info = {"losses": losses, "faults_per_step": faults_per_step(epoch)}  # type: ignore[attr-defined]
    return epoch


def run_trapezoid(turns: int = 10, block: int = 200) -> list[Row]:
    modes = ("compiled", "eager", "torch")
    jobs = {m: Job("compiled", "trapezoid_make", (m,), block, 5, 5) for m in modes}
    got = interleaved(jobs, turns)
    per_epoch = {m: got.best_turn(m) for m in modes if m in got.blocks}
    losses = {m: got.info[m]["losses"] for m in per_epoch}
    worst = max(
        max(abs(a - b) / abs(b) for a, b in zip(v, losses["eager"])) for v in losses.values()
    )
    timed = turns * block
    bitwise = losses["compiled"] == losses["eager"]
    faults = faults_note({m: got.info[m]["faults_per_step"] for m in per_epoch})
    return [
        Row(
            f"5. trapezoid 1-32-32-16-16-1, full batch of 400, {POST_EPOCHS:,} epochs, "
            "whole step compiled",
            "s",
            per_epoch["compiled"] * POST_EPOCHS,
            {m: per_epoch[m] * POST_EPOCHS if m in per_epoch else None for m in modes[1:]},
            target="report (extrapolated)",
            targets=[Target("same losses over 3 epochs, max rel. diff", worst, 1e-6)],
            note=(
                f"extrapolated from the median epoch of the fastest of {turns} turns of "
                f"{block} epochs ({timed:,} epochs timed per side): "
                + ", ".join(f"{m} {v * 1e6:.0f} us/epoch" for m, v in per_epoch.items())
                + f"; compiled losses {'equal' if bitwise else 'NOT equal'} to eager's to the bit"
                + (f"; {faults}" if faults else "")
            ),
            extra={"us_per_epoch": {m: v * 1e6 for m, v in per_epoch.items()}, "losses": losses},
        )
    ]


def run(quick: bool = False, repeat: int | None = None) -> list[Row]:
    """Every part of workload 5 (small sizes with ``quick``)."""
    rows = run_scalar(turns=repeat or (2 if quick else 7), n=30 if quick else 100)
    rows += run_mnist(
        block=10 if quick else 40,
        turns=repeat or (3 if quick else 20),
        batches=(1, 256) if quick else (1, 32, 256),
        dtypes=(np.float32,) if quick else (np.float32, np.float64),
        spread=0.0 if quick else 20.0,
    )
    rows += run_trapezoid(turns=repeat or (2 if quick else 10), block=20 if quick else 200)
    return rows
