"""examples/newton.py: Newton's method with ag.hessian and Newton-CG with ag.hvp agree,
converge quadratically to the same weights, and match PyTorch's Hessian-based step."""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples"))

import newton


def test_newton_and_newton_cg_converge_to_the_same_minimum():
    full = newton.run(quiet=True)
    cg = newton.run(cg=True, quiet=True)
    g_full = [g for _, g in full["history"]]
    assert len(g_full) <= 5 and g_full[-1] < 1e-12
    for a, b in itertools.pairwise(g_full[:-1]):
        assert b < 10 * a * a  # quadratic convergence
    assert full["history"][-1][0] == pytest.approx(0.555659198108, abs=1e-12)
    np.testing.assert_allclose(cg["w"], full["w"], rtol=1e-9, atol=1e-12)
    assert 0 < cg["hvps"] <= 6 * len(cg["history"])  # CG in 6 dimensions: <= 6 hvps a step


def test_the_first_newton_step_matches_torch():
    torch = pytest.importorskip("torch")
    import autograd_lite as ag

    loss = newton.problem()
    w = np.zeros(6)
    H, g = ag.hessian(loss, w), newton.gradient(loss, w)
    rng = np.random.default_rng(0)  # the same data as newton.problem()
    X = np.hstack([rng.standard_normal((200, 5)), np.ones((200, 1))])
    w_true = rng.standard_normal(6)
    y = (rng.random(200) < 1.0 / (1.0 + np.exp(-X @ w_true))).astype(float)
    tX, ty = torch.tensor(X), torch.tensor(y)

    def tloss(w):
        z = tX @ w
        return torch.mean(torch.log(1.0 + torch.exp(z)) - ty * z) + 0.05 * torch.sum(w * w)

    tw = torch.zeros(6, dtype=torch.float64)
    np.testing.assert_allclose(H, torch.autograd.functional.hessian(tloss, tw).numpy(), rtol=1e-12)
    np.testing.assert_allclose(g, torch.autograd.functional.vjp(tloss, tw)[1].numpy(), rtol=1e-12)
