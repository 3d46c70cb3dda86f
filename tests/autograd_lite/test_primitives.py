"""The built-in ops' numbers at the edges: precision at large magnitudes, NaN and inf on the
Python-float path exactly as on the array path, PyTorch's conventions at poles."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.core.op import apply
from autograd_lite.ops.primitives import BUILTIN_OPS

# ------------------------------------------------------------------ softmax and friends


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("scale", [1.0, 1e4, 1e8, 1e17, 1e30])
def test_log_softmax_and_softmax_are_accurate_at_every_magnitude(dtype, scale):
    big = np.array([1.0, 1.0, 1.0 - 1.0 / 3.0], dtype=dtype) * dtype(scale)
    x = Value(big)
    z = big.astype(np.float64) - big.astype(np.float64).max()  # the exact shifted logits
    expected = z - np.log(np.exp(z).sum())
    got = ag.log_softmax(x)
    assert got.dtype == dtype
    np.testing.assert_allclose(got.data, expected, rtol=1e-6 if dtype == np.float32 else 1e-14)
    p = ag.softmax(x)
    np.testing.assert_allclose(p.data.sum(), 1.0, rtol=1e-6 if dtype == np.float32 else 1e-14)
    # backward: d sum(w * log_softmax) / dx = w - softmax * sum(w)
    w = np.array([1.0, -2.0, 0.5], dtype=dtype)
    (got * w).sum().backward()
    np.testing.assert_allclose(
        x.grad, w - np.exp(expected) * w.sum(), atol=1e-6 if dtype == np.float32 else 1e-14
    )


def test_the_issue_examples_of_softmax_precision():
    np.testing.assert_array_equal(Value(np.array([1e17, 1e17])).softmax().data, [0.5, 0.5])
    p = Value(np.array([1e6, 1e6, 1e6 - 1], dtype=np.float32)).softmax()
    assert abs(float(p.data.sum()) - 1.0) < 1e-6
    loss = nn.cross_entropy(Value([[1e16, 1e16]]), [0])
    assert loss.item() == pytest.approx(math.log(2), rel=1e-15)


def test_softmax_matches_torch_at_large_logits():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    for scale in (1.0, 1e3, 1e8, 1e16):
        for dtype, tdtype in ((np.float64, torch.float64), (np.float32, torch.float32)):
            x0 = (rng.standard_normal((3, 5)) * scale).astype(dtype)
            w = rng.standard_normal((3, 5)).astype(dtype)
            x = Value(x0)
            (ag.log_softmax(x, axis=1) * w).sum().backward()
            t = torch.tensor(x0, dtype=tdtype, requires_grad=True)
            (torch.log_softmax(t, 1) * torch.tensor(w)).sum().backward()
            tol = 1e-5 if dtype == np.float32 else 1e-12
            ref = t.detach().numpy()
            np.testing.assert_allclose(
                ag.log_softmax(Value(x0), axis=1).data,
                torch.log_softmax(torch.tensor(ref), 1).numpy(),
                rtol=tol,
                atol=tol * np.abs(ref).max() * 1e-8,
            )
            np.testing.assert_allclose(x.grad, t.grad.numpy(), rtol=tol, atol=tol)


def test_log_softmax_of_minus_infinity_slices():
    x = Value(np.array([[-np.inf, -np.inf], [0.0, -np.inf]]))
    out = ag.log_softmax(x, axis=1).data
    assert np.isnan(out[0]).all() or np.isneginf(out[0]).all()  # as numpy/PyTorch: no crash
    assert out[1, 0] == 0.0 and out[1, 1] == -np.inf


# ------------------------------------------------------------------------------ pow at 0


def test_pow_at_zero_follows_pytorch():
    x, y = Value(np.array([0.0, 0.0])), Value(np.array([2.0, 0.0]))
    with np.errstate(all="raise"):  # and no warning from the masked entries
        (x**y).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    np.testing.assert_array_equal(y.grad, [0.0, 0.0])
    xs, ys = Value(0.0), Value(0.0)  # the Python-float path agrees
    (xs**ys).backward()
    assert (xs.grad, ys.grad) == (0.0, 0.0)
    c = Value(np.array([0.0, 1.0]))
    (c ** np.array([0.0, 2.0])).sum().backward()
    np.testing.assert_array_equal(c.grad, [0.0, 2.0])


def test_pow_at_zero_matches_torch():
    torch = pytest.importorskip("torch")
    xs, ys = np.array([0.0, 0.0, 0.0, 2.0]), np.array([2.0, 0.0, 0.5, 0.0])
    x, y = Value(xs), Value(ys)
    (x**y).sum().backward()
    tx = torch.tensor(xs, requires_grad=True)
    ty = torch.tensor(ys, requires_grad=True)
    (tx**ty).sum().backward()
    np.testing.assert_array_equal(x.grad, tx.grad.numpy())
    np.testing.assert_array_equal(y.grad, ty.grad.numpy())


@pytest.mark.parametrize(
    "make",
    [
        lambda: Value(1.0) ** 1j,
        lambda: Value(np.ones(2)) ** np.array([1j, 2]),
        lambda: Value(np.ones(2)) + np.array([1j, 2]),
        lambda: Value(np.array([1 + 1j])),
        lambda: ag.pow(2.0, Value(1.0)) * (1 + 2j),
    ],
)
def test_complex_operands_are_refused_everywhere(make):
    with pytest.raises(TypeError, match="complex"):
        make()


# ------------------------------------------------------------------------------- mean


def test_float16_mean_accumulates_in_float32():
    m = Value(np.ones(70000, np.float16)).mean()
    assert m.dtype == np.float16 and m.item() == 1.0
    m2 = Value(np.ones((2, 70000), np.float16)).mean(axis=1)
    np.testing.assert_array_equal(m2.data, [1.0, 1.0])


def test_mean_is_one_node_named_mean_and_empty_mean_is_nan():
    x = Value(np.arange(6.0).reshape(2, 3))
    m = x.mean(axis=0)
    assert m.op == "mean" and all(isinstance(i, Value) for i in m.inputs)
    m.sum().backward()
    np.testing.assert_array_equal(x.grad, np.full((2, 3), 0.5))
    assert np.isnan(Value(np.ones(0)).mean().item())


# ------------------------------------------------- the Python-float path keeps the semantics

SPECIAL = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.0, 1e300, -1e-300]
PARAMS = {"leaky_relu": (0.1,), "pow_const": (2.5,)}


def _is_elementwise(name: str) -> bool:
    """An op whose forward maps Python floats (and its parameters) to a Python float."""
    try:
        return (
            type(BUILTIN_OPS[name].forward(*[0.5] * BUILTIN_OPS[name].nin, *PARAMS.get(name, ())))
            is float
        )
    except (TypeError, ValueError, IndexError):
        return False


ELEMENTWISE = [name for name, op in BUILTIN_OPS.items() if op.nin and _is_elementwise(name)]


def _same(a, b) -> bool:
    a, b = float(a), float(b)
    return (math.isnan(a) and math.isnan(b)) or a == b


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_python_float_path_gives_what_the_array_path_gives(name):
    assert len(ELEMENTWISE) >= 17  # the table's elementwise ops are all found
    """Forward and backward of every elementwise op, on floats and on 0-d arrays, agree
    exactly on special values: NaN, infinities, signed zeros, huge and tiny numbers."""
    op = BUILTIN_OPS[name]
    params = PARAMS.get(name, ())
    pairs = [(a,) for a in SPECIAL] if op.nin == 1 else [(a, b) for a in SPECIAL for b in SPECIAL]
    with np.errstate(all="ignore"):
        for args in pairs:
            fs = [Value(a) for a in args]
            arrs = [Value(np.array(a)) for a in args]
            try:
                out_a = apply(op, tuple(arrs), params)
            except ValueError as e:  # out of the op's domain (a BCE prediction of 2): both refuse
                with pytest.raises(ValueError, match=re.escape(str(e).split(" (input")[0])):
                    apply(op, tuple(fs), params)
                continue
            out_f = apply(op, tuple(fs), params)
            assert type(out_f.data) is float
            assert _same(out_f.data, out_a.data), (name, args, out_f.data, out_a.data)
            out_f.backward()
            out_a.backward()
            for f, a in zip(fs, arrs):
                assert _same(f.grad, a.grad), (name, args, "grad", f.grad, a.grad)


def test_the_issue_examples_of_nan_on_the_float_path():
    assert math.isnan(Value(math.nan).relu().data)
    assert math.isnan(ag.maximum(Value(math.nan), 1.0).data)
    assert math.isnan(ag.maximum(1.0, Value(math.nan)).data)
    assert math.isnan(ag.minimum(Value(math.nan), 1.0).data)
    assert math.isnan(ag.abs(Value(math.nan)).data)


def test_a_nan_is_drawn_in_red():
    y = Value(math.nan, name="y").relu()
    assert "#fee2e2" in ag.to_dot(y) or "red" in ag.to_dot(y).lower()


# ----------------------------------------------------------------- kinks and ties


def test_subgradients_at_kinks_are_the_documented_ones():
    x = Value(np.array([0.0, 0.0, 0.0]))
    (x.relu() + x.abs() + ag.leaky_relu(x, 0.1)).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.1, 0.1, 0.1])  # relu 0, abs 0, leaky slope
    m = Value(np.array([1.0, 3.0, 3.0]))
    m.max().backward()
    np.testing.assert_array_equal(m.grad, [0.0, 0.5, 0.5])  # ties split evenly
    a, b = Value(1.0), Value(1.0)
    ag.maximum(a, b).backward()
    assert (a.grad, b.grad) == (0.5, 0.5)
