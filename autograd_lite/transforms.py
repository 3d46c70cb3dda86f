"""Function transforms beyond ``grad``: vjp, jvp (true forward mode), hvp, jacobian, hessian,
checkpoint, and the forward-mode check.

The shapes and argument order are those of ``torch.autograd.functional``: ``inputs`` is a
Value, an array or a number, or a tuple of them (then the results are tuples); the
Jacobian of an output of shape ``O`` with respect to an input of shape ``I`` has shape
``O + I``. Results are arrays or floats, or Values (differentiable again) with
``create_graph=True``.

Forward mode (:func:`jvp`) carries a tangent on each Value it makes: every recorded op
computes its result's tangent at once with the op's ``jvp`` rule (from the op table),
and no graph is kept, so a chain of any length holds a few arrays at a time.

Over 600 lines for a reason: the six transforms share forward mode's machinery (where a
tangent lives, the record observer, the derived JVP of an op without a rule), and the
forward-mode check runs on that same machinery.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograd_lite import functional as F
from autograd_lite.core.backward import grad as _grad
from autograd_lite.core.modes import enable_grad, no_grad, observing, open_blocks, state
from autograd_lite.core.op import Op, defop, record
from autograd_lite.core.value import Value, as_data, leaf, raw, shape_of

__all__ = [
    "ForwardCheckResult",
    "check_forward_ad",
    "checkpoint",
    "hessian",
    "hvp",
    "jacobian",
    "jvp",
    "vjp",
]

Inputs = Any  # a Value, an array, a number, or a tuple of them


# ------------------------------------------------------------------------ helpers


def _tuple(xs: Any) -> tuple[tuple, bool]:
    """``(items, was_tuple)``."""
    if isinstance(xs, (tuple, list)):
        return tuple(xs), True
    return (xs,), False


def _data(x: Any, who: str, i: int) -> Any:
    if isinstance(x, Value):
        return x.data
    try:
        return as_data(x, who=f"{who}: inputs[{i}]")
    except (TypeError, ValueError) as e:
        raise type(e)(str(e)) from None


def _leaves(inputs: tuple, create_graph: bool, who: str) -> tuple[Value, ...]:
    """Fresh leaves that require grad; with ``create_graph`` a Value input that requires
    grad is given through an alias (so the results are differentiable with respect to it,
    and each input gets its own partial derivative). Inside forward mode a fresh leaf
    carries its input's tangent (forward over reverse)."""
    forward = _forward_of()
    out: list[Value] = []
    for i, x in enumerate(inputs):
        if create_graph and isinstance(x, Value) and x.requires_grad:
            out.append(_ALIAS(x))
            continue
        new = leaf(_data(x, who, i), True)
        if forward is not None and (t := forward.get(x)) is not None:
            forward.carry(new, t)
        out.append(new)
    return tuple(out)


# An input Value seen through an identity node, as torch.autograd.functional's view_as:
# the derivative with respect to the input is then partial (not through fn's other uses
# of the Value, a closure or the same Value passed twice), and the results still
# differentiate back to the Value.
_ALIAS = defop(
    "alias", lambda x: x, lambda g, out, x: g, jvp=lambda t, out, x: t[0], register=False
)


def _like(v: Any, x: Any, who: str, what: str) -> Any:
    """``v`` (a tangent or cotangent) as engine data of the shape and dtype of data ``x``."""
    if isinstance(v, Value):
        v = v.data
    d = as_data(v, who=f"{who}: {what}")
    if shape_of(d) != shape_of(x):
        raise ValueError(f"{who}: {what} has shape {shape_of(d)}, expected {shape_of(x)}")
    if type(x) is float:
        return float(d)
    return np.asarray(d, dtype=x.dtype)


def _checked(v: Value, x: Any, who: str, what: str) -> Value:
    """A Value tangent or cotangent ``v`` (kept differentiable) if it has the shape of ``x``."""
    if v.shape != shape_of(x):
        raise ValueError(f"{who}: {what} has shape {v.shape}, expected {shape_of(x)}")
    return v


def _one_element(out: Any, who: str) -> Any:
    """``out`` if it is one one-element output (a Value or a number)."""
    if isinstance(out, (tuple, list)):
        raise ValueError(f"{who}: fn must return a single one-element output, got {len(out)}")
    (o,), _ = _outputs(out, who)
    if int(np.prod(shape_of(raw(o)))) != 1:
        raise ValueError(
            f"{who}: fn must return a single one-element output, got shape {shape_of(raw(o))}"
        )
    return o


def _zeros(x: Any) -> Any:
    return 0.0 if type(x) is float else np.zeros(shape_of(x), np.result_type(x))


def _result(g: Any, x: Value, create_graph: bool) -> Any:
    """A gradient-like result for input ``x``: zeros for None; raw unless create_graph."""
    if g is None:
        z = _zeros(x.data)
        return leaf(z, False) if create_graph else z
    if create_graph:
        return g if isinstance(g, Value) else leaf(g, False)
    g = raw(g)
    if isinstance(g, np.generic) and type(x.data) is np.ndarray:  # a 0-d input: an array
        return np.asarray(g, dtype=x.data.dtype)
    return g


def _outputs(out: Any, who: str) -> tuple[tuple, bool]:
    outs, many = _tuple(out)
    for i, o in enumerate(outs):
        if not isinstance(o, (Value, float, int, np.ndarray, np.number)):
            raise TypeError(f"{who}: fn returned a {type(o).__name__} (output {i}), not a Value")
    return outs, many


def _grads(outs: Sequence[Any], seeds: Sequence[Any], xs: Sequence[Value], create_graph: bool):
    """d(sum_k <seeds[k], outs[k]>)/d xs; None for an input nothing depends on."""
    pairs = [(o, s) for o, s in zip(outs, seeds) if isinstance(o, Value) and o.requires_grad]
    if not pairs:
        return [None] * len(xs)
    return list(
        _grad(
            [o for o, _ in pairs],
            list(xs),
            [s for _, s in pairs],
            create_graph=create_graph,
            allow_unused=True,
        )
    )


def _out_result(o: Any, create_graph: bool) -> Any:
    if create_graph:
        return o if isinstance(o, Value) else leaf(as_data(o), False)
    return raw(o) if isinstance(o, Value) else as_data(o)


# --------------------------------------------------------------------------- vjp, hvp


def vjp(
    fn: Callable[..., Any], inputs: Inputs, v: Any = None, create_graph: bool = False
) -> tuple[Any, Any]:
    """``(fn(inputs), v^T J)``: the vector-Jacobian product, one reverse pass.

    ``v`` has the output's shape (a tuple for several outputs); it may be omitted for a
    one-element output. The product has the shape of each input.
    """
    items, many = _tuple(inputs)
    xs = _leaves(items, create_graph, "vjp")
    with enable_grad():
        outs, many_out = _outputs(fn(*xs), "vjp")
    if v is None:
        for i, o in enumerate(outs):
            if int(np.prod(shape_of(raw(o)))) != 1:
                raise ValueError(
                    f"vjp: v must be given for output {i} of shape {shape_of(raw(o))} "
                    "(only a one-element output gets the implicit v = 1)"
                )
        seeds: list[Any] = [None] * len(outs)
    else:
        vs, _ = _tuple(v) if many_out else ((v,), False)
        if len(vs) != len(outs):
            raise ValueError(f"vjp: {len(vs)} vectors v for {len(outs)} outputs")
        seeds = [
            _checked(s, raw(o), "vjp", f"v[{k}]")
            if create_graph and isinstance(s, Value)
            else _like(s, raw(o), "vjp", f"v[{k}]")
            for k, (s, o) in enumerate(zip(vs, outs))
        ]
    gs = _grads(outs, seeds, xs, create_graph)
    res = tuple(_result(g, x, create_graph) for g, x in zip(gs, xs))
    out_res = tuple(_out_result(o, create_graph) for o in outs)
    return (out_res if many_out else out_res[0]), (res if many else res[0])


def hvp(
    fn: Callable[..., Any], inputs: Inputs, v: Any, create_graph: bool = False
) -> tuple[Any, Any]:
    """``(fn(inputs), H v)`` for a scalar ``fn``: two reverse passes, no Hessian formed
    (reverse over reverse: the gradient of <grad fn, v>)."""
    items, many = _tuple(inputs)
    xs = _leaves(items, create_graph, "hvp")
    vs, _ = _tuple(v) if many else ((v,), False)
    if len(vs) != len(xs):
        raise ValueError(f"hvp: {len(vs)} vectors v for {len(xs)} inputs")
    with enable_grad():
        out = _one_element(fn(*xs), "hvp")
        gs = _grads([out], [None], xs, True)
        total = None
        for k, (g, x, vk) in enumerate(zip(gs, xs, vs)):
            if g is None:
                continue
            vk = (
                _checked(vk, x.data, "hvp", f"v[{k}]")
                if create_graph and isinstance(vk, Value)
                else _like(vk, x.data, "hvp", f"v[{k}]")
            )
            term = F.sum(g * vk)
            total = term if total is None else total + term
    hs = _grads([total], [None], xs, create_graph) if total is not None else [None] * len(xs)
    res = tuple(_result(h, x, create_graph) for h, x in zip(hs, xs))
    return _out_result(out, create_graph), (res if many else res[0])


# ------------------------------------------------------------------------ forward mode


class _Tangent:
    """A tangent kept in the ``_ctx`` slot of an untracked node (which has no parameters to
    keep there): freed with the node, and no slot added to every Value."""

    __slots__ = ("t",)

    def __init__(self, t: Any) -> None:
        self.t = t


class _Forward:
    """The forward-mode observer: gives each recorded node the tangent of its result.

    Without ``create_graph`` the nodes are made under ``no_grad`` (untracked), and each
    tangent rides in its node's ``_ctx`` slot, so it is freed with the node: a long chain
    holds a few arrays. Tracked nodes (``create_graph``, or ``enable_grad`` inside ``fn``)
    keep their parameters there; their tangents go in ``table`` for the pass.
    """

    __slots__ = ("create_graph", "table")

    def __init__(self, create_graph: bool) -> None:
        self.create_graph = create_graph
        self.table: dict[int, tuple[Value, Any]] = {}

    def get(self, x: Any) -> Any:
        """The tangent of ``x`` in this pass (None for none)."""
        if not isinstance(x, Value):
            return None
        c = x._ctx
        if type(c) is _Tangent:
            return c.t
        entry = self.table.get(id(x)) if self.table else None
        return None if entry is None else entry[1]

    def set(self, x: Value, t: Any) -> None:
        if x._op is None and x._ctx is None and not self.create_graph:
            x._ctx = _Tangent(t)  # type: ignore[assignment]
        else:
            self.table[id(x)] = (x, t)

    def carry(self, x: Value, t: Any) -> None:
        """Tangent ``t`` on ``x``, a leaf made inside the pass (by a reverse transform):
        kept in the table, so the pass drops it when it ends."""
        self.table[id(x)] = (x, t)

    def clear(self, xs: Sequence[Any]) -> None:
        for x in xs:
            if isinstance(x, Value) and type(x._ctx) is _Tangent:
                x._ctx = None
        self.table.clear()

    def __call__(self, v: Value, op: Op, inputs: tuple, params: tuple, datas: Sequence) -> None:
        ts = [self.get(x) for x in inputs]
        if not any(t is not None for t in ts):
            return
        prev = state.observers
        state.observers = ()  # what the rule computes is not itself given tangents
        try:
            if self.create_graph:
                t = op.tangent(ts, v, (*inputs, *params))
            else:
                t = op.tangent(ts, v.data, (*datas, *params))
        finally:
            state.observers = prev
        if t is not None:
            self.set(v, _fit(t, v.data, self.create_graph))


def _forward_of() -> _Forward | None:
    """The forward-mode pass open in this thread, if any."""
    return next((o for o in state.observers if isinstance(o, _Forward)), None)


def _fit(t: Any, out: Any, create_graph: bool) -> Any:
    """Tangent ``t`` in the shape and dtype of the result ``out`` (rules may broadcast)."""
    shape = shape_of(out)
    if create_graph:
        if not isinstance(t, Value):
            t = leaf(as_data(t), False)
        return t if t.shape == shape else F.broadcast_to(t, shape)
    t = raw(t)
    if type(out) is float:
        return float(t)
    t = np.asarray(t, dtype=out.dtype)
    return t if t.shape == shape else np.broadcast_to(t, shape)


def _forward_pass(
    fn: Callable[..., Any], xs: tuple[Value, ...], tangents: Sequence[Any], create_graph: bool
) -> tuple[tuple, bool, list[Any]]:
    """Run ``fn`` once with ``tangents`` on ``xs`` (None: no tangent): outputs and theirs."""
    if _forward_of() is not None:
        raise ValueError(
            "jvp: forward mode inside forward mode is not supported; nest reverse mode "
            "(vjp, jacobian) inside or around it instead"
        )
    forward = _Forward(create_graph)
    for x, t in zip(xs, tangents):
        if t is not None:
            forward.set(x, t)
    outs: tuple = ()
    try:
        with observing(forward), enable_grad() if create_graph else no_grad():
            outs, many = _outputs(fn(*xs), "jvp")
        touts = [forward.get(o) for o in outs]
    finally:
        forward.clear([*xs, *outs])
    return outs, many, touts


def _forward_inputs(items: tuple, create_graph: bool, who: str) -> tuple[Value, ...]:
    if create_graph:
        return tuple(
            _ALIAS(x) if isinstance(x, Value) else leaf(_data(x, who, i), True)
            for i, x in enumerate(items)
        )
    return tuple(leaf(_data(x, who, i), False) for i, x in enumerate(items))


def jvp(
    fn: Callable[..., Any], inputs: Inputs, v: Any = None, create_graph: bool = False
) -> tuple[Any, Any]:
    """``(fn(inputs), J v)``: the Jacobian-vector product by true forward mode.

    One forward pass; each op computes its result's tangent from its inputs' tangents
    (its ``jvp`` rule) as it goes, and no graph is kept (without ``create_graph``), so
    memory stays at a few arrays however long the chain. ``v`` has the shape of each
    input (a tuple for several); it may be omitted for one-element inputs.
    """
    items, many = _tuple(inputs)
    xs = _forward_inputs(items, create_graph, "jvp")
    if v is None:
        for i, x in enumerate(xs):
            if x.size != 1:
                raise ValueError(
                    f"jvp: v must be given for input {i} of shape {x.shape} "
                    "(only a one-element input gets the implicit v = 1)"
                )
        vs: tuple = tuple(1.0 if type(x.data) is float else np.ones_like(x.data) for x in xs)
    else:
        vs, _ = _tuple(v) if many else ((v,), False)
        if len(vs) != len(xs):
            raise ValueError(f"jvp: {len(vs)} vectors v for {len(xs)} inputs")
    ts = []
    for k, (x, t) in enumerate(zip(xs, vs)):
        if create_graph:
            if not isinstance(t, Value):
                t = leaf(_like(t, x.data, "jvp", f"v[{k}]"), False)
            elif t.shape != x.shape:
                raise ValueError(f"jvp: v[{k}] has shape {t.shape}, expected {x.shape}")
        else:
            t = _like(t, x.data, "jvp", f"v[{k}]")
        ts.append(t)
    outs, many_out, touts = _forward_pass(fn, xs, ts, create_graph)
    res = []
    for o, t in zip(outs, touts):
        od = raw(o) if isinstance(o, Value) else as_data(o)
        if t is None:
            t = leaf(_zeros(od), False) if create_graph else _zeros(od)
        elif not create_graph:
            t = t if type(t) is float else np.array(t)  # own, writable memory
        res.append(t)
    out_res = tuple(_out_result(o, create_graph) for o in outs)
    return (out_res if many_out else out_res[0]), (tuple(res) if many_out else res[0])


# ---------------------------------------------------------------------- jacobian, hessian


def _basis(x: Any, k: int) -> Any:
    """The k-th unit vector in the shape and dtype of data ``x``."""
    if type(x) is float:
        return 1.0
    e = np.zeros(x.shape, x.dtype)
    e.flat[k] = 1.0
    return e


def _assemble(
    rows: list, oshape: tuple, ishape: tuple, odata: Any, idata: Any, cg: bool, columns: bool
) -> Any:
    """The O + I block from its rows (one per output element) or columns (one per input
    element)."""
    if cg:
        if not rows:
            return leaf(np.zeros(oshape + ishape), False)
        parts = [F.reshape(r, (-1,)) if r.ndim != 1 else r for r in rows]
        stacked = F.stack(parts, axis=1 if columns else 0)
        return F.reshape(stacked, oshape + ishape)
    floats = type(odata) is float and type(idata) is float
    dtype = np.float64 if floats else np.result_type(odata, idata)
    m = np.zeros((math.prod(oshape), math.prod(ishape)), dtype)
    for k, r in enumerate(rows):
        if columns:
            m[:, k] = np.ravel(r)
        else:
            m[k, :] = np.ravel(r)
    if floats:
        return float(m[0, 0])
    return m.reshape(oshape + ishape)


def jacobian(
    fn: Callable[..., Any],
    inputs: Inputs,
    create_graph: bool = False,
    strict: bool = False,
    vectorize: bool = False,
    strategy: str | None = None,
    *,
    mode: str = "reverse",
) -> Any:
    """The Jacobian of ``fn`` at ``inputs``: shape ``O + I`` per (output, input) pair.

    ``mode="reverse"``: one reverse pass per output element (cheap for few outputs);
    ``mode="forward"``: one forward-mode pass per input element (cheap for few inputs).
    PyTorch's arguments are accepted too: ``strategy="reverse-mode"``/``"forward-mode"``
    (the same as ``mode``) and ``vectorize`` (no effect: the passes run one by one).
    ``strict`` raises when an output does not depend on an input.
    """
    mode = strategy if strategy is not None else mode
    mode = {"reverse-mode": "reverse", "forward-mode": "forward"}.get(mode, mode)
    if mode not in ("reverse", "forward"):
        raise ValueError(f"jacobian: mode must be 'reverse' or 'forward', got {mode!r}")
    items, many = _tuple(inputs)
    cg = create_graph
    many_out = False  # set again by both branches below (the forward one once at least)
    if mode == "reverse":
        xs = _leaves(items, cg, "jacobian")
        with enable_grad():
            outs, many_out = _outputs(fn(*xs), "jacobian")
        blocks = []
        for o in outs:
            od = raw(o) if isinstance(o, Value) else as_data(o)
            oshape = shape_of(od)
            rows: list[list] = [[] for _ in xs]
            for k in range(math.prod(oshape)):
                seed = _basis(od, k)
                gs = _grads([o], [seed], xs, cg)
                for i, (g, x) in enumerate(zip(gs, xs)):
                    if g is None and strict:
                        raise ValueError(f"jacobian: output does not depend on input {i} (strict)")
                    rows[i].append(_result(g, x, cg))
            blocks.append(
                tuple(
                    _assemble(r, oshape, x.shape, od, x.data, cg, columns=False)
                    for r, x in zip(rows, xs)
                )
            )
    else:
        xs = _forward_inputs(items, cg, "jacobian")
        cols: list[list[list]] | None = None
        out_datas: list = []
        several = sum(x.size for x in xs) > 1
        for i, x in enumerate(xs):
            for k in range(x.size):
                e = _basis(x.data, k)
                ts: list[Any] = [None] * len(xs)
                ts[i] = leaf(e, False) if cg else e
                with observing(_no_dropout_in_columns) if several else contextlib.nullcontext():
                    outs, many_out, touts = _forward_pass(fn, xs, ts, cg)
                if cols is None:
                    cols = [[[] for _ in xs] for _ in outs]
                    out_datas = [raw(o) if isinstance(o, Value) else as_data(o) for o in outs]
                for j, (t, od) in enumerate(zip(touts, out_datas)):
                    if t is None:
                        if strict:
                            raise ValueError(
                                f"jacobian: output does not depend on input {i} (strict)"
                            )
                        t = leaf(_zeros(od), False) if cg else _zeros(od)
                    cols[j][i].append(t)
        if cols is None:  # every input is empty: run once for the output shapes
            outs, many_out, _ = _forward_pass(fn, xs, [None] * len(xs), cg)
            out_datas = [raw(o) if isinstance(o, Value) else as_data(o) for o in outs]
            cols = [[[] for _ in xs] for _ in outs]
        blocks = [
            tuple(
                _assemble(c, shape_of(od), x.shape, od, x.data, cg, columns=True)
                for c, x in zip(cols[j], xs)
            )
            for j, od in enumerate(out_datas)
        ]
    per_out = [b if many else b[0] for b in blocks]
    return tuple(per_out) if many_out else per_out[0]


def hessian(
    fn: Callable[..., Any], inputs: Inputs, create_graph: bool = False, strict: bool = False
) -> Any:
    """The Hessian of a scalar ``fn``: shape ``I + I`` (``H[i][j]``, ``I_i + I_j``, for a
    tuple of inputs); reverse over reverse, one reverse pass per input element."""
    _, many = _tuple(inputs)

    def gradient(*xs: Value) -> Any:
        out = _one_element(fn(*xs), "hessian")
        gs = _grads([out], [None], xs, True)
        res = tuple(g if g is not None else leaf(_zeros(x.data), False) for g, x in zip(gs, xs))
        return res if many else res[0]

    return jacobian(gradient, inputs, create_graph, strict)


# -------------------------------------------------------------------------- checkpoint


@dataclass
class _Checkpointed:
    """A checkpoint node's static parameter: what to run again in backward."""

    fn: Callable[..., Any]
    args: tuple  # the arguments, with None where a Value input goes
    slots: tuple[int, ...]  # the positions in args of the Value inputs (the node's first)


def _checkpoint_args(ctx: _Checkpointed, values: Sequence[Any]) -> list:
    args = list(ctx.args)
    for pos, v in zip(ctx.slots, values):
        args[pos] = v
    return args


def _checkpoint_forward(*args: Any) -> Any:
    *datas, ctx = args
    with no_grad():
        out = ctx.fn(*_checkpoint_args(ctx, [leaf(d, False) for d in datas[: len(ctx.slots)]]))
    return raw(out)


def _checkpoint_vjp(g: Any, out: Any, *args: Any) -> list:
    *inputs, ctx = args
    n = len(ctx.slots)
    create_graph = isinstance(out, Value)
    explicit = list(inputs[:n])
    captured = list(inputs[n:])
    if not create_graph:
        explicit = [leaf(d, True) for d in explicit]
        captured = list(ctx.captured)  # type: ignore[attr-defined]
    with enable_grad():
        again = ctx.fn(*_checkpoint_args(ctx, explicit))
    wrt = [*explicit, *captured]
    if not isinstance(again, Value) or not again.requires_grad:
        return [None] * len(wrt)
    return list(_grad(again, wrt, g, create_graph=create_graph, allow_unused=True))


_CHECKPOINT = defop(
    "checkpoint",
    _checkpoint_forward,
    _checkpoint_vjp,
    joint=True,
    register=False,
    label=lambda ctx: f"checkpoint({getattr(ctx.fn, '__name__', type(ctx.fn).__name__)})",
)


def _draws(op: Op, params: tuple) -> bool:
    """Whether an op draws random numbers: dropout, or a compiled call whose plan does."""
    # a compiled call's node holds (its run, k); the run's plan says whether it draws
    random = len(params) == 2 and getattr(getattr(params[0], "plan", None), "random", False)
    return (op.name == "dropout" and params[0] > 0.0) or random is True


def _no_dropout(v: Value, op: Op, inputs: tuple, params: tuple, datas: Sequence) -> None:
    if _draws(op, params):
        raise ValueError(
            "checkpoint: fn applies dropout, whose second run in backward would draw "
            "another mask; checkpoint the layers without it (or in eval mode)"
        )


def _no_dropout_in_columns(v: Value, op: Op, inputs: tuple, params: tuple, datas: Sequence) -> None:
    if _draws(op, params):
        raise ValueError(
            "jacobian: fn applies dropout, and mode='forward' runs fn once per input element: "
            "each run would draw another mask, so the columns would not belong to one "
            "Jacobian; use mode='reverse' (one run), or eval mode"
        )


def _one_value(out: Any) -> Value:
    if not isinstance(out, Value):
        raise TypeError(f"checkpoint: fn must return one Value, got {type(out).__name__}")
    return out


def checkpoint(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, keeping none of its intermediate results: backward runs ``fn`` again.

    As ``torch.utils.checkpoint``: the same gradients (first and higher order, with
    ``create_graph``), for the memory of the inputs and the output instead of every
    intermediate, at the cost of one more forward pass of ``fn`` in backward. Values
    ``fn`` uses without receiving them (a module's parameters) get their gradients too.
    ``fn`` must return one Value and be deterministic (dropout inside is refused: the
    second run would draw another mask); intermediate Values it reads from outside are
    best passed as arguments (otherwise the recomputation's backward walks below them).

    Inside :func:`autograd_lite.compile` the call is inlined: ``fn``'s ops join the plan
    as ordinary ops, with the same values and gradients, but the plan keeps what their
    backward needs like any other ops (no memory saved, no second forward pass). Dropout
    is refused there too, as eagerly.
    """
    if not callable(fn):
        raise TypeError(f"checkpoint: fn must be callable, got {type(fn).__name__}")
    if open_blocks.traces and state.tracer is not None:  # compile traces: inline fn
        with observing(_no_dropout):
            return _one_value(fn(*args))
    if _forward_of() is not None:
        return fn(*args)  # forward mode keeps no graph: nothing to save
    captured: dict[int, Value] = {}
    seen_ids = {id(a) for a in args if isinstance(a, Value)}

    def collect(v: Value, op: Op, inputs: tuple, params: tuple, datas: Sequence) -> None:
        _no_dropout(v, op, inputs, params, datas)
        if state.tracer is not None:  # fn is compiled, tracing: its node, made after the
            return  # trace, has the arguments and the live Values it reads as inputs
        for x in inputs:  # under no_grad only Values from outside fn require grad
            if isinstance(x, Value) and x.requires_grad and id(x) not in seen_ids:
                captured.setdefault(id(x), x)

    with no_grad(), observing(collect):
        out = _one_value(fn(*args))
    slots = tuple(i for i, a in enumerate(args) if isinstance(a, Value))
    ctx = _Checkpointed(fn, tuple(None if i in slots else a for i, a in enumerate(args)), slots)
    ctx.captured = tuple(captured.values())  # type: ignore[attr-defined]
    inputs = tuple(args[i] for i in slots) + ctx.captured  # type: ignore[attr-defined]
    track = any(x.requires_grad for x in inputs)
    return record(out.data, _CHECKPOINT, inputs, track, (ctx,), [x.data for x in inputs])


# ------------------------------------------------------------------- checking forward mode


@dataclass
class ForwardCheckResult:
    """What :func:`check_forward_ad` found: truthy exactly when forward mode agreed.

    ``op``/``input`` name the first op whose JVP rule disagreed with its VJP (the
    dot-product identity ``<u, J t> = <J^T u, t>``), ``forward``/``reverse`` the two sides;
    ``max_error`` is the largest disagreement of ``J v`` with central finite differences.
    """

    passed: bool
    message: str
    op: str | None = None
    input: int | None = None
    forward: float | None = None
    reverse: float | None = None
    max_error: float = 0.0

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        return self.message


class _Audit:
    """Checks each recorded op's JVP against its VJP by the dot-product identity."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.rng = rng
        self.bad: tuple[str, int, float, float] | None = None
        self.ops = 0

    def __call__(self, v: Value, op: Op, inputs: tuple, params: tuple, datas: Sequence) -> None:
        forward = _forward_of()
        if self.bad is not None or forward is None:
            return
        prev = state.observers, state.grad_enabled
        state.observers, state.grad_enabled = (), True
        try:
            self.ops += 1
            out = v.data
            for i, x in enumerate(inputs):
                if forward.get(x) is None:
                    continue
                t = self._random(x.data)
                ts = [None] * len(inputs)
                ts[i] = t
                jt = op.tangent(ts, out, (*datas, *params))
                jt = _fit(_zeros(out) if jt is None else jt, out, False)
                u = self._random(out)
                xs = tuple(leaf(d, k == i) for k, d in enumerate(datas))
                node = record(out, op, xs, True, params, datas)
                from autograd_lite.core.backward import sum_to

                gx = op.vjp(node, u, False)[i]
                jtu = _zeros(datas[i]) if gx is None else sum_to(gx, xs[i], node, i)
                a = float(np.sum(np.multiply(u, jt, dtype=np.float64)))
                b = float(np.sum(np.multiply(jtu, t, dtype=np.float64)))
                scale = float(np.sum(np.abs(np.multiply(u, jt, dtype=np.float64)))) + float(
                    np.sum(np.abs(np.multiply(jtu, t, dtype=np.float64)))
                )
                tiny = 1e-9 if np.result_type(out) == np.float64 else 1e-4
                if not abs(a - b) <= tiny * scale + 1e-12:
                    self.bad = (op.name, i, a, b)
                    return
        finally:
            state.observers, state.grad_enabled = prev

    def _random(self, x: Any) -> Any:
        if type(x) is float:
            return float(self.rng.standard_normal())
        return self.rng.standard_normal(x.shape).astype(x.dtype)


def check_forward_ad(
    fn: Callable[..., Any],
    inputs: Inputs,
    *,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    seed: int = 0,
    raise_exception: bool = False,
    params: Sequence[Value] = (),
) -> ForwardCheckResult:
    """Check forward mode on ``fn`` at ``inputs``: every op's JVP against its VJP, and J v
    against central finite differences.

    One forward-mode pass with a random tangent ``v`` on every input that requires grad
    (numbers and arrays do) and on each of ``params`` (Values ``fn`` uses without
    receiving them, a closure's weights: they carry their tangent themselves and are
    moved in place for the differences, then restored); each op met on the way has its
    JVP rule checked against its VJP by the dot-product identity ``<u, J t> = <J^T u, t>``
    for random ``u``, ``t`` (exact up to rounding, at any magnitude). Then
    |Jv - n| <= atol + rtol * |n| for n = (f(x + eps v) - f(x - eps v)) / (2 eps), the
    shifted points in float64 at least. Names the first op and input that disagree.
    Raises :class:`~autograd_lite.gradcheck.GradcheckError` when asked to.
    """
    items, _ = _tuple(inputs)
    if isinstance(inputs, Value):
        items = (inputs,)
    rng = np.random.default_rng(seed)
    xs = tuple(leaf(_data(x, "check_forward_ad", i), False) for i, x in enumerate(items))
    active = [not isinstance(x, Value) or x.requires_grad for x in items]
    ps = list({id(p): p for p in params}.values())
    ts = [
        (float(rng.standard_normal()) if type(x.data) is float else rng.standard_normal(x.shape))
        if a
        else None
        for x, a in zip((*xs, *ps), (*active, *[True] * len(ps)))
    ]
    ts = [
        None if t is None else _like(t, x.data, "check_forward_ad", "v")
        for t, x in zip(ts, (*xs, *ps))
    ]
    ts, pts = ts[: len(xs)], ts[len(xs) :]
    audit = _Audit(rng)
    n = len(xs)  # the params ride along in the pass (which sets and clears their tangents)
    with observing(audit):
        outs, _, touts = _forward_pass(lambda *a: fn(*a[:n]), (*xs, *ps), [*ts, *pts], False)
    if audit.bad is not None:
        name, i, a, b = audit.bad
        result = ForwardCheckResult(
            False,
            f"check_forward_ad: the JVP of op {name!r} disagrees with its VJP for its input "
            f"{i}: <u, J t> = {a:.10g} by forward mode but <J^T u, t> = {b:.10g} by reverse "
            "mode (the dot-product identity; one of the two rules is wrong)",
            name,
            i,
            a,
            b,
        )
    else:
        worst = 0.0
        failed = None
        for j, (o, t) in enumerate(zip(outs, touts)):
            od = raw(o) if isinstance(o, Value) else as_data(o)
            jv = np.asarray(_zeros(od) if t is None else t, np.float64)

            def at(step: float, j: int = j) -> np.ndarray:
                shifted = [
                    leaf(x.data if tk is None else _shift(x.data, tk, step), False)
                    for x, tk in zip(xs, ts)
                ]
                saved = [p.data for p in ps]
                try:
                    for p, tp, d in zip(ps, pts, saved):
                        p.data = _shift(d, tp, step)
                    with no_grad():
                        res, _ = _outputs(fn(*shifted), "check_forward_ad")
                finally:
                    for p, d in zip(ps, saved):
                        p.data = d
                r = res[j]
                return np.asarray(raw(r) if isinstance(r, Value) else r, np.float64)

            num = (at(eps) - at(-eps)) / (2 * eps)
            err = np.abs(jv - num)
            worst = max(worst, float(np.max(err, initial=0.0)))
            if failed is None and not np.all(err <= atol + rtol * np.abs(num)):
                failed = j
        if failed is None:
            result = ForwardCheckResult(
                True, f"check_forward_ad: passed ({audit.ops} ops)", max_error=worst
            )
        else:
            result = ForwardCheckResult(
                False,
                f"check_forward_ad: J v of output {failed} disagrees with finite differences "
                f"(largest error {worst:.3g}); every op's JVP agreed with its VJP, so check "
                "the VJPs (gradcheck) or the function's smoothness at this point",
                max_error=worst,
            )
    if not result and raise_exception:
        from autograd_lite.gradcheck import GradcheckError

        raise GradcheckError(result.message)
    return result


def _shift(x: Any, t: Any, step: float) -> Any:
    """x + step t, in float64 at least (a float32 point would round eps away)."""
    if type(x) is float:
        return x + step * t
    if np.dtype(x.dtype).kind not in "fc":
        return (x + step * t).astype(x.dtype)
    dt = np.result_type(x.dtype, np.float64)
    return np.asarray(x, dt) + step * np.asarray(t, dt)
