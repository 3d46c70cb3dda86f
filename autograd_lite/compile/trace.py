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
from collections.abc import Callable, Iterator
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
from autograd_lite.core.value import Value, leaf

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
    if tracer is not None:
        caller = sys._getframe(1).f_globals.get("__name__")
        if caller not in ENGINE and not tracer.step.host_depth:
            if caller == "autograd_lite.core.backward":
                _refuse(
                    "grad() inside a compiled function",
                    "a plan replays ops and loss.backward(), not autograd_lite.grad",
                    "Call loss.backward() inside, or return the loss and call grad() outside",
                )
            found, value = tracer.step.read(tracer, self, "data")
            if found:
                return value
            who = "reading .data" if not is_library(caller) else f"{caller} reading .data"
            _refuse(f"{who} of a traced Value")
    return _DATA.__get__(self)


def _set_data(self: Value, value: Any) -> None:
    tracer = state.tracer
    if (
        tracer is not None
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
        and not tracer.step.host_depth
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
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
        and not tracer.step.host_depth
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
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
        and not tracer.step.host_depth
    ):
        if not tracer.step.write(tracer, self, "grad", value):
            _refuse("assigning .grad of a traced Value", "the assignment would happen only once")
        return  # written (by the step trace)
    _GRAD.__set__(self, value)


def _get_requires_grad(self: Value) -> bool:
    return REQUIRES_GRAD.__get__(self)


def _set_requires_grad(self: Value, value: bool) -> None:
    tracer = state.tracer
    if (
        tracer is not None
        and sys._getframe(1).f_globals.get("__name__") not in ENGINE
        and not tracer.step.host_depth
    ):
        _refuse(
            "assigning .requires_grad of a traced Value", "the assignment would happen only once"
        )
    REQUIRES_GRAD.__set__(self, value)


def _refusing(what: str, base: str) -> Callable:
    def method(self: Value, *args: Any) -> Any:
        if state.tracer is not None and not state.tracer.step.host_depth:
            _refuse(what)
        return getattr(untraced(type(self)), base)(self, *args)

    method.__name__ = base
    return method


def _inplace_op(base: str) -> Callable:
    """``x -= y`` on a traced Value: ``x - y``, and (``StepTrace.inplace``) the array
    ``x`` stands for changed in place, as numpy's ``-=`` does."""

    def method(self: Value, other: Any) -> Any:
        result = getattr(untraced(type(self)), base)(self, other)
        tracer = state.tracer
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
    "requires_grad": property(_get_requires_grad, _set_requires_grad),
    "item": _refusing("item() of a traced Value", "item"),
    "__float__": _refusing("float() of a traced Value", "__float__"),
    "__bool__": _refusing("bool() of a traced Value (a Python if/while/and/or on it)", "__bool__"),
    "numpy": _refusing("numpy() of a traced Value", "numpy"),
    "__lt__": _refusing("comparing a traced Value with <", "__lt__"),
    "__le__": _refusing("comparing a traced Value with <=", "__le__"),
    "__gt__": _refusing("comparing a traced Value with >", "__gt__"),
    "__ge__": _refusing("comparing a traced Value with >=", "__ge__"),
    "__int__": lambda self: _refuse("int() of a traced Value"),
    "__index__": lambda self: _refuse("using a traced Value as an integer (index, size, range)"),
    "__array__": lambda self, *a, **k: _refuse("converting a traced Value to a numpy array"),
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

    def __init__(self, first: StepTrace | None = None) -> None:
        self.tape: list[Entry] = []
        self.swapped: list[tuple[Value, type]] = []
        self.error: CompileError | None = None
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


# ------------------------------------------------------------------ the whole step


class Host:
    """A replayed library call (``opt.step()``, ``zero_grad``, clipping, a schedule), run
    while tracing and again with the same arguments at every replay."""

    __slots__ = ("fn", "changes", "args", "kwargs", "site", "at", "result")

    def __init__(self, fn: Callable, changes: str, args: tuple, kwargs: dict, site: Site | None):
        self.fn, self.changes, self.args, self.kwargs, self.site = fn, changes, args, kwargs, site
        self.at = 0  # the tape's length when it was called
        self.result: Any = None

    def __call__(self) -> Any:
        return self.fn(*self.args, **self.kwargs)


class Read:
    """``p.data``/``p.grad`` of a leaf read after ``backward()``: a stand-in Value (or None)
    for what it holds then (``live``), read live at every replay; ``attr`` "result": what
    :class:`Host` ``target`` returned; "item": a hyper-parameter, ``target`` (group, key)."""

    __slots__ = ("value", "target", "attr", "live")

    def __init__(self, value: Value | None, target: Any, attr: str, live: Any = None) -> None:
        self.value, self.target, self.attr, self.live = value, target, attr, live


class Write:
    """``p.data = v`` or ``p.grad = v`` of a leaf: ``value`` a traced Value or a constant
    (None or a number, for a gradient), written at every replay: by assignment, as
    eagerly (the attribute then refers to that array), or ``inplace`` into the array it
    holds (``p.data -= x``, ``g = p.grad; g *= 0.5`` on an array)."""

    __slots__ = ("target", "attr", "value", "site", "inplace")

    def __init__(
        self, target: Value, attr: str, value: Any, site: Site | None, inplace: bool = False
    ) -> None:
        self.target, self.attr, self.value, self.site = target, attr, value, site
        self.inplace = inplace


_CONSTANT_GRADS = (type(None), int, float)


class StepTrace:
    """What a trace of a whole training step records besides ops: where ``backward()`` was
    called, and after it (or before, for gradients reset), in order, the replayed library
    calls (:class:`Host`), the reads and the writes of leaves' ``.data``/``.grad``.

    With ``first`` (the trace again on the first replay, or to find a line), nothing is
    run or written: calls return what they returned the first time, reads stand for the
    first trace's values, so the function's ops and constants can be compared.
    """

    def __init__(self, first: StepTrace | None = None) -> None:
        self.first = first
        self.host_depth = 0  # inside a replayed call or the engine's backward: no checks
        self.backward_at: int | None = None  # the tape's length at backward()
        self.root: Value | None = None
        self.site: Site | None = None
        self.events: list[Host | Read | Write] = []  # after backward(), in order
        self.before: list[Host | Write] = []  # before backward(): replayed before the ops
        self.current: dict[tuple[int, str], Read | Write] = {}
        self.snapshot: dict[int, Any] = {}  # inputs' data at backward(), before any update
        self.noted: list[tuple[Any, Any, Any]] = []  # (container, key, value) read: guarded
        # a stand-in changed in place: (the tape's length then, where), by id
        self.mutated: dict[int, tuple[int, Site | None]] = {}
        self.initial_grads: dict[int, bool] = {}  # .grad is None at the trace's start, by id
        self._reads = 0

    def note(self, tracer: Tracer, container: Any, key: Any, value: Any) -> Any:
        """``container[key]`` read by the function's own code (see ``core.modes.noted``):
        guarded, or after backward() a number read live (a stand-in Value)."""
        if self.host_depth:
            return value
        if self.backward_at is None or not isinstance(value, (float, np.floating)):
            self.noted.append((container, key, value))
            return value
        stand_in = leaf(float(value), False)
        tracer.swap(stand_in)
        self.events.append(Read(stand_in, (container, key), "item"))
        return stand_in

    def refuse_assignment(self, container: Any, key: Any) -> None:
        _refuse(
            f"assigning {type(container).__name__}[{key!r}] inside a compiled function",
            "the assignment would happen only once",
            "Set it outside the compiled function (the optimizer reads it live)",
            depth=4,
        )

    @property
    def active(self) -> bool:
        return self.backward_at is not None or bool(self.before)

    def stand_ins(self) -> list[Value]:
        """The Values standing for what was read after backward() (see :class:`Read`)."""
        return [r.value for r in self.events if isinstance(r, Read) and r.value is not None]

    def values(self) -> list[Value]:
        """The Values it refers to (each once per reference it holds)."""
        got = [] if self.root is None else [self.root]
        for x in (*self.before, *self.events):
            if isinstance(x, (Read, Write)):
                got.append(x.target)  # (a Host, for a call's result: counted, never checked)
                if isinstance(x.value, Value):
                    got.append(x.value)
        return got

    def backward(
        self, tracer: Tracer, root: Value, gradient: Any, create_graph: bool, run: Callable
    ) -> None:
        if self.backward_at is not None:
            _refuse(
                "a second backward() inside a compiled function",
                "a compiled step takes one backward()",
                "Sum the losses and call backward() once",
                depth=4,
            )
        if create_graph or gradient is not None:
            _refuse(
                "backward(gradient or create_graph) inside a compiled function",
                "a compiled step takes loss.backward() of a one-element loss",
                "Call loss.backward() with no arguments, or take higher-order gradients outside",
                depth=4,
            )
        if not any(e.node is root for e in tracer.tape):
            _refuse(
                "backward() of a Value not computed inside the compiled function",
                "only the function's own ops are replayed",
                "Compute the loss inside the compiled function",
                depth=4,
            )
        self.backward_at = len(tracer.tape)
        self.root = root
        self.site = site_of(user_frame(3))
        if self.first is not None:
            return
        produced = {id(e.node) for e in tracer.tape}
        for e in tracer.tape:
            for x in e.inputs:
                if isinstance(x, Value) and id(x) not in produced and id(x) not in self.snapshot:
                    d = _DATA.__get__(x)
                    self.snapshot[id(x)] = d.copy() if type(d) is not float else d
            d = _DATA.__get__(e.node)
            if type(d) is np.ndarray and d.base is not None:  # a view (w.T) of what may change
                self.snapshot[id(e.node)] = d.copy()
        self.host_depth += 1
        try:
            run()
        finally:
            self.host_depth -= 1

    def host(self, tracer: Tracer, fn: Callable, changes: str, args: tuple, kwargs: dict) -> Any:
        if self.host_depth:  # called by another replayed call: part of it
            return fn(*args, **kwargs)
        produced = {id(e.node) for e in tracer.tape}
        args = tuple(_fixed(a, produced, fn) for a in args)
        kwargs = {k: _fixed(a, produced, fn) for k, a in kwargs.items()}
        h = Host(fn, changes, args, kwargs, site_of(user_frame(3)))
        h.at = len(tracer.tape)
        if self.backward_at is None:
            if changes == "data" and tracer.tape:
                _refuse(
                    f"{fn.__qualname__}() between the ops and loss.backward() of a compiled "
                    "function",
                    "the ops read the parameters once, before it",
                    "Call it after loss.backward() (or before the first op)",
                    depth=4,
                )
            self.before.append(h)
        else:
            self.events.append(h)
            self.current.clear()  # it may change any .data or .grad: read them again
        if self.first is not None:
            hosts = [x for x in (*self.first.before, *self.first.events) if isinstance(x, Host)]
            mine = sum(isinstance(x, Host) for x in (*self.before, *self.events)) - 1
            h.result = hosts[mine].result if mine < len(hosts) else None
        else:
            self.host_depth += 1
            try:
                h.result = fn(*args, **kwargs)
            finally:
                self.host_depth -= 1
        result = h.result
        if self.backward_at is not None and isinstance(result, (float, np.floating)):
            # a number it returns (clip_grad_norm_'s norm) stands for what it returns at
            # each replay: an op on it is replayed with the new number
            value = leaf(float(result), False)
            tracer.swap(value)
            self.events.append(Read(value, h, "result"))
            return value
        return result

    def read(self, tracer: Tracer, v: Value, attr: str) -> tuple[bool, Any]:
        """(True, the stand-in) for ``v.data``/``v.grad`` of a leaf after backward()."""
        if self.backward_at is None or v._op is not None:
            return False, None
        now = self.current.get((id(v), attr))
        if now is not None:
            return True, now.value
        if self.first is not None:  # the first trace's value, in the same order
            reads = [r for r in self.first.events if isinstance(r, Read) and r.attr != "result"]
            old = reads[self._reads].value if self._reads < len(reads) else None
            data = None if old is None else _DATA.__get__(old)
        else:
            data = _DATA.__get__(v) if attr == "data" else _GRAD.__get__(v)
        live = data
        self._reads += 1
        if data is None:
            value = None
        else:
            # as it is now (a copy: a replayed call may change it in place)
            data = data.copy() if type(data) is np.ndarray else float(data)
            value = leaf(data, False)
            tracer.swap(value)
        r = Read(value, v, attr, live)
        self.events.append(r)
        self.current[(id(v), attr)] = r
        return True, value

    def inplace(self, tracer: Tracer, value: Value, result: Value) -> None:
        """``value -= x`` (``+=``, ``*=``, ``/=``) gave ``result``: where ``value`` is what
        a leaf's ``.data``/``.grad`` array holds now, the array changes in place (as numpy
        does): recorded as an in-place write; ``value`` may not be used after it."""
        if self.backward_at is None:
            return
        now = next(
            (k for k, x in self.current.items() if x.value is value and x.attr != "item"), None
        )
        if now is None:
            return
        was = self.current[now]
        data = _DATA.__get__(value)
        if type(data) is not np.ndarray:  # a float: immutable, so ``-=`` assigns anew
            return
        w = Write(was.target, was.attr, result, site_of(user_frame(3)), inplace=True)
        self.events.append(w)
        self.current[now] = w
        self.mutated[id(value)] = (len(tracer.tape), w.site)
        if self.first is None:
            apply_write(w.target, w.attr, _DATA.__get__(result), True)

    def write(self, tracer: Tracer, v: Value, attr: str, value: Any) -> bool:
        """Record ``v.data = value`` (``v.grad = value``); False where it cannot be replayed."""
        if v._op is not None:
            return False
        traced = isinstance(value, Value) and type(value) in _UNTRACED
        if self.backward_at is None:  # p.grad = None before the ops: reset first
            if attr != "grad" or type(value) not in _CONSTANT_GRADS:
                return False
            w = Write(v, attr, value, site_of(user_frame(3)))
            self.before.append(w)
        else:
            now = self.current.get((id(v), attr))
            if traced and now is not None and now.value is value:
                return True  # p.data = p.data (the end of p.data -= x): nothing new
            if traced:
                made = next((i for i, e in enumerate(tracer.tape) if e.node is value), None)
                if made is not None and made < self.backward_at:
                    return False  # a result of the forward: not an update
            elif attr != "grad" or type(value) not in _CONSTANT_GRADS:
                return False
            w = Write(v, attr, value, site_of(user_frame(3)))
            self.events.append(w)
            self.current[(id(v), attr)] = w
        if self.first is None:
            if traced:  # a stand-in assigned: the array it stands for, as eagerly
                read = next(
                    (r for r in self.events if isinstance(r, Read) and r.value is value), None
                )
                data = read.live if read is not None else _DATA.__get__(value)
            else:
                data = value
            apply_write(v, attr, data, False)
        return True


def apply_write(v: Value, attr: str, data: Any, inplace: bool) -> None:
    """``v.data = data`` (``v.grad``): ``inplace`` into the array it holds, with numpy's
    casting (as ``p.data -= x``), else by assignment."""
    descriptor = _DATA if attr == "data" else _GRAD
    if inplace:
        np.copyto(descriptor.__get__(v), data, casting="same_kind")
    else:
        descriptor.__set__(v, data)


def _fixed(a: Any, produced: set[int], fn: Callable) -> Any:
    """A replayed call's argument, as it will be passed again: an iterator (such as
    ``model.parameters()``) as the tuple it gave; never a Value the trace computed."""
    if isinstance(a, Value):
        if id(a) in produced:
            _refuse(
                f"passing a Value computed inside the compiled function to {fn.__qualname__}()",
                "the call is replayed with the same arguments",
                "Pass parameters (leaves) only",
                depth=5,
            )
        return a
    if isinstance(a, Iterator):
        return tuple(_fixed(x, produced, fn) for x in a)
    if isinstance(a, (list, tuple)):
        for x in a:
            _fixed(x, produced, fn)
    return a
