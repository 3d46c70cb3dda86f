"""l1_loss, smooth_l1_loss and nll_loss (and their modules) against the formulas and PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.testing import arrays, shapes

REDUCTIONS = ("mean", "sum", "none")


def _torch():
    return pytest.importorskip("torch")


def _reduce(x, reduction):
    return x.mean() if reduction == "mean" else x.sum() if reduction == "sum" else x


@given(shapes(min_dims=1, max_dims=2).flatmap(lambda s: st.tuples(arrays(s), arrays(s))))
def test_l1_and_smooth_l1_values_and_gradients(pt):
    p, t = pt
    d = p - t
    for reduction in REDUCTIONS:
        got = nn.l1_loss(Value(p), t, reduction)
        np.testing.assert_allclose(got.data, _reduce(np.abs(d), reduction))
        for beta in (0.5, 1.0, 2.0):
            expected = np.where(np.abs(d) < beta, 0.5 * d * d / beta, np.abs(d) - 0.5 * beta)
            got = nn.smooth_l1_loss(Value(p), t, reduction, beta)
            np.testing.assert_allclose(got.data, _reduce(expected, reduction))
    away = np.abs(d) > 1e-3  # finite differences need distance from the kinks
    if away.all() and (np.abs(np.abs(d) - 1.0) > 1e-3).all():
        assert ag.gradcheck(lambda v, w: nn.L1Loss()(v, w), [Value(p), Value(t)])
        assert ag.gradcheck(lambda v: nn.SmoothL1Loss("sum")(v, t), [Value(p)])
        assert ag.gradgradcheck(lambda v: nn.smooth_l1_loss(v, t), [Value(p)])


def test_l1_and_smooth_l1_match_pytorch_including_gradients_at_zero():
    torch = _torch()
    rng = np.random.default_rng(0)
    p = rng.standard_normal((4, 5)) * 2
    t = p.copy()
    t[0] += rng.standard_normal(5) * 3  # some differences exactly 0, some beyond beta
    for reduction in REDUCTIONS:
        for name, kwargs in (("l1_loss", {}), ("smooth_l1_loss", {"beta": 0.7})):
            v, pt = Value(p), torch.tensor(p, requires_grad=True)
            ours = getattr(nn, name)(v, t, reduction=reduction, **kwargs)
            theirs = getattr(torch.nn.functional, name)(
                pt, torch.tensor(t), reduction=reduction, **kwargs
            )
            np.testing.assert_allclose(ours.data, theirs.detach().numpy(), atol=1e-12)
            g = rng.standard_normal(ours.shape)
            ours.backward(g)
            theirs.backward(torch.tensor(g))
            np.testing.assert_allclose(v.grad, pt.grad.numpy(), atol=1e-12)
    assert nn.smooth_l1_loss(Value(p), t, beta=0.0).item() == nn.l1_loss(Value(p), t).item()


@pytest.mark.parametrize("shape", [(5,), (4, 5), (3, 5, 2), (2, 5, 3, 2)])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_pytorch(shape, weighted, reduction):
    torch = _torch()
    rng = np.random.default_rng(len(shape))
    c_axis = 1 if len(shape) > 1 else 0
    probs = rng.dirichlet(np.ones(5), size=shape[:c_axis] + shape[c_axis + 1 :])  # (..., 5)
    logp = np.ascontiguousarray(np.moveaxis(np.log(probs), -1, c_axis))
    labels = rng.integers(0, 5, shape[:c_axis] + shape[c_axis + 1 :])
    if labels.ndim:
        labels.flat[0] = -100  # ignored
    weight = rng.random(5) + 0.5 if weighted else None
    v, t = Value(logp), torch.tensor(logp, requires_grad=True)
    ours = nn.nll_loss(v, labels, weight, reduction=reduction)
    theirs = torch.nn.functional.nll_loss(
        t,
        torch.tensor(labels),
        None if weight is None else torch.tensor(weight),
        reduction=reduction,
    )
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(ours.shape)
    ours.backward(g)
    theirs.backward(torch.tensor(g))
    np.testing.assert_allclose(v.grad, t.grad.numpy(), atol=1e-12)


def test_nll_of_log_softmax_is_cross_entropy():
    z = np.random.default_rng(1).standard_normal((6, 4))
    y = np.array([0, 3, 1, 1, 2, 0])
    a = nn.NLLLoss()(ag.log_softmax(Value(z), axis=-1), y)
    assert a.item() == pytest.approx(nn.cross_entropy(Value(z), y).item(), rel=1e-12)
    assert ag.gradgradcheck(lambda v: nn.nll_loss(ag.log_softmax(v), y), [Value(z)])


def test_nll_loss_bad_labels():
    logp = np.log(np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        nn.nll_loss(Value(logp), [0, 3])
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        nn.nll_loss(Value(logp), [0, 1, 2])
    with pytest.raises(ValueError, match=r"weight must have shape \(3,\)"):
        nn.nll_loss(Value(logp), [0, 1], weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="reduction"):
        nn.l1_loss(Value(logp), logp, reduction="avg")
    with pytest.raises(ValueError, match="beta"):
        nn.smooth_l1_loss(Value(logp), logp, beta=-1.0)
    assert nn.nll_loss(Value(logp[0]), 2).item() == pytest.approx(np.log(3))
