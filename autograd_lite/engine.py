"""The engine: `Value`, the graph it records, and the reverse-mode walk over that graph.

The engine knows nothing of individual operations. An operation is any object with a
``name`` and a method ``_vjp(node, grad, create_graph)`` returning one gradient per input
of ``node`` (None for an input that needs none). The built-in operations are
declared in :mod:`autograd_lite.ops`; user-defined ones subclass :class:`Function`.

Design notes (see ``docs/performance.md``):

* A node holds its operation, its inputs and the operation's static parameters, never a
  closure over itself, so a graph contains no reference cycles and is freed by reference
  counting as soon as its output is dropped.
* Graph walks are iterative, so a chain of a million nodes needs no recursion limit.
* Scalars are Python floats and stay Python floats (no numpy scalars on that path).
"""

from __future__ import annotations

import functools
import math
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

__all__ = [
    "AnomalyError",
    "Context",
    "Function",
    "Value",
    "apply",
    "detect_anomaly",
    "enable_grad",
    "grad",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]

Data = float | np.ndarray


# --------------------------------------------------------------------------- grad modes


class _Mode(threading.local):
    """Per-thread switches: is the graph being recorded, is anomaly detection on."""

    grad_enabled = True
    anomaly = False
    traces: dict | None = None  # node -> stack where it was made, while detect_anomaly is on


_mode = _Mode()
_anomaly_blocks = 0  # detect_anomaly blocks open in any thread: a cheap test before _mode's


def is_grad_enabled() -> bool:
    """True when operations record the graph (the default; see :class:`no_grad`)."""
    return _mode.grad_enabled


class set_grad_enabled:
    """Turn graph recording on or off; usable as a call or as a context manager.

    ``set_grad_enabled(False)`` switches recording off at once; used in a ``with`` block
    it restores the previous mode on exit, exceptions included. The mode is per thread.
    """

    def __init__(self, mode: bool) -> None:
        self._prev = _mode.grad_enabled
        _mode.grad_enabled = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        _mode.grad_enabled = self._prev


class no_grad:
    """Context manager and decorator under which operations record no graph.

    Results computed inside are constants (``requires_grad=False``). Nests, restores the
    previous mode on exit (exceptions included) and is per thread.
    """

    _enabled = False

    def __enter__(self) -> None:
        self._prev = _mode.grad_enabled
        _mode.grad_enabled = self._enabled

    def __exit__(self, *exc: object) -> None:
        _mode.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator that turns recording back on inside ``no_grad``."""

    _enabled = True


# ---------------------------------------------------------------------- anomaly detection


class AnomalyError(FloatingPointError):
    """Raised under :func:`detect_anomaly` when an operation produces NaN or infinity."""


class detect_anomaly:
    """Context manager: raise :class:`AnomalyError` at the first non-finite number.

    Inside the block every operation checks its forward result, and every backward step
    checks the gradients it produces. The error names the operation, what went wrong and
    the line of your code that created the node. Slower: for debugging only.
    """

    def __enter__(self) -> detect_anomaly:
        global _anomaly_blocks
        self._prev = (_mode.anomaly, _mode.traces)
        _mode.anomaly = True
        if _mode.traces is None:
            _mode.traces = {}
        _anomaly_blocks += 1
        return self

    def __exit__(self, *exc: object) -> None:
        global _anomaly_blocks
        _anomaly_blocks -= 1
        _mode.anomaly, _mode.traces = self._prev


_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _where_made(node: Value) -> str:
    """The user-code line that created ``node``, as recorded by detect_anomaly."""
    stack = (_mode.traces or {}).get(node)
    if not stack:
        return "unknown place (node made outside detect_anomaly)"
    outside = [f for f in stack if not os.path.abspath(f.filename).startswith(_PACKAGE_DIR)]
    frames = outside[-3:] or stack[-1:]
    return " <- ".join(
        f"{f.filename}:{f.lineno} in {f.name}" + (f": {f.line.strip()}" if f.line else "")
        for f in reversed(frames)
    )


def _finite(x: Any) -> bool:
    """True when ``x`` (a Value, a float, an array or None) holds no NaN or infinity."""
    d = x.data if isinstance(x, Value) else x
    if d is None:
        return True
    if type(d) is float:
        return math.isfinite(d)
    return bool(np.all(np.isfinite(d)))


def _op_name(op: Any) -> str:
    return getattr(op, "name", None) or type(op).__name__


def _check_forward(op: Any, node: Value, datas: Sequence[Any]) -> None:
    if _finite(node.data):
        return
    bad = [i for i, d in enumerate(datas) if not _finite(d)]
    why = f"its input {bad[0]} was already non-finite" if bad else "all its inputs were finite"
    raise AnomalyError(
        f"detect_anomaly: forward of {_op_name(op)!r} produced a non-finite value ({why}); "
        f"made at {_where_made(node)}"
    )


def _check_backward(node: Value, index: int, grad: Any) -> None:
    if _finite(grad):
        return
    raise AnomalyError(
        f"detect_anomaly: backward of {_op_name(node._op)!r} produced a non-finite gradient "
        f"for its input {index}; the node was made at {_where_made(node)}"
    )


# ----------------------------------------------------------------------------- Value


def _as_data(data: Any, dtype: Any = None) -> Data:
    """Normalise user data: numbers become Python floats, everything else a float ndarray."""
    if isinstance(data, Value):
        raise TypeError("Value(): data is already a Value; use it directly or call .detach()")
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"Value(): dtype must be a floating type, got {dt}")
        arr = _as_array(data, dt)
        return float(arr) if arr.ndim == 0 and dt == np.float64 and _is_number(data) else arr
    if type(data) is float:
        return data
    if _is_number(data):
        if isinstance(data, np.floating) and data.dtype != np.float64:
            return np.asarray(data)  # keep float32/float16 scalars in their dtype
        return float(data)
    arr = _as_array(data, None)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    return arr


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating, np.bool_)) and not isinstance(
        x, np.ndarray
    )


def _as_array(data: Any, dtype: Any) -> np.ndarray:
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(
            f"Value(): expected a number or an array of numbers, got {type(data).__name__}"
        )
    if isinstance(data, (list, tuple)) and any(isinstance(x, Value) for x in _flat(data)):
        raise TypeError("Value(): got a list of Values; use autograd_lite.stack(list) to join them")
    try:
        arr = np.array(data, dtype=dtype)  # always a copy: a Value never aliases the caller's array
    except ValueError as e:
        raise ValueError(
            f"Value(): cannot make an array from this {type(data).__name__} ({e}); "
            "nested lists must be rectangular (no ragged rows)"
        ) from None
    except TypeError as e:
        raise TypeError(f"Value(): expected numbers, got {type(data).__name__} ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"Value(): expected real numbers, got an array of dtype {arr.dtype} "
            f"from {type(data).__name__}"
        )
    return arr


def _flat(seq: Any) -> Iterator[Any]:
    stack = [seq]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        else:
            yield item


def _normalize(out: Any) -> Data:
    """An operation's raw result as engine data: a Python float or an ndarray."""
    t = type(out)
    if t is float or t is np.ndarray:
        return out
    if isinstance(out, np.generic):
        return np.asarray(out)  # numpy scalar from a tensor reduction: stays a 0-d tensor
    if t is int or t is bool:
        return float(out)
    if isinstance(out, np.ndarray):
        return np.asarray(out)
    raise TypeError(f"expected a float or an ndarray, got {t.__name__}")


class Value:
    """A node of the graph: a Python float (scalar) or a numpy array (tensor), and its grad.

    ``Value(data, requires_grad=True, name=None, dtype=None)``. Numbers become Python
    floats; lists and arrays become float ndarrays (float32 stays float32; integers and
    booleans become float64; the array is copied). Leaves track gradients by default.
    Numbers and arrays mixed into an operation are constants.
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_op", "_inputs", "_ctx")
    __array_ufunc__ = None  # so that `ndarray * Value` calls Value.__rmul__
    __hash__ = object.__hash__  # identity: a node is a dictionary key in graph walks

    data: Data
    grad: Any
    requires_grad: bool
    name: str | None

    def __init__(
        self, data: Any, requires_grad: bool = True, name: str | None = None, dtype: Any = None
    ) -> None:
        self.data = _as_data(data, dtype)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._op = None
        self._inputs = None
        self._ctx = None

    # ------------------------------------------------------------------ attributes
    @property
    def shape(self) -> tuple[int, ...]:
        d = self.data
        return () if type(d) is float else d.shape

    @property
    def ndim(self) -> int:
        d = self.data
        return 0 if type(d) is float else d.ndim

    @property
    def size(self) -> int:
        d = self.data
        return 1 if type(d) is float else d.size

    @property
    def dtype(self) -> np.dtype:
        d = self.data
        return np.dtype(np.float64) if type(d) is float else d.dtype

    @property
    def is_leaf(self) -> bool:
        """True for a Value you made yourself (or a constant); False for an op's result."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the operation that made this Value, or None for a leaf."""
        return None if self._op is None else _op_name(self._op)

    @property
    def inputs(self) -> tuple:
        """The operation's inputs: Values and raw constants (empty for a leaf)."""
        return self._inputs or ()

    def item(self) -> float:
        """The value as a Python float (tensors must hold exactly one element)."""
        d = self.data
        if type(d) is float:
            return d
        if d.size != 1:
            raise ValueError(
                f"item(): only a one-element Value converts to a float, not shape {d.shape}"
            )
        return float(d.reshape(()))

    def numpy(self) -> np.ndarray:
        """The data as an ndarray (0-d for a scalar); shares memory with a tensor."""
        return np.asarray(self.data)

    def detach(self) -> Value:
        """A new leaf sharing this data, cut from the graph (``requires_grad=False``)."""
        return Value._leaf(self.data, False, self.name)

    def backward(self, gradient: Any = None, create_graph: bool = False) -> None:
        """Backpropagate from this Value: add d(self)/d(node) * gradient into every ``node.grad``.

        ``gradient`` defaults to 1 and may be omitted only for a one-element output.
        Gradients *accumulate*: call ``zero_grad`` (or set ``.grad = None``) between steps.
        Every node on the way that requires grad gets ``.grad`` (leaves and intermediate
        results alike, as in micrograd). With ``create_graph=True`` the backward pass is
        itself recorded, ``.grad`` holds Values, and they can be differentiated again.
        """
        _run_backward([self], [gradient], create_graph, accumulate=True)

    @staticmethod
    def _leaf(data: Data, requires_grad: bool, name: str | None = None) -> Value:
        v = _new(Value)
        v.data = data
        v.grad = None
        v.requires_grad = requires_grad
        v.name = name
        v._op = v._inputs = v._ctx = None
        return v

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        d = self.data
        if type(d) is float:
            parts = [f"{d:.6g}"]
            if self.grad is not None and not isinstance(self.grad, Value):
                parts.append(f"grad={self.grad:.6g}")
        else:
            parts = [
                np.array2string(d, precision=4, threshold=12, edgeitems=2, separator=", "),
                f"shape={d.shape}",
                f"dtype={d.dtype}",
            ]
        if self.name is not None:
            parts.append(f"name={self.name!r}")
        if self._op is not None:
            parts.append(f"op={_op_name(self._op)!r}")
        if not self.requires_grad:
            parts.append("requires_grad=False")
        return f"Value({', '.join(parts)})"

    def _repr_svg_(self) -> str | None:
        """Jupyter: display the graph that computed this Value (None: the text repr)."""
        from autograd_lite.viz import repr_svg

        return repr_svg(self)

    def __format__(self, spec: str) -> str:
        if spec and self.size == 1:
            return format(self.item(), spec)
        return format(repr(self), spec)

    def __float__(self) -> float:
        return self.item()

    def __bool__(self) -> bool:
        if self.size != 1:
            raise ValueError(
                f"the truth value of a Value of shape {self.shape} is ambiguous; "
                "use (v.data > 0).any() or .all()"
            )
        return bool(self.item())

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a scalar Value")
        return len(self.data)

    def __iter__(self) -> Iterator[Value]:
        for i in range(len(self)):
            yield self[i]

    # ------------------------------------------------------------------ operators
    # Each operator is one line naming its op in the table of autograd_lite.ops.
    def __add__(self, other: Any) -> Value:
        return apply(_ops.ADD, (self, other))

    def __radd__(self, other: Any) -> Value:
        return apply(_ops.ADD, (other, self))

    def __sub__(self, other: Any) -> Value:
        return apply(_ops.SUB, (self, other))

    def __rsub__(self, other: Any) -> Value:
        return apply(_ops.SUB, (other, self))

    def __mul__(self, other: Any) -> Value:
        return apply(_ops.MUL, (self, other))

    def __rmul__(self, other: Any) -> Value:
        return apply(_ops.MUL, (other, self))

    def __truediv__(self, other: Any) -> Value:
        return apply(_ops.DIV, (self, other))

    def __rtruediv__(self, other: Any) -> Value:
        return apply(_ops.DIV, (other, self))

    def __pow__(self, other: Any) -> Value:
        return _ops.pow(self, other)

    def __rpow__(self, other: Any) -> Value:
        return _ops.pow(other, self)

    def __matmul__(self, other: Any) -> Value:
        return apply(_ops.MATMUL, (self, other))

    def __rmatmul__(self, other: Any) -> Value:
        return apply(_ops.MATMUL, (other, self))

    def __neg__(self) -> Value:
        return apply(_ops.NEG, (self,))

    def __pos__(self) -> Value:
        return self

    def __abs__(self) -> Value:
        return apply(_ops.ABS, (self,))

    def __getitem__(self, index: Any) -> Value:
        return _ops.getitem(self, index)

    # Comparisons are not differentiable: they return raw booleans (a bool or an ndarray).
    def __lt__(self, other: Any) -> Any:
        return self.data < _raw(other)

    def __le__(self, other: Any) -> Any:
        return self.data <= _raw(other)

    def __gt__(self, other: Any) -> Any:
        return self.data > _raw(other)

    def __ge__(self, other: Any) -> Any:
        return self.data >= _raw(other)

    # ------------------------------------------------------------------ methods
    def exp(self) -> Value:
        return apply(_ops.EXP, (self,))

    def log(self) -> Value:
        return apply(_ops.LOG, (self,))

    def sqrt(self) -> Value:
        return apply(_ops.SQRT, (self,))

    def tanh(self) -> Value:
        return apply(_ops.TANH, (self,))

    def sigmoid(self) -> Value:
        return apply(_ops.SIGMOID, (self,))

    def relu(self) -> Value:
        return apply(_ops.RELU, (self,))

    def leaky_relu(self, negative_slope: float = 0.01) -> Value:
        return _ops.leaky_relu(self, negative_slope)

    def abs(self) -> Value:
        return apply(_ops.ABS, (self,))

    def sin(self) -> Value:
        return apply(_ops.SIN, (self,))

    def cos(self) -> Value:
        return apply(_ops.COS, (self,))

    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Value:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Value:
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Value:
        return _ops.max(self, axis, keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Value:
        return _ops.min(self, axis, keepdims)

    def logsumexp(self, axis: int | tuple[int, ...] | None = -1, keepdims: bool = False) -> Value:
        return _ops.logsumexp(self, axis, keepdims)

    def softmax(self, axis: int = -1) -> Value:
        return _ops.softmax(self, axis)

    def log_softmax(self, axis: int = -1) -> Value:
        return _ops.log_softmax(self, axis)

    def reshape(self, *shape: Any) -> Value:
        return _ops.reshape(self, shape[0] if len(shape) == 1 else shape)

    def transpose(self, *axes: Any) -> Value:
        return _ops.transpose(self, (axes[0] if len(axes) == 1 else axes) or None)

    @property
    def T(self) -> Value:
        return _ops.transpose(self)


_new = object.__new__


def _raw(x: Any) -> Any:
    return x.data if isinstance(x, Value) else x


def _constant(x: Any, op: Any) -> Any:
    """A non-Value operand as engine data: a Python float or an ndarray."""
    t = type(x)
    if t is float or (t is np.ndarray and x.dtype.kind == "f"):
        return x
    if t is int or t is bool:
        return float(x)
    try:
        return _as_data(x)
    except (TypeError, ValueError) as e:
        raise type(e)(f"{_op_name(op)}: bad operand ({e})") from None


# ------------------------------------------------------------------------ recording


def apply(op: Any, inputs: tuple, params: tuple = ()) -> Value:
    """Run the built-in ``op`` forward on the data of ``inputs`` and record the result.

    ``op.forward(*input_data, *params)`` computes the result from raw floats/ndarrays;
    ``params`` are static (non-differentiable) arguments such as an axis or a shape.
    """
    datas = []
    track = False
    converted = False
    for x in inputs:
        if isinstance(x, Value):
            datas.append(x.data)
            if x.requires_grad:
                track = True
        else:
            d = _constant(x, op)
            datas.append(d)
            converted = converted or d is not x
    try:
        out = op.forward(*datas, *params)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as e:
        raise _op_error(op, e, datas) from None
    if type(out) is not float and type(out) is not np.ndarray:
        out = _normalize(out)
    if converted:  # keep constants in normalised form: backward rules see what forward saw
        inputs = tuple(x if isinstance(x, Value) else d for x, d in zip(inputs, datas))
    return _record(out, op, inputs, track, params, datas)


def _record(
    out: Data, op: Any, inputs: tuple, track: bool, ctx: Any, datas: Sequence[Any]
) -> Value:
    """Wrap an op's result in a Value; link it to its inputs when a gradient can flow."""
    v = _new(Value)
    v.data = out
    v.grad = None
    v.name = None
    if track and _mode.grad_enabled:
        v.requires_grad = True
        v._op = op
        v._inputs = inputs
        v._ctx = ctx
    else:
        v.requires_grad = False
        v._op = v._inputs = v._ctx = None
    if _anomaly_blocks and _mode.anomaly:
        if _mode.traces is not None:
            _mode.traces[v] = traceback.extract_stack()[:-3]
        _check_forward(op, v, datas)
    return v


def _shape(d: Any) -> tuple[int, ...]:
    if type(d) is float:
        return ()
    if type(d) is np.ndarray:
        return d.shape
    return np.shape(d)


def _op_error(op: Any, e: Exception, datas: Sequence[Any]) -> Exception:
    shapes = ", ".join(str(_shape(d)) for d in datas)
    cls = (
        IndexError
        if isinstance(e, IndexError) and not isinstance(e, ValueError)
        else TypeError
        if isinstance(e, TypeError)
        else ValueError
    )
    return cls(f"{_op_name(op)}: {e} (input shapes: {shapes})")


# -------------------------------------------------------------------- user functions


class Context:
    """What a :class:`Function`'s ``forward`` leaves for its ``backward``.

    Call ``ctx.save_for_backward(*arrays)`` in forward and read ``ctx.saved_tensors`` in
    backward; any other attribute may be set freely. ``ctx.needs_input_grad[i]`` tells
    whether input ``i`` needs a gradient.
    """

    def __init__(self) -> None:
        self._saved: tuple = ()
        self._node: Value | None = None  # set only during a create_graph backward
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *values: Any) -> None:
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """The saved arrays; during ``create_graph`` backward, saved inputs and the saved
        output are handed back as their Values, so the backward formula is differentiable."""
        node = self._node
        if node is None:
            return self._saved
        by_id = {id(x.data): x for x in node._inputs if isinstance(x, Value)}
        by_id[id(node.data)] = node
        return tuple(by_id.get(id(s), s) for s in self._saved)


class Function:
    """Base class for user-defined primitives (the PyTorch protocol).

    Subclass it with two static methods: ``forward(ctx, *inputs)`` receives raw floats or
    ndarrays and returns the result; ``backward(ctx, grad)`` returns one gradient per input
    (``None`` for an input that needs none). Call it as ``MyOp.apply(*inputs)``; inputs may
    mix Values, numbers, arrays and other parameters (passed to forward unchanged).
    """

    name: str = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__

    @staticmethod
    def forward(ctx: Context, *inputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *inputs: Any) -> Value:
        """Run ``forward`` on the inputs' data and record the result in the graph."""
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(x, Value) and x.requires_grad for x in inputs)
        datas = [x.data if isinstance(x, Value) else x for x in inputs]
        track = any(ctx.needs_input_grad)
        out = cls.forward(ctx, *datas)
        if isinstance(out, Value):
            out = out.data
        try:
            out = _normalize(out)
        except TypeError as e:
            raise TypeError(f"{cls.name}.forward must return a number or an ndarray: {e}") from None
        return _record(out, cls, inputs, track, ctx, datas)

    @classmethod
    def _vjp(cls, node: Value, grad: Any, create_graph: bool) -> list:
        ctx = node._ctx
        ctx._node = node if create_graph else None
        try:
            grads = cls.backward(ctx, grad)
        finally:
            ctx._node = None
        if not isinstance(grads, tuple):
            grads = (grads,)
        inputs = node._inputs
        if len(grads) != len(inputs):
            raise TypeError(
                f"{cls.name}.backward returned {len(grads)} gradient(s) for {len(inputs)} input(s)"
            )
        return [
            None
            if g is None or not (isinstance(x, Value) and x.requires_grad)
            else g
            if create_graph
            else _normalize(g.data if isinstance(g, Value) else g)
            for x, g in zip(inputs, grads)
        ]


# -------------------------------------------------------------------------- backward


def _topological_order(roots: Sequence[Value]) -> list[Value]:
    """Every node below ``roots`` that requires grad, each after all of its inputs.

    Iterative depth-first search (no recursion, so graphs of any depth work): a node is
    pushed back as "done" before its inputs, and emitted when popped again after them.
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack = [(root, False) for root in reversed(roots)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            for x in node._inputs or ():
                if isinstance(x, Value) and x.requires_grad and x not in visited:
                    stack.append((x, False))
    return order


def _sum_to(g: Any, x: Value, node: Value, index: int) -> Any:
    """Reduce gradient ``g`` to the shape and dtype of input ``x`` (undo broadcasting)."""
    xd = x.data
    if type(g) is np.ndarray and type(xd) is np.ndarray and g.shape == xd.shape:
        return g if g.dtype == xd.dtype else g.astype(xd.dtype)
    is_value = isinstance(g, Value)
    gshape = g.shape if is_value else _shape(g)
    xshape = _shape(xd)
    if gshape != xshape:
        lead = len(gshape) - len(xshape)
        if lead < 0 or any(s != 1 and s != gs for s, gs in zip(xshape, gshape[lead:])):
            raise ValueError(
                f"backward of {_op_name(node._op)!r} gave a gradient of shape {gshape} "
                f"for its input {index} of shape {xshape}"
            )
        kept = tuple(lead + i for i, s in enumerate(xshape) if s == 1 and gshape[lead + i] != 1)
        if is_value:
            g = _ops.reshape(_ops.sum(g, tuple(range(lead)) + kept, True), xshape)
        elif kept:
            g = g.sum(axis=tuple(range(lead)) + kept, keepdims=True).reshape(xshape)
        else:  # only leading axes were added (a bias over a batch): one plain sum
            g = g.sum(axis=tuple(range(lead)))
    if is_value:
        return g
    if type(xd) is float:
        return float(g)
    if type(g) is not np.ndarray or g.dtype != xd.dtype:
        g = np.asarray(g, dtype=xd.dtype)
    return g


def _seed(root: Value, gradient: Any, create_graph: bool, who: str) -> Any:
    if not isinstance(root, Value):
        raise TypeError(f"{who}: outputs must be Values, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(
            f"{who}: this output does not require grad (it was computed from constants only, "
            "or under no_grad)"
        )
    if gradient is None:
        if root.size != 1:
            raise ValueError(
                f"{who}: a gradient must be given for an output of shape {root.shape} "
                "(only a one-element output gets the implicit gradient 1)"
            )
        seed: Any = 1.0 if type(root.data) is float else np.ones(root.shape, root.dtype)
    else:
        seed = gradient
        if isinstance(seed, Value) and not create_graph:
            seed = seed.data
        seed_shape = seed.shape if isinstance(seed, Value) else _shape(_constant(seed, None))
        if seed_shape != root.shape:
            raise ValueError(
                f"{who}: gradient has shape {seed_shape} but the output has shape {root.shape}"
            )
        if not isinstance(seed, Value):
            seed = _constant(seed, None)
            if type(root.data) is float:
                seed = float(seed)
    if create_graph and not isinstance(seed, Value):
        seed = Value._leaf(seed, False)
    return seed


def _run_backward(
    roots: Sequence[Value],
    gradients: Sequence[Any],
    create_graph: bool,
    accumulate: bool,
    wanted: Sequence[Value] = (),
) -> dict[Value, Any]:
    """The reverse sweep shared by ``Value.backward`` and :func:`grad`.

    Walks the nodes in reverse topological order, so each node's gradient is complete
    before it is passed on; each input's contributions are summed exactly once per use.
    With ``accumulate`` the gradient of every node is added into ``node.grad``. Returns
    the gradients of the ``wanted`` nodes.
    """
    who = "backward" if accumulate else "grad"
    grads: dict[Value, Any] = {}
    for root, gradient in zip(roots, gradients):
        s = _seed(root, gradient, create_graph, who)
        grads[root] = s if root not in grads else grads[root] + s
    wanted_set = set(wanted)
    found: dict[Value, Any] = {}
    anomaly = _mode.anomaly
    prev_mode = _mode.grad_enabled
    _mode.grad_enabled = create_graph  # record the backward pass only when asked to
    try:
        for node in reversed(_topological_order(roots)):
            g = grads.pop(node, None)
            if g is None:
                continue
            if accumulate:
                if node.grad is None and type(g) is float:
                    node.grad = g
                else:
                    _accumulate(node, g)
            if wanted_set and node in wanted_set:
                found[node] = g
            inputs = node._inputs
            if inputs is None:
                continue
            for i, gx in enumerate(node._op._vjp(node, g, create_graph)):
                if gx is None:
                    continue
                x = inputs[i]
                if type(gx) is not float or type(x.data) is not float:  # scalars: as is
                    gx = _sum_to(gx, x, node, i)
                if anomaly:
                    _check_backward(node, i, gx)
                prev = grads.get(x)
                grads[x] = gx if prev is None else prev + gx
    finally:
        _mode.grad_enabled = prev_mode
    return found


def _accumulate(node: Value, g: Any) -> None:
    old = node.grad
    if old is None:
        # A leaf's .grad must be its own writable array: optimizers and clipping change it
        # in place, and g may be shared (the add rule hands one array to both inputs) or a
        # read-only view. An array nobody else refers to is taken as is (as PyTorch's
        # AccumulateGrad does); that saves a copy of every weight gradient per step.
        # (3 references: the caller's variable, this argument, getrefcount's argument.)
        if (
            type(g) is np.ndarray
            and node._op is None
            and (g.base is not None or not g.flags.writeable or sys.getrefcount(g) > 3)
        ):
            g = g.copy()
        node.grad = g
    else:
        node.grad = old + g


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: Any = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, leaving every ``.grad`` alone.

    Returns a tuple with one entry per input: d(sum_k grad_outputs[k] * outputs[k])/d(input).
    Entries are raw floats/ndarrays, or Values (differentiable again) with
    ``create_graph=True``. An input the outputs do not depend on is an error unless
    ``allow_unused=True``, which gives None for it.
    """
    outs = [outputs] if isinstance(outputs, Value) else list(outputs)
    ins = [inputs] if isinstance(inputs, Value) else list(inputs)
    if grad_outputs is None:
        seeds: list[Any] = [None] * len(outs)
    elif isinstance(outputs, Value):
        seeds = [grad_outputs]
    else:
        seeds = list(grad_outputs)
        if len(seeds) != len(outs):
            raise ValueError(f"grad: {len(seeds)} grad_outputs for {len(outs)} outputs")
    for i, x in enumerate(ins):
        if not isinstance(x, Value):
            raise TypeError(f"grad: input {i} is a {type(x).__name__}, not a Value")
        if not x.requires_grad:
            raise ValueError(f"grad: input {i} does not require grad")
    found = _run_backward(outs, seeds, create_graph, accumulate=False, wanted=ins)
    result = []
    for i, x in enumerate(ins):
        g = found.get(x)
        if g is None and not allow_unused:
            raise ValueError(
                f"grad: input {i} is not used to compute the outputs "
                "(pass allow_unused=True to get None for it)"
            )
        result.append(g)
    return tuple(result)


# The operator table lives in ops.py, which imports this module; it is bound here, after
# Value exists, so that Value's operators can name their ops.
from autograd_lite import ops as _ops  # noqa: E402
