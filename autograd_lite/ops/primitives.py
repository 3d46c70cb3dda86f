"""The built-in primitive operations: each forward declared beside its vector-Jacobian products.

Every op here is made by :func:`autograd_lite.core.op.defop`, the call users have too. The
engine, the gradient tests (which iterate over the op table) and the drawings all read
these declarations; the user-facing functions with their argument handling are in
:mod:`autograd_lite.functional`.

The rules are written with operators and with the ops themselves (an Op is callable:
``COS(x)``), which compute on raw data when given raw data and record a graph when
given Values. So the same rule runs on arrays in an ordinary backward pass and on Values
when ``create_graph=True``: higher-order gradients come without a second copy of any
rule. Rules may return a gradient with the broadcast shape of the result; the backward
walk sums it back to the input's shape.

Subgradients at kinks: ``relu``, ``leaky_relu`` and ``abs`` use 0 at 0 (as PyTorch does
for relu); ``max``, ``maximum`` and ``minimum`` split the gradient evenly between ties.

Over 600 lines for a reason: this is the op table, one declaration per op (its forward,
VJPs and JVP side by side); kept in one module so that "every op in one place" stays
literal, and the table-driven tests and the compiler read it whole.
"""

from __future__ import annotations

import builtins
import math
import operator
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.core.op import BUILTIN_NAMES, OPS, Op, defop
from autograd_lite.core.value import Value, shape_of

Axis = int | tuple[int, ...] | None

# --------------------------------------------------------------- helpers for the rules


def data(x: Any) -> Any:
    """Raw data of a Value (or the thing itself): for masks, which are constants."""
    return x.data if isinstance(x, Value) else x


def shape(x: Any) -> tuple[int, ...]:
    """The shape of a Value or of raw data."""
    return x.shape if isinstance(x, Value) else shape_of(x)


def ndim(x: Any) -> int:
    """The number of dimensions of a Value or of raw data."""
    return len(shape(x))


def _size(x: Any) -> int:
    return x.size if isinstance(x, (Value, np.ndarray)) else 1


def _scalar_or_array(scalar: Callable, array: Callable) -> Callable:
    """Forward of an elementwise op: ``math`` on Python floats, numpy on arrays.

    Outside the math domain a float follows numpy (nan or inf) instead of raising.
    """

    def forward(x: Any, *rest: Any) -> Any:  # rest: the second input or parameter, if any
        if type(x) is float and (not rest or type(rest[0]) is float):
            try:
                return scalar(x, *rest)
            except (ValueError, OverflowError, ZeroDivisionError):
                with np.errstate(all="ignore"):
                    return float(array(np.float64(x), *rest))
        return array(x, *rest)

    forward.__name__ = getattr(array, "__name__", "forward")
    return forward


def _pow_scalar(x: float, y: float) -> float:
    r = x**y
    if type(r) is complex:  # negative base, fractional exponent: numpy gives nan
        return math.nan
    if x == -math.inf:  # Python's rules for (-inf) ** y differ from numpy's: use numpy's
        return float(np.power(x, y))
    return r


def _unsqueeze(g: Any, axis: Axis, keepdims: bool, nd: int) -> Any:
    """Put back the axes a reduction removed, so ``g`` broadcasts against its input."""
    if keepdims or axis is None:
        return g
    axes = normalize_axes(axis, nd)
    new_shape = list(shape(g))
    for a in axes:
        new_shape.insert(a, 1)
    return RESHAPE(g, tuple(new_shape))


def normalize_axes(axis: int | tuple[int, ...], nd: int) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes of an ``nd``-dimensional array."""
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"axis {a} is out of bounds for a Value with {nd} dimension(s)")
        out.append(int(a) % nd)
    return tuple(sorted(out))


def _broadcast(x: Any, new_shape: tuple[int, ...]) -> Any:
    """``x`` repeated to ``new_shape``: recorded for Values; for raw data a new array, which
    numpy fills about 3x faster than ``np.broadcast_to`` (a Python function) makes a view."""
    if isinstance(x, Value):
        return x if x.shape == new_shape else BROADCAST_TO(x, new_shape)
    if shape_of(x) == new_shape:
        return x
    out = np.empty(new_shape, np.result_type(x))
    out[...] = x
    return out


def _mT(x: Any) -> Any:
    """Swap the last two axes (matrix transpose of a stack of matrices)."""
    nd = ndim(x)
    return TRANSPOSE(x, None if nd == 2 else tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _sign(x: Any) -> Any:
    if type(x) is float:
        return float((x > 0.0) - (x < 0.0)) if x == x else x  # np.sign: nan stays nan
    return np.sign(x)


def _step(x: Any, low: float) -> Any:
    """1 where x > 0 and ``low`` elsewhere (the derivative of relu-like ops), in x's dtype."""
    if type(x) is float:
        return 1.0 if x > 0.0 else low
    return np.where(x > 0, 1.0, low).astype(x.dtype)


def _tie_mask(x: Any, y: Any) -> Any:
    """1 where x > y, 1/2 where x == y, 0 elsewhere: the share of the gradient x gets."""
    if type(x) is float and type(y) is float:
        return 1.0 if x > y else 0.5 if x == y else 0.0
    dt = np.result_type(x, y)
    return (np.greater(x, y) + 0.5 * np.equal(x, y)).astype(dt)


# fmt: off
# ---------------------------------------------------------------------- elementwise ops
# Binary ops broadcast like numpy; the engine sums each gradient back to its input's shape.
# (operator.add is x + y without a Python frame: a scalar op's forward is a third cheaper)

ADD = defop("add", operator.add,
            lambda g, out, x, y: g,
            lambda g, out, x, y: g, label="+", commutative=True, jvp="elementwise")

SUB = defop("sub", operator.sub,
            lambda g, out, x, y: g,
            lambda g, out, x, y: -g, label="-", jvp="elementwise")

MUL = defop("mul", operator.mul,
            lambda g, out, x, y: g * y,
            lambda g, out, x, y: g * x, label="*", commutative=True, jvp="elementwise")

DIV = defop("div", _scalar_or_array(lambda x, y: x / y, np.divide),
            lambda g, out, x, y: g / y,
            lambda g, out, x, y: -g * out / y, label="/", jvp="elementwise")

NEG = defop("neg", operator.neg,
            lambda g, out, x: -g, label="neg", jvp="elementwise")

# At x = 0 PyTorch's conventions: d/dx is 0 where y == 0 (not 0 * 0**-1), and d/dy is 0
# where y >= 0 (not out * log 0); where() keeps those nans out of the gradient (only at
# x == 0, so that elsewhere the rule stays differentiable in both x and y).
def _pow_vjp_x(g: Any, out: Any, x: Any, y: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):  # the masked entries
        return _zero_where((data(y) == 0.0) & (data(x) == 0.0), g * y * POW(x, y - 1.0))


def _pow_vjp_y(g: Any, out: Any, x: Any, y: Any) -> Any:
    with np.errstate(divide="ignore", invalid="ignore"):
        return _zero_where((data(x) == 0.0) & (data(y) >= 0.0), g * out * LOG(x))


POW = defop("pow", _scalar_or_array(_pow_scalar, np.power),          # x ** y, y a Value
            _pow_vjp_x, _pow_vjp_y, label="**", jvp="elementwise")


def _pow_const_vjp(g: Any, out: Any, x: Any, c: Any) -> Any:
    if type(c) is float:  # the common exponents without a call to power
        if c == 2.0:
            return g * 2.0 * x
        if c == 0.0:
            return g * 0.0
        return g * c * POW_CONST(x, c - 1.0)  # not x ** ...: Python's ** gives complex
    with np.errstate(divide="ignore", invalid="ignore"):  # 0 ** -1 where c == 0: masked
        return _zero_where((c == 0.0) & (data(x) == 0.0), g * c * POW_CONST(x, c - 1.0))


def _zero_where(mask: Any, grad: Any) -> Any:
    """``grad`` with 0 where ``mask`` (a constant) holds: nan-free conventions at poles."""
    if not np.any(mask):
        return grad
    return WHERE(0.0, grad, mask if type(mask) is not np.bool_ else bool(mask))


POW_CONST = defop("pow_const", _scalar_or_array(_pow_scalar, np.power),  # x ** c, c a constant
                  _pow_const_vjp,
                  label=lambda c: f"**{c:g}" if np.ndim(c) == 0 else "**c", jvp="elementwise")

EXP = defop("exp", _scalar_or_array(math.exp, np.exp),
            lambda g, out, x: g * out, jvp="elementwise")

LOG = defop("log", _scalar_or_array(math.log, np.log),
            lambda g, out, x: g / x, jvp="elementwise")

SQRT = defop("sqrt", _scalar_or_array(math.sqrt, np.sqrt),
             lambda g, out, x: g * 0.5 / out, jvp="elementwise")

TANH = defop("tanh", _scalar_or_array(math.tanh, np.tanh),
             lambda g, out, x: g * (1.0 - out * out), jvp="elementwise")

# sigmoid(x) = (1 + tanh(x/2)) / 2: never overflows, one transcendental call
SIGMOID = defop("sigmoid", _scalar_or_array(lambda x: 0.5 + 0.5 * math.tanh(0.5 * x),
                                            lambda x: 0.5 + 0.5 * np.tanh(0.5 * x)),
                lambda g, out, x: g * out * (1.0 - out), jvp="elementwise")

RELU = defop("relu", _scalar_or_array(lambda x: 0.0 if x <= 0.0 else x,    # nan stays nan
                                      lambda x: np.maximum(x, 0)),
             lambda g, out, x: g * _step(data(x), 0.0), jvp="elementwise")

LEAKY_RELU = defop("leaky_relu", _scalar_or_array(lambda x, a: x if x > 0.0 else a * x,
                                                  lambda x, a: np.where(x > 0, x, x * a)),
                   lambda g, out, x, a: g * _step(data(x), a),
                   label=lambda a: f"leaky_relu({a:g})", jvp="elementwise")

ABS = defop("abs", _scalar_or_array(math.fabs, np.abs),
            lambda g, out, x: g * _sign(data(x)), jvp="elementwise")

SIN = defop("sin", _scalar_or_array(math.sin, np.sin),
            lambda g, out, x: g * COS(x), jvp="elementwise")

COS: Op = defop("cos", _scalar_or_array(math.cos, np.cos),
            lambda g, out, x: -g * SIN(x), jvp="elementwise")

# (the scalar forms propagate nan from either side, as np.maximum does)
MAXIMUM = defop("maximum", _scalar_or_array(lambda x, y: x if x >= y or x != x else y,
                                            np.maximum),
                lambda g, out, x, y: g * _tie_mask(data(x), data(y)),
                lambda g, out, x, y: g * _tie_mask(data(y), data(x)), commutative=True,
                jvp="elementwise")

MINIMUM = defop("minimum", _scalar_or_array(lambda x, y: x if x <= y or x != x else y,
                                            np.minimum),
                lambda g, out, x, y: g * _tie_mask(data(y), data(x)),
                lambda g, out, x, y: g * _tie_mask(data(x), data(y)), commutative=True,
                jvp="elementwise")


def _where_forward(a: Any, b: Any, cond: Any) -> Any:
    if type(cond) is bool and type(a) is float and type(b) is float:
        return a if cond else b
    return np.where(cond, a, b)


def _not(cond: Any) -> Any:
    return (not cond) if type(cond) is bool else np.logical_not(cond)


WHERE = defop("where", _where_forward,                          # cond is a constant mask
              lambda g, out, a, b, cond: g * cond,
              lambda g, out, a, b, cond: g * _not(cond),
              jvp=lambda t, out, a, b, cond: _where_jvp(t, cond))


def _where_jvp(t: Sequence[Any], cond: Any) -> Any:
    """Each element's tangent taken from the branch chosen, as its value is (never a
    product with the mask: the other branch's tangent may be inf or nan)."""
    ta, tb = t
    return WHERE(0.0 if ta is None else ta, 0.0 if tb is None else tb, cond)

# ------------------------------------------------------------------------- reductions


def _reduce(fn: Callable) -> Callable:
    def forward(x: Any, axis: Axis, keepdims: bool) -> Any:
        if type(x) is float and axis is None:
            return x
        return fn(x, axis=axis, keepdims=keepdims)

    return forward


def _axis_label(name: str) -> Callable[..., str]:
    return lambda axis, keepdims: name if axis is None else f"{name}(axis={axis})"


SUM: Op = defop("sum", _reduce(np.sum),
            lambda g, out, x, axis, keepdims: _broadcast(_unsqueeze(g, axis, keepdims, ndim(x)),
                                                           shape(x)),
            label=_axis_label("sum"),
            jvp=lambda t, out, x, axis, keepdims: SUM(t[0], axis, keepdims))


def _count(shp: tuple[int, ...], axis: Axis) -> int:
    """How many elements a reduction over ``axis`` combines into each result."""
    axes = range(len(shp)) if axis is None else normalize_axes(axis, len(shp))
    return math.prod(shp[a] for a in axes)


def _mean_forward(x: Any, axis: Axis, keepdims: bool) -> Any:
    if axis is None and type(x) is float:  # this order leaves x Any (not float) below
        return x
    count = _count(x.shape, axis)
    acc = np.float32 if x.dtype == np.float16 else None  # as numpy's and PyTorch's mean
    total = np.sum(x, axis=axis, keepdims=keepdims, dtype=acc)
    with np.errstate(invalid="ignore", divide="ignore"):  # an empty mean is nan
        return (total / count).astype(x.dtype, copy=False)


MEAN: Op = defop("mean", _mean_forward,
             lambda g, out, x, axis, keepdims: _broadcast(
                 _unsqueeze(g, axis, keepdims, ndim(x)) * (1.0 / builtins.max(
                     _count(shape(x), axis), 1)), shape(x)),
             label=_axis_label("mean"),
             jvp=lambda t, out, x, axis, keepdims: MEAN(t[0], axis, keepdims))


def _max_vjp(g: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    xd = data(x)
    if type(xd) is float:
        return g
    winners = xd == _unsqueeze(data(out), axis, keepdims, xd.ndim)
    share = winners / winners.sum(axis=axis, keepdims=True)  # ties split the gradient
    return _unsqueeze(g, axis, keepdims, xd.ndim) * share.astype(xd.dtype)


def _max_jvp(t: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    xd = data(x)
    if type(xd) is float:
        return t[0]
    winners = xd == _unsqueeze(data(out), axis, keepdims, xd.ndim)
    share = winners / winners.sum(axis=axis, keepdims=True)  # ties: the mean of their tangents
    return SUM(t[0] * share.astype(xd.dtype), axis, keepdims)


MAX = defop("max", _reduce(np.max), _max_vjp, label=_axis_label("max"), jvp=_max_jvp)


def _logsumexp_forward(x: Any, axis: Axis, keepdims: bool) -> Any:
    if type(x) is float and axis is None:
        return x
    m = np.max(x, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)  # a slice of all -inf stays -inf, without nan
    with np.errstate(divide="ignore"):
        r = np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True)) + m
    if not keepdims:
        r = r.reshape(()) if axis is None else np.squeeze(r, axis=axis)
    return r


LOGSUMEXP = defop("logsumexp", _logsumexp_forward,            # log(sum(exp(x))), stable
                  lambda g, out, x, axis, keepdims: (
                      _unsqueeze(g, axis, keepdims, ndim(x))
                      * EXP(x - _unsqueeze(out, axis, keepdims, ndim(x)))),
                  label=_axis_label("logsumexp"),
                  jvp=lambda t, out, x, axis, keepdims: SUM(  # sum(t * softmax(x))
                      t[0] * EXP(x - _unsqueeze(out, axis, keepdims, ndim(x))), axis, keepdims))

def _log_softmax_forward(x: Any, axis: int) -> Any:
    # x - max(x) first: exact, and what is left cannot overflow; then log-sum-exp of it.
    # (x - logsumexp(x) would cancel at large logits: [1e17, 1e17] gave [0, 0].)
    m = np.max(x, axis=axis, keepdims=True)
    z = x - np.where(np.isfinite(m), m, 0.0)  # a slice of all -inf stays -inf, without nan
    with np.errstate(divide="ignore"):
        return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


LOG_SOFTMAX = defop("log_softmax", _log_softmax_forward,      # x - logsumexp(x), stable
                    lambda g, out, x, axis: g - EXP(out) * SUM(g, axis, True),
                    label=lambda axis: f"log_softmax(axis={axis})",
                    jvp=lambda t, out, x, axis: t[0] - SUM(EXP(out) * t[0], axis, True))

# ----------------------------------------------------------------------- shape ops

RESHAPE: Op = defop("reshape", lambda x, new_shape: np.reshape(x, new_shape),
                lambda g, out, x, new_shape: RESHAPE(g, shape(x)),
                label=lambda new_shape: f"reshape{new_shape}",
                jvp=lambda t, out, x, new_shape: RESHAPE(t[0], new_shape))

TRANSPOSE: Op = defop("transpose", lambda x, axes: np.transpose(x, axes),
                  lambda g, out, x, axes: TRANSPOSE(g, None if axes is None
                                                    else tuple(np.argsort(axes).tolist())),
                  label=lambda axes: "T" if axes is None else f"transpose{tuple(axes)}",
                  jvp=lambda t, out, x, axes: TRANSPOSE(t[0], axes))

BROADCAST_TO: Op = defop("broadcast_to", lambda x, new_shape: np.broadcast_to(x, new_shape),
                     lambda g, out, x, new_shape: g,  # the engine sums g back to x's shape
                     label=lambda new_shape: f"broadcast_to{tuple(new_shape)}",
                     jvp=lambda t, out, x, new_shape: BROADCAST_TO(t[0], new_shape))


def _has_array_index(index: Any) -> bool:
    items = index if isinstance(index, tuple) else (index,)
    return builtins.any(isinstance(i, (np.ndarray, list)) for i in items)


def _scatter_add_forward(g: Any, index: Any, new_shape: tuple[int, ...]) -> np.ndarray:
    z = np.zeros(new_shape, dtype=np.result_type(g))
    if _has_array_index(index):
        np.add.at(z, index, g)  # repeated indices accumulate
    else:
        z[index] = g
    return z


def _index_label(index: Any) -> str:
    items = index if isinstance(index, tuple) else (index,)
    parts = []
    for i in items:
        if isinstance(i, slice):
            parts.append(":".join("" if v is None else str(v) for v in (i.start, i.stop, i.step))
                         .rstrip(":") or ":")
        elif isinstance(i, np.ndarray):
            parts.append(f"array{list(i.shape)}")
        else:
            parts.append("..." if i is Ellipsis else "None" if i is None else str(i))
    return f"[{', '.join(parts)}]"


GETITEM: Op = defop("getitem", lambda x, index: x[index],
                lambda g, out, x, index: SCATTER_ADD(g, index, shape(x)),
                label=_index_label, jvp=lambda t, out, x, index: GETITEM(t[0], index))

# zeros(shape) with g added at index: the adjoint of indexing (and indexing is its adjoint)
SCATTER_ADD: Op = defop("scatter_add", _scatter_add_forward,
                    lambda g, out, x, index, new_shape: GETITEM(g, index),
                    label=lambda index, new_shape: "scatter_add",
                    jvp=lambda t, out, x, index, new_shape: SCATTER_ADD(t[0], index, new_shape))


def _integers(x: np.ndarray, what: str) -> np.ndarray:
    """``x`` as integers (np.intp); a fraction, nan or inf is a ValueError: ``what``, got it."""
    with np.errstate(invalid="ignore"):
        k = x.astype(np.intp)
    if x.dtype.kind == "f" and not np.array_equal(k, x):
        raise ValueError(f"{what}, got {x[k != x].flat[0]}")
    return k


def _class_indices(labels: Any, scores_shape: tuple[int, ...]) -> np.ndarray:
    """``labels`` (engine data: floats holding integers) as checked integer indices."""
    if len(scores_shape) == 0:
        raise ValueError("the scores need a class axis (their last), got a scalar")
    n_classes, expected = scores_shape[-1], scores_shape[:-1]
    labels = np.asarray(labels)
    if labels.shape != expected:
        raise ValueError(
            f"{labels.shape} labels for scores of shape {scores_shape}; expected shape {expected}"
        )
    k = _integers(labels, "labels must be class indices (integers)")
    if k.size and (k.min() < 0 or k.max() >= n_classes):
        raise ValueError(f"labels must be in [0, {n_classes}), got {k.min()}..{k.max()}")
    return k


def _pick_forward(x: Any, labels: Any) -> np.ndarray:
    k = _class_indices(labels, shape(x))
    if k.ndim == 1:
        return x[np.arange(k.size), k]
    return np.take_along_axis(x, k[..., None], axis=-1).reshape(k.shape)


def _one_hot(labels: Any, x: Any) -> np.ndarray:
    k = np.asarray(data(labels)).astype(np.intp)
    return (np.arange(shape(x)[-1]) == k[..., None]).astype(np.result_type(data(x)))


# out[...] = x[..., labels[...]]: one score per row, chosen by its class label. The labels
# are an input (so a compiled plan reads new ones each call) but not differentiable: they
# get a zero gradient, their derivative wherever it exists.
PICK: Op = defop("pick", _pick_forward,
             lambda g, out, x, labels: RESHAPE(g, shape(out) + (1,)) * _one_hot(labels, x),
             lambda g, out, x, labels: np.zeros(shape(labels), np.result_type(data(labels))),
             jvp=lambda t, out, x, labels: None if t[0] is None else PICK(t[0], data(labels)))


def _row_indices(indices: Any, rows: int) -> np.ndarray:
    """``indices`` (engine data: floats holding integers) as checked rows of a table."""
    k = _integers(np.asarray(indices), "indices must be integers")
    if k.size and (k.min() < 0 or k.max() >= rows):
        raise IndexError(f"indices must be in [0, {rows}), got {k.min()}..{k.max()}")
    return k


def _embedding_forward(w: Any, indices: Any, padding_idx: int | None) -> np.ndarray:
    if ndim(w) != 2:
        raise ValueError(f"the table must be 2-D (rows, features), got shape {shape(w)}")
    return w[_row_indices(indices, shape(w)[0])]


def _unpadded(x: Any, k: Any, padding_idx: int | None) -> Any:
    """``x`` (one row per index ``k``) with the padding rows zeroed."""
    if padding_idx is None:
        return x
    return x * (np.asarray(k) != padding_idx)[..., None].astype(np.result_type(data(x)))


def _embedding_grad(g: Any, w: Any, indices: Any, padding_idx: int | None) -> Any:
    """g added into the rows it came from (repeated rows accumulate), none into padding."""
    k = _row_indices(data(indices), shape(w)[0])
    return SCATTER_ADD(_unpadded(g, k, padding_idx), k, shape(w))


# out[..., :] = w[indices[..., :]]: rows of a table. The indices are an input (so a
# compiled plan reads new ones each call) but not differentiable (a zero gradient, as
# pick's labels); the padding row's value is used but takes no gradient (PyTorch's rule).
EMBEDDING: Op = defop(
    "embedding", _embedding_forward,
    lambda g, out, w, indices, padding_idx: _embedding_grad(g, w, indices, padding_idx),
    lambda g, out, w, indices, padding_idx: np.zeros(shape(indices), np.result_type(data(indices))),
    label=lambda padding_idx: "embedding" + ("" if padding_idx is None else f"[pad {padding_idx}]"),
    jvp=lambda t, out, w, indices, padding_idx: _embedding_jvp(t[0], indices, padding_idx),
)


def _embedding_jvp(tw: Any, indices: Any, padding_idx: int | None) -> Any:
    """The table's tangent looked up as the table is, zero on the padding rows."""
    if tw is None:
        return None
    return _unpadded(EMBEDDING(tw, data(indices), padding_idx), data(indices), padding_idx)


def _concatenate_vjp(i: int, g: Any, out: Any, *args: Any) -> Any:
    *xs, axis = args
    ax = axis % ndim(out)
    start = builtins.sum(shape(x)[ax] for x in xs[:i])
    return GETITEM(g, (slice(None),) * ax + (slice(start, start + shape(xs[i])[ax]),))


def _concatenate_jvp(t: Any, out: Any, *args: Any) -> Any:
    *xs, axis = args
    parts = [
        np.zeros(shape(x), np.result_type(data(x))) if tx is None else tx for x, tx in zip(xs, t)
    ]
    return CONCATENATE(*parts, params=(axis,))


CONCATENATE = defop("concatenate", lambda *args: np.concatenate(args[:-1], axis=args[-1]),
                    _concatenate_vjp, variadic=True,
                    label=lambda axis: f"concatenate(axis={axis})", jvp=_concatenate_jvp)

# --------------------------------------------------------------------------- matmul


def _matmul_forward(x: Any, y: Any) -> Any:
    if type(x) is float or type(y) is float:
        raise ValueError("both operands need at least one dimension (use * for scalars)")
    return np.matmul(x, y)


def _as_matrices(g: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
    """x, y and g viewed as (stacks of) matrices, promoting 1-D operands as numpy does."""
    gshape = shape(g)
    if ndim(y) == 1:
        y, gshape = RESHAPE(y, (-1, 1)), gshape + (1,)
    if ndim(x) == 1:
        x, gshape = RESHAPE(x, (1, -1)), gshape[:-1] + (1,) + gshape[-1:]
    return RESHAPE(g, gshape), x, y


def _matmul_vjp_x(g: Any, out: Any, x: Any, y: Any) -> Any:
    # x and y are arrays or Values (never floats): .ndim, .shape and .T serve both, without
    # the polymorphic helpers' overhead on this hot path
    if x.ndim == 2 and y.ndim == 2:
        return g @ y.T
    g2, _, y2 = _as_matrices(g, x, y)
    return g2 @ _mT(y2)  # (..., 1, k) for a 1-D x: the engine sums the leading axes


def _matmul_vjp_y(g: Any, out: Any, x: Any, y: Any) -> Any:
    if x.ndim == 2 and y.ndim == 2:
        if x.shape[0] == 1:  # an outer product: broadcasting beats BLAS gemm with k = 1
            return x.T * g  # (2.5x faster for a batch of 1 through 784x32)
        return x.T @ g
    g2, x2, _ = _as_matrices(g, x, y)
    gy = _mT(x2) @ g2
    return RESHAPE(gy, shape(gy)[:-1]) if ndim(y) == 1 else gy


def _times(op: Op, t: Any, *args: Any) -> Any:
    """``op(*args)`` with a tangent among them, None if the tangent is None (a zero term)."""
    return None if t is None else op(*args)


def _plus(*terms: Any) -> Any:
    """The sum of the terms that are not None (None when all are)."""
    total = None
    for term in terms:
        if term is not None:
            total = term if total is None else total + term
    return total


MATMUL: Op = defop("matmul", _matmul_forward, _matmul_vjp_x, _matmul_vjp_y, label="@",
               jvp=lambda t, out, x, y: _plus(_times(MATMUL, t[0], t[0], y),   # tx @ y + x @ ty
                                              _times(MATMUL, t[1], x, t[1])))

# ------------------------------------------------------------------- fused layers
# One node where the composition would make two (x @ w + b) or four (mean((p - t)**2)):
# fewer nodes is less Python per training step (see docs/performance.md).

LINEAR = defop("linear", lambda x, w, b: _matmul_forward(x, w) + b,       # x @ w + b
               lambda g, out, x, w, b: _matmul_vjp_x(g, out, x, w),
               lambda g, out, x, w, b: _matmul_vjp_y(g, out, x, w),
               lambda g, out, x, w, b: g,                 # the engine sums g to b's shape
               jvp=lambda t, out, x, w, b: _plus(_times(MATMUL, t[0], t[0], w),
                                                 _times(MATMUL, t[1], x, t[1]), t[2]))


def _mse_forward(p: Any, t: Any) -> Any:
    d = p - t
    return d * d if type(d) is float else (d * d).sum() / d.size  # np.mean's wrapper is slow


def _mse_vjp(sign: float) -> Callable:
    def vjp(g: Any, out: Any, p: Any, t: Any) -> Any:
        diff = p - t
        return g * (sign * 2.0 / _size(diff)) * diff

    return vjp


def _mse_jvp(tangents: Any, out: Any, p: Any, t: Any) -> Any:
    tp, tt = tangents
    diff = p - t
    dt = _plus(tp, None if tt is None else -tt)
    return SUM((2.0 / _size(diff)) * diff * dt, None, False)  # mean(2 (p - t) (tp - tt))


MSE = defop("mse", _mse_forward, _mse_vjp(1.0), _mse_vjp(-1.0),  # mean((p - t)**2)
            jvp=_mse_jvp)


def _bce_forward(p: Any, t: Any) -> Any:
    if np.any(p < 0.0) or np.any(p > 1.0):  # checked on every call (compiled ones too)
        raise ValueError(
            f"predictions must be probabilities in [0, 1] (got values from {np.min(p):.4g} "
            f"to {np.max(p):.4g}); apply sigmoid first, or use "
            "binary_cross_entropy_with_logits on the logits"
        )
    with np.errstate(divide="ignore"):  # log(0) = -inf is expected here: it is clamped
        out = -(t * np.maximum(np.log(p), -100.0) + (1.0 - t) * np.maximum(np.log(1.0 - p), -100.0))
    return float(out) if type(p) is float and type(t) is float else out


def _in_dtype_of(c: Any, x: Any) -> Any:
    """A constant array ``c`` in the dtype of ``x``'s data (a float32 op stays float32)."""
    xd = data(x)
    return c.astype(xd.dtype, copy=False) if type(c) is np.ndarray and type(xd) is np.ndarray else c


def _bce_logits_forward(x: Any, t: Any, pw: Any) -> Any:
    pw = _in_dtype_of(pw, x)
    with np.errstate(all="ignore"):  # 0 * inf at infinite logits: replaced by the limit
        lw = 1.0 + (pw - 1.0) * t
        out = (1.0 - t) * x + lw * np.logaddexp(0.0, -x)
        infinite = np.isinf(x)
        if np.any(infinite):  # the limit: |x| (1 - t) at +inf, |x| pw t at -inf (0 * inf = 0)
            coef = np.where(np.greater(x, 0), 1.0 - t, pw * t)
            limit = np.where(coef == 0, 0.0, coef * np.inf)
            out = np.where(infinite, limit, out).astype(np.result_type(out), copy=False)
    if type(x) is float and type(t) is float and type(pw) is float:
        return float(out)
    return out


# (1 - t) x + (1 + (pw - 1) t) softplus(-x): binary cross-entropy of sigmoid(x) against t with
# positive weight pw (PyTorch's; a constant), exact at any logit; at x = +-inf its limit (inf
# or 0). softplus(-x) in the rule for t is this op at t = pw = 1.
BCE_WITH_LOGITS: Op = defop(
    "binary_cross_entropy_with_logits", _bce_logits_forward,
    lambda g, out, x, t, pw: g * ((1.0 - t) - (1.0 + (_in_dtype_of(pw, x) - 1.0) * t)
                                  * SIGMOID(-x)),
    lambda g, out, x, t, pw: g * ((_in_dtype_of(pw, x) - 1.0) * BCE_WITH_LOGITS(x, 1.0, 1.0)
                                  - x),
    label=lambda pw: "bce_with_logits", jvp="elementwise")


_BCE_EPS = float(np.float32(1e-12))  # PyTorch's EPSILON, a float32 constant


def _bce_vjp_p(g: Any, out: Any, p: Any, t: Any) -> Any:
    return g * (p - t) / MAXIMUM(p * (1.0 - p), _BCE_EPS)


def _bce_vjp_t(g: Any, out: Any, p: Any, t: Any) -> Any:
    with np.errstate(divide="ignore"):  # +-inf at p = 0 or 1, as in PyTorch
        return g * (LOG(1.0 - p) - LOG(p))


# -(t log p + (1 - t) log(1 - p)), elementwise, each log clamped at -100, and the gradients
# PyTorch's: d/dp = (p - t) / max(p (1 - p), 1e-12), d/dt = log(1 - p) - log(p) (unclamped)
BCE = defop("binary_cross_entropy", _bce_forward, _bce_vjp_p, _bce_vjp_t, jvp="elementwise")
# fmt: on

BUILTIN_OPS: dict[str, Op] = dict(OPS)
"""The ops declared in this module (OPS also holds the ones users declare)."""


# ================================================================ convolution and pooling
# Convolutions over the last one or two axes (NCL / NCHW input, OIL / OIHW weights, as in
# PyTorch), written as im2col: a strided view of every window (no copy), contracted with
# the weights in one matmul (np.tensordot). ``padding`` is a tuple of (before, after) pairs,
# one per spatial axis; ``stride`` and ``dilation`` are tuples of ints. The gradient with
# respect to the input is a transposed convolution (col2im: the window view's adjoint, a
# loop over the kernel's taps, never over pixels) and the one with respect to the weights
# a correlation of the input with the output gradient; both are ops, whose VJPs are again
# these three ops, so every order of derivative is available. Pooling works the same way
# on any leading axes; its VJPs scatter the gradient into the windows (``window_scatter``)
# whose adjoint gathers it back (``window_gather``). Loops run over the kernel's taps
# (whole planes at a time), never over pixels: numpy is slow on the tiny window axes.

Pairs = tuple[tuple[int, int], ...]


def _padded(x: np.ndarray, padding: Pairs, fill: float = 0.0) -> np.ndarray:
    """``x`` with its last ``len(padding)`` axes padded by ``fill`` (x itself when no padding)."""
    if not builtins.any(lo or hi for lo, hi in padding):
        return x
    nd = len(padding)
    lead = x.shape[: x.ndim - nd]
    z = np.full(
        lead + tuple(s + lo + hi for s, (lo, hi) in zip(x.shape[-nd:], padding)),
        fill,
        dtype=x.dtype,
    )
    inner: tuple[Any, ...] = (
        Ellipsis,
        *(slice(lo, lo + s) for s, (lo, _) in zip(x.shape[-nd:], padding)),
    )
    z[inner] = x
    return z


def _out_size(
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> tuple[int, ...]:
    """Output length per axis: floor((size + pads - dilation * (kernel - 1) - 1) / stride) + 1."""
    return tuple(
        (s + lo + hi - d * (k - 1) - 1) // st + 1
        for s, k, st, (lo, hi), d in zip(size, kernel, stride, padding, dilation)
    )


def _windows(
    x: np.ndarray,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    fill: float = 0.0,
) -> np.ndarray:
    """A read-only view (..., *out, *kernel) of every window of the last ``len(kernel)`` axes:
    ``view[..., o, k] = x_padded[..., o * stride + k * dilation]``."""
    nd = len(kernel)
    xp = _padded(x, padding, fill)
    out = _out_size(x.shape[-nd:], kernel, stride, padding, dilation)
    st = xp.strides[-nd:]
    return np.lib.stride_tricks.as_strided(
        xp,
        xp.shape[:-nd] + out + tuple(kernel),
        xp.strides[:-nd]
        + tuple(a * s for a, s in zip(st, stride))
        + tuple(a * d for a, d in zip(st, dilation)),
        writeable=False,
    )


def _batch_last(x: np.ndarray, padding: Pairs) -> np.ndarray:
    """x (N, C, *S) as a C-contiguous (C, *S_padded, N) array: the layout in which every
    window row of every sample is one contiguous stretch (a copy only when needed)."""
    xt = np.moveaxis(x, 0, -1)
    if not builtins.any(lo or hi for lo, hi in padding) and xt.flags.c_contiguous:
        return xt
    size = xt.shape[1:-1]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, padding))
    z = np.zeros((xt.shape[0], *padded, xt.shape[-1]), dtype=x.dtype)
    z[(slice(None), *(slice(lo, lo + s) for s, (lo, _) in zip(size, padding)))] = xt
    return z


def _im2col(
    x: np.ndarray,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
) -> np.ndarray:
    """The (C * prod(kernel), prod(out) * N) matrix of windows: row (c, k), column (p, n)
    holds x_pad[n, c, p * stride + k * dilation]. One copy, from the batch-last layout
    (C, *S, N), whose stretches are whole window rows of every sample at once."""
    xt = _batch_last(x, padding)  # (C, *padded, N)
    out = _out_size(x.shape[2:], kernel, stride, padding, dilation)
    st = xt.strides
    view = np.lib.stride_tricks.as_strided(
        xt,
        (xt.shape[0], *kernel, *out, xt.shape[-1]),
        (st[0], *(a * d for a, d in zip(st[1:-1], dilation)))
        + tuple(a * s for a, s in zip(st[1:-1], stride))
        + (st[-1],),
        writeable=False,
    )
    return view.reshape(xt.shape[0] * math.prod(kernel), -1)


def _batch_last_matrix(g: np.ndarray) -> np.ndarray:
    """(N, O, *out) as the (O, prod(out) * N) matrix (no copy when g is laid out so)."""
    return np.moveaxis(g, 0, -1).reshape(g.shape[1], -1)


def _conv_forward(
    x: Any, w: Any, b: Any, stride: tuple[int, ...], padding: Pairs, dilation: tuple[int, ...]
) -> np.ndarray:
    cols = _im2col(x, w.shape[2:], stride, padding, dilation)
    out = np.matmul(w.reshape(w.shape[0], -1), cols)  # (O, prod(out) * N): one GEMM
    if type(b) is not float:
        out += np.reshape(b, (-1, 1)) if np.ndim(b) == 1 else b
    elif b != 0.0:
        out += b
    sizes = _out_size(x.shape[2:], w.shape[2:], stride, padding, dilation)
    # (N, O, *out), kept batch-last in memory: the next ops follow that layout
    return np.moveaxis(out.reshape((w.shape[0], *sizes, x.shape[0])), -1, 0)


def _conv_transpose_forward(
    g: Any,
    w: Any,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    size: tuple[int, ...],
) -> np.ndarray:
    n, kernel, out = g.shape[0], w.shape[2:], g.shape[2:]
    # batch innermost, (O, *out, N): each tap's addition below then runs over long
    # contiguous stretches (a row of the image for every sample) instead of short rows
    cols = np.matmul(w.reshape(w.shape[0], -1).T, _batch_last_matrix(g))  # (C * k, out * N)
    cols = cols.reshape((w.shape[1], *kernel, *out, n))
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, padding))
    z = np.zeros((w.shape[1], *padded, n), dtype=cols.dtype)  # (C, *padded, N)
    for tap in np.ndindex(*kernel):  # a loop over the kernel's taps, not over pixels
        at = tuple(
            slice(t * d, t * d + s * (o - 1) + 1, s)
            for t, d, s, o in zip(tap, dilation, stride, out)
        )
        z[(slice(None), *at)] += cols[(slice(None), *tap)]
    if builtins.any(lo or hi for lo, hi in padding):
        z = z[(slice(None), *(slice(lo, lo + s) for s, (lo, _) in zip(size, padding)))]
    return np.moveaxis(z, -1, 0)  # (N, C, *size)


def _conv_weight_forward(
    x: Any,
    g: Any,
    stride: tuple[int, ...],
    padding: Pairs,
    dilation: tuple[int, ...],
    kernel: tuple[int, ...],
) -> np.ndarray:
    cols = _im2col(x, kernel, stride, padding, dilation)  # (C * k, out * N)
    dw = np.matmul(cols, _batch_last_matrix(g).T).T  # (O, C * k); this order is 2x faster
    return dw.reshape((g.shape[1], x.shape[1], *kernel))


def _conv_label(name: str) -> Callable[..., str]:
    def label(
        stride: tuple[int, ...], padding: Pairs, dilation: tuple[int, ...], *rest: Any
    ) -> str:
        parts = []
        if builtins.any(s != 1 for s in stride):
            parts.append(f"stride={stride}")
        if builtins.any(lo or hi for lo, hi in padding):
            parts.append(f"padding={padding}")
        if builtins.any(d != 1 for d in dilation):
            parts.append(f"dilation={dilation}")
        return f"{name}({', '.join(parts)})" if parts else name

    return label


def _conv_vjp_x(
    g: Any, out: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any
) -> Any:
    return CONV_TRANSPOSE(g, w, stride, padding, dilation, shape(x)[2:])


def _conv_vjp_w(
    g: Any, out: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any
) -> Any:
    return CONV_WEIGHT(x, g, stride, padding, dilation, shape(w)[2:])


def _conv_vjp_b(
    g: Any, out: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any
) -> Any:
    return SUM(g, (0, *range(2, 2 + len(stride))), False)  # the engine sums on to b's shape


def _conv_jvp(
    t: Any, out: Any, x: Any, w: Any, b: Any, stride: Any, padding: Any, dilation: Any
) -> Any:
    conv, tb = _conv_of(len(stride)), t[2]
    if tb is not None and ndim(tb) == 1:  # one bias per output channel
        tb = RESHAPE(tb, (-1,) + _ones(len(stride)))
    return _plus(
        _times(conv, t[0], t[0], w, 0.0, stride, padding, dilation),
        _times(conv, t[1], x, t[1], 0.0, stride, padding, dilation),
        tb,
    )


def _conv_of(nd: int) -> Op:
    return CONV1D if nd == 1 else CONV2D


# fmt: off
# out[n, o, p] = b[o] + sum_{c, k} w[o, c, k] x_pad[n, c, p * stride + k * dilation]
CONV1D = defop("conv1d", _conv_forward, _conv_vjp_x, _conv_vjp_w, _conv_vjp_b,
               label=_conv_label("conv1d"), jvp=_conv_jvp)
CONV2D = defop("conv2d", _conv_forward, _conv_vjp_x, _conv_vjp_w, _conv_vjp_b,
               label=_conv_label("conv2d"), jvp=_conv_jvp)

# dx[n, c, i] = sum_{o, p, k: p * stride + k * dilation = i + pad} g[n, o, p] w[o, c, k]:
# the transposed convolution of g (the input-gradient of a convolution), for 1-D and 2-D
CONV_TRANSPOSE: Op = defop(
    "conv_transpose", _conv_transpose_forward,
    lambda h, out, g, w, stride, padding, dilation, size: _conv_of(len(stride))(
        h, w, 0.0, stride, padding, dilation),
    lambda h, out, g, w, stride, padding, dilation, size: CONV_WEIGHT(
        h, g, stride, padding, dilation, shape(w)[2:]),
    label=_conv_label("conv_transpose"),
    jvp=lambda t, out, g, w, *p: _plus(_times(CONV_TRANSPOSE, t[0], t[0], w, *p),  # bilinear
                                       _times(CONV_TRANSPOSE, t[1], g, t[1], *p)))

# dw[o, c, k] = sum_{n, p} g[n, o, p] x_pad[n, c, p * stride + k * dilation]: the
# weight-gradient of a convolution, bilinear in x and g
CONV_WEIGHT: Op = defop(
    "conv_weight", _conv_weight_forward,
    lambda h, out, x, g, stride, padding, dilation, kernel: CONV_TRANSPOSE(
        g, h, stride, padding, dilation, shape(x)[2:]),
    lambda h, out, x, g, stride, padding, dilation, kernel: _conv_of(len(stride))(
        x, h, 0.0, stride, padding, dilation),
    label=_conv_label("conv_weight"),
    jvp=lambda t, out, x, g, *p: _plus(_times(CONV_WEIGHT, t[0], t[0], g, *p),  # bilinear
                                       _times(CONV_WEIGHT, t[1], x, t[1], *p)))
# fmt: on


def _ones(n: int) -> tuple[int, ...]:
    return (1,) * n


def _tap(mask: Any, tap: tuple[int, ...], dtype: np.dtype) -> Any:
    """The weights of one kernel tap: ``mask[..., *tap]`` where mask broadcasts against
    (..., *out, *kernel) (axes of length 1 broadcast; a number is the same for all)."""
    if type(mask) is not np.ndarray:
        return mask
    nd = len(tap)
    if mask.ndim < nd:
        mask = mask.reshape(_ones(nd - mask.ndim) + mask.shape)
    index = tuple(0 if n == 1 else t for n, t in zip(mask.shape[-nd:], tap))
    return mask[(..., *index)].astype(dtype, copy=False)


def _window_scatter_forward(
    g: Any,
    mask: Any,
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
) -> np.ndarray:
    nd = len(kernel)
    g = np.asarray(g)
    out = g.shape[-nd:]
    padded = tuple(s + lo + hi for s, (lo, hi) in zip(size, padding))
    z = np.zeros(g.shape[:-nd] + padded, dtype=g.dtype)
    overlap = builtins.any(s < k for k, s in zip(kernel, stride))
    same = None if type(mask) is np.ndarray else g * mask  # one product for every tap
    for tap in np.ndindex(*kernel):  # per tap: whole planes, not the tiny window axes
        at: tuple[Any, ...] = tuple(
            slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip(tap, stride, out)
        )
        part = same if same is not None else g * _tap(mask, tap, g.dtype)
        if overlap:
            z[(Ellipsis, *at)] += part
        else:  # each place is written by one window at most
            z[(Ellipsis, *at)] = part
    if not builtins.any(lo or hi for lo, hi in padding):
        return z
    inner: tuple[Any, ...] = (Ellipsis, *(slice(lo, lo + s) for s, (lo, _) in zip(size, padding)))
    return z[inner]


def _window_gather_forward(
    h: Any, mask: Any, kernel: tuple[int, ...], stride: tuple[int, ...], padding: Pairs
) -> np.ndarray:
    nd = len(kernel)
    h = np.asarray(h)
    win = _windows(h, kernel, stride, padding, _ones(nd))
    total = None
    for tap in np.ndindex(*kernel):
        part = win[(..., *tap)] * _tap(mask, tap, h.dtype)
        total = part if total is None else total + part
    return np.asarray(total, dtype=h.dtype)


# fmt: off
# out[..., i] = sum_{p, k: p * stride + k = i + pad} g[..., p] mask[..., p, k]: each output
# gradient spread over its window with the weights ``mask`` (a constant); pooling's VJP
WINDOW_SCATTER: Op = defop(
    "window_scatter", _window_scatter_forward,
    lambda h, out, g, mask, size, kernel, stride, padding: WINDOW_GATHER(
        h, mask, kernel, stride, padding),
    label="window_scatter", jvp=lambda t, out, g, *p: WINDOW_SCATTER(t[0], *p))  # linear

# out[..., p] = sum_k mask[..., p, k] h_pad[..., p * stride + k]: the adjoint of window_scatter
WINDOW_GATHER: Op = defop(
    "window_gather", _window_gather_forward,
    lambda g, out, h, mask, kernel, stride, padding: WINDOW_SCATTER(
        g, mask, shape(h)[-len(kernel):], kernel, stride, padding),
    label="window_gather", jvp=lambda t, out, h, *p: WINDOW_GATHER(t[0], *p))  # linear
# fmt: on


def _max_pool_forward(
    x: Any, kernel: tuple[int, ...], stride: tuple[int, ...], padding: Pairs
) -> np.ndarray:
    nd = len(kernel)
    win = _windows(np.asarray(x), kernel, stride, padding, _ones(nd), -np.inf)
    # a maximum per kernel tap: numpy reduces a strided window view 10x slower than this
    taps = np.ndindex(*kernel)
    out = win[(..., *next(taps))].copy(order="K")  # in the input's memory layout
    for tap in taps:
        np.maximum(out, win[(..., *tap)], out=out)  # nan propagates, as in PyTorch
    return out


def _first_max_mask(
    x: np.ndarray, kernel: tuple[int, ...], stride: tuple[int, ...], padding: Pairs
) -> np.ndarray:
    """1 where PyTorch sends each window's gradient, 0 elsewhere: the first maximum among
    the window's input entries (never its padding, so a window of -inf picks its first
    input), or in a window holding nan the last nan (the one PyTorch's scan propagates).
    Shape (..., *out, *kernel) (a view of a tap-major array: each tap's plane is contiguous)."""
    nd = len(kernel)
    win = _windows(x, kernel, stride, padding, _ones(nd), -np.inf)
    k = math.prod(kernel)
    out = _max_pool_forward(x, kernel, stride, padding)  # in x's memory layout
    # one plane per tap, each laid out like ``out`` (so that no operation mixes layouts)
    order = sorted(range(out.ndim), key=lambda a: -out.strides[a])
    hits = np.zeros((k, *(out.shape[a] for a in order)), dtype=bool)
    hits = hits.transpose(0, *(1 + order.index(a) for a in range(out.ndim)))
    taps = list(np.ndindex(*kernel))
    taken = np.zeros_like(out, dtype=bool)
    if np.isnan(out).any():  # the last nan of each window that has one
        for i in reversed(range(k)):
            np.isnan(win[(..., *taps[i])], out=hits[i])
            hits[i] &= ~taken
            taken |= hits[i]
    inside = None  # which taps of each window fall on the input, not the padding
    if builtins.any(lo or hi for lo, hi in padding):
        inside = _windows(np.ones(x.shape[-nd:], bool), kernel, stride, padding, _ones(nd))
    hit = np.empty_like(taken)
    for i, tap in enumerate(taps):  # keep the first hit of each window only
        np.equal(win[(..., *tap)], out, out=hit)
        if inside is not None:
            hit &= inside[(..., *tap)]
        hit &= ~taken
        hits[i] |= hit
        taken |= hit
    mask = hits.astype(x.dtype).reshape(tuple(kernel) + out.shape)
    return np.moveaxis(mask, tuple(range(nd)), tuple(range(-nd, 0)))


def _avg_pool_weights(
    size: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    count_include_pad: bool,
) -> Any:
    """1 / (the number of elements each window averages), broadcastable to (*out, *kernel)."""
    nd = len(kernel)
    if count_include_pad:
        return 1.0 / math.prod(kernel)
    counts = np.sum(
        _windows(np.ones(size), kernel, stride, padding, _ones(nd)), axis=tuple(range(-nd, 0))
    )
    return (1.0 / counts).reshape(counts.shape + _ones(nd))


def _avg_pool_forward(
    x: Any,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: Pairs,
    count_include_pad: bool,
) -> np.ndarray:
    nd = len(kernel)
    x = np.asarray(x)
    weights = _avg_pool_weights(x.shape[-nd:], kernel, stride, padding, count_include_pad)
    return _window_gather_forward(x, weights, kernel, stride, padding)


def _avg_pool_vjp(
    g: Any, out: Any, x: Any, kernel: Any, stride: Any, padding: Any, count_include_pad: bool
) -> Any:
    size = shape(x)[-len(kernel) :]
    weights = _avg_pool_weights(size, kernel, stride, padding, count_include_pad)
    return WINDOW_SCATTER(g, weights, size, kernel, stride, padding)


def _pool_label(name: str) -> Callable[..., str]:
    return lambda kernel, stride, padding, *rest: f"{name}{tuple(kernel)}"


# fmt: off
# out[..., p] = max_k x_pad[..., p * stride + k] (padding is -inf); the gradient goes where
# PyTorch sends it: the first maximum of each window's input entries (the last nan if any)
MAX_POOL2D = defop(
    "max_pool2d", _max_pool_forward,
    lambda g, out, x, kernel, stride, padding: WINDOW_SCATTER(
        g, _first_max_mask(data(x), kernel, stride, padding), shape(x)[-len(kernel):],
        kernel, stride, padding),
    label=_pool_label("max_pool2d"),
    jvp=lambda t, out, x, kernel, stride, padding: WINDOW_GATHER(  # the first max's tangent
        t[0], _first_max_mask(data(x), kernel, stride, padding), kernel, stride, padding))

# out[..., p] = mean_k x_pad[..., p * stride + k] (zeros counted, or not, as PyTorch's
# count_include_pad)
AVG_POOL2D: Op = defop("avg_pool2d", _avg_pool_forward, _avg_pool_vjp,
                   label=_pool_label("avg_pool2d"),
                   jvp=lambda t, out, x, *p: AVG_POOL2D(t[0], *p))  # linear
# fmt: on


# ---------------------------------------------------------------------------- dropout
# The mask is drawn inside the forward, from the numpy Generator passed as a static
# parameter, so that running the forward again (as a compiled graph's replay does) draws a
# new mask. The node keeps the mask its forward drew in a MaskBox, its last static
# parameter (one per node, like a Function's ctx): the VJP multiplies by exactly that mask,
# and the mask is freed with the node.


class MaskBox:
    """Where a dropout node's forward leaves its mask for the node's VJP."""

    __slots__ = ("mask",)

    def __init__(self) -> None:
        self.mask: np.ndarray | None = None


def _dropout_forward(x: Any, p: float, rng: Any, box: MaskBox) -> np.ndarray:
    x = np.asarray(x)
    keep = rng.random(x.shape) >= p
    box.mask = np.where(keep, 1.0 / (1.0 - p) if p < 1.0 else 0.0, 0.0).astype(x.dtype)
    return x * box.mask


def _dropout_vjp(g: Any, out: Any, x: Any, p: float, rng: Any, box: MaskBox) -> Any:
    return g * box.mask


# out = x * mask / (1 - p), mask ~ Bernoulli(1 - p) drawn from ``rng`` in the forward
DROPOUT = defop(
    "dropout",
    _dropout_forward,
    _dropout_vjp,
    label=lambda p, rng, box: f"dropout({p:g})",
    jvp="elementwise",
)

BUILTIN_OPS.update({name: op for name, op in OPS.items() if name not in BUILTIN_OPS})
BUILTIN_NAMES.update(BUILTIN_OPS)  # the built-ins' names cannot be declared again
