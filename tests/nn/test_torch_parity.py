"""nn against PyTorch at the edges (issues 21, 22, 25): each test compares with torch."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
import nn
from autograd_lite import Value

torch = pytest.importorskip("torch")


def _t(a, requires_grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ------------------------------------------------- 21.3: underscore attributes register


def test_underscore_parameters_and_modules_register_as_in_pytorch(tmp_path):
    class Ours(nn.Module):
        def __init__(self):
            self._w = nn.Parameter(np.array([1.0, -2.0]))
            self._lin = nn.Linear(2, 1, rng=0)
            self.__hidden = nn.Parameter(0.5)  # mangled to _Ours__hidden, as in torch

        def forward(self, x):
            return self._lin(x * self._w) * self.__hidden

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self._w = torch.nn.Parameter(torch.ones(2))
            self._lin = torch.nn.Linear(2, 1)
            self.__hidden = torch.nn.Parameter(torch.tensor(0.5))

    ours, theirs = Ours(), Theirs()
    names = sorted(n for n, _ in ours.named_parameters())
    torch_names = sorted(n.replace("_Theirs", "_Ours") for n, _ in theirs.named_parameters())
    assert names == torch_names == ["_Ours__hidden", "_lin.bias", "_lin.weight", "_w"]
    assert [n for n, _ in ours.named_children()] == ["_lin"]
    assert sorted(ours.state_dict()) == names
    # the optimizer trains it
    before = ours._w.data.copy()
    opt = nn.optim.SGD(ours.parameters(), lr=0.1)
    ours(np.ones((3, 2))).sum().backward()
    opt.step()
    assert not np.array_equal(ours._w.data, before)
    # save and load carry it
    nn.save(ours.state_dict(), tmp_path / "m.npz")
    other = Ours()
    other.load_state_dict(nn.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(other._w.data, ours._w.data)
    # gradcheck on the module checks it
    result = ag.gradcheck(ours, [np.ones((3, 2))])
    assert result.passed and "\n  _w " in str(result)


def test_names_pytorch_refuses_are_refused():
    m = nn.Module()
    with pytest.raises(ValueError, match=r"'a\.b' cannot name a parameter"):
        setattr(m, "a.b", nn.Parameter(1.0))
    with pytest.raises(KeyError):
        torch.nn.Module().register_parameter("a.b", torch.nn.Parameter(torch.ones(1)))
    m._scratch = Value(1.0)  # a private plain Value that requires grad: allowed, as in torch
    assert m.parameters() == []
