"""Building a plan: a trace turned into a :class:`~autograd_lite.compile.plan.Plan` (slots,
forward steps, outputs, each output's backward in the engine's order) and checked to be
replayable (no Value among static parameters, no traced data as a constant, every op a
pure function of its inputs); the structure of the function's result, flattened and
rebuilt.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from autograd_lite.compile.frames import CompileError, describe_site
from autograd_lite.compile.plan import Back, Instr, Plan, function_class, run_function
from autograd_lite.compile.templates import FWD
from autograd_lite.compile.trace import HIDDEN, REQUIRES_GRAD, Entry, Tracer, raw
from autograd_lite.core.function import Context
from autograd_lite.core.modes import state
from autograd_lite.core.value import Value, normalize

__all__: list[str] = []  # package-internal


def walk_params(x: Any) -> Iterator[Any]:
    stack = [x]
    while stack:
        item = stack.pop()
        if isinstance(item, (tuple, list)):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        else:
            yield item


def _bases(a: np.ndarray | None) -> Iterator[int]:
    while a is not None:
        yield id(a)
        a = a.base if isinstance(a.base, np.ndarray) else None


def live_arrays(plan: Plan) -> set[int]:
    """The ids of the live Values' data (parameters an optimizer changes in place at every
    step) and of the arrays they are views of."""
    return {i for v in plan.externals if isinstance(v.data, np.ndarray) for i in _bases(v.data)}


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


def same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if type(a) is float:
        return a == b or (a != a and b != b)
    if type(a) is np.ndarray:
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    return True


class Builder:
    """Turns a trace into a :class:`Plan` and checks that it can be replayed faithfully."""

    def __init__(
        self, plan: Plan, tracer: Tracer, wrappers: list[Value], seen: dict | None = None
    ) -> None:
        self.plan = plan
        self.tracer = tracer
        self.wrappers = wrappers
        self.slot_of: dict[int, int] = {}
        self.data: list[Any] = []  # each slot's traced data
        # by the id of a Value: its data as the ops saw it (a whole step updates it later)
        self.seen = seen or {}

    def input(self, v: Value) -> int:
        s = len(self.data)
        self.slot_of[id(v)] = s
        self.data.append(self.seen.get(id(v), raw(v)) if self.seen else raw(v))
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
        p.ext_sig = [
            _data_sig(self.data[p.n_args + j]) + (REQUIRES_GRAD.__get__(v),)
            for j, v in enumerate(p.externals)
        ]
        traced_arrays = {id(d) for d in self.data if type(d) is np.ndarray}
        traced_arrays |= {id(raw(e.node)) for e in tape if type(raw(e.node)) is np.ndarray}
        node_of: dict[int, Value] = {}
        slot_of = self.slot_of
        for e in tape:
            ins = Instr()
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
                    for x in walk_params(e.params)
                )
                p.random = p.random or ins.random
            if e.op.joint and len(e.params) == 1 and isinstance(e.params[0], Context):
                ins.fclass = function_class(e.op)
                if ins.fclass is None:
                    raise CompileError(
                        f"op {e.op.name!r} (made at {describe_site(e.site)}) has a Context "
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
                    p.out_track.append(bool(REQUIRES_GRAD.__get__(v)))
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
                assert n._inputs is not None  # n was made by a traced op: it has inputs
                needed = tuple(
                    isinstance(x, Value) and bool(REQUIRES_GRAD.__get__(x)) for x in n._inputs
                )
                steps.append(Back(slot, ins, needed))
            p.back.append(steps)
        return leaves

    def _check_constants(self, e: Entry, traced_arrays: set[int]) -> None:
        for x in [*walk_params(e.params), *(x for x in e.inputs if not isinstance(x, Value))]:
            if isinstance(x, Value):
                raise CompileError(
                    f"op {e.op.name!r} at {describe_site(e.site)} has a Value among its static "
                    "parameters: a plan cannot replay it"
                )
            if isinstance(x, np.ndarray) and any(b in traced_arrays for b in _bases(x)):
                raise CompileError(
                    f"op {e.op.name!r} at {describe_site(e.site)} takes the data of a traced "
                    f"Value as a constant or static parameter: {HIDDEN}"
                )

    def validate(self) -> None:
        """Replay each op that is not a known-pure template on its traced inputs: it must
        give what it gave while tracing (random ops excepted: they draw anew by design)."""
        p, data = self.plan, self.data
        for ins in p.instrs:
            if ins.random or (ins.scalar and ins.op in FWD):
                continue
            args = ins.args(data)
            if ins.fclass is not None:
                out, _ = run_function(ins.fclass, ins.needs, args)
            else:
                with np.errstate(all="ignore"):
                    out = ins.op.forward(*args, *ins.params)
                ins.raw_exact = type(out) is float or type(out) is np.ndarray
                if not ins.raw_exact:
                    out = normalize(out, ins.op.name, all(type(d) is float for d in args))
            if not same(out, data[ins.out]):
                raise CompileError(
                    f"op {ins.op.name!r} (at {describe_site(ins.site)}) gave a different "
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


def flatten_outputs(x: Any, leaves: list) -> Any:
    """The structure of ``fn``'s result, its leaves (Values and constants) into ``leaves``."""
    t = type(x)
    if t is list or t is tuple:
        return (t, [flatten_outputs(i, leaves) for i in x])
    if t is dict:
        return (t, [(k, flatten_outputs(v, leaves)) for k, v in x.items()])
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return (t, [flatten_outputs(i, leaves) for i in x])
    leaves.append(x)
    return None


def unflatten(tree: Any, leaves: Iterator[Any]) -> Any:
    if tree is None:
        return next(leaves)
    t, items = tree
    if t is dict:
        return {k: unflatten(v, leaves) for k, v in items}
    values = [unflatten(i, leaves) for i in items]
    if t is list:
        return values
    if t is tuple:
        return tuple(values)
    return t._make(values)
