"""Convolutions and pooling: `Conv1d`, `Conv2d`, `ConvTranspose2d`, `MaxPool1d`, `MaxPool2d`,
`AvgPool1d`, `AvgPool2d` and `Flatten`.

PyTorch's layouts, arithmetic and defaults: inputs are (N, C, L) / (N, C, H, W) (or
unbatched (C, L) / (C, H, W)), weights (out_channels, in_channels, *kernel_size), and the
weights and bias start from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in =
in_channels * prod(kernel_size) (PyTorch's ``kaiming_uniform_(a=sqrt(5))``). Each layer
is one op of the table (``conv2d``, ``max_pool2d``, ...), computed by im2col: a strided
view of the windows and one matmul. Not supported: ``groups``, ``padding_mode`` other than
zeros, ``ceil_mode``, dilation in pooling. The parameters from the place of PyTorch's
``groups`` or ``ceil_mode`` on are keyword-only (``bias=``, ``count_include_pad=``), so a
PyTorch-style positional call is a TypeError, not a silently different layer.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autograd_lite import functional as F
from autograd_lite.core.value import Parameter, Value
from autograd_lite.nn import init as _init
from autograd_lite.nn.layers import cast
from autograd_lite.nn.module import Module

__all__ = ["AvgPool2d", "Conv1d", "Conv2d", "Flatten", "MaxPool2d", "as_tensor"]
__all__ += ["AvgPool1d", "ConvTranspose2d", "MaxPool1d"]


def as_tensor(x: Any, dtype: np.dtype, who: Any) -> Any:
    """``x`` as a Value or ndarray of ``dtype``: raw data converted by numpy, a Value of
    another dtype by a recorded cast (gradients flow back in its own dtype)."""
    if isinstance(x, Value):
        return cast(x, dtype) if x.dtype != dtype else x
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as e:
        name = who if isinstance(who, str) else type(who).__name__
        raise TypeError(f"{name}: input must be numbers, got {type(x).__name__} ({e})") from None


def _ints(value: Any, nd: int, who: str, what: str, low: int = 1) -> tuple[int, ...]:
    """``value`` (an int or ``nd`` of them, each >= ``low``) as a tuple, or a clear error."""
    return F._ints(value, nd, who, what, low)


def _weight_and_bias(
    shape: tuple[int, ...], fan_in: int, out: int, bias: bool, rng: Any, dtype: Any, who: str
) -> tuple[Parameter, Parameter | None]:
    """PyTorch's default init: the weight of ``shape`` and, with ``bias``, a bias of ``out``
    channels, both uniform in +-1/sqrt(fan_in)."""
    dtype = np.dtype(dtype)
    if dtype.kind != "f":
        raise TypeError(f"{who}: dtype must be a floating type, got {dtype}")
    rng = _init.as_rng(rng)
    make = _init.linear_default
    weight = Parameter(make(shape, fan_in=fan_in, rng=rng, dtype=dtype))
    if not bias:
        return weight, None
    return weight, Parameter(make((out,), fan_in=fan_in, rng=rng, dtype=dtype))


class _ConvNd(Module):
    """The shared body of Conv1d and Conv2d (``nd`` spatial axes)."""

    nd = 2

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, ...],
        stride: int | tuple[int, ...] = 1,
        padding: int | tuple[int, ...] | str = 0,
        dilation: int | tuple[int, ...] = 1,
        *,
        bias: bool = True,
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        who = type(self).__name__
        for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{who}: {name} must be a positive integer, got {n!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _ints(kernel_size, self.nd, who, "kernel_size")
        self.stride = _ints(stride, self.nd, who, "stride")
        self.dilation = _ints(dilation, self.nd, who, "dilation")
        # checked now, not at the first forward ("same" needs stride 1)
        F._padding(padding, self.nd, self.kernel_size, self.stride, self.dilation, who)
        self.padding = (
            padding if isinstance(padding, str) else _ints(padding, self.nd, who, "padding", 0)
        )
        shape = (self.out_channels, self.in_channels, *self.kernel_size)
        fan_in = self.in_channels * math.prod(self.kernel_size)
        self.weight, self.bias = _weight_and_bias(
            shape, fan_in, self.out_channels, bias, rng, dtype, who
        )

    def forward(self, x: Any) -> Value:
        x = as_tensor(x, self.weight.dtype, self)
        conv = F.conv1d if self.nd == 1 else F.conv2d
        return conv(x, self.weight, self.bias, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        parts = [
            f"{self.in_channels}, {self.out_channels}",
            f"kernel_size={self.kernel_size}",
            f"stride={self.stride}",
        ]
        if self.padding != (0,) * self.nd:
            parts.append(f"padding={self.padding!r}")
        if self.dilation != (1,) * self.nd:
            parts.append(f"dilation={self.dilation}")
        if self.bias is None:
            parts.append("bias=False")
        if self.weight.dtype != np.float64:
            parts.append(f"dtype={self.weight.dtype}")
        return ", ".join(parts)


class Conv1d(_ConvNd):
    """out[n, o, l] = bias[o] + sum_{c, k} weight[o, c, k] x_pad[n, c, l * stride + k * dilation].

    ``Conv1d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, *,
    bias=True, dtype=np.float64, rng=None)``: input (N, C, L) or (C, L); ``padding`` is
    an int, "valid" or "same".
    """

    nd = 1


class Conv2d(_ConvNd):
    """out[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, c, i s + p d, j s + q d].

    ``Conv2d(in_channels, out_channels, kernel_size, stride=1, padding=0, dilation=1, *,
    bias=True, dtype=np.float64, rng=None)``: input (N, C, H, W) or (C, H, W); weight
    (out_channels, in_channels, kH, kW) as in PyTorch; ``kernel_size``, ``stride``,
    ``padding`` and ``dilation`` are an int or a pair; ``padding`` may be "valid" or "same".
    """

    nd = 2


class MaxPool2d(Module):
    """out[..., i, j] = max over the kernel window at (i * stride, j * stride), -inf padding.

    ``stride`` defaults to ``kernel_size``; the gradient goes to the first maximum of each
    window, as in PyTorch. Input (N, C, H, W) or (C, H, W).
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        self.kernel_size, self.stride, self.padding = F._pool_params(
            kernel_size, stride, padding, 2, "MaxPool2d"
        )

    def forward(self, x: Any) -> Any:
        return F.max_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """out[..., i, j] = mean over the kernel window at (i * stride, j * stride), zero padding.

    ``stride`` defaults to ``kernel_size``; the padding's zeros count in the mean unless
    ``count_include_pad=False`` (PyTorch's default is True; keyword-only, as PyTorch's 4th
    positional is ``ceil_mode``). Input (N, C, H, W) or (C, H, W).
    """

    def __init__(
        self,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] | None = None,
        padding: int | tuple[int, int] = 0,
        *,
        count_include_pad: bool = True,
    ) -> None:
        self.kernel_size, self.stride, self.padding = F._pool_params(
            kernel_size, stride, padding, 2, "AvgPool2d"
        )
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Any) -> Any:
        return F.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, count_include_pad=self.count_include_pad
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Flatten(Module):
    """Dimensions start_dim..end_dim merged into one: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)

    def forward(self, x: Any) -> Any:
        return F.flatten(x, self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class ConvTranspose2d(Module):
    """The adjoint of Conv2d (PyTorch's ``ConvTranspose2d``, without groups): weight
    (in_channels, out_channels, kH, kW), output size (H - 1) s - 2 pad + d (k - 1) +
    output_padding + 1; weights and bias from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with
    fan_in = out_channels * kH * kW, as PyTorch's."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        *,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        who = "ConvTranspose2d"
        for name, n in (("in_channels", in_channels), ("out_channels", out_channels)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"{who}: {name} must be a positive integer, got {n!r}")
        self.in_channels, self.out_channels = int(in_channels), int(out_channels)
        self.kernel_size = _ints(kernel_size, 2, who, "kernel_size")
        self.stride = _ints(stride, 2, who, "stride")
        self.padding = _ints(padding, 2, who, "padding", 0)
        self.output_padding = _ints(output_padding, 2, who, "output_padding", 0)
        self.dilation = _ints(dilation, 2, who, "dilation")
        if any(e >= max(s, d) for e, s, d in zip(self.output_padding, self.stride, self.dilation)):
            raise ValueError(
                f"{who}: output_padding {self.output_padding} must be smaller than the stride "
                f"{self.stride} or the dilation {self.dilation}"
            )
        shape = (self.in_channels, self.out_channels, *self.kernel_size)
        fan_in = self.out_channels * math.prod(self.kernel_size)
        self.weight, self.bias = _weight_and_bias(
            shape, fan_in, self.out_channels, bias, rng, dtype, who
        )

    def forward(self, x: Any) -> Value:
        x = as_tensor(x, self.weight.dtype, self)
        return F.conv_transpose2d(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.output_padding,
            dilation=self.dilation,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class MaxPool1d(Module):
    """out[..., i] = max over the window at i * stride, -inf padding (PyTorch's MaxPool1d)."""

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0) -> None:
        (k,), (s,), (p,) = F._pool_params(kernel_size, stride, padding, 1, "MaxPool1d")
        self.kernel_size, self.stride, self.padding = k, s, p

    def forward(self, x: Any) -> Any:
        return F.max_pool1d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool1d(Module):
    """out[..., i] = mean over the window at i * stride, zero padding (PyTorch's AvgPool1d)."""

    def __init__(
        self,
        kernel_size: int,
        stride: int | None = None,
        padding: int = 0,
        *,
        count_include_pad: bool = True,
    ) -> None:
        (k,), (s,), (p,) = F._pool_params(kernel_size, stride, padding, 1, "AvgPool1d")
        self.kernel_size, self.stride, self.padding = k, s, p
        self.count_include_pad = bool(count_include_pad)

    def forward(self, x: Any) -> Any:
        return F.avg_pool1d(
            x, self.kernel_size, self.stride, self.padding, count_include_pad=self.count_include_pad
        )

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"
