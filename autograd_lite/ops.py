"""Every primitive operation, declared once: its forward beside its vector-Jacobian products.

Each entry of :data:`OPS` is an :class:`Op`: ``forward(*inputs, *params)`` computes the
result from raw data (Python floats or ndarrays), and ``vjps[i](g, out, *inputs, *params)``
maps the gradient ``g`` of the result to the gradient of input ``i``. The engine, the
gradient tests (which iterate over ``OPS``) and the graph labels all read this table.

The rules are written with operators and with the polymorphic functions of this module,
which compute on raw data when given raw data and record a graph when given Values. So
the same rule runs on arrays in an ordinary backward pass and on Values when
``create_graph=True``: higher-order gradients come without a second copy of any rule.
Rules may return a gradient with the broadcast shape of the result; the engine sums it
back to the input's shape.

Subgradients at kinks: ``relu``, ``leaky_relu`` and ``abs`` use 0 at 0 (as PyTorch does
for relu); ``max``, ``maximum`` and ``minimum`` split the gradient evenly between ties.
"""

from __future__ import annotations

import builtins
import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.engine import Value, _normalize, _shape, apply

__all__ = [
    "OPS",
    "Op",
    "abs",
    "broadcast_to",
    "concatenate",
    "cos",
    "exp",
    "getitem",
    "leaky_relu",
    "linear",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "mse",
    "pow",
    "relu",
    "reshape",
    "scatter_add",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "transpose",
    "where",
]

Axis = int | tuple[int, ...] | None


class Op:
    """A primitive operation: a forward function and one vector-Jacobian product per input.

    ``vjps`` is a tuple with one rule per input, or for an op with any number of inputs
    (``concatenate``) a single rule that takes the input's index first. ``label`` names
    the op in drawings; it may be a function of the op's static parameters.
    ``commutative`` ops do not care about the order of their inputs (drawings then leave
    the edges unnumbered).
    """

    __slots__ = ("name", "forward", "vjps", "label", "commutative")

    def __init__(
        self,
        name: str,
        forward: Callable,
        vjps: tuple[Callable, ...] | Callable,
        label: str | Callable[..., str] | None = None,
        commutative: bool = False,
    ) -> None:
        self.name = name
        self.forward = forward
        self.vjps = vjps
        self.label = label or name
        self.commutative = commutative

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    def describe(self, params: tuple = ()) -> str:
        """Short label of this op with its static parameters, for graph drawings."""
        return self.label(*params) if callable(self.label) else self.label

    def _vjp(self, node: Value, g: Any, create_graph: bool, wide: bool = False) -> list[Any]:
        """Gradients for the inputs of ``node``, None where none is needed (engine protocol)."""
        inputs = node._inputs
        if create_graph:  # the rules see Values, so what they compute is recorded
            out, args = node, (*inputs, *node._ctx)
        else:
            out = node.data
            args = [x.data if isinstance(x, Value) else x for x in inputs]
            if node._ctx:
                args += node._ctx
            if wide:  # Python floats raise at poles (1/0); numpy float64 gives inf/nan instead
                g, out = np.float64(g), np.float64(out)
                args = [np.float64(a) if type(a) is float else a for a in args]
        vjps = self.vjps
        try:
            if type(vjps) is not tuple:  # variadic: one rule, told which input
                return [
                    vjps(i, g, out, *args) if isinstance(x, Value) and x.requires_grad else None
                    for i, x in enumerate(inputs)
                ]
            grads = []
            for vjp, x in zip(vjps, inputs):  # a loop: most ops have one or two inputs
                needed = isinstance(x, Value) and x.requires_grad
                grads.append(vjp(g, out, *args) if needed else None)
            return grads
        except ArithmeticError:
            if create_graph or wide:
                raise
            with np.errstate(all="ignore"):
                return self._vjp(node, g, False, wide=True)


OPS: dict[str, Op] = {}


def defop(
    name: str,
    forward: Callable,
    *vjps: Callable,
    label: Any = None,
    variadic: bool = False,
    commutative: bool = False,
) -> Op:
    """Declare a primitive: add it to :data:`OPS` and return it.

    A ``variadic`` op takes any number of inputs and gives one rule ``vjp(i, g, out, ...)``.
    """
    if name in OPS:
        raise ValueError(f"op {name!r} is already declared")
    op = Op(name, forward, vjps[0] if variadic else vjps, label, commutative)
    OPS[name] = op
    return op


def _call(op: Op, inputs: Sequence[Any], params: tuple = ()) -> Any:
    """Apply ``op``: recorded when an input is a Value, plain computation on raw data."""
    for x in inputs:
        if isinstance(x, Value):
            return apply(op, tuple(inputs), params)
    return _normalize(op.forward(*[_raw_operand(x) for x in inputs], *params))


def _raw_operand(x: Any) -> Any:
    return float(x) if type(x) is int or type(x) is bool else x


# --------------------------------------------------------------- helpers for the rules


def data(x: Any) -> Any:
    """Raw data of a Value (or the thing itself): for masks, which are constants."""
    return x.data if isinstance(x, Value) else x


def shape(x: Any) -> tuple[int, ...]:
    return x.shape if isinstance(x, Value) else _shape(x)


def ndim(x: Any) -> int:
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
    return r


def _unsqueeze(g: Any, axis: Axis, keepdims: bool, nd: int) -> Any:
    """Put back the axes a reduction removed, so ``g`` broadcasts against its input."""
    if keepdims or axis is None:
        return g
    axes = _normalize_axes(axis, nd)
    new_shape = list(shape(g))
    for a in axes:
        new_shape.insert(a, 1)
    return reshape(g, tuple(new_shape))


def _normalize_axes(axis: Axis, nd: int) -> tuple[int, ...]:
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not -nd <= a < nd:
            raise ValueError(f"axis {a} is out of bounds for a Value with {nd} dimension(s)")
        out.append(int(a) % nd)
    return tuple(sorted(out))


def _mT(x: Any) -> Any:
    """Swap the last two axes (matrix transpose of a stack of matrices)."""
    nd = ndim(x)
    return transpose(x) if nd == 2 else transpose(x, tuple(range(nd - 2)) + (nd - 1, nd - 2))


def _sign(x: Any) -> Any:
    if type(x) is float:
        return (x > 0.0) - (x < 0.0)
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

ADD = defop("add", lambda x, y: x + y,
            lambda g, out, x, y: g,
            lambda g, out, x, y: g, label="+", commutative=True)

SUB = defop("sub", lambda x, y: x - y,
            lambda g, out, x, y: g,
            lambda g, out, x, y: -g, label="-")

MUL = defop("mul", lambda x, y: x * y,
            lambda g, out, x, y: g * y,
            lambda g, out, x, y: g * x, label="*", commutative=True)

DIV = defop("div", _scalar_or_array(lambda x, y: x / y, np.divide),
            lambda g, out, x, y: g / y,
            lambda g, out, x, y: -g * out / y, label="/")

NEG = defop("neg", lambda x: -x,
            lambda g, out, x: -g, label="neg")

POW = defop("pow", _scalar_or_array(_pow_scalar, np.power),          # x ** y, y a Value
            lambda g, out, x, y: g * y * x ** (y - 1.0),
            lambda g, out, x, y: g * out * log(x), label="**")


def _pow_const_vjp(g: Any, out: Any, x: Any, c: Any) -> Any:
    if type(c) is float:  # the common exponents without a call to power
        if c == 2.0:
            return g * 2.0 * x
        if c == 0.0:
            return g * 0.0
    return g * c * x ** (c - 1.0)


POW_CONST = defop("pow_const", _scalar_or_array(_pow_scalar, np.power),  # x ** c, c a constant
                  _pow_const_vjp,
                  label=lambda c: f"**{c:g}" if np.ndim(c) == 0 else "**c")

EXP = defop("exp", _scalar_or_array(math.exp, np.exp),
            lambda g, out, x: g * out)

LOG = defop("log", _scalar_or_array(math.log, np.log),
            lambda g, out, x: g / x)

SQRT = defop("sqrt", _scalar_or_array(math.sqrt, np.sqrt),
             lambda g, out, x: g * 0.5 / out)

TANH = defop("tanh", _scalar_or_array(math.tanh, np.tanh),
             lambda g, out, x: g * (1.0 - out * out))

# sigmoid(x) = (1 + tanh(x/2)) / 2: never overflows, one transcendental call
SIGMOID = defop("sigmoid", _scalar_or_array(lambda x: 0.5 + 0.5 * math.tanh(0.5 * x),
                                            lambda x: 0.5 + 0.5 * np.tanh(0.5 * x)),
                lambda g, out, x: g * out * (1.0 - out))

RELU = defop("relu", _scalar_or_array(lambda x: x if x > 0.0 else 0.0,
                                      lambda x: np.maximum(x, 0)),
             lambda g, out, x: g * _step(data(x), 0.0))

LEAKY_RELU = defop("leaky_relu", _scalar_or_array(lambda x, a: x if x > 0.0 else a * x,
                                                  lambda x, a: np.where(x > 0, x, x * a)),
                   lambda g, out, x, a: g * _step(data(x), a),
                   label=lambda a: f"leaky_relu({a:g})")

ABS = defop("abs", _scalar_or_array(math.fabs, np.abs),
            lambda g, out, x: g * _sign(data(x)))

SIN = defop("sin", _scalar_or_array(math.sin, np.sin),
            lambda g, out, x: g * cos(x))

COS = defop("cos", _scalar_or_array(math.cos, np.cos),
            lambda g, out, x: -g * sin(x))

MAXIMUM = defop("maximum", _scalar_or_array(lambda x, y: x if x >= y else y, np.maximum),
                lambda g, out, x, y: g * _tie_mask(data(x), data(y)),
                lambda g, out, x, y: g * _tie_mask(data(y), data(x)), commutative=True)

MINIMUM = defop("minimum", _scalar_or_array(lambda x, y: x if x <= y else y, np.minimum),
                lambda g, out, x, y: g * _tie_mask(data(y), data(x)),
                lambda g, out, x, y: g * _tie_mask(data(x), data(y)), commutative=True)


def _where_forward(a: Any, b: Any, cond: Any) -> Any:
    if type(cond) is bool and type(a) is float and type(b) is float:
        return a if cond else b
    return np.where(cond, a, b)


def _not(cond: Any) -> Any:
    return (not cond) if type(cond) is bool else np.logical_not(cond)


WHERE = defop("where", _where_forward,                          # cond is a constant mask
              lambda g, out, a, b, cond: g * cond,
              lambda g, out, a, b, cond: g * _not(cond))

# ------------------------------------------------------------------------- reductions


def _reduce(fn: Callable) -> Callable:
    def forward(x: Any, axis: Axis, keepdims: bool) -> Any:
        if type(x) is float and axis is None:
            return x
        return fn(x, axis=axis, keepdims=keepdims)

    return forward


def _axis_label(name: str) -> Callable[..., str]:
    return lambda axis, keepdims: name if axis is None else f"{name}(axis={axis})"


SUM = defop("sum", _reduce(np.sum),
            lambda g, out, x, axis, keepdims: broadcast_to(_unsqueeze(g, axis, keepdims, ndim(x)),
                                                           shape(x)),
            label=_axis_label("sum"))


def _max_vjp(g: Any, out: Any, x: Any, axis: Axis, keepdims: bool) -> Any:
    xd = data(x)
    if type(xd) is float:
        return g
    winners = xd == _unsqueeze(data(out), axis, keepdims, xd.ndim)
    share = winners / winners.sum(axis=axis, keepdims=True)  # ties split the gradient
    return _unsqueeze(g, axis, keepdims, xd.ndim) * share.astype(xd.dtype)


MAX = defop("max", _reduce(np.max), _max_vjp, label=_axis_label("max"))


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
                      * exp(x - _unsqueeze(out, axis, keepdims, ndim(x)))),
                  label=_axis_label("logsumexp"))

# ----------------------------------------------------------------------- shape ops

RESHAPE = defop("reshape", lambda x, new_shape: np.reshape(x, new_shape),
                lambda g, out, x, new_shape: reshape(g, shape(x)),
                label=lambda new_shape: f"reshape{new_shape}")

TRANSPOSE = defop("transpose", lambda x, axes: np.transpose(x, axes),
                  lambda g, out, x, axes: transpose(g, None if axes is None
                                                    else tuple(np.argsort(axes).tolist())),
                  label=lambda axes: "T" if axes is None else f"transpose{tuple(axes)}")

BROADCAST_TO = defop("broadcast_to", lambda x, new_shape: np.broadcast_to(x, new_shape),
                     lambda g, out, x, new_shape: g,  # the engine sums g back to x's shape
                     label=lambda new_shape: f"broadcast_to{tuple(new_shape)}")


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


GETITEM = defop("getitem", lambda x, index: x[index],
                lambda g, out, x, index: scatter_add(g, index, shape(x)),
                label=_index_label)

# zeros(shape) with g added at index: the adjoint of indexing (and indexing is its adjoint)
SCATTER_ADD = defop("scatter_add", _scatter_add_forward,
                    lambda g, out, x, index, new_shape: getitem(g, index),
                    label=lambda index, new_shape: "scatter_add")


def _concatenate_vjp(i: int, g: Any, out: Any, *args: Any) -> Any:
    *xs, axis = args
    ax = axis % ndim(out)
    start = builtins.sum(shape(x)[ax] for x in xs[:i])
    return getitem(g, (slice(None),) * ax + (slice(start, start + shape(xs[i])[ax]),))


CONCATENATE = defop("concatenate", lambda *args: np.concatenate(args[:-1], axis=args[-1]),
                    _concatenate_vjp, variadic=True,
                    label=lambda axis: f"concatenate(axis={axis})")

# --------------------------------------------------------------------------- matmul


def _matmul_forward(x: Any, y: Any) -> Any:
    if type(x) is float or type(y) is float:
        raise ValueError("both operands need at least one dimension (use * for scalars)")
    return np.matmul(x, y)


def _as_matrices(g: Any, x: Any, y: Any) -> tuple[Any, Any, Any]:
    """x, y and g viewed as (stacks of) matrices, promoting 1-D operands as numpy does."""
    gshape = shape(g)
    if ndim(y) == 1:
        y, gshape = reshape(y, (-1, 1)), gshape + (1,)
    if ndim(x) == 1:
        x, gshape = reshape(x, (1, -1)), gshape[:-1] + (1,) + gshape[-1:]
    return reshape(g, gshape), x, y


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
    return reshape(gy, shape(gy)[:-1]) if ndim(y) == 1 else gy


MATMUL = defop("matmul", _matmul_forward, _matmul_vjp_x, _matmul_vjp_y, label="@")

# ------------------------------------------------------------------- fused layers
# One node where the composition would make two (x @ w + b) or four (mean((p - t)**2)):
# fewer nodes is less Python per training step (see docs/performance.md).

LINEAR = defop("linear", lambda x, w, b: _matmul_forward(x, w) + b,       # x @ w + b
               lambda g, out, x, w, b: _matmul_vjp_x(g, out, x, w),
               lambda g, out, x, w, b: _matmul_vjp_y(g, out, x, w),
               lambda g, out, x, w, b: g)                 # the engine sums g to b's shape


def _mse_forward(p: Any, t: Any) -> Any:
    d = p - t
    return d * d if type(d) is float else (d * d).sum() / d.size  # np.mean's wrapper is slow


def _mse_vjp(sign: float) -> Callable:
    def vjp(g: Any, out: Any, p: Any, t: Any) -> Any:
        diff = p - t
        return g * (sign * 2.0 / _size(diff)) * diff

    return vjp


MSE = defop("mse", _mse_forward, _mse_vjp(1.0), _mse_vjp(-1.0))  # mean((p - t)**2)
# fmt: on


# ------------------------------------------------------------------ public functions
# Each takes Values, numbers or arrays. Given a Value it records the graph; given only raw
# data it computes the raw result (which is what the backward rules above rely on).


def exp(x: Any) -> Any:
    """e ** x, elementwise."""
    return _call(EXP, (x,))


def log(x: Any) -> Any:
    """Natural logarithm, elementwise (nan below 0, -inf at 0, as numpy)."""
    return _call(LOG, (x,))


def sqrt(x: Any) -> Any:
    """Square root, elementwise."""
    return _call(SQRT, (x,))


def tanh(x: Any) -> Any:
    """Hyperbolic tangent, elementwise; d/dx = 1 - tanh(x)**2."""
    return _call(TANH, (x,))


def sigmoid(x: Any) -> Any:
    """Logistic function 1 / (1 + e**-x), elementwise; d/dx = s(x) (1 - s(x))."""
    return _call(SIGMOID, (x,))


def relu(x: Any) -> Any:
    """max(x, 0), elementwise; its gradient at 0 is 0."""
    return _call(RELU, (x,))


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x where x > 0, else negative_slope * x; its gradient at 0 is negative_slope."""
    return _call(LEAKY_RELU, (x,), (float(negative_slope),))


def abs(x: Any) -> Any:
    """|x|, elementwise; its gradient at 0 is 0."""
    return _call(ABS, (x,))


def sin(x: Any) -> Any:
    """Sine, elementwise."""
    return _call(SIN, (x,))


def cos(x: Any) -> Any:
    """Cosine, elementwise."""
    return _call(COS, (x,))


def pow(x: Any, y: Any) -> Any:
    """x ** y. A Value exponent is differentiated too (d/dy = x**y log x, needs x > 0)."""
    if isinstance(y, Value):
        return _call(POW, (x, y))
    if isinstance(y, (list, tuple, np.ndarray)):
        y = np.asarray(y, dtype=float)
        y = float(y) if y.ndim == 0 else y
    elif isinstance(y, (int, float, np.integer, np.floating)):
        y = float(y)
    return _call(POW_CONST, (x,), (y,))


def maximum(x: Any, y: Any) -> Any:
    """Elementwise maximum with broadcasting; ties split the gradient evenly."""
    return _call(MAXIMUM, (x, y))


def minimum(x: Any, y: Any) -> Any:
    """Elementwise minimum with broadcasting; ties split the gradient evenly."""
    return _call(MINIMUM, (x, y))


def where(cond: Any, x: Any, y: Any) -> Any:
    """x where cond is true, else y (broadcasting); cond is a constant boolean mask."""
    mask = np.asarray(data(cond), dtype=bool)
    return _call(WHERE, (x, y), (bool(mask) if mask.ndim == 0 else mask,))


def matmul(x: Any, y: Any) -> Any:
    """Matrix product x @ y, with numpy's rules for 1-D and stacked operands."""
    return _call(MATMUL, (x, y))


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """x @ weight + bias as one node; ``weight`` is (in, out), so x is (..., in).

    (PyTorch's ``F.linear`` takes its weight as (out, in); this is plain ``x @ W + b``.)
    """
    if bias is None:
        return _call(MATMUL, (x, weight))
    return _call(LINEAR, (x, weight, bias))


def mse(pred: Any, target: Any) -> Any:
    """mean((pred - target)**2) as one node (shapes broadcast)."""
    return _call(MSE, (pred, target))


def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Sum over ``axis`` (an int, a tuple, or None for all)."""
    return _call(SUM, (x,), (_axis_param(axis), bool(keepdims)))


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Mean over ``axis``: sum / number of elements summed."""
    shp = shape(x)
    axes = range(len(shp)) if axis is None else _normalize_axes(axis, len(shp))
    count = int(np.prod([shp[a] for a in axes]))
    return sum(x, axis, keepdims) * (1.0 / count)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Maximum over ``axis``; ties share the gradient evenly."""
    return _call(MAX, (x,), (_axis_param(axis), bool(keepdims)))


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Any:
    """Minimum over ``axis``: -max(-x); ties share the gradient evenly."""
    return -max(-x, axis, keepdims)


def logsumexp(x: Any, axis: Axis = -1, keepdims: bool = False) -> Any:
    """log(sum(exp(x), axis)), computed stably (logits of 1000 do not overflow)."""
    return _call(LOGSUMEXP, (x,), (_axis_param(axis), bool(keepdims)))


def log_softmax(x: Any, axis: int = -1) -> Any:
    """x - logsumexp(x, axis): log-probabilities, stable for large logits."""
    return x - logsumexp(x, axis, keepdims=True)


def softmax(x: Any, axis: int = -1) -> Any:
    """exp(x) / sum(exp(x), axis), computed as exp(log_softmax(x)) so it never overflows."""
    return exp(log_softmax(x, axis))


def reshape(x: Any, new_shape: int | Sequence[int]) -> Any:
    """The same elements in a new shape (one dimension may be -1)."""
    if isinstance(new_shape, (int, np.integer)):
        new_shape = (int(new_shape),)
    return _call(RESHAPE, (x,), (tuple(new_shape),))


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None)."""
    if axes is not None:
        nd = ndim(x)
        axes = tuple(int(a) % nd if -nd <= a < nd else int(a) for a in axes)
    return _call(TRANSPOSE, (x,), (axes,))


def broadcast_to(x: Any, new_shape: Sequence[int]) -> Any:
    """x repeated along broadcast dimensions to ``new_shape``."""
    new_shape = tuple(new_shape)
    if shape(x) == new_shape:
        return x
    return _call(BROADCAST_TO, (x,), (new_shape,))


def getitem(x: Any, index: Any) -> Any:
    """x[index]: basic slicing and integer-array indexing; repeated indices accumulate."""
    if isinstance(index, Value):
        index = index.data
    if isinstance(index, list):
        index = np.asarray(index)
    if isinstance(index, np.ndarray) and index.dtype.kind == "f":
        raise IndexError(f"getitem: indices must be integers or booleans, got dtype {index.dtype}")
    return _call(GETITEM, (x,), (index,))


def scatter_add(g: Any, index: Any, new_shape: Sequence[int]) -> Any:
    """zeros(new_shape) with g added at ``index`` (repeats accumulate): indexing's adjoint."""
    return _call(SCATTER_ADD, (g,), (index, tuple(new_shape)))


def concatenate(seq: Sequence[Any], axis: int = 0) -> Value:
    """Join Values (or arrays) along an existing axis."""
    seq = list(seq)
    if not seq:
        raise ValueError("concatenate: need at least one input")
    return _call(CONCATENATE, seq, (int(axis),))


def stack(seq: Sequence[Any], axis: int = 0) -> Value:
    """Join Values of one shape along a new axis (scalars stack into a vector)."""
    seq = list(seq)
    if not seq:
        raise ValueError("stack: need at least one input")
    shapes = {shape(x) if isinstance(x, Value) else np.shape(x) for x in seq}
    if len(shapes) != 1:
        raise ValueError(f"stack: all inputs must have one shape, got {sorted(shapes)}")
    (shp,) = shapes
    nd = len(shp) + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} is out of bounds for {nd} dimension(s)")
    ax = axis % nd
    expanded = shp[:ax] + (1,) + shp[ax:]
    return concatenate([reshape(x, expanded) for x in seq], ax)


def _axis_param(axis: Axis) -> Axis:
    if axis is None or isinstance(axis, (int, np.integer)):
        return None if axis is None else int(axis)
    return tuple(int(a) for a in axis)
