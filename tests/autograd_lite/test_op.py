"""Declaring operations: ag.defop, the call the built-ins use, for users' ops too."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value

# ------------------------------------------------------------------ one way to declare an op


def _softplus_op(name: str):
    return ag.defop(
        name,
        lambda x: np.logaddexp(0.0, x),
        lambda g, out, x: g * ag.sigmoid(x),
    )


SOFTPLUS = _softplus_op("test_softplus")


@pytest.mark.parametrize("x", [0.3, -1.7, np.array([-2.0, 0.1, 3.0]), np.ones((2, 2)) * 0.5])
def test_a_user_op_declared_like_the_builtins_is_checked_first_and_second_order(x):
    v = Value(x)
    y = SOFTPLUS(v)
    assert y.op == "test_softplus" and ag.OPS["test_softplus"] is SOFTPLUS
    assert type(y.data) is type(v.data)  # a scalar stays a Python float
    assert ag.gradcheck(SOFTPLUS, [Value(x)])
    assert ag.gradgradcheck(SOFTPLUS, [Value(x)])


def test_a_user_op_with_a_parameter_and_raw_data():
    scale = ag.defop("test_scale", lambda x, c: c * x, lambda g, out, x, c: g * c)
    assert scale(2.0, 3.0) == 6.0  # raw in, raw out
    x = Value(np.array([1.0, 2.0]))
    scale(x, 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert ag.gradgradcheck(lambda v: scale(v, 3.0) * v, [Value(0.5)])


def test_defop_refuses_builtin_names_and_bad_declarations_and_replaces_its_own():
    with pytest.raises(ValueError, match="'mul' is a built-in op"):
        _softplus_op("mul")
    again = _softplus_op("test_softplus_again")
    assert _softplus_op("test_softplus_again") is not again  # a re-run cell replaces it
    assert ag.OPS["test_softplus_again"] is not again
    with pytest.raises(TypeError, match="VJP"):
        ag.defop("test_no_vjp", lambda x: x)
    with pytest.raises(TypeError, match="takes 1 input"):
        SOFTPLUS()


def test_a_wrong_user_vjp_is_caught_by_gradcheck():
    wrong = ag.defop("test_wrong_softplus", np.tanh, lambda g, out, x: g * 1.01 * (1 - out * out))
    assert not ag.gradcheck(wrong, [Value(np.array([0.3, -0.2]))], raise_exception=False)
