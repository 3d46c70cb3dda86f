"""check_gradients: one call that runs hypothesis, gradcheck and gradgradcheck on an op."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

import autograd_lite as ag
from autograd_lite.gradcheck import GradcheckResult
from autograd_lite.testing import check_gradients


class Softplus(ag.Function):
    """log(1 + e^x), written so that both derivatives are right."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.logaddexp(0.0, x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ag.sigmoid(x)


class WrongSquare(ag.Function):
    """x**2 with the derivative 3x."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3.0 * x * grad


class FrozenSquare(ag.Function):
    """x**2, right to first order, but the backward keeps x on ctx (second order wrong)."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x
        return x * x

    @staticmethod
    def backward(ctx, grad):
        return 2.0 * ctx.x * grad


def test_a_correct_op_passes():
    check_gradients(Softplus.apply, [(2, 3)], max_examples=15)
    check_gradients(lambda x, y: (x * y).tanh() + x.sin() * y, [(2, 3), (3,)], max_examples=15)


def test_a_wrong_op_is_caught_with_the_minimal_example_and_the_table():
    with pytest.raises(ag.GradcheckError) as info:
        check_gradients(WrongSquare.apply, [(3,)], max_examples=30)
    msg = str(info.value)
    assert msg.startswith(
        "check_gradients(WrongSquare.apply): gradcheck fails; "
        "hypothesis's minimal failing example:\n    input 0 = "
    )
    assert "gradcheck FAILED" in msg and "analytical" in msg and "numerical" in msg
    assert isinstance(info.value.result, GradcheckResult) and info.value.result.order == 1


def test_a_wrong_second_derivative_is_caught_and_can_be_left_out():
    with pytest.raises(ag.GradcheckError, match="gradgradcheck fails"):
        check_gradients(FrozenSquare.apply, [(2,)], max_examples=20)
    check_gradients(FrozenSquare.apply, [(2,)], max_examples=10, second_order=False)


def test_broadcast_variants_are_tried():
    seen = set()

    def add(x, y):
        seen.add((x.shape, y.shape))
        return x * y + x

    check_gradients(add, [(2, 3), (2, 3)], max_examples=40, second_order=False)
    assert ((2, 3), (2, 3)) in seen
    assert any(s != ((2, 3), (2, 3)) for s in seen)  # e.g. ((3,), (2, 1))


def test_shapes_that_do_not_broadcast_are_used_as_given():
    seen = set()

    def matmul(x, y):
        seen.add((x.shape, y.shape))
        return x @ y

    check_gradients(matmul, [(2, 3), (3, 4)], max_examples=10, second_order=False)
    assert seen == {((2, 3), (3, 4))}


def test_elements_per_input():
    check_gradients(
        lambda x, y: x.log() * y,
        [(3,), (3,)],
        elements=[st.floats(0.5, 2.0), st.floats(-1.0, 1.0)],
        max_examples=10,
    )
    with pytest.raises(ValueError, match="2 element strategies for 1 inputs"):
        check_gradients(lambda x: x, [(3,)], elements=[st.floats(0, 1)] * 2)
