"""``compile(fn)``: trace a function once per signature, then replay its ops as a fixed plan.

The first call with a given signature (which arguments are Values, numbers or arrays, their
shapes, dtypes and ``requires_grad``, the nesting of lists and tuples, the values of the
static arguments, the grad mode) runs ``fn`` while recording every op it applies (a
*trace*). The trace becomes a :class:`Plan`: the forward as a flat sequence of the op
table's own forwards, the backward of each output as the flat sequence of their VJPs in
the order the engine's backward walk would visit them, both turned into straight-line
Python (op forwards and VJPs bound in the generated module's namespace; the common
scalar ops inlined from fixed templates, so micrograd-style graphs run as plain float
arithmetic). Later calls with the same signature replay the plan on the new data, and
return Values made by **one node each**, whose op replays the forward and whose VJP
replays the backward, so ``loss.backward()``, optimizers, ``no_grad``, anomaly mode and
drawings work as with eager code.

Never a silently wrong answer: anything a replay could not reproduce is refused while
tracing with a :class:`CompileError` that names the user's line — ``bool()``,
``float()``, ``.item()``, comparisons, reading ``.data``/``.grad``/``.numpy()`` of a
traced Value, ``backward()`` inside the function, randomness drawn from numpy's or
Python's global generator (or from a Generator reachable from the function) outside an
op, keeping a reference to a traced Value, ops whose replay differs from the trace,
a second trace (on the first replay) whose ops or constants differ from the first
(randomness or a clock the trace cannot see), more reachable objects than can be guarded.
Everything the function can reach is guarded (see :class:`_Scan`): change it and the
next call traces again (with a warning past ``max_retraces``); at most ``max_plans``
plans are kept, the least recently used dropped first.

No user text ever reaches ``exec``: the generated code is made of fixed templates,
generated variable names and numeric literals (``repr`` of finite floats, checked);
everything else (op functions, constants, parameters) is bound in its namespace.
"""

from __future__ import annotations

import builtins
import functools
import linecache
import math
import operator
import random
import re
import sys
import types
import warnings
from collections import Counter, OrderedDict
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from autograd_lite import modes
from autograd_lite import primitives as prim
from autograd_lite.backward import broadcast_axes, sum_to
from autograd_lite.backward import grad as _engine_grad
from autograd_lite.function import Context, Function
from autograd_lite.modes import is_finite, open_blocks, state
from autograd_lite.op import Op, apply, defop, op_error, record
from autograd_lite.value import Value, as_data, leaf, normalize

__all__ = ["CompileError", "CompiledFunction", "Plan", "compile"]

DEFAULT_MAX_RETRACES = 8
"""Signatures a compiled function traces before it warns (as torch.compile's recompile limit)."""

DEFAULT_MAX_PLANS = 64
"""Plans a compiled function keeps; past it the least recently used one is dropped."""

_MAX_VARIANTS = 8  # plans kept per signature, each for another state of the guarded values


class CompileError(RuntimeError):
    """Something a compiled plan could not replay faithfully; the message names your line."""


# ---------------------------------------------------------------- library and user frames

_LIBRARY = ("autograd_lite", "nn")
_ENGINE = frozenset(
    {
        "autograd_lite.op",  # apply/record/vjp: what they read is replayed by the plan
        "autograd_lite.value",  # shape, dtype, size, ndim, repr
        "autograd_lite.function",  # Function.apply: replayed with a fresh Context
        "autograd_lite.compile",
        "autograd_lite.compile.api",
        "autograd_lite.modes",  # anomaly checks
    }
)
_is_library_cache: dict[str, bool] = {}
_LIBRARY_CODE: dict[types.CodeType, bool] = {}


def _is_library(module: Any) -> bool:
    hit = _is_library_cache.get(module)
    if hit is None:
        hit = isinstance(module, str) and module.split(".", 1)[0] in _LIBRARY
        _is_library_cache[module] = hit
    return hit


def _user_frame(depth: int = 2) -> types.FrameType | None:
    """The innermost frame outside autograd_lite and nn, from ``depth`` frames up."""
    f: types.FrameType | None = sys._getframe(depth)
    while f is not None and _is_library(f.f_globals.get("__name__")):
        f = f.f_back
    return f


Site = tuple[str, int, str]


def _site_of(f: types.FrameType | None) -> Site | None:
    return None if f is None else (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def _describe_site(site: Site | None) -> str:
    if site is None:
        return "an unknown line"
    file, line, _ = site
    src = linecache.getline(file, line).strip()
    return f"{file}:{line}" + (f": {src}" if src else "")


# ------------------------------------------------------------------------ traced Values

_DATA = Value.__dict__["data"]  # the slots' own descriptors, under the traced properties
_GRAD = Value.__dict__["grad"]
_REQUIRES_GRAD = Value.__dict__["requires_grad"]
_HIDDEN = "the value seen while tracing would be frozen into every later call"
_HINT = (
    "Express it with ops (relu, maximum, minimum, abs... choose without a Python branch), "
    "move it outside the compiled function, or call the function uncompiled"
)


def _refuse(what: str, why: str = _HIDDEN, hint: str = _HINT, depth: int = 3) -> None:
    tracer = state.tracer
    site = _site_of(_user_frame(depth))
    error = CompileError(f"{what} at {_describe_site(site)}\n{why}. {hint}.")
    if tracer is not None and tracer.error is None:
        tracer.error = error  # raised after the trace too, should the caller swallow it
    raise error


def _get_data(self: Value) -> Any:
    if state.tracer is not None:
        caller = sys._getframe(1).f_globals.get("__name__")
        if caller not in _ENGINE:
            if caller == "autograd_lite.backward":
                _refuse(
                    "backward()/grad() inside a compiled function",
                    "a plan replays the forward only; gradients are taken from its result",
                    "Return the loss and call loss.backward() on the compiled function's result",
                )
            who = "reading .data" if not _is_library(caller) else f"{caller} reading .data"
            _refuse(f"{who} of a traced Value")
    return _DATA.__get__(self)


def _set_data(self: Value, value: Any) -> None:
    if state.tracer is not None and sys._getframe(1).f_globals.get("__name__") not in _ENGINE:
        _refuse("assigning .data of a traced Value", "the assignment would happen only once")
    _DATA.__set__(self, value)


def _get_grad(self: Value) -> Any:
    if state.tracer is not None and sys._getframe(1).f_globals.get("__name__") not in _ENGINE:
        _refuse("reading .grad of a traced Value")
    return _GRAD.__get__(self)


def _set_grad(self: Value, value: Any) -> None:
    if state.tracer is not None and sys._getframe(1).f_globals.get("__name__") not in _ENGINE:
        _refuse("assigning .grad of a traced Value", "the assignment would happen only once")
    _GRAD.__set__(self, value)


def _get_requires_grad(self: Value) -> bool:
    return _REQUIRES_GRAD.__get__(self)


def _set_requires_grad(self: Value, value: bool) -> None:
    if state.tracer is not None and sys._getframe(1).f_globals.get("__name__") not in _ENGINE:
        _refuse(
            "assigning .requires_grad of a traced Value", "the assignment would happen only once"
        )
    _REQUIRES_GRAD.__set__(self, value)


def _refusing(what: str, base: str) -> Callable:
    def method(self: Value, *args: Any) -> Any:
        if state.tracer is not None:
            _refuse(what)
        return getattr(_untraced(type(self)), base)(self, *args)

    method.__name__ = base
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


def _untraced(cls: type) -> type:
    return _UNTRACED.get(cls, cls)


def _raw(v: Value) -> Any:
    """A Value's data without the traced property's check."""
    return _DATA.__get__(v)


# ----------------------------------------------------------------------------- tracer


class _Entry:
    """One op applied while tracing: the node it made, the op, its inputs and parameters."""

    __slots__ = ("node", "op", "inputs", "params", "site")

    def __init__(self, node: Value, op: Op, inputs: tuple, params: tuple, site: Site | None):
        self.node, self.op, self.inputs, self.params, self.site = node, op, inputs, params, site


class _Tracer:
    """Records each op applied in this thread (called by ``op.record``) and guards Values."""

    def __init__(self) -> None:
        self.tape: list[_Entry] = []
        self.swapped: list[tuple[Value, type]] = []
        self.error: CompileError | None = None

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
        codes = _LIBRARY_CODE
        f = sys._getframe(2)
        while f is not None:
            code = f.f_code
            lib = codes.get(code)
            if lib is None:
                lib = codes[code] = _is_library(f.f_globals.get("__name__"))
            if not lib:
                break
            f = f.f_back
        site = None if f is None else (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)
        self.tape.append(_Entry(v, op, inputs, params, site))


# ------------------------------------------------------ what the function can see (guards)

_SCALARS = (bool, int, float, str, bytes, complex, type(None))
_SKIP = (types.BuiltinFunctionType, np.ndarray, np.dtype, np.generic, CompileError)
_MAX_SCAN = 100_000
_FOREIGN = ("numpy", "builtins", *_LIBRARY, *getattr(sys, "stdlib_module_names", ()))


def _foreign(module: Any) -> bool:
    """Code whose state is no input of a user's function: numpy, the standard library and
    this library (their attributes are guarded by identity, not walked)."""
    return not isinstance(module, str) or module.split(".", 1)[0] in _FOREIGN


class _Scan:
    """Values, Generators and guards found from a function's closure, globals and ``self``.

    Everything the function can reach is guarded, so "unchanged" is checked, never
    assumed: every list, set, dict, object ``__dict__``, ``__slots__`` object and user
    class ``__dict__`` reached is snapshot (its keys and values, compared by identity at
    each call; an equal number or string counts as the same); the globals the function
    names, the attributes of the modules it names (by the names in its bytecode), its
    closure cells, ``__defaults__``, ``__kwdefaults__`` and ``__code__`` one by one. There
    is no depth limit; a walk past ``_MAX_SCAN`` objects is refused (``too_big``).
    """

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.generators: list[Any] = []
        self.snapshots: list[list[Any]] = []  # [container, keys (dicts) or None, values]
        self.guards: list[tuple[dict, str, Any]] = []  # globals: (dict, name, value)
        self.attrs: list[tuple[Any, str, Any]] = []  # slots, defaults: (obj, name, value)
        self.cells: list[tuple[Any, Any]] = []
        self.too_big: str | None = None  # where the walk ran out of budget
        self._seen: set[int] = set()
        self._classes: set[type] = set()
        self._stack: list[tuple[Any, str]] = []
        self._root = "the function"

    def add(self, obj: Any, root: str | None = None) -> None:
        self._stack.append((obj, root or self._root))

    def run(self) -> None:
        stack, seen = self._stack, self._seen
        while stack:
            obj, root = stack.pop()
            if id(obj) in seen or isinstance(obj, _SCALARS):
                continue
            if len(seen) >= _MAX_SCAN:
                self.too_big = root
                return
            seen.add(id(obj))
            if isinstance(obj, Value):
                self.values.append(obj)
            elif isinstance(obj, (np.random.Generator, np.random.RandomState)):
                self.generators.append(obj)
            elif isinstance(obj, _SKIP):
                continue
            elif isinstance(obj, (list, set)):
                self.snapshots.append([obj, None, tuple(obj)])
                stack.extend((x, root) for x in obj)
            elif isinstance(obj, (tuple, frozenset)):
                stack.extend((x, root) for x in obj)
            elif isinstance(obj, dict):
                self.snapshots.append([obj, tuple(obj), tuple(obj.values())])
                stack.extend((x, root) for x in obj.values())
            elif isinstance(obj, type):
                self.cls(obj, root)
            elif isinstance(obj, types.ModuleType):
                continue  # its attributes are guarded by name (see function)
            elif isinstance(obj, types.FunctionType):
                if not _is_library(obj.__module__):  # the library's own state is no input
                    self.function(obj, root)
            elif isinstance(obj, CompiledFunction):  # its function, not its plans/counters
                stack.append((obj.fn, root))
            elif isinstance(obj, types.MethodType):
                stack.append((obj.__self__, root))
                stack.append((obj.__func__, root))
            elif isinstance(obj, property):  # what its getter reads
                stack.extend((f, root) for f in (obj.fget, obj.fset) if f is not None)
            elif isinstance(obj, (staticmethod, classmethod)):
                stack.append((obj.__func__, root))
            elif isinstance(obj, functools.partial):
                stack.extend((x, root) for x in (obj.func, *obj.args, *obj.keywords.values()))
            else:
                self.cls(type(obj), root)
                attrs = getattr(obj, "__dict__", None)
                if type(attrs) is dict and id(attrs) not in seen:
                    seen.add(id(attrs))
                    self.snapshots.append([attrs, tuple(attrs), tuple(attrs.values())])
                    stack.extend((x, root) for x in attrs.values())
                # the slots of user classes (the library's own, e.g. a MaskBox holding the
                # last dropout mask, are its scratch state, rewritten by its ops)
                for name in () if _foreign(type(obj).__module__) else _slot_names(type(obj)):
                    value = getattr(obj, name, _MISSING)
                    self.attrs.append((obj, name, value))
                    stack.append((value, root))

    def cls(self, cls: type, root: str) -> None:
        """A user class and its bases: their ``__dict__`` (class attributes) guarded."""
        for c in cls.__mro__:
            if c in self._classes or _foreign(c.__module__):
                continue
            self._classes.add(c)
            d = c.__dict__  # a live view: later changes show in it
            self.snapshots.append([d, tuple(d), tuple(d.values())])
            self._stack.extend(
                (x, root)
                for k, x in d.items()
                if not (k.startswith("__") and k.endswith("__")) or k in _READ_HOOKS
            )

    def function(self, fn: types.FunctionType, root: str | None = None) -> None:
        for name in ("__defaults__", "__kwdefaults__", "__code__"):
            self.attrs.append((fn, name, getattr(fn, name)))
        for cell in fn.__closure__ or ():
            try:
                contents = cell.cell_contents
            except ValueError:  # an empty cell (a name assigned later)
                continue
            self.cells.append((cell, contents))
            self.add(contents, root or f"a variable of {fn.__qualname__}")
        for x in (*(fn.__defaults__ or ()), *(fn.__kwdefaults__ or {}).values()):
            self.add(x, root or f"a default of {fn.__qualname__}")
        g = fn.__globals__
        names = set(_names(fn.__code__))
        for name in names:
            if name in g:
                value = g[name]
                self.guards.append((g, name, value))
                if isinstance(value, types.ModuleType):
                    self.module(value, names, root or f"the global {name!r}")
                else:
                    self.add(value, root or f"the global {name!r}")

    def module(self, mod: types.ModuleType, names: set[str], root: str) -> None:
        """The attributes of ``mod`` the code may read (any of its bytecode's names), each
        guarded; walked unless the module is numpy's, the standard library's or ours."""
        if id(mod) in self._seen:
            return
        self._seen.add(id(mod))
        d = mod.__dict__
        walk = not _foreign(mod.__name__)
        for name in names:
            if name in d:
                value = d[name]
                self.guards.append((d, name, value))
                if isinstance(value, types.ModuleType):
                    self.module(value, names, root)
                elif walk:
                    self.add(value, root)

    def hold(self) -> bool:
        """True while every guarded container, cell and global is as traced."""
        for snap in self.snapshots:
            c = snap[0]
            keys = snap[1]
            now = tuple(c.values()) if keys is not None else tuple(c)
            old = snap[2]
            if len(now) != len(old) or not all(map(operator.is_, now, old)):
                if keys is not None and tuple(c) != keys:
                    return False
                if len(now) != len(old) or not all(map(_same_value, now, old)):
                    return False
                snap[2] = now  # equal numbers or strings: the next check is by identity
            elif keys is not None and tuple(c) != keys:  # keys swapped, values in place
                return False
        for g, name, expected in self.guards:
            now = g.get(name, _MISSING)
            if now is not expected and not _same_scalar(now, expected):
                return False
        for obj, name, expected in self.attrs:
            now = getattr(obj, name, _MISSING)
            if now is not expected and not _same_scalar(now, expected):
                return False
        for cell, expected in self.cells:
            try:
                now = cell.cell_contents
            except ValueError:
                return False
            if now is not expected and not _same_scalar(now, expected):
                return False
        return True

    def changed(self) -> str:
        """What no longer holds, in words (for the retrace warning)."""
        for c, keys, old in self.snapshots:
            if keys is not None:
                for k, v in zip(keys, old):
                    now = c.get(k, _MISSING)
                    if not _same_value(now, v):
                        return f"{k!r} changed from {_short(v)} to {_short(now)}"
                if tuple(c) != keys:
                    return "an attribute or key was added, removed or reordered"
            elif len(c) != len(old) or not all(map(_same_value, c, old)):
                return f"a {type(c).__name__} the function can see changed"
        for g, name, expected in self.guards:
            if not _same_value(g.get(name, _MISSING), expected):
                return f"the global {name!r} changed from {_short(expected)}"
        for obj, name, expected in self.attrs:
            if not _same_value(getattr(obj, name, _MISSING), expected):
                return f"the attribute {name!r} changed from {_short(expected)}"
        return "a captured variable changed"


_READ_HOOKS = frozenset({"__call__", "__getattr__", "__getattribute__", "__get__", "__getitem__"})


def _slot_names(cls: type) -> list[str]:
    names = []
    for c in cls.__mro__:
        slots = c.__dict__.get("__slots__", ())
        for name in (slots,) if isinstance(slots, str) else slots:
            if name not in ("__dict__", "__weakref__"):
                names.append(name)
    return names


_MISSING = object()


def _same_value(a: Any, b: Any) -> bool:
    return a is b or _same_scalar(a, b)


def _names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _names(c)


def _same_scalar(a: Any, b: Any) -> bool:
    return type(a) is type(b) and isinstance(a, _SCALARS) and a == b


def _short(x: Any) -> str:
    text = repr(x) if isinstance(x, _SCALARS) else f"a {type(x).__name__}"
    return text if len(text) < 60 else text[:57] + "..."


def _rng_state(g: Any) -> Any:
    if isinstance(g, np.random.RandomState):
        s = g.get_state()
        return (bytes(s[1].data), s[2], s[3], s[4])
    return repr(g.bit_generator.state)


def _global_rng_states() -> tuple:
    return _rng_state(np.random.mtrand._rand), random.getstate()


# ------------------------------------------------------------------- arguments and keys

_FLOAT_KEY = ("f",)


def _key(x: Any, dyn: list) -> Any:
    """The part of the signature ``x`` contributes; dynamic items are appended to ``dyn``."""
    t = type(x)
    if t is float:
        dyn.append(x)
        return _FLOAT_KEY
    if t is np.ndarray:
        dyn.append(x)
        return ("a", x.shape, x.dtype)
    if isinstance(x, Value):
        dyn.append(x)
        d = x.data
        return ("V", x.requires_grad, None if type(d) is float else (d.shape, d.dtype))
    if t is list or t is tuple:
        return (t, tuple([_key(i, dyn) for i in x]))
    if t is dict:
        return (t, tuple([(k, _key(v, dyn)) for k, v in x.items()]))
    if x is None or t is int or t is bool or t is str or t is bytes:
        return (t, x)
    if isinstance(x, (np.integer, np.bool_)):
        return (t, x.item())
    if isinstance(x, np.floating):
        dyn.append(x)
        return ("F", x.dtype)
    if isinstance(x, np.ndarray):
        dyn.append(x)
        return ("a", x.shape, x.dtype)
    if isinstance(x, tuple) and hasattr(x, "_fields"):  # a namedtuple
        return (t, tuple([_key(i, dyn) for i in x]))
    if t is frozenset and all(type(i) in _VALUE_TYPES for i in x):
        return (t, x)
    return ("o", _Identity(x))


_VALUE_TYPES = frozenset({int, bool, str, bytes, float, complex, type(None)})


class _Identity:
    """A static argument in a signature by identity (held, so its id is not reused): an
    object's ``__eq__``/``__hash__`` may call two different objects equal."""

    __slots__ = ("obj",)

    def __init__(self, obj: Any) -> None:
        self.obj = obj

    def __hash__(self) -> int:
        return id(self.obj)

    def __eq__(self, other: object) -> bool:
        return type(other) is _Identity and other.obj is self.obj


def _rebuild(x: Any, leaves: Iterator[Any]) -> Any:
    """``x`` with its dynamic items replaced, in the order :func:`_key` found them."""
    t = type(x)
    if t is float or t is np.ndarray or isinstance(x, (Value, np.floating, np.ndarray)):
        return next(leaves)
    if t is list:
        return [_rebuild(i, leaves) for i in x]
    if t is tuple:
        return tuple([_rebuild(i, leaves) for i in x])
    if t is dict:
        return {k: _rebuild(v, leaves) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return t._make([_rebuild(i, leaves) for i in x])
    return x


def _static_objects(x: Any) -> Iterator[Any]:
    """The objects among the arguments that are neither containers nor dynamic items."""
    stack = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif not isinstance(item, (Value, np.ndarray, np.generic, *_SCALARS)):
            yield item


def _arg_data(x: Any) -> Any:
    """An argument as engine data (a float array as it is, without a copy)."""
    t = type(x)
    if t is float or (t is np.ndarray and x.dtype.kind == "f"):
        return x
    if isinstance(x, Value):
        return x.data
    if isinstance(x, np.ndarray):
        x = np.asarray(x)
        return x if x.dtype.kind == "f" else as_data(x)
    return as_data(x, who="compiled function argument")


def _describe_key_item(k: Any) -> str:
    if k == _FLOAT_KEY:
        return "float"
    if isinstance(k, tuple) and k and k[0] == "a":
        return f"ndarray{list(k[1])} {k[2]}"
    if isinstance(k, tuple) and k and k[0] == "V":
        shape = "float" if k[2] is None else f"{list(k[2][0])} {k[2][1]}"
        return f"Value {shape}" + ("" if k[1] else " (no grad)")
    if isinstance(k, tuple) and k and k[0] == "F":
        return f"numpy {k[1]} scalar"
    if isinstance(k, tuple) and len(k) == 2 and k[0] in (list, tuple, dict):
        inner = ", ".join(_describe_key_item(i if k[0] is not dict else i[1]) for i in k[1])
        return ("[%s]" if k[0] is list else "(%s)" if k[0] is tuple else "{%s}") % inner
    if isinstance(k, tuple) and len(k) == 2 and isinstance(k[0], type):
        return repr(k[1])
    return "object"


# ---------------------------------------------------------------------------- the plan


class _Instr:
    """One forward step: ``out = op.forward(*inputs, *params)`` on slots and constants."""

    __slots__ = (
        "op",
        "slots",
        "consts",
        "params",
        "out",
        "ctx",
        "site",
        "fclass",
        "needs",
        "random",
        "scalar",
        "raw_exact",
    )

    def __init__(self) -> None:
        self.ctx: int | None = None  # slot of a Function's Context
        self.fclass: type[Function] | None = None
        self.random = False
        self.scalar = False
        self.raw_exact = True  # the forward returned a float or an ndarray (no normalize)

    def args(self, vals: list) -> list:
        return [c if s is None else vals[s] for s, c in zip(self.slots, self.consts)]


class _Back:
    """One backward step: the node's slot, its instruction, and which inputs need a gradient."""

    __slots__ = ("slot", "instr", "needed")

    def __init__(self, slot: int, instr: _Instr, needed: tuple[bool, ...]) -> None:
        self.slot, self.instr, self.needed = slot, instr, needed


def _function_class(op: Op) -> type[Function] | None:
    stack = list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls.__dict__.get("op") is op:
            return cls
        stack.extend(cls.__subclasses__())
    return None


def _run_function(cls: type[Function], needs: tuple, datas: list) -> tuple[Any, Context]:
    """A Function's forward with a fresh Context (as ``Function.apply`` runs it)."""
    ctx = Context()
    ctx.needs_input_grad = needs
    result = cls.forward(ctx, *datas)
    ctx._link(datas, result)
    scalar = all(type(d) is float for d in datas)
    out = normalize(
        result.data if isinstance(result, Value) else result, f"{cls.__name__}.forward", scalar
    )
    return out, ctx


class _Run:
    """What one call keeps for its backward: the generated code's suspended frame (or, on
    the interpretive path, every value), and the buffer set it computes in, given back to
    the plan when the call's result is dropped."""

    __slots__ = ("plan", "saved", "slow", "buffers")

    def __init__(self, plan: Plan, saved: Any, slow: bool, buffers: tuple | None = None) -> None:
        self.plan, self.saved, self.slow, self.buffers = plan, saved, slow, buffers

    def __del__(self) -> None:
        if self.buffers is not None:
            self.saved = None  # the frame first: nothing may read the buffers after this
            self.plan.pool.append(self.buffers)

    def __repr__(self) -> str:
        return f"<run of {self.plan.name}>"


class Plan:
    """A traced function for one signature: its inputs, ops, outputs and generated code.

    ``str(plan)`` lists it; ``plan.source`` is the generated Python.
    """

    def __init__(self, name: str, signature: str) -> None:
        self.name = name
        self.signature = signature
        self.n_args = 0  # dynamic arguments (slots 0..n_args-1)
        self.arg_is_value: list[bool] = []
        self.externals: list[Value] = []  # live Values read at every call
        self.ext_sig: list[tuple] = []
        self.n_inputs = 0
        self.n_slots = 0
        self.instrs: list[_Instr] = []
        self.out_slots: list[int] = []  # node slots returned, one compiled node each
        self.out_track: list[bool] = []
        self.outdef: Any = None
        self.back: list[list[_Back] | None] = []
        self.random = False
        self.scan: _Scan | None = None
        self.op: Op | None = None
        self._code: Callable = _no_code
        self.buffer_kinds: list[tuple] = []
        self.pool: list[tuple] = []  # buffer sets no live call uses
        self.edges: dict[tuple[int, int], tuple] = {}  # each VJP result's kind, traced
        self.back_any = False
        self.source = ""
        self.slot_kind: list[Any] = []  # per slot: "float" or (shape, dtype)
        self.calls = 0
        self.single = False  # the function returns one traced Value, nothing around it
        self.grad_inside = False  # traced under no_grad, an output made under enable_grad
        self.rechecked = False  # traced a second time, on the first replay (see _recheck)

    # -------------------------------------------------------------- interpretive replay
    def forward_interp(
        self, datas: list, check_nan: bool = False, substitute: dict | None = None
    ) -> list:
        """Every slot's value, computed by calling each op's forward in turn (the slow path)."""
        vals: list[Any] = list(datas) + [None] * (self.n_slots - len(datas))
        for ins in self.instrs:
            if substitute is not None and ins.out in substitute:
                vals[ins.out] = substitute[ins.out]
                if ins.ctx is not None:
                    vals[ins.ctx] = substitute[ins.ctx]
                continue
            args = ins.args(vals)
            if ins.fclass is not None:
                out, ctx = _run_function(ins.fclass, ins.needs, args)
                vals[ins.ctx] = ctx
            else:
                try:
                    out = ins.op.forward(*args, *ins.params)
                except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as e:
                    err = op_error(ins.op, e, args)  # named by the op and the user's line
                    where = f"compiled {self.name}, the op traced at {_describe_site(ins.site)}"
                    raise type(err)(f"{err} [{where}]") from None
                if type(out) is not float and type(out) is not np.ndarray:
                    out = normalize(out, ins.op.name, all(type(d) is float for d in args))
            vals[ins.out] = out
            if check_nan and not is_finite(out):
                modes.check_forward(ins.op.name, _fake(out, ins.site), args)
        return vals

    def backward_interp(
        self, k: int, g: Any, vals: list, check_nan: bool = False, edges: dict | None = None
    ) -> list:
        """Gradients of the inputs from output ``k``'s seed ``g``, with each op's ``vjp``
        called on stand-in nodes exactly as the engine's backward walk calls it."""
        grads: dict[int, Any] = {self.out_slots[k]: g}
        for b in self.back[k] or ():
            g = grads.pop(b.slot, None)
            if g is None:
                continue
            ins = b.instr
            node = _fake(vals[b.slot], ins.site, ins.op)
            node._ctx = (vals[ins.ctx],) if ins.ctx is not None else ins.params
            node._inputs = tuple(
                c if s is None else leaf(vals[s], need)
                for s, c, need in zip(ins.slots, ins.consts, b.needed)
            )
            for i, gx in enumerate(ins.op.vjp(node, g, False)):
                if gx is None:
                    continue
                x = node._inputs[i]
                if edges is not None:
                    edges[(b.slot, i)] = _kind(gx)
                if type(gx) is not float or type(x.data) is not float:
                    gx = sum_to(gx, x, node, i)
                if check_nan:
                    modes.check_backward(ins.op.name, node, i, gx)
                slot = ins.slots[i]
                prev = grads.get(slot)
                grads[slot] = gx if prev is None else prev + gx
        return [grads.get(s) for s in range(self.n_inputs)]

    # ------------------------------------------------------------------- calls
    def run_forward(self, datas: list) -> tuple[Any, _Run]:
        """Output data and the run to keep for the backward, by the fastest safe path."""
        if not state.check_nan:
            code = self._code
            pool = self.pool
            buffers = pool.pop() if pool else self._new_buffers()
            try:
                if self.back_any:
                    gen = code(datas, buffers)
                    return next(gen), _Run(self, gen, False, buffers)
                outs = code(datas, buffers)
                pool.append(buffers)  # no backward: the buffers are free at once
                return outs, _Run(self, None, False)
            except (ArithmeticError, ValueError, _Fallback):  # e.g. a Python float op raised
                pool.append(buffers)
        vals = self.forward_interp(datas, check_nan=state.check_nan)
        return tuple([vals[s] for s in self.out_slots]), _Run(self, vals, True)

    def input_data(self, dyn: list) -> list | None:
        """The data of this call's inputs, or None when a guard no longer holds."""
        datas = [
            x.data if is_value else _arg_data(x) for x, is_value in zip(dyn, self.arg_is_value)
        ]
        for v, sig in zip(self.externals, self.ext_sig):
            d = v.data
            if type(d) is float:
                if sig[0] != "float":
                    return None
            elif type(d) is not sig[0] or d.shape != sig[1] or d.dtype != sig[2]:
                return None
            if v.requires_grad is not sig[-1]:
                return None
            datas.append(d)
        if self.scan is not None and not self.scan.hold():
            return None
        return datas

    def _new_buffers(self) -> tuple:
        return tuple(np.empty(shape, dtype) for shape, dtype in self.buffer_kinds)

    def vjp(self, g: Any, datas: tuple, run: _Run, k: int) -> Any:
        """The gradient of every input from output ``k``'s gradient ``g``."""
        if run.slow:
            vals = list(run.saved)
        else:
            gen = run.saved
            if not state.check_nan and gen.gi_frame is not None:
                grads = gen.send((g, k, datas))
                if grads is not None:
                    return grads
            if self.random:  # nothing computed in place: the values are still in the frame
                frame = gen.gi_frame.f_locals
                vals = [frame.get(f"v{s}") for s in range(self.n_slots)]
            else:  # a rule raised, or anomaly mode: compute the values again, one by one
                vals = self.forward_interp(list(datas))
        vals[: self.n_inputs] = datas  # the inputs as the backward walk sees them now
        return self.backward_interp(k, g, vals, check_nan=state.check_nan)

    def vjp_create_graph(self, g: Value, inputs: tuple, k: int) -> list:
        """Higher-order gradients: replay the ops on the input Values themselves (recording
        a graph) and differentiate that with ``create_graph=True``."""
        if self.random:
            raise CompileError(
                f"create_graph=True through compiled {self.name}: its plan draws random "
                "numbers, so a replay would not see the same draws; call it uncompiled"
            )
        vals: list[Any] = list(inputs) + [None] * (self.n_slots - len(inputs))
        for ins in self.instrs:
            args = ins.args(vals)
            if ins.fclass is not None:
                vals[ins.out] = ins.fclass.apply(*args)
            else:
                vals[ins.out] = apply(ins.op, tuple(args), ins.params)
        out = vals[self.out_slots[k]]
        wanted = [i for i, x in enumerate(inputs) if isinstance(x, Value) and x.requires_grad]
        grads: list[Any] = [None] * len(inputs)
        if not isinstance(out, Value) or not out.requires_grad or not wanted:
            return grads
        found = _engine_grad(
            [out], [inputs[i] for i in wanted], [g], create_graph=True, allow_unused=True
        )
        for i, gi in zip(wanted, found):
            grads[i] = gi
        return grads

    # ------------------------------------------------------------------ display
    def __str__(self) -> str:
        lines = [
            f"plan of {self.name}({self.signature}): {self.n_inputs} inputs "
            f"({len(self.externals)} live Values), {len(self.instrs)} ops, "
            f"{len(self.out_slots)} output node(s)"
            + (", scalar fast path" if self.instrs and all(i.scalar for i in self.instrs) else "")
        ]
        lines.append("inputs:")
        for s in range(self.n_args):
            lines.append(f"  %{s} = argument {s}: {self._kind_text(s)}")
        for j, v in enumerate(self.externals):
            what = type(_untraced(type(v))).__name__
            what = _untraced(type(v)).__name__ + (f" {v.name!r}" if v.name else "")
            lines.append(f"  %{self.n_args + j} = live {what}: {self._kind_text(self.n_args + j)}")
        lines.append("forward:")
        for ins in self.instrs:
            args = ", ".join(
                f"%{s}" if s is not None else _short(c) for s, c in zip(ins.slots, ins.consts)
            )
            params = ", ".join(_short(p) for p in ins.params) if ins.fclass is None else ""
            call = f"{ins.op.name}({args}{', ' + params if params else ''})"
            where = f"  # {_describe_site(ins.site)}" if ins.site else ""
            lines.append(f"  %{ins.out} = {call}{where}")
        for k, slot in enumerate(self.out_slots):
            lines.append(f"output {k}: %{slot}" + ("" if self.out_track[k] else " (no grad)"))
            for b in self.back[k] or ():
                targets = [
                    f"%{s}" for s, need in zip(b.instr.slots, b.needed) if need and s is not None
                ]
                lines.append(
                    f"  backward: d%{b.slot} -> {b.instr.op.name} VJP -> {', '.join(targets)}"
                )
        return "\n".join(lines)

    def _kind_text(self, slot: int) -> str:
        k = self.slot_kind[slot]
        return "float" if k == "float" else f"ndarray{list(k[0])} {k[1]}"

    def __repr__(self) -> str:
        return f"<Plan of {self.name}({self.signature}): {len(self.instrs)} ops>"


def _kind(x: Any) -> tuple:
    t = type(x)
    return (t, x.shape, x.dtype) if t is np.ndarray else (t,)


def _no_code(datas: list) -> Any:
    raise _Fallback()


def _fake(data: Any, site: Site | None, op: Op | None = None) -> Value:
    """A stand-in node for the engine's own checks and VJP calls (never handed out)."""
    v = leaf(data, True)
    v._op = op
    v._site = (site,) if site else None
    return v


# ------------------------------------------------------------------------- code generation

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_FLOAT_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?\Z")

# Scalar templates: the op table's scalar forwards and VJPs, written out for Python floats
# (keyed by the Op object itself, never by a name). {x0} {x1}: inputs, {p0}: parameter,
# {o}: the result, {g}: its gradient. Each is exactly the expression the op's own scalar
# rule evaluates, so results agree to the bit (the tests check every op). Forwards that can
# raise (exp overflow, log of 0, division by 0) send the call to the interpretive path.
_FWD: dict[Op, str] = {
    prim.ADD: "{x0} + {x1}",
    prim.SUB: "{x0} - {x1}",
    prim.MUL: "{x0} * {x1}",
    prim.DIV: "{x0} / {x1}",
    prim.NEG: "-{x0}",
    prim.EXP: "_exp({x0})",
    prim.LOG: "_log({x0})",
    prim.SQRT: "_sqrt({x0})",
    prim.TANH: "_tanh({x0})",
    prim.SIGMOID: "0.5 + 0.5 * _tanh(0.5 * {x0})",
    prim.RELU: "0.0 if {x0} <= 0.0 else {x0}",
    prim.LEAKY_RELU: "{x0} if {x0} > 0.0 else {p0} * {x0}",
    prim.ABS: "_fabs({x0})",
    prim.SIN: "_sin({x0})",
    prim.COS: "_cos({x0})",
    prim.MAXIMUM: "{x0} if {x0} >= {x1} or {x0} != {x0} else {x1}",
    prim.MINIMUM: "{x0} if {x0} <= {x1} or {x0} != {x0} else {x1}",
}
_VJP: dict[Op, tuple[str | None, ...]] = {
    prim.ADD: ("{g}", "{g}"),
    prim.SUB: ("{g}", "-{g}"),
    prim.MUL: ("{g} * {x1}", "{g} * {x0}"),
    prim.DIV: ("{g} / {x1}", "-{g} * {o} / {x1}"),
    prim.NEG: ("-{g}",),
    prim.EXP: ("{g} * {o}",),
    prim.LOG: ("{g} / {x0}",),
    prim.SQRT: ("{g} * 0.5 / {o}",),
    prim.TANH: ("{g} * (1.0 - {o} * {o})",),
    prim.SIGMOID: ("{g} * {o} * (1.0 - {o})",),
    prim.RELU: ("{g} * (1.0 if {x0} > 0.0 else 0.0)",),
    prim.LEAKY_RELU: ("{g} * (1.0 if {x0} > 0.0 else {p0})",),
}
_REDUCTIONS = (prim.SUM, prim.MEAN, prim.MAX, prim.LOGSUMEXP)  # of a float over axis None: x
_BUILTIN_IDS = frozenset(id(op) for op in prim.BUILTIN_OPS.values())
_SAFE_FWD = frozenset(
    {
        prim.ADD,
        prim.SUB,
        prim.MUL,
        prim.NEG,
        prim.TANH,
        prim.SIGMOID,
        prim.RELU,
        prim.LEAKY_RELU,
        prim.ABS,
        prim.MAXIMUM,
        prim.MINIMUM,
    }
)


def _literal(c: Any) -> str | None:
    """A float constant as a Python literal (finite floats only; checked), else None."""
    if type(c) is float and math.isfinite(c):
        text = repr(c)
        if _FLOAT_LITERAL.match(text):
            return f"({text})"
    return None


class _Codegen:
    """Straight-line Python for a plan: one generator per call, whose frame keeps every
    forward value as a local for the backward.

    ``run(I)`` runs the forward on the input data ``I`` and yields the outputs; each
    ``send((G, k, I))`` then runs the backward of output ``k`` from its gradient ``G``
    (``I``: the inputs' data as the backward walk sees them) and yields one gradient per
    input, or None when a rule raised (the caller then takes the interpretive path with
    the values still in the frame). A plan without a backward is a plain function.
    """

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.ns: dict[str, Any] = {
            "__builtins__": {},
            "_nd": np.ndarray,
            "_float": float,
            "_type": type,
            "_normalize": normalize,
            "_sum_to": sum_to,
            "_acc": _acc,
            "_Fallback": _Fallback,
            "_Arithmetic": ArithmeticError,
            "_exp": math.exp,
            "_log": math.log,
            "_sqrt": math.sqrt,
            "_tanh": math.tanh,
            "_fabs": math.fabs,
            "_sin": math.sin,
            "_cos": math.cos,
            "_np_matmul": np.matmul,
            "_np_maximum": np.maximum,
            "_np_greater": np.greater,
            **{f"_np_{name}": getattr(np, name) for name in (*_UNARY.values(), *_BINARY.values())},
        }
        self.literals: dict[Any, str] = {}

    def bind(self, name: str, obj: Any) -> str:
        if not _IDENT.match(name):  # names are made here; this guards against a bug
            raise AssertionError(f"not an identifier: {name!r}")
        self.ns[name] = obj
        return name

    def const(self, c: Any, name: str) -> str:
        if type(c) is float:
            lit = self.literals.get(c)
            if lit is None and c == c:
                lit = _literal(c)
                if lit is not None:
                    self.literals[c] = lit
            if lit is not None:
                return lit
        return self.bind(name, c)

    def args(self, ins: _Instr) -> list[str]:
        return [
            f"v{s}" if s is not None else self.const(c, f"k{ins.out}_{i}")
            for i, (s, c) in enumerate(zip(ins.slots, ins.consts))
        ]

    def params(self, ins: _Instr) -> list[str]:
        return [self.const(p, f"p{ins.out}_{j}") for j, p in enumerate(ins.params)]

    def generate(self) -> Callable:
        p = self.plan
        self.plan_buffers()
        body: list[str] = []
        unpack = "".join(f"v{s}, " for s in range(p.n_inputs)) + "= I" if p.n_inputs else ""
        if unpack:
            body.append("    " + unpack)
        self.forward(body)
        lines = body
        outs = "".join(f"v{s}, " for s in p.out_slots)
        backs = [k for k, steps in enumerate(p.back) if steps is not None]
        if not backs:
            lines.append(f"    return ({outs})")
        else:
            lines.append(f"    G, k, I = yield ({outs})")
            lines.append("    while True:")
            if unpack:
                lines.append("        " + unpack)
            lines.append("        try:")
            for n, k in enumerate(backs):
                lines.append(f"            {'if' if n == 0 else 'elif'} k == {k}:")
                self.backward(k, lines, " " * 16)
            lines.append("            else:")
            lines.append("                R = None")
            lines.append("        except (_Arithmetic, _Fallback):")
            lines.append("            R = None")
            # hand R over without keeping it (nor the arrays in it): the engine then takes
            # each gradient as the parameter's .grad without a copy
            lines.append("        G, k, I = yield (R, R := None)[0]")
        p.buffer_kinds = list(self.buffers)
        head = ["def run(I, B):"]
        if self.buffers:
            head.append("    " + "".join(f"b{i}, " for i in range(len(self.buffers))) + "= B")
        source = "\n".join(head + lines) + "\n"
        code = builtins.compile(source, f"<autograd_lite.compile {p.name}>", "exec")
        exec(code, self.ns)
        p.source = source
        return self.ns["run"]

    # ------------------------------------------------------------------- forward
    def fwd_template(self, ins: _Instr) -> str | None:
        """The positional scalar template of a forward step, if it has one."""
        if not ins.scalar:
            return None
        if ins.op in _REDUCTIONS:
            return "{0}" if ins.params[0] is None else None
        template = _FWD_POS.get(ins.op)
        if template is not None and self.plan.random and ins.op not in _SAFE_FWD:
            return None  # a random op must not run twice: no template that can raise
        return template

    def vjp_templates(self, ins: _Instr) -> tuple[str | None, ...] | None:
        if not ins.scalar:
            return None
        if ins.op in _REDUCTIONS:
            return (
                ("{3} * 1.0" if ins.op is prim.MEAN else "{3}",) if ins.params[0] is None else None
            )
        return _VJP_POS.get(ins.op)

    def inlined(self) -> set[int]:
        """Forward values written into their one consumer's expression instead of a line:
        scalar template results used once (by a template that reads them once), read by no
        backward rule, not an output. Random plans inline nothing (see ``Plan.vjp``)."""
        p = self.plan
        if p.random:
            return set()
        uses = Counter(s for ins in p.instrs for s in ins.slots if s is not None)
        once: set[int] = set()
        for ins in p.instrs:
            template = self.fwd_template(ins)
            if template is not None:
                once.update(
                    s
                    for i, s in enumerate(ins.slots)
                    if s is not None and uses[s] == 1 and template.count("{" + str(i) + "}") == 1
                )
        read = set(p.out_slots)
        for steps in p.back:
            for b in steps or ():
                ins = b.instr
                templates = self.vjp_templates(ins)
                needed = [i for i, need in enumerate(b.needed) if need]
                if templates is None or not all(templates[i] for i in needed):
                    read.update(s for s in ins.slots if s is not None)
                    read.add(b.slot)
                    continue
                for i in needed:
                    t = templates[i]
                    read.update(s for j, s in enumerate(ins.slots) if "{" + str(j) + "}" in t)
                    if "{4}" in t:
                        read.add(b.slot)
        return {
            ins.out
            for ins in p.instrs
            if ins.out in once and ins.out not in read and self.fwd_template(ins) is not None
        }

    # ------------------------------------------------------------- tensor templates
    def tensor_kind(self, ins: _Instr) -> str | None:
        """Which numpy template a tensor step takes ("unary", "binary", "matmul", "mse"),
        if any: the same numpy calls as the op's array path, given static shapes."""
        p = self.plan
        kinds = p.slot_kind
        op = ins.op
        if ins.scalar or ins.fclass is not None or op not in _TENSOR_OPS:
            return None

        def array(i: int) -> bool:
            s = ins.slots[i]
            return s is not None and isinstance(kinds[s], tuple)

        def operand(i: int) -> bool:  # an array, or a float (slot or constant)
            s = ins.slots[i]
            if s is None:
                return type(ins.consts[i]) in (float, np.ndarray)
            return kinds[s] == "float" or isinstance(kinds[s], tuple)

        out = kinds[ins.out]
        if op is prim.MSE:
            return "mse" if array(0) and array(1) else None
        if not ins.raw_exact or not isinstance(out, tuple) or not out[0]:
            return None  # a 0-d result is a numpy scalar made a 0-d array: left generic
        if op in _UNARY or op is prim.SIGMOID or op is prim.RELU:
            return "unary" if array(0) and kinds[ins.slots[0]] == out else None
        if op in _BINARY:
            return "binary" if operand(0) and operand(1) else None
        n = 3 if op is prim.LINEAR else 2
        if not all(array(i) for i in range(n)):
            return None
        (xs, xd), (ws, wd) = kinds[ins.slots[0]], kinds[ins.slots[1]]
        if len(xs) != 2 or len(ws) != 2 or (xs[0], ws[1]) != out[0]:
            return None
        if np.result_type(xd, wd) != out[1]:
            return None
        if op is prim.LINEAR:
            bs, bd = kinds[ins.slots[2]]
            if np.result_type(out[1], bd) != out[1] or np.broadcast_shapes(out[0], bs) != out[0]:
                return None  # x @ w + b in place would cast or broadcast differently
        return "matmul"

    def vjp_mode(self, b: _Back) -> str:
        """How a backward step is written: "scalar" templates, "tensor" templates or a
        "generic" call of the op's own rule."""
        ins = b.instr
        needed = [i for i, need in enumerate(b.needed) if need]
        templates = self.vjp_templates(ins)
        if templates is not None and all(templates[i] for i in needed):
            return "scalar"
        if (
            ins.op in _TENSOR_VJP
            and self.tensor_kind(ins) is not None
            and all(
                isinstance(self.plan.edges.get((b.slot, i)), tuple)
                and self.plan.edges[(b.slot, i)][0] is np.ndarray
                for i in needed
            )
        ):
            return "tensor"
        return "generic"

    def backward_reads(self) -> set[int]:
        """The forward values some backward step reads (they must stay as computed)."""
        p = self.plan
        read = set(p.out_slots)
        for steps in p.back:
            for b in steps or ():
                ins = b.instr
                mode = self.vjp_mode(b)
                needed = [i for i, need in enumerate(b.needed) if need]
                if mode == "generic":
                    read.update(s for s in ins.slots if s is not None)
                    read.add(b.slot)
                elif mode == "scalar":
                    templates = self.vjp_templates(ins) or ()
                    for i in needed:
                        t = templates[i] or ""
                        read.update(s for j, s in enumerate(ins.slots) if "{" + str(j) + "}" in t)
                        if "{4}" in t:
                            read.add(b.slot)
                else:
                    op = ins.op
                    if op in (prim.SIGMOID, prim.TANH, prim.EXP):
                        read.add(b.slot)
                    elif op is prim.RELU:
                        read.add(ins.slots[0])
                    elif op is prim.MSE:
                        pass  # the forward's p - t, in its own buffer
                    elif op in (prim.MUL, prim.LINEAR, prim.MATMUL):
                        for i in needed:
                            if i < 2:
                                read.add(ins.slots[1 - i])
                read.discard(None)  # type: ignore[arg-type]
        return read

    def plan_buffers(self) -> None:
        """Give each tensor template's result a buffer of the call's buffer set, or the
        buffer of a dead input of the same shape (in place), when nothing outside the
        templates can see it: not an output, read only by templates."""
        p = self.plan
        self.fwd_kind = {ins.out: self.tensor_kind(ins) for ins in p.instrs}
        self.diff: dict[int, str] = {}
        self.buf: dict[int, str] = {}
        self.buffers: list[tuple[tuple, Any]] = []
        if p.random or not any(self.fwd_kind.values()):
            return  # a random plan keeps every value (see Plan.vjp); no tensor template
        kinds = p.slot_kind
        consumers: dict[int, list[int]] = {}
        for j, ins in enumerate(p.instrs):
            for s in ins.slots:
                if s is not None:
                    consumers.setdefault(s, []).append(j)
        read = self.backward_reads()
        outputs = set(p.out_slots)
        templated = {j for j, ins in enumerate(p.instrs) if self.fwd_kind[ins.out] is not None}
        for j, ins in enumerate(p.instrs):
            kind = self.fwd_kind[ins.out]
            s = ins.out
            if kind is None or kind == "mse" or s in outputs:
                continue
            if not all(c in templated for c in consumers.get(s, ())):
                continue
            if kind in ("unary", "binary"):
                for a in ins.slots:
                    if (
                        a is not None
                        and a in self.buf
                        and kinds[a] == kinds[s]
                        and max(consumers[a]) == j
                        and a not in read
                        and ins.slots.count(a) == 1
                    ):
                        self.buf[s] = self.buf[a]  # in place: a is dead from here on
                        break
            if s not in self.buf:
                self.buf[s] = self.new_buffer(kinds[s])

    def new_buffer(self, kind: tuple) -> str:
        self.buffers.append(kind)
        return f"b{len(self.buffers) - 1}"

    def tensor_forward(self, ins: _Instr, kind: str, lines: list[str]) -> None:
        o = f"v{ins.out}"
        args = self.args(ins)
        dest = self.buf.get(ins.out)
        out = f", {dest}" if dest else ""
        op = ins.op
        if kind == "mse":
            p = self.plan
            (ps, pd), (ts, td) = p.slot_kind[ins.slots[0]], p.slot_kind[ins.slots[1]]
            dkind = (np.broadcast_shapes(ps, ts), np.result_type(pd, td))
            size = self.bind(f"K{ins.out}", int(np.prod(dkind[0])))
            who = self.bind(f"N{ins.out}", op.name)
            if p.random:
                d = f"d{ins.out}"
                lines.append(f"    {d} = {args[0]} - {args[1]}")
                lines.append(f"    {o} = ({d} * {d}).sum() / {size}")
            else:
                d, q = self.new_buffer(dkind), self.new_buffer(dkind)
                lines.append(f"    _np_subtract({args[0]}, {args[1]}, {d})")
                lines.append(f"    {o} = _np_multiply({d}, {d}, {q}).sum() / {size}")
            self.diff[ins.out] = d  # p - t, kept (in the frame) for the backward
            lines.append(
                f"    if _type({o}) is not _float and _type({o}) is not _nd: "
                f"{o} = _normalize({o}, {who}, False)"
            )
        elif op is prim.SIGMOID:  # 0.5 + 0.5 * tanh(0.5 * x), step by step in one array
            lines.append(f"    {o} = _np_multiply({args[0]}, 0.5{out})")
            lines.append(f"    _np_tanh({o}, {o})")
            lines.append(f"    _np_multiply({o}, 0.5, {o})")
            lines.append(f"    _np_add({o}, 0.5, {o})")
        elif op is prim.RELU:
            # out= by keyword: numpy deprecates a third positional argument of maximum
            lines.append(f"    {o} = _np_maximum({args[0]}, 0{', out=' + dest if dest else ''})")
        elif kind == "unary":
            lines.append(f"    {o} = _np_{_UNARY[op]}({args[0]}{out})")
        elif kind == "binary":
            lines.append(f"    {o} = _np_{_BINARY[op]}({args[0]}, {args[1]}{out})")
        else:  # matmul, linear: x @ w (+ b, added in place: the same sums)
            lines.append(f"    {o} = _np_matmul({args[0]}, {args[1]}{out})")
            if op is prim.LINEAR:
                lines.append(f"    _np_add({o}, {args[2]}, {o})")

    def tensor_vjp(
        self, b: _Back, i: int, g: str, t: str, fresh: bool, lines: list[str], pad: str
    ) -> bool:
        """Write input ``i``'s term of a tensor step's VJP into ``t``; True when ``t`` is
        ``g`` itself (no line). ``fresh``: a new array (it is handed out), else a buffer."""
        p = self.plan
        ins = b.instr
        op = ins.op
        args = self.args(ins)
        o = f"v{b.slot}"
        gkind = p.edges[(b.slot, i)][1:]
        dest = "" if fresh else f", {self.new_buffer(gkind)}"
        node_kind = p.slot_kind[b.slot]
        if op is prim.ADD or (op is prim.SUB and i == 0) or (op is prim.LINEAR and i == 2):
            lines.append(f"{pad}{t} = {g}")
            return True
        if op is prim.SUB or op is prim.NEG:
            lines.append(f"{pad}{t} = _np_negative({g}{dest})")
        elif op is prim.MUL:
            lines.append(f"{pad}{t} = _np_multiply({g}, {args[1 - i]}{dest})")
        elif op is prim.EXP:
            lines.append(f"{pad}{t} = _np_multiply({g}, {o}{dest})")
        elif op is prim.SIGMOID:  # (g * out) * (1.0 - out)
            tmp = "" if fresh else f", {self.new_buffer(node_kind)}"
            lines.append(f"{pad}{t} = _np_multiply({g}, {o}{dest})")
            lines.append(f"{pad}_np_multiply({t}, _np_subtract(1.0, {o}{tmp}), {t})")
        elif op is prim.TANH:  # g * (1.0 - out * out)
            tmp = "" if fresh else f", {self.new_buffer(node_kind)}"
            lines.append(f"{pad}{t} = _np_multiply({o}, {o}{tmp})")
            lines.append(f"{pad}_np_subtract(1.0, {t}, {t})")
            lines.append(f"{pad}{t} = _np_multiply({g}, {t}{dest})")
        elif op is prim.RELU:  # g * (x > 0): a bool mask multiplies as 1.0/0.0
            mask = "" if fresh else f", {self.new_buffer((node_kind[0], np.dtype(bool)))}"
            lines.append(f"{pad}{t} = _np_multiply({g}, _np_greater({args[0]}, 0{mask}){dest})")
        elif op is prim.MSE:  # g * (sign * 2 / size) * (p - t)
            (ps, _), (ts, _) = p.slot_kind[ins.slots[0]], p.slot_kind[ins.slots[1]]
            size = int(np.prod(np.broadcast_shapes(ps, ts)))
            c = _literal((1.0 if i == 0 else -1.0) * 2.0 / max(size, 1))
            if c is None:
                return self.generic_vjp(b, [i], g, lines, pad)[i] == g  # not expected
            diff = self.diff[b.slot]  # the forward's p - t, still in its buffer
            lines.append(f"{pad}{t} = _np_multiply({g} * {c}, {diff}{dest})")
        elif i == 0:  # matmul, linear: d/dx = g @ w.T
            lines.append(f"{pad}{t} = _np_matmul({g}, {args[1]}.T{dest})")
        else:  # d/dw = x.T @ g, or for one row the outer product x.T * g (as the rule does)
            rows = p.slot_kind[ins.slots[0]][0][0]
            f = "_np_multiply" if rows == 1 else "_np_matmul"
            lines.append(f"{pad}{t} = {f}({args[0]}.T, {g}{dest})")
        return False

    def generic_vjp(
        self, b: _Back, needed: list[int], g: str, lines: list[str], pad: str
    ) -> dict[int, str]:
        """The op's own rule, called: an expression per needed input."""
        ins = b.instr
        op = ins.op
        args = self.args(ins)
        params = self.params(ins) if ins.params else []
        extra = [f"v{ins.ctx}"] if ins.ctx is not None else params
        call_args = ", ".join([g, f"v{b.slot}", *args, *extra])
        if op.joint:
            f = self.bind(f"V{b.slot}", op.vjps)
            lines.append(f"{pad}T{b.slot} = {f}({call_args})")
            return {i: f"T{b.slot}[{i}]" for i in needed}
        if type(op.vjps) is not tuple:  # variadic
            f = self.bind(f"V{b.slot}", op.vjps)
            return {i: f"{f}({i}, {call_args})" for i in needed}
        return {i: f"{self.bind(f'V{b.slot}_{i}', op.vjps[i])}({call_args})" for i in needed}

    # ------------------------------------------------------------------- forward
    def forward(self, lines: list[str]) -> None:
        p = self.plan
        kinds = p.slot_kind
        inline = self.inlined()
        exprs: dict[int, tuple[str, int]] = {}  # inlined slot: (expression, nesting depth)
        for ins in p.instrs:
            o = f"v{ins.out}"
            template = self.fwd_template(ins)
            if template is not None:
                depth = 1
                args = []
                for i, (s, c) in enumerate(zip(ins.slots, ins.consts)):
                    e = exprs.pop(s, None) if s is not None else None
                    if e is not None:
                        args.append(f"({e[0]})")
                        depth = max(depth, e[1] + 1)
                    else:
                        args.append(f"v{s}" if s is not None else self.const(c, f"k{ins.out}_{i}"))
                params = self.params(ins) if ins.params else []
                text = template.format(*_tfields(args, params, "", ""))
                if ins.out in inline and depth < _MAX_DEPTH:
                    exprs[ins.out] = (text, depth)
                else:
                    lines.append(f"    {o} = {text}")
                continue
            kind = self.fwd_kind.get(ins.out)
            if kind is not None:
                self.tensor_forward(ins, kind, lines)
                continue
            args = self.args(ins)
            params = self.params(ins) if ins.params else []
            if ins.fclass is not None:
                f = self.bind(
                    f"F{ins.out}", functools.partial(_run_function, ins.fclass, ins.needs)
                )
                lines.append(f"    {o}, v{ins.ctx} = {f}([{', '.join(args)}])")
                continue
            f = self.bind(f"F{ins.out}", ins.op.forward)
            lines.append(f"    {o} = {f}({', '.join(args + params)})")
            if not ins.raw_exact or id(ins.op) not in _BUILTIN_IDS:
                who = self.bind(f"N{ins.out}", ins.op.name)
                scalar = all(
                    kinds[s] == "float" if s is not None else type(c) is float
                    for s, c in zip(ins.slots, ins.consts)
                )
                lines.append(
                    f"    if _type({o}) is not _float and _type({o}) is not _nd: "
                    f"{o} = _normalize({o}, {who}, {scalar})"
                )
        assert not exprs, "an inlined value was never used"

    def reduction(self, kind: Any, target: Any, t: str, tag: str) -> tuple | None:
        """``sum_to``'s work for a gradient of the traced ``kind`` into an input of kind
        ``target``, written out (the same numpy calls), when it is a reshape or a sum."""
        if kind is None or kind[0] is not np.ndarray or target == "float":
            return None
        _, gshape, gdtype = kind
        xshape, xdtype = target
        if gshape == xshape or gdtype != xdtype:
            return None
        axes = broadcast_axes(gshape, xshape)
        if axes is None:
            return None
        gs, gd = self.bind(f"GS{tag}", gshape), self.bind(f"GD{tag}", gdtype)
        xs, ax = self.bind(f"XS{tag}", xshape), self.bind(f"AX{tag}", axes)
        if all(gshape[a] == 1 for a in axes):
            return gs, gd, f"{t}.reshape({xs})"
        if len(axes) == len(gshape) - len(xshape):
            return gs, gd, f"{t}.sum(axis={ax})"
        return gs, gd, f"{t}.sum(axis={ax}, keepdims=True).reshape({xs})"

    # ------------------------------------------------------------------- backward
    def backward(self, k: int, lines: list[str], pad: str) -> None:
        """One line per node: its gradient is the sum of what its consumers sent it, in
        the order the engine's walk adds them (names are assigned once, so a consumer's
        term can be written out where it is summed: the same operations, bit for bit).
        A gradient that is just another one (add, sum) gets no line of its own. Terms
        into the plan's inputs are new arrays (they become ``.grad``s); others may be
        written into the call's buffers, and ``shared`` names the values that may be
        (views of) a buffer, copied if handed out."""
        p = self.plan
        kinds = p.slot_kind
        root = p.out_slots[k]
        if isinstance(kinds[root], tuple):  # the templates assume the seed's shape and dtype
            sh, dt = self.bind(f"GS{k}", kinds[root][0]), self.bind(f"GD{k}", kinds[root][1])
            lines.append(
                f"{pad}if _type(G) is not _nd or G.shape != {sh} or G.dtype != {dt}: "
                "raise _Fallback()"
            )
        terms: dict[int, list[str]] = {root: ["G"]}
        maybe_none: set[str] = set()  # terms from rules that may give None (user ops)
        shared: set[str] = set()
        temps: set[str] = set()  # names holding arrays, dropped before the yield
        for b in p.back[k] or ():
            got = terms.pop(b.slot, None)
            if got is None:
                continue
            gname = _materialize(f"g{b.slot}", got, maybe_none, lines, pad)
            if len(got) == 1 and got[0].strip("()") in shared:
                shared.add(gname)
            if gname.startswith(("g", "t")) and kinds[b.slot] != "float":
                temps.add(gname)
            ins = b.instr
            needed = [i for i, need in enumerate(b.needed) if need]
            mode = self.vjp_mode(b)
            if mode == "scalar":
                args = self.args(ins)
                params = self.params(ins) if ins.params else []
                fields = _tfields(args, params, gname, f"v{b.slot}")
                templates = self.vjp_templates(ins) or ()
                for i in needed:
                    terms.setdefault(ins.slots[i], []).append(
                        "(" + (templates[i] or "").format(*fields) + ")"
                    )
                continue
            builtin = id(ins.op) in _BUILTIN_IDS
            exprs = self.generic_vjp(b, needed, gname, lines, pad) if mode == "generic" else {}
            if ins.op.joint and mode == "generic":
                temps.add(f"T{b.slot}")
                if gname in shared or any(s in self.buf for s in ins.slots if s is not None):
                    shared.add(f"T{b.slot}")
            for i in needed:
                s = ins.slots[i]
                t = f"t{b.slot}_{i}"
                if mode == "tensor":
                    fresh = s < p.n_inputs or p.random
                    if self.tensor_vjp(b, i, gname, t, fresh, lines, pad):
                        if gname in shared:
                            shared.add(t)
                    elif not fresh:
                        shared.add(t)
                else:
                    lines.append(f"{pad}{t} = {exprs[i]}")
                    if gname in shared or any(a in self.buf for a in ins.slots if a is not None):
                        shared.add(t)  # a rule may hand back (a view of) what it was given
                if kinds[s] != "float":
                    temps.add(t)
                x = self.bind(f"X{b.slot}_{i}", leaf(_template_data(kinds[s]), True))
                n = self.bind(f"M{b.slot}", _fake(None, ins.site, ins.op))
                if kinds[s] == "float":
                    check = f"_type({t}) is not _float"
                else:
                    shape, dtype = kinds[s]
                    sh = self.bind(f"S{b.slot}_{i}", shape)
                    dt = self.bind(f"D{b.slot}_{i}", dtype)
                    check = f"_type({t}) is not _nd or {t}.shape != {sh} or {t}.dtype != {dt}"
                edge = p.edges.get((b.slot, i))
                spec = self.reduction(edge, kinds[s], t, f"{b.slot}_{i}")
                if mode == "tensor":  # the kinds are known: no checks
                    if spec is not None:
                        lines.append(f"{pad}{t} = {spec[2]}")
                        if ".sum(" in spec[2]:
                            shared.discard(t)
                    elif edge[1:] != kinds[s]:
                        lines.append(f"{pad}{t} = _sum_to({t}, {x}, {n}, {i})")
                    terms.setdefault(s, []).append(t)
                    continue
                if not builtin:
                    maybe_none.add(t)
                    check = f"{t} is not None and ({check})"
                elif spec is not None:
                    gs, gd, code = spec
                    lines.append(
                        f"{pad}{t} = {code} if _type({t}) is _nd and {t}.shape == {gs} and "
                        f"{t}.dtype == {gd} else _sum_to({t}, {x}, {n}, {i})"
                    )
                    if ".sum(" in code:
                        shared.discard(t)  # a sum is a new array
                    terms.setdefault(s, []).append(t)
                    continue
                lines.append(f"{pad}if {check}: {t} = _sum_to({t}, {x}, {n}, {i})")
                terms.setdefault(s, []).append(t)
        rets = []
        for s in range(p.n_inputs):
            got = terms.pop(s, None)
            if got is None:
                rets.append("None, ")
                continue
            name = _materialize(f"g{s}", got, maybe_none, lines, pad, check=False)
            if len(got) == 1 and got[0].strip("()") in shared and kinds[s] != "float":
                lines.append(f"{pad}g{s} = {name}.copy()")  # never hand out a buffer
                name = f"g{s}"
                temps.add(name)
            rets.append(name + ", ")
        lines.append(f"{pad}R = ({''.join(rets)})")
        if temps:  # arrays: drop this frame's references (see generate)
            lines.append(f"{pad}del {', '.join(sorted(temps))}")


_UNARY = {
    prim.NEG: "negative",
    prim.EXP: "exp",
    prim.LOG: "log",
    prim.SQRT: "sqrt",
    prim.TANH: "tanh",
    prim.SIN: "sin",
    prim.COS: "cos",
    prim.ABS: "absolute",
}
_BINARY = {prim.ADD: "add", prim.SUB: "subtract", prim.MUL: "multiply", prim.DIV: "divide"}
_TENSOR_VJP = frozenset(
    [prim.ADD, prim.SUB, prim.NEG, prim.MUL, prim.EXP, prim.SIGMOID, prim.TANH, prim.RELU]
    + [prim.MSE, prim.LINEAR, prim.MATMUL]
)
_TENSOR_OPS = frozenset(
    [*_UNARY, *_BINARY, prim.SIGMOID, prim.RELU, prim.LINEAR, prim.MATMUL, prim.MSE]
)


_MAX_DEPTH = 40  # inlined expressions nest at most this deep (the parser allows 200 parens)
_MAX_TERMS = 64  # a longer sum is written over several lines (same order of additions)


def _materialize(
    name: str,
    terms: list[str],
    maybe_none: set[str],
    lines: list[str],
    pad: str,
    check: bool = True,
) -> str:
    """Emit ``name = t1 + t2 + ...`` (left to right, as the engine adds them) and return
    the name; a single plain name is returned as it is, with no line."""
    if len(terms) == 1:
        t = terms[0]
        bare = t[1:-1] if t.startswith("(") and t.endswith(")") else t
        if _IDENT.match(bare) and t not in maybe_none:
            return bare
    if maybe_none and maybe_none.intersection(terms):
        acc = terms[0]
        for t in terms[1:]:
            acc = f"_acc({acc}, {t})"
        lines.append(f"{pad}{name} = {acc}")
        if check:
            lines.append(f"{pad}if {name} is None: raise _Fallback()")
        return name
    first = True
    for start in range(0, len(terms), _MAX_TERMS):
        chunk = " + ".join(terms[start : start + _MAX_TERMS])
        lines.append(f"{pad}{name} = {chunk}" if first else f"{pad}{name} = {name} + {chunk}")
        first = False
    return name


def _tfields(args: list[str], params: list[str], g: str, o: str) -> tuple[str, ...]:
    """The fields of a positional template: x0, x1, p0, g, o."""
    a = (*args, "", "")
    return (a[0], a[1], params[0] if params else "", g, o)


def _acc(prev: Any, x: Any) -> Any:
    return x if prev is None else prev if x is None else prev + x


class _Fallback(Exception):
    """Generated code met a case it does not cover: the call takes the interpretive path."""


def _positional(template: str) -> str:
    """A template with {x0} {x1} {p0} {g} {o} as positional fields {0} {1} {2} {3} {4}."""
    for name, pos in (
        ("{x0}", "{0}"),
        ("{x1}", "{1}"),
        ("{p0}", "{2}"),
        ("{g}", "{3}"),
        ("{o}", "{4}"),
    ):
        template = template.replace(name, pos)
    return template


_FWD_POS = {op: _positional(t) for op, t in _FWD.items()}
_VJP_POS = {op: tuple(_positional(t) if t else t for t in ts) for op, ts in _VJP.items()}


def _template_data(kind: Any) -> Any:
    if kind == "float":
        return 0.0
    shape, dtype = kind
    return np.lib.stride_tricks.as_strided(np.zeros((), dtype), shape, (0,) * len(shape))


# ------------------------------------------------------------------------ building a plan


def _walk_params(x: Any) -> Iterator[Any]:
    stack = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        else:
            yield item


def _bases(a: np.ndarray) -> Iterator[int]:
    while a is not None:
        yield id(a)
        a = a.base if isinstance(a.base, np.ndarray) else None


def _order(root: Value, is_input: Callable[[Value], bool]) -> list[Value]:
    """``backward.topological_order([root])``, stopping at the plan's inputs."""
    order: list[Value] = []
    visited: set[Value] = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif node not in visited:
            visited.add(node)
            stack.append((node, True))
            if not is_input(node):
                for x in node._inputs or ():
                    if isinstance(x, Value) and x.requires_grad and x not in visited:
                        stack.append((x, False))
    return order


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b or (a != a and b != b)
    if type(a) is np.ndarray:
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return True


class _Builder:
    """Turns a trace into a :class:`Plan` and checks that it can be replayed faithfully."""

    def __init__(self, plan: Plan, tracer: _Tracer, wrappers: list[Value]) -> None:
        self.plan = plan
        self.tracer = tracer
        self.wrappers = wrappers
        self.slot_of: dict[int, int] = {}
        self.data: list[Any] = []  # each slot's traced data

    def input(self, v: Value) -> int:
        s = len(self.data)
        self.slot_of[id(v)] = s
        self.data.append(_raw(v))
        return s

    def build(self, outputs: list[Any]) -> list[Any]:
        p, tape = self.plan, self.tracer.tape
        for w in self.wrappers:
            self.input(w)
        p.n_args = len(self.wrappers)
        produced = {id(e.node) for e in tape}
        for v in [x for e in tape for x in e.inputs] + outputs:
            if isinstance(v, Value) and id(v) not in self.slot_of and id(v) not in produced:
                self.input(v)
                p.externals.append(v)
        p.n_inputs = len(self.data)
        p.ext_sig = [_data_sig(_raw(v)) + (_REQUIRES_GRAD.__get__(v),) for v in p.externals]
        traced_arrays = {id(d) for d in self.data if type(d) is np.ndarray}
        traced_arrays |= {id(_raw(e.node)) for e in tape if type(_raw(e.node)) is np.ndarray}
        node_of: dict[int, Value] = {}
        slot_of = self.slot_of
        for e in tape:
            ins = _Instr()
            ins.op, ins.site = e.op, e.site
            slots: list[int | None] = []
            consts: list[Any] = []
            plain = True  # only Values and float constants
            for x in e.inputs:
                if isinstance(x, Value):
                    slots.append(slot_of[id(x)])
                    consts.append(None)
                else:
                    slots.append(None)
                    consts.append(x)
                    plain = plain and type(x) is float
            ins.slots, ins.consts = tuple(slots), tuple(consts)
            ins.params = e.params
            if e.params or not plain:
                self._check_constants(e, traced_arrays)
                ins.random = any(
                    isinstance(x, (np.random.Generator, np.random.RandomState, random.Random))
                    for x in _walk_params(e.params)
                )
                p.random = p.random or ins.random
            if e.op.joint and len(e.params) == 1 and isinstance(e.params[0], Context):
                ins.fclass = _function_class(e.op)
                if ins.fclass is None:
                    raise CompileError(
                        f"op {e.op.name!r} (made at {_describe_site(e.site)}) has a Context "
                        "parameter but no Function class: it cannot be replayed"
                    )
                ins.needs = e.params[0].needs_input_grad
            ins.out = self.input(e.node)
            node_of[ins.out] = e.node
            if ins.fclass is not None:
                ins.ctx = len(self.data)
                self.data.append(e.params[0])
            p.instrs.append(ins)
        p.n_slots = len(self.data)
        p.slot_kind = [_slot_kind(d) for d in self.data]
        for ins in p.instrs:
            ins.scalar = (
                ins.fclass is None
                and p.slot_kind[ins.out] == "float"
                and all(s is None or p.slot_kind[s] == "float" for s in ins.slots)
                and all(type(c) is float for s, c in zip(ins.slots, ins.consts) if s is None)
            )
        # outputs: one compiled node per distinct traced node returned
        out_index: dict[int, int] = {}
        leaves: list[Any] = []
        for v in outputs:
            if not isinstance(v, Value):
                leaves.append(("c", v))
            elif id(v) in produced:
                s = self.slot_of[id(v)]
                if s not in out_index:
                    out_index[s] = len(p.out_slots)
                    p.out_slots.append(s)
                    p.out_track.append(bool(_REQUIRES_GRAD.__get__(v)))
                leaves.append(("n", out_index[s]))
            else:
                leaves.append(("i", self.slot_of[id(v)]))
        # backward of each output, in the engine's order
        inputs = {id(v) for v in self.wrappers + p.externals}  # type: ignore[operator]
        instr_of = {ins.out: ins for ins in p.instrs}
        for s, track in zip(p.out_slots, p.out_track):
            if not track:
                p.back.append(None)
                continue
            node = node_of[s]
            steps = []
            for n in reversed(_order(node, lambda x: id(x) in inputs)):
                slot = self.slot_of[id(n)]
                if slot < p.n_inputs:
                    continue
                ins = instr_of[slot]
                needed = tuple(
                    isinstance(x, Value) and bool(_REQUIRES_GRAD.__get__(x)) for x in n._inputs
                )
                steps.append(_Back(slot, ins, needed))
            p.back.append(steps)
        return leaves

    def _check_constants(self, e: _Entry, traced_arrays: set[int]) -> None:
        for x in [*_walk_params(e.params), *(x for x in e.inputs if not isinstance(x, Value))]:
            if isinstance(x, Value):
                raise CompileError(
                    f"op {e.op.name!r} at {_describe_site(e.site)} has a Value among its static "
                    "parameters: a plan cannot replay it"
                )
            if isinstance(x, np.ndarray) and any(b in traced_arrays for b in _bases(x)):
                raise CompileError(
                    f"op {e.op.name!r} at {_describe_site(e.site)} takes the data of a traced "
                    f"Value as a constant or static parameter: {_HIDDEN}"
                )

    def validate(self) -> None:
        """Replay each op that is not a known-pure template on its traced inputs: it must
        give what it gave while tracing (random ops excepted: they draw anew by design)."""
        p, data = self.plan, self.data
        for ins in p.instrs:
            if ins.random or (ins.scalar and ins.op in _FWD):
                continue
            args = ins.args(data)
            if ins.fclass is not None:
                out, _ = _run_function(ins.fclass, ins.needs, args)
            else:
                with np.errstate(all="ignore"):
                    out = ins.op.forward(*args, *ins.params)
                ins.raw_exact = type(out) is float or type(out) is np.ndarray
                if not ins.raw_exact:
                    out = normalize(out, ins.op.name, all(type(d) is float for d in args))
            if not _same(out, data[ins.out]):
                raise CompileError(
                    f"op {ins.op.name!r} (at {_describe_site(ins.site)}) gave a different "
                    "result when replayed on the same inputs: it is not a pure function of its "
                    "inputs and parameters (hidden state, or randomness not drawn from a "
                    "Generator parameter), so a plan cannot replay it"
                )
        # one backward on the traced values, to learn the shape of each VJP's result (the
        # generated code then reduces it to its input's shape without asking); plans made
        # of scalar templates only need none
        if all(b.instr.scalar for steps in p.back for b in steps or ()):
            return
        prev = state.grad_enabled
        state.grad_enabled = False
        try:
            with np.errstate(all="ignore"):
                for k, steps in enumerate(p.back):
                    if steps is not None:
                        s = p.out_slots[k]
                        seed = 1.0 if p.slot_kind[s] == "float" else np.ones_like(data[s])
                        p.backward_interp(k, seed, list(data), edges=p.edges)
        except Exception:  # the generated code then checks each result's shape as it comes
            p.edges.clear()
        finally:
            state.grad_enabled = prev


def _data_sig(d: Any) -> tuple:
    return ("float",) if type(d) is float else (type(d), d.shape, d.dtype)


def _slot_kind(d: Any) -> Any:
    if type(d) is float:
        return "float"
    if type(d) is np.ndarray:
        return (d.shape, d.dtype)
    return "other"


def _flatten_outputs(x: Any, leaves: list) -> Any:
    """The structure of ``fn``'s result, its leaves (Values and constants) into ``leaves``."""
    t = type(x)
    if t is list or t is tuple:
        return (t, [_flatten_outputs(i, leaves) for i in x])
    if t is dict:
        return (t, [(k, _flatten_outputs(v, leaves)) for k, v in x.items()])
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (t, [_flatten_outputs(i, leaves) for i in x])
    leaves.append(x)
    return None


def _unflatten(tree: Any, leaves: Iterator[Any]) -> Any:
    if tree is None:
        return next(leaves)
    t, items = tree
    if t is dict:
        return {k: _unflatten(v, leaves) for k, v in items}
    values = [_unflatten(i, leaves) for i in items]
    if t is list:
        return values
    if t is tuple:
        return tuple(values)
    return t._make(values)


# ----------------------------------------------------------------------- compiled function


class CompiledFunction:
    """``fn`` compiled: same signature; one plan per signature (see :func:`compile`).

    ``plans`` lists the plans made so far (``print(step.plans[0])`` shows one);
    ``traces`` counts the traces.
    """

    def __init__(
        self,
        fn: Callable,
        max_retraces: int = DEFAULT_MAX_RETRACES,
        max_plans: int = DEFAULT_MAX_PLANS,
    ) -> None:
        if not callable(fn):
            raise TypeError(f"compile: expected a function, got {type(fn).__name__}")
        functools.update_wrapper(self, fn)
        self.fn = fn
        self.max_retraces = int(max_retraces)
        self.max_plans = max(1, int(max_plans))
        self.traces = 0
        # signature -> its plans, most recently used first (one per state of the guarded
        # values: train() and eval() keep a plan each); signatures in LRU order
        self._plans: OrderedDict[Any, list[Plan]] = OrderedDict()
        self._n_plans = 0
        self._mru: Plan | None = None
        self._warned = False
        self._name = getattr(fn, "__qualname__", None) or type(fn).__name__

    @property
    def plans(self) -> list[Plan]:
        """The plans kept (at most ``max_plans``), least recently used first."""
        return [p for plans in self._plans.values() for p in reversed(plans)]

    def __repr__(self) -> str:
        return f"<compiled {self._name}: {self._n_plans} plan(s)>"

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        return self if obj is None else types.MethodType(self, obj)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if state.tracer is not None:  # inside another compiled function's trace: inline
            return self.fn(*args, **kwargs)
        dyn: list[Any] = []
        key = (_key(args, dyn), _key(kwargs, dyn) if kwargs else None, state.grad_enabled)
        plans = self._plans.get(key)
        if plans is not None:
            plan = plans[0]
            datas = plan.input_data(dyn)
            if datas is not None:
                if not plan.rechecked:  # the first replay: is the forward deterministic?
                    self._recheck(plan, args, kwargs, dyn)
                if plan is not self._mru:
                    self._plans.move_to_end(key)
                    self._mru = plan
                return self._replay(plan, dyn, datas)
            for i in range(1, len(plans)):  # another state of the guards, traced before
                other = plans[i]
                datas = other.input_data(dyn)
                if datas is not None:
                    plans.insert(0, plans.pop(i))
                    self._plans.move_to_end(key)
                    self._mru = other
                    return self._replay(other, dyn, datas)
            ext = _live_data(plan)
            why = (
                "a live Value changed shape, dtype or requires_grad"
                if ext is None
                else (plan.scan.changed() if plan.scan is not None else "a guard changed")
            )
            return self._trace(key, args, kwargs, dyn, why)
        return self._trace(key, args, kwargs, dyn, None)

    def _keep(self, key: Any, plan: Plan) -> None:
        """Keep ``plan`` as the most recently used; drop the least recently used past the
        bounds (``max_plans`` in all, ``_MAX_VARIANTS`` per signature)."""
        plans = self._plans.setdefault(key, [])
        plans.insert(0, plan)
        self._plans.move_to_end(key)
        self._n_plans += 1
        if len(plans) > _MAX_VARIANTS:
            plans.pop()
            self._n_plans -= 1
        while self._n_plans > self.max_plans:
            old_key, old = next(iter(self._plans.items()))
            old.pop()
            self._n_plans -= 1
            if not old:
                del self._plans[old_key]
        self._mru = plan

    def _recheck(self, plan: Plan, args: tuple, kwargs: dict, dyn: list) -> None:
        """Trace once more (on the first replay) and refuse if the function applied other
        ops or other constants than the first time: randomness or a clock read where it
        cannot be seen (a Generator made inside, another library's RNG, ``secrets``,
        ``time``) would otherwise be frozen. Generator states are put back after."""
        plan.rechecked = True
        wrappers = [
            leaf(x.data, x.requires_grad, x.name)
            if isinstance(x, Value)
            else leaf(_arg_data(x), False)
            for x in dyn
        ]
        it = iter(wrappers)
        call = [_rebuild(args, it), _rebuild(kwargs, it)]
        gens = {
            id(g): g
            for g in chain(
                plan.scan.generators if plan.scan is not None else (),
                (x for ins in plan.instrs for x in _walk_params(ins.params)),
            )
            if isinstance(g, (np.random.Generator, np.random.RandomState, random.Random))
        }
        saved = [(g, _get_rng(g)) for g in gens.values()]
        globals_before = (np.random.get_state(), random.getstate())
        tracer = _Tracer()
        prev = state.tracer
        state.tracer = tracer
        open_blocks.traces += 1
        raised: Exception | None = None
        try:
            _swap_all(tracer, plan.scan.values if plan.scan is not None else [])
            _swap_all(tracer, plan.externals)
            _swap_all(tracer, wrappers)
            self.fn(*call[0], **call[1])
        except Exception as e:
            raised = e
        finally:
            open_blocks.traces -= 1
            state.tracer = prev
            tracer.restore()
            np.random.set_state(globals_before[0])
            random.setstate(globals_before[1])
            for g, st in saved:
                _set_rng(g, st)
        if raised is not None and not isinstance(raised, CompileError) and tracer.error is None:
            plan.rechecked = False  # an op refused this call's data: the replay says so,
            return  # and the check waits for the next call
        error = raised or tracer.error
        if error is not None:
            where = f"it raised {type(error).__name__}: {str(error).splitlines()[0]}"
        else:
            where = _first_difference(plan, tracer.tape)
        if where is not None:
            plan.rechecked = False
            raise CompileError(
                f"compiled {self._name} is not deterministic: traced again on its second "
                f"call, {where}\nrandomness or a clock read outside an op (a Generator made "
                "inside the function, another library's random numbers, secrets, time) would "
                "be frozen into every later call. Draw them outside and pass them as "
                "arguments, or inside an op that takes a Generator as a parameter (as "
                "nn.Dropout does)"
            )

    # ------------------------------------------------------------------ replay
    def _replay(self, plan: Plan, dyn: list, datas: list) -> Any:
        inputs = (
            *[x if isinstance(x, Value) else d for x, d in zip(dyn, datas)],
            *plan.externals,
        )
        outs, run = plan.run_forward(datas)
        plan.calls += 1
        if plan.single and not plan.grad_inside:  # one Value returned, as most losses do
            return record(outs[0], plan.op, inputs, plan.out_track[0], (run, 0), datas)
        return self._result(plan, outs, run, inputs, datas)

    def _result(self, plan: Plan, outs: list, run: _Run, inputs: tuple, datas: list) -> Any:
        if plan.grad_inside:  # enable_grad() inside, under an outer no_grad: as eagerly,
            prev = state.grad_enabled  # the outputs made with grad on require grad
            state.grad_enabled = True
            try:
                return self._result_nodes(plan, outs, run, inputs, datas)
            finally:
                state.grad_enabled = prev
        return self._result_nodes(plan, outs, run, inputs, datas)

    def _result_nodes(self, plan: Plan, outs: list, run: _Run, inputs: tuple, datas: list) -> Any:
        op = plan.op
        nodes = [
            record(out, op, inputs, track, (run, k), datas)
            for k, (out, track) in enumerate(zip(outs, plan.out_track))
        ]
        leaves = []
        for kind, x in plan.outdef[1]:
            if kind == "n":
                leaves.append(nodes[x])
            elif kind == "c":
                leaves.append(x)
            else:
                obj = inputs[x]
                leaves.append(obj if isinstance(obj, Value) else leaf(datas[x], False))
        return _unflatten(plan.outdef[0], iter(leaves))

    # ------------------------------------------------------------------ tracing
    def _trace(self, key: Any, args: tuple, kwargs: dict, dyn: list, why: str | None) -> Any:
        self.traces += 1
        if self.traces > self.max_retraces and not self._warned:
            self._warned = True
            warnings.warn(
                f"compiled {self._name} has traced {self.traces} times (max_retraces="
                f"{self.max_retraces}); the last because "
                + (why or f"of a new signature ({_describe_key_item(key[0])})")
                + ". Each trace costs about as much as a few eager calls: keep shapes, dtypes "
                "and the other guarded values stable (see docs/compile.md)",
                stacklevel=3,
            )
        arg_is_value = [isinstance(x, Value) for x in dyn]
        wrappers = [
            leaf(x.data, x.requires_grad, x.name)
            if isinstance(x, Value)
            else leaf(_arg_data(x), False)
            for x in dyn
        ]
        it = iter(wrappers)
        call = [_rebuild(args, it), _rebuild(kwargs, it)]  # fn's arguments, wrappers inside
        scan = _Scan()
        fn = self.fn
        if isinstance(fn, types.FunctionType):
            scan.function(fn)
        else:
            scan.add(fn, "the function")
        for x in _static_objects((args, kwargs)):
            scan.add(x, "an argument")
        scan.run()
        if scan.too_big is not None:
            raise CompileError(
                f"compiled {self._name} can see more than {_MAX_SCAN:,} objects (through "
                f"{scan.too_big}): every one would have to be guarded at every call, so it "
                "is refused rather than guarded in part. Pass the large data as an argument "
                "(an array), or keep it out of the compiled function's reach"
            )
        tracer = _Tracer()
        before = _global_rng_states()
        gens = [(g, _rng_state(g)) for g in scan.generators]

        def trace(tracer: _Tracer) -> Any:
            prev = state.tracer
            state.tracer = tracer
            open_blocks.traces += 1
            try:
                _swap_all(tracer, scan.values)
                _swap_all(tracer, wrappers)
                return fn(*call[0], **call[1])
            finally:
                open_blocks.traces -= 1
                state.tracer = prev
                tracer.restore()

        result = trace(tracer)
        if tracer.error is not None:
            raise tracer.error
        self._check_randomness(before, gens, tracer, lambda: trace(_Tracer()))
        call.clear()  # (no reference to a wrapper may remain: see _check_stashed)
        out_leaves: list[Any] = []
        tree = _flatten_outputs(result, out_leaves)
        del result
        plan = Plan(self._name, ", ".join(_describe_key_item(k) for k in key[0][1]))
        plan.arg_is_value = arg_is_value
        builder = _Builder(plan, tracer, wrappers)
        leaves = builder.build(out_leaves)
        _check_stashed(tracer, wrappers, out_leaves)
        builder.validate()
        plan.outdef = (tree, leaves)
        plan.single = tree is None and leaves == [("n", 0)]
        plan.scan = scan if (scan.snapshots or scan.guards or scan.cells or scan.attrs) else None
        plan.op = defop(
            f"compiled {self._name}",
            functools.partial(_op_forward, plan),
            functools.partial(_op_vjp, plan),
            joint=True,
            register=False,
            label=lambda run, k: (
                f"compiled {self._name}" + (f"[{k}]" if len(plan.out_slots) > 1 else "")
            ),
        )
        plan.back_any = any(steps is not None for steps in plan.back)
        plan.grad_inside = not key[2] and any(plan.out_track)
        plan._code = _Codegen(plan).generate()
        data = builder.data
        datas = list(data[: plan.n_inputs])
        traced = [data[s] for s in plan.out_slots]
        if plan.random:  # this call keeps the trace's own draws (one draw per call, as eagerly)
            outs: Any = traced
            run = _Run(plan, list(data), True)
        else:  # one replay: the generated code must give what the trace gave
            outs, run = plan.run_forward(datas)
            if not all(_same(a, b) for a, b in zip(outs, traced)):
                raise CompileError(
                    f"internal error: the plan of {self._name} does not reproduce its trace; "
                    "please report it (call the function uncompiled meanwhile)"
                )
        self._keep(key, plan)
        inputs = tuple(
            [x if isinstance(x, Value) else data[i] for i, x in enumerate(dyn)] + plan.externals
        )
        return self._result(plan, outs, run, inputs, datas)

    def _check_randomness(
        self, before: tuple, gens: list, tracer: _Tracer, again: Callable[[], Any]
    ) -> None:
        """Refuse a trace that drew random numbers outside an op (they would be frozen);
        to name the line, the function runs once more, watched, and the states are reset."""
        np_before, py_before = before
        np_after, py_after = _global_rng_states()
        in_ops = {
            id(x)
            for e in tracer.tape
            for x in _walk_params(e.params)
            if not isinstance(x, _SCALARS)
        }
        drawn = [g for g, s in gens if id(g) not in in_ops and _rng_state(g) != s]
        if np_after == np_before and py_after == py_before and not drawn:
            return

        def snapshot() -> tuple:
            return (*_global_rng_states(), *[_rng_state(g) for g in drawn])

        states = (np.random.get_state(), random.getstate(), [g.bit_generator.state for g in drawn])
        where = _watch(again, snapshot)
        np.random.set_state(states[0])
        random.setstate(states[1])
        for g, st in zip(drawn, states[2]):
            g.bit_generator.state = st
        at = f" at {_describe_site(where)}" if where else ""
        if np_after != np_before:
            source = "numpy's global generator (np.random.*)"
        elif py_after != py_before:
            source = "Python's random module"
        else:
            source = f"a {type(drawn[0]).__name__} it can see, outside any op,"
        raise CompileError(
            f"compiled {self._name} drew random numbers from {source} while tracing{at}\n"
            "they would be frozen into every later call. Draw them outside and pass them as "
            "arguments, or inside an op that takes a Generator as a parameter (as nn.Dropout "
            "does): a plan draws anew on every call"
        )


def _get_rng(g: Any) -> Any:
    if isinstance(g, np.random.Generator):
        return g.bit_generator.state
    return g.get_state() if isinstance(g, np.random.RandomState) else g.getstate()


def _set_rng(g: Any, st: Any) -> None:
    if isinstance(g, np.random.Generator):
        g.bit_generator.state = st
    elif isinstance(g, np.random.RandomState):
        g.set_state(st)
    else:
        g.setstate(st)


def _first_difference(plan: Plan, tape: list[_Entry]) -> str | None:
    """Where a second trace's ops or constants differ from the plan's, in words."""
    for ins, e in zip(plan.instrs, tape):
        if e.op is not ins.op or len(e.inputs) != len(ins.slots):
            return (
                f"it applied {e.op.name!r} at {_describe_site(e.site)} where it had "
                f"applied {ins.op.name!r}"
            )
        for s, c, x in zip(ins.slots, ins.consts, e.inputs):
            if (s is None) == isinstance(x, Value) or (s is None and not _same_const(c, x)):
                return f"a constant of {e.op.name!r} at {_describe_site(e.site)} changed"
        if not _same_const(ins.params, e.params):
            return f"a parameter of {e.op.name!r} at {_describe_site(e.site)} changed"
    if len(tape) != len(plan.instrs):
        return f"it applied {len(tape)} ops where it had applied {len(plan.instrs)}"
    return None


def _same_const(a: Any, b: Any) -> bool:
    """Two traces' constants agree: the same object (read live by the plan), or equal
    values; Generators only by identity (a new one would draw other numbers)."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t is float:
        return a == b or (a != a and b != b)
    if t is np.ndarray:
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if t is tuple or t is list:
        return len(a) == len(b) and all(map(_same_const, a, b))
    if t is dict:
        return a.keys() == b.keys() and all(_same_const(a[k], b[k]) for k in a)
    if isinstance(a, (np.random.Generator, np.random.RandomState, random.Random)):
        return False
    if isinstance(a, (*_SCALARS, np.generic, np.dtype, slice)):
        return bool(a == b) or (a != a and b != b)
    if isinstance(a, types.FunctionType):
        return a.__code__ is b.__code__
    return True  # another object of the same type (a Context, a scratch box): its role


def _watch(run: Callable[[], Any], snapshot: Callable[[], Any]) -> Site | None:
    """The user line after which ``snapshot()`` first changes while ``run`` runs (traced
    line by line: slow, only to name the line in an error)."""
    found: list[Site | None] = []
    last = [snapshot()]

    def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
        module = frame.f_globals.get("__name__") or ""
        if found or _is_library(module) or module.split(".")[0] in ("random", "numpy"):
            return None
        if event in ("line", "return"):
            now = snapshot()
            if now != last[0]:  # the line this frame ran last (or is returning from) drew
                line = frame.f_lineno if event == "return" else lines.get(frame, frame.f_lineno)
                found.append((frame.f_code.co_filename, line, frame.f_code.co_name))
                return None
            lines[frame] = frame.f_lineno
        return trace

    lines: dict[types.FrameType, int] = {}
    old = sys.gettrace()
    sys.settrace(trace)
    try:
        run()
    except Exception:  # only the line is wanted: the error is raised after
        pass
    finally:
        sys.settrace(old)
    return found[0] if found else None


def _swap_all(tracer: _Tracer, values: list[Value]) -> None:
    for v in values:
        tracer.swap(v)


def _live_data(plan: Plan) -> list | None:
    """The live Values' data, or None if one no longer matches the plan."""
    datas = []
    for v, sig in zip(plan.externals, plan.ext_sig):
        d = v.data
        if type(d) is float:
            if sig[0] != "float":
                return None
        elif type(d) is not sig[0] or d.shape != sig[1] or d.dtype != sig[2]:
            return None
        if v.requires_grad is not sig[-1]:
            return None
        datas.append(d)
    return datas


def _check_stashed(tracer: _Tracer, wrappers: list[Value], outputs: list[Any]) -> None:
    """Refuse a trace that kept a traced Value somewhere (an attribute, a global list...):
    the object would hold the trace's data forever, later calls would not update it."""
    tape = tracer.tape
    tuples = {id(e.inputs): e.inputs for e in tape}  # a node's _inputs is one of them
    for e in tape:  # a module call's record on the Value it returned (autograd_lite.scope)
        for call in getattr(e.node, "_calls", ()):
            tuples[id(call.inputs)] = call.inputs
    refs = Counter(
        map(
            id,
            chain((e.node for e in tape), chain.from_iterable(tuples.values()), outputs, wrappers),
        )
    )
    kept = _kept([e.node for e in tape] + wrappers, refs)
    if kept is not None:
        site = next((e.site for e in tape if id(e.node) == kept), None)
        made = f" (made at {_describe_site(site)})" if site else " (an argument)"
        raise CompileError(
            f"the compiled function kept a reference to a traced Value{made} outside its "
            "result, e.g. in an attribute, a global or a list: later calls would not update "
            "it. Return it instead, or keep it outside the compiled function"
        )


def _kept(candidates: list[Value], refs: dict[int, int]) -> int | None:
    """The id of a candidate referred to from more places than ``refs`` counts, if any."""
    for v in candidates:
        # the counted containers, the candidates list, ``v`` and getrefcount's argument
        if sys.getrefcount(v) > refs.get(id(v), 0) + 3:
            return id(v)
    return None


def plan_of(v: Value) -> tuple[Plan, int] | None:
    """The plan and output index of a node made by a compiled call; None for other nodes."""
    ctx = v._ctx
    if ctx and len(ctx) == 2 and type(ctx[0]) is _Run:
        return ctx[0].plan, ctx[1]
    return None


def _op_forward(plan: Plan, *args: Any) -> Any:
    """The compiled op's forward: the plan replayed on these inputs (output ``k``)."""
    *datas, _run, k = args
    vals = plan.forward_interp(list(datas))
    return vals[plan.out_slots[k]]


def _op_vjp(plan: Plan, g: Any, out: Any, *args: Any) -> Any:
    """The compiled op's VJP: the plan's backward of output ``k``."""
    if isinstance(out, Value):  # create_graph=True: the inputs are Values
        return plan.vjp_create_graph(g, args[:-2], args[-1])
    return plan.vjp(g, args[:-2], args[-2], args[-1])


def compile(
    fn: Callable | None = None,
    *,
    max_retraces: int = DEFAULT_MAX_RETRACES,
    max_plans: int = DEFAULT_MAX_PLANS,
) -> Any:
    """``fn`` traced once per signature and replayed as a fixed plan (also a decorator).

    Same results as ``fn`` up to floating rounding; see docs/compile.md for what is
    traced, frozen, guarded and refused.
    """
    if fn is None:
        return functools.partial(compile, max_retraces=max_retraces, max_plans=max_plans)
    return CompiledFunction(fn, max_retraces, max_plans)
