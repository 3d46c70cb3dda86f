"""Numerical gradient checking: backprop's Jacobian against central finite differences.

The numerical Jacobian column for input element k is (f(x + eps e_k) - f(x - eps e_k)) / 2 eps,
which costs two forward passes per input element; the analytical Jacobian takes one
backward pass per output element. Everything runs on float64 copies of the inputs, so the
caller's Values are left exactly as they were.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.engine import Value, grad
from autograd_lite.ops import concatenate, reshape

__all__ = ["GradcheckError", "gradcheck", "gradgradcheck"]


class GradcheckError(AssertionError):
    """Backprop and finite differences disagree (the message says where and by how much)."""


def gradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Any],
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
) -> bool:
    """Check ``fn``'s gradients with respect to each input that requires grad.

    ``fn(*inputs)`` must return a Value (scalar or tensor). Every entry of the Jacobian
    from backprop must satisfy ``|analytical - numerical| <= atol + rtol * |numerical|``.
    On failure raises :class:`GradcheckError` naming the input, the worst elements, both
    values and their errors; with ``raise_exception=False`` returns False instead.
    """
    xs = _float64_copies(inputs, "gradcheck")
    checked = [i for i, x in enumerate(xs) if x.requires_grad]
    out = _output(fn, xs, "gradcheck")
    analytical = _analytical_jacobians(out, xs, checked)
    numerical = _numerical_jacobians(fn, xs, checked, eps, out.size)
    for i, a, n in zip(checked, analytical, numerical):
        message = _compare(a, n, atol, rtol, i, xs[i].shape, out.shape, "gradcheck")
        if message:
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True


def gradgradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Any],
    grad_outputs: Any = None,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check second derivatives: :func:`gradcheck` of x -> d(sum(v * fn(x)))/dx.

    The first derivative is computed with ``create_graph=True``, so this checks that the
    backward pass is itself correctly differentiable. ``grad_outputs`` (v) defaults to a
    fixed random array of the output's shape.
    """
    xs = _float64_copies(inputs, "gradgradcheck")
    checked = [i for i, x in enumerate(xs) if x.requires_grad]
    if grad_outputs is None:
        out = _output(fn, xs, "gradgradcheck")
        rng = np.random.default_rng(seed)
        grad_outputs = (
            float(rng.standard_normal()) if out.ndim == 0 else rng.standard_normal(out.shape)
        )
    v = grad_outputs.data if isinstance(grad_outputs, Value) else grad_outputs

    def first_derivative(*args: Value) -> Value:
        wrt = [args[i] for i in checked]
        out = fn(*args)
        if not out.requires_grad:
            return Value(np.zeros(sum(x.size for x in wrt)), requires_grad=False)
        grads = grad(out, wrt, grad_outputs=v, create_graph=True, allow_unused=True)
        flat = [np.zeros(x.size) if g is None else reshape(g, (-1,)) for x, g in zip(wrt, grads)]
        return concatenate(flat)

    return gradcheck(
        first_derivative, xs, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception
    )


def _float64_copies(inputs: Sequence[Any], who: str) -> list[Value]:
    if isinstance(inputs, Value):
        inputs = [inputs]
    copies = []
    for i, x in enumerate(inputs):
        v = x if isinstance(x, Value) else Value(x)
        if v.dtype != np.float64:
            warnings.warn(
                f"{who}: input {i} is {v.dtype}; the check runs on a float64 copy, since finite "
                f"differences in {v.dtype} are too coarse to trust",
                stacklevel=3,
            )
        data = v.data if type(v.data) is float else np.array(v.data, dtype=np.float64)
        copies.append(Value(data, requires_grad=v.requires_grad, name=v.name))
    if not any(c.requires_grad for c in copies):
        raise ValueError(f"{who}: no input requires grad, so there is nothing to check")
    return copies


def _output(fn: Callable[..., Value], xs: Sequence[Value], who: str) -> Value:
    out = fn(*xs)
    if not isinstance(out, Value):
        raise TypeError(f"{who}: fn must return a Value, got {type(out).__name__}")
    return out


def _analytical_jacobians(
    out: Value, xs: Sequence[Value], checked: Sequence[int]
) -> list[np.ndarray]:
    """One backward pass per output element: row j of each input's Jacobian."""
    jac = [np.zeros((out.size, xs[i].size)) for i in checked]
    if not out.requires_grad:
        return jac
    wrt = [xs[i] for i in checked]
    for j in range(out.size):
        seed = np.zeros(out.size)
        seed[j] = 1.0
        seed_data: Any = float(seed[0]) if type(out.data) is float else seed.reshape(out.shape)
        rows = grad(out, wrt, grad_outputs=seed_data, allow_unused=True)
        for k, row in enumerate(rows):
            if row is not None:
                jac[k][j] = np.ravel(row)
    return jac


def _numerical_jacobians(
    fn: Callable[..., Value], xs: Sequence[Value], checked: Sequence[int], eps: float, m: int
) -> list[np.ndarray]:
    """Central differences, two forward passes per input element."""
    jacs = []
    for i in checked:
        x = xs[i]
        jac = np.zeros((m, x.size))
        for k in range(x.size):
            plus = _perturbed(fn, xs, x, k, eps)
            minus = _perturbed(fn, xs, x, k, -eps)
            jac[:, k] = (plus - minus).ravel() / (2.0 * eps)
        jacs.append(jac)
    return jacs


def _perturbed(
    fn: Callable[..., Value], xs: Sequence[Value], x: Value, k: int, delta: float
) -> np.ndarray:
    if type(x.data) is float:
        original = x.data
        x.data = original + delta
        try:
            return np.array(_output(fn, xs, "gradcheck").data, dtype=np.float64)
        finally:
            x.data = original
    flat = x.data.reshape(-1)  # a view: x.data is a contiguous float64 copy
    original = flat[k]
    flat[k] = original + delta
    try:
        return np.array(_output(fn, xs, "gradcheck").data, dtype=np.float64)
    finally:
        flat[k] = original


def _compare(
    a: np.ndarray,
    n: np.ndarray,
    atol: float,
    rtol: float,
    index: int,
    in_shape: tuple[int, ...],
    out_shape: tuple[int, ...],
    who: str,
) -> str:
    err = np.abs(a - n)
    bad = ~(err <= atol + rtol * np.abs(n))  # nan counts as a mismatch
    if not bad.any():
        return ""
    order = np.argsort(-np.where(bad, np.nan_to_num(err, nan=np.inf), -1.0), axis=None)
    lines = [
        f"{who}: backprop and finite differences disagree for input {index} (shape {in_shape}) "
        f"at {int(bad.sum())} of {bad.size} Jacobian entries (atol={atol:g}, rtol={rtol:g}):"
    ]
    for flat in order[: min(5, int(bad.sum()))]:
        j, k = np.unravel_index(flat, bad.shape)
        out_idx = np.unravel_index(j, out_shape) if out_shape else ()
        in_idx = np.unravel_index(k, in_shape) if in_shape else ()
        rel = err[j, k] / max(abs(n[j, k]), 1e-300)
        lines.append(
            f"  d out{_fmt(out_idx)} / d input{index}{_fmt(in_idx)}: analytical {a[j, k]:.6g}, "
            f"numerical {n[j, k]:.6g}, abs error {err[j, k]:.3g}, rel error {rel:.3g}"
        )
    return "\n".join(lines)


def _fmt(idx: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if idx else ""
