"""Losses: values against the formulas, gradients against finite differences, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as ag
from autograd_lite import Value, nn
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
    with pytest.raises(ValueError, match=r"cross_entropy: \(3,\) labels for scores of shape"):
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


@given(
    shapes(min_dims=1, max_dims=2).flatmap(
        lambda s: st.tuples(arrays(s, 0.05, 0.95), arrays(s, 0.0, 1.0))
    )
)
def test_binary_cross_entropy_gradient_for_the_target_too(pt):
    p, t = pt
    assert ag.gradcheck(lambda v, w: nn.binary_cross_entropy(v, w), [Value(p), Value(t)])
    logits = np.log(p / (1 - p))
    assert ag.gradcheck(lambda v, w: nn.BCEWithLogitsLoss()(v, w), [Value(logits), Value(t)])
    # d BCE / d p = (p - t) / (p (1 - p)) / n, by hand
    v = Value(p)
    nn.binary_cross_entropy(v, t).backward()
    np.testing.assert_allclose(v.grad, (p - t) / (p * (1 - p)) / p.size, atol=1e-12)  # 0 at p == t


def test_binary_cross_entropy_refuses_non_probabilities():
    for p in (Value(np.array([0.5, 1.5])), np.array([0.5, 1.5])):  # a Value, or raw data
        with pytest.raises(ValueError, match=r"binary_cross_entropy: predictions must be .*1\.5"):
            nn.binary_cross_entropy(p, np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"shape \(2, 1\) but target has shape \(2,\)"):
        nn.binary_cross_entropy(Value(np.full((2, 1), 0.5)), np.zeros(2))


def test_cross_entropy_takes_one_hot_labels_of_any_dtype():
    z = np.array([[1.0, 2.0, 0.5], [0.1, -1.0, 3.0]])
    y = np.array([1, 2])
    expected = nn.cross_entropy(Value(z), y).item()
    for one_hot in (np.eye(3, dtype=np.int64)[y], np.eye(3, dtype=bool)[y], np.eye(3)[y].tolist()):
        assert nn.cross_entropy(Value(z), one_hot).item() == pytest.approx(expected)
    soft = np.array([[0.2, 0.8, 0.0], [0.5, 0.0, 0.5]])  # soft labels: -sum q log p
    want = -np.sum(soft * np.log(softmax_np(z)), axis=1).mean()
    assert nn.cross_entropy(Value(z), soft).item() == pytest.approx(want)


def test_float32_prediction_with_a_float64_value_target_stays_float32():
    p = Value(np.array([0.2, 0.7], dtype=np.float32))
    t = Value(np.array([0.0, 1.0]))
    loss = nn.mse_loss(p, t)
    assert loss.dtype == np.float32
    loss.backward()
    assert p.grad.dtype == np.float32 and t.grad.dtype == np.float64
    np.testing.assert_allclose(t.grad, -(p.data - t.data), rtol=1e-6)  # -2 (p - t) / 2


def test_raw_predictions_are_accepted():
    assert nn.mse_loss([1.0, 2.0], [0.0, 0.0]).item() == pytest.approx(2.5)
    assert nn.cross_entropy([[0.0, 0.0]], [1]).item() == pytest.approx(np.log(2))


def test_losses_match_torch_when_installed():
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(0)
    z, y = rng.standard_normal((6, 4)) * 5, rng.integers(0, 4, 6)
    p, t = rng.uniform(0.01, 0.99, (6, 3)), rng.uniform(0, 1, (6, 3))
    b = rng.uniform(0, 1, z.shape)  # soft targets for the logits z
    for reduction in ("mean", "sum", "none"):
        pairs = [
            (
                nn.cross_entropy(Value(z), y, reduction),
                F.cross_entropy(torch.tensor(z), torch.tensor(y), reduction=reduction),
            ),
            (
                nn.cross_entropy(Value(z), np.eye(4)[y], reduction),
                F.cross_entropy(torch.tensor(z), torch.tensor(np.eye(4)[y]), reduction=reduction),
            ),
            (
                nn.mse_loss(Value(p), t, reduction),
                F.mse_loss(torch.tensor(p), torch.tensor(t), reduction=reduction),
            ),
            (
                nn.binary_cross_entropy(Value(p), t, reduction),
                F.binary_cross_entropy(torch.tensor(p), torch.tensor(t), reduction=reduction),
            ),
            (
                nn.binary_cross_entropy_with_logits(Value(z), b, reduction),
                F.binary_cross_entropy_with_logits(
                    torch.tensor(z), torch.tensor(b), reduction=reduction
                ),
            ),
        ]
        for ours, theirs in pairs:
            np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=1e-12, atol=1e-12)
    # gradients of the mean losses
    zt = torch.tensor(z, requires_grad=True)
    F.cross_entropy(zt, torch.tensor(y)).backward()
    v = Value(z)
    nn.cross_entropy(v, y).backward()
    np.testing.assert_allclose(v.grad, zt.grad.numpy(), rtol=1e-10, atol=1e-14)
    pt_ = torch.tensor(p, requires_grad=True)
    F.binary_cross_entropy(pt_, torch.tensor(t)).backward()
    v = Value(p)
    nn.binary_cross_entropy(v, t).backward()
    np.testing.assert_allclose(v.grad, pt_.grad.numpy(), rtol=1e-10)


def test_bce_with_logits_gradient_at_zero_is_sigmoid_minus_target():
    """The smooth softplus: no kink at a logit of 0 (a zero-initialised output layer)."""
    x = Value(np.zeros(4))
    t = np.array([0.0, 1.0, 0.25, 1.0])
    loss = nn.binary_cross_entropy_with_logits(x, t, reduction="sum")
    assert loss.item() == pytest.approx(4 * np.log(2))
    loss.backward()
    np.testing.assert_allclose(x.grad, 0.5 - t)


def test_bce_at_zero_and_one_has_pytorchs_finite_gradient():
    """PyTorch's rule: (p - t) / max(p (1 - p), 1e-12), so a wrong certain prediction gets a
    gradient of about 1e12 and a right one 0 (tests/nn/test_torch_parity.py compares)."""
    p = Value(np.array([0.0, 0.0, 1.0, 1.0]))
    t = np.array([1.0, 0.0, 1.0, 0.0])
    loss = nn.binary_cross_entropy(p, t, reduction="sum")
    loss.backward()
    np.testing.assert_array_equal(loss.data, 100.0 * 2 + 0.0)
    eps = float(np.float32(1e-12))
    np.testing.assert_array_equal(p.grad, [-1 / eps, 0.0, 0.0, 1 / eps])


def test_bce_is_one_node():
    p = Value(np.array([0.2, 0.9]))
    assert nn.binary_cross_entropy(p, np.array([0.0, 1.0]), reduction="none").op == (
        "binary_cross_entropy"
    )


@pytest.mark.parametrize("labels", [np.array([2.0, 0.0])])  # probabilities do (as PyTorch)
def test_cross_entropy_labels_given_as_values_get_no_gradient(labels):
    z, y = Value(np.zeros((2, 3))), Value(labels)  # y requires grad, as Values do by default
    nn.cross_entropy(z, y).backward()
    assert y.grad is None and z.grad is not None
    assert nn.cross_entropy(Value(np.zeros((2, 3))), y).item() == pytest.approx(np.log(3))


@pytest.mark.parametrize(
    "loss",
    [
        lambda z, w: nn.cross_entropy(z, np.array([0, 1, 2, 0]), w),
        lambda z, w: nn.binary_cross_entropy(ag.sigmoid(z), np.ones((4, 3)), w),
        lambda z, w: nn.binary_cross_entropy_with_logits(z, np.ones((4, 3)), w),
        lambda z, w: nn.mse_loss(z, np.zeros((4, 3)), w),
    ],
)
def test_a_weight_passed_where_torch_takes_it_positionally_is_a_clear_error(loss):
    z = ag.Value(np.random.default_rng(0).standard_normal((4, 3)))
    with pytest.raises(ValueError, match=r"reduction must be one of .* got a ndarray; pass a "):
        loss(z, np.ones(3))
