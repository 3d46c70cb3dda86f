"""nn.utils.to_torch and load_torch_state_dict: the same model on both sides, same outputs."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from autograd_lite import nn


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def lenet(rng=0, dtype=np.float64):
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1, rng=rng, dtype=dtype),
        nn.BatchNorm2d(4, dtype=dtype),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding="same", rng=rng + 1, dtype=dtype),
        nn.Tanh(),
        nn.AvgPool2d(2, count_include_pad=False),
        nn.Flatten(),
        nn.Dropout(0.3, rng=rng),
        nn.MLP(24, [16, 10], activation="relu", rng=rng + 2, dtype=dtype),
        nn.LayerNorm(10, dtype=dtype),
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_to_torch_builds_the_same_model(dtype):
    torch = _torch()
    model = lenet(dtype=dtype)
    x = np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(dtype)
    model(x)  # one training step of BatchNorm's running statistics
    model.eval()
    tmodel = nn.utils.to_torch(model)
    assert isinstance(tmodel, torch.nn.Sequential) and not tmodel.training
    assert isinstance(tmodel[9], torch.nn.Sequential)  # the MLP: Linear, ReLU, Linear
    assert [type(m).__name__ for m in tmodel[9]] == ["Linear", "ReLU", "Linear"]
    assert tmodel[9][0].weight.shape == (16, 24)  # PyTorch's (out, in)
    assert tmodel[0].weight.dtype == (torch.float64 if dtype == np.float64 else torch.float32)
    np.testing.assert_array_equal(tmodel[1].running_var.numpy(), model[1].running_var)
    with torch.no_grad():
        theirs = tmodel(torch.from_numpy(x)).numpy()
    tol = 1e-12 if dtype == np.float64 else 1e-4
    np.testing.assert_allclose(model(x).data, theirs, atol=tol, rtol=tol)


def test_gradients_agree_too():
    torch = _torch()
    model = nn.MLP(4, [8, 8, 3], activation="tanh", rng=0)
    tmodel = nn.utils.to_torch(model)
    x = np.random.default_rng(1).standard_normal((6, 4))
    y = np.array([0, 1, 2, 0, 1, 2])
    nn.cross_entropy(model(x), y).backward()
    torch.nn.functional.cross_entropy(tmodel(torch.from_numpy(x)), torch.from_numpy(y)).backward()
    np.testing.assert_allclose(model.layers[0].weight.grad, tmodel[0].weight.grad.numpy().T)
    np.testing.assert_allclose(model.layers[2].bias.grad, tmodel[4].bias.grad.numpy())


def test_load_torch_state_dict_from_a_pytorch_trained_model():
    torch = _torch()
    torch.manual_seed(0)
    tmodel = nn.utils.to_torch(lenet())
    for p in tmodel.parameters():  # "trained" in PyTorch: new weights there
        torch.nn.init.normal_(p)
    tmodel(torch.randn(4, 1, 8, 8, dtype=torch.float64))  # and new running statistics
    tmodel.eval()
    model = lenet(rng=5)
    result = nn.utils.load_torch_state_dict(model, tmodel.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    model.eval()
    x = np.random.default_rng(2).standard_normal((3, 1, 8, 8))
    with torch.no_grad():
        theirs = tmodel(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model(x).data, theirs, atol=1e-10)


def test_a_float32_pytorch_state_loads_into_a_float64_model():
    torch = _torch()
    tlinear = torch.nn.Linear(3, 2)
    ours = nn.Linear(3, 2, rng=0)
    nn.utils.load_torch_state_dict(ours, tlinear.state_dict())
    assert ours.weight.dtype == np.float64
    np.testing.assert_allclose(ours.weight.data, tlinear.weight.detach().numpy().T, rtol=1e-7)


def test_keys_are_checked_and_torch_is_not_needed_to_load():
    model = nn.Sequential(nn.Layer(3, 2, "relu", rng=0), nn.BatchNorm1d(2))
    state = {
        "0.0.weight": np.ones((2, 3)),
        "0.0.bias": np.zeros(2),
        "1.weight": np.ones(2),
        "1.bias": np.zeros(2),
        "1.running_mean": np.zeros(2),
        "1.running_var": np.ones(2),
        "1.num_batches_tracked": np.array(3),
    }
    nn.utils.load_torch_state_dict(model, state)
    np.testing.assert_array_equal(model[0].weight.data, np.ones((3, 2)))
    assert int(model[1].num_batches_tracked) == 3
    with pytest.raises(ValueError, match=r"missing keys \['0.0.bias'\].*unexpected keys \['x'\]"):
        nn.utils.load_torch_state_dict(
            model, {**{k: v for k, v in state.items() if k != "0.0.bias"}, "x": 1}
        )
    partial = nn.utils.load_torch_state_dict(model, {"1.bias": np.full(2, 7.0)}, strict=False)
    assert "0.0.weight" in partial.missing_keys
    np.testing.assert_array_equal(model[1].bias.data, [7.0, 7.0])


def test_unsupported_modules_are_named():
    class Custom(nn.Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match=r"model\.1 is a Custom"):
        nn.utils.load_torch_state_dict(nn.Sequential(nn.ReLU(), Custom()), {})
    with pytest.raises(TypeError, match="activation"):
        nn.utils.load_torch_state_dict(nn.Layer(2, 2, activation=lambda x: x * 2), {})


def test_to_torch_says_how_to_get_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="pip install torch"):
        nn.utils.to_torch(nn.Linear(2, 2))
