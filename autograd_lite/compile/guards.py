"""When a plan may be replayed: what the function can see, and the call's signature.

:class:`Scan` walks everything the function can reach (closure, globals, defaults, module
attributes, ``self``) and guards it, checked at every call (:meth:`Scan.hold`).
:func:`key_of` turns a call's arguments into its signature key (types, shapes, dtypes,
``requires_grad``, nesting, static values) and its dynamic items; :func:`rebuild` puts
new dynamic items back into the same structure.
"""

from __future__ import annotations

import array
import contextvars
import dis
import functools
import math
import operator
import os
import random
import sys
import types
import weakref
from collections import deque
from collections.abc import Callable, Iterator
from typing import Any, cast

import numpy as np

from autograd_lite.compile.frames import LIBRARY, CompileError, is_library
from autograd_lite.core.value import Value, as_data

__all__: list[str] = []  # package-internal

# ------------------------------------------------------ what the function can see (guards)

SCALARS = (bool, int, float, str, bytes, complex, type(None))
_SKIP = (types.BuiltinFunctionType, np.ndarray, np.dtype, np.generic, CompileError)
_BOUND_BUILTINS = (types.BuiltinMethodType, types.MethodWrapperType)
MAX_SCAN = 100_000
_MAX_GUARDED_ARRAY = 4096  # items of a reached array, not read live, guarded by content
_FOREIGN = ("numpy", "builtins", *LIBRARY, *getattr(sys, "stdlib_module_names", ()))


def _foreign(module: Any) -> bool:
    """Code whose state is no input of a user's function: numpy, the standard library and
    this library (their attributes are guarded by identity, not walked)."""
    return not isinstance(module, str) or module.split(".", 1)[0] in _FOREIGN


class Scan:
    """Values, Generators and guards found from a function's closure, globals and ``self``.

    Everything the function can reach is guarded, so "unchanged" is checked, never
    assumed: every list, set, dict, object ``__dict__``, ``__slots__`` object and user
    class ``__dict__`` reached is snapshot (its keys and values, compared by identity at
    each call; an equal number or string counts as the same); the globals the function
    names, the attributes of the modules it names (by the names in its bytecode), its
    closure cells, ``__defaults__``, ``__kwdefaults__`` and ``__code__`` one by one. There
    is no depth limit; a walk past ``MAX_SCAN`` objects is refused (``too_big``).
    """

    def __init__(self) -> None:
        self.values: list[Value] = []
        self.generators: list[Any] = []
        self.snapshots: list[list[Any]] = []  # [container, keys (dicts) or None, values]
        self.guards: list[tuple[dict, str, Any]] = []  # globals: (dict, name, value)
        self.attrs: list[tuple[Any, str, Any]] = []  # slots, defaults: (obj, name, value)
        self.cells: list[tuple[Any, Any]] = []
        self.reads: list[tuple[Callable[[], Any], Any]] = []  # ContextVar, weakref: (read, value)
        self.arrays: list[np.ndarray] = []  # reached; see content_guards
        self.contents: list[tuple[np.ndarray, bytes]] = []
        self._own: set[int] = set()  # arrays held by this library's objects
        self.too_big: str | None = None  # where the walk ran out of budget
        self._seen: set[int] = set()
        self._classes: set[type] = set()
        self._names: set[str] = set()  # every name in the bytecode walked so far
        self._modules: dict[int, tuple[types.ModuleType, set[str], str]] = {}
        self._stack: list[tuple[Any, str]] = []
        self._root = "the function"

    def add(self, obj: Any, root: str | None = None) -> None:
        self._stack.append((obj, root or self._root))

    def run(self) -> None:
        """Walk until nothing is left: a module reached (however: a global, a cell, an
        attribute, an argument, an import inside) has its attributes guarded by every name
        of the bytecode walked, also of code walked after it was reached."""
        while True:
            self._walk()
            if self.too_big is not None:
                return
            late = [m for m in self._modules.values() if self._names - m[1]]
            if not late:
                return
            for mod, _, root in late:
                self.module(mod, self._names, root)

    def _walk(self) -> None:
        from autograd_lite.compile.api import CompiledFunction  # late: api imports guards

        stack, seen = self._stack, self._seen
        while stack:
            obj, root = stack.pop()
            if id(obj) in seen or isinstance(obj, SCALARS):
                continue
            if len(seen) >= MAX_SCAN:
                self.too_big = root
                return
            seen.add(id(obj))
            if isinstance(obj, Value):
                self.values.append(obj)
            elif isinstance(obj, (np.random.Generator, np.random.RandomState)):
                self.generators.append(obj)
            elif isinstance(obj, contextvars.ContextVar):  # its value in this context
                read = functools.partial(obj.get, _MISSING)
                self.reads.append((read, read()))
                stack.append((read(), root))
            elif isinstance(obj, weakref.ref):  # what it refers to (or that it died)
                self.reads.append((obj, obj()))
                stack.append((obj(), root))
            elif _foreign(type(obj).__module__) and hasattr(type(obj), "__length_hint__"):
                # a list/tuple/range iterator: its position, by the items it has left
                read = functools.partial(operator.length_hint, obj)
                self.reads.append((read, read()))
            elif type(obj) is np.ndarray and obj.dtype == object:  # layers in an array
                flat = obj.reshape(-1)  # a view (live) unless it had to copy
                flat = flat if np.shares_memory(flat, obj) or not obj.size else obj
                self.snapshots.append([flat, None, tuple(flat)])
                stack.extend((x, root) for x in flat)
            elif type(obj) is np.ndarray:
                self.arrays.append(obj)
            elif isinstance(obj, _BOUND_BUILTINS):  # CFG.get: what it is bound to
                owner = getattr(obj, "__self__", None)
                if owner is not None and not isinstance(owner, types.ModuleType):
                    stack.append((owner, root))
            elif isinstance(obj, _SKIP):
                continue
            elif isinstance(obj, (list, set, deque, array.array)):
                self.snapshots.append([obj, None, tuple(obj)])
                stack.extend((x, root) for x in obj)
            elif isinstance(obj, (tuple, frozenset)):
                stack.extend((x, root) for x in obj)
            elif isinstance(obj, (dict, types.MappingProxyType)):
                self.snapshots.append([obj, tuple(obj), tuple(obj.values())])
                stack.extend((x, root) for x in obj.values())
            elif isinstance(obj, type):
                self.cls(obj, root)
                self.cls(type(obj), root)  # a user metaclass's attributes
            elif isinstance(obj, types.ModuleType):  # its attributes, by name
                self.module(obj, self._names, root)
            elif isinstance(obj, types.FunctionType):
                if not is_library(obj.__module__):  # the library's own state is no input
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
                user = not _foreign(type(obj).__module__)
                if user:  # obj.__class__ = Other
                    self.attrs.append((obj, "__class__", type(obj)))
                attrs = getattr(obj, "__dict__", None)
                live = getattr(type(obj), "_read_live", None)
                if live is not None and not user and type(attrs) is dict:
                    # an optimizer's or a schedule's state, read by its own replayed
                    # calls at every replay (core.modes.replayed): not guarded
                    stack.extend((x, root) for k, x in attrs.items() if k not in live)
                elif type(attrs) is dict and id(attrs) not in seen:
                    seen.add(id(attrs))
                    if user:  # obj.__dict__ = {...} (the library's objects never do it)
                        self.attrs.append((obj, "__dict__", attrs))
                    self.snapshots.append([attrs, tuple(attrs), tuple(attrs.values())])
                    stack.extend((x, root) for x in attrs.values())
                    if not user and is_library(type(obj).__module__):
                        # a layer's buffers: its ops read them (or refuse); any other array
                        # (one you keep on a layer, or on a SimpleNamespace) is guarded
                        self._own.update(
                            id(attrs[n])
                            for n in attrs.get("_buffer_names", ())
                            if type(attrs.get(n)) is np.ndarray
                        )
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
        if fn.__dict__:  # its own attributes (f.scale): the dict, and that it stays
            self.attrs.append((fn, "__dict__", fn.__dict__))
            self.add(fn.__dict__, root or f"an attribute of {fn.__qualname__}")
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
        self._names |= names
        read = set(_global_names(fn.__code__))
        for name in names:
            if name in g and name in read:
                value = g[name]
                self.guards.append((g, name, value))
                if isinstance(value, types.ModuleType):
                    self.module(value, names, root or f"the global {name!r}")
                else:
                    self.add(value, root or f"the global {name!r}")
            mod = sys.modules.get(name)  # ``import name`` inside the function
            if isinstance(mod, types.ModuleType) and g.get(name) is not mod:
                self.module(mod, names, root or f"the module {name!r}")
        for text in _strings(fn.__code__):  # sys.modules['m'], import_module('m')
            mod = sys.modules.get(text)
            if isinstance(mod, types.ModuleType):
                self.module(mod, names, root or f"the module {text!r}")
        if "globals" in names and "globals" not in g:  # globals()[...]: all of them
            self.snapshots.append([g, tuple(g), tuple(g.values())])

    def content_guards(self, live: set[int]) -> None:
        """The arrays reached, up to ``_MAX_GUARDED_ARRAY`` items, guarded by their bytes: a
        number computed from one with numpy while tracing (``x * S[0]``, ``m.sum()`` beside
        an op reading ``m`` live) would be frozen. Not a layer's buffers, nor the data of
        the live Values (``live``: ids), which change at every step and are read live."""
        for a in self.arrays:
            if id(a) in self._own or a.size > _MAX_GUARDED_ARRAY:
                continue
            b: Any = a
            while isinstance(b, np.ndarray) and id(b) not in live:
                b = b.base
            if not isinstance(b, np.ndarray):  # neither it nor what it views is live
                self.contents.append((a, a.tobytes()))

    def imports(self) -> None:
        """After the trace: the modules the function imported inside itself for the first
        time (not in ``sys.modules`` before), guarded as the others."""
        for name in sorted(self._names):
            mod = sys.modules.get(name)
            if isinstance(mod, types.ModuleType) and id(mod) not in self._modules:
                self.module(mod, self._names, f"the module {name!r}")
        self.run()

    def module(self, mod: types.ModuleType, names: set[str], root: str) -> None:
        """The attributes of ``mod`` the code may read (any of its bytecode's names), each
        guarded; walked unless the module is numpy's, the standard library's or ours.
        Called again with more names, it guards the new ones."""
        self._seen.add(id(mod))
        entry = self._modules.get(id(mod))
        if entry is None:
            entry = self._modules[id(mod)] = (mod, set(), root)
        new = names - entry[1]
        entry[1].update(new)
        d = mod.__dict__
        walk = not _foreign(mod.__name__)
        for name in new:
            if name in d:
                value = d[name]
                self.guards.append((d, name, value))
                if isinstance(value, types.ModuleType):
                    self.module(value, names, root)
                elif walk:
                    self.add(value, root)
                elif value is os.environ:  # read by key: every key and value guarded
                    self.snapshots.append([value, tuple(value), tuple(value.values())])

    def hold(self) -> bool:
        """True while every guarded container, cell and global is as traced."""
        for snap in self.snapshots:
            c = snap[0]
            keys = snap[1]
            now: Any = tuple(c.values()) if keys is not None else tuple(c)  # reused below
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
        for read, expected in self.reads:
            now = read()
            if now is not expected and not _same_scalar(now, expected):
                return False
        return all(a.tobytes() == content for a, content in self.contents)

    def changed(self) -> str:
        """What no longer holds, in words (for the retrace warning)."""
        for c, keys, old in self.snapshots:
            if keys is not None:
                for k, v in zip(keys, old):
                    now = c.get(k, _MISSING)
                    if not _same_value(now, v):
                        return f"{k!r} changed from {short(v)} to {short(now)}"
                if tuple(c) != keys:
                    return "an attribute or key was added, removed or reordered"
            elif len(c) != len(old) or not all(map(_same_value, c, old)):
                return f"a {type(c).__name__} the function can see changed"
        for g, name, expected in self.guards:
            if not _same_value(g.get(name, _MISSING), expected):
                return f"the global {name!r} changed from {short(expected)}"
        for obj, name, expected in self.attrs:
            if not _same_value(getattr(obj, name, _MISSING), expected):
                return f"the attribute {name!r} changed from {short(expected)}"
        for a, content in self.contents:
            if a.tobytes() != content:
                return f"a captured array of shape {a.shape} changed in place"
        for read, expected in self.reads:
            if not _same_value(read(), expected):
                return "a ContextVar's value, a weakref's target or an iterator's position changed"
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


def _global_names(code: types.CodeType) -> Iterator[str]:
    """The names the code (and code nested in it) reads or writes as globals: not those it
    uses only as attributes (``opt.step()`` does not read a global ``step``)."""
    for ins in dis.get_instructions(code):
        if "GLOBAL" in ins.opname or ins.opname.endswith("_NAME"):
            yield ins.argval
    for c in code.co_consts:
        if isinstance(c, types.CodeType):
            yield from _global_names(c)


def _strings(code: types.CodeType) -> Iterator[str]:
    for c in code.co_consts:
        if type(c) is str:
            yield c
        elif isinstance(c, types.CodeType):
            yield from _strings(c)


def _same_scalar(a: Any, b: Any) -> bool:
    """The same immutable scalar: equal type and value, floats bit-for-bit in effect (``-0.0``
    is not ``0.0``: ``1/x`` differs; NaN is NaN)."""
    if type(a) is not type(b) or not isinstance(a, SCALARS):
        return False
    if isinstance(a, complex):
        return same_float(a.real, b.real) and same_float(a.imag, b.imag)
    if isinstance(a, float):
        return same_float(a, b)
    return a == b


def same_float(a: float, b: float) -> bool:
    if a != a:
        return b != b
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def short(x: Any) -> str:
    text = repr(x) if isinstance(x, SCALARS) else f"a {type(x).__name__}"
    return text if len(text) < 60 else text[:57] + "..."


def rng_state(g: Any) -> Any:
    if isinstance(g, np.random.RandomState):
        s = cast(tuple, g.get_state())  # legacy form (the default): MT19937's tuple
        return (bytes(s[1].data), s[2], s[3], s[4])
    return repr(g.bit_generator.state)


def global_rng_states() -> tuple:
    return rng_state(np.random.mtrand._rand), random.getstate()


# ------------------------------------------------------------------- arguments and keys

_FLOAT_KEY = ("f",)


def key_of(x: Any, dyn: list) -> Any:
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
        # not narrowed by mypy from ``type(d) is float``; d is an ndarray in the else branch
        return ("V", x.requires_grad, None if type(d) is float else (d.shape, d.dtype))  # type: ignore[union-attr]
    if t is list or t is tuple:
        return (t, tuple([key_of(i, dyn) for i in x]))
    if t is dict:
        return (t, tuple([(_static_key(k), key_of(v, dyn)) for k, v in x.items()]))
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
        return (t, tuple([key_of(i, dyn) for i in x]))
    if t is frozenset:
        return (t, frozenset([_static_key(i) for i in x]))
    return ("o", _Identity(x))


def _static_key(x: Any) -> Any:
    """A dict key or set item in a signature: an immutable scalar by (type, value, sign of
    zero), a tuple item by item, anything else by identity (``__eq__``/``__hash__`` may call
    different objects equal: ``0.0 == -0.0``, ``1 == True``, ``compare=False`` fields)."""
    t = type(x)
    if t is float or t is complex:
        return (t, x, repr(x))  # repr: the sign of a zero, and NaN
    if t in _VALUE_TYPES:
        return (t, x)
    if t is tuple:
        return (t, tuple([_static_key(i) for i in x]))
    return _Identity(x)


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


def rebuild(x: Any, leaves: Iterator[Any]) -> Any:
    """``x`` with its dynamic items replaced, in the order :func:`key_of` found them."""
    t = type(x)
    if t is float or t is np.ndarray or isinstance(x, (Value, np.floating, np.ndarray)):
        return next(leaves)
    if t is list:
        return [rebuild(i, leaves) for i in x]
    if t is tuple:
        return tuple([rebuild(i, leaves) for i in x])
    if t is dict:
        return {k: rebuild(v, leaves) for k, v in x.items()}
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return t._make([rebuild(i, leaves) for i in x])
    return x


def containers_of(x: Any) -> list[tuple[Any, list]]:
    """The lists and dicts inside rebuilt arguments ``x``, each with its items as they are
    now (a change in place shows against them: see :func:`changed_container`)."""
    found: list[tuple[Any, list]] = []
    stack = [x]
    while stack:
        item = stack.pop()
        if type(item) is list:
            found.append((item, list(item)))
            stack.extend(item)
        elif type(item) is dict:
            found.append((item, list(item.items())))
            stack.extend(item.values())
        elif isinstance(item, tuple):
            stack.extend(item)
    return found


def changed_container(found: list[tuple[Any, list]]) -> str | None:
    """What kind of container of :func:`containers_of` the function changed, if any."""
    for c, was in found:
        now = list(c.items()) if type(c) is dict else list(c)
        if len(now) != len(was) or any(
            (a[0] != b[0] or a[1] is not b[1]) if type(c) is dict else a is not b
            for a, b in zip(now, was)
        ):
            return "dict" if type(c) is dict else "list"
    return None


def static_objects(x: Any) -> Iterator[Any]:
    """The objects among the arguments that are neither containers nor dynamic items."""
    stack = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (list, tuple, frozenset, set)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif not isinstance(item, (Value, np.ndarray, np.generic, *SCALARS)):
            yield item


def arg_data(x: Any) -> Any:
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


def describe_key_item(k: Any) -> str:
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
        inner = ", ".join(describe_key_item(i if k[0] is not dict else i[1]) for i in k[1])
        return ("[%s]" if k[0] is list else "(%s)" if k[0] is tuple else "{%s}") % inner
    if isinstance(k, tuple) and len(k) == 2 and isinstance(k[0], type):
        return repr(k[1])
    return "object"
