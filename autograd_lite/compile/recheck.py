"""Checks on a trace: where a second trace's ops, constants or result differ from a plan's,
the user line after which a watched state first changes, and whether a traced Value was
kept; and the collector paused while tracing.
"""

from __future__ import annotations

import contextlib
import gc
import random
import sys
import types
from collections import Counter
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from autograd_lite.compile.build import flatten_outputs
from autograd_lite.compile.frames import CompileError, Site, describe_site, is_library
from autograd_lite.compile.guards import SCALARS, same_float, short
from autograd_lite.compile.plan import Plan
from autograd_lite.compile.trace import Entry, Tracer
from autograd_lite.core.value import Value

__all__: list[str] = []  # package-internal


def first_difference(plan: Plan, tape: list[Entry]) -> str | None:
    """Where a second trace's ops or constants differ from the plan's, in words."""
    for ins, e in zip(plan.instrs, tape):
        if e.op is not ins.op or len(e.inputs) != len(ins.slots):
            return (
                f"it applied {e.op.name!r} at {describe_site(e.site)} where it had "
                f"applied {ins.op.name!r}"
            )
        for s, c, x in zip(ins.slots, ins.consts, e.inputs):
            if (s is None) == isinstance(x, Value) or (s is None and not same_const(c, x)):
                return f"a constant of {e.op.name!r} at {describe_site(e.site)} changed"
        if not same_const(ins.params, e.params):
            return f"a parameter of {e.op.name!r} at {describe_site(e.site)} changed"
    if len(tape) != len(plan.instrs):
        return f"it applied {len(tape)} ops where it had applied {len(plan.instrs)}"
    return None


def other_outputs(plan: Plan, result: Any) -> str | None:
    """Where a second trace's result differs from the plan's outputs that are no Values
    (constants returned as they are: a random float returned would be frozen), in words."""
    leaves: list[Any] = []
    if flatten_outputs(result, leaves) != plan.outdef[0] or len(leaves) != len(plan.outdef[1]):
        return "it returned a result of another structure"
    for (kind, x), now in zip(plan.outdef[1], leaves):
        if kind == "c" and not same_const(x, now):
            return f"it returned {short(now)} where it had returned {short(x)}"
    return None


def same_const(a: Any, b: Any) -> bool:
    """Two traces' constants agree: the same object (read live by the plan), or equal
    values; Generators only by identity (a new one would draw other numbers)."""
    if a is b:
        return True
    t = type(a)
    if t is not type(b):
        return False
    if t is float:
        return same_float(a, b)
    if t is np.ndarray:
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if t is tuple or t is list:
        return len(a) == len(b) and all(map(same_const, a, b))
    if t is dict:
        return a.keys() == b.keys() and all(same_const(a[k], b[k]) for k in a)
    if isinstance(a, (np.random.Generator, np.random.RandomState, random.Random)):
        return False
    if isinstance(a, (*SCALARS, np.generic, np.dtype, slice)):
        return bool(a == b) or (a != a and b != b)
    if isinstance(a, types.FunctionType):
        return a.__code__ is b.__code__
    return True  # another object of the same type (a Context, a scratch box): its role


def watch(run: Callable[[], Any], snapshot: Callable[[], Any]) -> Site | None:
    """The user line after which ``snapshot()`` first changes while ``run`` runs (traced
    line by line: slow, only to name the line in an error)."""
    found: list[Site | None] = []
    last = [snapshot()]

    def trace(frame: types.FrameType, event: str, arg: Any) -> Any:
        module = frame.f_globals.get("__name__") or ""
        if found or is_library(module) or module.split(".")[0] in ("random", "numpy"):
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
    # (paused: a collection's callbacks, another library's, would run traced lines)
    with collector_paused():
        sys.settrace(trace)
        try:
            run()
        except Exception:  # only the line is wanted: the error is raised after
            pass
        finally:
            sys.settrace(old)
    return found[0] if found else None


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic collector paused while tracing, then as it was: a trace keeps every
    object it makes (one node, its inputs' tuple and a tape entry per op), so each
    collection the allocations trigger would scan them all and free nothing; paused, a
    65,000-op trace takes about 15% less time. Cycles made meanwhile are freed after."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def check_stashed(
    tracer: Tracer, wrappers: list[Value], outputs: list[Any], own: list[Value]
) -> None:
    """Refuse a trace that kept a traced Value somewhere (an attribute, a global list...):
    the object would hold the trace's data forever, later calls would not update it."""
    tape = tracer.tape
    tuples = {id(e.inputs): e.inputs for e in tape}  # a node's _inputs is one of them
    for e in tape:  # a module call's record on the Value it returned (autograd_lite.core.scope)
        for call in getattr(e.node, "_calls", ()):
            tuples[id(call.inputs)] = call.inputs
    held = tracer.step.values()  # a whole step's references (each also in this list)
    refs = Counter(
        map(
            id,
            chain(
                (e.node for e in tape),
                chain.from_iterable(tuples.values()),
                outputs,
                wrappers,
                held,
                held,
            ),
        )
    )
    mine = {id(v) for v in own}  # the caller's own Values (arguments): theirs to keep
    candidates = (
        [e.node for e in tape]
        + [w for w in wrappers if id(w) not in mine]
        + tracer.step.stand_ins()  # a .grad read after backward() kept in a list...
    )
    kept = kept_reference(candidates, refs)
    if kept is not None:  # garbage in a reference cycle may hold it (the collector was
        gc.collect()  # paused during the trace): collect it, then look again
        kept = kept_reference(candidates, refs)
    if kept is not None:
        site = next((e.site for e in tape if id(e.node) == kept), None)
        made = (
            f" (made at {describe_site(site)})"
            if site
            else " (a .data or .grad read after backward())"
            if any(id(v) == kept for v in tracer.step.stand_ins())
            else " (an argument)"
        )
        raise CompileError(
            f"the compiled function kept a reference to a traced Value{made} outside its "
            "result, e.g. in an attribute, a global or a list: later calls would not update "
            "it. Return it instead, or keep it outside the compiled function"
        )


def kept_reference(candidates: list[Value], refs: dict[int, int]) -> int | None:
    """The id of a candidate referred to from more places than ``refs`` counts, if any."""
    for v in candidates:
        # the counted containers, the candidates list, ``v`` and getrefcount's argument
        if sys.getrefcount(v) > refs.get(id(v), 0) + 3:
            return id(v)
    return None
