"""Tracing: traced Values and the tracer.

While a compiled function traces, every Value it touches gets a traced class (a subclass
with the same empty slot layout) whose ``.data``/``.grad``, ``bool()``, ``float()``,
``.item()``, comparisons... refuse with a :class:`CompileError` naming the user's line,
unless the engine itself reads (:data:`~autograd_lite.compile.frames.ENGINE`). The
:class:`Tracer` records each op applied in its thread (called by ``op.record``) as an
:class:`Entry`.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_lite.compile.frames import (
    ENGINE,
    LIBRARY_CODE,
    CompileError,
    Site,
    describe_site,
    is_library,
    site_of,
    user_frame,
)
from autograd_lite.core.modes import state
from autograd_lite.core.op import Op, defop, record
from autograd_lite.core.value import NUMERIC, Value

__all__: list[str] = []  # package-internal

_DATA = Value.__dict__["data"]  # the slots' own descriptors, under the traced properties
_GRAD = Value.__dict__["grad"]
REQUIRES_GRAD = Value.__dict__["requires_grad"]
HIDDEN = "the value seen while tracing would be frozen into every later call"
_HINT = (
    "Express it with ops (relu, maximum, minimum, abs... choose without a Python branch), "
    "move it outside the compiled function, or call the function uncompiled"
)


def _refuse(what: str, why: str = HIDDEN, hint: str = _HINT, depth: int = 3) -> None:
    tracer = state.tracer
    site = site_of(user_frame(depth))
    error = CompileError(f"{what} at {describe_site(site)}\n{why}. {hint}.")
    if tracer is not None and tracer.error is None:
        tracer.error = error  # raised after the trace too, should the caller swallow it
    raise error


def _get_data(self: Value) -> Any:
    tracer = state.tracer
    if tracer is not None and not tracer.step.host_depth:  # (a replayed call's reads: free)
        caller = sys._getframe(1).f_globals.get("__name__")
        if caller not in ENGINE:
            if caller == "autograd_lite.core.backward":
                _refuse(
                    "grad() inside a compiled function",
                    "a plan replays ops and loss.backward(), not autograd_lite.grad",
                    "Call loss.backward() inside, or return the loss and call grad() outside",
                )
            found, value = tracer.step.read(tracer, self, "data")
            if found:
                return value
            if caller == "autograd_lite.transforms":
                _refuse(
                    "a transform (jvp, jacobian, hessian, hvp, vjp(create_graph=True)) inside a "
                    "compiled function",
                    "a transform runs its function again on data it reads, which a plan "
                    "cannot replay",
                    "Apply the transform to the compiled function instead: "
                    "ag.jacobian(ag.compile(f), x) replays f's plan in each pass",
                )
            who = "reading .data" if not is_library(caller) else f"{caller} reading .data"
            _refuse(f"{who} of a traced Value")
    return _DATA.__get__(self)


def _set_data(self: Value, value: Any) -> None:
    tracer = state.tracer
    if (
        tracer is not None
        and not tracer.step.host_depth
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
    ):
        if not tracer.step.write(tracer, self, "data", value):
            _refuse(
                "assigning .data of a traced Value",
                "the assignment would happen only once",
                "Update parameters after loss.backward() (p.data -= lr * p.grad), with a "
                "value computed by ops",
            )
        return  # written (by the step trace)
    _DATA.__set__(self, value)


def _get_grad(self: Value) -> Any:
    tracer = state.tracer
    if (
        tracer is not None
        and not tracer.step.host_depth
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
    ):
        found, value = tracer.step.read(tracer, self, "grad")
        if found:
            return value
        _refuse("reading .grad of a traced Value (before loss.backward(), or of a non-leaf)")
    return _GRAD.__get__(self)


def _set_grad(self: Value, value: Any) -> None:
    tracer = state.tracer
    if (
        tracer is not None
        and not tracer.step.host_depth
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
    ):
        if not tracer.step.write(tracer, self, "grad", value):
            _refuse("assigning .grad of a traced Value", "the assignment would happen only once")
        return  # written (by the step trace)
    _GRAD.__set__(self, value)


def _set_requires_grad(self: Value, value: bool) -> None:
    tracer = state.tracer
    if (
        tracer is not None
        and not tracer.step.host_depth
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
    ):
        _refuse(
            "assigning .requires_grad of a traced Value", "the assignment would happen only once"
        )
    REQUIRES_GRAD.__set__(self, value)


def _comparing(op: str, base: str) -> Callable:
    """``==``/``!=`` on a traced Value: by identity against a Value (static), refused
    against a number or an array (the answer would be frozen)."""
    refuse = _refusing(f"comparing a traced Value with {op}", base)

    def method(self: Value, other: object) -> Any:
        if isinstance(other, NUMERIC):
            return refuse(self, other)
        tracer = state.tracer
        if (
            tracer is not None
            and isinstance(other, Value)
            and (id(self) in tracer.raw_args or id(other) in tracer.raw_args)
        ):  # eagerly two numbers or arrays, compared by value
            return refuse(self, other)
        return NotImplemented

    return method


def _refusing(what: str, base: str) -> Callable:
    def method(self: Value, *args: Any) -> Any:
        if state.tracer is not None and not state.tracer.step.host_depth:
            _refuse(what)
        return getattr(untraced(type(self)), base)(self, *args)

    method.__name__ = base
    return method


# ``array * v``: numpy calls its ufunc when the operand defines __array_ufunc__ (a Value's
# is None, so numpy defers to v.__rmul__): the traced class does what that deferral did
_REFLECTED = {
    np.add: "__radd__",
    np.subtract: "__rsub__",
    np.multiply: "__rmul__",
    np.true_divide: "__rtruediv__",
    np.power: "__rpow__",
    np.matmul: "__rmatmul__",
}


def _traced_ufunc(self: Value, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
    """A numpy ufunc given a traced Value: ``array + v`` (``-``, ``*``, ``/``, ``**``,
    ``@``) is v's reflected operator, as eagerly. Any other use raises numpy's TypeError
    as a Value does eagerly, except after ``backward()``, where what the function reads
    (``p.grad``) and computes from it are arrays eagerly: ``np.sqrt(p.grad)`` is refused
    there with the line, instead of failing compiled only with numpy's message."""
    name = _REFLECTED.get(ufunc)
    if (
        name is not None
        and method == "__call__"
        and not kwargs
        and len(inputs) == 2
        and inputs[1] is self
        and not isinstance(inputs[0], Value)
    ):
        return getattr(self, name)(inputs[0])
    tracer = state.tracer
    if tracer is None or tracer.step.host_depth or tracer.step.backward_at is None:
        raise TypeError(
            f"operand '{untraced(type(self)).__name__}' does not support ufuncs "
            "(__array_ufunc__=None)"
        )
    _refuse(
        f"numpy's {getattr(ufunc, '__name__', 'ufunc')} of a traced Value",
        "while tracing every Value is traced, and so are p.grad and p.data read after "
        "backward() (stand-ins for the arrays they hold at each call)",
        "Use autograd_lite's ops on it instead (ag.sqrt(x), ag.exp(x), ag.maximum(x, y), "
        "x * x), or call the function uncompiled",
    )


_AUGMENTED = {"__add__": "+=", "__sub__": "-=", "__mul__": "*=", "__truediv__": "/="}


def _inplace_op(base: str) -> Callable:
    """``x -= y`` on a traced Value: ``x - y``, and (``StepTrace.inplace``) the array
    ``x`` stands for changed in place, as numpy's ``-=`` does."""

    def method(self: Value, other: Any) -> Any:
        tracer = state.tracer
        if tracer is not None and tracer.raw_args.get(id(self)) == "an array":
            _refuse(
                f"x {_AUGMENTED[base]} ... on an array argument x",
                "eagerly it changes the caller's array in place; a compiled call computes "
                "a new value and leaves the array as it was",
                "Write x = x + ... (a new value), or change the array outside the compiled "
                "function",
            )
        result = getattr(untraced(type(self)), base)(self, other)
        if tracer is not None and result is not NotImplemented:
            tracer.step.inplace(tracer, self, result)
        return result

    method.__name__ = base.replace("__", "__i", 1)
    return method


def _detach(self: Value) -> Value:
    """A constant sharing this data: recorded as an op while tracing, so replays follow."""
    if state.tracer is None:
        return Value.detach(self)
    return record(_DATA.__get__(self), _DETACH, (self,), False, (), ())


def _traced_repr(self: Value) -> str:
    d = _DATA.__get__(self)
    kind = "float" if type(d) is float else f"shape={d.shape}, dtype={d.dtype}"
    return f"Traced{type(self).__mro__[1].__name__}({kind})"


def _traced_format(self: Value, spec: str) -> str:
    return format(_traced_repr(self), "")


_DETACH = defop("detach", lambda x: x, lambda g, out, x: None, label="detach", register=False)

_TRACED_NAMESPACE: dict[str, Any] = {
    "data": property(_get_data, _set_data),
    "grad": property(_get_grad, _set_grad),
    "requires_grad": property(REQUIRES_GRAD.__get__, _set_requires_grad),  # read: the slot
    "item": _refusing("item() of a traced Value", "item"),
    "__float__": _refusing("float() of a traced Value", "__float__"),
    "__bool__": _refusing("bool() of a traced Value (a Python if/while/and/or on it)", "__bool__"),
    "numpy": _refusing("numpy() of a traced Value", "numpy"),
    "__lt__": _refusing("comparing a traced Value with <", "__lt__"),
    "__le__": _refusing("comparing a traced Value with <=", "__le__"),
    "__gt__": _refusing("comparing a traced Value with >", "__gt__"),
    "__ge__": _refusing("comparing a traced Value with >=", "__ge__"),
    "__eq__": _comparing("==", "__eq__"),
    "__ne__": _comparing("!=", "__ne__"),
    "__hash__": Value.__hash__,  # (a class defining __eq__ must say so again)
    "__int__": lambda self: _refuse("int() of a traced Value"),
    "__index__": lambda self: _refuse("using a traced Value as an integer (index, size, range)"),
    "__array__": lambda self, *a, **k: _refuse("converting a traced Value to a numpy array"),
    "__array_ufunc__": _traced_ufunc,
    "__setitem__": lambda self, *a: _refuse("item assignment into a traced Value"),
    "__iadd__": _inplace_op("__add__"),
    "__isub__": _inplace_op("__sub__"),
    "__imul__": _inplace_op("__mul__"),
    "__itruediv__": _inplace_op("__truediv__"),
    "copy": lambda self, *a, **k: _refuse(
        "copy() of a traced Value", "it is a Value while tracing", "Use p.grad * 1.0"
    ),
    "detach": _detach,
    "__repr__": _traced_repr,
    "__format__": _traced_format,
}
_TRACED: dict[type, type] = {}
_UNTRACED: dict[type, type] = {}


def _traced_class(cls: type) -> type:
    """``cls`` with guarded data access: a subclass with the same (empty) slot layout."""
    t = _TRACED.get(cls)
    if t is None:
        ns = dict(_TRACED_NAMESPACE, __slots__=(), __module__=cls.__module__)
        ns["__qualname__"] = cls.__qualname__
        t = type(cls.__name__, (cls,), ns)
        _TRACED[cls] = t
        _UNTRACED[t] = cls
    return t


def untraced(cls: type) -> type:
    return _UNTRACED.get(cls, cls)


def raw(v: Value) -> Any:
    """A Value's data without the traced property's check."""
    return _DATA.__get__(v)


# ----------------------------------------------------------------------------- tracer


class Entry:
    """One op applied while tracing: the node it made, the op, its inputs and parameters."""

    __slots__ = ("node", "op", "inputs", "params", "site")

    def __init__(self, node: Value, op: Op, inputs: tuple, params: tuple, site: Site | None):
        self.node, self.op, self.inputs, self.params, self.site = node, op, inputs, params, site


class Tracer:
    """Records each op applied in this thread (called by ``op.record``) and guards Values;
    ``step`` records the rest of a whole training step (see :class:`StepTrace`)."""

    def __init__(self, first: Any = None) -> None:
        self.tape: list[Entry] = []
        self.swapped: list[tuple[Value, type]] = []
        # the stand-ins of arguments that are numbers or arrays, not Values: id -> what
        self.raw_args: dict[int, str] = {}
        self.error: CompileError | None = None
        from autograd_lite.compile.steptrace import StepTrace  # late: it imports this

        self.step = StepTrace(first)

    def backward(self, root: Value, gradient: Any, create_graph: bool, run: Callable) -> None:
        """``root.backward()`` inside the function (called by ``core.backward.backward``)."""
        self.step.backward(self, root, gradient, create_graph, run)

    def host(self, fn: Callable, changes: str, args: tuple, kwargs: dict) -> Any:
        """A replayed library call (``core.modes.replayed``) inside the function."""
        return self.step.host(self, fn, changes, args, kwargs)

    def swap(self, v: Value) -> None:
        cls = type(v)
        if cls not in _UNTRACED:
            self.swapped.append((v, cls))
            v.__class__ = _traced_class(cls)

    def restore(self) -> None:
        for v, cls in reversed(self.swapped):
            v.__class__ = cls
        self.swapped.clear()

    def record(self, v: Value, op: Op, inputs: tuple, params: tuple) -> None:
        v.__class__ = _traced_class(type(v))
        for x in inputs:
            if isinstance(x, Value) and type(x) not in _UNTRACED:
                self.swap(x)
        codes = LIBRARY_CODE
        f: types.FrameType | None = sys._getframe(2)
        while f is not None:
            code = f.f_code
            lib = codes.get(code)
            if lib is None:
                lib = codes[code] = is_library(f.f_globals.get("__name__"))
            if not lib:
                break
            f = f.f_back
        site = None if f is None else (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
        self.tape.append(Entry(v, op, inputs, params, site))


refuse = _refuse  # (the public names the whole step's tracing uses: see steptrace)
DATA, GRAD = _DATA, _GRAD


def is_traced(v: Any) -> bool:
    """``v`` is a Value of the trace (a traced class)."""
    return type(v) in _UNTRACED
