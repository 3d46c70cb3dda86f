"""Activations by name (``"relu" "tanh" "sigmoid" "linear" "leaky_relu"``) and as modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from autograd_lite import functional as F
from autograd_lite.nn.module import Module

__all__ = ["ACTIVATIONS", "Identity", "LeakyReLU", "ReLU", "Sigmoid", "Tanh", "get_activation"]


def _identity(x: Any) -> Any:
    return x


ACTIVATIONS: dict[str, Callable[[Any], Any]] = {
    "relu": F.relu,
    "tanh": F.tanh,
    "sigmoid": F.sigmoid,
    "leaky_relu": F.leaky_relu,
    "linear": _identity,
}


def get_activation(activation: str | Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    """The function for a name in ``ACTIVATIONS``, a callable as is, None as identity."""
    if activation is None:
        return _identity
    if callable(activation):
        return activation
    try:
        return ACTIVATIONS[activation]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown activation {activation!r}; use one of {sorted(ACTIVATIONS)} or a callable"
        ) from None


def activation_name(fn: Callable[[Any], Any]) -> str:
    """The name an activation is known by (for ``repr``): its key, or the callable's name."""
    for name, f in ACTIVATIONS.items():
        if f is fn:
            return name
    return getattr(fn, "__name__", type(fn).__name__)


class ReLU(Module):
    """max(x, 0) elementwise."""

    def forward(self, x: Any) -> Any:
        return F.relu(x)


class Tanh(Module):
    """tanh(x) elementwise."""

    def forward(self, x: Any) -> Any:
        return F.tanh(x)


class Sigmoid(Module):
    """1 / (1 + e^-x) elementwise."""

    def forward(self, x: Any) -> Any:
        return F.sigmoid(x)


class LeakyReLU(Module):
    """x if x > 0 else negative_slope * x."""

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = float(negative_slope)

    def forward(self, x: Any) -> Any:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Identity(Module):
    """Returns its input."""

    def forward(self, x: Any) -> Any:
        return x
