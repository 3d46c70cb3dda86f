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

from autograd_lite import functional as F
from autograd_lite.core.value import Value
from autograd_lite.functional import log_softmax
from autograd_lite.nn.layers import cast
from autograd_lite.nn.module import Module

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
__all__ += ["L1Loss", "NLLLoss", "SmoothL1Loss", "l1_loss", "nll_loss", "smooth_l1_loss"]
__all__ += ["HuberLoss", "KLDivLoss", "huber_loss", "kl_div"]

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
    t: Value | np.ndarray
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


def _ignore_index(value: Any, who: str) -> int:
    """``ignore_index`` checked: an int (1.5 named no class; it was truncated)."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{who}: ignore_index must be an int, got {value!r}")
    return int(value)


def _reduction(reduction: Any, who: str, more: tuple[str, ...] = ()) -> None:
    """Refuse a ``reduction`` that is not one of the names (an array passed positionally
    where PyTorch takes ``weight``, say) before anything compares it."""
    if type(reduction) is not str or reduction not in (*_REDUCTIONS, *more):
        text = repr(reduction) if type(reduction) is str else f"a {type(reduction).__name__}"
        hint = "; pass a weight by keyword (weight=...)" if type(reduction) is not str else ""
        raise ValueError(
            f"{who}: reduction must be one of {(*_REDUCTIONS, *more)}, got {text}{hint}"
        )


def _reduce(loss: Any, reduction: str, who: str) -> Any:
    if reduction == "mean":
        return F.mean(loss)
    if reduction == "sum":
        return F.sum(loss)
    if reduction == "none":
        return loss
    raise ValueError(f"{who}: reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def mse_loss(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean squared error: mean((pred - target)^2) (or its sum, or elementwise)."""
    _reduction(reduction, "mse_loss")
    pred = _pred(pred, "mse_loss")
    target = _target(target, pred, "mse_loss")
    if reduction == "mean":
        return F.mse(pred, target)  # one fused node
    diff = pred - target
    return _reduce(diff * diff, reduction, "mse_loss")


def cross_entropy(
    logits: Any,
    labels: Any,
    reduction: str = "mean",
    *,
    weight: Any = None,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> Value:
    """Cross-entropy of softmax(logits) against labels: -log softmax(logits)[label].

    ``logits`` is (C,) or (B, C). ``labels`` are class indices, shape () or (B,), or
    probabilities (one-hot or soft, any numeric dtype) with the logits' shape: then the
    loss is -sum(labels * log_softmax(logits)). Computed with a stable log-softmax
    (from logits - max(logits)), accurate at every magnitude. Class indices are
    constants; probabilities that require grad get -log_softmax(logits) (scaled by the
    reduction), as in PyTorch.

    PyTorch's options: ``weight`` (one per class) weighs each term, ``ignore_index``
    skips class-index labels equal to it (``"mean"`` divides by the summed weights of the
    others, as :func:`nll_loss`), and ``label_smoothing`` = e mixes the target with the
    uniform distribution: (1 - e) target + e / C.
    """
    _reduction(reduction, "cross_entropy")
    who = "cross_entropy"
    ignore_index = _ignore_index(ignore_index, who)
    if isinstance(label_smoothing, bool) or not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"{who}: label_smoothing must be in [0, 1], got {label_smoothing!r}")
    logits = _pred(logits, who)
    if len(logits.shape) not in (1, 2):
        raise ValueError(
            f"{who}: logits must be (C,) or (batch, C), got shape {tuple(logits.shape)}"
        )
    # indices or probabilities, told apart by shape: a Value's data is never read (compile
    # traces this with the labels as a plan input)
    probs: Any = None
    if isinstance(labels, Value):
        if tuple(labels.shape) == tuple(logits.shape):  # probabilities: differentiable, as
            probs = cast(labels, logits.dtype) if labels.dtype != logits.dtype else labels
        elif labels.requires_grad:  # in PyTorch (gradient -log_softmax(logits))
            labels = labels.detach()  # class indices: constants, no gradient
    else:
        labels = np.asarray(labels)
        is_probs = labels.shape == tuple(logits.shape)
        if labels.dtype.kind not in ("biuf" if is_probs else "iuf"):
            raise ValueError(
                f"{who}: labels must be class indices (integers) of shape "
                f"{tuple(logits.shape[:-1])} or probabilities of shape {tuple(logits.shape)}; "
                f"got {labels.dtype} of shape {labels.shape}"
            )
        if is_probs:  # one-hot or soft
            probs = labels.astype(logits.dtype, copy=False)
    n_classes = logits.shape[-1]
    w = None
    if weight is not None:
        w = _pred(weight.data if isinstance(weight, Value) else weight, who)
        assert isinstance(w, np.ndarray)  # raw data in, so an array out (for checkers)
        if w.shape != (n_classes,):
            raise ValueError(f"{who}: weight must have shape ({n_classes},), got {w.shape}")
        w = w.astype(logits.dtype, copy=False)
    eps = float(label_smoothing)
    logp = log_softmax(logits, axis=-1)
    if probs is not None:
        if eps:
            probs = probs * (1.0 - eps) + eps / n_classes
        terms = probs * logp if w is None else probs * logp * w
        return _reduce(-F.sum(terms, axis=-1), reduction, who)
    # a Value's labels are read only when an option needs them (compile traces the pick
    # path with the labels as a plan input); raw labels holding ignore_index take nll's rules
    ignored = not isinstance(labels, Value) and np.any(np.asarray(labels) == ignore_index)
    if w is not None or eps or ignored:  # PyTorch's nll_loss rules
        raw = np.asarray(labels.data if isinstance(labels, Value) else labels)
        lp = logp if logits.ndim == 2 else F.reshape(logp, (1, n_classes))
        y = raw.reshape(-1)
        loss = nll_loss(lp, y, w, ignore_index, reduction)
        if not eps:
            return loss if logits.ndim == 2 or reduction != "none" else F.reshape(loss, ())
        # smoothing: (1 - e) nll + e * mean over classes of -w_c logp_c, per kept sample
        valid = (y != ignore_index).astype(logits.dtype)
        smooth = -(F.sum(lp if w is None else lp * w, axis=-1) * valid) / n_classes
        if reduction == "mean":
            per = valid if w is None else valid * w[np.where(y != ignore_index, y, 0)]
            denom = float(per.sum())
            smooth = F.sum(smooth) / denom if denom else F.sum(smooth) * 0.0 + np.nan
        elif reduction == "sum":
            smooth = F.sum(smooth)
        total = loss * (1.0 - eps) + smooth * eps
        return total if logits.ndim == 2 or reduction != "none" else F.reshape(total, ())
    # -log_softmax(logits)[label]: log_softmax works from logits - max, so the loss is
    # accurate at every magnitude (logsumexp(z) - z[label] cancels at logits of 1e16).
    # pick checks the labels (integers in [0, C), one per row) on every call.
    try:
        picked = F.pick(logp, labels)
    except ValueError as e:
        raise ValueError(f"{who}: {str(e).removeprefix('pick: ')}") from None
    return _reduce(-picked, reduction, who)


def binary_cross_entropy(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """-(t log p + (1 - t) log(1 - p)) for probabilities p in [0, 1].

    Stabilised by clamping, as in PyTorch: each log is clamped at -100, so p = 0 or 1
    gives a large finite loss instead of infinity or NaN, and the clamped term gives no
    gradient. One node; a prediction outside [0, 1] is an error, on every call (a
    compiled one too). Prefer
    :func:`binary_cross_entropy_with_logits` when you have logits: it is exact for any
    logit.
    """
    _reduction(reduction, "binary_cross_entropy")
    who = "binary_cross_entropy"
    pred = _pred(pred, who)
    t = _target(target, pred, who)
    # one op, which checks that the predictions are probabilities on every call
    return _reduce(F.binary_cross_entropy(pred, t), reduction, who)


def binary_cross_entropy_with_logits(
    logits: Any, target: Any, reduction: str = "mean", *, pos_weight: Any = None
) -> Value:
    """Binary cross-entropy of sigmoid(logits): (1 - t) x + (1 + (pw - 1) t) softplus(-x).

    One node, exact at every logit (softplus is numpy's ``logaddexp``, which never
    overflows), with gradient (1 - t) - (1 + (pw - 1) t) sigmoid(-x), which is
    sigmoid(x) - t without ``pos_weight``. At a logit of +-inf the loss is its limit, inf
    (or 0 where the target agrees), and the gradient 1, -pw t or 0, as PyTorch's.
    ``pos_weight`` (PyTorch's) weighs the positive term; it broadcasts against the logits
    (one weight per class, the last axis) and is a constant (no gradient).
    """
    _reduction(reduction, "binary_cross_entropy_with_logits")
    who = "binary_cross_entropy_with_logits"
    x = _pred(logits, who)
    t = _target(target, x, who)
    pw: Any = 1.0
    if pos_weight is not None:  # a constant, as a Value's data (no gradient flows into it)
        pw = _pred(pos_weight.data if isinstance(pos_weight, Value) else pos_weight, who)
        try:
            np.broadcast_shapes(pw.shape, tuple(x.shape))
        except ValueError:
            raise ValueError(
                f"{who}: pos_weight of shape {pw.shape} does not broadcast against "
                f"the logits' shape {tuple(x.shape)}"
            ) from None
        pw = pw.astype(x.dtype, copy=False)
    return _reduce(F.binary_cross_entropy_with_logits(x, t, pw), reduction, who)


class MSELoss(Module):
    """Module form of :func:`mse_loss`: ``MSELoss()(pred, target)``."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Value:
        return mse_loss(pred, target, self.reduction)


class CrossEntropyLoss(Module):
    """Module form of :func:`cross_entropy`."""

    def __init__(
        self,
        weight: Any = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        if isinstance(weight, str):  # the old positional reduction: CrossEntropyLoss("sum")
            weight, reduction = None, weight
        self.weight = None if weight is None else np.asarray(weight, dtype=float)
        self.ignore_index = _ignore_index(ignore_index, "CrossEntropyLoss")
        self.reduction = reduction
        self.label_smoothing = float(label_smoothing)

    def forward(self, logits: Any, labels: Any) -> Value:
        return cross_entropy(
            logits,
            labels,
            self.reduction,
            weight=self.weight,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )


class BCELoss(Module):
    """Module form of :func:`binary_cross_entropy`."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Value:
        return binary_cross_entropy(pred, target, self.reduction)


class BCEWithLogitsLoss(Module):
    """Module form of :func:`binary_cross_entropy_with_logits`."""

    def __init__(self, reduction: str = "mean", *, pos_weight: Any = None) -> None:
        self.reduction = reduction
        self.pos_weight = None if pos_weight is None else np.asarray(pos_weight, dtype=float)

    def forward(self, logits: Any, target: Any) -> Value:
        return binary_cross_entropy_with_logits(
            logits, target, self.reduction, pos_weight=self.pos_weight
        )


# ------------------------------------------------------------- L1, smooth L1, NLL


def l1_loss(pred: Any, target: Any, reduction: str = "mean") -> Value:
    """Mean absolute error: mean(|pred - target|) (or its sum, or elementwise).

    The gradient at pred == target is 0, as in PyTorch.
    """
    _reduction(reduction, "l1_loss")
    pred = _pred(pred, "l1_loss")
    target = _target(target, pred, "l1_loss")
    return _reduce(F.abs(pred - target), reduction, "l1_loss")


def smooth_l1_loss(pred: Any, target: Any, reduction: str = "mean", beta: float = 1.0) -> Value:
    """Huber-like loss: 0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = pred - target).

    Quadratic near 0 and linear beyond ``beta``; ``beta=0`` is :func:`l1_loss`, as in
    PyTorch.
    """
    _reduction(reduction, "smooth_l1_loss")
    who = "smooth_l1_loss"
    if not beta >= 0.0:
        raise ValueError(f"{who}: beta must be >= 0, got {beta}")
    pred = _pred(pred, who)
    target = _target(target, pred, who)
    d = pred - target
    ad = F.abs(d)
    if beta == 0.0:
        return _reduce(ad, reduction, who)
    small = np.abs(d.data if isinstance(d, Value) else d) < beta
    return _reduce(F.where(small, (0.5 / beta) * d * d, ad - 0.5 * beta), reduction, who)


def nll_loss(
    log_probs: Any,
    labels: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Value:
    """Negative log-likelihood: -weight[y] * log_probs[y] per sample, y the label.

    ``log_probs`` is (C,), (N, C) or (N, C, d1, ...) (e.g. from ``log_softmax``), labels
    integers of shape (), (N,) or (N, d1, ...). Labels equal to ``ignore_index`` add
    nothing; ``"mean"`` divides by the summed weights of the others (PyTorch's rule), so
    ``nll_loss(log_softmax(z), y)`` equals ``cross_entropy(z, y)``.
    """
    _reduction(reduction, "nll_loss")
    who = "nll_loss"
    ignore_index = _ignore_index(ignore_index, who)
    logp = _pred(log_probs, who)
    shape = tuple(logp.shape)
    if len(shape) == 0:
        raise ValueError(f"{who}: log_probs must have a class dimension, got a scalar")
    c_axis = 0 if len(shape) == 1 else 1
    n_classes = shape[c_axis]
    raw = np.asarray(labels.data if isinstance(labels, Value) else labels)
    if raw.dtype.kind == "f" and np.all(raw == np.round(raw)):
        raw = raw.astype(np.int64)
    expected = shape[:c_axis] + shape[c_axis + 1 :]
    if raw.dtype.kind not in "iu" or raw.shape != expected:
        raise ValueError(
            f"{who}: labels must be class indices of shape {expected} for log_probs of shape "
            f"{shape}; got {raw.dtype} of shape {raw.shape}"
        )
    valid = raw != ignore_index
    if np.any(valid) and (raw[valid].min() < 0 or raw[valid].max() >= n_classes):
        raise ValueError(
            f"{who}: labels must be in [0, {n_classes}) (or ignore_index={ignore_index}), "
            f"got {raw[valid].min()}..{raw[valid].max()}"
        )
    w = None if weight is None else np.asarray(weight.data if isinstance(weight, Value) else weight)
    if w is not None and w.shape != (n_classes,):
        raise ValueError(f"{who}: weight must have shape ({n_classes},), got {w.shape}")
    safe = np.where(valid, raw, 0)
    # index (n, safe[n, ...], ...) of log_probs: one gathered value per sample
    if c_axis == 0:
        picked = logp[int(safe)]
    else:
        grids = np.indices(expected, sparse=True)
        picked = logp[(grids[0], safe, *grids[1:])]
    per = np.where(valid, 1.0, 0.0) if w is None else np.where(valid, w[safe], 0.0)
    per = per.astype(logp.dtype)
    loss = -(picked * per)
    if reduction == "mean":
        total = float(per.sum())
        if total == 0.0:  # every label ignored: the mean of nothing is nan, its gradient 0
            return F.sum(loss) * 0.0 + np.nan  # (PyTorch's answer; not 0 / 0 in backward)
        return F.sum(loss) / total
    return _reduce(loss, reduction, who)


class L1Loss(Module):
    """Module form of :func:`l1_loss`."""

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, pred: Any, target: Any) -> Value:
        return l1_loss(pred, target, self.reduction)


class SmoothL1Loss(Module):
    """Module form of :func:`smooth_l1_loss`."""

    def __init__(self, reduction: str = "mean", beta: float = 1.0) -> None:
        self.reduction = reduction
        self.beta = float(beta)

    def forward(self, pred: Any, target: Any) -> Value:
        return smooth_l1_loss(pred, target, self.reduction, self.beta)


class NLLLoss(Module):
    """Module form of :func:`nll_loss`: ``NLLLoss(weight=None, ignore_index=-100)``."""

    def __init__(
        self, weight: Any = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        self.weight = None if weight is None else np.asarray(weight, dtype=float)
        self.ignore_index = _ignore_index(ignore_index, "NLLLoss")
        self.reduction = reduction

    def forward(self, log_probs: Any, labels: Any) -> Value:
        return nll_loss(log_probs, labels, self.weight, self.ignore_index, self.reduction)


# ------------------------------------------------------------------ Huber, KL divergence


def huber_loss(pred: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Value:
    """0.5 d^2 where |d| <= delta, else delta (|d| - 0.5 delta), d = pred - target (PyTorch's).

    ``delta * smooth_l1_loss(beta=delta)``; ``delta`` must be > 0.
    """
    _reduction(reduction, "huber_loss")
    if not delta > 0.0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    return smooth_l1_loss(pred, target, reduction, beta=float(delta)) * float(delta)


def kl_div(input: Any, target: Any, reduction: str = "mean", log_target: bool = False) -> Value:
    """PyTorch's kl_div: target (log target - input) per entry, ``input`` log-probabilities.

    With ``log_target`` the target is given as log-probabilities: exp(t) (t - input).
    A target of 0 adds 0 (not nan). ``reduction`` is also ``"batchmean"`` (the sum divided
    by the batch size, the KL divergence proper; ``"mean"`` divides by every element).
    """
    _reduction(reduction, "kl_div", ("batchmean",))
    who = "kl_div"
    x = _pred(input, who)
    t = _target(target, x, who)
    if log_target:
        terms = F.exp(t) * (t - x)
    else:
        td = t.data if isinstance(t, Value) else t
        positive = np.asarray(td) > 0
        safe_log = F.log(F.where(positive, t, 1.0))  # log t where t > 0, and 0 * 0 elsewhere
        terms = F.where(positive, t * (safe_log - x), 0.0 * t)
    if reduction == "batchmean":
        return F.sum(terms) / float(x.shape[0] if len(x.shape) else 1)
    return _reduce(terms, reduction, who)


class HuberLoss(Module):
    """Module form of :func:`huber_loss`."""

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        if not delta > 0.0:
            raise ValueError(f"HuberLoss: delta must be > 0, got {delta}")
        self.reduction, self.delta = reduction, float(delta)

    def forward(self, pred: Any, target: Any) -> Value:
        return huber_loss(pred, target, self.reduction, self.delta)


class KLDivLoss(Module):
    """Module form of :func:`kl_div`."""

    def __init__(self, reduction: str = "mean", log_target: bool = False) -> None:
        self.reduction, self.log_target = reduction, bool(log_target)

    def forward(self, input: Any, target: Any) -> Value:
        return kl_div(input, target, self.reduction, self.log_target)
