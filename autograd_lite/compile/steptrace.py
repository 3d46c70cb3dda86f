"""Tracing a whole training step: what a trace records besides ops once the function
calls ``loss.backward()`` (:class:`StepTrace`): the replayed library calls (:class:`Host`),
the reads (:class:`Read`) and writes (:class:`Write`) of leaves' ``.data``/``.grad``,
hyper-parameters read, in-place updates; :func:`apply_write` writes as a replay does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograd_lite.compile.frames import Site, site_of, user_frame
from autograd_lite.compile.trace import DATA, GRAD, Tracer, is_traced, refuse
from autograd_lite.core.modes import open_blocks
from autograd_lite.core.value import Value, leaf

__all__: list[str] = []  # package-internal


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
        self.forward: set[int] = set()  # the ids of the nodes made before backward()
        self.noted: list[tuple[Callable[[], Any], Any]] = []  # reads guarded: (read, value)
        # a stand-in changed in place: (the tape's length then, where), by id
        self.mutated: dict[int, tuple[int, Site | None]] = {}
        self.initial_grads: dict[int, bool] = {}  # .grad is None at the trace's start, by id
        self._reads = 0

    def note(self, tracer: Tracer, container: Any, key: Any, value: Any) -> Any:
        """``container[key]`` read by the function's own code (see ``core.modes.noted``):
        guarded, or after backward() a number read live (a stand-in Value)."""
        if self.host_depth:
            return value
        if self.backward_at is None:
            if any(isinstance(h, Host) and h.changes == "state" for h in self.before):
                self.refuse_read(
                    container,
                    f"{type(container).__name__}[{key!r}] after a "
                    "schedule's step() and before backward()",
                )
            self.noted.append((functools.partial(dict.get, container, key), value))
            return value  # guarded: a change traces again
        if not isinstance(value, (float, np.floating)):
            self.noted.append((functools.partial(dict.get, container, key), value))
            return value
        # a number read at each replay, of the same type (a numpy float keeps its dtype)
        self.noted.append((functools.partial(_type_of, container, key), type(value)))
        stand_in = leaf(value if type(value) is float else np.asarray(value), False)
        tracer.swap(stand_in)
        self.events.append(Read(stand_in, (container, key), "item"))
        return stand_in

    def refuse_read(self, owner: Any, what: str) -> None:
        refuse(
            f"reading {what} inside a compiled function",
            "only its own replayed calls read it, at each call",
            "Read it outside the compiled function and pass it as an argument",
            depth=4,
        )

    def refuse_assignment(self, container: Any, key: Any) -> None:
        refuse(
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
            refuse(
                "a second backward() inside a compiled function",
                "a compiled step takes one backward()",
                "Sum the losses and call backward() once",
                depth=4,
            )
        if create_graph or gradient is not None:
            refuse(
                "backward(gradient or create_graph) inside a compiled function",
                "a compiled step takes loss.backward() of a one-element loss",
                "Call loss.backward() with no arguments, or take higher-order gradients outside",
                depth=4,
            )
        if open_blocks.observers:
            refuse(
                "backward() inside a compiled function called under forward mode or checkpoint",
                "a whole step is traced on the arguments themselves, which they observe",
                "Call the step outside ag.jvp/ag.checkpoint",
                depth=4,
            )
        if not any(e.node is root for e in tracer.tape):
            refuse(
                "backward() of a Value not computed inside the compiled function",
                "only the function's own ops are replayed",
                "Compute the loss inside the compiled function",
                depth=4,
            )
        self.backward_at = len(tracer.tape)
        self.root = root
        self.site = site_of(user_frame(3))
        if self.first is not None:
            self.forward = {id(e.node) for e in tracer.tape}
            return
        self.forward = produced = {id(e.node) for e in tracer.tape}
        for e in tracer.tape:
            for x in e.inputs:
                if isinstance(x, Value) and id(x) not in produced and id(x) not in self.snapshot:
                    d = DATA.__get__(x)
                    self.snapshot[id(x)] = d.copy() if type(d) is not float else d
            d = DATA.__get__(e.node)
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
                refuse(
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
            reads = [  # (a call's number and a hyper-parameter are not .data/.grad reads)
                r
                for r in self.first.events
                if isinstance(r, Read) and r.attr not in ("result", "item")
            ]
            old = reads[self._reads].value if self._reads < len(reads) else None
            data = None if old is None else DATA.__get__(old)
        else:
            data = DATA.__get__(v) if attr == "data" else GRAD.__get__(v)
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
        data = DATA.__get__(value)
        if type(data) is not np.ndarray:  # a float: immutable, so ``-=`` assigns anew
            return
        w = Write(was.target, was.attr, result, site_of(user_frame(3)), inplace=True)
        self.events.append(w)
        self.current[now] = w
        self.mutated[id(value)] = (len(tracer.tape), w.site)
        if self.first is None:
            apply_write(w.target, w.attr, DATA.__get__(result), True)

    def write(self, tracer: Tracer, v: Value, attr: str, value: Any) -> bool:
        """Record ``v.data = value`` (``v.grad = value``); False where it cannot be replayed."""
        if v._op is not None:
            return False
        traced = isinstance(value, Value) and is_traced(value)
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
                if id(value) in self.forward:
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
                data = read.live if read is not None else DATA.__get__(value)
            else:
                data = value
            apply_write(v, attr, data, False)
        return True


def _type_of(container: dict, key: Any) -> type:
    return type(dict.get(container, key))


def apply_write(v: Value, attr: str, data: Any, inplace: bool) -> None:
    """``v.data = data`` (``v.grad``): ``inplace`` into the array it holds, with numpy's
    casting (as ``p.data -= x``), else by assignment."""
    descriptor = DATA if attr == "data" else GRAD
    if inplace:
        np.copyto(descriptor.__get__(v), data, casting="same_kind")
    else:
        descriptor.__set__(v, data)


def _fixed(a: Any, produced: set[int], fn: Callable) -> Any:
    """A replayed call's argument, as it will be passed again: an iterator (such as
    ``model.parameters()``) as the tuple it gave; never a Value the trace computed."""
    if isinstance(a, Value):
        if id(a) in produced:
            refuse(
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
