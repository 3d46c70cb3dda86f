"""Type checkers see the API: mypy and pyright accept a user's ordinary script.

Value's operators and methods are bound at import (autograd_lite.ops.operators) and declared
for checkers in value.py; functional's functions given a Value return a Value. Each
checker runs on the script below as a user's would, with this worktree's package on its
path (errors inside the package are not the user's: mypy follows imports silently,
pyright checks only the script). Skips when a checker is not installed.
"""

from __future__ import annotations

import json
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]

SCRIPT = '''"""A user's ordinary script: what type checkers must accept without an error."""

from __future__ import annotations

from typing import assert_type

import numpy as np

import autograd_lite as ag
from autograd_lite import nn
from autograd_lite import Value

# scalars, micrograd style
a = Value(2.0, name="a")
b = Value(-3.0)
c = a * b + 1.0
d = (c**2).tanh() - 2.0 * a / b
e = -d + abs(a) + a.exp().log() + a.relu() + b.sigmoid() + (3 ** a) + (1 - a)
e.backward()
print(a.grad, e.data, e.item(), float(e), a.name)
for p in (a, b):
    p.data -= 0.01 * p.grad

# tensors: @, broadcasting with arrays, reductions, reshape, T
rng = np.random.default_rng(0)
W = Value(rng.normal(size=(3, 4)))
x = Value(rng.normal(size=(4,)), requires_grad=False)
y = np.ones(3)
h = (W @ x).tanh() * y
loss = ((h - y) ** 2).mean() + W.sum(axis=0).max() + W.T.reshape(-1).mean()
loss = loss + (np.ones((3, 4)) * W).sum() + W[0].sum() + W.reshape(2, 6).mean(dim=1).sum()
loss.backward()
grad_w: np.ndarray = W.grad
print(grad_w.shape, W.shape, W.ndim, W.size, W.dtype, loss.item())

# functions: a Value in, a Value out
z: Value = ag.exp(W) + ag.tanh(x).sum() + ag.relu(W).mean()
g = ag.grad(z.sum(), [W])
print(g[0])

# nn layers, a loss and optimizers
model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 1))
opt = nn.optim.Adam(model.parameters(), lr=1e-2)
sgd = nn.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
X = Value(rng.normal(size=(16, 4)), requires_grad=False)
T = rng.normal(size=(16, 1))
for _ in range(3):
    out = model(X)
    step_loss = nn.mse_loss(out, T)
    opt.zero_grad()
    step_loss.backward()
    opt.step()
sgd.zero_grad()

# checks and drawings
result = ag.gradcheck(lambda u: (u * u).tanh().sum(), [Value(rng.normal(size=3))])
print(result)
graph = ag.draw_graph(loss)
print(type(graph).__name__)
with ag.no_grad():
    frozen = W * 2.0
print(frozen.requires_grad)

# what the checkers infer is Value itself, not Any
assert_type(a * b + 1.0, Value)
assert_type(2.0 * a - 1, Value)
assert_type(W @ x, Value)
assert_type(np.ones(3) @ W, Value)
assert_type(a**2, Value)
assert_type(-a, Value)
assert_type(a.tanh(), Value)
assert_type(W.sum(), Value)
assert_type(W.T, Value)
assert_type(W[0], Value)
assert_type(ag.exp(W), Value)
assert_type(ag.relu(W), Value)
assert_type(ag.matmul(W, x), Value)
assert_type(ag.sum(W, axis=0), Value)
assert_type(loss.backward(), None)
assert_type(a.item(), float)
image = Value(rng.normal(size=(1, 1, 4, 4)))
kernel = Value(rng.normal(size=(1, 1, 2, 2)))
assert_type(ag.max_pool2d(ag.conv2d(image, kernel), 2), Value)
assert_type(ag.linear(x, Value(rng.normal(size=(4, 2)))), Value)
assert_type(ag.binary_cross_entropy(ag.sigmoid(a), 1.0), Value)
save = ag.save_graph
'''


@pytest.fixture
def project(tmp_path: pathlib.Path) -> pathlib.Path:
    (tmp_path / "user_script.py").write_text(SCRIPT)
    return tmp_path


def test_the_user_script_runs(project: pathlib.Path) -> None:
    pytest.importorskip("graphviz")
    env = dict(os.environ, PYTHONPATH=str(ROOT), MPLBACKEND="Agg")
    subprocess.run(
        [sys.executable, "user_script.py"], cwd=project, env=env, check=True, capture_output=True
    )


def test_mypy_finds_no_error_in_a_user_script(project: pathlib.Path) -> None:
    pytest.importorskip("mypy")
    env = dict(os.environ, MYPYPATH=str(ROOT))
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
         "--python-executable", sys.executable, "user_script.py"],
        cwd=project, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0 and "Success" in run.stdout, run.stdout + run.stderr


def test_mypy_finds_no_error_in_the_package() -> None:
    """``mypy autograd_lite nn`` (issue 20), as CI runs it, incremental: warm, ~1 s."""
    pytest.importorskip("mypy")
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--python-executable", sys.executable,
         "autograd_lite", "nn"],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert "source files" in run.stdout, run.stdout + run.stderr  # it ran and checked
    errors = [line for line in run.stdout.splitlines() if ": error:" in line]
    assert errors == [] and run.returncode == 0, "\n".join(errors)


def test_pyright_finds_no_error_in_the_package() -> None:
    """``pyright autograd_lite nn`` (issue 20), from the checkout's root, as CI runs it."""
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed")
    run = subprocess.run(
        [pyright, "autograd_lite", "nn"], cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    # the summary line itself: "0 errors" alone would also be found in "30 errors"
    assert re.search(r"(?m)^0 errors, ", run.stdout), run.stdout + run.stderr


def test_pyright_finds_no_error_in_a_user_script(project: pathlib.Path) -> None:
    pyright = shutil.which("pyright")
    if pyright is None:
        pytest.skip("pyright is not installed")
    config = {"extraPaths": [str(ROOT)], "include": ["user_script.py"],
              "pythonPath": sys.executable}  # fmt: skip
    (project / "pyrightconfig.json").write_text(json.dumps(config))
    run = subprocess.run(
        [pyright, "--outputjson"], cwd=project, capture_output=True, text=True, timeout=300
    )
    report = json.loads(run.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    assert report["summary"]["filesAnalyzed"] == 1
    assert errors == [], "\n".join(
        f"{e['range']['start']['line'] + 1}: {e['message']}" for e in errors
    )
