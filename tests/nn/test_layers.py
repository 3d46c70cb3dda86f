"""Layers: gradients (weights and inputs), shapes, dtypes, init, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.testing import arrays

ACTIVATIONS = ["tanh", "sigmoid", "linear", "relu", "leaky_relu"]


def params_as_inputs(module):
    """A function of (x, *params) that runs module with the given parameter Values swapped in."""
    names = [n for n, _ in module.named_parameters()]

    def run(x, *ps):
        saved = {}
        for name, p in zip(names, ps):
            owner, attr = _owner(module, name)
            saved[name] = getattr(owner, attr)
            object.__setattr__(owner, attr, p)  # a plain Value in a Parameter's place
        try:
            return module(x)
        finally:
            for name, old in saved.items():
                owner, attr = _owner(module, name)
                object.__setattr__(owner, attr, old)

    return run, [p.data for _, p in module.named_parameters()]


def _owner(module, dotted):
    *path, attr = dotted.split(".")
    obj = module
    for part in path:
        obj = obj[int(part)] if isinstance(obj, list) else getattr(obj, part)
    return obj, attr


def away_from_kinks(module, x):
    """relu-type activations: keep every pre-activation away from 0 (finite differences)."""
    layers = module.layers if isinstance(module, nn.MLP) else [module]
    h = np.asarray(x, dtype=np.float64)
    for layer in layers:
        pre = h @ layer.weight.data + (0.0 if layer.bias is None else layer.bias.data)
        assume(np.all(np.abs(pre) > 1e-3))
        h = layer.activation(Value(pre)).data


@given(
    activation=st.sampled_from(ACTIVATIONS),
    batch=st.sampled_from([(), (3,)]),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_layer_gradients_for_weights_and_inputs(activation, batch, seed, data):
    layer = nn.Layer(3, 2, activation, rng=seed)
    x = data.draw(arrays((*batch, 3)))
    away_from_kinks(layer, x)
    fn, ps = params_as_inputs(layer)
    assert ag.gradcheck(fn, [Value(x)] + [Value(p) for p in ps])


@given(seed=st.integers(0, 2**16), data=st.data())
def test_mlp_gradients_for_weights_and_inputs(seed, data):
    mlp = nn.MLP(2, [3, 2], activation="tanh", output_activation="sigmoid", rng=seed)
    x = data.draw(arrays((4, 2)))
    fn, ps = params_as_inputs(mlp)
    assert ag.gradcheck(fn, [Value(x)] + [Value(p) for p in ps])


@given(
    batch=st.sampled_from([(), (2,)]), bias=st.booleans(), seed=st.integers(0, 99), data=st.data()
)
def test_neuron_and_linear_gradients(batch, bias, seed, data):
    for module in (nn.Neuron(3, "tanh", bias, rng=seed), nn.Linear(3, 2, bias, rng=seed)):
        x = data.draw(arrays((*batch, 3)))
        fn, ps = params_as_inputs(module)
        assert ag.gradcheck(fn, [Value(x)] + [Value(p) for p in ps])


def test_linear_is_x_at_w_plus_b():
    lin = nn.Linear(3, 2, rng=0)
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(lin(x).data, x @ lin.weight.data + lin.bias.data)
    assert lin.weight.shape == (3, 2) and lin.bias.shape == (2,)
    assert nn.Linear(3, 2, bias=False, rng=0).bias is None


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_layer_applies_its_activation(activation):
    layer = nn.Layer(4, 3, activation, rng=1)
    x = np.linspace(-2, 2, 8).reshape(2, 4)
    pre = x @ layer.weight.data + layer.bias.data
    expected = {
        "tanh": np.tanh(pre),
        "sigmoid": 1 / (1 + np.exp(-pre)),
        "linear": pre,
        "relu": np.maximum(pre, 0),
        "leaky_relu": np.where(pre > 0, pre, 0.01 * pre),
    }[activation]
    np.testing.assert_allclose(layer(x).data, expected)


def test_activation_as_callable_and_unknown_name():
    layer = nn.Layer(2, 2, activation=lambda v: v * 3.0, rng=0)
    x = np.ones(2)
    np.testing.assert_allclose(layer(x).data, 3 * (x @ layer.weight.data + layer.bias.data))
    with pytest.raises(ValueError, match=r"unknown activation 'swish'.*'relu'"):
        nn.Layer(2, 2, activation="swish")


def test_neuron_is_micrograds():
    n = nn.Neuron(3, rng=0)
    assert n.weight.shape == (3,) and n.bias.data == 0.0 and type(n.bias.data) is float
    assert np.all(np.abs(n.weight.data) <= 1.0)
    out = n([1.0, -2.0, 0.5])
    expected = max(0.0, float(np.dot(n.weight.data, [1.0, -2.0, 0.5])))
    assert out.shape == () and out.item() == pytest.approx(expected)
    assert n(np.ones((4, 3))).shape == (4,)


def test_neuron_accepts_a_list_of_scalar_values_and_backprops_into_them():
    n = nn.Neuron(2, activation="linear", rng=0)
    xs = [Value(1.5), Value(-0.5)]
    n(xs).backward()
    assert xs[0].grad == pytest.approx(n.weight.data[0])
    assert xs[1].grad == pytest.approx(n.weight.data[1])


def test_mlp_shapes_and_names():
    mlp = nn.MLP(3, [4, 4, 2], rng=0)
    assert mlp(np.ones(3)).shape == (2,)
    assert mlp(np.ones((5, 3))).shape == (5, 2)
    assert mlp([1.0, 2.0, 3.0]).shape == (2,)
    names = [n for n, _ in mlp.named_parameters()]
    assert names == [f"layers.{i}.{w}" for i in range(3) for w in ("weight", "bias")]
    assert len(mlp.parameters()) == 6
    assert [layer.activation for layer in mlp.layers] == [
        ag.tanh,
        ag.tanh,
        nn.get_activation("linear"),
    ]


def test_float32_stays_float32_forward_and_backward():
    mlp = nn.MLP(3, [4, 2], activation="sigmoid", dtype=np.float32, rng=0)
    out = mlp(np.random.default_rng(0).standard_normal((5, 3)))  # float64 input is converted
    loss = nn.mse_loss(out, np.zeros((5, 2)))
    assert out.dtype == np.float32 and loss.dtype == np.float32
    loss.backward()
    assert all(p.grad.dtype == np.float32 for p in mlp.parameters())


def test_same_seed_same_weights():
    a, b = nn.MLP(3, [4, 2], rng=7), nn.MLP(3, [4, 2], rng=7)
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    c = nn.MLP(3, [4, 2], rng=8)
    assert not np.array_equal(a.parameters()[0].data, c.parameters()[0].data)


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (
            lambda: nn.Linear(3, 2)(np.ones((4, 5))),
            r"Linear\(3, 2.*\(batch, 3\), got shape \(4, 5\)",
        ),
        (lambda: nn.Linear(3, 2)(np.float64(1.0)), r"got shape \(\)"),
        (lambda: nn.MLP(2, [3])(np.ones(3)), r"\(batch, 2\), got shape \(3,\)"),
        (lambda: nn.Linear(0, 2), "nin must be a positive integer"),
        (lambda: nn.Linear(2, 2.5), "nout must be a positive integer"),
        (lambda: nn.MLP(2, []), "non-empty list"),
        (lambda: nn.MLP(2, 3), "non-empty list"),
        (lambda: nn.Linear(2, 2, init="glorot"), "unknown init 'glorot'"),
    ],
)
def test_bad_input_is_a_clear_error(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make()


def test_non_numeric_input_is_a_type_error():
    with pytest.raises(TypeError, match="input must be numbers"):
        nn.Linear(2, 2)(["a", "b"])


@given(seed=st.integers(0, 99), data=st.data())
def test_sequential_gradients_for_weights_and_inputs(seed, data):
    seq = nn.Sequential(nn.Linear(3, 4, rng=seed), nn.Tanh(), nn.Linear(4, 2, rng=seed + 1))
    x = data.draw(arrays((2, 3)))
    fn, ps = params_as_inputs(seq)
    assert ag.gradcheck(fn, [Value(x)] + [Value(p) for p in ps])


def test_mlp_takes_dtype_as_its_fifth_argument():
    mlp = nn.MLP(3, [4, 2], "relu", "sigmoid", np.float32, rng=0)
    assert all(p.dtype == np.float32 for p in mlp.parameters())
    assert [layer.activation for layer in mlp.layers] == [ag.relu, ag.sigmoid]
    with pytest.raises(TypeError, match="dtype must be a floating type"):
        nn.MLP(3, [4], dtype=np.int64)


def test_mlp_output_is_the_composition_of_its_layers():
    mlp = nn.MLP(3, [5, 4, 2], activation="tanh", output_activation="sigmoid", rng=3)
    x = np.random.default_rng(1).standard_normal((6, 3))
    (w1, b1), (w2, b2), (w3, b3) = [(layer.weight.data, layer.bias.data) for layer in mlp.layers]
    h = np.tanh(np.tanh(x @ w1 + b1) @ w2 + b2)
    np.testing.assert_allclose(mlp(x).data, 1 / (1 + np.exp(-(h @ w3 + b3))))
    np.testing.assert_allclose(mlp(x[0]).data, 1 / (1 + np.exp(-(h[0] @ w3 + b3))))


def test_a_value_input_of_another_dtype_is_cast_and_its_gradient_comes_back():
    lin = nn.Linear(3, 2, dtype=np.float32, rng=0)
    x = Value(np.array([0.5, -1.0, 2.0]))  # float64
    out = lin(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float64 and lin.weight.grad.dtype == np.float32
    # d sum(x @ W + b) / dx = W @ 1, d / dW = outer(x, 1)
    np.testing.assert_allclose(x.grad, lin.weight.data.sum(axis=1), rtol=1e-6)
    np.testing.assert_allclose(lin.weight.grad, np.outer(x.data, np.ones(2)), rtol=1e-6)


def test_the_cast_is_differentiable_twice():
    """f(x) = x^3 through a float32 round trip: f' = 3x^2 and f'' = 6x, to float32 precision."""
    x = Value(np.array([0.3, -0.7]))
    y = nn.layers.cast(nn.layers.cast(x, np.float32), np.float64) ** 3
    (g,) = ag.grad(y.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2, rtol=1e-6)
    g.sum().backward()
    np.testing.assert_allclose(x.grad, 6 * x.data, rtol=1e-6)
    assert nn.layers.cast(x, np.float64) is x


def test_an_input_already_in_the_layers_dtype_is_not_copied():
    from autograd_lite.nn.layers import as_input

    x = np.ones((2, 3), dtype=np.float32)
    assert as_input(x, np.dtype(np.float32), 3, "test") is x
    assert as_input(x, np.dtype(np.float64), 3, "test").dtype == np.float64


def test_neuron_takes_a_list_mixing_floats_and_values():
    n = nn.Neuron(3, activation="tanh", rng=2)
    a = Value(0.5)
    out = n([1.0, a, -2.0])
    w = n.weight.data
    pre = w[0] * 1.0 + w[1] * 0.5 + w[2] * -2.0
    assert out.item() == pytest.approx(np.tanh(pre))
    out.backward()
    assert a.grad == pytest.approx((1 - np.tanh(pre) ** 2) * w[1])


def test_neuron_gradient_is_the_textbook_formula():
    """d tanh(w.x + b)/dw = (1 - y^2) x and /db = 1 - y^2, worked out by hand."""
    n = nn.Neuron(2, activation="tanh", rng=0)
    x = np.array([0.4, -1.2])
    y = n(x)
    y.backward()
    np.testing.assert_allclose(n.weight.grad, (1 - y.item() ** 2) * x)
    assert n.bias.grad == pytest.approx(1 - y.item() ** 2)


def test_errors_name_the_module():
    with pytest.raises(ValueError, match=r"MLP\(2 -> 3 -> 1\): expected .* got shape \(4, 5\)"):
        nn.MLP(2, [3, 1])(np.ones((4, 5)))
    with pytest.raises(ValueError, match=r"Neuron\(3, activation='relu'\): .*got shape \(2,\)"):
        nn.Neuron(3)([1.0, 2.0])
    with pytest.raises(TypeError, match="rng must be an integer seed"):
        nn.Linear(2, 2, rng="seed")


def test_repr_of_an_mlp_shows_sizes_and_layers():
    text = repr(nn.MLP(3, [4, 2], dtype=np.float32))
    assert text.splitlines() == [
        "MLP(3 -> 4 -> 2",
        "  (layers.0): Layer(3, 4, bias=True, dtype=float32, activation='tanh')",
        "  (layers.1): Layer(4, 2, bias=True, dtype=float32, activation='linear')",
        ")",
    ]
