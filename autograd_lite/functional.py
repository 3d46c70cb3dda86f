"""The public functions of autograd_lite: the primitives with their argument handling.

Each takes Values, numbers or arrays. Given a Value it records the graph; given only raw
data it computes the raw result. The ops themselves (forward and VJPs) are declared in
:mod:`autograd_lite.ops.primitives`; a few functions here are compositions of them.

Over 600 lines for a reason: one public function per op (about seventy), each a few lines
of argument checks over shared helpers (shapes, kernel sizes, axes); split by kind they
would import those helpers from one another.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, overload

import numpy as np

from autograd_lite.core.op import call
from autograd_lite.core.value import Value, constant
from autograd_lite.ops import primitives as prim

__all__ = [
    "abs",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "broadcast_to",
    "concatenate",
    "cos",
    "embedding",
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
    "pick",
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


@overload
def exp(x: Value) -> Value: ...
@overload
def exp(x: Any) -> Any: ...


def exp(x: Any) -> Any:
    """e ** x, elementwise."""
    return call(prim.EXP, (x,))


@overload
def log(x: Value) -> Value: ...
@overload
def log(x: Any) -> Any: ...


def log(x: Any) -> Any:
    """Natural logarithm, elementwise (nan below 0, -inf at 0, as numpy)."""
    return call(prim.LOG, (x,))


@overload
def sqrt(x: Value) -> Value: ...
@overload
def sqrt(x: Any) -> Any: ...


def sqrt(x: Any) -> Any:
    """Square root, elementwise."""
    return call(prim.SQRT, (x,))


@overload
def tanh(x: Value) -> Value: ...
@overload
def tanh(x: Any) -> Any: ...


def tanh(x: Any) -> Any:
    """Hyperbolic tangent, elementwise; d/dx = 1 - tanh(x)**2."""
    return call(prim.TANH, (x,))


@overload
def sigmoid(x: Value) -> Value: ...
@overload
def sigmoid(x: Any) -> Any: ...


def sigmoid(x: Any) -> Any:
    """Logistic function 1 / (1 + e**-x), elementwise; d/dx = s(x) (1 - s(x))."""
    return call(prim.SIGMOID, (x,))


@overload
def relu(x: Value) -> Value: ...
@overload
def relu(x: Any) -> Any: ...


def relu(x: Any) -> Any:
    """max(x, 0), elementwise; its gradient at 0 is 0."""
    return call(prim.RELU, (x,))


@overload
def leaky_relu(x: Value, negative_slope: float = 0.01) -> Value: ...
@overload
def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any: ...


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Any:
    """x where x > 0, else negative_slope * x; its gradient at 0 is negative_slope."""
    return call(prim.LEAKY_RELU, (x,), (float(negative_slope),))


@overload
def abs(x: Value) -> Value: ...
@overload
def abs(x: Any) -> Any: ...


def abs(x: Any) -> Any:
    """|x|, elementwise; its gradient at 0 is 0."""
    return call(prim.ABS, (x,))


@overload
def sin(x: Value) -> Value: ...
@overload
def sin(x: Any) -> Any: ...


def sin(x: Any) -> Any:
    """Sine, elementwise."""
    return call(prim.SIN, (x,))


@overload
def cos(x: Value) -> Value: ...
@overload
def cos(x: Any) -> Any: ...


def cos(x: Any) -> Any:
    """Cosine, elementwise."""
    return call(prim.COS, (x,))


@overload
def pow(x: Value, y: Any) -> Value: ...
@overload
def pow(x: Any, y: Any) -> Any: ...


def pow(x: Any, y: Any) -> Any:
    """x ** y. A Value exponent is differentiated too (d/dy = x**y log x, needs x > 0)."""
    if isinstance(y, Value):
        return call(prim.POW, (x, y))
    c: Any = constant(y, "pow")  # refuses complex and ragged exponents with a clear error
    if type(c) is not float:
        c = c.astype(np.float64) if c.ndim else float(c)
    return call(prim.POW_CONST, (x,), (c,))


@overload
def maximum(x: Value, y: Any) -> Value: ...
@overload
def maximum(x: Any, y: Any) -> Any: ...


def maximum(x: Any, y: Any) -> Any:
    """Elementwise maximum with broadcasting; ties split the gradient evenly."""
    return call(prim.MAXIMUM, (x, y))


@overload
def minimum(x: Value, y: Any) -> Value: ...
@overload
def minimum(x: Any, y: Any) -> Any: ...


def minimum(x: Any, y: Any) -> Any:
    """Elementwise minimum with broadcasting; ties split the gradient evenly."""
    return call(prim.MINIMUM, (x, y))


def where(cond: Any, x: Any, y: Any) -> Any:
    """x where cond is true, else y (broadcasting); cond is a constant boolean mask."""
    mask = np.asarray(prim.data(cond), dtype=bool)
    return call(prim.WHERE, (x, y), (bool(mask) if mask.ndim == 0 else mask,))


@overload
def binary_cross_entropy(p: Value, t: Any) -> Value: ...
@overload
def binary_cross_entropy(p: Any, t: Any) -> Any: ...


def binary_cross_entropy(p: Any, t: Any) -> Any:
    """-(t log p + (1 - t) log(1 - p)) elementwise, as one node; each log clamped at -100.

    ``p`` must lie in [0, 1] (checked on every call); see ``nn.binary_cross_entropy``.
    """
    return call(prim.BCE, (p, t))


def binary_cross_entropy_with_logits(x: Any, t: Any, pos_weight: Any = 1.0) -> Any:
    """(1 - t) x + (1 + (pos_weight - 1) t) softplus(-x) elementwise, as one node.

    The binary cross-entropy of sigmoid(x) against t, exact at every logit; at x = +-inf
    the limit (inf, or 0 where the target agrees). ``pos_weight`` is a constant (a number
    or an array broadcasting against x). See ``nn.binary_cross_entropy_with_logits``.
    """
    pw = prim.data(pos_weight)
    return call(prim.BCE_WITH_LOGITS, (x, t), (pw if type(pw) is float else np.asarray(pw),))


def embedding(indices: Any, weight: Any, padding_idx: int | None = None) -> Any:
    """weight[indices[...], :]: the rows of a (num, dim) table the integer ``indices`` name.

    As ``torch.nn.functional.embedding``: ``indices`` of any shape give a result of shape
    ``indices.shape + (dim,)``; rows named several times add up their gradients, and the
    ``padding_idx`` row takes none. The indices are checked on every call and are an
    input, not a constant: a compiled function reads new indices on every call.
    """
    return call(prim.EMBEDDING, (weight, indices), (padding_idx,))


def pick(x: Any, labels: Any) -> Any:
    """x[..., labels[...]]: from each row of scores ``x`` (..., C), the entry its class label names.

    ``labels`` are integers in [0, C) of shape ``x.shape[:-1]`` (checked on every call).
    They are an input, not a constant: a compiled function reads new labels on every call.
    No gradient flows into them (a Value gets a zero gradient). ``-pick(log_softmax(z), y)``
    is the cross-entropy of each row.
    """
    return call(prim.PICK, (x, labels))


@overload
def matmul(x: Value, y: Any) -> Value: ...
@overload
def matmul(x: Any, y: Any) -> Any: ...


def matmul(x: Any, y: Any) -> Any:
    """Matrix product x @ y, with numpy's rules for 1-D and stacked operands."""
    return call(prim.MATMUL, (x, y))


@overload
def linear(x: Value, weight: Any, bias: Any = None) -> Value: ...
@overload
def linear(x: Any, weight: Any, bias: Any = None) -> Any: ...


def linear(x: Any, weight: Any, bias: Any = None) -> Any:
    """x @ weight + bias as one node; ``weight`` is (in, out), so x is (..., in).

    (PyTorch's ``F.linear`` takes its weight as (out, in); this is plain ``x @ W + b``.)
    """
    if bias is None:
        return call(prim.MATMUL, (x, weight))
    return call(prim.LINEAR, (x, weight, bias))


@overload
def mse(pred: Value, target: Any) -> Value: ...
@overload
def mse(pred: Any, target: Any) -> Any: ...


def mse(pred: Any, target: Any) -> Any:
    """mean((pred - target)**2) as one node (shapes broadcast)."""
    return call(prim.MSE, (pred, target))


@overload
def sum(
    x: Value, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Value: ...
@overload
def sum(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any: ...


def sum(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any:
    """Sum over ``axis`` (an int, a tuple, or None for all); PyTorch's ``dim``/``keepdim`` too."""
    axis, keepdims = _dim_names("sum", axis, keepdims, dim, keepdim)
    return call(prim.SUM, (x,), (_axis_param(axis, "sum"), bool(keepdims)))


@overload
def mean(
    x: Value, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Value: ...
@overload
def mean(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any: ...


def mean(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any:
    """Mean over ``axis``: sum / number of elements summed (float16 accumulates in float32;
    the mean of nothing is nan, as in numpy and PyTorch)."""
    axis, keepdims = _dim_names("mean", axis, keepdims, dim, keepdim)
    return call(prim.MEAN, (x,), (_axis_param(axis, "mean"), bool(keepdims)))


@overload
def max(
    x: Value, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Value: ...
@overload
def max(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any: ...


def max(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any:
    """Maximum over ``axis``; ties share the gradient evenly (values only, no indices)."""
    axis, keepdims = _dim_names("max", axis, keepdims, dim, keepdim)
    return call(prim.MAX, (x,), (_axis_param(axis, "max"), bool(keepdims)))


@overload
def min(
    x: Value, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Value: ...
@overload
def min(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any: ...


def min(
    x: Any, axis: Axis = None, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any:
    """Minimum over ``axis``: -max(-x); ties share the gradient evenly."""
    axis, keepdims = _dim_names("min", axis, keepdims, dim, keepdim)
    return -max(-x, axis, keepdims)


@overload
def logsumexp(
    x: Value, axis: Axis = -1, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Value: ...
@overload
def logsumexp(
    x: Any, axis: Axis = -1, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any: ...


def logsumexp(
    x: Any, axis: Axis = -1, keepdims: bool = False, *, dim: Axis = None, keepdim: Any = None
) -> Any:
    """log(sum(exp(x), axis)), computed stably (logits of 1000 do not overflow)."""
    axis, keepdims = _dim_names("logsumexp", axis, keepdims, dim, keepdim, -1)
    return call(prim.LOGSUMEXP, (x,), (_axis_param(axis, "logsumexp"), bool(keepdims)))


@overload
def log_softmax(x: Value, axis: int = -1, *, dim: int | None = None) -> Value: ...
@overload
def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any: ...


def log_softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """x - logsumexp(x, axis): log-probabilities, computed from x - max(x) so that they are
    accurate at every magnitude (logits of 1e17 included)."""
    axis, _ = _dim_names("log_softmax", axis, False, dim, None, -1)
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"log_softmax: axis must be an int, got {axis!r}")
    return call(prim.LOG_SOFTMAX, (x,), (_axis_param(axis, "log_softmax"),))


@overload
def softmax(x: Value, axis: int = -1, *, dim: int | None = None) -> Value: ...
@overload
def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any: ...


def softmax(x: Any, axis: int = -1, *, dim: int | None = None) -> Any:
    """exp(x) / sum(exp(x), axis), computed as exp(log_softmax(x)) so it never overflows."""
    axis, _ = _dim_names("softmax", axis, False, dim, None, -1)
    return exp(log_softmax(x, axis))


@overload
def reshape(x: Value, new_shape: int | Sequence[int]) -> Value: ...
@overload
def reshape(x: Any, new_shape: int | Sequence[int]) -> Any: ...


def reshape(x: Any, new_shape: int | Sequence[int]) -> Any:
    """The same elements in a new shape (one dimension may be -1)."""
    if isinstance(new_shape, (int, np.integer)):
        new_shape = (int(new_shape),)
    new_shape = tuple(new_shape)
    if (
        not builtins.all(
            isinstance(n, (int, np.integer)) and not isinstance(n, bool) and n >= -1
            for n in new_shape
        )
        or new_shape.count(-1) > 1
    ):
        raise ValueError(
            f"reshape: the new shape must be ints >= 0 with at most one -1, got {new_shape}"
        )
    return call(prim.RESHAPE, (x,), (tuple(int(n) for n in new_shape),))


@overload
def transpose(x: Value, axes: Sequence[int] | None = None) -> Value: ...
@overload
def transpose(x: Any, axes: Sequence[int] | None = None) -> Any: ...


def transpose(x: Any, axes: Sequence[int] | None = None) -> Any:
    """Permute the axes (reverse them when ``axes`` is None)."""
    if axes is not None:
        nd = prim.ndim(x)
        axes = tuple(int(a) % nd if -nd <= a < nd else int(a) for a in axes)
    return call(prim.TRANSPOSE, (x,), (axes,))


def broadcast_to(x: Any, new_shape: Sequence[int]) -> Any:
    """x repeated along broadcast dimensions to ``new_shape``."""
    new_shape = tuple(new_shape)
    if prim.shape(x) == new_shape:
        return x
    return call(prim.BROADCAST_TO, (x,), (new_shape,))


@overload
def getitem(x: Value, index: Any) -> Value: ...
@overload
def getitem(x: Any, index: Any) -> Any: ...


def getitem(x: Any, index: Any) -> Any:
    """x[index]: basic slicing and integer-array indexing; repeated indices accumulate."""
    if isinstance(index, Value):
        index = index.data
    if isinstance(index, list):
        index = np.asarray(index) if index else np.zeros(0, dtype=np.intp)  # x[[]], as numpy
    if isinstance(index, np.ndarray) and index.dtype.kind == "f":
        raise IndexError(f"getitem: indices must be integers or booleans, got dtype {index.dtype}")
    return call(prim.GETITEM, (x,), (index,))


def scatter_add(g: Any, index: Any, new_shape: Sequence[int]) -> Any:
    """zeros(new_shape) with g added at ``index`` (repeats accumulate): indexing's adjoint."""
    return call(prim.SCATTER_ADD, (g,), (index, tuple(new_shape)))


def concatenate(seq: Sequence[Any], axis: int = 0) -> Value:
    """Join Values (or arrays) along an existing axis."""
    seq = list(seq)
    if not seq:
        raise ValueError("concatenate: need at least one input")
    return call(prim.CONCATENATE, seq, (int(axis),))


def stack(seq: Sequence[Any], axis: int = 0) -> Value:
    """Join Values of one shape along a new axis (scalars stack into a vector)."""
    seq = list(seq)
    if not seq:
        raise ValueError("stack: need at least one input")
    shapes = {prim.shape(x) for x in seq}
    if len(shapes) != 1:
        raise ValueError(f"stack: all inputs must have one shape, got {sorted(shapes)}")
    (shp,) = shapes
    nd = len(shp) + 1
    if not -nd <= axis < nd:
        raise ValueError(f"stack: axis {axis} is out of bounds for {nd} dimension(s)")
    ax = axis % nd
    expanded = shp[:ax] + (1,) + shp[ax:]
    return concatenate([reshape(x, expanded) for x in seq], ax)


def _dim_names(
    who: str, axis: Any, keepdims: Any, dim: Any, keepdim: Any, axis_default: Any = None
) -> tuple[Any, bool]:
    """numpy's ``axis``/``keepdims`` or PyTorch's ``dim``/``keepdim``, not both."""
    if dim is not None:
        if axis != axis_default:
            raise TypeError(f"{who}: got both axis={axis!r} and dim={dim!r}; pass one of them")
        axis = dim
    if keepdim is not None:
        if keepdims:
            raise TypeError(f"{who}: got both keepdims and keepdim; pass one of them")
        keepdims = keepdim
    return axis, keepdims


def _axis_param(axis: Axis, who: str) -> Axis:
    if axis is None:
        return None
    if isinstance(axis, (int, np.integer)) and not isinstance(axis, bool):
        return int(axis)
    if isinstance(axis, (tuple, list)) and all(
        isinstance(a, (int, np.integer)) and not isinstance(a, bool) for a in axis
    ):
        # no axes named is every axis, as PyTorch's dim=() (so dim=tuple(range(1, x.ndim))
        # reduces a 1-D x entirely)
        return tuple(int(a) for a in axis) if axis else None
    raise TypeError(
        f"{who}: axis must be an int, a tuple of ints or None, got {type(axis).__name__} {axis!r}"
    )


# ================================================================ convolution and pooling
# PyTorch's layouts and arithmetic: input (N, C, *spatial) or unbatched (C, *spatial),
# weights (out_channels, in_channels, *kernel). ``stride``, ``padding`` and ``dilation`` are
# an int or one per spatial axis; ``padding`` may also be "valid" (0) or "same" (stride 1;
# an even total is split as PyTorch does, the extra zero after).

__all__ += ["avg_pool2d", "conv1d", "conv2d", "dropout", "flatten", "max_pool2d"]
__all__ += ["avg_pool1d", "conv_transpose2d", "max_pool1d"]

_DEFAULT_RNG = np.random.default_rng()


def _ints(value: Any, nd: int, who: str, what: str, low: int = 1) -> tuple[int, ...]:
    if isinstance(value, (int, np.integer)):
        items: tuple = (value,) * nd
    elif isinstance(value, (tuple, list)):
        items = tuple(value)
    else:  # a float, a string, None: not iterable into ints
        items = ()
    if len(items) != nd or not builtins.all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= low for v in items
    ):
        raise ValueError(f"{who}: {what} must be an int >= {low} or {nd} of them, got {value!r}")
    return tuple(int(v) for v in items)


def _padding(
    padding: Any,
    nd: int,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    who: str,
) -> tuple[tuple[int, int], ...]:
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * nd
        if padding == "same":
            if builtins.any(s != 1 for s in stride):
                raise ValueError(f"{who}: padding='same' needs stride 1, got stride={stride}")
            total = [d * (k - 1) for k, d in zip(kernel, dilation)]
            return tuple((t // 2, t - t // 2) for t in total)
        raise ValueError(
            f"{who}: padding must be an int, a tuple, 'valid' or 'same'; got {padding!r}"
        )
    return tuple((p, p) for p in _ints(padding, nd, who, "padding", low=0))


def _tensor(x: Any, who: str) -> Any:
    return x if isinstance(x, Value) else constant(x, who)


def _batched(x: Any, nd: int, who: str) -> tuple[Any, bool]:
    """``x`` as (N, C, *spatial), and whether it was unbatched (C, *spatial)."""
    n = prim.ndim(x)
    if n == nd + 1:
        return reshape(x, (1, *prim.shape(x))), True
    if n != nd + 2:
        raise ValueError(
            f"{who}: expected an input of {nd + 2} dimensions (batch, channels, "
            f"{'length' if nd == 1 else 'height, width'}) or {nd + 1} (unbatched), "
            f"got shape {prim.shape(x)}"
        )
    return x, False


def _conv(x: Any, weight: Any, bias: Any, stride: Any, padding: Any, dilation: Any, nd: int) -> Any:
    who = f"conv{nd}d"
    x, weight = _tensor(x, who), _tensor(weight, who)
    ws = prim.shape(weight)
    if len(ws) != nd + 2:
        raise ValueError(f"{who}: weight must have {nd + 2} dimensions, got shape {ws}")
    x, unbatched = _batched(x, nd, who)
    xs = prim.shape(x)
    if xs[1] != ws[1]:
        raise ValueError(
            f"{who}: the input has {xs[1]} channels but the weight {tuple(ws)} expects {ws[1]}"
        )
    stride_ = _ints(stride, nd, who, "stride")
    dilation_ = _ints(dilation, nd, who, "dilation")
    kernel = tuple(ws[2:])
    pads = _padding(padding, nd, kernel, stride_, dilation_, who)
    for s, k, d, (lo, hi) in zip(xs[2:], kernel, dilation_, pads):
        if s + lo + hi < d * (k - 1) + 1:
            raise ValueError(
                f"{who}: the kernel {kernel} (dilation {dilation_}) is larger than the padded "
                f"input {tuple(xs[2:])} (padding {pads})"
            )
    if bias is None:
        bias = 0.0
    else:
        bias = _tensor(bias, who)
        if prim.shape(bias) != (ws[0],):
            raise ValueError(f"{who}: bias must have shape ({ws[0]},), got {prim.shape(bias)}")
    op = prim.CONV1D if nd == 1 else prim.CONV2D
    out = call(op, (x, weight, bias), (stride_, pads, dilation_))
    return reshape(out, prim.shape(out)[1:]) if unbatched else out


@overload
def conv1d(
    x: Value, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Value: ...
@overload
def conv1d(
    x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Any: ...


def conv1d(
    x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Any:
    """out[n, o, l] = bias[o] + sum_{c, k} weight[o, c, k] x_pad[n, c, l * stride + k * dilation].

    PyTorch's ``conv1d`` (without groups): x is (N, C, L) or (C, L), weight (O, C, K).
    """
    return _conv(x, weight, bias, stride, padding, dilation, 1)


@overload
def conv2d(
    x: Value, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Value: ...
@overload
def conv2d(
    x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Any: ...


def conv2d(
    x: Any, weight: Any, bias: Any = None, stride: Any = 1, padding: Any = 0, dilation: Any = 1
) -> Any:
    """out[n, o, i, j] = b[o] + sum_{c, p, q} w[o, c, p, q] x_pad[n, c, i s + p d, j s + q d].

    PyTorch's ``conv2d`` (without groups): x is (N, C, H, W) or (C, H, W), weight
    (O, C, kH, kW), bias (O,) or None; s is the stride and d the dilation of each axis.
    """
    return _conv(x, weight, bias, stride, padding, dilation, 2)


def _pool_args(
    x: Any, kernel_size: Any, stride: Any, padding: Any, who: str
) -> tuple[Any, tuple, tuple, tuple]:
    x = _tensor(x, who)
    if prim.ndim(x) not in (3, 4):
        raise ValueError(
            f"{who}: expected an input (N, C, H, W) or (C, H, W), got shape {prim.shape(x)}"
        )
    kernel, stride_, pads = _pool_params(kernel_size, stride, padding, 2, who)
    size = prim.shape(x)[-2:]
    if builtins.any(s + 2 * p < k for s, p, k in zip(size, pads, kernel)):
        raise ValueError(f"{who}: the kernel {kernel} is larger than the padded input {size}")
    return x, kernel, stride_, tuple((p, p) for p in pads)


def _pool_params(
    kernel_size: Any, stride: Any, padding: Any, nd: int, who: str
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """A pooling's kernel, stride (the kernel by default) and padding (at most half the
    kernel, as PyTorch requires), checked."""
    kernel = _ints(kernel_size, nd, who, "kernel_size")
    stride_ = kernel if stride is None else _ints(stride, nd, who, "stride")
    pads = _ints(padding, nd, who, "padding", low=0)
    if builtins.any(2 * p > k for p, k in zip(pads, kernel)):
        raise ValueError(f"{who}: padding {pads} must be at most half of the kernel size {kernel}")
    return kernel, stride_, pads


@overload
def max_pool2d(x: Value, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Value: ...
@overload
def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any: ...


def max_pool2d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """out[..., i, j] = max_{p, q} x_pad[..., i s + p, j s + q], padded with -inf.

    PyTorch's ``max_pool2d`` (ceil_mode=False, dilation 1): ``stride`` defaults to the
    kernel size; the gradient goes to the first maximum of each window, as in PyTorch.
    """
    x, kernel, stride_, pads = _pool_args(x, kernel_size, stride, padding, "max_pool2d")
    return call(prim.MAX_POOL2D, (x,), (kernel, stride_, pads))


@overload
def avg_pool2d(
    x: Value,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    *,
    count_include_pad: bool = True,
) -> Value: ...
@overload
def avg_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    *,
    count_include_pad: bool = True,
) -> Any: ...


def avg_pool2d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    *,
    count_include_pad: bool = True,
) -> Any:
    """out[..., i, j] = mean_{p, q} x_pad[..., i s + p, j s + q], padded with zeros.

    PyTorch's ``avg_pool2d`` (ceil_mode=False): the zeros of the padding are counted in
    the mean unless ``count_include_pad=False``.
    """
    x, kernel, stride_, pads = _pool_args(x, kernel_size, stride, padding, "avg_pool2d")
    return call(prim.AVG_POOL2D, (x,), (kernel, stride_, pads, bool(count_include_pad)))


def _pool1d(x: Any, kernel_size: Any, stride: Any, padding: Any, who: str, pool: Any) -> Any:
    """A 1-D pooling as the 2-D one over (..., 1, L) with a (1, k) window."""
    x = _tensor(x, who)
    if prim.ndim(x) not in (2, 3):
        raise ValueError(f"{who}: expected an input (N, C, L) or (C, L), got shape {prim.shape(x)}")
    kernel, stride_, pads = _pool_params(kernel_size, stride, padding, 1, who)
    shp = prim.shape(x)
    out = pool(reshape(x, (*shp[:-1], 1, shp[-1])), (1, *kernel), (1, *stride_), (0, *pads))
    return reshape(out, (*shp[:-1], prim.shape(out)[-1]))


def max_pool1d(x: Any, kernel_size: Any, stride: Any = None, padding: Any = 0) -> Any:
    """out[..., i] = max_k x_pad[..., i s + k], padded with -inf (PyTorch's ``max_pool1d``,
    ceil_mode=False): max_pool2d over a (1, k) window, the same gradient rule."""
    return _pool1d(x, kernel_size, stride, padding, "max_pool1d", max_pool2d)


def avg_pool1d(
    x: Any,
    kernel_size: Any,
    stride: Any = None,
    padding: Any = 0,
    *,
    count_include_pad: bool = True,
) -> Any:
    """out[..., i] = mean_k x_pad[..., i s + k], padded with zeros (PyTorch's ``avg_pool1d``)."""

    def pool(x2: Any, k: Any, s: Any, p: Any) -> Any:
        return avg_pool2d(x2, k, s, p, count_include_pad=count_include_pad)

    return _pool1d(x, kernel_size, stride, padding, "avg_pool1d", pool)


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: Any = 1,
    padding: Any = 0,
    output_padding: Any = 0,
    *,
    dilation: Any = 1,
) -> Any:
    """The adjoint of conv2d: out[n, o, i s + p d - pad, ...] += x[n, c, i, ...] w[c, o, p, ...].

    PyTorch's ``conv_transpose2d`` (without groups): x is (N, C_in, H, W) or unbatched,
    weight (C_in, C_out, kH, kW); out size (H - 1) s - 2 pad + d (k - 1) + output_padding + 1.
    ``dilation`` is keyword-only: PyTorch's 7th positional argument is ``groups``.
    One ``conv_transpose`` op (the input-gradient of a convolution) plus the bias.
    """
    who = "conv_transpose2d"
    x, weight = _tensor(x, who), _tensor(weight, who)
    ws = prim.shape(weight)
    if len(ws) != 4:
        raise ValueError(f"{who}: weight must have 4 dimensions, got shape {ws}")
    x, unbatched = _batched(x, 2, who)
    xs = prim.shape(x)
    if xs[1] != ws[0]:
        raise ValueError(
            f"{who}: the input has {xs[1]} channels but the weight {tuple(ws)} expects {ws[0]}"
        )
    stride_ = _ints(stride, 2, who, "stride")
    dilation_ = _ints(dilation, 2, who, "dilation")
    pads = _ints(padding, 2, who, "padding", low=0)
    extra = _ints(output_padding, 2, who, "output_padding", low=0)
    if builtins.any(e >= builtins.max(s, d) for e, s, d in zip(extra, stride_, dilation_)):
        raise ValueError(
            f"{who}: output_padding {extra} must be smaller than the stride {stride_} or the "
            f"dilation {dilation_}"
        )
    size = tuple(
        (i - 1) * s - 2 * p + d * (k - 1) + e + 1
        for i, s, p, d, k, e in zip(xs[2:], stride_, pads, dilation_, ws[2:], extra)
    )
    if builtins.min(size) < 1:
        raise ValueError(f"{who}: the output would have size {size}")
    # conv_transpose(g, w) scatters g over the padded output and drops the padding; the
    # padding after holds the output_padding rows (the extra rows a strided conv ignores).
    # Output_padding beyond the padding (possible with a dilation above the stride) gives
    # rows no tap reaches: the op covers the rows reached, and zeros are joined after,
    # so that its VJPs (a conv of the reached rows) see exactly the input's size.
    pairs = tuple((p, builtins.max(p - e, 0)) for p, e in zip(pads, extra))
    tail = tuple(builtins.max(e - p, 0) for p, e in zip(pads, extra))
    reach = tuple(n - t for n, t in zip(size, tail))
    out = call(prim.CONV_TRANSPOSE, (x, weight), (stride_, pairs, dilation_, reach))
    for axis, t in enumerate(tail, start=2):
        if t:
            zshape = (*prim.shape(out)[:axis], t, *prim.shape(out)[axis + 1 :])
            zeros = np.zeros(zshape, out.dtype)  # a constant (out: a Value or an ndarray)
            out = call(prim.CONCATENATE, (out, zeros), (axis,))
    if bias is not None:
        bias = _tensor(bias, who)
        if prim.shape(bias) != (ws[1],):
            raise ValueError(f"{who}: bias must have shape ({ws[1]},), got {prim.shape(bias)}")
        out = out + reshape(bias, (ws[1], 1, 1))
    return reshape(out, prim.shape(out)[1:]) if unbatched else out


@overload
def dropout(x: Value, p: float = 0.5, training: bool = True, rng: Any = None) -> Value: ...
@overload
def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Any: ...


def dropout(x: Any, p: float = 0.5, training: bool = True, rng: Any = None) -> Any:
    """x * mask / (1 - p) with mask ~ Bernoulli(1 - p) in training; x itself otherwise.

    The mask is drawn inside the op's forward from ``rng`` (a numpy Generator, a seed, or
    None for a module-wide generator), a static parameter of the op: a replayed graph
    draws a new mask, and each result's VJP uses the mask its forward drew.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1], got {p}")
    if not training or p == 0.0:
        return x
    if rng is None:
        rng = _DEFAULT_RNG
    elif not hasattr(rng, "random"):  # a seed; a Generator (anything with .random) as is
        rng = np.random.default_rng(rng)
    return call(prim.DROPOUT, (_tensor(x, "dropout"),), (float(p), rng, prim.MaskBox()))


@overload
def flatten(x: Value, start_dim: int = 1, end_dim: int = -1) -> Value: ...
@overload
def flatten(x: Any, start_dim: int = 1, end_dim: int = -1) -> Any: ...


def flatten(x: Any, start_dim: int = 1, end_dim: int = -1) -> Any:
    """x with dimensions start_dim..end_dim (inclusive) merged into one (PyTorch's flatten)."""
    shp = prim.shape(x)
    if not shp:
        return reshape(x, (1,))
    nd = len(shp)
    if not (-nd <= start_dim < nd and -nd <= end_dim < nd):
        raise ValueError(f"flatten: dimensions {start_dim}..{end_dim} out of range for shape {shp}")
    start, end = start_dim % nd, end_dim % nd
    if start > end:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    return reshape(x, (*shp[:start], -1, *shp[end + 1 :]))
