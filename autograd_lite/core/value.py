"""`Value`, a node of the graph, and the coercion of user data into engine data.

Engine data is a Python float (a scalar) or a real floating ndarray (a tensor). Numbers
stay Python floats on the scalar path: no numpy scalar is made there, which is what makes
micrograd-style code fast. Arithmetic, methods such as ``exp`` and ``backward`` are bound
onto `Value` by :mod:`autograd_lite.ops.operators`, which sits above both this module and the
op table; this module knows no operation. Type checkers see them declared here, in the
class's ``TYPE_CHECKING`` block (which is not run: it costs nothing at run time); a test
holds that block and what operators.py binds in step.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any, TypeAlias

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    from autograd_lite.core.op import Op

__all__ = ["Parameter", "Value"]

Data = float | np.ndarray
Operand: TypeAlias = "Value | npt.ArrayLike"
"""What arithmetic takes besides a Value: numbers, arrays, nested lists of numbers."""
Axis: TypeAlias = "int | tuple[int, ...] | None"
NUMERIC = (int, float, np.number, np.bool_, np.ndarray)  # what == and != take elementwise


# ------------------------------------------------------------------------ coercion


def is_number(x: Any) -> bool:
    """True for a real number (Python or numpy scalar), False for arrays and the rest."""
    return isinstance(x, (int, float, np.integer, np.floating, np.bool_)) and not isinstance(
        x, np.ndarray
    )


def as_data(data: Any, dtype: Any = None, who: str = "Value()") -> Data:
    """User data as engine data: numbers become Python floats, the rest a float ndarray.

    Integer and boolean arrays become float64; float32/float16 keep their dtype; the
    array is always copied. Complex, string and object data are refused.
    """
    if isinstance(data, Value):
        raise TypeError(f"{who}: data is already a Value; use it directly or call .detach()")
    if dtype is not None:
        dt = np.dtype(dtype)
        if dt.kind != "f":
            raise TypeError(f"{who}: dtype must be a floating type, got {dt}")
        arr = _as_array(data, dt, who)
        return float(arr) if arr.ndim == 0 and dt == np.float64 and is_number(data) else arr
    if type(data) is float:
        return data
    if is_number(data):
        if isinstance(data, np.floating) and data.dtype != np.float64:
            return np.asarray(data)  # keep float32/float16 scalars in their dtype
        try:
            return float(data)
        except OverflowError:
            raise OverflowError(
                f"{who}: the integer {_short(data)} is too large for a float64 "
                "(at most about 1.8e308)"
            ) from None
    arr = _as_array(data, None, who)
    if arr.dtype.kind in "biu":
        arr = arr.astype(np.float64)
    return arr


def _short(x: Any) -> str:
    text = str(x)
    return text if len(text) <= 20 else f"{text[:8]}...{text[-4:]} ({len(text)} digits)"


def _as_array(data: Any, dtype: Any, who: str) -> np.ndarray:
    if isinstance(data, (str, bytes)) or data is None:
        raise TypeError(
            f"{who}: expected a number or an array of numbers, got {type(data).__name__}"
        )
    if isinstance(data, (list, tuple)) and any(isinstance(x, Value) for x in _flat(data)):
        raise TypeError(f"{who}: got a list of Values; use autograd_lite.stack(list) to join them")
    try:
        arr = np.array(data, dtype=dtype)  # always a copy: a Value never aliases the caller's array
    except ValueError as e:
        raise ValueError(
            f"{who}: cannot make an array from this {type(data).__name__} ({e}); "
            "nested lists must be rectangular (no ragged rows)"
        ) from None
    except (TypeError, OverflowError) as e:
        raise TypeError(f"{who}: expected real numbers, got {type(data).__name__} ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"{who}: expected real numbers, got an array of dtype {arr.dtype} "
            f"from {type(data).__name__}"
            + (" (complex numbers are not supported)" if arr.dtype.kind == "c" else "")
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


def constant(x: Any, who: str) -> Data:
    """A non-Value operand of op ``who`` as engine data (errors name the op)."""
    t = type(x)
    if t is float or (t is np.ndarray and x.dtype.kind == "f"):
        return x
    return as_data(x, who=f"{who}: bad operand")


def normalize(out: Any, who: str, scalar: bool = False) -> Data:
    """An operation's raw result as engine data: a Python float or a real float ndarray.

    A numpy float64 scalar becomes a Python float when the op's inputs were all scalars
    (``scalar``), and stays a 0-d tensor otherwise (a tensor reduction's result);
    integers become float64; booleans, complex numbers, strings and objects are refused
    with ``who`` named.
    """
    t = type(out)
    if t is float or (t is np.ndarray and out.dtype.kind == "f"):
        return out
    if t is int:
        return float(out)
    if scalar and t is np.float64:
        return float(out)
    if isinstance(out, (np.generic, np.ndarray)):
        arr = np.asarray(out)
        if arr.dtype.kind == "f":
            return arr
        if arr.dtype.kind in "iu":
            return arr.astype(np.float64)
        raise TypeError(f"{who} must return real floating data, got an array of dtype {arr.dtype}")
    raise TypeError(f"{who} must return a real number or a float ndarray, got {t.__name__}")


def shape_of(d: Any) -> tuple[int, ...]:
    """The shape of engine data (``()`` for a float)."""
    if type(d) is float:
        return ()
    if type(d) is np.ndarray:
        return d.shape
    return np.shape(d)


def raw(x: Any) -> Any:
    """The data of a Value, or the thing itself."""
    return x.data if isinstance(x, Value) else x


# --------------------------------------------------------------------------- Value


class Value:
    """A node of the graph: a Python float (scalar) or a numpy array (tensor), and its grad.

    ``Value(data, requires_grad=True, name=None, dtype=None)``. Numbers become Python
    floats; lists and arrays become float ndarrays (float32 stays float32; integers and
    booleans become float64; the array is copied). Leaves track gradients by default.
    Numbers and arrays mixed into an operation are constants.
    """

    # _op/_inputs/_ctx: the operation that made the node, its inputs and its static
    # parameters (None for a leaf). No closure over the node itself: a graph holds no
    # reference cycle and is freed by reference counting as soon as its output is
    # dropped. _notes: None, or the rarely-set facts (a name, an anomaly site, module
    # records) in one small Notes object: seven slots, 168 bytes per scalar op node
    # with its float and its inputs (tests/autograd_lite/test_value.py measures it).
    __slots__ = ("data", "grad", "requires_grad", "_op", "_inputs", "_ctx", "_notes")
    __array_ufunc__ = None  # so that `ndarray * Value` calls Value.__rmul__
    __hash__ = object.__hash__  # identity: a node is a dictionary key in graph walks

    data: Data
    grad: Any
    requires_grad: bool
    _op: Op | None
    _inputs: tuple[Any, ...] | None
    _ctx: tuple[Any, ...] | None
    _notes: Notes | None

    def __init__(
        self,
        data: Any,
        requires_grad: bool = True,
        name: str | None = None,
        dtype: Any = None,
        *,
        label: str | None = None,
    ) -> None:
        who = type(self).__name__ + "()"
        if isinstance(requires_grad, (tuple, list, set, frozenset)):
            raise TypeError(
                f"{who}: the second argument is requires_grad (a bool), but got a "
                f"{type(requires_grad).__name__}; micrograd passes its _children there. Here "
                "an operation records its inputs itself: compute with the Values (a + b, "
                "a.tanh(), ...) instead of building the node by hand, or declare a new "
                "operation with autograd_lite.defop or a Function"
            )
        if label is not None:  # micrograd's keyword for the name
            if name is not None and name != label:
                raise TypeError(f"{who}: got name={name!r} and label={label!r}; pass one")
            name = label
        self.data = as_data(data, dtype, who)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self._op = None
        self._inputs = None
        self._ctx = None
        self._notes = None if name is None else Notes(name)

    # ------------------------------------------------------------------ attributes
    @property
    def name(self) -> str | None:
        """The name given to this Value (shown in drawings and reprs), or None."""
        notes = self._notes
        return None if notes is None else notes.name

    @name.setter
    def name(self, name: str | None) -> None:
        old = self._notes
        self._notes = Notes(name) if old is None else Notes(name, old.site, old.calls)

    @property
    def _site(self) -> tuple[tuple[str, int, str], ...] | None:
        """The user frames that made this node, set only under detect_anomaly."""
        notes = self._notes
        if notes is None or notes.site is None:
            raise AttributeError("_site")  # unset, as a slot would be: read with getattr
        return notes.site

    @_site.setter
    def _site(self, site: tuple[tuple[str, int, str], ...] | None) -> None:
        old = self._notes
        self._notes = Notes(None, site) if old is None else Notes(old.name, site, old.calls)

    @property
    def _calls(self) -> tuple[Any, ...]:
        """The module calls that returned this node (autograd_lite.core.scope), if any."""
        notes = self._notes
        if notes is None or notes.calls is None:
            raise AttributeError("_calls")  # unset, as a slot would be: read with getattr
        return notes.calls

    @_calls.setter
    def _calls(self, calls: tuple[Any, ...]) -> None:
        old = self._notes
        self._notes = Notes(None, None, calls) if old is None else Notes(old.name, old.site, calls)

    @property
    def shape(self) -> tuple[int, ...]:
        d: Any = self.data
        return () if type(d) is float else d.shape

    @property
    def ndim(self) -> int:
        d: Any = self.data
        return 0 if type(d) is float else d.ndim

    @property
    def size(self) -> int:
        d: Any = self.data
        return 1 if type(d) is float else d.size

    @property
    def dtype(self) -> np.dtype:
        d: Any = self.data
        return np.dtype(np.float64) if type(d) is float else d.dtype

    @property
    def is_leaf(self) -> bool:
        """True for a Value you made yourself (or a constant); False for an op's result."""
        return self._op is None

    @property
    def op(self) -> str | None:
        """Name of the operation that made this Value, or None for a leaf."""
        return None if self._op is None else self._op.name

    @property
    def inputs(self) -> tuple:
        """The operation's inputs: Values and raw constants (empty for a leaf)."""
        return self._inputs or ()

    def item(self) -> float:
        """The value as a Python float (tensors must hold exactly one element)."""
        d: Any = self.data
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

    def requires_grad_(self, requires_grad: bool = True) -> Value:
        """Set ``requires_grad`` in place and return self (PyTorch's method; leaves only)."""
        if self._op is not None and bool(requires_grad) != self.requires_grad:
            raise ValueError(
                f"requires_grad_: this Value is the result of {self._op.name!r}, not a leaf; "
                "only a leaf's requires_grad can change (use .detach() for a constant copy)"
            )
        self.requires_grad = bool(requires_grad)
        return self

    def detach(self) -> Value:
        """A new leaf sharing this data, cut from the graph (``requires_grad=False``)."""
        return leaf(self.data, False, self.name)

    # ------------------------------------------------------------------ display
    def __repr__(self) -> str:
        d: Any = self.data
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
            parts.append(f"op={self._op.name!r}")
        if not self.requires_grad:
            parts.append("requires_grad=False")
        return f"{type(self).__name__}({', '.join(parts)})"

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
        d: Any = self.data
        return len(d)

    def __iter__(self) -> Iterator[Value]:
        for i in range(len(self)):
            yield self[i]

    # Comparisons are not differentiable: they return raw booleans (a bool or an ndarray).
    # == and != compare with numbers and arrays elementwise, as numpy and torch do (so
    # ``where(x != 0, ...)`` means what it says); a Value against a Value or anything else
    # is compared by identity (a node is a dictionary key in graph walks).
    def __eq__(self, other: object) -> Any:
        if isinstance(other, NUMERIC):
            return self.data == other
        return NotImplemented

    def __ne__(self, other: object) -> Any:
        if isinstance(other, NUMERIC):
            return self.data != other
        return NotImplemented

    def __lt__(self, other: Any) -> Any:
        return self.data < raw(other)

    def __le__(self, other: Any) -> Any:
        return self.data <= raw(other)

    def __gt__(self, other: Any) -> Any:
        return self.data > raw(other)

    def __ge__(self, other: Any) -> Any:
        return self.data >= raw(other)

    if TYPE_CHECKING:  # bound by autograd_lite.ops.operators (see the module docstring)

        def __add__(self, other: Operand) -> Value: ...
        def __radd__(self, other: Operand) -> Value: ...
        def __sub__(self, other: Operand) -> Value: ...
        def __rsub__(self, other: Operand) -> Value: ...
        def __mul__(self, other: Operand) -> Value: ...
        def __rmul__(self, other: Operand) -> Value: ...
        def __truediv__(self, other: Operand) -> Value: ...
        def __rtruediv__(self, other: Operand) -> Value: ...
        def __matmul__(self, other: Operand) -> Value: ...
        def __rmatmul__(self, other: Operand) -> Value: ...
        def __pow__(self, other: Operand) -> Value: ...
        def __rpow__(self, other: Operand) -> Value: ...
        def __neg__(self) -> Value: ...
        def __pos__(self) -> Value: ...
        def __abs__(self) -> Value: ...
        def __getitem__(self, index: Any) -> Value: ...
        def exp(self) -> Value: ...
        def log(self) -> Value: ...
        def sqrt(self) -> Value: ...
        def tanh(self) -> Value: ...
        def sigmoid(self) -> Value: ...
        def relu(self) -> Value: ...
        def abs(self) -> Value: ...
        def sin(self) -> Value: ...
        def cos(self) -> Value: ...
        def leaky_relu(self, negative_slope: float = 0.01) -> Value: ...
        def sum(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            *,
            dim: Axis = None,
            keepdim: bool | None = None,
        ) -> Value: ...
        def mean(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            *,
            dim: Axis = None,
            keepdim: bool | None = None,
        ) -> Value: ...
        def max(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            *,
            dim: Axis = None,
            keepdim: bool | None = None,
        ) -> Value: ...
        def min(
            self,
            axis: Axis = None,
            keepdims: bool = False,
            *,
            dim: Axis = None,
            keepdim: bool | None = None,
        ) -> Value: ...
        def logsumexp(
            self,
            axis: Axis = -1,
            keepdims: bool = False,
            *,
            dim: Axis = None,
            keepdim: bool | None = None,
        ) -> Value: ...
        def softmax(self, axis: int = -1, *, dim: int | None = None) -> Value: ...
        def log_softmax(self, axis: int = -1, *, dim: int | None = None) -> Value: ...
        def reshape(self, *shape: int | Sequence[int]) -> Value: ...
        def view(self, *shape: int | Sequence[int]) -> Value: ...
        def transpose(self, *axes: int | Sequence[int]) -> Value: ...
        @property
        def T(self) -> Value: ...
        def backward(self, gradient: Any = None, create_graph: bool = False) -> None: ...
        def _repr_mimebundle_(
            self, include: Any = None, exclude: Any = None, **_: Any
        ) -> dict[str, Any]: ...


class Notes:
    """A node's rarely-set facts, kept off the common node: its name, the user frames
    that made it (under detect_anomaly) and the module calls that returned it.

    Never changed once made (a setter makes a new one), so a shallow copy of a Value
    can be renamed without renaming the original, as when ``name`` was a slot."""

    __slots__ = ("calls", "name", "site")

    def __init__(
        self,
        name: str | None,
        site: tuple[tuple[str, int, str], ...] | None = None,
        calls: tuple[Any, ...] | None = None,
    ) -> None:
        self.name = name
        self.site = site
        self.calls = calls


class Parameter(Value):
    """A `Value` that is a trainable parameter of a model (``nn.Parameter``).

    Exactly a leaf Value that requires grad, marked as a parameter: modules register the
    Parameters assigned to them, and drawings show them as parameters.
    """

    __slots__ = ()


def leaf(data: Data, requires_grad: bool, name: str | None = None) -> Value:
    """A leaf Value around engine data as it is (no coercion, no copy)."""
    v = new_node(Value)
    v.data = data
    v.grad = None
    v.requires_grad = requires_grad
    v._op = v._inputs = v._ctx = None
    v._notes = None if name is None else Notes(name)
    return v


# Nodes are made with object.__new__ and their slots filled by hand, skipping __init__'s
# argument handling and coercion: about a third of the cost of recording a scalar op.
new_node = object.__new__
