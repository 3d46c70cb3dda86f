"""Weight initialisation, every function seeded by ``rng`` (an int, a Generator or None).

Weights here are laid out (fan_in, fan_out) = (nin, nout), as used in ``x @ W`` (PyTorch
stores (out, in); the fans, and so the spreads, are the same). Each initialiser comes in
two forms: ``xavier_uniform(shape, ...)`` returns a new array, and PyTorch's in-place
``xavier_uniform_(value, ...)`` fills a parameter's data and returns the parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from autograd_lite.core.value import Value

__all__ = [
    "INITIALIZERS",
    "as_rng",
    "calculate_gain",
    "constant_",
    "get_initializer",
    "kaiming_normal",
    "kaiming_normal_",
    "kaiming_uniform",
    "kaiming_uniform_",
    "linear_default",
    "normal_",
    "uniform",
    "uniform_",
    "xavier_normal",
    "xavier_normal_",
    "xavier_uniform",
    "xavier_uniform_",
    "zeros",
    "zeros_",
]

Shape = tuple[int, ...]


def as_rng(rng: Any = None) -> np.random.Generator:
    """A numpy Generator from a seed, a Generator (used as is) or None (fresh entropy)."""
    if isinstance(rng, np.random.Generator):
        return rng
    try:
        return np.random.default_rng(rng)
    except (TypeError, ValueError) as e:
        raise TypeError(
            f"rng must be an integer seed, a numpy Generator or None, got {rng!r} ({e})"
        ) from None


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


def xavier_uniform(
    shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape)
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return as_rng(rng).uniform(-a, a, shape).astype(dtype)


def xavier_normal(
    shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
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
) -> np.ndarray:
    """He: U(-b, b) with b = gain * sqrt(3 / fan_in)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fans(shape)[0])
    return as_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def kaiming_normal(
    shape: Shape,
    a: float = 0.0,
    nonlinearity: str = "relu",
    rng: Any = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He: N(0, std^2) with std = gain / sqrt(fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fans(shape)[0])
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def linear_default(
    shape: Shape, fan_in: int | None = None, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """PyTorch's default for Linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / math.sqrt(fan_in if fan_in is not None else _fans(shape)[0])
    return as_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def uniform(
    shape: Shape, low: float = -1.0, high: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """U(low, high); micrograd initialises its neurons with U(-1, 1)."""
    return as_rng(rng).uniform(low, high, shape).astype(dtype)


def zeros(shape: Shape, rng: Any = None, dtype: Any = np.float64) -> np.ndarray:
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


# ------------------------------------------------------------- in place, as in PyTorch


def _fill(value: Value, make: Callable[..., np.ndarray], **kw: Any) -> Value:
    """Overwrite ``value.data`` with ``make(shape, dtype=..., **kw)``; return ``value``."""
    if not isinstance(value, Value):
        raise TypeError(f"nn.init: expected a Value (a parameter), got {type(value).__name__}")
    new = make(value.shape, dtype=value.dtype, **kw)
    if type(value.data) is float:
        value.data = float(new)
    else:  # Data is float | ndarray: not a float, so an ndarray
        cast(np.ndarray, value.data)[...] = new
    return value


def xavier_uniform_(value: Value, gain: float = 1.0, rng: Any = None) -> Value:
    """In place: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    return _fill(value, xavier_uniform, gain=gain, rng=rng)


def xavier_normal_(value: Value, gain: float = 1.0, rng: Any = None) -> Value:
    """In place: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    return _fill(value, xavier_normal, gain=gain, rng=rng)


def kaiming_uniform_(
    value: Value, a: float = 0.0, nonlinearity: str = "relu", rng: Any = None
) -> Value:
    """In place: U(-b, b) with b = gain * sqrt(3 / fan_in)."""
    return _fill(value, kaiming_uniform, a=a, nonlinearity=nonlinearity, rng=rng)


def kaiming_normal_(
    value: Value, a: float = 0.0, nonlinearity: str = "relu", rng: Any = None
) -> Value:
    """In place: N(0, std^2) with std = gain / sqrt(fan_in)."""
    return _fill(value, kaiming_normal, a=a, nonlinearity=nonlinearity, rng=rng)


def uniform_(value: Value, a: float = 0.0, b: float = 1.0, rng: Any = None) -> Value:
    """In place: U(a, b) (PyTorch's defaults)."""
    return _fill(value, uniform, low=a, high=b, rng=rng)


def normal_(value: Value, mean: float = 0.0, std: float = 1.0, rng: Any = None) -> Value:
    """In place: N(mean, std^2)."""

    def make(shape: Shape, dtype: Any, rng: Any) -> np.ndarray:
        return (mean + std * as_rng(rng).standard_normal(shape)).astype(dtype)

    return _fill(value, make, rng=rng)


def constant_(value: Value, val: float) -> Value:
    """In place: every element set to ``val``."""
    return _fill(value, lambda shape, dtype: np.full(shape, val, dtype=dtype))


def zeros_(value: Value) -> Value:
    """In place: all zeros."""
    return constant_(value, 0.0)
