"""load_torch_state_dict refuses values that are not real numbers, naming the key (issue 24)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from autograd_lite import nn


def _state():
    return {"weight": np.ones((2, 3)), "bias": np.zeros(2)}


@pytest.mark.parametrize(
    ("bad", "dtype"),
    [
        (np.array(["1", "2"]), "<U1"),  # was loaded as 1.0, 2.0
        (np.array([1 + 2j, 3 + 0j]), "complex128"),  # was loaded with a ComplexWarning
        (np.array([object(), object()], dtype=object), "object"),
    ],
)
def test_a_value_that_is_not_real_numbers_is_refused_by_key(bad, dtype):
    model = nn.Linear(3, 2, rng=0)
    before = {k: v.copy() for k, v in model.state_dict().items()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no ComplexWarning on the way
        with pytest.raises(ValueError, match=rf"nothing was loaded: 'bias' holds {dtype}"):
            nn.utils.load_torch_state_dict(model, {**_state(), "bias": bad})
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_a_complex_torch_tensor_is_refused():
    torch = pytest.importorskip("torch")
    model = nn.Linear(3, 2, rng=0)
    state = {"weight": torch.ones(2, 3), "bias": torch.zeros(2, dtype=torch.complex64)}
    with pytest.raises(ValueError, match=r"'bias' holds complex64"):
        nn.utils.load_torch_state_dict(model, state)


def test_real_values_still_load():
    model = nn.Linear(3, 2, rng=0)
    nn.utils.load_torch_state_dict(model, {"weight": np.ones((2, 3), np.float32), "bias": [1, 2]})
    np.testing.assert_array_equal(model.bias.data, [1.0, 2.0])
