"""Losses: mean squared error, cross-entropy, binary cross-entropy (functions and modules).

Built from engine ops, so their gradients come from the engine. Targets may be Values,
ndarrays, lists or numbers; they are converted to the prediction's dtype (a float32
prediction gives a float32 loss). Shapes must match exactly: a (B, 1) prediction against
a (B,) target would broadcast to (B, B) and silently compute the wrong loss, so it is an
error. ``reduction`` is ``"mean"`` (the default), ``"sum"`` or ``"none"`` (elementwise).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd_lite import Value, log_softmax, logsumexp, maximum, ops, stack
from nn.layers import cast
from nn.module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "MSELoss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "mse_loss",
]

_REDUCTIONS = ("mean", "sum", "none")


def _pred(pred: Any, who: str) -> Value | np.ndarray:
    if isinstance(pred, Value):
        return pred
    try:
        arr = np.asarray(pred)
        if arr.dtype.kind != "f":
            arr = arr.astype(np.float64)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"{who}: prediction must be numbers, got {type(pred).__name__} ({e})"
        ) from None
    return arr


def _target(target: Any, pred: Any, who: str) -> Any:
    """``target`` with the prediction's shape: a Value as is (gradients reach it), raw data
    converted to the prediction's dtype."""
    if type(target) is np.ndarray and target.dtype == pred.dtype:  # the common case
        t = target
    elif isinstance(target, Value):
        t = cast(target, pred.dtype) if target.dtype != pred.dtype else target
    else:
        try:
            t = np.asarray(target, dtype=pred.dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{who}: target must be numbers, got {type(target).__name__} ({e})"
            ) from None
    if t.shape != pred.shape:
        raise ValueError(
            f"{who}: prediction has shape {tuple(pred.shape)} but target has shape "
            f"{tuple(t.shape)}; they must match (reshape one of them)"
        )
    return t


def _reduce(loss: Any, reduction: str, who: str) -> Any:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean squared error: mean((pred - target)^2) (or its sum, or elementwise)."""
    pred = _pred(pred, "mse_loss")
    target = _target(target, pred, "mse_loss")
    if reduction == "mean":
        return ops.mse(pred, target)  # one fused node
    diff = pred - target
    return _reduce(diff * diff, reduction, "mse_loss")


def cross_entropy(logits: Any, labels: Any, reduction: str = "mean") -> Value:
    """Cross-entropy of softmax(logits) against labels: -log softmax(logits)[label].

    ``logits`` is (C,) or (B, C). ``labels`` are class indices, shape () or (B,), or
    probabilities (one-hot or soft, any numeric dtype) with the logits' shape: then the
    loss is -sum(labels * log_softmax(logits)). Computed with a stable log-softmax
    (logsumexp(z) - z[label] for indices), so logits of 1000 are fine. Labels are
    constants: no gradient flows into them.
    """
    who = "cross_entropy"
    logits = _pred(logits, who)
    if len(logits.shape) not in (1, 2):
        raise ValueError(
            f"{who}: logits must be (C,) or (batch, C), got shape {tuple(logits.shape)}"
        )
    n_classes = logits.shape[-1]
    raw = labels.data if isinstance(labels, Value) else labels
    raw = np.asarray(raw)
    if raw.shape == tuple(logits.shape) and raw.dtype.kind in "biuf":  # one-hot / probabilities
        probs = raw.astype(logits.dtype, copy=False)
        loss = -ops.sum(probs * log_softmax(logits, axis=-1), axis=-1)
        return _reduce(loss, reduction, who)
    if raw.dtype.kind == "f" and np.all(raw == np.round(raw)):
        raw = raw.astype(np.int64)  # class indices given as floats
    if raw.dtype.kind not in "iu":
        raise ValueError(
            f"{who}: labels must be class indices (integers) of shape {tuple(logits.shape[:-1])} "
            f"or probabilities of shape {tuple(logits.shape)}; got {raw.dtype} of shape {raw.shape}"
        )
    if raw.shape != tuple(logits.shape[:-1]):
        raise ValueError(
            f"{who}: {raw.shape} labels for logits of shape {tuple(logits.shape)}; "
            f"expected shape {tuple(logits.shape[:-1])}"
        )
    if raw.size and (raw.min() < 0 or raw.max() >= n_classes):
        raise ValueError(f"{who}: labels must be in [0, {n_classes}), got {raw.min()}..{raw.max()}")
    # -log softmax[label] = logsumexp(logits) - logits[label]
    picked = logits[np.arange(raw.size), raw.ravel()] if raw.ndim else logits[int(raw)]
    return _reduce(logsumexp(logits, axis=-1) - picked, reduction, who)


def binary_cross_entropy(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1].

    Stabilised by clamping, as in PyTorch: each log is clamped at -100, so p = 0 or 1
    gives a large finite loss (and a zero gradient there) instead of infinity or NaN.
    A prediction outside [0, 1] is an error. Prefer
    :func:`binary_cross_entropy_with_logits` when you have logits: it is exact for any
    logit.
    """
    who = "binary_cross_entropy"
    pred = _pred(pred, who)
    t = _target(target, pred, who)
    p = pred.data if isinstance(pred, Value) else pred
    if np.any(p < 0.0) or np.any(p > 1.0):
        raise ValueError(
            f"{who}: predictions must be probabilities in [0, 1] (got values from "
            f"{np.min(p):.4g} to {np.max(p):.4g}); apply sigmoid first, or use "
            "binary_cross_entropy_with_logits on the logits"
        )
    with np.errstate(divide="ignore"):  # log(0) = -inf is expected here: it is clamped
        log_p = maximum(ops.log(pred), -100.0)
        log_q = maximum(ops.log(1.0 - pred), -100.0)
    return _reduce(-(t * log_p + (1.0 - t) * log_q), reduction, who)


def binary_cross_entropy_with_logits(logits: Any, target: Any, reduction: str = "mean") -> Value:
    """Binary cross-entropy of sigmoid(logits), stably: softplus(x) - x t.

    softplus(x) = log(1 + e^x) is computed as logsumexp([0, x]), which never overflows
    (logits of +-1000 are fine) and is smooth everywhere, so the gradient is exactly
    sigmoid(x) - t, at x = 0 too.
    """
    who = "binary_cross_entropy_with_logits"
    x = _pred(logits, who)
    t = _target(target, x, who)
    return _reduce(_softplus(x) - x * t, reduction, who)


def _softplus(x: Any) -> Any:
    """log(1 + e^x) = logsumexp([0, x]) elementwise: stable, with gradient sigmoid(x)."""
    return logsumexp(stack([np.zeros(x.shape, x.dtype), x], axis=-1), axis=-1)


class MSELoss(Module):
    """Module form of :func:`mse_loss`: ``MSELoss()(pred, target)``."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Value:
        return mse_loss(pred, target, self.reduction)


class CrossEntropyLoss(Module):
    """Module form of :func:`cross_entropy`."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, logits: Any, labels: Any) -> Value:
        return cross_entropy(logits, labels, self.reduction)


class BCELoss(Module):
    """Module form of :func:`binary_cross_entropy`."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Value:
        return binary_cross_entropy(pred, target, self.reduction)


class BCEWithLogitsLoss(Module):
    """Module form of :func:`binary_cross_entropy_with_logits`."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, logits: Any, target: Any) -> Value:
        return binary_cross_entropy_with_logits(logits, target, self.reduction)
