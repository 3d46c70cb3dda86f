"""The compiled function: :func:`compile`, :class:`CompiledFunction` and :func:`plan_of`.

A call's signature selects its plans (one per state of the guarded values, at most
``max_plans`` in all, least recently used dropped first); a new signature or a guard that
no longer holds traces again. A trace is checked before its plan is kept (randomness
drawn outside an op, a reference kept to a traced Value; on the first replay a second
trace must apply the same ops and constants). The compiled op's forward and VJP replay
the plan.
"""

from __future__ import annotations

import contextlib
import functools
import random
import types
import warnings
from collections import OrderedDict
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

import numpy as np

from autograd_lite.compile import step as whole_step
from autograd_lite.compile.build import (
    Builder,
    flatten_outputs,
    live_arrays,
    same,
    unflatten,
    walk_params,
)
from autograd_lite.compile.codegen import Codegen
from autograd_lite.compile.frames import CompileError, describe_site
from autograd_lite.compile.guards import (
    MAX_SCAN,
    SCALARS,
    Scan,
    arg_data,
    changed_container,
    containers_of,
    describe_key_item,
    global_rng_states,
    key_of,
    rebuild,
    rng_state,
    static_objects,
)
from autograd_lite.compile.plan import Plan, Run
from autograd_lite.compile.recheck import (
    check_stashed,
    collector_paused,
    first_difference,
    other_outputs,
    watch,
)
from autograd_lite.compile.trace import Tracer
from autograd_lite.core.modes import open_blocks, state
from autograd_lite.core.op import defop, record
from autograd_lite.core.value import Value, leaf

__all__ = ["DEFAULT_MAX_PLANS", "DEFAULT_MAX_RETRACES", "CompiledFunction", "compile", "plan_of"]

DEFAULT_MAX_RETRACES = 8
"""Signatures a compiled function traces before it warns (as torch.compile's recompile limit)."""

DEFAULT_MAX_PLANS = 64
"""Plans a compiled function keeps; past it the least recently used one is dropped."""

_MAX_VARIANTS = 8  # plans kept per signature, each for another state of the guarded values


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
        key = (key_of(args, dyn), key_of(kwargs, dyn) if kwargs else None, state.grad_enabled)
        plans = self._plans.get(key)
        if plans is not None:
            plan = plans[0]
            datas = plan.input_data(dyn)
            if datas is not None:
                if not plan.rechecked:  # the first replay: is the forward deterministic?
                    with collector_paused():
                        self._recheck(plan, args, kwargs, dyn)
                if plan is not self._mru:
                    self._plans.move_to_end(key)
                    self._mru = plan
                return self._replay(plan, dyn, datas)
            for i in range(1, len(plans)):  # another state of the guards, traced before
                other = plans[i]
                datas = other.input_data(dyn)
                if datas is not None:
                    if not other.rechecked:  # its first replay, as for plans[0]
                        with collector_paused():
                            self._recheck(other, args, kwargs, dyn)
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
            with collector_paused():
                return self._trace(key, args, kwargs, dyn, why)
        with collector_paused():
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
        wrappers = _wrap(dyn)
        it = iter(wrappers)
        call = [rebuild(args, it), rebuild(kwargs, it)]
        gens = {
            id(g): g
            for g in chain(
                plan.scan.generators if plan.scan is not None else (),
                (x for ins in plan.instrs for x in walk_params(ins.params)),
            )
            if isinstance(g, (np.random.Generator, np.random.RandomState, random.Random))
        }
        saved = [(g, _get_rng(g)) for g in gens.values()]
        globals_before = (np.random.get_state(), random.getstate())
        tracer = Tracer(plan.step.trace if plan.step is not None else None)
        tracer.raw_args = _raw_args(wrappers, dyn)
        prev = state.tracer
        state.tracer = tracer
        open_blocks.traces += 1
        raised: Exception | None = None
        result: Any = None
        try:
            _swap_all(tracer, plan.scan.values if plan.scan is not None else [])
            _swap_all(tracer, plan.externals)
            _swap_all(tracer, wrappers)
            result = self.fn(*call[0], **call[1])
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
            where: str | None = f"it raised {type(error).__name__}: {str(error).splitlines()[0]}"
        else:
            where = (
                first_difference(plan, tracer.tape[: tracer.step.backward_at])
                or (
                    whole_step.difference(plan, plan.step, tracer, wrappers)
                    if plan.step is not None
                    else None
                )
                or other_outputs(plan, result)
            )
        del result
        if where is not None:
            plan.rechecked = False
            raise CompileError(
                f"compiled {self._name} gave another forward when traced again on its "
                f"second call: {where}.\nEither a value the function reads changed between "
                "the calls where compile does not guard it (see docs/compile.md, 'not "
                "guarded': pass it as an argument), or randomness or a clock was read outside "
                "an op (a Generator made inside the function, another library's random "
                "numbers, secrets, time); either would be frozen into every later call. Pass "
                "such values as arguments, or draw random numbers inside an op that takes a "
                "Generator as a parameter (as nn.Dropout does)"
            )

    # ------------------------------------------------------------------ replay
    def _replay(self, plan: Plan, dyn: list, datas: list) -> Any:
        inputs = (
            *[x if isinstance(x, Value) else d for x, d in zip(dyn, datas)],
            *plan.externals,
        )
        if plan.step is not None:  # a whole training step
            nodes = whole_step.run(
                plan,
                plan.step,
                dyn,
                datas,
                lambda outs, run, datas: whole_step.forward_nodes(plan, outs, run, inputs, datas),
            )
            plan.calls += 1
            return self._assemble(plan, nodes, inputs, datas)
        outs, run = plan.run_forward(datas)
        plan.calls += 1
        if plan.single and not plan.grad_inside:  # one Value returned, as most losses do
            return record(outs[0], plan.op, inputs, plan.out_track[0], (run, 0), datas)
        return self._result(plan, outs, run, inputs, datas)

    def _result(self, plan: Plan, outs: list, run: Run, inputs: tuple, datas: list) -> Any:
        if plan.grad_inside:  # enable_grad() inside, under an outer no_grad: as eagerly,
            prev = state.grad_enabled  # the outputs made with grad on require grad
            state.grad_enabled = True
            try:
                return self._result_nodes(plan, outs, run, inputs, datas)
            finally:
                state.grad_enabled = prev
        return self._result_nodes(plan, outs, run, inputs, datas)

    def _result_nodes(self, plan: Plan, outs: list, run: Run, inputs: tuple, datas: list) -> Any:
        return self._assemble(
            plan, whole_step.forward_nodes(plan, list(outs), run, inputs, datas), inputs, datas
        )

    def _assemble(self, plan: Plan, nodes: list, inputs: tuple, datas: list) -> Any:
        leaves = []
        for kind, x in plan.outdef[1]:
            if kind == "n":
                leaves.append(nodes[x])
            elif kind == "c":
                leaves.append(x)
            elif kind == "h":  # what a replayed call returned (clip_grad_norm_'s norm)
                leaves.append(x.result)
            else:
                obj = inputs[x]
                leaves.append(obj if isinstance(obj, Value) else datas[x])  # as it was passed
        return unflatten(plan.outdef[0], iter(leaves))

    # ------------------------------------------------------------------ tracing
    def _trace(self, key: Any, args: tuple, kwargs: dict, dyn: list, why: str | None) -> Any:
        self.traces += 1
        if self.traces > self.max_retraces and not self._warned:
            self._warned = True
            warnings.warn(
                f"compiled {self._name} has traced {self.traces} times (max_retraces="
                f"{self.max_retraces}); the last because "
                + (why or f"of a new signature ({describe_key_item(key[0])})")
                + ". Each trace costs about as much as a few eager calls: keep shapes, dtypes "
                "and the other guarded values stable (see docs/compile.md)",
                stacklevel=3,
            )
        arg_is_value = [isinstance(x, Value) for x in dyn]
        wrappers = _wrap(dyn)
        it = iter(wrappers)
        call = [rebuild(args, it), rebuild(kwargs, it)]  # fn's arguments, wrappers inside
        containers = containers_of((call[0], list(call[1].values())))
        scan = Scan()
        fn = self.fn
        if isinstance(fn, types.FunctionType):
            scan.function(fn)
        else:
            scan.add(fn, "the function")
        for x in static_objects((args, kwargs)):
            scan.add(x, "an argument")
        scan.run()
        if scan.too_big is not None:
            raise CompileError(
                f"compiled {self._name} can see more than {MAX_SCAN:,} objects (through "
                f"{scan.too_big}): every one would have to be guarded at every call, so it "
                "is refused rather than guarded in part. Pass the large data as an argument "
                "(an array), or keep it out of the compiled function's reach"
            )
        tracer = Tracer()
        tracer.step.initial_grads = {  # (a whole step guards what it finds None: see step.py)
            id(v): v.grad is None
            for v in chain(scan.values, (x for x in dyn if isinstance(x, Value)))
        }
        before = global_rng_states()
        gens = [(g, rng_state(g)) for g in scan.generators]

        def trace(tracer: Tracer) -> Any:
            tracer.raw_args = _raw_args(wrappers, dyn)
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
        with _applied_if_refused(tracer.step):  # the checks after the trace
            changed = changed_container(containers)
            containers.clear()  # (it refers to the wrappers: see check_stashed)
            if changed is not None:
                raise CompileError(
                    f"compiled {self._name} changed a {changed} among its arguments in place "
                    "(an append, a pop, an item set): eagerly the caller's own "
                    f"{changed} changes; compiled, the call works on a copy, and replays "
                    f"would not do it at all. Copy it inside the function (batch = "
                    "dict(batch)) or change it outside"
                )
            scan.imports()
            scan.reads.extend(tracer.step.noted)  # an optimizer's lr read by your code
            self._check_randomness(before, gens, tracer, lambda: trace(Tracer(tracer.step)))
            call.clear()  # (no reference to a wrapper may remain: see check_stashed)
            out_leaves: list[Any] = []
            tree = flatten_outputs(result, out_leaves)
            del result
            plan = Plan(self._name, ", ".join(describe_key_item(k) for k in key[0][1]))
            plan.arg_is_value = arg_is_value
            builder = Builder(plan, tracer, wrappers)
            whole = tracer.step.backward_at is not None
            if whole:  # the forward's ops: a plan as usual; the rest, a Step (see step.py)
                full, tracer.tape = tracer.tape, tracer.tape[: tracer.step.backward_at]
                builder.seen = tracer.step.snapshot
                leaves = builder.build(whole_step.outputs(tracer.step, full, out_leaves))[1:]
                tracer.tape = full
            else:
                leaves = builder.build(out_leaves)
            if tracer.step.active:
                plan.step = whole_step.build(plan, tracer, wrappers, leaves, out_leaves)
            check_stashed(tracer, wrappers, out_leaves, [x for x in dyn if isinstance(x, Value)])
            builder.validate()
            plan.outdef = (tree, leaves)
            plan.single = tree is None and leaves == [("n", 0)]
            scan.content_guards(live_arrays(plan))
            guarded = scan.snapshots or scan.guards or scan.cells or scan.attrs or scan.reads
            plan.scan = scan if guarded or scan.contents else None
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
            plan._code = Codegen(plan).generate()
            data = builder.data
            datas = list(data[: plan.n_inputs])
            traced = [data[s] for s in plan.out_slots]
            if plan.random:  # this call keeps the trace's own draws (one draw per call, as eagerly)
                outs: Any = traced
                run = Run(plan, list(data), True)
            else:  # one replay: the generated code must give what the trace gave
                outs, run = plan.run_forward(datas)
                if not all(same(a, b) for a, b in zip(outs, traced)):
                    raise CompileError(
                        f"internal error: the plan of {self._name} does not reproduce its trace; "
                        "please report it (call the function uncompiled meanwhile)"
                    )
            self._keep(key, plan)
        inputs = tuple(
            [x if isinstance(x, Value) else data[i] for i, x in enumerate(dyn)] + plan.externals
        )
        if tracer.step.root is not None:  # a whole step: its backward ran in the trace
            nodes = whole_step.forward_nodes(plan, list(outs), run, inputs, datas)
            nodes[0].grad = tracer.step.root.grad  # (the seed, as eagerly)
            return self._assemble(plan, nodes, inputs, datas)
        return self._result(plan, outs, run, inputs, datas)

    def _check_randomness(
        self, before: tuple, gens: list, tracer: Tracer, again: Callable[[], Any]
    ) -> None:
        """Refuse a trace that drew random numbers outside an op (they would be frozen);
        to name the line, the function runs once more, watched, and the states are reset."""
        np_before, py_before = before
        np_after, py_after = global_rng_states()
        in_ops = {
            id(x) for e in tracer.tape for x in walk_params(e.params) if not isinstance(x, SCALARS)
        }
        drawn = [g for g, s in gens if id(g) not in in_ops and rng_state(g) != s]
        if np_after == np_before and py_after == py_before and not drawn:
            return

        def snapshot() -> tuple:
            return (*global_rng_states(), *[rng_state(g) for g in drawn])

        states = (np.random.get_state(), random.getstate(), [g.bit_generator.state for g in drawn])
        where = watch(again, snapshot)
        np.random.set_state(states[0])
        random.setstate(states[1])
        for g, st in zip(drawn, states[2]):
            g.bit_generator.state = st
        at = f" at {describe_site(where)}" if where else ""
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


@contextlib.contextmanager
def _applied_if_refused(step: Any) -> Iterator[None]:
    """A refusal after the trace of a whole step says that the step has run (once, as the
    same code uncompiled would have), so it is not run again by hand."""
    try:
        yield
    except CompileError as e:
        if not step.active:
            raise
        raise CompileError(
            f"{e}\n(This call ran the whole step once before the check, as it would have run "
            "uncompiled: its updates are applied. Call the function uncompiled from the next "
            "step on.)"
        ) from None


def _wrap(dyn: list) -> list[Value]:
    """The trace's stand-ins for a call's dynamic items: an argument Value itself (so a
    whole step's backward and updates reach it, as eagerly), an array or number wrapped.
    Under an observer (forward mode, checkpoint), which reads the arguments' data, a Value
    is wrapped too (and a whole step is refused: see ``StepTrace.backward``)."""
    own = not open_blocks.observers
    return [
        x
        if own and isinstance(x, Value)
        else leaf(arg_data(x), x.requires_grad, x.name)
        if isinstance(x, Value)
        else leaf(arg_data(x), False)
        for x in dyn
    ]


def _raw_args(wrappers: list[Value], dyn: list) -> dict[int, str]:
    """Which stand-ins wrap a number or an array (an argument that is not a Value)."""
    return {
        id(w): "an array" if isinstance(x, np.ndarray) else "a number"
        for w, x in zip(wrappers, dyn)
        if not isinstance(x, Value)
    }


def _swap_all(tracer: Tracer, values: list[Value]) -> None:
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
        elif type(d) is not sig[0] or d.shape != sig[1] or d.dtype != sig[2]:  # type: ignore[union-attr]  # an ndarray: no narrowing on type(d) is
            return None
        if v.requires_grad is not sig[-1]:
            return None
        datas.append(d)
    return datas


def plan_of(v: Value) -> tuple[Plan, int] | None:
    """The plan and output index of a node made by a compiled call; None for other nodes."""
    ctx = v._ctx
    if ctx and len(ctx) == 2 and type(ctx[0]) is Run:
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
