"""The plan: the IR a trace becomes, and its interpretive replay.

A :class:`Plan` holds a traced function for one signature: its input slots, its forward
steps (:class:`Instr`), the backward steps of each output (:class:`Back`) in the engine's
order, the generated code (see :mod:`~autograd_lite.compile.codegen`), and the slow path
that calls each op's forward and VJP in turn (anomaly mode, a rule that raised,
``create_graph``). A :class:`Run` is what one call keeps for its backward.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_lite.compile.frames import CompileError, Site, describe_site
from autograd_lite.compile.guards import Scan, arg_data, short
from autograd_lite.compile.steptrace import Host, Write
from autograd_lite.compile.trace import untraced
from autograd_lite.core import modes
from autograd_lite.core.backward import grad as _engine_grad
from autograd_lite.core.backward import sum_to
from autograd_lite.core.function import Context, Function
from autograd_lite.core.modes import is_finite, state
from autograd_lite.core.op import Op, apply, op_error
from autograd_lite.core.value import Value, leaf, normalize

__all__ = ["Plan"]


class Instr:
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

    # filled by the builder right after construction (see ``build.Builder.build``);
    # annotations without values, so ``__slots__`` still holds them
    op: Op
    slots: tuple[int | None, ...]  # an input's slot, or None for a constant
    consts: tuple[Any, ...]  # the constant where ``slots`` has None
    params: tuple[Any, ...]
    out: int
    site: Site | None
    needs: tuple[bool, ...]  # set only when ``fclass`` is not None

    def __init__(self) -> None:
        self.ctx: int | None = None  # slot of a Function's Context
        self.fclass: type[Function] | None = None
        self.random = False
        self.scalar = False
        self.raw_exact = True  # the forward returned a float or an ndarray (no normalize)

    def slot(self, i: int) -> int:
        """The slot of input ``i``, which the caller knows is a traced Value, not a constant."""
        s = self.slots[i]
        assert s is not None, f"input {i} of {self.op.name!r} is a constant, not a slot"
        return s

    def args(self, vals: list) -> list:
        return [c if s is None else vals[s] for s, c in zip(self.slots, self.consts)]


class Back:
    """One backward step: the node's slot, its instruction, and which inputs need a gradient."""

    __slots__ = ("slot", "instr", "needed")

    def __init__(self, slot: int, instr: Instr, needed: tuple[bool, ...]) -> None:
        self.slot, self.instr, self.needed = slot, instr, needed


def function_class(op: Op) -> type[Function] | None:
    stack = list(Function.__subclasses__())
    while stack:
        cls = stack.pop()
        if cls.__dict__.get("op") is op:
            return cls
        stack.extend(cls.__subclasses__())
    return None


def run_function(cls: type[Function], needs: tuple, datas: list) -> tuple[Any, Context]:
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


class Run:
    """What one call keeps for its backward: the generated code's suspended frame (or, on
    the interpretive path, every value), and the buffer set it computes in, given back to
    the plan when the call's result is dropped."""

    __slots__ = ("plan", "saved", "slow", "buffers")
    # the suspended generator (fast path), the list of values (slow path), or None once dropped
    saved: Any

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
        self.instrs: list[Instr] = []
        self.out_slots: list[int] = []  # node slots returned, one compiled node each
        self.out_track: list[bool] = []
        self.outdef: Any = None
        self.back: list[list[Back] | None] = []
        self.random = False
        self.scan: Scan | None = None
        # the plan's own op, made by ``Compiled._trace`` right after the build and before
        # the plan is ever called: typed Op so the per-call ``record`` needs no narrowing
        self.op: Op = None  # type: ignore[assignment]
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
        self.rechecked = False  # traced a second time, on the first replay (api: _recheck)
        self.step: Any = None  # a whole training step's calls and updates (see step.py)
        # a whole step's parameter gradients, as last handed out: each is written into
        # again at the next backward when nothing else refers to it (codegen: _recycle)
        self.held: list[Any] = []

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
                out, ctx = run_function(ins.fclass, ins.needs, args)
                assert ins.ctx is not None  # the builder gives a Context slot with fclass
                vals[ins.ctx] = ctx
            else:
                try:
                    out = ins.op.forward(*args, *ins.params)
                except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as e:
                    err = op_error(ins.op, e, args)  # named by the op and the user's line
                    where = f"compiled {self.name}, the op traced at {describe_site(ins.site)}"
                    raise type(err)(f"{err} [{where}]") from None
                if type(out) is not float and type(out) is not np.ndarray:
                    out = normalize(out, ins.op.name, all(type(d) is float for d in args))
            vals[ins.out] = out
            if check_nan and not is_finite(out):
                modes.check_forward(ins.op.name, fake(out, ins.site), args)
        return vals

    def backward_interp(
        self, k: int, g: Any, vals: list, check_nan: bool = False, edges: dict | None = None
    ) -> list:
        """Gradients of the inputs from output ``k``'s seed ``g``, with each op's ``vjp``
        called on stand-in nodes exactly as the engine's backward walk calls it."""
        # keyed by slot; None collects what a rule returns for a constant input (dropped)
        grads: dict[int | None, Any] = {self.out_slots[k]: g}
        for b in self.back[k] or ():
            g = grads.pop(b.slot, None)
            if g is None:
                continue
            ins = b.instr
            node = fake(vals[b.slot], ins.site, ins.op)
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
    def run_forward(self, datas: list) -> tuple[Any, Run]:
        """Output data and the run to keep for the backward, by the fastest safe path."""
        if not state.check_nan:
            code = self._code
            pool = self.pool
            buffers = pool.pop() if pool else self._new_buffers()
            try:
                if self.back_any:
                    gen = code(datas, buffers)
                    return next(gen), Run(self, gen, False, buffers)
                outs = code(datas, buffers)
                pool.append(buffers)  # no backward: the buffers are free at once
                return outs, Run(self, None, False)
            except (ArithmeticError, ValueError, IndexError, Fallback):  # e.g. a float op raised
                pool.append(buffers)
        vals = self.forward_interp(datas, check_nan=state.check_nan)
        return tuple([vals[s] for s in self.out_slots]), Run(self, vals, True)

    def input_data(self, dyn: list) -> list | None:
        """The data of this call's inputs, or None when a guard no longer holds."""
        datas = [x.data if is_value else arg_data(x) for x, is_value in zip(dyn, self.arg_is_value)]
        for v, sig in zip(self.externals, self.ext_sig):
            d = v.data
            if type(d) is float:
                if sig[0] != "float":
                    return None
            # mypy does not narrow on ``type(d) is float`` (a subclass could pass); the
            # exact check is kept (this runs on every call) and d is an ndarray here
            elif type(d) is not sig[0] or d.shape != sig[1] or d.dtype != sig[2]:  # type: ignore[union-attr]
                return None
            if v.requires_grad is not sig[-1]:
                return None
            datas.append(d)
        if self.scan is not None and not self.scan.hold():
            return None
        if self.step is not None and not self.step.holds(dyn):
            return None
        return datas

    def _new_buffers(self) -> tuple:
        return tuple(np.empty(shape, dtype) for shape, dtype in self.buffer_kinds)

    def vjp(self, g: Any, datas: tuple, run: Run, k: int) -> Any:
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
                # the generator is suspended (its send above yielded None, or it was never
                # resumed), so gi_frame is not None
                frame = gen.gi_frame.f_locals  # pyright: ignore[reportOptionalMemberAccess]
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
            what = type(untraced(type(v))).__name__
            what = untraced(type(v)).__name__ + (f" {v.name!r}" if v.name else "")
            lines.append(f"  %{self.n_args + j} = live {what}: {self._kind_text(self.n_args + j)}")
        lines.append("forward:")
        for ins in self.instrs:
            args = ", ".join(
                f"%{s}" if s is not None else short(c) for s, c in zip(ins.slots, ins.consts)
            )
            params = ", ".join(short(p) for p in ins.params) if ins.fclass is None else ""
            call = f"{ins.op.name}({args}{', ' + params if params else ''})"
            where = f"  # {describe_site(ins.site)}" if ins.site else ""
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
        if self.step is not None:
            lines.extend(self._step_lines())
        return "\n".join(lines)

    def _step_lines(self) -> list[str]:
        """The whole step around the forward: each call, backward and update, in order."""
        step = self.step
        lines = ["step (in this order):"]
        for first in step.before:
            if isinstance(first, Host):
                lines.append(f"  before: {host_text(first)}{_where(first.site)}")
            else:
                w, target = first
                to = self.target_text(w, target)
                lines.append(f"  before: {short(w.value)} -> {to}{_where(w.site)}")
        lines.append("  forward: the ops above")
        if step.trace.backward_at is None:
            return lines
        lines.append(f"  then: backward() of output 0{_where(step.trace.site)}")
        fresh = self.n_slots  # update slots numbered on from the forward's
        for then in step.after:
            if isinstance(then, Host):
                lines.append(f"  call: {host_text(then)}{_where(then.site)}")
                continue
            names, fresh = self.update_names(then, fresh)
            for ins in then.plan.instrs:
                args = ", ".join(
                    names[s] if s is not None else short(c) for s, c in zip(ins.slots, ins.consts)
                )
                params = ", ".join(short(p) for p in ins.params) if ins.fclass is None else ""
                call = f"{ins.op.name}({args}{', ' + params if params else ''})"
                lines.append(f"  update: {names[ins.out]} = {call}{_where(ins.site)}")
            for w, target, kind, x in then.writes:
                value = (
                    names[then.plan.out_slots[x]]
                    if kind == "n"
                    else names[x]
                    if kind == "i"
                    else short(x)
                )
                how = " (in place)" if w.inplace else ""
                to = self.target_text(w, target)
                lines.append(f"  write: {value} -> {to}{how}{_where(w.site)}")
        return lines

    def update_names(self, u: Any, fresh: int) -> tuple[dict[int, str], int]:
        """What each slot of update ``u``'s plan is, in this plan's terms (``%1``,
        ``%2.grad``), its ops' results numbered from ``fresh`` on; and the next free number."""
        p = u.plan
        n_args = len(self.step.wrappers)
        names = {s: f"%{s}" for s in range(n_args)}
        for n, (r, target) in enumerate(u.reads):
            names[n_args + n] = read_text(r, target, self)
        for j, v in enumerate(p.externals):
            names[p.n_inputs - len(p.externals) + j] = self.ref_text(v)[0]
        for ins in p.instrs:
            names[ins.out] = f"%{fresh}"
            fresh += 1
        return names, fresh

    def ref_text(self, target: Value | int) -> tuple[str, str]:
        """``("%2", "live Value 'p'")``: a live Value or an argument (its index, or the
        trace's stand-in for it) as this plan's input slot and in words; a live Value the
        forward does not read as ``"(live Value 'q')"`` alone."""
        slot = self.input_slot(target)
        if slot is None:
            assert isinstance(target, Value)
            return f"({_live_text(target)})", ""
        if slot < self.n_args:
            return f"%{slot}", f"argument {slot}"
        return f"%{slot}", _live_text(self.externals[slot - self.n_args])

    def input_slot(self, target: Value | int) -> int | None:
        """The input slot of a step's target: an argument (its index, or the trace's
        stand-in for it, which a write before the ops names) or a live Value the forward
        reads; None for a live Value it does not read."""
        if isinstance(target, int):
            return target
        if self.step is not None:
            for i, w in enumerate(self.step.wrappers):
                if w is target:
                    return i
        for j, v in enumerate(self.externals):
            if v is target:
                return self.n_args + j
        return None

    def target_text(self, w: Write, target: Value | int | None = None) -> str:
        """``%2.data (live Value 'p')``: what a write writes to."""
        ref, what = self.ref_text(w.target if target is None else target)
        return f"{ref}.{w.attr}" + (f" ({what})" if what else "")

    def _kind_text(self, slot: int) -> str:
        k = self.slot_kind[slot]
        return "float" if k == "float" else f"ndarray{list(k[0])} {k[1]}"

    def __repr__(self) -> str:
        return f"<Plan of {self.name}({self.signature}): {len(self.instrs)} ops>"


def read_text(r: Any, target: Any, plan: Plan) -> str:
    """What an update reads: ``%2.grad``, ``clip_grad_norm_(...) -> its result``,
    ``ParamGroup['lr']``."""
    if r.attr == "result":
        return f"{host_text(target)} -> its result"
    if r.attr == "item":
        return f"{type(target[0]).__name__}[{target[1]!r}]"
    return f"{plan.ref_text(target)[0]}.{r.attr}"


def host_text(h: Host) -> str:
    """``Adam.step()``, ``clip_grad_norm_([2 Parameters], 1.0)``: a replayed call; a method
    is named for its object's class, and that object is not listed."""
    fn, args = h.fn, list(h.args)
    name = getattr(fn, "__qualname__", None) or type(fn).__name__
    owner, _, method = name.rpartition(".")
    if owner and args and any(c.__qualname__ == owner for c in type(args[0]).__mro__):
        name = f"{untraced(type(args[0])).__name__}.{method}"
        args = args[1:]
    texts = [_arg_text(a) for a in args] + [f"{k}={_arg_text(a)}" for k, a in h.kwargs.items()]
    return f"{name}({', '.join(texts)})"


def _arg_text(x: Any) -> str:
    if isinstance(x, Value):
        return _live_text(x)
    if isinstance(x, (list, tuple)) and x and all(isinstance(v, Value) for v in x):
        kinds = {untraced(type(v)).__name__ for v in x}
        kind = kinds.pop() if len(kinds) == 1 else "Value"
        return f"[{len(x)} {kind}{'s' if len(x) != 1 else ''}]"
    return short(x)


def _live_text(v: Value) -> str:
    return f"live {untraced(type(v)).__name__}" + (f" {v.name!r}" if v.name else "")


def _where(site: Site | None) -> str:
    return f"  # {describe_site(site)}" if site else ""


def _kind(x: Any) -> tuple:
    t = type(x)
    return (t, x.shape, x.dtype) if t is np.ndarray else (t,)


def _no_code(datas: list) -> Any:
    raise Fallback()


def fake(data: Any, site: Site | None, op: Op | None = None) -> Value:
    """A stand-in node for the engine's own checks and VJP calls (never handed out)."""
    v = leaf(data, True)
    v._op = op
    v._site = (site,) if site else None
    return v


class Fallback(Exception):
    """Generated code met a case it does not cover: the call takes the interpretive path."""
