"""Initialisers: the textbook spreads, PyTorch's Linear default, reproducibility, in place."""

from __future__ import annotations

import math

import numpy as np
import pytest

from autograd_lite import Value, nn


def test_default_init_is_pytorchs_linear_default():
    lin = nn.Linear(100, 50, rng=0)
    bound = 1 / math.sqrt(100)
    assert np.abs(lin.weight.data).max() <= bound and np.abs(lin.bias.data).max() <= bound
    assert np.abs(lin.weight.data).max() > 0.9 * bound  # spread over the whole interval
    assert np.abs(lin.bias.data).max() > 0.5 * bound  # the bias too, with fan_in = nin


@pytest.mark.parametrize(
    ("name", "std"),
    [
        ("xavier_uniform", math.sqrt(2 / (400 + 300))),
        ("xavier_normal", math.sqrt(2 / (400 + 300))),
        ("kaiming_uniform", math.sqrt(2 / 400)),
        ("kaiming_normal", math.sqrt(2 / 400)),
        ("default", math.sqrt(1 / 3) / math.sqrt(400)),  # U(-b, b) has std b / sqrt(3)
    ],
)
def test_initialisers_have_the_textbook_spread(name, std):
    w = nn.init.INITIALIZERS[name]((400, 300), rng=0)
    assert w.shape == (400, 300) and w.dtype == np.float64
    assert abs(w.std() - std) < 0.02 * std
    assert abs(w.mean()) < 0.1 * std


def test_uniform_bounds_and_other_init_zero_bias():
    layer = nn.Linear(10, 5, init="xavier_uniform", rng=0)
    np.testing.assert_array_equal(layer.bias.data, np.zeros(5))
    a = math.sqrt(6 / 15)
    assert np.abs(layer.weight.data).max() <= a
    assert nn.init.calculate_gain("tanh") == pytest.approx(5 / 3)
    assert nn.init.calculate_gain("leaky_relu", 0.2) == pytest.approx(math.sqrt(2 / 1.04))
    with pytest.raises(ValueError, match="unknown nonlinearity"):
        nn.init.calculate_gain("swish")


def test_a_seed_or_a_generator_makes_it_reproducible():
    a = nn.init.kaiming_normal((5, 4), rng=3)
    np.testing.assert_array_equal(a, nn.init.kaiming_normal((5, 4), rng=3))
    gen = np.random.default_rng(3)
    np.testing.assert_array_equal(a, nn.init.kaiming_normal((5, 4), rng=gen))
    assert not np.array_equal(a, nn.init.kaiming_normal((5, 4), rng=gen))  # the generator moved on


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_in_place_forms_fill_the_parameter(dtype):
    w = Value(np.zeros((300, 200), dtype=dtype))
    same = w.data
    assert nn.init.xavier_normal_(w, rng=0) is w
    assert w.data is same and w.dtype == dtype  # filled in place, dtype kept
    np.testing.assert_allclose(w.data, nn.init.xavier_normal((300, 200), rng=0), rtol=1e-6)
    nn.init.kaiming_uniform_(w, rng=1)
    bound = math.sqrt(2) * math.sqrt(3 / 300)
    assert np.abs(w.data).max() <= bound * (1 + 1e-6) and np.abs(w.data).max() > 0.95 * bound
    nn.init.normal_(w, mean=2.0, std=0.5, rng=2)
    assert abs(w.data.mean() - 2.0) < 0.01 and abs(w.data.std() - 0.5) < 0.01
    nn.init.uniform_(w, -0.1, 0.3, rng=3)
    assert w.data.min() >= -0.1 and w.data.max() <= 0.3
    nn.init.constant_(w, 1.5)
    assert np.all(w.data == 1.5)
    nn.init.zeros_(w)
    assert not w.data.any()


def test_in_place_on_a_scalar_parameter_and_a_non_value():
    b = Value(0.0)
    nn.init.constant_(b, 0.25)
    assert b.data == 0.25 and type(b.data) is float
    with pytest.raises(TypeError, match="expected a Value"):
        nn.init.zeros_(np.ones(3))


def test_a_custom_initialiser_and_an_unknown_name():
    calls = []

    def ones(shape, rng=None, dtype=np.float64):
        calls.append(shape)
        return np.ones(shape, dtype=dtype)

    lin = nn.Linear(3, 2, init=ones)
    assert calls == [(3, 2)] and np.all(lin.weight.data == 1.0) and not lin.bias.data.any()
    with pytest.raises(ValueError, match="unknown init 'glorot'"):
        nn.Linear(2, 2, init="glorot")
