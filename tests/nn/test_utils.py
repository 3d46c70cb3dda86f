"""Gradient clipping against the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograd_lite import Value, nn


def params_with_grads():
    a, b, c = Value(np.zeros(2)), Value(np.zeros((2, 2))), Value(0.0)
    a.grad, b.grad, c.grad = np.array([3.0, 0.0]), np.array([[0.0, 4.0], [0.0, 0.0]]), 12.0
    return [a, b, c, Value(np.zeros(1))]  # the last has no grad and is skipped


def test_clip_grad_norm_scales_all_grads_together():
    ps = params_with_grads()
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.0)
    assert total == pytest.approx(13.0)  # sqrt(9 + 16 + 144)
    scale = 1.0 / (13.0 + 1e-6)
    np.testing.assert_allclose(ps[0].grad, [3 * scale, 0.0])
    np.testing.assert_allclose(ps[1].grad[0, 1], 4 * scale)
    assert ps[2].grad == pytest.approx(12 * scale)
    assert ps[3].grad is None


def test_clip_grad_norm_leaves_small_grads_and_supports_inf_norm():
    ps = params_with_grads()
    assert nn.utils.clip_grad_norm_(ps, max_norm=100.0) == pytest.approx(13.0)
    np.testing.assert_array_equal(ps[0].grad, [3.0, 0.0])
    ps = params_with_grads()
    assert nn.utils.clip_grad_norm_(ps, max_norm=6.0, norm_type=math.inf) == 12.0
    assert ps[2].grad == pytest.approx(6.0, rel=1e-6)
    with pytest.raises(ValueError, match="max_norm"):
        nn.utils.clip_grad_norm_(ps, -1.0)


def test_clip_grad_value_clamps_elementwise():
    ps = params_with_grads()
    nn.utils.clip_grad_value_(ps, 3.5)
    np.testing.assert_array_equal(ps[0].grad, [3.0, 0.0])
    np.testing.assert_array_equal(ps[1].grad, [[0.0, 3.5], [0.0, 0.0]])
    assert ps[2].grad == 3.5


def test_other_norm_types_follow_the_formula():
    ps = params_with_grads()
    total = nn.utils.clip_grad_norm_(ps, max_norm=100.0, norm_type=1.0)
    assert total == pytest.approx(3 + 4 + 12)
    ps = params_with_grads()
    total = nn.utils.clip_grad_norm_(ps, max_norm=1.0, norm_type=3.0)
    assert total == pytest.approx((27 + 64 + 1728) ** (1 / 3))
    assert ps[2].grad == pytest.approx(12 / (total + 1e-6))


def test_a_non_finite_norm_leaves_the_grads_or_raises():
    a = Value(np.zeros(2))
    a.grad = np.array([np.inf, 1.0])
    assert nn.utils.clip_grad_norm_([a], 1.0) == math.inf
    np.testing.assert_array_equal(a.grad, [np.inf, 1.0])
    with pytest.raises(ValueError, match="total norm of the gradients is inf"):
        nn.utils.clip_grad_norm_([a], 1.0, error_if_nonfinite=True)


def test_float32_grads_stay_float32():
    a = Value(np.zeros(3, dtype=np.float32))
    a.grad = np.array([3.0, 4.0, 0.0], dtype=np.float32)
    nn.utils.clip_grad_norm_([a], 1.0)
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad, [0.6, 0.8, 0.0], rtol=1e-5)


def test_clipping_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    grads = [rng.standard_normal((3, 4)), rng.standard_normal(4)]
    for norm_type in (2.0, 1.0, math.inf):
        ours = [Value(np.zeros_like(g)) for g in grads]
        theirs = [torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads]
        for p, t, g in zip(ours, theirs, grads):
            p.grad, t.grad = g.copy(), torch.tensor(g)
        total = nn.utils.clip_grad_norm_(ours, 0.5, norm_type)
        total_t = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type)
        assert total == pytest.approx(float(total_t), rel=1e-12)
        for p, t in zip(ours, theirs):
            np.testing.assert_allclose(p.grad, t.grad.numpy(), rtol=1e-12)
