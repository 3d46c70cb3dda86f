"""PyTorch and micrograd habits: dim/keepdim, requires_grad_, view, Value(..., label=)."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value

X = np.arange(24.0).reshape(2, 3, 4) / 10


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min", "logsumexp"])
def test_reductions_take_pytorchs_dim_and_keepdim(name):
    v = Value(X)
    for dim in (0, -1, (0, 2)):
        expected = getattr(ag, name)(v, dim, True).data
        np.testing.assert_allclose(getattr(ag, name)(v, dim=dim, keepdim=True).data, expected)
        np.testing.assert_allclose(getattr(v, name)(dim=dim, keepdim=True).data, expected)
        np.testing.assert_allclose(getattr(v, name)(dim, keepdim=True).data, expected)
        np.testing.assert_allclose(getattr(v, name)(axis=dim, keepdims=True).data, expected)
    with pytest.raises(TypeError, match="both axis=0 and dim=1"):
        getattr(v, name)(axis=0, dim=1)
    with pytest.raises(TypeError, match="both keepdims and keepdim"):
        getattr(ag, name)(v, 0, keepdims=True, keepdim=True)


def test_softmax_takes_dim():
    v = Value(X)
    np.testing.assert_allclose(v.softmax(dim=1).data, ag.softmax(v, axis=1).data)
    np.testing.assert_allclose(ag.log_softmax(v, dim=0).data, v.log_softmax(0).data)
    with pytest.raises(TypeError, match="both"):
        ag.softmax(v, axis=0, dim=1)


def test_requires_grad_and_view():
    w = Value(X, requires_grad=False)
    assert w.requires_grad_() is w and w.requires_grad
    assert w.view(6, 4).shape == (6, 4) and w.view(-1).shape == (24,)
    assert w.view((4, 6)).op == "reshape"
    w.view(-1).sum().backward()
    np.testing.assert_array_equal(w.grad, np.ones_like(X))
    assert not w.requires_grad_(False).requires_grad
    node = Value(2.0) * 3.0
    with pytest.raises(ValueError, match="not a leaf"):
        node.requires_grad_(False)
    assert node.requires_grad_(True) is node  # already true: nothing to change


def test_micrograd_label_is_the_name():
    a = Value(2.0, label="a")
    assert a.name == "a" and "name='a'" in repr(a)
    assert ag.Parameter(1.0, label="w").name == "w"
    with pytest.raises(TypeError, match="pass one"):
        Value(1.0, name="a", label="b")


@pytest.mark.parametrize("children", [(), (Value(1.0), Value(2.0)), [Value(1.0)], set()])
def test_micrograds_children_are_refused_not_taken_for_requires_grad(children):
    with pytest.raises(TypeError, match="micrograd passes its _children there"):
        Value(3.0, children, "+")
    with pytest.raises(TypeError, match="requires_grad"):
        Value(3.0, children)
