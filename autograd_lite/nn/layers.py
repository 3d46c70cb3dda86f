"""Layers: `Linear`, `Layer` (Linear + activation), micrograd's `Neuron`, and `MLP`.

Weights are laid out (nin, nout), so a batch ``x`` of shape (B, nin) goes through a layer
in one ``x @ W + b`` (one fused node in the graph, no transpose). Inputs may be Values,
ndarrays or lists; they are converted to the layer's dtype (raw data by numpy, a Value of
another dtype by a recorded cast), so a float32 model stays float32 forward and backward.
An input already in the layer's dtype is used as it is, without a copy.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite import functional as F
from autograd_lite.core.function import Function
from autograd_lite.core.value import Parameter, Value
from autograd_lite.functional import stack
from autograd_lite.nn import init as _init
from autograd_lite.nn.activations import activation_name, get_activation
from autograd_lite.nn.module import Module

__all__ = ["MLP", "Layer", "Linear", "Neuron", "cast"]

Activation = str | Callable[[Any], Any] | None
Init = str | Callable[..., np.ndarray]


class _Cast(Function):
    """x converted to another float dtype; the gradient goes back in x's own dtype."""

    name = "cast"

    @staticmethod
    def forward(ctx: Any, *inputs: Any) -> np.ndarray:  # inputs: (x, dtype)
        x, dtype = inputs
        ctx.source = np.asarray(x).dtype
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def backward(ctx: Any, grad: Any) -> tuple[Any, None]:
        if isinstance(grad, Value):  # create_graph: stay differentiable
            return _Cast.apply(grad, ctx.source), None
        return np.asarray(grad, dtype=ctx.source), None


def cast(x: Value, dtype: Any) -> Value:
    """``x`` in ``dtype`` (a float type), as a recorded op: gradients flow back to ``x``
    in its own dtype. Returns ``x`` itself when it already has that dtype."""
    dtype = np.dtype(dtype)
    if x.dtype == dtype:
        return x
    if dtype.kind != "f":
        raise TypeError(f"cast: dtype must be a floating type, got {dtype}")
    return _Cast.apply(x, dtype)


def as_input(x: Any, dtype: np.dtype, nin: int, who: Any) -> Any:
    """``x`` as a Value or ndarray of ``dtype`` whose last dimension is ``nin``.

    ``who`` (a module or a string) names the caller in error messages.
    """
    t = type(x)
    if t is not np.ndarray and t is not Value:
        if isinstance(x, (list, tuple)) and any(isinstance(v, Value) for v in x):
            try:
                x = stack(list(x))  # micrograd style: a list of scalar Values
            except (TypeError, ValueError) as e:
                raise type(e)(f"{_label(who)}: cannot stack the input list ({e})") from None
        elif not isinstance(x, Value):
            try:
                x = np.asarray(x, dtype=dtype)
            except (TypeError, ValueError) as e:
                raise TypeError(
                    f"{_label(who)}: input must be numbers, got {type(x).__name__} ({e})"
                ) from None
    if x.dtype != dtype:  # an array is converted; a Value goes through a recorded cast
        x = cast(x, dtype) if isinstance(x, Value) else np.asarray(x, dtype=dtype)
    shape = x.shape
    if len(shape) == 0 or shape[-1] != nin:
        raise ValueError(
            f"{_label(who)}: expected an input of shape ({nin},) or (batch, {nin}), "
            f"got shape {shape}"
        )
    return x


def _label(who: Any) -> str:
    """One line naming a module for an error message: ``Linear(3, 2, bias=True)``."""
    if isinstance(who, Module):
        return f"{type(who).__name__}({who.extra_repr()})"
    return str(who)


def _check_sizes(who: str, **sizes: Any) -> None:
    for name, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"{who}: {name} must be a positive integer, got {n!r}")


def _float_dtype(dtype: Any, who: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{who}: dtype must be a numpy float type, got {dtype!r}") from None
    if dt.kind != "f":
        raise TypeError(f"{who}: dtype must be a floating type such as np.float32, got {dt}")
    return dt


class Linear(Module):
    """y = x @ weight + bias, with weight of shape (nin, nout) and bias (nout,).

    The weight is stored (nin, nout), the transpose of PyTorch's (out, in), so that the
    forward pass is one ``x @ W + b`` with no transpose. Input (nin,) gives (nout,);
    (B, nin) gives (B, nout). ``init`` names an initialiser from ``nn.init`` (default:
    PyTorch's Linear default, U(-1/sqrt(nin), 1/sqrt(nin)) for weight and bias; with any
    other initialiser the bias starts at 0) or is a callable ``f(shape, rng=, dtype=)``.
    ``rng`` (a seed or a numpy Generator) makes it reproducible; ``dtype`` is the
    parameters' float type.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        bias: bool = True,
        *,
        init: Init = "default",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        _check_sizes(type(self).__name__, nin=nin, nout=nout)
        dtype = _float_dtype(dtype, type(self).__name__)
        self.nin, self.nout = int(nin), int(nout)
        rng = _init.as_rng(rng)
        make = _init.get_initializer(init)
        self.weight = Parameter(make((self.nin, self.nout), rng=rng, dtype=dtype))
        if not bias:
            self.bias = None
        elif make is _init.linear_default:
            self.bias = Parameter(make((self.nout,), fan_in=self.nin, rng=rng, dtype=dtype))
        else:
            self.bias = Parameter(np.zeros(self.nout, dtype=dtype))

    def forward(self, x: Any) -> Value:
        x = as_input(x, self.weight.dtype, self.nin, self)
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        dtype = "" if self.weight.dtype == np.float64 else f", dtype={self.weight.dtype}"
        return f"{self.nin}, {self.nout}, bias={self.bias is not None}{dtype}"


class Layer(Linear):
    """y = activation(x @ weight + bias): micrograd's Layer of ``nout`` neurons, as one
    (nin, nout) matrix, so a batch goes through in one matmul.

    ``activation`` is a name (``"relu" "tanh" "sigmoid" "linear" "leaky_relu"``), any
    callable on Values, or None (linear). The other arguments are :class:`Linear`'s.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: Activation = "relu",
        bias: bool = True,
        *,
        init: Init = "default",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        super().__init__(nin, nout, bias, init=init, dtype=dtype, rng=rng)
        self.activation = get_activation(activation)

    def forward(self, x: Any) -> Value:
        x = as_input(x, self.weight.dtype, self.nin, self)
        return self.activation(F.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, activation={activation_name(self.activation)!r}"


class Neuron(Module):
    """micrograd's neuron: y = activation(w . x + b), with w ~ U(-1, 1) and b = 0.

    One weight vector (nin,) and a scalar bias. Takes one sample of shape (nin,) — also a
    list of floats or of scalar Values — and returns a scalar, or a batch (B, nin) and
    returns (B,). The teaching piece: use :class:`Layer` or :class:`Linear` for speed.
    """

    def __init__(
        self,
        nin: int,
        activation: Activation = "relu",
        bias: bool = True,
        *,
        init: Init = "uniform",
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        _check_sizes("Neuron", nin=nin)
        dtype = _float_dtype(dtype, "Neuron")
        self.nin = int(nin)
        make = _init.get_initializer(init)
        self.weight = Parameter(make((self.nin,), rng=_init.as_rng(rng), dtype=dtype))
        self.bias = Parameter(0.0, dtype=dtype) if bias else None
        self.activation = get_activation(activation)

    def forward(self, x: Any) -> Value:
        x = as_input(x, self.weight.dtype, self.nin, self)
        return self.activation(F.linear(x, self.weight, self.bias))

    def extra_repr(self) -> str:
        return f"{self.nin}, activation={activation_name(self.activation)!r}"


class MLP(Module):
    """A multi-layer perceptron; ``nouts`` lists the layer sizes (micrograd's convention).

    ``MLP(2, [16, 16, 1])`` is 2 -> 16 -> 16 -> 1: ``layers`` holds one :class:`Layer`
    per size, h_k = activation_k(h_{k-1} @ W_k + b_k). Hidden layers use ``activation``,
    the last one ``output_activation``. Input (nin,) gives (nout,); (B, nin) gives
    (B, nout); ndarrays and lists are accepted directly and converted to ``dtype``.
    ``bias``, ``init`` and ``rng`` are passed to every layer (one generator, in order).
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: Activation = "tanh",
        output_activation: Activation = "linear",
        dtype: Any = np.float64,
        *,
        bias: bool = True,
        init: Init = "default",
        rng: Any = None,
    ) -> None:
        if isinstance(nouts, (int, np.integer, str)) or not len(nouts):
            raise ValueError(f"MLP: nouts must be a non-empty list of layer sizes, got {nouts!r}")
        _check_sizes("MLP", nin=nin)
        dtype = _float_dtype(dtype, "MLP")
        rng = _init.as_rng(rng)
        sizes = [nin, *nouts]
        self.nin = int(nin)
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
        first = self.layers[0]
        x = as_input(x, first.weight.dtype, self.nin, self)
        for layer in self.layers:
            x = layer(x)
        return x

    def extra_repr(self) -> str:
        return " -> ".join(str(n) for n in [self.nin, *(layer.nout for layer in self.layers)])
