"""Code generation: a plan as straight-line Python, from the templates and the op table.

Op forwards and VJPs are bound in the generated module's namespace; the common scalar
ops are inlined from :mod:`~autograd_lite.compile.templates`, so micrograd-style graphs
run as plain float arithmetic; tensor steps of known shapes write into reused buffers.

Over 600 lines for a reason: it is one class, :class:`Codegen`, whose passes (inlining,
buffer planning, the forward, the backward) share one analysis of the plan (which
template each step takes, which buffer each value lives in, which values a backward step
reads); split into modules they would hand that state back and forth. The fixed tables
are apart, in ``templates``.
"""

from __future__ import annotations

import builtins
import functools
import math
import re
import sys
import weakref
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

import numpy as np

from autograd_lite.compile.plan import Back, Fallback, Instr, Plan, fake, run_function
from autograd_lite.compile.templates import (
    BINARY,
    BUILTIN_IDS,
    FWD_POS,
    REDUCTIONS,
    SAFE_FWD,
    TENSOR_OPS,
    TENSOR_VJP,
    UNARY,
    VJP_POS,
    literal,
)
from autograd_lite.core.backward import broadcast_axes, sum_to
from autograd_lite.core.value import leaf, normalize
from autograd_lite.ops import primitives as prim

__all__: list[str] = []  # package-internal

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")


class Codegen:
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
            "_Fallback": Fallback,
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
            "_recycle": _recycle,
            **{f"_np_{name}": getattr(np, name) for name in (*UNARY.values(), *BINARY.values())},
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
                lit = literal(c)
                if lit is not None:
                    self.literals[c] = lit
            if lit is not None:
                return lit
        return self.bind(name, c)

    def args(self, ins: Instr) -> list[str]:
        return [
            f"v{s}" if s is not None else self.const(c, f"k{ins.out}_{i}")
            for i, (s, c) in enumerate(zip(ins.slots, ins.consts))
        ]

    def params(self, ins: Instr) -> list[str]:
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
    def fwd_template(self, ins: Instr) -> str | None:
        """The positional scalar template of a forward step, if it has one."""
        if not ins.scalar:
            return None
        if ins.op in REDUCTIONS:
            return "{0}" if ins.params[0] is None else None
        template = FWD_POS.get(ins.op)
        if template is not None and self.plan.random and ins.op not in SAFE_FWD:
            return None  # a random op must not run twice: no template that can raise
        return template

    def vjp_templates(self, ins: Instr) -> tuple[str | None, ...] | None:
        if not ins.scalar:
            return None
        if ins.op in REDUCTIONS:
            return (
                ("{3} * 1.0" if ins.op is prim.MEAN else "{3}",) if ins.params[0] is None else None
            )
        return VJP_POS.get(ins.op)

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
        read: set[int | None] = set(p.out_slots)  # None (a constant input) is harmless
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
                    assert t is not None  # all(templates[i] for i in needed) above
                    read.update(s for j, s in enumerate(ins.slots) if "{" + str(j) + "}" in t)
                    if "{4}" in t:
                        read.add(b.slot)
        return {
            ins.out
            for ins in p.instrs
            if ins.out in once and ins.out not in read and self.fwd_template(ins) is not None
        }

    # ------------------------------------------------------------- tensor templates
    def tensor_kind(self, ins: Instr) -> str | None:
        """Which numpy template a tensor step takes ("unary", "binary", "matmul", "mse"),
        if any: the same numpy calls as the op's array path, given static shapes."""
        p = self.plan
        kinds = p.slot_kind
        op = ins.op
        if ins.scalar or ins.fclass is not None or op not in TENSOR_OPS:
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
        if op in UNARY or op is prim.SIGMOID or op is prim.RELU:
            return "unary" if array(0) and kinds[ins.slot(0)] == out else None
        if op in BINARY:
            return "binary" if operand(0) and operand(1) else None
        n = 3 if op is prim.LINEAR else 2
        if not all(array(i) for i in range(n)):
            return None
        (xs, xd), (ws, wd) = kinds[ins.slot(0)], kinds[ins.slot(1)]
        if len(xs) != 2 or len(ws) != 2 or (xs[0], ws[1]) != out[0]:
            return None
        if np.result_type(xd, wd) != out[1]:
            return None
        if op is prim.LINEAR:
            bs, bd = kinds[ins.slot(2)]
            if np.result_type(out[1], bd) != out[1] or np.broadcast_shapes(out[0], bs) != out[0]:
                return None  # x @ w + b in place would cast or broadcast differently
        return "matmul"

    def vjp_mode(self, b: Back) -> str:
        """How a backward step is written: "scalar" templates, "tensor" templates or a
        "generic" call of the op's own rule."""
        ins = b.instr
        needed = [i for i, need in enumerate(b.needed) if need]
        templates = self.vjp_templates(ins)
        if templates is not None and all(templates[i] for i in needed):
            return "scalar"
        if (
            ins.op in TENSOR_VJP
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
        read: set[int | None] = set(p.out_slots)  # None (a constant input): discarded below
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
                read.discard(None)
        return cast("set[int]", read)  # None was just discarded

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

    def tensor_forward(self, ins: Instr, kind: str, lines: list[str]) -> None:
        o = f"v{ins.out}"
        args = self.args(ins)
        dest = self.buf.get(ins.out)
        out = f", {dest}" if dest else ""
        op = ins.op
        if kind == "mse":
            p = self.plan
            (ps, pd), (ts, td) = p.slot_kind[ins.slot(0)], p.slot_kind[ins.slot(1)]
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
            lines.append(f"    {o} = _np_{UNARY[op]}({args[0]}{out})")
        elif kind == "binary":
            lines.append(f"    {o} = _np_{BINARY[op]}({args[0]}, {args[1]}{out})")
        else:  # matmul, linear: x @ w (+ b, added in place: the same sums)
            lines.append(f"    {o} = _np_matmul({args[0]}, {args[1]}{out})")
            if op is prim.LINEAR:
                lines.append(f"    _np_add({o}, {args[2]}, {o})")

    def tensor_vjp(
        self, b: Back, i: int, g: str, t: str, fresh: bool, lines: list[str], pad: str
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
        if fresh and p.step is not None and not p.random:  # a whole step's .grad: recycled
            j = len(p.held)
            p.held.append(None)
            h = self.bind("H", p.held)
            sh, dt = self.bind(f"HS{j}", gkind[0]), self.bind(f"HD{j}", gkind[1])
            dest = f", _recycle({h}, {j}, {sh}, {dt})"
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
            (ps, _), (ts, _) = p.slot_kind[ins.slot(0)], p.slot_kind[ins.slot(1)]
            size = int(np.prod(np.broadcast_shapes(ps, ts)))
            c = literal((1.0 if i == 0 else -1.0) * 2.0 / max(size, 1))
            if c is None:
                return self.generic_vjp(b, [i], g, lines, pad)[i] == g  # not expected
            diff = self.diff[b.slot]  # the forward's p - t, still in its buffer
            lines.append(f"{pad}{t} = _np_multiply({g} * {c}, {diff}{dest})")
        elif i == 0:  # matmul, linear: d/dx = g @ w.T
            lines.append(f"{pad}{t} = _np_matmul({g}, {args[1]}.T{dest})")
        else:  # d/dw = x.T @ g, or for one row the outer product x.T * g (as the rule does)
            rows = p.slot_kind[ins.slot(0)][0][0]
            f = "_np_multiply" if rows == 1 else "_np_matmul"
            lines.append(f"{pad}{t} = {f}({args[0]}.T, {g}{dest})")
        return False

    def generic_vjp(
        self, b: Back, needed: list[int], g: str, lines: list[str], pad: str
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
        # op.vjps is a tuple here (checked above); pyright does not narrow on `type(x) is not`
        rules: tuple[Callable, ...] = op.vjps  # pyright: ignore[reportAssignmentType]
        return {i: f"{self.bind(f'V{b.slot}_{i}', rules[i])}({call_args})" for i in needed}

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
                f = self.bind(f"F{ins.out}", functools.partial(run_function, ins.fclass, ins.needs))
                lines.append(f"    {o}, v{ins.ctx} = {f}([{', '.join(args)}])")
                continue
            f = self.bind(f"F{ins.out}", ins.op.forward)
            lines.append(f"    {o} = {f}({', '.join(args + params)})")
            if not ins.raw_exact or id(ins.op) not in BUILTIN_IDS:
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
                    terms.setdefault(ins.slot(i), []).append(
                        "(" + (templates[i] or "").format(*fields) + ")"
                    )
                continue
            builtin = id(ins.op) in BUILTIN_IDS
            exprs = self.generic_vjp(b, needed, gname, lines, pad) if mode == "generic" else {}
            if ins.op.joint and mode == "generic":
                temps.add(f"T{b.slot}")
                if gname in shared or any(s in self.buf for s in ins.slots if s is not None):
                    shared.add(f"T{b.slot}")
            for i in needed:
                s = ins.slot(i)  # b.needed[i]: input i is a traced Value
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
                n = self.bind(f"M{b.slot}", fake(None, ins.site, ins.op))
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
                    assert edge is not None  # vjp_mode "tensor" checked every needed edge
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


_MAX_DEPTH = 40  # inlined expressions nest at most this deep (the parser allows 200 parens)
_MAX_TERMS = 64  # a longer sum is written over several lines (same order of additions)


def _recycle(held: list, j: int, shape: tuple, dtype: Any) -> np.ndarray:
    """``held[j]``, the array this step handed out last time (a parameter's ``.grad``), to
    be written into again when nothing else refers to it any more (``zero_grad`` dropped
    it: 3 references, the list's, this frame's and getrefcount's, and no weak reference);
    else a new array, held from now on. Reusing it spares an allocation per step (a large
    float64 gradient is a fresh mmap, and page faults, at every step otherwise)."""
    a = held[j]
    if a is not None and sys.getrefcount(a) == 3 and not weakref.getweakrefcount(a):
        return a
    a = held[j] = np.empty(shape, dtype)
    return a


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


def _template_data(kind: Any) -> Any:
    if kind == "float":
        return 0.0
    shape, dtype = kind
    return np.lib.stride_tricks.as_strided(np.zeros((), dtype), shape, (0,) * len(shape))
