"""Module: discovery of parameters and submodules, naming, modes, state dicts."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn


class Block(nn.Module):
    def __init__(self):
        self.scale = nn.Parameter(np.ones(2))
        self.inner = nn.Linear(2, 2, rng=0)
        self.heads = {"a": nn.Linear(2, 1, rng=1), "b": nn.Linear(2, 1, rng=2)}
        self.extra = [nn.Parameter(0.5), Value(np.zeros(3), requires_grad=False)]
        self._private = Value(1.0)
        self.constant = 3.0

    def forward(self, x):
        h = self.inner(x) * self.scale
        return self.heads["a"](h) + self.heads["b"](h) * self.extra[0]


def test_parameters_are_found_in_attributes_lists_and_dicts():
    b = Block()
    names = [n for n, _ in b.named_parameters()]
    assert names == [
        "scale",
        "extra.0",
        "inner.weight",
        "inner.bias",
        "heads.a.weight",
        "heads.a.bias",
        "heads.b.weight",
        "heads.b.bias",
    ]
    assert len(b.parameters()) == 8  # not the constant, not the private plain Value
    assert [n for n, _ in b.named_children()] == ["inner", "heads.a", "heads.b"]


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2, rng=0)
    seq = nn.Sequential(lin, nn.Tanh(), lin)
    assert len(seq.parameters()) == 2
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias"]


def test_sequential_names_and_forward():
    seq = nn.Sequential(nn.Linear(3, 4, rng=0), nn.ReLU(), nn.Linear(4, 1, rng=1))
    assert [n for n, _ in seq.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = np.ones((2, 3))
    expected = seq[2](seq[1](seq[0](x)))
    np.testing.assert_array_equal(seq(x).data, expected.data)
    assert len(seq) == 3
    with pytest.raises(TypeError, match="argument 1 is a int"):
        nn.Sequential(nn.ReLU(), 3)


def test_calling_a_model_leaves_parameter_names_alone_and_drawings_name_them():
    mlp = nn.MLP(2, [3, 1], rng=0)
    mlp.layers[1].bias.name = "my_bias"  # a name the user chose
    loss = nn.mse_loss(mlp(np.ones((4, 2))), np.zeros((4, 1)))
    assert mlp.layers[0].weight.name is None and mlp.layers[1].bias.name == "my_bias"
    loss.backward()
    assert "layers.0.weight" not in ag.to_dot(loss)
    dot = ag.to_dot(loss, names=mlp)
    assert "layers.0.weight" in dot and "layers.1.bias" in dot


def test_nested_containers_are_registered_at_any_depth():
    class Deep(nn.Module):
        def __init__(self):
            self.blocks = [[nn.Linear(2, 2, rng=0)], {"k": (nn.Linear(2, 1, rng=1),)}]

    names = [n for n, _ in Deep().named_parameters()]
    assert names == [
        "blocks.0.0.weight",
        "blocks.0.0.bias",
        "blocks.1.k.0.weight",
        "blocks.1.k.0.bias",
    ]


def test_module_list_dict_and_parameter_list():
    class Net(nn.Module):
        def __init__(self):
            self.layers = nn.ModuleList([nn.Linear(2, 2, rng=0)])
            self.layers.append(nn.Linear(2, 1, rng=1))
            self.heads = nn.ModuleDict({"a": nn.Linear(1, 1, rng=2)})
            self.scales = nn.ParameterList([1.0, np.ones(2)])

    net = Net()
    assert [n for n, _ in net.named_parameters()] == [
        "layers.0.weight",
        "layers.0.bias",
        "layers.1.weight",
        "layers.1.bias",
        "heads.a.weight",
        "heads.a.bias",
        "scales.0",
        "scales.1",
    ]
    assert len(net.layers) == 2 and isinstance(net.layers[1], nn.Linear)
    assert list(net.heads) == ["a"] and all(isinstance(p, nn.Parameter) for p in net.scales)
    with pytest.raises(TypeError, match="expected a Module"):
        net.layers.append(3)


def test_a_trainable_plain_value_or_a_set_of_modules_is_refused():
    m = nn.Module()
    with pytest.raises(TypeError, match=r"Module.w is a Value .* nn.Parameter"):
        m.w = Value(np.ones(2))
    with pytest.raises(TypeError, match=r"Module.ws\[1\] is a Value"):
        m.ws = [nn.Parameter(1.0), Value(2.0)]
    with pytest.raises(TypeError, match="a set"):
        m.parts = {nn.Linear(1, 1)}
    m.constant = Value(1.0, requires_grad=False)  # a constant is fine
    m._scratch = Value(1.0)  # so is a private plain Value (as PyTorch allows)
    assert m.parameters() == []


def test_parameter_is_a_value():
    p = nn.Parameter(np.ones(2), name="w")
    assert isinstance(p, Value) and p.requires_grad and p.is_leaf and p.name == "w"
    assert nn.Parameter is ag.Parameter and repr(p).startswith("Parameter(")
    assert not isinstance(p * 2, nn.Parameter)


def test_repr_shows_the_structure():
    text = repr(nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.MLP(4, [2])))
    assert text.splitlines()[0] == "Sequential("
    assert "(0): Linear(3, 4, bias=True)" in text
    assert "(1): ReLU()" in text
    assert "(layers.0): Layer(4, 2, bias=True, activation='linear')" in text


def test_train_eval_and_zero_grad_reach_every_submodule():
    b = Block()
    b.eval()
    assert not b.training and not b.inner.training and not b.heads["a"].training
    b.train()
    assert b.heads["b"].training
    b(np.ones(2)).sum().backward()
    assert all(p.grad is not None for p in b.parameters())
    b.zero_grad()
    assert all(p.grad is None for p in b.parameters())


def test_state_dict_round_trip_copies_in_place():
    a, b = nn.MLP(3, [4, 2], rng=0), nn.MLP(3, [4, 2], rng=1)
    w = b.layers[0].weight
    b.load_state_dict(a.state_dict())
    assert b.layers[0].weight is w  # same Value, data copied in place
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.data, q.data)
    sd = a.state_dict()
    sd["layers.0.weight"][0, 0] = 99.0  # a copy: the model is not changed
    assert a.layers[0].weight.data[0, 0] != 99.0


def test_scalar_parameters_round_trip():
    n = nn.Neuron(2, rng=0)
    n.bias.data = 0.25
    m = nn.Neuron(2, rng=1)
    m.load_state_dict(n.state_dict())
    assert m.bias.data == 0.25 and type(m.bias.data) is float


def test_a_failed_load_names_every_problem_and_changes_nothing():
    model = nn.MLP(3, [4, 2], rng=0)
    before = [p.data.copy() for p in model.parameters()]
    bad = nn.MLP(3, [4, 2], rng=1).state_dict()
    bad["layers.0.weight"] = np.zeros((5, 4))  # wrong shape
    bad["layers.1.bias"] = bad["layers.1.bias"].astype(np.float32)  # wrong dtype
    del bad["layers.0.bias"]  # missing
    bad["layers.9.weight"] = np.zeros(1)  # unexpected
    with pytest.raises(ValueError) as info:
        model.load_state_dict(bad)
    msg = str(info.value)
    for fragment in (
        "nothing was loaded",
        "4 problem(s)",
        "missing key 'layers.0.bias'",
        "unexpected key 'layers.9.weight'",
        "'layers.0.weight': shape (5, 4) in the state, (3, 4) in the model",
        "'layers.1.bias': dtype float32 in the state, float64 in the model",
    ):
        assert fragment in msg
    for p, old in zip(model.parameters(), before):
        np.testing.assert_array_equal(p.data, old)


def test_non_strict_load_reports_missing_and_unexpected():
    model = nn.Linear(2, 2, rng=0)
    state = {"weight": np.ones((2, 2)), "other": np.zeros(1)}
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["other"]
    np.testing.assert_array_equal(model.weight.data, np.ones((2, 2)))


def test_children_and_modules():
    seq = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    assert [type(m).__name__ for m in seq.children()] == ["Linear", "Sequential"]
    assert [type(m).__name__ for m in seq.modules()] == [
        "Sequential",
        "Linear",
        "Sequential",
        "ReLU",
        "Linear",
    ]
    assert [n for n, _ in seq.named_modules()] == ["", "0", "1", "1.0", "1.1"]
    assert [n for n, _ in seq.named_parameters()] == [
        "0.weight",
        "0.bias",
        "1.1.weight",
        "1.1.bias",
    ]


def test_zero_grad_to_zeros_on_request():
    lin = nn.Linear(2, 2, rng=0)
    lin(np.ones(2)).sum().backward()
    grad = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is grad and not grad.any()  # zeroed in place
    lin(np.ones(2)).sum().backward()
    np.testing.assert_array_equal(lin.weight.grad, np.ones((2, 2)))  # x outer 1, not doubled


def test_state_dict_holds_copies_in_the_parameter_dtype():
    mlp = nn.MLP(2, [3], dtype=np.float32, rng=0)
    sd = mlp.state_dict()
    assert list(sd) == ["layers.0.weight", "layers.0.bias"]
    assert all(v.dtype == np.float32 for v in sd.values())
    assert sd["layers.0.weight"] is not mlp.layers[0].weight.data
