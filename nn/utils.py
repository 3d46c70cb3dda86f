"""Gradient clipping."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from autograd_lite import Value

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _with_grads(params: Iterable[Value] | Value) -> list[Value]:
    params = [params] if isinstance(params, Value) else list(params)
    return [p for p in params if p.grad is not None]


def clip_grad_norm_(
    params: Iterable[Value] | Value,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    total = (sum over parameters of ||grad||_p^p)^(1/p) (``norm_type`` inf: the largest
    |grad|); if total > max_norm every grad is multiplied by max_norm / (total + 1e-6), in
    place. Returns the total norm before clipping, as PyTorch does. A NaN or infinite
    total leaves the gradients alone, or raises a ValueError with ``error_if_nonfinite``.
    Parameters without a gradient are skipped.
    """
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0, got {norm_type}")
    ps = _with_grads(params)
    if not ps:
        return 0.0
    grads = [np.asarray(p.grad) for p in ps]
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    else:
        total = float(
            sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
        )
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise ValueError(
                f"clip_grad_norm_: the total norm of the gradients is {total}; "
                "pass error_if_nonfinite=False to leave them as they are"
            )
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in ps:
            if type(p.grad) is float:
                p.grad *= coef
            else:
                p.grad *= np.asarray(coef, dtype=p.grad.dtype)
    return total


def clip_grad_value_(params: Iterable[Value] | Value, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place (no rescaling
    of the others, unlike :func:`clip_grad_norm_`)."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(params):
        if type(p.grad) is float:
            p.grad = min(max(p.grad, -clip_value), clip_value)
        else:
            np.clip(p.grad, -clip_value, clip_value, out=p.grad)
