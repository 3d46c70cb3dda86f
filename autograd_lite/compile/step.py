"""The whole training step compiled: ``loss.backward()``, optimizer steps and parameter
updates inside a compiled function.

A trace that called ``backward()`` (see :class:`~autograd_lite.compile.trace.StepTrace`)
becomes a :class:`Step` beside its plan, which replays, in the order it was traced:

1. the replayed library calls and gradient resets made before the first op
   (``opt.zero_grad()``, ``p.grad = None``);
2. the plan of the ops before ``backward()``, its results recorded as nodes as usual;
3. ``backward()`` of the loss's node, by the engine, so gradients accumulate, hooks run and
   every ``.grad`` is set exactly as eagerly;
4. after it, in order, each replayed call (``clip_grad_norm_``, ``opt.step()``, a
   schedule's ``step()``: each reads its state, learning rate included, live) and each
   :class:`Update`: the ops between two of them on the leaves' ``.data``/``.grad`` read
   then (``p.data -= lr * p.grad``), a plan of their own whose results are written back.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_lite.compile.build import Builder, walk_params
from autograd_lite.compile.codegen import Codegen
from autograd_lite.compile.frames import CompileError, describe_site
from autograd_lite.compile.plan import Plan
from autograd_lite.compile.recheck import first_difference, same_const
from autograd_lite.compile.steptrace import Host, Read, StepTrace, Write, apply_write
from autograd_lite.compile.trace import Tracer
from autograd_lite.core.backward import accumulate_grad, sum_to
from autograd_lite.core.modes import state
from autograd_lite.core.op import record
from autograd_lite.core.value import Value

__all__: list[str] = []  # package-internal


class Update:
    """The ops between two replayed calls after ``backward()``, and the writes they feed.

    Its plan's inputs: the call's dynamic arguments, then each read's live value, then live
    Values; each write takes an output (``"n"``), an input slot (``"i"``) or a constant.
    """

    __slots__ = ("plan", "reads", "writes", "start", "end")

    def __init__(self, plan: Plan, reads: list[tuple[Read, Any]], start: int, end: int) -> None:
        self.plan, self.start, self.end = plan, start, end
        self.reads = reads  # each with its target, or the index of the argument Value it is
        # (the write, its target or the index of the argument Value it is, kind, x)
        self.writes: list[tuple[Write, Value | int, str, Any]] = []

    def __call__(self, args: list, dyn: list) -> None:
        plan = self.plan
        datas = list(args)
        for r, target in self.reads:
            if r.attr == "result":  # the number a replayed call returned this time
                now: Any = target.result
            elif r.attr == "item":  # a hyper-parameter (an optimizer's lr) as it is now
                now = dict.get(*target)
            else:
                now = _get(dyn[target] if type(target) is int else target, r.attr)
            datas.append(_live(plan, r, now, len(datas)))
        for v in plan.externals:
            datas.append(v.data)
        outs, _ = plan.run_forward(datas) if plan.instrs else ((), None)
        for w, target, kind, x in self.writes:
            value = outs[x] if kind == "n" else datas[x] if kind == "i" else x
            apply_write(
                dyn[target] if isinstance(target, int) else target, w.attr, value, w.inplace
            )


class Step:
    """A plan's whole-step part: what runs before its ops and after its node's backward."""

    __slots__ = ("trace", "before", "after", "wrappers", "reread", "grad_guards")

    def __init__(self, trace: StepTrace, wrappers: list[Value]) -> None:
        self.trace = trace
        self.wrappers = wrappers  # the trace's stand-ins for the dynamic arguments
        index = {id(w): i for i, w in enumerate(wrappers)}
        # a write's target: a live Value, or the index of the argument Value it is
        self.before: list[Host | tuple[Write, Value | int]] = [
            x if isinstance(x, Host) else (x, index.get(id(x.target), x.target))
            for x in trace.before
        ]
        self.after: list[Host | Update] = []
        # a call before the ops changed the parameters: read them again after it
        self.reread = any(isinstance(h, Host) and h.changes == "data" for h in self.before)
        # leaves whose .grad was read but that backward() does not reach: whether their
        # .grad is None at a call's start, as when traced (``if p.grad is not None:``)
        self.grad_guards: list[tuple[Value | int, bool]] = []

    def holds(self, dyn: list) -> bool:
        """True while every leaf in ``grad_guards`` has (or lacks) a .grad as when traced."""
        for target, was_none in self.grad_guards:
            v = dyn[target] if isinstance(target, int) else target
            if (v.grad is None) is not was_none:
                return False
        return True


def outputs(step: StepTrace, tape: list, out_leaves: list[Any]) -> list[Any]:
    """The forward plan's outputs: the loss, then the function's results the forward made
    or read; a replayed call's result is returned as it is (refused in an op)."""
    assert step.backward_at is not None and step.root is not None
    late = {id(e.node): e for e in tape[step.backward_at :]}
    reads = {id(r.value): r for r in step.events if isinstance(r, Read) and r.value is not None}
    got: list[Any] = []
    for x in out_leaves:
        if isinstance(x, Value) and id(x) in reads and reads[id(x)].attr == "result":
            got.append(None)  # what the call returns at each replay: see build
            continue
        got.append(x)
        if isinstance(x, Value) and (id(x) in late or id(x) in reads):
            raise CompileError(
                "a compiled step returned a value computed after loss.backward() (at "
                f"{describe_site(late[id(x)].site) if id(x) in late else 'a .data/.grad read'}"
                "): return the loss or other results of the forward, and read the "
                "parameters after the call"
            )
    return [step.root, *got]


def build(
    plan: Plan, tracer: Tracer, wrappers: list[Value], leaves: list, out_leaves: list
) -> Step:
    """The :class:`Step` of a traced whole step; ``plan`` holds its forward already. A
    result that is what a replayed call returned becomes ``("h", call)`` in ``leaves``."""
    trace = tracer.step
    step = Step(trace, wrappers)
    hosts = [x for x in (*trace.before, *trace.events) if isinstance(x, Host)]
    results = {id(r.value): r.target for r in trace.events if isinstance(r, Read)}
    for i, x in enumerate(out_leaves):
        if isinstance(x, Value) and id(x) in results:  # a call's number, returned
            leaves[i] = ("h", results[id(x)])
    tape = tracer.tape
    b = trace.backward_at
    if b is None:  # only calls before the ops (opt.zero_grad() with the loss returned)
        return step
    stand_ins = {id(r.value) for r in trace.events if isinstance(r, Read) and r.value is not None}
    arg_ids = {id(w): i for i, w in enumerate(wrappers)}
    inputs = [*wrappers, *plan.externals]
    reached = {id(v) for v in inputs if isinstance(v, Value) and v.requires_grad}
    for r in trace.events:
        if isinstance(r, Read) and r.attr == "grad" and id(r.target) not in reached:
            was_none = trace.initial_grads.get(id(r.target))
            if was_none is not None:
                target: Value | int = r.target
                if id(r.target) in arg_ids:
                    target = arg_ids[id(r.target)]
                step.grad_guards.append((target, was_none))
    for i, e in enumerate(tape):  # a stand-in read again after an in-place update of it
        for x in e.inputs:
            if isinstance(x, Value) and id(x) in trace.mutated and i >= trace.mutated[id(x)][0]:
                raise CompileError(
                    f"op {e.op.name!r} at {describe_site(e.site)} in a compiled step reads a "
                    ".data or .grad taken before its in-place update at "
                    f"{describe_site(trace.mutated[id(x)][1])} (old = p.data; p.data -= ...): "
                    "eagerly it would see the update. Read it again after the update, or "
                    "copy it first (old = p.data * 1.0)"
                )
    for h in hosts:
        for a in walk_params((h.args, h.kwargs)):
            if isinstance(a, Value) and id(a) in arg_ids:
                raise CompileError(
                    f"an argument Value passed to {h.fn.__qualname__}() at "
                    f"{describe_site(h.site)} inside a compiled step: the call is replayed "
                    "with the same objects; pass parameters the function can see instead"
                )
    start = b
    reads: list[Read] = []
    writes: list[Write] = []
    for item in [*trace.events, None]:
        if item is None or isinstance(item, Host):
            end = item.at if item is not None else len(tape)
            if reads or writes or end > start:
                step.after.append(_update(plan.name, tape, start, end, reads, writes, wrappers))
            if item is not None:
                step.after.append(item)
                start, reads, writes = end, [], []
        elif isinstance(item, Read):
            if item.value is not None:
                reads.append(item)
        else:
            writes.append(item)
    for u in step.after:
        if isinstance(u, Update):
            for e in tape[u.start : u.end]:
                for x in e.inputs:
                    ok = (
                        not isinstance(x, Value)
                        or id(x) in arg_ids
                        or any(x is r.value for r, _ in u.reads)
                        or any(x is e2.node for e2 in tape[u.start : u.end])
                        or (x._op is None and id(x) not in stand_ins)
                    )
                    if not ok:
                        raise CompileError(
                            f"op {e.op.name!r} at {describe_site(e.site)}, after "
                            "loss.backward() in a compiled step, takes a value computed "
                            "before it or before a replayed call (opt.step(), clipping...): "
                            "updates may use only .data/.grad read after the last such call, "
                            "the arguments and constants"
                        )
    return step


def _update(
    name: str,
    tape: list,
    start: int,
    end: int,
    reads: list[Read],
    writes: list[Write],
    wrappers: list[Value],
) -> Update:
    plan = Plan(f"{name} (update)", "")
    sub = Tracer()
    sub.tape = tape[start:end]
    builder = Builder(plan, sub, [*wrappers, *(r.value for r in reads if r.value is not None)])
    made = [w.value for w in writes if isinstance(w.value, Value)]
    plan.n_args = len(wrappers)
    plan.arg_is_value = [True] * len(wrappers)
    leaves = builder.build(made)
    plan.out_track = [False] * len(plan.out_slots)
    plan.back = [None] * len(plan.out_slots)
    builder.validate()
    plan._code = Codegen(plan).generate()
    index = {id(w): i for i, w in enumerate(wrappers)}
    u = Update(plan, [(r, index.get(id(r.target), r.target)) for r in reads], start, end)
    it = iter(leaves)
    for w in writes:
        target = index.get(id(w.target), w.target)
        if isinstance(w.value, Value):
            kind, x = next(it)
            if kind not in ("n", "i"):
                raise CompileError(
                    f"the update at {describe_site(w.site)} in a compiled step writes a "
                    "value it cannot replay; compute it with ops after loss.backward()"
                )
            u.writes.append((w, target, kind, x))
        else:
            u.writes.append((w, target, "c", w.value))
    return u


def _get(v: Value, attr: str) -> Any:
    return v.data if attr == "data" else v.grad


def _live(plan: Plan, r: Read, now: Any, slot: int) -> Any:
    """``now``, what ``r`` reads at this replay, checked against what it read when traced."""
    kind = plan.slot_kind[slot]
    if isinstance(now, np.floating) and kind != "float":  # a numpy float hyper-parameter
        now = np.asarray(now)
    if kind == "float":
        if type(now) is float:
            return now
        if isinstance(now, (int, np.integer, np.floating)) and not isinstance(now, bool):
            return float(now)
    elif type(now) is np.ndarray and (now.shape, now.dtype) == kind:
        return now
    raise CompileError(
        f"compiled {plan.name}: the .{r.attr} read after backward() was "
        f"{_kind_text(kind)} when traced, now {_now_text(now)}; the step cannot be replayed "
        "(trace it again by calling the function uncompiled once)"
    )


def _kind_text(kind: Any) -> str:
    return "a float" if kind == "float" else f"an array of shape {kind[0]} {kind[1]}"


def _now_text(x: Any) -> str:
    if type(x) is np.ndarray:
        return f"an array of shape {x.shape} {x.dtype}"
    return "None" if x is None else type(x).__name__


def run(
    plan: Plan, step: Step, dyn: list, datas: list, nodes: Callable[[list, Any, list], list]
) -> list:
    """One replay of a whole step; the nodes of the forward's outputs (the loss first)."""
    for first in step.before:
        if isinstance(first, Host):
            first.result = first()
        else:
            w, target = first
            apply_write(dyn[target] if isinstance(target, int) else target, w.attr, w.value, False)
    if step.reread:
        datas[plan.n_args :] = [v.data for v in plan.externals]
    outs, run_ = plan.run_forward(datas)
    made = nodes(list(outs), run_, datas)
    if step.trace.backward_at is None:
        return made
    loss_backward(plan, made[0])
    args = datas[: plan.n_args]
    for then in step.after:
        if isinstance(then, Host):
            then.result = then()
        else:
            then(args, dyn)
    return made


def loss_backward(plan: Plan, root: Value) -> None:
    """``root.backward()`` for the forward plan's loss node: the engine's walk written out
    for one node whose inputs needing a gradient are leaves (the same seed, the plan's own
    VJP, each gradient summed to its input's shape and accumulated into ``.grad`` as the
    engine does, ``root.grad`` set too); any other case goes to the engine."""
    inputs = root._inputs
    data = root.data
    if (
        state.check_nan
        or inputs is None
        or root.grad is not None
        or not (type(data) is float or (type(data) is np.ndarray and data.size == 1))
        or any(isinstance(x, Value) and x.requires_grad and x._op is not None for x in inputs)
    ):
        root.backward()
        return
    seed: Any = np.array(1.0, data.dtype).reshape(data.shape) if type(data) is np.ndarray else 1.0
    accumulate_grad(root, seed)
    run, k = root._ctx  # type: ignore[misc]  # (Run, output index): see forward_nodes
    prev = state.grad_enabled
    state.grad_enabled = False
    try:
        grads = plan.vjp(
            seed, tuple([x.data if isinstance(x, Value) else x for x in inputs]), run, k
        )
    finally:
        state.grad_enabled = prev
    total: dict[Value, Any] = {}
    gx: Any = None
    for i, (x, gx) in enumerate(zip(inputs, grads)):
        if gx is None or not (isinstance(x, Value) and x.requires_grad):
            continue
        if type(gx) is not float or type(x.data) is not float:
            gx = sum_to(gx, x, root, i)
        was = total.get(x)
        total[x] = gx if was is None else was + gx
    del grads, gx  # each gradient held once: accumulate_grad takes it without a copy
    held = plan.held
    for x in list(total):
        g = total.pop(x)
        # a recycled array has one more reference, the plan's: nothing else may hold it
        accumulate_grad(x, g, 1 if any(g is h for h in held) else 0)


def forward_nodes(plan: Plan, outs: list, run_: Any, inputs: tuple, datas: list) -> list:
    return [
        record(out, plan.op, inputs, track, (run_, k), datas)
        for k, (out, track) in enumerate(zip(outs, plan.out_track))
    ]


def difference(plan: Plan, step: Step, tracer: Tracer, wrappers: list[Value]) -> str | None:
    """Where a second (dry) trace of a whole step (its arguments: ``wrappers``) differs
    from the first, in words."""
    again, first = tracer.step, step.trace
    ids = [{id(w): i for i, w in enumerate(ws)} for ws in (step.wrappers, wrappers)]

    def other(a: Value, b: Value) -> bool:  # the same leaf, or the same argument
        return a is not b and (id(a) not in ids[0] or ids[0][id(a)] != ids[1].get(id(b)))

    if again.backward_at != first.backward_at:
        return "it called backward() after another number of ops"
    kinds = [type(x) for x in (*first.before, *first.events)]
    if kinds != [type(x) for x in (*again.before, *again.events)]:
        return "it made other calls, reads or writes around backward()"
    for x, y in zip((*first.before, *first.events), (*again.before, *again.events)):
        if isinstance(x, Host):
            assert isinstance(y, Host)
            if x.fn is not y.fn or not same_const(x.args, y.args):
                return f"it called {y.fn.__qualname__}() at {describe_site(y.site)} otherwise"
        elif isinstance(x, Write):
            assert isinstance(y, Write)
            if other(x.target, y.target) or x.attr != y.attr or x.inplace != y.inplace:
                return f"it wrote another attribute at {describe_site(y.site)}"
        elif isinstance(x, Read):
            assert isinstance(y, Read)
            if x.attr != y.attr or (
                x.target.fn is not y.target.fn
                if x.attr == "result"
                else x.target[0] is not y.target[0] or x.target[1] != y.target[1]
                if x.attr == "item"
                else other(x.target, y.target)
            ):
                return "it read another attribute after backward()"
    for u in step.after:
        if isinstance(u, Update):
            where = first_difference(u.plan, tracer.tape[u.start : u.end])
            if where is not None:
                return where
    return None
