"""Making Values and operating on them: what is accepted, and clear errors for the rest."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda: Value(10**400), OverflowError, r"Value\(\): the integer .* too large"),
        (lambda: Value([10**400]), TypeError, r"Value\(\): expected real numbers"),
        (lambda: Value(np.ones(3)).mean(axis=1.0), TypeError, "mean: axis must be an int"),
        (lambda: Value(np.ones(3)).sum(axis=1.0), TypeError, "sum: axis must be an int"),
        (lambda: Value(np.ones(3)).max(axis="0"), TypeError, "max: axis must be an int"),
        (lambda: Value(np.ones(2)) ** [[1, 2], [3]], ValueError, "pow: .*rectangular"),
        (lambda: Value(np.ones(3)) + np.ones(4), ValueError, r"^add: cannot broadcast"),
        (lambda: Value(np.ones(3)) ** np.array(["a"]), TypeError, "pow: .*dtype <U1"),
    ],
)
def test_bad_input_is_named_once_and_clearly(make, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        make()
    assert str(info.value).count("(3,)") <= 2  # each shape said once, not twice


def test_broadcast_error_lists_the_shapes_once():
    with pytest.raises(ValueError) as info:
        Value(np.ones(3)) * np.ones((2, 4))
    assert str(info.value) == "mul: cannot broadcast input shapes (3,), (2, 4) together"


def test_empty_index_list_selects_nothing_as_numpy_does():
    x = Value(np.arange(3.0))
    y = x[[]]
    assert y.shape == (0,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_mean_of_an_empty_array_is_nan_not_zero_division():
    assert np.isnan(ag.mean(Value(np.ones((0, 3))), axis=0).data).all()
