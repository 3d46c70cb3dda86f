"""Value's arithmetic, methods and ``backward``, bound from above the core.

`Value` (in :mod:`autograd_lite.core.value`) knows no operation and the op table knows no
`Value` methods; this module, which may import both, gives `Value` its operators, as
HIPS autograd binds its array operators outside its core. Each line names its op.
"""

from __future__ import annotations

from typing import Any

from autograd_lite import functional as F
from autograd_lite.core.backward import backward
from autograd_lite.core.op import binary_methods, unary_method
from autograd_lite.core.value import Value
from autograd_lite.ops import primitives as prim

__all__: list[str] = []

Axis = int | tuple[int, ...] | None


for _name, _op in (
    ("add", prim.ADD),
    ("sub", prim.SUB),
    ("mul", prim.MUL),
    ("truediv", prim.DIV),
    ("matmul", prim.MATMUL),
):
    _f, _r = binary_methods(_op)
    setattr(Value, f"__{_name}__", _f)
    setattr(Value, f"__r{_name}__", _r)

for _name, _op in (
    ("exp", prim.EXP),
    ("log", prim.LOG),
    ("sqrt", prim.SQRT),
    ("tanh", prim.TANH),
    ("sigmoid", prim.SIGMOID),
    ("relu", prim.RELU),
    ("abs", prim.ABS),
    ("sin", prim.SIN),
    ("cos", prim.COS),
):
    setattr(Value, _name, unary_method(_op))

Value.__neg__ = unary_method(prim.NEG)  # type: ignore[method-assign]
Value.__abs__ = unary_method(prim.ABS)  # type: ignore[method-assign]


def _pos(self: Value) -> Value:
    return self


def _pow(self: Value, other: Any) -> Value:
    return F.pow(self, other)


def _rpow(self: Value, other: Any) -> Value:
    return F.pow(other, self)


def _getitem(self: Value, index: Any) -> Value:
    return F.getitem(self, index)


def leaky_relu(self: Value, negative_slope: float = 0.01) -> Value:
    """x where x > 0, else negative_slope * x."""
    return F.leaky_relu(self, negative_slope)


def sum(
    self: Value, axis: Axis = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Value:
    """Sum over ``axis`` (an int, a tuple, or None for all); or PyTorch's ``dim``/``keepdim``."""
    return F.sum(self, axis, keepdims, dim=dim, keepdim=keepdim)


def mean(
    self: Value, axis: Axis = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Value:
    """Mean over ``axis`` (or PyTorch's ``dim``/``keepdim``)."""
    return F.mean(self, axis, keepdims, dim=dim, keepdim=keepdim)


def max(
    self: Value, axis: Axis = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Value:
    """Maximum over ``axis`` (or ``dim``); ties share the gradient evenly."""
    return F.max(self, axis, keepdims, dim=dim, keepdim=keepdim)


def min(
    self: Value, axis: Axis = None, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Value:
    """Minimum over ``axis`` (or ``dim``); ties share the gradient evenly."""
    return F.min(self, axis, keepdims, dim=dim, keepdim=keepdim)


def logsumexp(
    self: Value, axis: Axis = -1, keepdims: bool = False, *, dim: Any = None, keepdim: Any = None
) -> Value:
    """log(sum(exp(self), axis)), computed stably (``dim``/``keepdim`` accepted too)."""
    return F.logsumexp(self, axis, keepdims, dim=dim, keepdim=keepdim)


def softmax(self: Value, axis: int = -1, *, dim: Any = None) -> Value:
    """exp(self) / sum(exp(self), axis) (or ``dim``)."""
    return F.softmax(self, axis, dim=dim)


def log_softmax(self: Value, axis: int = -1, *, dim: Any = None) -> Value:
    """self - logsumexp(self, axis) (or ``dim``)."""
    return F.log_softmax(self, axis, dim=dim)


def reshape(self: Value, *shape: Any) -> Value:
    """The same elements in a new shape: ``v.reshape(2, 3)`` or ``v.reshape((2, 3))``."""
    return F.reshape(self, shape[0] if len(shape) == 1 else shape)


def view(self: Value, *shape: Any) -> Value:
    """PyTorch's name for :meth:`reshape`: ``v.view(2, 3)`` or ``v.view(-1)`` (a new node)."""
    return F.reshape(self, shape[0] if len(shape) == 1 else shape)


def transpose(self: Value, *axes: Any) -> Value:
    """Permute the axes (reverse them when none are given)."""
    return F.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)


def _T(self: Value) -> Value:
    return F.transpose(self)


Value.__pos__ = _pos  # type: ignore[method-assign]
Value.__pow__ = _pow  # type: ignore[method-assign]
Value.__rpow__ = _rpow  # type: ignore[method-assign]
Value.__getitem__ = _getitem  # type: ignore[method-assign]
setattr(Value, "T", property(_T))  # noqa: B010  (declared in value.py for checkers)
setattr(Value, "backward", backward)  # noqa: B010
for _method in (
    leaky_relu,
    sum,
    mean,
    max,
    min,
    logsumexp,
    softmax,
    log_softmax,
    reshape,
    view,
    transpose,
):
    setattr(Value, _method.__name__, _method)
