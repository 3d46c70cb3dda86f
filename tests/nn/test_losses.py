"""Losses: values against the formulas, gradients against finite differences, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as ag
import nn
from autograd_lite import Value
from autograd_lite.testing import arrays, shapes


def softmax_np(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@given(shapes(min_dims=1, max_dims=2).flatmap(lambda s: st.tuples(arrays(s), arrays(s))))
def test_mse_value_and_gradient(pt):
    p, t = pt
    assert nn.mse_loss(Value(p), t).item() == pytest.approx(np.mean((p - t) ** 2))
    assert nn.mse_loss(Value(p), t, "sum").item() == pytest.approx(np.sum((p - t) ** 2))
    np.testing.assert_allclose(nn.mse_loss(Value(p), t, "none").data, (p - t) ** 2)
    for reduction in ("mean", "sum", "none"):
        assert ag.gradcheck(lambda v, r=reduction: nn.mse_loss(v, t, r), [Value(p)])
    assert ag.gradcheck(lambda v, w: nn.MSELoss()(v, w), [Value(p), Value(t)])


def test_mse_refuses_shapes_that_would_broadcast():
    with pytest.raises(
        ValueError, match=r"prediction has shape \(4, 1\) but target has shape \(4,\)"
    ):
        nn.mse_loss(Value(np.zeros((4, 1))), np.zeros(4))
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.mse_loss(Value(np.zeros(2)), np.zeros(2), reduction="avg")


@given(
    batch=st.integers(1, 4),
    classes=st.integers(2, 5),
    data=st.data(),
)
def test_cross_entropy_with_indices_and_one_hot(batch, classes, data):
    z = data.draw(arrays((batch, classes)))
    y = np.array(data.draw(st.lists(st.integers(0, classes - 1), min_size=batch, max_size=batch)))
    expected = -np.log(softmax_np(z)[np.arange(batch), y])
    assert nn.cross_entropy(Value(z), y).item() == pytest.approx(expected.mean())
    np.testing.assert_allclose(nn.cross_entropy(Value(z), y, "none").data, expected)
    one_hot = np.eye(classes)[y]
    assert nn.cross_entropy(Value(z), one_hot).item() == pytest.approx(expected.mean())
    assert ag.gradcheck(lambda v: nn.cross_entropy(v, y), [Value(z)])
    assert ag.gradcheck(lambda v: nn.CrossEntropyLoss("sum")(v, one_hot), [Value(z)])
    # the gradient of mean cross-entropy is (softmax - one_hot) / batch
    v = Value(z)
    nn.cross_entropy(v, y).backward()
    np.testing.assert_allclose(v.grad, (softmax_np(z) - one_hot) / batch, atol=1e-12)


def test_cross_entropy_is_stable_for_huge_logits():
    z = Value(np.array([[1000.0, 0.0, -1000.0], [0.0, 1000.0, 1000.0]]))
    loss = nn.cross_entropy(z, np.array([0, 1]))
    assert loss.item() == pytest.approx(np.log(2) / 2)
    loss.backward()
    assert np.all(np.isfinite(z.grad))


def test_cross_entropy_single_sample_and_bad_labels():
    z = Value(np.array([1.0, 2.0, 0.5]))
    assert nn.cross_entropy(z, 1).item() == pytest.approx(-np.log(softmax_np(z.data)[1]))
    with pytest.raises(ValueError, match=r"labels must be in \[0, 3\)"):
        nn.cross_entropy(Value(np.zeros((2, 3))), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"\(3,\) labels for logits of shape \(2, 3\)"):
        nn.cross_entropy(Value(np.zeros((2, 3))), np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="class indices"):
        nn.cross_entropy(Value(np.zeros((2, 3))), np.array([0.5, 1.0]))


@given(
    shapes(min_dims=1, max_dims=2).flatmap(
        lambda s: st.tuples(arrays(s, 0.05, 0.95), arrays(s, 0.0, 1.0))
    )
)
def test_binary_cross_entropy_value_and_gradient(pt):
    p, t = pt
    expected = -(t * np.log(p) + (1 - t) * np.log(1 - p))
    assert nn.binary_cross_entropy(Value(p), t).item() == pytest.approx(expected.mean())
    assert ag.gradcheck(lambda v: nn.BCELoss()(v, t), [Value(p)])
    logits = np.log(p / (1 - p))
    got = nn.binary_cross_entropy_with_logits(Value(logits), t).item()
    assert got == pytest.approx(expected.mean())
    assert ag.gradcheck(lambda v: nn.binary_cross_entropy_with_logits(v, t), [Value(logits)])


def test_binary_cross_entropy_at_the_edges_is_finite():
    p = Value(np.array([0.0, 1.0]))
    loss = nn.binary_cross_entropy(p, np.array([1.0, 0.0]))
    assert loss.item() == pytest.approx(100.0)  # each log clamped at -100, as in PyTorch
    x = Value(np.array([1000.0, -1000.0]))
    loss = nn.binary_cross_entropy_with_logits(x, np.array([0.0, 1.0]))
    assert loss.item() == pytest.approx(1000.0)
    loss.backward()
    np.testing.assert_allclose(x.grad, [0.5, -0.5])


def test_float32_losses_stay_float32():
    p = Value(np.array([[0.2, 0.7]], dtype=np.float32))
    for loss in (
        nn.mse_loss(p, [[0.0, 1.0]]),
        nn.cross_entropy(p, [1]),
        nn.binary_cross_entropy(p, [[0.0, 1.0]]),
    ):
        assert loss.dtype == np.float32
