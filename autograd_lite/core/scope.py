"""Which module made which node: what ``Module.__call__`` records, and what drawings infer.

Recording costs nothing per operation. Each module call takes a tick of a clock before
``forward`` runs and one after, and stores one small :class:`Call` (the module, the
Values among its arguments, the two ticks) on the Value(s) it returns, in their
``_calls`` slot (left unset on every other node, so it is read with ``getattr``).

A drawing then infers the rest (:func:`module_regions`): the nodes of a call are those
found by walking back from its outputs, stopping at its inputs and at any node made
by a call that had finished before this one started (a state kept on the module and
fed back, say). A node belongs to the innermost call that reaches it; a node reached
by sibling calls (the weights of a module called twice) belongs to the call holding
both. Nodes computed outside every module and reached only through a module's
attribute cannot be told apart from the module's own work; pass them as arguments.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Iterable
from typing import Any

from autograd_lite.core.value import Value

__all__ = ["Call", "ModuleCalls", "module_regions", "record_call", "tick"]

tick = itertools.count().__next__
"""The clock: ``tick()`` returns the next integer (one before and one after a call)."""


class Call:
    """One call of a module: the module, its input Values and its clock interval."""

    __slots__ = ("end", "inputs", "module", "start")

    def __init__(self, module: Any, inputs: tuple[Value, ...], start: int, end: int) -> None:
        self.module = module
        self.inputs = inputs
        self.start = start
        self.end = end

    def __repr__(self) -> str:
        return f"Call({type(self.module).__name__}, start={self.start}, end={self.end})"


def _values(args: Iterable[Any]) -> Iterable[Value]:
    for a in args:
        if isinstance(a, Value):
            yield a
        elif isinstance(a, (list, tuple)):
            yield from (x for x in a if isinstance(x, Value))


def record_call(module: Any, args: tuple, kwargs: dict, out: Any, start: int) -> None:
    """Mark the Value(s) ``out`` returned by ``module(*args, **kwargs)`` (called at ``start``).

    One store per returned Value (a Value, or the Values in a returned tuple, list or
    dict) that the call made: nothing for a leaf (a module returning a parameter) or an
    input handed back unchanged (``Identity``, ``Dropout`` in eval mode), which would
    otherwise collect a record per call for as long as they live.
    """
    if isinstance(out, Value):  # the common case, made fast: one Value in, one out
        if out._op is None:
            return
        if not kwargs and len(args) == 1 and isinstance(args[0], Value):
            if out is not args[0]:
                out._calls = (*getattr(out, "_calls", ()), Call(module, args, start, tick()))
            return
        outs: tuple = (out,)
    elif isinstance(out, (tuple, list)):
        outs = tuple(x for x in out if isinstance(x, Value))
    elif isinstance(out, dict):
        outs = tuple(x for x in out.values() if isinstance(x, Value))
    else:
        return
    inputs = tuple(_values(args))
    if kwargs:
        inputs += tuple(_values(kwargs.values()))
    outs = tuple(v for v in outs if v._op is not None and not any(v is x for x in inputs))
    if not outs:
        return
    call = Call(module, inputs, start, tick())
    for v in outs:
        v._calls = (*getattr(v, "_calls", ()), call)


class ModuleCalls:
    """The module calls of a drawing, their nesting and the owner of every drawn node.

    ``calls``: the calls, outermost first; ``parent[c]``: the call holding call ``c``
    (None at the top); ``depth[c]``: 1 for an outermost call; ``owner[v]``: the
    innermost call that made Value ``v`` (drawn Values only; absent: no module);
    ``outputs[c]``: the drawn Values returned by ``c``.
    """

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.parent: dict[Call, Call | None] = {}
        self.depth: dict[Call, int] = {}
        self.owner: dict[Value, Call] = {}
        self.outputs: dict[Call, list[Value]] = {}

    def ancestors(self, c: Call | None) -> list[Call]:
        """``c`` and the calls holding it, innermost first."""
        out = []
        while c is not None:
            out.append(c)
            c = self.parent[c]
        return out


def module_regions(order: list[Value], drawn: Any) -> ModuleCalls:
    """Which call made each Value of ``order`` (the drawn Values; ``drawn``: a set of them)."""
    mc = ModuleCalls()
    for v in order:
        for c in getattr(v, "_calls", ()):
            outs = mc.outputs.get(c)
            if outs is None:
                mc.outputs[c] = outs = []
            outs.append(v)
    if not mc.outputs:
        return mc
    mc.calls = sorted(mc.outputs, key=lambda c: c.start)
    stack: list[Call] = []
    for c in mc.calls:  # intervals nest like a call stack
        while stack and stack[-1].end < c.start:
            stack.pop()
        parent = stack[-1] if stack and c.end < stack[-1].end else None
        mc.parent[c] = parent
        mc.depth[c] = 1 if parent is None else mc.depth[parent] + 1
        stack.append(c)

    claims: dict[Value, list[Call]] = {}
    for c in mc.calls:
        stop = {id(x) for x in c.inputs}
        seen: set[int] = set()
        queue = deque(v for v in mc.outputs[c] if id(v) not in stop)
        seen.update(id(v) for v in queue)
        while queue:
            v = queue.popleft()
            claims.setdefault(v, []).append(c)
            for x in v._inputs or ():
                if not isinstance(x, Value) or id(x) in seen or id(x) in stop or x not in drawn:
                    continue
                seen.add(id(x))
                if any(r.end < c.start for r in getattr(x, "_calls", ())):
                    continue  # made by a call that had finished before this one began
                queue.append(x)

    for v, cs in claims.items():
        if len(cs) == 1:
            mc.owner[v] = cs[0]
            continue
        # the innermost claimants (those holding no other claimant), then their common call
        holding: set[Call] = set()
        for c in cs:
            p = mc.parent[c]
            while p is not None and p not in holding:
                holding.add(p)
                p = mc.parent[p]
        owner: Call | None = None
        first = True
        for c in cs:
            if c in holding:
                continue
            owner = c if first else _common(mc, owner, c)
            first = False
            if owner is None:
                break
        if owner is not None:
            mc.owner[v] = owner
    return mc


def _common(mc: ModuleCalls, a: Call | None, b: Call | None) -> Call | None:
    """The innermost call holding both ``a`` and ``b`` (or None)."""
    if a is None or b is None:
        return None
    holding_a = set(mc.ancestors(a))
    return next((c for c in mc.ancestors(b) if c in holding_a), None)
