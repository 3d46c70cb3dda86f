"""Module buffers: arrays saved with the state but not trained (BatchNorm's running stats)."""

from __future__ import annotations

import numpy as np
import pytest

from autograd_lite import nn


class Counter(nn.Module):
    def __init__(self):
        self.scale = nn.Parameter(np.ones(2))
        self.register_buffer("seen", np.zeros(2))

    def forward(self, x):
        if self.training:
            self.seen += 1
        return x * self.scale


def test_buffers_are_in_the_state_not_in_the_parameters(tmp_path):
    model = nn.Sequential(Counter(), Counter())
    model(np.ones(2))
    assert [n for n, _ in model.named_parameters()] == ["0.scale", "1.scale"]
    assert [n for n, _ in model.named_buffers()] == ["0.seen", "1.seen"]
    assert len(model.buffers()) == 2
    state = model.state_dict()
    assert list(state) == ["0.scale", "1.scale", "0.seen", "1.seen"]
    state["0.seen"][...] = 99  # a copy: the module's buffer is unchanged
    np.testing.assert_array_equal(model[0].seen, [1.0, 1.0])
    nn.save(model.state_dict(), tmp_path / "m.npz")
    other = nn.Sequential(Counter(), Counter())
    other.load_state_dict(nn.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(other[1].seen, [1.0, 1.0])


def test_loading_checks_buffers_and_copies_in_place():
    c = Counter()
    buf = c.seen
    c.load_state_dict({"scale": np.ones(2), "seen": np.full(2, 5.0)})
    assert c.seen is buf and buf[0] == 5.0
    with pytest.raises(ValueError, match="missing key 'seen'"):
        c.load_state_dict({"scale": np.ones(2)})
    with pytest.raises(ValueError, match=r"'seen': shape \(3,\)"):
        c.load_state_dict({"scale": np.ones(2), "seen": np.ones(3)})
    assert c.load_state_dict({"scale": np.ones(2)}, strict=False).missing_keys == ["seen"]


def test_register_buffer_refuses_private_names():
    with pytest.raises(ValueError, match="public attribute"):
        Counter().register_buffer("_x", np.zeros(1))
