"""RMSprop step by step against PyTorch's documented rule and against torch.optim.RMSprop."""

from __future__ import annotations

import os

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn

RNG = np.random.default_rng(0)
GRADS = [RNG.standard_normal(3) for _ in range(6)]
P0 = RNG.standard_normal(3)

CONFIGS = [
    {},
    {"lr": 0.1, "alpha": 0.9},
    {"lr": 0.05, "momentum": 0.9},
    {"lr": 0.05, "centered": True},
    {"lr": 0.05, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
    {"lr": 0.02, "eps": 1e-3, "weight_decay": 0.01},
]


def reference(lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0, centered=False):
    """PyTorch's documented RMSprop, written out independently."""
    p, v, m, b, out = P0.copy(), np.zeros(3), np.zeros(3), np.zeros(3), []
    for g in GRADS:
        g = g + weight_decay * p
        v = alpha * v + (1 - alpha) * g * g
        v_tilde = v
        if centered:
            m = alpha * m + (1 - alpha) * g
            v_tilde = v - m * m
        if momentum > 0:
            b = momentum * b + g / (np.sqrt(v_tilde) + eps)
            p = p - lr * b
        else:
            p = p - lr * g / (np.sqrt(v_tilde) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize("kw", CONFIGS)
def test_rmsprop_follows_the_documented_rule(kw):
    p = Value(P0.copy())
    opt = nn.optim.RMSprop([p], **kw)
    for g, expected in zip(GRADS, reference(**kw)):
        p.grad = g.copy()
        opt.step()
        np.testing.assert_allclose(p.data, expected, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("kw", CONFIGS)
def test_rmsprop_matches_torch(kw):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    w0, x = rng.standard_normal((3, 2)), rng.standard_normal((5, 3))
    w, tw = Value(w0.copy()), torch.tensor(w0.copy(), requires_grad=True)
    ours, theirs = nn.optim.RMSprop([w], **kw), torch.optim.RMSprop([tw], **kw)
    for _ in range(5):
        ours.zero_grad()
        ag.sum(ag.tanh(Value(x, requires_grad=False) @ w) ** 2).backward()
        ours.step()
        theirs.zero_grad()
        (torch.tanh(torch.tensor(x) @ tw) ** 2).sum().backward()
        theirs.step()
    np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_rmsprop_state_dict_round_trip_resumes_exactly(tmp_path):
    kw = {"lr": 0.05, "centered": True, "momentum": 0.9}
    p = Value(P0.copy())
    opt = nn.optim.RMSprop([p], **kw)
    for g in GRADS[:3]:
        p.grad = g.copy()
        opt.step()
    path = os.path.join(tmp_path, "opt.npz")
    nn.save(opt.state_dict(), path)
    q = Value(p.data.copy())
    resumed = nn.optim.RMSprop([q], lr=1.0)
    resumed.load_state_dict(nn.load(path))
    assert resumed.param_groups[0]["centered"] is True
    for g in GRADS[3:]:
        p.grad, q.grad = g.copy(), g.copy()
        opt.step()
        resumed.step()
    np.testing.assert_array_equal(p.data, q.data)


def test_rmsprop_float32_and_bad_hyper_parameters():
    p = Value(np.ones(3, dtype=np.float32))
    opt = nn.optim.RMSprop([p], momentum=0.9, centered=True)
    p.grad = np.full(3, 0.5, dtype=np.float32)
    opt.step()
    assert p.data.dtype == np.float32
    assert all(v.dtype == np.float32 for k, v in opt.state[0].items() if k != "step")
    for bad in ({"alpha": 1.5}, {"eps": -1.0}, {"momentum": -0.1}, {"lr": -1.0}):
        with pytest.raises(ValueError):
            nn.optim.RMSprop([Value(np.ones(2))], **bad)
