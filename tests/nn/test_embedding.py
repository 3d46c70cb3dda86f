"""Embedding: lookups, accumulated gradients, padding_idx, PyTorch's values."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import nn


def test_lookup_and_accumulated_gradients():
    emb = nn.Embedding(5, 3, rng=0)
    idx = np.array([[0, 2, 2], [4, 0, 1]])
    out = emb(idx)
    assert out.shape == (2, 3, 3)
    np.testing.assert_array_equal(out.data, emb.weight.data[idx])
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(emb.weight.grad[:, 0], [2, 1, 2, 0, 1])  # counts per row
    assert ag.gradcheck(lambda: ag.sum(emb(idx) ** 2), [], params=emb)


def test_padding_idx_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(4, 2, padding_idx=-1, rng=0)
    assert emb.padding_idx == 3
    np.testing.assert_array_equal(emb.weight.data[3], [0.0, 0.0])
    emb.weight.data[3] = [5.0, 6.0]
    out = emb(np.array([3, 1, 3]))
    np.testing.assert_array_equal(out.data[0], [5.0, 6.0])  # its value is used
    out.backward(np.ones(out.shape))
    np.testing.assert_array_equal(emb.weight.grad[3], [0.0, 0.0])
    np.testing.assert_array_equal(emb.weight.grad[1], [1.0, 1.0])


def test_matches_pytorch():
    torch = pytest.importorskip("torch")
    ours = nn.Embedding(6, 4, padding_idx=2, rng=1)
    theirs = torch.nn.Embedding(6, 4, padding_idx=2).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
    idx = np.array([[1, 2, 5], [2, 2, 0]])
    out, tout = ours(idx), theirs(torch.tensor(idx))
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    g = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy())
    std = nn.Embedding(1000, 50, rng=0).weight.data.std()
    assert 0.97 < std < 1.03  # N(0, 1), PyTorch's default


def test_bad_indices_are_refused():
    emb = nn.Embedding(3, 2)
    with pytest.raises(IndexError, match=r"in \[0, 3\)"):
        emb(np.array([0, 3]))
    with pytest.raises(TypeError, match="integers"):
        emb(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="padding_idx"):
        nn.Embedding(3, 2, padding_idx=3)
    assert repr(nn.Embedding(3, 2, padding_idx=0)) == "Embedding(3, 2, padding_idx=0)"
