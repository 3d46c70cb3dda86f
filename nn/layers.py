"""Layers: `Linear`, `Layer` (Linear + activation), micrograd's `Neuron`, and `MLP`.

Weights are laid out (nin, nout), so a batch ``x`` of shape (B, nin) goes through a layer
in one ``x @ W + b`` (one fused node in the graph). Inputs may be Values, ndarrays or
lists; raw inputs are converted to the layer's dtype, so a float32 model stays float32.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite import Value, ops, stack
from nn import init as _init
from nn.activations import activation_name, get_activation
from nn.module import Module

__all__ = ["MLP", "Layer", "Linear", "Neuron"]


def as_input(x: Any, dtype: np.dtype, nin: int, who: Module) -> Any:
    """``x`` as a Value or an ndarray of ``dtype`` whose last dimension is ``nin``."""
    if isinstance(x, (list, tuple)) and any(isinstance(v, Value) for v in x):
        x = stack(list(x))  # micrograd style: a list of scalar Values
    if not isinstance(x, Value):
        try:
            x = np.asarray(x, dtype=dtype)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{who!r}: input must be numbers, got {type(x).__name__} ({e})"
            ) from None
    shape = x.shape
    if len(shape) == 0 or shape[-1] != nin:
        raise ValueError(
            f"{who!r}: expected an input of shape ({nin},) or (batch, {nin}), got shape {shape}"
        )
    return x


def _check_sizes(who: str, **sizes: Any) -> None:
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{who}: {name} must be a positive integer, got {n!r}")


class Linear(Module):
    """y = x @ weight + bias, with weight of shape (nin, nout) and bias (nout,).

    ``init`` names an initialiser from ``nn.init`` (default: PyTorch's Linear default,
    U(-1/sqrt(nin), 1/sqrt(nin)) for weight and bias; with any other initialiser the bias
    starts at 0) or is a callable ``f(shape, rng=, dtype=)``. ``rng`` seeds it.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        bias: bool = True,
        *,
        init: str | Callable[..., np.ndarray] = "default",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        _check_sizes(type(self).__name__, nin=nin, nout=nout)
        self.nin, self.nout = int(nin), int(nout)
        rng = _init.as_rng(rng)
        make = _init.get_initializer(init)
        self.weight = Value(make((self.nin, self.nout), rng=rng, dtype=dtype))
        if not bias:
            self.bias = None
        elif make is _init.linear_default:
            self.bias = Value(make((self.nout,), fan_in=self.nin, rng=rng, dtype=dtype))
        else:
            self.bias = Value(np.zeros(self.nout, dtype=dtype))

    def forward(self, x: Any) -> Value:
        x = as_input(x, self.weight.dtype, self.nin, self)
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        dtype = "" if self.weight.dtype == np.float64 else f", dtype={self.weight.dtype}"
        return f"{self.nin}, {self.nout}, bias={self.bias is not None}{dtype}"


class Layer(Linear):
    """``activation(x @ weight + bias)``: micrograd's Layer, as one matrix."""

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str | Callable[[Any], Any] | None = "relu",
        bias: bool = True,
        *,
        init: str | Callable[..., np.ndarray] = "default",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        super().__init__(nin, nout, bias, init=init, dtype=dtype, rng=rng)
        self.activation = get_activation(activation)

    def forward(self, x: Any) -> Value:
        return self.activation(super().forward(x))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={activation_name(self.activation)!r}"


class Neuron(Module):
    """micrograd's neuron: ``activation(w . x + b)`` with w ~ U(-1, 1) and b = 0.

    Takes one sample of shape (nin,) — also a list of floats or of scalar Values — and
    returns a scalar, or a batch (B, nin) and returns (B,).
    """

    def __init__(
        self,
        nin: int,
        activation: str | Callable[[Any], Any] | None = "relu",
        bias: bool = True,
        *,
        init: str | Callable[..., np.ndarray] = "uniform",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        _check_sizes("Neuron", nin=nin)
        self.nin = int(nin)
        make = _init.get_initializer(init)
        self.weight = Value(make((self.nin,), rng=_init.as_rng(rng), dtype=dtype))
        self.bias = Value(0.0, dtype=dtype) if bias else None
        self.activation = get_activation(activation)

    def forward(self, x: Any) -> Value:
        x = as_input(x, self.weight.dtype, self.nin, self)
        return self.activation(ops.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"{self.nin}, activation={activation_name(self.activation)!r}"


class MLP(Module):
    """A multi-layer perceptron; ``nouts`` lists the layer sizes (micrograd's convention).

    ``MLP(2, [16, 16, 1])`` is 2 -> 16 -> 16 -> 1. Hidden layers use ``activation``, the
    last one ``output_activation``. Input (nin,) gives (nout,); (B, nin) gives (B, nout).
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str | Callable[[Any], Any] | None = "tanh",
        output_activation: str | Callable[[Any], Any] | None = "linear",
        bias: bool = True,
        *,
        init: str | Callable[..., np.ndarray] = "default",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        if isinstance(nouts, (int, np.integer)) or not len(nouts):
            raise ValueError(f"MLP: nouts must be a non-empty list of layer sizes, got {nouts!r}")
        rng = _init.as_rng(rng)
        sizes = [nin, *nouts]
        last = len(nouts) - 1
        self.layers = [
            Layer(
                sizes[i],
                sizes[i + 1],
                output_activation if i == last else activation,
                bias,
                init=init,
                dtype=dtype,
                rng=rng,
            )
            for i in range(len(nouts))
        ]

    def forward(self, x: Any) -> Value:
        for layer in self.layers:
            x = layer(x)
        return x
