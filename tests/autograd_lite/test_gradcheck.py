"""The checker itself: it must catch wrong gradients, say where, and leave inputs alone."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as ag
from autograd_lite import Value
from autograd_lite.testing import arrays, shapes


class WrongSquare(ag.Function):
    """x**2 with a deliberately wrong backward (3x instead of 2x) for the second input."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y * y, grad * 3.0 * x * y


class FrozenSquare(ag.Function):
    """x**2 whose backward is right to first order but not differentiable: it keeps x raw."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x  # not save_for_backward: create_graph cannot see through it
        return x * x

    @staticmethod
    def backward(ctx, grad):
        return 2.0 * ctx.x * grad


def test_a_wrong_backward_is_caught_and_the_right_input_named():
    x, y = Value(np.array([1.0, 2.0])), Value(np.array([0.5, -1.5]))
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradcheck(WrongSquare.apply, [x, y])
    msg = str(info.value)
    assert msg.startswith(
        "gradcheck: backprop and finite differences disagree for input 1 (shape (2,))"
    )
    assert "analytical" in msg and "numerical" in msg and "rel error" in msg
    assert "atol=1e-05, rtol=0.001" in msg
    # the worst entry is d out[1] / d y[1]: analytical 3*2*(-1.5) = -9, numerical -6
    assert "d out[1] / d input1[1]: analytical -9, numerical -6" in msg


def test_gradcheck_error_is_an_assertion_error_and_can_return_false():
    x, y = Value(1.0), Value(2.0)
    assert issubclass(ag.GradcheckError, AssertionError)
    assert ag.gradcheck(WrongSquare.apply, [x, y], raise_exception=False) is False


def test_only_inputs_that_require_grad_are_checked():
    x, y = Value(1.0), Value(2.0, requires_grad=False)
    assert ag.gradcheck(WrongSquare.apply, [x, y])


def test_gradgradcheck_catches_a_backward_that_is_not_differentiable():
    x = Value(np.array([0.5, -1.2]))
    assert ag.gradcheck(FrozenSquare.apply, [x])
    with pytest.raises(ag.GradcheckError, match="input 0"):
        ag.gradgradcheck(FrozenSquare.apply, [x])


def test_inputs_are_left_exactly_as_they_were():
    x = Value(np.array([0.1, 0.2, 0.3]), name="x")
    s = Value(0.7)
    before = x.data.copy()
    ag.gradcheck(lambda a, b: (a * b).tanh(), [x, s])
    ag.gradgradcheck(lambda a, b: (a * b).tanh(), [x, s])
    np.testing.assert_array_equal(x.data, before)
    assert s.data == 0.7 and x.grad is None and s.grad is None


def test_float32_inputs_warn_and_are_checked_in_float64():
    x = Value(np.array([0.1, 0.2], dtype=np.float32))
    with pytest.warns(UserWarning, match="float32"):
        assert ag.gradcheck(lambda a: a.exp(), [x])
    assert x.dtype == np.float32


def test_cost_is_two_forward_passes_per_input_element():
    calls = 0

    def f(a):
        nonlocal calls
        calls += 1
        return (a * a).sum()

    n = 50
    ag.gradcheck(f, [Value(np.linspace(0, 1, n))])
    assert calls == 2 * n + 1


def test_tolerances_are_honoured():
    x = Value(np.array([1.0]))
    nudged = lambda a: a * (1 + 1e-4)  # grad off by about 1e-4 from the "truth" below

    class Nudge(ag.Function):
        @staticmethod
        def forward(ctx, v):
            return v * 1.0

        @staticmethod
        def backward(ctx, grad):
            return grad * (1 + 1e-4)

    assert ag.gradcheck(Nudge.apply, [x], atol=0, rtol=1e-3)
    assert not ag.gradcheck(Nudge.apply, [x], atol=0, rtol=1e-5, raise_exception=False)
    assert ag.gradcheck(nudged, [x], atol=0, rtol=1e-9)


def test_fn_must_return_a_value_and_something_must_require_grad():
    with pytest.raises(TypeError, match="must return a Value"):
        ag.gradcheck(lambda a: 1.0, [Value(1.0)])
    with pytest.raises(ValueError, match="no input requires grad"):
        ag.gradcheck(lambda a: a * 2, [Value(1.0, requires_grad=False)])


@given(shapes(max_dims=2).flatmap(lambda s: arrays(s, 0.2, 3.0)))
def test_the_checker_passes_correct_gradients_of_compositions(x):
    assert ag.gradcheck(lambda a: (a.log() * a.sqrt() + a.sin()).sum() * a.mean(), [Value(x)])
