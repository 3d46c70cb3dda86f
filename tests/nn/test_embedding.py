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


def test_value_indices_holding_integers_are_read_and_checked():
    """A Value's data are floats: indices in one are taken when they hold integers (as a
    compiled function's arguments do), refused with the layer's name otherwise."""
    emb = nn.Embedding(3, 2, rng=0)
    out = emb(ag.Value(np.array([2.0, 0.0])))
    np.testing.assert_array_equal(out.data, emb.weight.data[[2, 0]])
    with pytest.raises(ValueError, match=r"Embedding: indices must be integers, got 0\.5"):
        emb(ag.Value(np.array([0.5])))
    with pytest.raises(IndexError, match=r"Embedding: indices must be in \[0, 3\)"):
        emb(ag.Value(np.array([3.0])))


def test_a_compiled_training_step_reads_new_indices_and_equals_eager():
    """Embedding inside ag.compile: the indices are an argument read anew at every call
    (not frozen), padding included; losses, weights and gradients equal eager's to the
    bit over the steps, from one trace; an out-of-range index on a replay is refused."""
    runs = []
    for compiled in (False, True):
        emb, head = nn.Embedding(7, 3, padding_idx=0, rng=0), nn.Linear(3, 1, rng=1)
        params = [*emb.parameters(), *head.parameters()]
        opt = nn.optim.Adam(params, lr=0.05)

        def step(idx, y, emb=emb, head=head, opt=opt):
            opt.zero_grad()
            loss = nn.mse_loss(head(emb(idx)).reshape(-1), y)
            loss.backward()
            opt.step()
            return loss

        f = ag.compile(step) if compiled else step
        rng = np.random.default_rng(3)
        losses = []
        for _ in range(6):
            idx = rng.integers(0, 7, size=5)
            losses.append(f(idx, rng.standard_normal(5)).item())
        runs.append((losses, [p.data.copy() for p in params], [p.grad for p in params]))
        if compiled:
            assert f.traces == 1 and f.plans[0].calls == 5  # the replays after the trace
            with pytest.raises(IndexError, match="indices must be in") as err:
                f(np.array([1, 2, 7, 0, 0]), np.zeros(5))
            assert "embedding:" in str(err.value) and "test_embedding.py" in str(err.value)
    assert runs[0][0] == runs[1][0]
    for a, b in zip(runs[0][1] + runs[0][2], runs[1][1] + runs[1][2]):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(runs[1][1][0][0], [0.0, 0.0, 0.0])  # padding row untouched


def test_forward_mode_with_padding_agrees_with_the_gradient():
    """The padding row is constant by declaration, in forward mode as in backward: the
    JVP agrees with the VJP (finite differences see the row, so they alone disagree)."""
    from autograd_lite.transforms import check_forward_ad

    w = ag.Value(np.random.default_rng(0).standard_normal((5, 3)), requires_grad=True)
    idx = np.array([[0, 1, 1], [4, 0, 2]])
    padded = check_forward_ad(lambda w: ag.embedding(idx, w, 1), [w])
    assert not padded and padded.op is None and "JVP agreed with its VJP" in str(padded)
    assert check_forward_ad(lambda w: ag.embedding(idx, w), [w])
