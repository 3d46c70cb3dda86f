"""Weight initialisation, every function seeded by ``rng`` (an int, a Generator or None).

Weights here are laid out (fan_in, fan_out) = (nin, nout), as used in ``x @ W``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "INITIALIZERS",
    "as_rng",
    "calculate_gain",
    "get_initializer",
    "kaiming_normal",
    "kaiming_uniform",
    "linear_default",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

Shape = tuple[int, ...]


def as_rng(rng: Any = None) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator (used as is) or None (fresh entropy)."""
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _fans(shape: Shape) -> tuple[int, int]:
    if len(shape) == 0:
        return 1, 1
    if len(shape) == 1:
        return shape[0], 1
    return shape[0], shape[1]


def calculate_gain(nonlinearity: str = "linear", param: float | None = None) -> float:
    """PyTorch's recommended gain: relu sqrt(2), tanh 5/3, leaky_relu sqrt(2/(1+a^2)), else 1."""
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    if nonlinearity in ("linear", "sigmoid", "identity"):
        return 1.0
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def xavier_uniform(shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64):
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return as_rng(rng).uniform(-a, a, shape).astype(dtype)


def xavier_normal(shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64):
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def kaiming_uniform(
    shape: Shape,
    a: float = 0.0,
    nonlinearity: str = "relu",
    rng: Any = None,
    dtype: Any = np.float64,
):
    """He: U(-b, b) with b = gain * sqrt(3 / fan_in)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fans(shape)[0])
    return as_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def kaiming_normal(
    shape: Shape,
    a: float = 0.0,
    nonlinearity: str = "relu",
    rng: Any = None,
    dtype: Any = np.float64,
):
    """He: N(0, std^2) with std = gain / sqrt(fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fans(shape)[0])
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def linear_default(
    shape: Shape, fan_in: int | None = None, rng: Any = None, dtype: Any = np.float64
):
    """PyTorch's default for Linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in if fan_in is not None else _fans(shape)[0])
    return as_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def uniform(
    shape: Shape, low: float = -1.0, high: float = 1.0, rng: Any = None, dtype: Any = np.float64
):
    """U(low, high); micrograd initialises its neurons with U(-1, 1)."""
    return as_rng(rng).uniform(low, high, shape).astype(dtype)


def zeros(shape: Shape, rng: Any = None, dtype: Any = np.float64):
    """All zeros (``rng`` is accepted and ignored, for a uniform signature)."""
    return np.zeros(shape, dtype=dtype)


INITIALIZERS: dict[str, Callable[..., np.ndarray]] = {
    "default": linear_default,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "kaiming_uniform": kaiming_uniform,
    "kaiming_normal": kaiming_normal,
    "uniform": uniform,
    "zeros": zeros,
}


def get_initializer(init: str | Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    """An initialiser by name (see ``INITIALIZERS``) or a callable ``f(shape, rng=, dtype=)``."""
    if callable(init):
        return init
    try:
        return INITIALIZERS[init]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown init {init!r}; use one of {sorted(INITIALIZERS)} or a callable"
        ) from None
