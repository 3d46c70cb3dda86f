"""Convolution and pooling: values and gradients against PyTorch, the layers, bad input.

The ops' own first and second derivatives are checked against finite differences in
tests/autograd_lite/test_ops.py (CASES); here they are compared with PyTorch's, over odd
sizes and stride/padding/dilation combinations.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite import functional as F


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


def _compare(ours_fn, torch_fn, arrays, seed=0, atol=1e-10):
    """Same forward values and the same gradient of every input for a random output seed."""
    torch = _torch()
    values = [Value(a) for a in arrays]
    tensors = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = ours_fn(*values), torch_fn(*tensors)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=atol)
    g = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    for v, t in zip(values, tensors):
        np.testing.assert_allclose(v.grad, t.grad.numpy(), atol=atol)


CONV2D_CONFIGS = [
    # (N, C, O, H, W, kernel, stride, padding, dilation)
    (2, 3, 4, 7, 5, (3, 3), 1, 0, 1),
    (1, 2, 3, 9, 8, (3, 2), 2, 1, 1),
    (3, 1, 2, 11, 6, (5, 3), (2, 1), (2, 1), 1),
    (2, 2, 2, 9, 9, (3, 3), 1, 2, 2),
    (1, 3, 5, 13, 10, (2, 4), (3, 2), (1, 0), (2, 1)),
    (2, 4, 1, 5, 5, (1, 1), 1, 0, 1),
    (1, 1, 1, 6, 7, (6, 7), 1, 0, 1),
    (2, 2, 3, 8, 7, (3, 3), 1, "same", 1),
    (2, 2, 3, 8, 7, (4, 2), 1, "same", (1, 2)),  # even kernel: PyTorch's uneven split
    (2, 2, 3, 8, 7, (3, 3), 2, "valid", 1),
]


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("config", CONV2D_CONFIGS)
@pytest.mark.parametrize("bias", [True, False])
def test_conv2d_matches_pytorch(config, bias):
    torch = _torch()
    n, c, o, h, w, k, stride, padding, dilation = config
    rng = np.random.default_rng(hash(config) % 2**32)
    arrays = [rng.standard_normal((n, c, h, w)), rng.standard_normal((o, c, *k))]
    if bias:
        arrays.append(rng.standard_normal(o))
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    _compare(lambda *v: F.conv2d(*v, **kw), lambda *t: torch.nn.functional.conv2d(*t, **kw), arrays)


@pytest.mark.parametrize(
    "config",
    [
        (2, 3, 4, 11, 3, 1, 0, 1),
        (1, 2, 3, 12, 4, 3, 2, 1),
        (3, 1, 2, 9, 2, 2, 1, 3),
        (2, 2, 2, 7, 3, 1, "same", 2),
        (1, 1, 1, 5, 5, 1, 0, 1),
    ],
)
def test_conv1d_matches_pytorch(config):
    torch = _torch()
    n, c, o, length, k, stride, padding, dilation = config
    rng = np.random.default_rng(len(str(config)))
    arrays = [rng.standard_normal((n, c, length)), rng.standard_normal((o, c, k))]
    arrays.append(rng.standard_normal(o))
    kw = dict(stride=stride, padding=padding, dilation=dilation)
    _compare(lambda *v: F.conv1d(*v, **kw), lambda *t: torch.nn.functional.conv1d(*t, **kw), arrays)


def test_conv2d_unbatched_input_and_float32():
    torch = _torch()
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 6, 5)).astype(np.float32)
    w = rng.standard_normal((3, 2, 3, 3)).astype(np.float32)
    out = F.conv2d(Value(x), Value(w), padding=1)
    assert out.shape == (3, 6, 5) and out.dtype == np.float32
    expected = torch.nn.functional.conv2d(torch.tensor(x), torch.tensor(w), padding=1)
    np.testing.assert_allclose(out.data, expected.numpy(), rtol=1e-5, atol=1e-5)


def test_second_derivatives_of_conv_match_pytorch():
    """grad of (sum of squared input-gradients) w.r.t. the weights, through conv_transpose."""
    torch = _torch()
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 2, 6, 5)), rng.standard_normal((3, 2, 3, 2))
    kw = dict(stride=(2, 1), padding=1, dilation=(1, 2))
    X, W = Value(x), Value(w)
    (gx,) = ag.grad(F.sum(F.conv2d(X, W, **kw) ** 2), [X], create_graph=True)
    F.sum(gx * gx).backward()
    xt, wt = (torch.tensor(a, requires_grad=True) for a in (x, w))
    (gxt,) = torch.autograd.grad(
        (torch.nn.functional.conv2d(xt, wt, **kw) ** 2).sum(), [xt], create_graph=True
    )
    (gxt * gxt).sum().backward()
    np.testing.assert_allclose(W.grad, wt.grad.numpy(), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(X.grad, xt.grad.numpy(), rtol=1e-10, atol=1e-10)


POOL_CONFIGS = [
    # (shape, kernel, stride, padding)
    ((2, 3, 8, 8), 2, None, 0),
    ((1, 2, 7, 9), 3, 2, 1),
    ((2, 1, 9, 6), (3, 2), (2, 1), (1, 1)),
    ((3, 5, 5), 2, 1, 0),  # unbatched (C, H, W)
    ((1, 1, 5, 7), (5, 3), (1, 3), (2, 0)),
    ((2, 2, 6, 6), 1, 1, 0),
]


@pytest.mark.parametrize("config", POOL_CONFIGS)
def test_max_pool2d_matches_pytorch_including_ties(config):
    torch = _torch()
    shape, k, stride, padding = config
    rng = np.random.default_rng(3)
    x = np.maximum(np.round(rng.standard_normal(shape), 1), 0.0)  # many ties (zeros, repeats)
    _compare(
        lambda v: F.max_pool2d(v, k, stride, padding),
        lambda t: torch.nn.functional.max_pool2d(t, k, stride, padding),
        [x],
    )


@pytest.mark.parametrize("config", POOL_CONFIGS)
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool2d_matches_pytorch(config, count_include_pad):
    torch = _torch()
    shape, k, stride, padding = config
    x = np.random.default_rng(4).standard_normal(shape)
    _compare(
        lambda v: F.avg_pool2d(v, k, stride, padding, count_include_pad=count_include_pad),
        lambda t: torch.nn.functional.avg_pool2d(
            t, k, stride, padding, count_include_pad=count_include_pad
        ),
        [x],
    )


def test_max_pool_gives_the_gradient_to_a_nan():
    x = np.array([[[[1.0, np.nan], [3.0, 2.0]]]])
    v = Value(x)
    out = F.max_pool2d(v, 2)
    assert np.isnan(out.item())
    out.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(v.grad, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_the_ops_are_in_the_table_and_work_on_raw_data():
    for name in ("conv1d", "conv2d", "conv_transpose", "conv_weight", "max_pool2d"):
        assert name in ag.OPS
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    out = F.max_pool2d(x, 2)  # raw in, raw out
    assert type(out) is np.ndarray
    np.testing.assert_array_equal(out, [[[[5.0, 7.0], [13.0, 15.0]]]])
    v = Value(x)
    assert F.conv2d(v, np.ones((1, 1, 2, 2))).op == "conv2d"


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: F.conv2d(np.ones((1, 2, 5, 5)), np.ones((1, 3, 3, 3))), "2 channels"),
        (lambda: F.conv2d(np.ones((1, 1, 2, 2)), np.ones((1, 1, 3, 3))), "larger than"),
        (lambda: F.conv2d(np.ones((5, 5)), np.ones((1, 1, 3, 3))), "4 dimensions"),
        (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3))), "weight must have 4"),
        (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((2, 1, 3, 3)), np.ones(3)), r"\(2,\)"),
        (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), stride=0), "stride"),
        (lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), padding=(1,)), "padding"),
        (
            lambda: F.conv2d(np.ones((1, 1, 5, 5)), np.ones((1, 1, 3, 3)), 2, 2, "same"),
            "stride 1",
        ),
        (lambda: F.conv1d(np.ones((1, 1, 5)), np.ones((1, 1, 3)), padding="full"), "padding"),
        (lambda: F.max_pool2d(np.ones((1, 1, 4, 4)), 2, padding=2), "at most half"),
        (lambda: F.max_pool2d(np.ones((4, 4)), 2), r"\(N, C, H, W\)"),
        (lambda: F.avg_pool2d(np.ones((1, 1, 2, 2)), 3), "larger than"),
    ],
)
def test_bad_arguments_are_explained(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --------------------------------------------------------------------------- layers


def test_conv2d_layer_defaults_follow_pytorch():
    layer = nn.Conv2d(3, 8, 3, rng=0)
    assert layer.weight.shape == (8, 3, 3, 3) and layer.bias.shape == (8,)
    bound = 1 / np.sqrt(3 * 3 * 3)  # kaiming_uniform(a=sqrt(5)) == U(-1/sqrt(fan_in), ...)
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.abs(layer.weight.data).max() > 0.8 * bound
    assert [n for n, _ in layer.named_parameters()] == ["weight", "bias"]
    assert repr(layer) == "Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1))"
    assert "padding='same'" in repr(nn.Conv2d(1, 1, 3, padding="same"))
    assert nn.Conv2d(1, 2, (3, 5), bias=False).bias is None
    np.testing.assert_array_equal(
        nn.Conv2d(2, 2, 3, rng=7).weight.data, nn.Conv2d(2, 2, 3, rng=7).weight.data
    )


def test_conv_layers_run_forward_and_backward_in_float32():
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1, dtype=np.float32, rng=0),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 6, 3, dtype=np.float32, rng=1),
    )
    x = np.random.default_rng(0).standard_normal((5, 2, 6))  # float64 data is converted
    out = model(x)
    assert out.shape == (5, 3) and out.dtype == np.float32
    nn.cross_entropy(out, [0, 1, 2, 0, 1]).backward()
    for p in model.parameters():
        assert p.grad.dtype == np.float32 and p.grad.shape == p.shape


def test_conv_layers_match_pytorch_modules():
    torch = _torch()
    ours = nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2), rng=0)
    theirs = torch.nn.Conv2d(2, 3, (3, 2), stride=(2, 1), padding=1, dilation=(1, 2)).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = np.random.default_rng(0).standard_normal((2, 2, 7, 6))
    np.testing.assert_allclose(ours(x).data, theirs(torch.tensor(x)).detach().numpy(), atol=1e-12)


def test_pooling_and_flatten_modules():
    x = np.arange(2 * 3 * 4 * 4, dtype=float).reshape(2, 3, 4, 4)
    assert nn.MaxPool2d(2)(x).shape == (2, 3, 2, 2)
    assert nn.AvgPool2d(3, stride=1, padding=1)(x).shape == (2, 3, 4, 4)
    assert nn.Flatten()(Value(x)).shape == (2, 48)
    assert nn.Flatten(0, 1)(Value(x)).shape == (6, 4, 4)
    assert repr(nn.MaxPool2d(2)) == "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))"
    with pytest.raises(ValueError, match="out of range"):
        F.flatten(np.ones(3), 1)


def test_conv_windows_never_loop_over_pixels_a_large_image_is_quick():
    import time

    x = Value(np.random.default_rng(0).standard_normal((8, 3, 64, 64)))
    layer = nn.Conv2d(3, 8, 5, padding=2, rng=0)
    start = time.perf_counter()
    out = F.max_pool2d(layer(x).relu(), 2)
    F.sum(out).backward()
    assert time.perf_counter() - start < 5.0
    assert x.grad.shape == x.shape


@pytest.mark.parametrize("k, s, p", list(itertools.product([1, 2, 3], [1, 2], [0, 1])))
def test_window_scatter_and_gather_are_adjoint(k, s, p):
    """<scatter(g), h> == <g, gather(h)> for any weights: the pair the pooling VJPs use."""
    rng = np.random.default_rng(k * 10 + s + p)
    if 2 * p > k:
        return
    h = rng.standard_normal((2, 3, 6, 5))
    out = ((6 + 2 * p - k) // s + 1, (5 + 2 * p - k) // s + 1)
    g = rng.standard_normal((2, 3, *out))
    mask = rng.standard_normal((2, 3, *out, k, k))
    params = ((k, k), (s, s), ((p, p), (p, p)))
    scattered = ag.OPS["window_scatter"](g, mask, (6, 5), *params)
    gathered = ag.OPS["window_gather"](h, mask, *params)
    assert np.vdot(scattered, h) == pytest.approx(np.vdot(g, gathered))


# ------------------------------------ PyTorch-style positional calls, ConvTranspose2d


@pytest.mark.parametrize(
    "call",
    [
        lambda: nn.AvgPool2d(3, 2, 1, False),  # PyTorch: ceil_mode=False
        lambda: nn.AvgPool1d(3, 2, 1, False),
        lambda: nn.Conv2d(4, 4, 3, 1, 0, 1, 2),  # PyTorch: groups=2
        lambda: nn.Conv1d(4, 4, 3, 1, 0, 1, 4),
        lambda: nn.Conv2d(4, 4, 3, 1, 0, 1, 1),
        lambda: nn.ConvTranspose2d(4, 4, 3, 1, 0, 0, 2),  # PyTorch: groups=2
        lambda: F.conv_transpose2d(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), None, 1, 0, 0, 2),
    ],
)
def test_pytorch_style_positional_arguments_are_refused(call):
    """Where PyTorch has ``groups`` or ``ceil_mode``, the parameters are keyword-only here."""
    with pytest.raises(TypeError, match="positional argument"):
        call()


def test_keyword_only_arguments_still_work_by_name():
    x = np.arange(25.0).reshape(1, 1, 5, 5)
    pool = nn.AvgPool2d(3, 2, 1, count_include_pad=False)
    np.testing.assert_allclose(np.asarray(pool(x))[0, 0, 0], [3.0, 4.5, 6.0])
    assert nn.AvgPool1d(3, 2, 1, count_include_pad=False).count_include_pad is False
    assert nn.Conv2d(4, 4, 3, 1, 0, 1, bias=False).bias is None
    assert nn.Conv1d(4, 4, 3, 1, 0, 2, bias=False, rng=0).dilation == (2,)
    layer = nn.ConvTranspose2d(4, 4, 3, 1, 0, 0, bias=False, dilation=2, rng=0)
    assert layer.bias is None and layer(np.ones((1, 4, 3, 3))).shape == (1, 4, 7, 7)


CONV_T_GRID = [
    (s, p, e, d, k)
    for s, p, d, k in itertools.product([1, 2, 3], [0, 1, 2], [1, 2, 3], [1, 2, 3])
    for e in range(max(s, d))  # PyTorch: output_padding < stride or < dilation
]


@pytest.mark.parametrize(("stride", "padding", "output_padding", "dilation", "k"), CONV_T_GRID)
def test_conv_transpose2d_grid_matches_pytorch(stride, padding, output_padding, dilation, k):
    """Output, input, weight and bias gradients, including output_padding > padding
    (output rows no kernel tap reaches, possible when the dilation exceeds the stride)."""
    torch = _torch()
    rng = np.random.default_rng(stride * 1000 + padding * 100 + output_padding * 10 + k)
    x = rng.standard_normal((2, 2, 3, 4))
    w = rng.standard_normal((2, 3, k, k))
    b = rng.standard_normal(3)
    args = (stride, padding, output_padding)
    try:
        torch.nn.functional.conv_transpose2d(
            torch.tensor(x), torch.tensor(w), None, *args, 1, dilation
        )
    except RuntimeError:  # an empty output: both refuse
        with pytest.raises(ValueError, match="the output would have size"):
            F.conv_transpose2d(x, w, b, *args, dilation=dilation)
        return
    _compare(
        lambda xv, wv, bv: F.conv_transpose2d(xv, wv, bv, *args, dilation=dilation),
        lambda xt, wt, bt: torch.nn.functional.conv_transpose2d(xt, wt, bt, *args, 1, dilation),
        [x, w, b],
        seed=k,
    )


def test_conv_transpose2d_layer_with_output_padding_beyond_padding_matches_pytorch():
    torch = _torch()
    kw = {"stride": 1, "padding": 0, "output_padding": 1, "dilation": 2}
    ours = nn.ConvTranspose2d(2, 3, (2, 3), rng=0, **kw)
    theirs = torch.nn.ConvTranspose2d(2, 3, (2, 3), **kw).double()
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(ours.weight.data))
        theirs.bias.copy_(torch.tensor(ours.bias.data))
    x = np.random.default_rng(0).standard_normal((2, 2, 3, 3))
    xv, xt = Value(x), torch.tensor(x, requires_grad=True)
    out, tout = ours(xv), theirs(xt)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), atol=1e-12)
    g = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(g)
    tout.backward(torch.tensor(g))
    np.testing.assert_allclose(xv.grad, xt.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), atol=1e-12)
    np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), atol=1e-12)
    xs = Value(np.random.default_rng(2).standard_normal((1, 2, 2, 2)))
    assert ag.gradgradcheck(lambda v: ours(v) * ours(v), [xs])  # second derivatives too


def test_conv_transpose2d_with_output_padding_beyond_padding_compiles():
    layer = nn.ConvTranspose2d(2, 3, 2, output_padding=1, dilation=2, rng=0)
    step = ag.compile(lambda x: F.sum(layer(x) * layer(x)))
    for seed in (0, 1):  # the second call replays the plan on new data
        x = np.random.default_rng(seed).standard_normal((2, 2, 3, 3))
        layer.zero_grad()
        step(x).backward()
        compiled = layer.weight.grad.copy()
        layer.zero_grad()
        F.sum(layer(x) * layer(x)).backward()
        np.testing.assert_allclose(compiled, layer.weight.grad, rtol=1e-12)
