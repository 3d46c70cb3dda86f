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


# ------------------------------------------- PyTorch's defaults and fans (parity fixes)


def test_kaiming_default_nonlinearity_is_leaky_relu_so_a_is_honoured():
    """PyTorch's default: nonlinearity='leaky_relu', gain sqrt(2 / (1 + a^2)) (sqrt(2) at a=0)."""
    w = Value(np.zeros((300, 400)))  # Linear(300, 400).weight: fan_in = 300
    nn.init.kaiming_uniform_(w, a=math.sqrt(5), rng=0)  # PyTorch's Linear/Conv default
    bound = 1 / math.sqrt(300)
    assert bound * 0.99 < np.abs(w.data).max() <= bound
    nn.init.kaiming_normal_(w, a=1.0, rng=0)
    assert abs(w.data.std() - 1 / math.sqrt(300)) < 0.01 / math.sqrt(300)
    a = nn.init.kaiming_uniform((300, 400), a=1.0, rng=0)
    assert np.abs(a).max() <= math.sqrt(3 / 300) and np.abs(a).max() > 0.99 * math.sqrt(3 / 300)
    assert nn.init.kaiming_normal((300, 400), a=2.0, rng=0).std() == pytest.approx(
        math.sqrt(2 / 5) / math.sqrt(300), rel=0.02
    )
    # a = 0 (the default) keeps the relu gain, and an explicit nonlinearity still wins
    np.testing.assert_array_equal(
        nn.init.kaiming_uniform((30, 4), rng=1),
        nn.init.kaiming_uniform((30, 4), nonlinearity="relu", rng=1),
    )
    np.testing.assert_array_equal(
        nn.init.kaiming_normal((30, 4), a=3.0, nonlinearity="relu", rng=1),
        nn.init.kaiming_normal((30, 4), rng=1),
    )


def test_calculate_gain_follows_pytorch():
    gain = nn.init.calculate_gain
    assert gain("leaky_relu", 0.0) == pytest.approx(math.sqrt(2))
    assert gain("leaky_relu", 0) == pytest.approx(math.sqrt(2))
    assert gain("leaky_relu") == pytest.approx(math.sqrt(2 / (1 + 0.01**2)))
    assert gain("selu") == 0.75
    for name in ("linear", "sigmoid", "conv1d", "conv2d", "conv_transpose2d"):
        assert gain(name) == 1.0
    with pytest.raises(ValueError, match="negative_slope"):
        gain("leaky_relu", True)
    with pytest.raises(ValueError, match="negative_slope"):
        gain("leaky_relu", "0.2")


def test_calculate_gain_matches_pytorch_values():
    torch = pytest.importorskip("torch")
    for name, param in [("relu", None), ("tanh", None), ("selu", None), ("leaky_relu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param)
        )
    for a in (0, 0.2, math.sqrt(5)):
        assert nn.init.calculate_gain("leaky_relu", a) == pytest.approx(
            torch.nn.init.calculate_gain("leaky_relu", a)
        )


@pytest.mark.parametrize(
    ("shape", "fans"),
    [
        ((300, 200), (300, 200)),  # 2-D: this library's (in, out), Linear's layout
        ((1000, 16), (1000, 16)),  # an Embedding (num, dim): fan_in = num (PyTorch: dim)
        ((16, 8, 5), (8 * 5, 16 * 5)),  # Conv1d (out, in, k)
        ((64, 32, 3, 3), (32 * 9, 64 * 9)),  # Conv2d (out, in, kH, kW)
        ((16, 8, 3, 2), (8 * 6, 16 * 6)),  # ConvTranspose2d (in, out, kH, kW)
        ((4, 2, 3, 3, 3), (2 * 27, 4 * 27)),
    ],
)
def test_fans_read_convolution_weights_as_pytorch(shape, fans):
    assert nn.init._fans(shape, "test") == fans


def test_fans_of_3d_and_more_are_pytorchs():
    torch = pytest.importorskip("torch")
    for shape in [(16, 8, 5), (64, 32, 3, 3), (16, 8, 3, 2), (4, 2, 1, 3, 3)]:
        theirs = torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        assert nn.init._fans(shape, "test") == theirs
    # 2-D: the same fans as PyTorch's for the transposed layout (ours (in, out), theirs (out, in))
    assert nn.init._fans((300, 200), "test") == torch.nn.init._calculate_fan_in_and_fan_out(
        torch.empty(200, 300)
    )


def test_initialisers_on_conv_weights_use_the_receptive_field():
    conv = nn.Conv2d(32, 64, 3, rng=0)  # weight (64, 32, 3, 3): fan_in 288, fan_out 576
    nn.init.kaiming_normal_(conv.weight, rng=0)
    assert conv.weight.data.std() == pytest.approx(math.sqrt(2 / 288), rel=0.02)
    nn.init.xavier_uniform_(conv.weight, rng=0)
    bound = math.sqrt(6 / (288 + 576))
    assert bound * 0.99 < np.abs(conv.weight.data).max() <= bound
    nn.init.xavier_normal_(conv.weight, rng=0)
    assert conv.weight.data.std() == pytest.approx(math.sqrt(2 / (288 + 576)), rel=0.02)
    tconv = nn.ConvTranspose2d(16, 8, 3, rng=0)  # weight (16, 8, 3, 3): fan_in 8 * 9, as torch
    nn.init.kaiming_uniform_(tconv.weight, rng=0)
    bound = math.sqrt(2) * math.sqrt(3 / 72)
    assert bound * 0.98 < np.abs(tconv.weight.data).max() <= bound


@pytest.mark.parametrize(
    ("make", "fan_in"),
    [
        (lambda: nn.Linear(30, 20, rng=0), 30),
        (lambda: nn.Conv1d(4, 6, 5, rng=0), 4 * 5),
        (lambda: nn.Conv2d(3, 8, (3, 2), rng=0), 3 * 6),
        (lambda: nn.ConvTranspose2d(6, 4, (3, 2), rng=0), 4 * 6),  # out * kernel, as PyTorch
    ],
)
def test_layer_defaults_are_kaiming_uniform_with_a_sqrt5_of_the_same_fans(make, fan_in):
    """A layer's default bound 1/sqrt(fan_in) is what nn.init.kaiming_uniform_(a=sqrt(5))
    gives its weight: the layers and nn.init agree on the fans, as in PyTorch."""
    layer = make()
    bound = 1 / math.sqrt(fan_in)
    assert bound * 0.8 < np.abs(layer.weight.data).max() <= bound
    w = Value(np.zeros(layer.weight.shape))
    nn.init.kaiming_uniform_(w, a=math.sqrt(5), rng=0)
    assert bound * 0.8 < np.abs(w.data).max() <= bound


@pytest.mark.parametrize(
    "fill",
    [
        nn.init.xavier_uniform_,
        nn.init.xavier_normal_,
        nn.init.kaiming_uniform_,
        nn.init.kaiming_normal_,
    ],
)
@pytest.mark.parametrize("shape", [(5,), ()])
def test_in_place_fan_initialisers_need_two_dimensions(fill, shape):
    v = Value(np.zeros(shape)) if shape else Value(0.0)
    with pytest.raises(ValueError, match=f"^{fill.__name__}: fan in and fan out can not be"):
        fill(v, rng=0)


def test_array_initialisers_read_a_vector_as_a_neurons_weight():
    """(nin,) is a Neuron's weight: fan_in = nin, fan_out = 1; a scalar has no fans."""
    w = nn.init.kaiming_uniform((400,), rng=0)
    assert np.abs(w).max() <= math.sqrt(6 / 400)
    assert nn.Neuron(3, init="xavier_normal", rng=0).weight.shape == (3,)
    with pytest.raises(ValueError, match=r"^xavier_uniform: fan in and fan out"):
        nn.init.xavier_uniform((), rng=0)
