"""Gradient clipping against the formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn
from autograd_lite import Value


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
