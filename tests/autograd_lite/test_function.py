"""User Functions (the PyTorch protocol), built on the same Op machinery as every op."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value

# --------------------------------------------------------------------- user Functions


class Cube(ag.Function):
    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x**3

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 3 * x**2 * grad


def test_the_issue_cube_function():
    v = Value(np.array([1.0, -2.0]))
    y = Cube.apply(v)
    assert y.op == "Cube"
    y.sum().backward()
    np.testing.assert_array_equal(v.grad, [3.0, 12.0])
    assert ag.gradcheck(Cube.apply, [v]) and ag.gradgradcheck(Cube.apply, [v])


def test_function_with_parameters_and_needs_input_grad():
    class Scale(ag.Function):
        @staticmethod
        def forward(ctx, x, factor):
            ctx.factor = factor
            ctx.seen = ctx.needs_input_grad
            return x * factor

        @staticmethod
        def backward(ctx, grad):
            return grad * ctx.factor, None

    x = Value(2.0)
    y = Scale.apply(x, 5.0)
    y.backward()
    assert x.grad == 5.0 and y._ctx[0].seen == (True, False)


def test_function_saving_its_output_is_differentiable_twice():
    assert ag.gradgradcheck(Exp.apply, [Value(np.array([0.1, -0.4]))])


def test_function_returning_the_wrong_number_or_shape_of_gradients():
    class TwoGrads(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            return grad, grad

    class BadShape(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0

        @staticmethod
        def backward(ctx, grad):
            return np.ones(5)

    with pytest.raises(TypeError, match=r"TwoGrads.backward returned 2 gradient\(s\) for 1"):
        TwoGrads.apply(Value(1.0)).backward()
    with pytest.raises(ValueError, match=r"'BadShape' gave a gradient of shape \(5,\).*\(3,\)"):
        BadShape.apply(Value(np.ones(3))).sum().backward()


# ----------------------------------------------------------------- Function, on the same Op


class Exp(ag.Function):
    """Saves its output, which numpy returns as a new scalar object."""

    @staticmethod
    def forward(ctx, x):
        out = np.exp(x)
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx, grad):
        (out,) = ctx.saved_tensors
        return grad * out


@pytest.mark.parametrize("fn", [Cube, Exp])
@pytest.mark.parametrize("x", [0.1, -1.3, np.array([0.1, -0.4, 2.0])])
def test_function_first_and_second_order_with_scalar_and_tensor_inputs(fn, x):
    assert isinstance(fn.op, ag.Op) and fn.op.name == fn.__name__
    assert fn.apply(Value(x)).op == fn.__name__
    assert ag.gradcheck(fn.apply, [Value(x)])
    assert ag.gradgradcheck(fn.apply, [Value(x)])


def test_second_derivative_of_a_scalar_function_is_exact():
    x = Value(0.1)
    (g,) = ag.grad(Exp.apply(x), [x], create_graph=True)
    (gg,) = ag.grad(g, [x])
    assert gg == pytest.approx(np.exp(0.1), rel=1e-12)


def test_calling_a_function_class_says_to_use_apply():
    with pytest.raises(TypeError, match=r"Cube.apply"):
        Cube(Value(1.0))


@pytest.mark.parametrize("bad", [1j, np.array([1 + 2j]), True, "text", np.array(["a"]), None])
def test_a_function_returning_non_real_data_is_refused(bad):
    class Bad(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return bad

        @staticmethod
        def backward(ctx, grad):
            return grad

    with pytest.raises(TypeError, match=r"Bad\.forward must return"):
        Bad.apply(Value(1.0))
