"""Dropout: active in training, the identity in evaluation, reproducible, redrawn on replay."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite import functional as F
from autograd_lite.ops.primitives import MaskBox


def test_dropout_zeroes_and_scales_in_training_and_is_the_identity_in_evaluation():
    layer = nn.Dropout(0.25, rng=0)
    x = Value(np.ones((200, 50)))
    y = layer(x)
    kept = y.data != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(y.data[kept], 1 / 0.75)
    y.backward(np.ones(y.shape))
    np.testing.assert_array_equal(x.grad, y.data)  # the same mask, scaled the same way
    layer.eval()
    assert layer(x) is x


def test_a_seed_reproduces_the_masks_and_each_call_draws_a_new_one():
    x = np.ones((4, 8))
    a, b = nn.Dropout(rng=3), nn.Dropout(rng=3)
    first = [np.asarray(a(x)) for _ in range(3)]
    second = [np.asarray(b(x)) for _ in range(3)]
    for u, v in zip(first, second):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(first[0], first[1])


def test_the_mask_is_drawn_in_the_ops_forward_so_a_replay_draws_anew():
    """What a compiled graph does: run the node's op forward again on the same inputs."""
    x = Value(np.ones(1000))
    y = F.dropout(x, 0.5, rng=np.random.default_rng(0))
    assert y.op == "dropout"
    p, rng, box = y._ctx
    assert p == 0.5 and isinstance(rng, np.random.Generator) and isinstance(box, MaskBox)
    first = box.mask
    replay = y._op.forward(x.data, *y._ctx)
    assert not np.array_equal(replay, y.data)
    assert box.mask is not first  # the node's VJP now uses the replayed mask
    y.backward(np.ones(1000))
    np.testing.assert_array_equal(x.grad, replay)
    # the op called directly, with a box of its own
    x.grad = None
    node = ag.OPS["dropout"](x, 0.5, rng, MaskBox())
    node.backward(np.ones(1000))
    np.testing.assert_array_equal(x.grad, node.data)


def test_each_result_keeps_its_own_mask_and_frees_it_with_the_node():
    x = Value(np.ones(100))
    layer = nn.Dropout(0.5, rng=1)
    y1, y2 = layer(x), layer(x)
    (y1 * 2.0 + y2).sum().backward()
    np.testing.assert_allclose(x.grad, 2.0 * y1.data + y2.data)
    masks = [weakref.ref(y._ctx[2].mask) for y in (y1, y2)]
    del y1, y2
    assert all(m() is None for m in masks)  # freed by reference counting, no global table


def test_dropout_edge_cases():
    x = Value(np.arange(1.0, 7.0))
    assert F.dropout(x, 0.0) is x
    np.testing.assert_array_equal(F.dropout(x, 1.0, rng=0).data, np.zeros(6))
    assert F.dropout(x, 0.5, training=False) is x
    assert nn.Dropout(0.5, rng=0)(np.ones(3, np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="probability"):
        nn.Dropout(1.5)
    with pytest.raises(ValueError, match="probability"):
        F.dropout(x, -0.1)
    assert repr(nn.Dropout(0.3)) == "Dropout(p=0.3)"


def test_dropout_gradients_check_with_a_fixed_mask():
    x = Value(np.random.default_rng(0).standard_normal((3, 4)))

    class Same:
        def random(self, size=None):
            return np.random.default_rng(5).random(size)

    f = lambda v: F.dropout(v, 0.4, rng=Same()) * v
    assert ag.gradcheck(f, [x])
    assert ag.gradgradcheck(f, [x])
