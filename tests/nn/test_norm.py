"""LayerNorm, BatchNorm1d and BatchNorm2d: PyTorch's values, gradients and running statistics."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _copy_params(ours, theirs):
    torch = _torch()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            getattr(theirs, name).copy_(torch.tensor(p.data))


@pytest.mark.parametrize(
    "shape, normalized",
    [((4, 6), 6), ((2, 3, 5), (3, 5)), ((3, 2, 4, 4), (4,)), ((7,), 7)],
)
def test_layer_norm_matches_pytorch(shape, normalized):
    torch = _torch()
    rng = np.random.default_rng(0)
    ours = nn.LayerNorm(normalized)
    ours.weight.data[...] = rng.standard_normal(ours.weight.shape)
    ours.bias.data[...] = rng.standard_normal(ours.bias.shape)
    theirs = torch.nn.LayerNorm(normalized).double()
    _copy_params(ours, theirs)
    x = rng.standard_normal(shape) * 3 + 1
    v, t = Value(x), torch.tensor(x, requires_grad=True)
    out, tout = ours(v), theirs(t)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12)
    g = rng.standard_normal(shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(v.grad, t.grad.numpy(), atol=1e-10)
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, getattr(theirs, name).grad.numpy(), atol=1e-10)


def test_layer_norm_options_and_errors():
    ln = nn.LayerNorm(4, elementwise_affine=False)
    assert ln.parameters() == []
    y = ln(np.arange(8.0).reshape(2, 4))
    np.testing.assert_allclose(np.asarray(y).mean(axis=-1), 0.0, atol=1e-12)
    assert [n for n, _ in nn.LayerNorm(4, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match=r"ending in \(4,\)"):
        nn.LayerNorm(4)(np.ones((2, 5)))
    assert ag.gradgradcheck(nn.LayerNorm(3), [Value(np.random.default_rng(1).normal(size=(2, 3)))])


@pytest.mark.parametrize(
    "cls, shape",
    [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)), ("BatchNorm2d", (4, 3, 5, 2))],
)
@pytest.mark.parametrize("momentum", [0.1, 0.3, None])
def test_batch_norm_matches_pytorch_in_training_and_evaluation(cls, shape, momentum):
    torch = _torch()
    rng = np.random.default_rng(1)
    ours = getattr(nn, cls)(3, momentum=momentum)
    ours.weight.data[...] = rng.standard_normal(3)
    ours.bias.data[...] = rng.standard_normal(3)
    theirs = getattr(torch.nn, cls)(3, momentum=momentum).double()
    _copy_params(ours, theirs)
    for step in range(3):  # training: batch statistics, running ones updated every step
        x = rng.standard_normal(shape) * (step + 1) + step
        v, t = Value(x), torch.tensor(x, requires_grad=True)
        out, tout = ours(v), theirs(t)
        np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-10)
        g = rng.standard_normal(shape)
        out.backward(g)
        tout.backward(torch.tensor(g))
        np.testing.assert_allclose(v.grad, t.grad.numpy(), atol=1e-9)
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_allclose(getattr(ours, name), getattr(theirs, name).numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-9)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape)
    before = ours.running_mean.copy()
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)
    np.testing.assert_array_equal(ours.running_mean, before)  # not updated in evaluation


def test_batch_norm_buffers_are_saved_and_loaded(tmp_path):
    bn = nn.BatchNorm2d(2)
    bn(np.random.default_rng(0).standard_normal((4, 2, 3, 3)))
    state = bn.state_dict()
    assert list(state) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"]
    assert state["num_batches_tracked"].dtype == np.int64 and int(state["num_batches_tracked"]) == 1
    nn.save(state, tmp_path / "bn.npz")
    fresh = nn.BatchNorm2d(2)
    fresh.load_state_dict(nn.load(tmp_path / "bn.npz"))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        np.testing.assert_array_equal(getattr(fresh, name), getattr(bn, name))
    model = nn.Sequential(nn.Conv2d(1, 2, 3, rng=0), nn.BatchNorm2d(2))
    assert "1.running_var" in model.state_dict()
    assert [n for n, _ in model.named_buffers()] == [
        "1.running_mean",
        "1.running_var",
        "1.num_batches_tracked",
    ]


def test_batch_norm_options_and_errors():
    bn = nn.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert bn.parameters() == [] and bn.buffers() == []
    bn.eval()  # without running statistics evaluation normalises with the batch's
    y = np.asarray(bn(np.random.default_rng(0).standard_normal((5, 3)) + 4))
    np.testing.assert_allclose(y.mean(axis=0), 0.0, atol=1e-12)
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3)(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"C = 3"):
        nn.BatchNorm1d(3)(np.ones((4, 2)))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        nn.BatchNorm2d(3)(np.ones((4, 3)))
    bn = nn.BatchNorm1d(2)
    bn(np.random.default_rng(0).standard_normal((4, 2)))
    bn.reset_running_stats()
    np.testing.assert_array_equal(bn.running_var, [1.0, 1.0])
    assert int(bn.num_batches_tracked) == 0


def test_batch_norm_second_derivatives():
    bn = nn.BatchNorm1d(2)
    x = Value(np.random.default_rng(2).standard_normal((4, 2)))
    assert ag.gradcheck(bn, [x])
    assert ag.gradgradcheck(bn, [x])


def test_batch_norm_float32_stays_float32():
    bn = nn.BatchNorm2d(2, dtype=np.float32)
    out = bn(Value(np.ones((3, 2, 2, 2), dtype=np.float32) + np.arange(3).reshape(3, 1, 1, 1)))
    assert out.dtype == np.float32 and bn.running_mean.dtype == np.float32
    bn.eval()
    assert bn(np.ones((3, 2, 2, 2))).dtype == np.float32


@pytest.mark.parametrize(
    ("cls", "shape"),
    [(nn.BatchNorm1d, (1, 3)), (nn.BatchNorm1d, (1, 3, 1)), (nn.BatchNorm2d, (1, 3, 1, 1))],
)
def test_batch_norm_eval_without_running_stats_needs_more_than_one_value(cls, shape):
    """Evaluation without running statistics uses the batch's, so PyTorch's check applies."""
    bn = cls(3, track_running_stats=False).eval()
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: expected more than 1 value per"):
        bn(np.ones(shape))
    tracked = cls(3).eval()  # the running statistics: one value is fine
    np.testing.assert_allclose(tracked(np.ones(shape)).data, 1 / np.sqrt(1 + 1e-5))


def test_batch_norm_eval_without_running_stats_raises_as_pytorch():
    torch = _torch()
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        torch.nn.BatchNorm1d(3, track_running_stats=False).eval()(torch.ones(1, 3))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(3, track_running_stats=False).eval()(np.ones((1, 3)))
