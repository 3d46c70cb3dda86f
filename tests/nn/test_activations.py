"""Activations by name, as callables and as modules: values against numpy, gradients."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.testing import arrays, shapes

EXPECTED = {
    "relu": lambda z: np.maximum(z, 0.0),
    "tanh": np.tanh,
    "sigmoid": lambda z: 1.0 / (1.0 + np.exp(-z)),
    "linear": lambda z: z,
    "leaky_relu": lambda z: np.where(z > 0, z, 0.01 * z),
}
MODULES = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "linear": nn.Identity,
    "leaky_relu": nn.LeakyReLU,
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_names_and_modules_compute_the_formula(name):
    z = np.linspace(-3, 3, 12).reshape(3, 4)
    np.testing.assert_allclose(nn.get_activation(name)(Value(z)).data, EXPECTED[name](z))
    np.testing.assert_allclose(MODULES[name]()(Value(z)).data, EXPECTED[name](z))


@given(
    name=st.sampled_from(sorted(EXPECTED)),
    z=shapes(min_dims=1, max_dims=2).flatmap(lambda s: arrays(s, avoid=(0.0,))),
)
def test_activation_modules_gradients(name, z):
    assert ag.gradcheck(MODULES[name](), [Value(z)])


def test_leaky_relu_slope_and_repr():
    m = nn.LeakyReLU(0.2)
    np.testing.assert_allclose(m(Value(np.array([-2.0, 3.0]))).data, [-0.4, 3.0])
    assert repr(m) == "LeakyReLU(negative_slope=0.2)"


def test_a_callable_and_none_and_an_unknown_name():
    double = lambda v: 2 * v
    assert nn.get_activation(double) is double
    assert nn.get_activation(None)(Value(3.0)).data == 3.0
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*or a callable"):
        nn.get_activation("swish")
    with pytest.raises(ValueError, match="unknown activation 3"):
        nn.get_activation(3)
