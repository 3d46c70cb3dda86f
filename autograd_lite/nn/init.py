"""Weight initialisation, every function seeded by ``rng`` (an int, a Generator or None).

Weights here are laid out (fan_in, fan_out) = (nin, nout), as used in ``x @ W`` (PyTorch
stores (out, in); the fans, and so the spreads, are the same). Convolution weights are
PyTorch's (out, in, *kernel), with PyTorch's fans (see ``_fans``). Each initialiser comes in
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


def _fans(shape: Shape, who: str, vector: bool = True) -> tuple[int, int]:
    """(fan_in, fan_out) = (in, out) in 2-D; (shape[1] r, shape[0] r), r = prod(shape[2:]), beyond.

    A 2-D weight is read as (in, out), this library's ``x @ W`` layout (``nn.Linear``
    stores (nin, nout)), not PyTorch's (out, in): so an Embedding weight (num, dim) gets
    fan_in = num (PyTorch: dim). From 3 dimensions on it is PyTorch's rule for its
    convolution layout (out, in / groups, *kernel) — ConvTranspose2d's (in, out / groups,
    *kernel) alike, so its fan_in is out * prod(kernel) as in PyTorch. A vector (nin,) (a
    Neuron's weight) has fan_in = nin, fan_out = 1 when ``vector``; the in-place forms, as
    PyTorch, refuse fewer than 2 dimensions.
    """
    if len(shape) == 1 and vector:
        return shape[0], 1
    if len(shape) < 2:
        raise ValueError(
            f"{who}: fan in and fan out can not be computed for tensor with fewer than "
            f"2 dimensions (got shape {tuple(shape)})"
        )
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


_LINEAR_GAIN = frozenset(
    ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d")
    + ("conv_transpose1d", "conv_transpose2d", "conv_transpose3d")
)


def calculate_gain(nonlinearity: str = "linear", param: float | None = None) -> float:
    """PyTorch's gain: relu sqrt(2), tanh 5/3, leaky_relu sqrt(2/(1+a^2)), selu 3/4, else 1."""
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "leaky_relu":
        if param is None:
            return math.sqrt(2.0 / (1 + 0.01**2))
        if isinstance(param, bool) or not isinstance(param, (int, float, np.number)):
            raise ValueError(f"calculate_gain: negative_slope {param!r} is not a valid number")
        return math.sqrt(2.0 / (1 + float(param) ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    if nonlinearity in _LINEAR_GAIN:
        return 1.0
    raise ValueError(f"calculate_gain: unknown nonlinearity {nonlinearity!r}")


def xavier_uniform(
    shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """Glorot: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape, "xavier_uniform")
    a = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return as_rng(rng).uniform(-a, a, shape).astype(dtype)


def xavier_normal(
    shape: Shape, gain: float = 1.0, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """Glorot: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(shape, "xavier_normal")
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def kaiming_uniform(
    shape: Shape,
    a: float = 0.0,
    nonlinearity: str = "leaky_relu",
    rng: Any = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He: U(-b, b) with b = calculate_gain(nonlinearity, a) * sqrt(3 / fan_in)."""
    fan_in = _fans(shape, "kaiming_uniform")[0]
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan_in)
    return as_rng(rng).uniform(-bound, bound, shape).astype(dtype)


def kaiming_normal(
    shape: Shape,
    a: float = 0.0,
    nonlinearity: str = "leaky_relu",
    rng: Any = None,
    dtype: Any = np.float64,
) -> np.ndarray:
    """He: N(0, std^2) with std = calculate_gain(nonlinearity, a) / sqrt(fan_in)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fans(shape, "kaiming_normal")[0])
    return (as_rng(rng).standard_normal(shape) * std).astype(dtype)


def linear_default(
    shape: Shape, fan_in: int | None = None, rng: Any = None, dtype: Any = np.float64
) -> np.ndarray:
    """PyTorch's default for Linear weights and biases: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    if fan_in is None:
        fan_in = _fans(shape, "linear_default")[0]
    bound = 1.0 / math.sqrt(fan_in)
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


def _fill(
    value: Value, make: Callable[..., np.ndarray], who: str | None = None, **kw: Any
) -> Value:
    """Overwrite ``value.data`` with ``make(shape, dtype=..., **kw)``; return ``value``.

    ``who`` names an initialiser that needs the fans: then, as in PyTorch, ``value`` must
    have at least 2 dimensions."""
    if not isinstance(value, Value):
        raise TypeError(f"nn.init: expected a Value (a parameter), got {type(value).__name__}")
    if who is not None:
        _fans(value.shape, who, vector=False)
    new = make(value.shape, dtype=value.dtype, **kw)
    if type(value.data) is float:
        value.data = float(new)
    else:  # Data is float | ndarray: not a float, so an ndarray
        cast(np.ndarray, value.data)[...] = new
    return value


def xavier_uniform_(value: Value, gain: float = 1.0, rng: Any = None) -> Value:
    """In place: U(-a, a) with a = gain * sqrt(6 / (fan_in + fan_out))."""
    return _fill(value, xavier_uniform, "xavier_uniform_", gain=gain, rng=rng)


def xavier_normal_(value: Value, gain: float = 1.0, rng: Any = None) -> Value:
    """In place: N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    return _fill(value, xavier_normal, "xavier_normal_", gain=gain, rng=rng)


def kaiming_uniform_(
    value: Value, a: float = 0.0, nonlinearity: str = "leaky_relu", rng: Any = None
) -> Value:
    """In place: U(-b, b) with b = calculate_gain(nonlinearity, a) * sqrt(3 / fan_in)."""
    kw = {"a": a, "nonlinearity": nonlinearity, "rng": rng}
    return _fill(value, kaiming_uniform, "kaiming_uniform_", **kw)


def kaiming_normal_(
    value: Value, a: float = 0.0, nonlinearity: str = "leaky_relu", rng: Any = None
) -> Value:
    """In place: N(0, std^2) with std = calculate_gain(nonlinearity, a) / sqrt(fan_in)."""
    kw = {"a": a, "nonlinearity": nonlinearity, "rng": rng}
    return _fill(value, kaiming_normal, "kaiming_normal_", **kw)


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
