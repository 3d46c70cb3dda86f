"""The benchmark suite runs, and compares like with like (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import benchmarks  # noqa: F401  (pins BLAS threads for the subprocess too, via the env)
from benchmarks import mnist_step, scalar_mlp, scaling

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_quick_run_writes_every_workload_to_json(tmp_path):
    out = tmp_path / "bench.json"
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--repeat", "2", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(out.read_text())
    names = [r["workload"] for r in data["rows"]]
    for prefix in ("1.", "2.", "3.", "4."):
        assert any(n.startswith(prefix) for n in names), prefix
    assert data["machine"]["blas_threads"] == "1"
    assert data["machine"]["numpy"] and data["machine"]["cores"]
    for row in data["rows"]:
        json.dumps(row)  # plain data all the way down
        assert {"workload", "unit", "ours", "peers", "targets", "passed"} <= row.keys()
        for t in row["targets"]:
            assert isinstance(t["passed"], bool) and isinstance(t["measured"], float)
    assert "workload" in result.stdout and "autograd_lite" in result.stdout
    assert "targets:" in result.stdout


def _op_nodes(root):
    """Nodes made by an operation (constants and leaves excluded, which micrograd wraps)."""
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
    return ops


def test_the_scalar_graphs_are_the_same_size_as_micrograds():
    pytest.importorskip("micrograd")
    import random

    from micrograd.engine import Value as MgValue

    from autograd_lite import Value

    X, y = scalar_mlp.data(10)
    counts = []
    for V in (Value, MgValue):
        random.seed(0)
        step = scalar_mlp.make_step(V, scalar_mlp.MLP(V, 2, [16, 16, 1]), X, y)
        counts.append(_op_nodes(step()))
    assert counts[0] == counts[1] > 5000


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_implementation_of_the_mnist_step_computes_the_same_step(dtype):
    """numpy by hand, autograd_lite's nn, HIPS autograd and torch: one step from the same
    weights gives the same loss and the same updated weights (the peers that are
    installed), so the timings compare the same work."""
    s = mnist_step.initial(dtype, batch=8)
    steps = {name: make(s) for name, make in mnist_step.IMPLEMENTATIONS.items()}
    steps = {k: v for k, v in steps.items() if v is not None}
    losses = {name: step() for name, step in steps.items()}
    rtol = 1e-9 if dtype == np.float64 else 2e-5
    reference = steps.pop("numpy").params()
    for name, step in steps.items():
        assert losses[name] == pytest.approx(losses["numpy"], rel=rtol), name
        for got, want in zip(step.params(), reference):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=name)
    # and the step did something: the weights moved
    assert not np.allclose(reference[0], s["W1"])


def test_gradcheck_costs_two_forward_passes_per_element():
    for n in (10, 100):
        assert scaling.gradcheck_calls(n) * n <= 2 * n + 3


def test_a_dropped_graph_is_freed_without_the_collector():
    from autograd_lite import Value

    assert scaling.freed_without_collector(Value, steps=20_000) < 0.05


def test_the_mnist_row_says_so_when_nn_is_not_available(monkeypatch):
    import autograd_lite
    from benchmarks import common

    monkeypatch.delattr(autograd_lite, "nn")  # `from autograd_lite import nn` now raises
    monkeypatch.setitem(sys.modules, "autograd_lite.nn", None)
    reason = mnist_step.make("autograd_lite", "float64", 1)
    assert isinstance(reason, str) and reason.startswith("nn not available")

    def measured(*args, **kwargs):
        return common.Interleaved(
            {("float64", 1, "numpy"): [[1e-4], [2e-4]]},
            {},
            {("float64", 1, "autograd_lite"): reason, ("float64", 1, "autograd"): None},
        )

    monkeypatch.setattr(mnist_step, "interleaved", measured)
    (row,) = mnist_step.run(block=5, turns=2, batches=(1,), dtypes=(np.float64,))
    assert row.ours is None and row.targets == [] and row.passed is None
    assert row.note.startswith("nn not available")
    assert row.peers["numpy"] == pytest.approx(100.0) and row.peers["autograd"] is None
    table = common.table([row], ["numpy", "autograd"])
    assert "100 us" in table and "MISS" not in table


def test_a_slow_spell_of_the_machine_is_left_out():
    from benchmarks.common import Interleaved

    # six turns; two of them (the 8s) taken while the machine was slow
    got = Interleaved({"a": [[1.0, 1.2], [8.0], [1.0], [8.0], [1.4], [1.2]]}, {}, {})
    assert got.block_medians("a") == [1.1, 8.0, 1.0, 8.0, 1.4, 1.2]
    assert got.best_turn("a") == 1.0
    assert got.times["a"][:3] == [1.0, 1.2, 8.0]
