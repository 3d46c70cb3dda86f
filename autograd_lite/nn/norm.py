"""Normalisation layers: `LayerNorm`, `BatchNorm1d`, `BatchNorm2d` (PyTorch's defaults).

Built from engine ops (mean, subtraction, sqrt, division), so every derivative, second
ones included, comes from the engine. BatchNorm keeps ``running_mean``, ``running_var``
and ``num_batches_tracked`` as buffers (:meth:`nn.Module.register_buffer`): they are in
``state_dict()``, saved and loaded by ``nn.save``/``nn.load``, and updated in place only
in training mode (``model.train()``), with PyTorch's rule: running = (1 - momentum) *
running + momentum * batch, the variance unbiased (n / (n - 1)).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from autograd_lite import functional as F
from autograd_lite.core.value import Parameter, Value, leaf
from autograd_lite.nn.conv import as_tensor
from autograd_lite.nn.module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm"]


def _raw(x: Any) -> np.ndarray:
    return np.asarray(x.data if isinstance(x, Value) else x)


def _dtype(dtype: Any, who: str) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a floating type, got {dt}")
    return dt


class LayerNorm(Module):
    """y = (x - mean(x)) / sqrt(var(x) + eps) * weight + bias over the last dimensions.

    ``normalized_shape`` (an int or a tuple) names those trailing dimensions; the variance
    is the biased one, as in PyTorch. ``weight`` starts at 1 and ``bias`` at 0
    (``elementwise_affine=False`` has neither, ``bias=False`` no bias).
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        shape = (
            (int(normalized_shape),)
            if isinstance(normalized_shape, (int, np.integer))
            else tuple(int(n) for n in normalized_shape)
        )
        if not shape or min(shape) < 1:
            raise ValueError(
                f"LayerNorm: normalized_shape must be positive, got {normalized_shape}"
            )
        dtype = _dtype(dtype, "LayerNorm")
        self.normalized_shape = shape
        self.eps = _eps(eps, "LayerNorm")
        self.elementwise_affine = bool(elementwise_affine)
        self.weight = Parameter(np.ones(shape, dtype)) if elementwise_affine else None
        self.bias = Parameter(np.zeros(shape, dtype)) if elementwise_affine and bias else None
        self._dtype = dtype

    def forward(self, x: Any) -> Any:
        x = as_tensor(x, self._dtype, self)
        k = len(self.normalized_shape)
        if tuple(x.shape[-k:]) != self.normalized_shape:
            raise ValueError(
                f"LayerNorm: expected an input ending in {self.normalized_shape}, "
                f"got shape {tuple(x.shape)}"
            )
        axes = tuple(range(-k, 0))
        diff = x - F.mean(x, axes, keepdims=True)
        y = diff / F.sqrt(F.mean(diff * diff, axes, keepdims=True) + self.eps)
        if self.weight is not None:
            y = y * self.weight
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps:g}, "
            f"elementwise_affine={self.elementwise_affine}"
        )


def _eps(eps: Any, who: str) -> float:
    """``eps`` checked: a finite number > 0 (at 0 or below, or nan, the output is nan)."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float, np.integer, np.floating)):
        raise TypeError(f"{who}: eps must be a number, got {eps!r}")
    if not 0.0 < eps < math.inf:
        raise ValueError(f"{who}: eps must be a finite number > 0, got {eps}")
    return float(eps)


class _BatchNorm(Module):
    """The shared body of BatchNorm1d and BatchNorm2d; ``ndims`` are the input ranks taken."""

    ndims: tuple[int, ...] = ()
    layout = ""
    # buffers (register_buffer), present when track_running_stats: declared for checkers only
    running_mean: np.ndarray
    running_var: np.ndarray
    num_batches_tracked: np.ndarray

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: Any = np.float64,
    ) -> None:
        who = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)):
            raise ValueError(
                f"{who}: num_features must be a positive integer, got {num_features!r}"
            )
        if num_features < 1:
            raise ValueError(f"{who}: num_features must be a positive integer, got {num_features}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{who}: momentum must be in [0, 1] or None, got {momentum}")
        dtype = _dtype(dtype, who)
        c = self.num_features = int(num_features)
        self.eps = _eps(eps, who)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        self.weight = Parameter(np.ones(c, dtype)) if affine else None
        self.bias = Parameter(np.zeros(c, dtype)) if affine else None
        self._dtype = dtype
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(c, dtype))
            self.register_buffer("running_var", np.ones(c, dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch tracked (in place)."""
        if self.track_running_stats:
            self.running_mean[...] = 0.0
            self.running_var[...] = 1.0
            self.num_batches_tracked[...] = 0

    def forward(self, x: Any) -> Any:
        who = type(self).__name__
        x = as_tensor(x, self._dtype, self)
        shape = tuple(x.shape)
        if len(shape) not in self.ndims or shape[1] != self.num_features:
            raise ValueError(
                f"{who}({self.num_features}): expected an input {self.layout} with "
                f"C = {self.num_features}, got shape {shape}"
            )
        axes = (0, *range(2, len(shape)))
        bshape = (1, self.num_features) + (1,) * (len(shape) - 2)
        if self.training or not self.track_running_stats:
            n = int(np.prod([shape[a] for a in axes]))
            if n <= 1:  # in evaluation too without running statistics, as PyTorch
                when = "" if self.training else " (or in eval() without running statistics)"
                raise ValueError(
                    f"{who}: expected more than 1 value per channel when training{when}, "
                    f"got input shape {shape}"
                )
            mean = F.mean(x, axes, keepdims=True)
            diff = x - mean
            var = F.mean(diff * diff, axes, keepdims=True)
            y = diff / F.sqrt(var + self.eps)
            if self.training and self.track_running_stats:
                self._update(_raw(mean).reshape(-1), _raw(var).reshape(-1) * (n / (n - 1)))
        else:
            # the buffers enter as leaves around views of them (no copy), so the
            # statistics are computed by ops at every call: a compiled plan reads them live
            mean = leaf(self.running_mean.reshape(bshape), False)
            var = leaf(self.running_var.reshape(bshape), False)
            y = (x - mean) / F.sqrt(var + self.eps)
        if self.affine:
            y = y * F.reshape(self.weight, bshape) + F.reshape(self.bias, bshape)
        return y

    def _update(self, mean: np.ndarray, var: np.ndarray) -> None:
        self.num_batches_tracked += 1  # in place: a 0-d array stays the same object
        m = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean *= 1.0 - m
        self.running_mean += m * mean
        self.running_var *= 1.0 - m
        self.running_var += m * var

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps:g}, momentum={self.momentum}, "
            f"affine={self.affine}, track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel, input (N, C) or (N, C, L).

    Training mode normalises with the batch's statistics (over N and L; the variance
    biased) and updates the running ones; evaluation mode uses the running statistics.
    PyTorch's defaults: eps 1e-5, momentum 0.1 (None: a cumulative average), weight 1,
    bias 0.
    """

    ndims = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel, input (N, C, H, W).

    Statistics over N, H and W; otherwise as :class:`BatchNorm1d`.
    """

    ndims = (4,)
    layout = "(N, C, H, W)"
