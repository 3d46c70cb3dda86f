"""Numerical gradient checking: backprop's Jacobian against central finite differences.

The numerical Jacobian column for input element k is (f(x + eps e_k) - f(x - eps e_k)) / 2 eps,
which costs two forward passes per input element; the analytical Jacobian takes one
backward pass per output element. The Values given (inputs and parameters) are perturbed
themselves: each one's ``.data`` is swapped for a float64 copy for the duration of the
check and put back afterwards (the very same object, exceptions included), so a closure
over a layer's weights sees every perturbation.

Entries that disagree at the requested eps are looked at more closely (unless
``strict=True``): finite-difference error (noise) is told from a wrong gradient by
retrying with steps scaled to the input and Richardson extrapolation, and a kink (relu at
0, a tie in max) by comparing the one-sided slopes. Beyond a budget of forward passes the
check compares random projections v^T J u instead of the full Jacobian (fast mode).

:func:`check_graph` checks each node of one recorded graph on its own, to find which
operation's backward is wrong.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograd_lite.core.backward import grad, topological_order, unbroadcast
from autograd_lite.core.modes import creation_site, detect_anomaly
from autograd_lite.core.value import Value
from autograd_lite.functional import concatenate, reshape

__all__ = [
    "FAST_MODE_PROJECTIONS",
    "FULL_MODE_BUDGET",
    "Entry",
    "GradcheckError",
    "GradcheckResult",
    "GraphCheckResult",
    "InputCheck",
    "NodeCheck",
    "check_graph",
    "gradcheck",
    "gradgradcheck",
]

FULL_MODE_BUDGET = 2000
"""``fast_mode=None`` uses the full Jacobian when 2 * (elements checked) <= this many
forward passes, and random projections beyond it."""

FAST_MODE_PROJECTIONS = 3
FAST_MODE_MAX_PROJECTIONS = 8
"""Fast mode uses min(8, max(3, 24 // inputs checked)) projections: more where cheap."""
"""Random projections v^T J u compared per input in fast mode (and per input in
:func:`check_graph` for inputs of more than ``DIRECTIONAL_THRESHOLD`` elements)."""

DIRECTIONAL_THRESHOLD = 20
""":func:`check_graph` checks node inputs up to this size element by element."""

_CONFIRM_LIMIT = 5  # columns confirmed as wrong before the rest are left unexamined
_WORST = 5  # entries listed per failing input
_NONDET = "not checked: non-deterministic"
_FAILING = ("mismatch", "kink-fail", "unexamined")
_SECOND_ORDER_HINT = (
    "second derivatives are checked as d/dx of the gradient of L = sum(v * fn(x)) for a fixed "
    "random v. A common cause of a failure: a Function whose backward uses a value stashed "
    "on ctx (ctx.x = x) instead of ctx.save_for_backward(x) / ctx.saved_tensors, which "
    "create_graph cannot see through, so the second derivative comes out zero or wrong"
)


# ----------------------------------------------------------------------------- results


@dataclass
class Entry:
    """One compared number: a Jacobian entry, or one random projection v^T J u."""

    where: str
    analytical: float
    numerical: float
    abs_error: float
    rel_error: float
    verdict: str = "mismatch"  # failing: mismatch, kink-fail, unexamined; ok: noise, kink;
    # unverified: no verdict possible at this point (a jump, a kink at eps's scale only)

    def __str__(self) -> str:
        tag = "" if self.verdict in ("mismatch", "unexamined") else f" [{self.verdict}]"
        return (
            f"{self.where}: analytical {self.analytical:.6g}, numerical {self.numerical:.6g}, "
            f"abs error {self.abs_error:.3g}, rel error {self.rel_error:.3g}{tag}"
        )


@dataclass
class InputCheck:
    """The verdict for one checked input or parameter of :func:`gradcheck`."""

    name: str  # "input 0", "input 1 (w)", "layers.1.weight"
    index: int | None  # argument index for an input, None for a parameter
    shape: tuple[int, ...]
    passed: bool
    verdict: str  # "ok", "ok (kink)", "FAIL: 2 of 4 entries disagree", "unused", ...
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    compared: int = 0  # Jacobian entries (or projections) compared
    failed: int = 0
    worst: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unverified: int = 0  # entries at which nothing could be verified (not failures)


@dataclass(repr=False)
class GradcheckResult:
    """What :func:`gradcheck`/:func:`gradgradcheck` found: truthy exactly when it passed.

    One :class:`InputCheck` per checked input or parameter, the mode (``"full"`` Jacobian
    or ``"fast"`` projections) and the cost. ``str(result)`` is a readable table;
    ``result["layers.1.weight"]`` or ``result[0]`` (argument index) picks one check.
    """

    passed: bool
    checks: list[InputCheck]
    mode: str
    order: int
    forward_passes: int
    backward_passes: int
    seconds: float
    eps: float
    atol: float
    rtol: float
    strict: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "model upcast to float64"
    unchecked: list[str] = field(default_factory=list)
    """Leaves that require grad and feed the output but were not checked (``params=``
    limited the check to others); under ``strict`` they make the check fail."""

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> list[InputCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def unverified(self) -> int:
        """Entries that could not be verified (a jump or an eps-scale kink at the point):
        not failures, but not checked either; ``strict=True`` fails them."""
        return sum(c.unverified for c in self.checks)

    def __getitem__(self, key: int | str) -> InputCheck:
        for c in self.checks:
            if (isinstance(key, int) and c.index == key) or (
                isinstance(key, str) and key in (c.name, c.name.split(" (")[0])
            ):
                return c
        raise KeyError(key)

    def __repr__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return f"<GradcheckResult {status}, {self.mode} mode, {len(self.checks)} checked>"

    def __str__(self) -> str:
        who = "gradcheck" if self.order == 1 else "gradgradcheck (second derivatives)"
        n_bad = len(self.failures)
        partly = ""
        if self.unchecked:
            n = len(self.unchecked)
            partly = (
                f"partly checked: {n} {'leaf' if n == 1 else 'leaves'} not checked "
                f"({', '.join(self.unchecked)})"
            )
        unver = self.unverified
        if self.passed and unver:
            head = (
                f"{who} UNVERIFIED: {unver} {'entry' if unver == 1 else 'entries'} could not "
                "be verified (see notes: move the point or shrink eps); the rest agree"
            )
            head += f"; {partly}" if partly else ""
        elif self.passed and partly:
            head = f"{who} {partly}; the {len(self.checks)} checked agree with finite differences"
        elif self.passed:
            head = f"{who} passed: {len(self.checks)} checked, all agree with finite differences"
        elif self.error:
            head = f"{who} FAILED: {self.error}"
        elif not n_bad and partly:
            head = f"{who} FAILED (strict): {partly}"
            partly = ""
        else:
            head = (
                f"{who} FAILED: {n_bad} of {len(self.checks)} checked disagree with finite "
                "differences"
            )
        how = (
            "random projections v^T J u; see the notes for what they can miss"
            if self.mode == "fast"
            else "every Jacobian entry"
        )
        if partly and not self.passed:
            head += f"; {partly}"
        lines = [
            head,
            f"  mode: {self.mode} ({how}), eps={self.eps:g}, atol={self.atol:g}, "
            f"rtol={self.rtol:g}" + (", strict" if self.strict else ""),
            f"  cost: {self.forward_passes} forward passes, {self.backward_passes} backward "
            f"passes, {self.seconds:.3g} s",
            *[f"  {n}" for n in self.notes],
            "",
        ]
        rows = [
            [c.name, str(c.shape), f"{c.max_abs_error:.3g}", f"{c.max_rel_error:.3g}", c.verdict]
            for c in self.checks
        ]
        lines += _table(["checked", "shape", "max abs err", "max rel err", "verdict"], rows)
        for c in self.checks:
            if c.worst and not c.passed:
                lines.append(f"  {c.name}, worst entries:")
                lines += [f"    {e}" for e in c.worst[:3]]
        notes = [f"  {c.name}: {n}" for c in self.checks for n in c.notes]
        if notes:
            lines.append("  notes:")
            lines += ["  " + n for n in notes]
        if self.order == 2 and not self.passed and not self.error:
            lines.append("  " + _SECOND_ORDER_HINT)
        return "\n".join(lines)


@dataclass
class NodeCheck:
    """One node of a graph, one of its inputs: the node's VJP against its own forward."""

    position: int  # 1-based, in topological order (inputs before outputs)
    op: str
    site: str | None  # "file:line in function: source" of the code that made the node
    input: int  # which input of the node
    input_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    mode: str  # "full" (element by element) or "directional"
    passed: bool
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(repr=False)
class GraphCheckResult:
    """What :func:`check_graph` found: truthy when every node was checked and its VJP agrees.

    ``checks`` has one :class:`NodeCheck` per (node, input that needs a gradient), in
    topological order; ``culprit`` is the earliest failing one. ``str(result)`` is a table.
    """

    passed: bool
    checks: list[NodeCheck]
    nodes: int
    unchecked: list[str]
    forward_passes: int
    backward_passes: int
    seconds: float
    eps: float
    atol: float
    rtol: float

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> list[NodeCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def culprit(self) -> NodeCheck | None:
        """The earliest failing node: its backward is the first one that is wrong."""
        bad = self.failures
        return bad[0] if bad else None

    def __repr__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return f"<GraphCheckResult {status}, {self.nodes} nodes, {len(self.failures)} failing>"

    def __str__(self) -> str:
        bad = self.failures
        if self.passed:
            head = (
                f"check_graph passed: {self.nodes} nodes, {len(self.checks)} input gradients "
                "agree with finite differences of each node's own forward"
            )
        elif not bad:
            n = len(self.unchecked)
            head = (
                f"check_graph FAILED: {n} of {self.nodes} nodes could not be checked (see "
                "notes); the other nodes' input gradients agree"
            )
        else:
            head = (
                f"check_graph FAILED: {len(bad)} of {len(self.checks)} input gradients "
                f"disagree ({self.nodes} nodes)"
            )
            if self.unchecked:
                head += f"; {len(self.unchecked)} nodes could not be checked"
        lines = [
            head,
            f"  eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}; cost: "
            f"{self.forward_passes} node forwards, {self.backward_passes} node VJPs, "
            f"{self.seconds:.3g} s",
        ]
        c = self.culprit
        if c is not None:
            lines.append(
                f"  likely culprit: node #{c.position} {c.op!r} (input {c.input}), made at "
                f"{c.site or 'an unknown place'}"
            )
        lines.append("")
        shown = bad if bad else self.checks
        rows = [
            [
                f"#{k.position}",
                k.op,
                f"{k.input} ({k.input_name})",
                str(k.input_shape),
                str(k.output_shape),
                f"{k.max_abs_error:.3g}",
                f"{k.max_rel_error:.3g}",
                ("ok" if k.passed else "FAIL") + f" ({k.mode})",
            ]
            + ([k.site or "unknown"] if bad else [])
            for k in shown
        ]
        head_row = ["node", "op", "input", "shape", "out shape", "max abs err", "max rel err"]
        lines += _table([*head_row, "verdict"] + (["made at"] if bad else []), rows)
        for k in bad:
            if k.worst:
                lines.append(f"  node #{k.position} {k.op}, input {k.input}, worst:")
                lines += [f"    {e}" for e in k.worst]
        notes = [f"  node #{k.position} {k.op}: {n}" for k in self.checks for n in k.notes]
        notes += [f"  {n}" for n in self.unchecked]
        if notes:
            lines.append("  notes:")
            lines += ["  " + n for n in notes]
        return "\n".join(lines)


class GradcheckError(AssertionError):
    """A gradient check failed; ``.result`` is the :class:`GradcheckResult` (or
    :class:`GraphCheckResult`) and the message is its table."""

    def __init__(
        self, result: GradcheckResult | GraphCheckResult | str, message: str | None = None
    ) -> None:
        self.result = None if isinstance(result, str) else result
        super().__init__(str(result) if message is None else message)


# ------------------------------------------------------------------------ public API


def gradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Any] | Value,
    *,
    params: Any = None,
    eps: float = 1e-6,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    allow_unused: bool = False,
    strict: bool = False,
    fast_mode: bool | None = None,
    seed: int = 0,
    check_forward_ad: bool = False,
    nondet_tol: float = 0.0,
) -> GradcheckResult:
    """Check ``fn``'s gradients: every Jacobian entry satisfies |a - n| <= atol + rtol * |n|.

    ``fn(*inputs)`` returns a Value. Checked are the inputs that require grad (numbers and
    arrays are wrapped as Values that do) and ``params``: Values ``fn`` uses without
    receiving them (a list, a ``{name: Value}`` dict, or anything with
    ``named_parameters()``); when ``fn`` itself has ``named_parameters`` (a module) its
    parameters are checked by default. Without ``params``, every other leaf that requires
    grad in the graph ``fn`` records (a Parameter held by a closure, a global, a module it
    reaches) is checked too; with ``params``, such leaves are listed as not checked
    (``result.unchecked``; a failure under ``strict``). ``fn`` is run twice first: if the
    outputs differ by more than ``nondet_tol``, the check fails as non-deterministic. An
    input that does not influence the output fails unless ``allow_unused``. Entries
    that disagree are examined for finite-difference noise and kinks (not with
    ``strict``). ``fast_mode`` compares random projections (None: beyond
    :data:`FULL_MODE_BUDGET` forward passes). Returns a :class:`GradcheckResult`; on
    failure raises :class:`GradcheckError` carrying it, or returns it (falsy) with
    ``raise_exception=False``. ``check_forward_ad`` also checks forward mode
    (:func:`autograd_lite.transforms.check_forward_ad`: each op's JVP).
    """
    opts = _options(eps, atol, rtol, allow_unused, strict, fast_mode, seed, nondet_tol)
    args, targets, swapped = _prepare(fn, inputs, params, "gradcheck", need_targets=False)
    run = _Run(fn, args, "gradcheck")
    with _swap(swapped), _upcast(fn) as upcast:
        found = _found_leaves(run, fn, targets, params)
        with _swap([t.value for t in found.extra]):
            targets = targets + found.extra
            out, nondet = _twice(run, found.out, bool(found.extra), opts)
            if nondet:
                result = _error_result(nondet, targets, opts, run, 1, _NONDET)
            else:
                result = _check(run, targets, opts, order=1, out=out)
    result.notes += upcast
    result = _partly(result, found.unchecked)
    if check_forward_ad and result.passed:
        from autograd_lite.transforms import check_forward_ad as check_jvp

        forward = check_jvp(
            fn,
            args,
            eps=eps,
            atol=1e-5 if atol is None else atol,
            rtol=1e-3 if rtol is None else rtol,
            seed=seed,
        )
        result.passed, result.error = forward.passed, None if forward else forward.message
    return _finish(result, raise_exception)


def gradgradcheck(
    fn: Callable[..., Value],
    inputs: Sequence[Any] | Value,
    grad_outputs: Any = None,
    *,
    params: Any = None,
    eps: float = 1e-6,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    strict: bool = False,
    fast_mode: bool | None = None,
    seed: int = 0,
    nondet_tol: float = 0.0,
) -> GradcheckResult:
    """Check second derivatives: :func:`gradcheck` of (x, v) -> d(sum(v * fn(x)))/dx.

    The first derivatives are checked first (:func:`gradcheck`); then the derivative of
    the VJP with respect to x and to the cotangent v (a row "grad_outputs (v)"; a backward
    that detaches its incoming gradient fails there). The first derivative is computed
    with ``create_graph=True``, so this checks that the backward pass is itself correctly
    differentiable. ``grad_outputs`` (v) defaults to fixed random signed weights of the
    output's shape. A second derivative that is identically
    zero (a linear function) passes. Same arguments and result as :func:`gradcheck`.
    """
    opts = _options(eps, atol, rtol, True, strict, fast_mode, seed, nondet_tol)
    args, targets, swapped = _prepare(fn, inputs, params, "gradgradcheck", need_targets=False)
    counter = _Run(fn, args, "gradgradcheck")
    wrt: list[Value] = []
    sizes: list[int] = []

    def first_derivative(*xs: Value) -> Value:
        out = counter.output()
        if not out.requires_grad:
            return Value(np.zeros(sum(sizes)), requires_grad=False)
        counter.backward += 1
        try:
            grads = grad(out, wrt, grad_outputs=gv, create_graph=True, allow_unused=True)
        except TypeError as e:
            if "Value" not in str(e) and "ufunc" not in str(e):
                raise
            raise _RawBackward(_raw_backward_message(e)) from e
        flat = [np.zeros(n) if g is None else reshape(g, (-1,)) for n, g in zip(sizes, grads)]
        return concatenate(flat)

    with _swap(swapped), _upcast(fn) as upcast:
        found = _found_leaves(counter, fn, targets, params)
        with _swap([t.value for t in found.extra]):
            targets = targets + found.extra
            wrt[:] = [t.value for t in targets]
            sizes[:] = [t.size for t in targets]
            out, nondet = _twice(counter, found.out, bool(found.extra), opts)
            run = _Run(first_derivative, args, "gradgradcheck", counter)
            if grad_outputs is None:
                rng = np.random.default_rng(seed)
                v: Any = _cotangent(rng, out.shape)
                v = float(v) if out.ndim == 0 else v
            else:
                v = grad_outputs.data if isinstance(grad_outputs, Value) else grad_outputs
            # v is perturbed too (as PyTorch does): d(vjp)/dv catches a backward detaching g
            gv = Value(float(v) if np.ndim(v) == 0 and out.ndim == 0 else np.array(v, float))
            seeds = [*targets, _Target(gv, "grad_outputs (v)", "v", None)]
            if nondet:
                result = _error_result(nondet, targets, opts, run, 2, _NONDET)
            else:
                try:
                    first = _first_order(counter, targets, opts, out)
                    result = first if first is not None else _check(run, seeds, opts, 2)
                except _RawBackward as e:
                    result = _error_result(
                        str(e), targets, opts, run, 2, "not checked: backward not differentiable"
                    )
    result.notes += upcast
    return _finish(_partly(result, found.unchecked), raise_exception)


def check_graph(
    fn: Callable[..., Value] | Value,
    inputs: Sequence[Any] | Value | None = None,
    *,
    params: Any = None,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> GraphCheckResult:
    """Check each node's own VJP: v . J_node against v . (F(x + eps e_k) - F(x - eps e_k)) / 2eps.

    Runs ``fn(*inputs)`` once under :class:`detect_anomaly` (recording where each node is
    made), then, for every node and every input of it that needs a gradient, compares the
    node's VJP with central differences of that node's forward at its actual inputs:
    element by element for inputs of up to ``DIRECTIONAL_THRESHOLD`` elements, along random
    directions beyond. ``check_graph(output)`` checks an already recorded graph. Returns a
    :class:`GraphCheckResult` naming the earliest failing node; on failure raises
    :class:`GradcheckError` carrying it, unless ``raise_exception=False``.
    """
    opts = _Options(eps, atol, rtol, True, False, None, seed)
    start = time.perf_counter()
    if isinstance(fn, Value):
        if inputs is not None:
            raise TypeError("check_graph(output): inputs are only taken with a callable")
        names = {id(p): n for n, p in _named_params(params, None)}
        result = _check_nodes(fn, names, opts, start)
    else:
        args, targets, swapped = _prepare(
            fn, [] if inputs is None else inputs, params, "check_graph", need_targets=False
        )
        names = {id(t.value): t.label for t in targets}
        with _swap(swapped):
            with detect_anomaly(check_nan=False):
                out = fn(*args)
            if not isinstance(out, Value):
                raise TypeError(f"check_graph: fn must return a Value, got {type(out).__name__}")
            result = _check_nodes(out, names, opts, start)
    if not result.passed and raise_exception:
        raise GradcheckError(result)
    return result


# ------------------------------------------------------------- leaves, determinism


@dataclass
class _Found:
    out: Value  # fn's output from the discovery run
    extra: list[_Target]  # leaves to check beyond the inputs and params
    unchecked: list[str]  # leaves left out because params= limited the check


def _found_leaves(run: _Run, fn: Any, targets: list[_Target], params: Any) -> _Found:
    """Run fn once and find every leaf requiring grad in its graph that is not a target.

    Without ``params`` they are checked (named by the module that holds them, else their
    own name or the variable holding them, else ``leaf #k``); with ``params`` they are
    reported as not checked.
    """
    out = run.output()
    if not targets and (params is not None or not out.requires_grad):
        raise ValueError(f"{run.who}: no input requires grad, so there is nothing to check")
    known = {id(t.value) for t in targets}
    leaves = []
    if out.requires_grad:
        leaves = [
            n
            for n in topological_order([out])
            if n.is_leaf and n.requires_grad and id(n) not in known and n.dtype.kind == "f"
        ]
    if not leaves:
        return _Found(out, [], [])
    names = _reachable_names(fn)
    used = {t.name for t in targets}
    labels = []
    for k, leaf in enumerate(leaves):
        name = names.get(id(leaf)) or leaf.name or f"leaf #{k}"
        if name in used:
            name = f"{name} (leaf #{k})"
        used.add(name)
        labels.append(name)
    if params is not None:
        return _Found(out, [], labels)
    extra = [_Target(leaf, n, n, None) for leaf, n in zip(leaves, labels)]
    for t in extra:
        if t.value.dtype != np.float64:
            warnings.warn(
                f"{run.who}: {t.name} is {t.value.dtype}; the check runs on it in float64",
                stacklevel=3,
            )
    return _Found(out, extra, [])


@contextmanager
def _upcast(fn: Any) -> Iterator[list[str]]:
    """Run every module ``fn`` reaches in float64: layer dtypes, buffers and parameters.

    Layers such as LayerNorm and BatchNorm cast their input back to their own dtype, so a
    float32 model checked with float64 parameters alone still computes in float32 (and
    finite differences in float32 mean nothing). Everything is put back afterwards.
    """
    roots: list[Any] = []
    _reachable_names(fn, roots)
    notes: list[str] = []
    saved: list[tuple[Any, str, Any]] = []
    params: list[Value] = []
    seen: set[int] = set()
    for root in roots:
        for _, m in root.named_modules():
            if id(m) in seen:
                continue
            seen.add(id(m))
            names = [n for n in ("_dtype",) if n in vars(m)] + list(
                vars(m).get("_buffer_names", ())
            )
            for n in names:
                val = getattr(m, n)
                if n == "_dtype":
                    dt = np.dtype(val) if val is not None else None
                    if dt is not None and dt.kind == "f" and dt.itemsize < 8:
                        saved.append((m, n, val))
                elif isinstance(val, np.ndarray) and val.dtype.kind == "f" and val.itemsize < 8:
                    saved.append((m, n, val))
            params += [p for _, p in _members_params(m) if p.dtype != np.float64]
    try:
        for m, n, val in saved:
            new = np.float64 if n == "_dtype" else val.astype(np.float64)
            object.__setattr__(m, n, new)
        with _swap(params):
            if saved or params:
                notes.append(
                    "the model was upcast to float64 for the check (layer dtypes, buffers and "
                    f"parameters: {len(saved) + len(params)} items), and put back afterwards"
                )
            yield notes
    finally:
        for m, n, val in reversed(saved):
            object.__setattr__(m, n, val)


def _members_params(m: Any) -> list[tuple[str, Value]]:
    return [(n, p) for n, p in vars(m).items() if isinstance(p, Value)]


def _reachable_names(fn: Any, modules: list[Any] | None = None) -> dict[int, str]:
    """Names for the Values ``fn`` can reach: a module's parameter names, else the variable.

    Looks at ``fn`` itself, its ``__self__``, closure cells, the globals its code names and
    its defaults, and one level into lists, tuples and dicts and functions found there.
    """
    names: dict[int, str] = {}
    seen: set[int] = set()

    def visit(var: str, obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 3:
            return
        seen.add(id(obj))
        if isinstance(obj, Value):
            names.setdefault(id(obj), obj.name or var)
            return
        named = getattr(obj, "named_parameters", None)
        if callable(named) and not isinstance(obj, type):
            try:
                pairs = list(named())
            except Exception:  # not a module after all
                pairs = []
            for n, p in pairs:
                names.setdefault(id(p), n)
            if modules is not None and callable(getattr(obj, "named_modules", None)):
                modules.append(obj)
            return
        if isinstance(obj, (list, tuple)):
            for i, o in enumerate(obj):
                visit(f"{var}[{i}]", o, depth + 1)
        elif isinstance(obj, dict):
            for key, o in obj.items():
                visit(f"{var}[{key!r}]", o, depth + 1)
        elif callable(obj) and hasattr(getattr(obj, "__func__", obj), "__code__"):
            visit_function(obj, depth + 1)

    def visit_function(f: Any, depth: int) -> None:
        owner = getattr(f, "__self__", None)
        if owner is not None:
            visit("self", owner, depth)
        f = getattr(f, "__func__", f)
        code = f.__code__
        for var, cell in zip(code.co_freevars, f.__closure__ or ()):
            with suppress(ValueError):  # an empty cell
                visit(var, cell.cell_contents, depth)
        glob = getattr(f, "__globals__", {})
        for var in code.co_names:
            if var in glob:
                visit(var, glob[var], depth)
        for d in f.__defaults__ or ():
            visit("a default", d, depth)

    visit("fn", fn, 0)
    return names


def _twice(run: _Run, first: Value, rerun: bool, opts: _Options) -> tuple[Value, str | None]:
    """Run fn (again) and compare with a run before: the output to check, or why not.

    ``rerun``: ``first`` was computed before some leaves were swapped to float64, so two
    fresh runs are compared instead.
    """
    a = run.output() if rerun else first
    b = run.output()
    x = np.array(a.data, dtype=np.float64)
    y = np.array(b.data, dtype=np.float64)
    if x.shape != y.shape:
        return b, (
            f"non-deterministic: fn gave outputs of shapes {x.shape} and {y.shape} on two "
            "runs with the same inputs"
        )
    with np.errstate(all="ignore"):
        diff = np.abs(x - y)
    same = (diff <= opts.nondet_tol) | (np.isnan(x) & np.isnan(y)) | (x == y)
    if same.all():
        return b, None
    worst = float(_inf(np.where(same, 0.0, diff)).max())
    return b, (
        f"non-deterministic: fn gave different outputs on two runs with the same inputs "
        f"({int((~same).sum())} of {same.size} elements differ, by up to {worst:.3g}), so "
        "finite differences of it mean nothing. Seed its randomness inside fn, call "
        "model.eval() (dropout), or pass nondet_tol= if the differences are tiny and "
        "expected"
    )


def _partly(result: GradcheckResult, unchecked: list[str]) -> GradcheckResult:
    """Record the leaves left unchecked; under strict they fail the check."""
    result.unchecked = list(unchecked)
    if unchecked and result.strict:
        result.passed = False
    return result


# ------------------------------------------------------------------------ preparation


@dataclass
class _Options:
    eps: float
    atol: float
    rtol: float
    allow_unused: bool
    strict: bool
    fast_mode: bool | None
    seed: int
    nondet_tol: float = 0.0
    auto: bool = False  # tolerances not given: also flag what exceeds the measured noise
    unit: float = 2.2e-16  # rounding unit of fn's output (float64 unless it stays float32)


SAFE = 10.0
"""With default tolerances an entry fails when it disagrees with a stable estimate by more
than SAFE times the estimated finite-difference noise (and more than REL_FLOOR relative)."""

REL_FLOOR = 1e-6
ABS_FLOOR = 1e-9


def _options(
    eps: float,
    atol: float | None,
    rtol: float | None,
    allow_unused: bool,
    strict: bool,
    fast_mode: bool | None,
    seed: int,
    nondet_tol: float,
) -> _Options:
    auto = atol is None and rtol is None
    return _Options(
        eps,
        1e-5 if atol is None else float(atol),
        1e-3 if rtol is None else float(rtol),
        allow_unused,
        strict,
        fast_mode,
        seed,
        nondet_tol,
        auto and not strict,
    )


def _bar(numerical: Any, noise: Any, opts: _Options) -> Any:
    """The largest |analytical - numerical| accepted: atol + rtol |n|, tightened (default
    tolerances) to max(REL_FLOOR |n| + ABS_FLOOR, SAFE * noise) where the noise is small."""
    doc = opts.atol + opts.rtol * np.abs(numerical)
    if not opts.auto:
        return doc
    return np.minimum(doc, np.maximum(REL_FLOOR * np.abs(numerical) + ABS_FLOOR, SAFE * noise))


class _Target:
    """A Value being checked, with its name in the table and in entry labels."""

    def __init__(self, value: Value, name: str, label: str, index: int | None) -> None:
        self.value = value
        self.name = name  # for the table
        self.label = label  # inside entry labels: "input0", "layers.1.weight"
        self.index = index

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return self.value.size


def _named_params(params: Any, fn: Any) -> list[tuple[str, Value]]:
    """``params`` as (name, Value) pairs; by default ``fn.named_parameters()`` if it has one."""
    if params is None:
        named = getattr(fn, "named_parameters", None)
        return list(named()) if callable(named) else []
    named = getattr(params, "named_parameters", None)
    if callable(named):
        pairs = list(named())
    elif isinstance(params, Mapping):
        pairs = [(str(k), p) for k, p in params.items()]
    else:
        seq = [params] if isinstance(params, Value) else list(params)
        pairs = [
            (p.name if getattr(p, "name", None) else f"params[{i}]", p) for i, p in enumerate(seq)
        ]
    for name, p in pairs:
        if not isinstance(p, Value):
            raise TypeError(f"params: {name} is a {type(p).__name__}, not a Value")
    return pairs


def _prepare(
    fn: Any, inputs: Any, params: Any, who: str, need_targets: bool = True
) -> tuple[list[Value], list[_Target], list[Value]]:
    """The arguments (non-Values wrapped), the Values to check, and the Values to swap."""
    if isinstance(inputs, Value):
        inputs = [inputs]
    args: list[Value] = []
    targets: list[_Target] = []
    seen: set[int] = set()
    for i, x in enumerate(inputs):
        v = x if isinstance(x, Value) else Value(x)
        args.append(v)
        if v.requires_grad and id(v) not in seen:
            seen.add(id(v))
            name = f"input {i}" + (f" ({v.name})" if v.name else "")
            targets.append(_Target(v, name, f"input{i}", i))
    for name, p in _named_params(params, fn):
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            targets.append(_Target(p, name, name, None))
    if not targets and need_targets:
        raise ValueError(f"{who}: no input requires grad, so there is nothing to check")
    swapped: dict[int, Value] = {}
    for v in [*args, *(t.value for t in targets)]:
        swapped.setdefault(id(v), v)
    for t in targets:
        if t.value.dtype != np.float64:
            warnings.warn(
                f"{who}: {t.name} is {t.value.dtype}; the check runs on it in float64, since "
                f"finite differences in {t.value.dtype} are too coarse to trust",
                stacklevel=3,
            )
    return args, targets, list(swapped.values())


@contextmanager
def _swap(values: Sequence[Value]) -> Iterator[None]:
    """Give each Value a float64 copy of its data; put back the very same data and grad."""
    saved: list[tuple[Value, Any, Any]] = []
    try:
        for v in values:
            saved.append((v, v.data, v.grad))
            d = v.data
            v.data = d if type(d) is float else np.array(d, dtype=np.float64, order="C")
        yield
    finally:
        for v, data, g in reversed(saved):
            v.data = data
            v.grad = g


class _RawBackward(Exception):
    """A backward computed with numpy on raw arrays under create_graph."""


def _raw_backward_message(e: BaseException) -> str:
    name = _backward_owner(e)
    while e.__context__ is not None and isinstance(e.__context__, TypeError):
        e = e.__context__  # numpy's own words, under the engine's
    return (
        f"the backward of {name} computed on raw arrays; write it with autograd_lite "
        "operations / ctx.saved_tensors so it can be differentiated "
        f"(under create_graph=True: TypeError: {e})"
    )


def _backward_owner(e: BaseException | None) -> str:
    """The Function whose ``backward`` raised ``e``: from the traceback, else the message."""
    chain = []
    while e is not None and e not in chain:
        chain.append(e)
        e = e.__cause__ or e.__context__
    for exc in chain:
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_name == "backward":
                qual = getattr(code, "co_qualname", "")
                parts = qual.split(".")
                if len(parts) >= 2 and parts[-2] not in ("<locals>", "Value"):
                    return parts[-2]
            tb = tb.tb_next
    for exc in chain:
        m = re.search(r"(\w+)\.backward", str(exc))
        if m:
            return m.group(1)
    for exc in chain:  # a defop's VJP: the engine's frame holds the node whose op it is
        tb = exc.__traceback__
        while tb is not None:
            op = getattr(tb.tb_frame.f_locals.get("node"), "_op", None)
            if tb.tb_frame.f_code.co_name == "_run_backward" and getattr(op, "name", None):
                return f"{op.name!r} (declared with defop)"
            tb = tb.tb_next
    return "a Function"


# -------------------------------------------------------------------------- the check


class _Run:
    """Calls fn on the arguments, counting forward and backward passes."""

    def __init__(
        self, fn: Callable[..., Value], args: list[Value], who: str, counts: Any = None
    ) -> None:
        self.fn = fn
        self.args = args
        self.who = who
        self.counts = counts  # another _Run whose counters we share (gradgradcheck)
        self.forward = 0
        self.backward = 0
        self.out_size: int | None = None

    def output(self) -> Value:
        if self.counts is None:
            self.forward += 1
        out = self.fn(*self.args)
        if not isinstance(out, Value):
            raise TypeError(f"{self.who}: fn must return a Value, got {type(out).__name__}")
        return out

    def values(self) -> np.ndarray:
        """fn's output as a flat float64 array."""
        flat = np.array(self.output().data, dtype=np.float64).reshape(-1)
        if self.out_size is not None and flat.size != self.out_size:
            raise ValueError(f"{self.who}: fn's output changed size when its input was perturbed")
        return flat

    def grads(self, out: Value, wrt: list[Value], seed: Any) -> list[Any]:
        if not out.requires_grad:
            return [None] * len(wrt)
        self._count_backward()
        return list(grad(out, wrt, grad_outputs=seed, allow_unused=True))

    def _count_backward(self) -> None:
        if self.counts is None:
            self.backward += 1
        else:
            self.counts.backward += 1

    @property
    def cost(self) -> tuple[int, int]:
        c = self.counts or self
        return c.forward, c.backward


def _at(run: _Run, t: _Target, k: int, step: float) -> tuple[np.ndarray, float]:
    """fn's output with element k of ``t`` moved by ``step``, and the step actually taken."""
    v = t.value
    d = v.data
    if type(d) is float:
        moved = d + step
        v.data = moved
        try:
            return run.values(), moved - d
        finally:
            v.data = d
    flat = d.reshape(-1)  # a view: d is our contiguous float64 copy
    original = flat[k]
    flat[k] = original + step
    try:
        return run.values(), float(flat[k] - original)
    finally:
        flat[k] = original


def _along(run: _Run, t: _Target, u: Any, step: float) -> np.ndarray:
    """fn's output with all of ``t`` moved by ``step * u``."""
    v = t.value
    d = v.data
    v.data = d + step * u if type(d) is not float else d + step * float(u)
    try:
        return run.values()
    finally:
        v.data = d


def _unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    u = rng.standard_normal(shape)
    n = float(np.sqrt(np.sum(u * u)))
    return u / n if n > 0 else u


def _cotangent(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random signed weights of size 0.5 to 1.5: a VJP that ignores or mangles its incoming
    gradient (2x for g * 2x, relu(g) * 2x) cannot agree with them by chance."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)


def _seed_like(out: Value, flat: np.ndarray) -> Any:
    return float(flat[0]) if type(out.data) is float else flat.reshape(out.shape)


def _check(
    run: _Run, targets: list[_Target], opts: _Options, order: int, out: Value | None = None
) -> GradcheckResult:
    start = time.perf_counter()
    out = run.output() if out is None else out
    dt = out.dtype
    opts.unit = float(np.finfo(dt).eps) if dt.kind == "f" and dt.itemsize < 8 else 2.2e-16
    f0 = np.array(out.data, dtype=np.float64).reshape(-1)
    run.out_size = f0.size
    label = _labeller(out.shape, targets, order)
    total = sum(t.size for t in targets)
    fast = opts.fast_mode if opts.fast_mode is not None else 2 * total > FULL_MODE_BUDGET
    if f0.size == 0 or total == 0:  # an empty Jacobian: nothing to compare
        checks = [InputCheck(t.name, t.index, t.shape, True, "ok (empty)") for t in targets]
    elif fast:
        checks = _fast_checks(run, out, f0, targets, opts, order, label)
    else:
        jacobians, nonlinear = _analytical(run, out, targets, opts.seed)
        checks = [
            _nonlinear(_full_check(run, t, jac, f0, opts, order, label), why)
            for t, jac, why in zip(targets, jacobians, nonlinear)
        ]
    forward, backward = run.cost
    return GradcheckResult(
        passed=all(c.passed for c in checks),
        checks=checks,
        mode="fast" if fast else "full",
        order=order,
        forward_passes=forward,
        backward_passes=backward,
        seconds=time.perf_counter() - start,
        eps=opts.eps,
        atol=opts.atol,
        rtol=opts.rtol,
        strict=opts.strict,
    )


def _first_order(
    run: _Run, targets: list[_Target], opts: _Options, out: Value
) -> GradcheckResult | None:
    """gradgradcheck checks the first derivatives first (a backward that ignores g gives a
    first derivative that is wrong yet differentiates consistently): the failing result."""
    first = _check(run, targets, opts, order=1, out=out)
    if first.passed:
        return None
    first.order = 2
    first.error = (
        "the first derivatives already disagree with finite differences (gradcheck fails, "
        "table below), so the second derivatives were not checked"
    )
    return first


def _error_result(
    message: str, targets: list[_Target], opts: _Options, run: _Run, order: int, verdict: str
) -> GradcheckResult:
    checks = [InputCheck(t.name, t.index, t.shape, False, verdict) for t in targets]
    forward, backward = run.cost
    return GradcheckResult(
        False,
        checks,
        "full",
        order,
        forward,
        backward,
        0.0,
        opts.eps,
        opts.atol,
        opts.rtol,
        opts.strict,
        error=message,
    )


def _finish(result: GradcheckResult, raise_exception: bool) -> GradcheckResult:
    if not result.passed and raise_exception:
        raise GradcheckError(result)
    return result


def _labeller(
    out_shape: tuple[int, ...], targets: list[_Target], order: int
) -> Callable[[int, _Target, int], str]:
    """How entry (output j, input t, element k) is printed."""
    if order == 1:
        return lambda j, t, k: (
            f"d out{_fmt(_unravel(j, out_shape))} / d {t.label}{_fmt(_unravel(k, t.shape))}"
        )
    offsets = np.cumsum([0] + [t.size for t in targets])

    def second(j: int, t: _Target, k: int) -> str:
        w = int(np.searchsorted(offsets, j, side="right")) - 1
        tw = targets[w]
        inner = f"dL/d {tw.label}{_fmt(_unravel(j - int(offsets[w]), tw.shape))}"
        return f"d({inner}) / d {t.label}{_fmt(_unravel(k, t.shape))}"

    return second


def _unravel(i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(x) for x in np.unravel_index(i, shape)) if shape else ()


def _fmt(idx: tuple) -> str:
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if idx else ""


def _analytical(
    run: _Run, out: Value, targets: list[_Target], seed: int = 0
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Row j of each Jacobian (None: not connected), and where a backward is not linear in g.

    Row j comes from one backward pass seeded with c_j e_j, divided by c_j, for a random
    signed c_j of size 0.5 to 1.5 (a VJP that ignores or mangles g cannot pass); one more
    pass seeded with v of the opposite signs must give v @ J (linearity in g).
    """
    m = run.out_size or 1
    rng = np.random.default_rng(seed + 7919)
    c = _cotangent(rng, (m,))
    jac = [np.zeros((m, t.size)) for t in targets]
    connected = [False] * len(targets)
    wrt = [t.value for t in targets]
    with np.errstate(all="ignore"):
        for j in range(m):
            seed_j = np.zeros(m)
            seed_j[j] = c[j]
            for k, row in enumerate(run.grads(out, wrt, _seed_like(out, seed_j))):
                if row is not None:
                    jac[k][j] = np.ravel(np.asarray(row, dtype=np.float64)) / c[j]
                    connected[k] = True
        v = -np.sign(c) * rng.uniform(0.5, 1.5, size=m)
        nonlinear: list[str | None] = [None] * len(targets)
        for k, row in enumerate(run.grads(out, wrt, _seed_like(out, v))):
            got = np.zeros(targets[k].size) if row is None else np.ravel(np.asarray(row, float))
            want = v @ jac[k]
            err = np.abs(got - want)
            dt = np.asarray(row).dtype if row is not None else np.dtype(np.float64)
            rel = max(1e-8, 100 * float(np.finfo(dt).eps)) if dt.kind == "f" else 1e-8
            bar = rel * (np.abs(v) @ np.abs(jac[k])) + 1e-12
            if not np.all(err <= bar) and np.all(np.isfinite(want)):
                i = int(np.argmax(_inf(err - bar)))
                nonlinear[k] = (
                    "its backward is not linear in the incoming gradient g (does it ignore "
                    "or transform g?): seeded with a random g it gives "
                    f"{got[i]:.6g} for element {i}, where g @ J (J from one-hot seeds) is "
                    f"{want[i]:.6g}"
                )
    return [a if ok else None for a, ok in zip(jac, connected)], nonlinear


def _numerical(run: _Run, t: _Target, opts: _Options) -> tuple[np.ndarray, np.ndarray]:
    """Central differences, two forward passes per element: the (outputs, elements) Jacobian,
    and its rounding noise u (|f(x + eps)| + |f(x - eps)|) / (2 eps) (the output's magnitude,
    so an offset such as x + 1e10 widens it)."""
    cols, noise = [], []
    with np.errstate(all="ignore"):
        for k in range(t.size):
            plus, s_plus = _at(run, t, k, opts.eps)
            minus, s_minus = _at(run, t, k, -opts.eps)
            cols.append((plus - minus) / (s_plus - s_minus))
            noise.append(opts.unit * (np.abs(plus) + np.abs(minus)) / abs(s_plus - s_minus))
    if not cols:
        empty = np.zeros(((run.out_size or 1), 0))
        return empty, empty
    return np.stack(cols, axis=1), _inf(np.stack(noise, axis=1))


def _full_check(
    run: _Run,
    t: _Target,
    analytical: np.ndarray | None,
    f0: np.ndarray,
    opts: _Options,
    order: int,
    label: Callable[[int, _Target, int], str],
) -> InputCheck:
    """Every entry of ``t``'s Jacobian; mismatches are examined for noise and kinks."""
    numerical, noise = _numerical(run, t, opts)
    connected = analytical is not None
    a = analytical if connected else np.zeros_like(numerical)
    if not connected and not np.any(numerical):
        return _unused(t, opts, order, numerical.size)
    with np.errstate(all="ignore"):
        err = np.abs(a - numerical)
        rel = err / np.maximum(np.abs(numerical), 1e-300)
    outside = ~_agree(err, numerical, opts)  # beyond the documented atol + rtol |n|
    with np.errstate(invalid="ignore"):
        bad = outside | ~(err <= _bar(numerical, noise, opts))
    verdicts: dict[tuple[int, int], tuple] = {}
    if bad.any() and not opts.strict:
        data = np.ravel(t.value.data)
        severity = _inf(np.where(bad, rel, -1.0)).max(axis=0)
        confirmed = 0
        for k in np.argsort(-severity, kind="stable"):
            if not bad[:, k].any() or confirmed >= _CONFIRM_LIMIT:
                break
            rows = np.nonzero(bad[:, k])[0]
            found = _look_closer(
                lambda s, k=k: _at(run, t, k, s), f0, a[:, k], rows, abs(float(data[k])), opts
            )
            for j, v in found.items():
                verdicts[(int(j), int(k))] = v
            confirmed += any(v[0] in _FAILING for v in found.values())
    tie_notes = _check_ties(run, t, a, f0, verdicts, opts, label)
    bad_idx = [(int(j), int(k)) for j, k in np.argwhere(bad)]
    kinds = {e: verdicts.get(e, ("mismatch" if opts.strict else "unexamined",))[0] for e in bad_idx}
    # noise within the documented tolerances is what every check sees: not worth a note
    bad_idx = [e for e in bad_idx if kinds[e] != "noise" or outside[e]]
    failing = [e for e in bad_idx if kinds[e] in _FAILING]
    notes = _notes(t, bad_idx, kinds, verdicts, opts, label, a) + tie_notes
    if not connected and failing:
        notes.append(
            "the first derivative has no graph back to it (its backward computed on raw "
            "values), yet it changes with it"
            if order == 2
            else "no path leads back to it in the graph, yet the output changes with it (is "
            "its .data read directly, a copy used, or no_grad on?)"
        )
    entries = failing if failing else [e for e in bad_idx if kinds[e] != "mismatch"]
    entries = sorted(entries, key=lambda e: -_inf(err[e]))[:_WORST]
    worst = [
        Entry(
            label(j, t, k),
            float(a[j, k]),
            float(numerical[j, k]),
            float(err[j, k]),
            float(rel[j, k]),
            kinds[(j, k)],
        )
        for j, k in entries
    ]
    unverified = [e for e in bad_idx if kinds[e] == "unverified"]
    if failing:
        verdict = f"FAIL: {len(failing)} of {bad.size} entries disagree"
    elif unverified:
        verdict = f"unverified: {len(unverified)} of {bad.size} entries"
    else:
        lenient = sorted({kinds[e] for e in bad_idx})
        verdict = "ok" + (f" ({', '.join(lenient)})" if lenient else "")
    return InputCheck(
        t.name,
        t.index,
        t.shape,
        not failing,
        verdict,
        float(_inf(err).max(initial=0.0)),
        float(_inf(rel).max(initial=0.0)),
        bad.size,
        len(failing),
        worst,
        notes,
        len(unverified),
    )


def _at_many(run: _Run, t: _Target, ks: list[int], step: float) -> tuple[np.ndarray, float]:
    """fn's output with the elements ``ks`` of ``t`` all moved by ``step`` together."""
    d = t.value.data
    if type(d) is float:
        return _at(run, t, 0, step)
    flat = d.reshape(-1)
    original = flat[ks].copy()
    flat[ks] = original + step
    try:
        return run.values(), float(flat[ks[0]] - original[0])
    finally:
        flat[ks] = original


def _check_ties(
    run: _Run,
    t: _Target,
    a: np.ndarray,
    f0: np.ndarray,
    verdicts: dict[tuple[int, int], tuple],
    opts: _Options,
    label: Callable[[int, _Target, int], str],
) -> list[str]:
    """Kinks of one output at several elements (a tie in max) are judged together.

    Moving the tied elements together by s, the output's one-sided slopes bound the sum
    of their analytical entries: a subgradient at a tie splits g (max: sums to 1), it does
    not give all of g to each. A violation turns their verdicts into kink-fail.
    """
    by_row: dict[int, list[int]] = {}
    for (j, k), v in verdicts.items():
        if v[0] == "kink":
            by_row.setdefault(j, []).append(k)
    notes = []
    for j, ks in by_row.items():
        if len(ks) < 2:
            continue
        h = opts.eps * max(1.0, float(np.max(np.abs(np.ravel(t.value.data)[ks]))))
        with np.errstate(all="ignore"):
            (fp, sp), (fm, sm) = _at_many(run, t, ks, h), _at_many(run, t, ks, -h)
            right, left = (fp[j] - f0[j]) / sp, (f0[j] - fm[j]) / -sm
        lo, hi = sorted((float(left), float(right)))
        total = float(sum(a[j, k] for k in ks))
        pad = opts.atol + opts.rtol * max(abs(lo), abs(hi))
        if lo - pad <= total <= hi + pad:
            continue
        for k in ks:
            verdicts[(j, k)] = ("kink-fail", lo, hi, float(a[j, k]))
        notes.append(
            f"tie at {label(j, t, ks[0])} and {len(ks) - 1} more: moving the tied elements "
            f"together gives slopes {lo:.6g} and {hi:.6g}, but their analytical entries sum "
            f"to {total:.6g} (a subgradient at a tie splits the gradient, it does not "
            "duplicate it)"
        )
    return notes


def _nonlinear(check: InputCheck, why: str | None) -> InputCheck:
    """Fail a check whose backward is not linear in its incoming gradient."""
    if why is not None:
        check.passed = False
        check.verdict = "FAIL: backward not linear in g" + (
            f"; {check.verdict[6:]}" if check.verdict.startswith("FAIL: ") else ""
        )
        check.notes.insert(0, why)
    return check


def _unused(t: _Target, opts: _Options, order: int, compared: int) -> InputCheck:
    if order == 2:
        return InputCheck(
            t.name,
            t.index,
            t.shape,
            True,
            "ok (zero)",
            compared=compared,
            notes=["second derivative identically zero (nothing in the gradient depends on it)"],
        )
    note = "does not influence the output" + (" (allowed)" if opts.allow_unused else "")
    verdict = "unused" + (" (allowed)" if opts.allow_unused else "")
    if not opts.allow_unused:
        note += "; pass allow_unused=True if that is intended"
    return InputCheck(
        t.name, t.index, t.shape, opts.allow_unused, verdict, compared=compared, notes=[note]
    )


def _notes(
    t: _Target,
    bad: list[tuple[int, int]],
    kinds: dict[tuple[int, int], str],
    verdicts: dict[tuple[int, int], tuple],
    opts: _Options,
    label: Callable[[int, _Target, int], str],
    analytical: np.ndarray,
) -> list[str]:
    """One note per kind of verdict, with its first example."""

    def analytical_of(j: int, k: int) -> float:
        return float(analytical[j, k])

    notes = []
    by_kind: dict[str, list[tuple[int, int]]] = {}
    for e in bad:
        by_kind.setdefault(kinds[e], []).append(e)
    for kind, es in by_kind.items():
        j, k = es[0]
        more = f" (and {len(es) - 1} more)" if len(es) > 1 else ""
        v = verdicts.get((j, k), (kind,))
        where = label(j, t, k)
        if kind == "noise":
            notes.append(
                f"noise at eps={opts.eps:g}, agrees at {v[1]:.2g}: {where}{more} matches "
                f"Richardson-extrapolated differences ({v[2]:.6g}), so it is "
                "finite-difference error"
            )
        elif kind in ("kink", "kink-fail"):
            lo, hi, a = v[1], v[2], v[3]
            inside = "between them (a valid subgradient)" if kind == "kink" else "NOT between them"
            notes.append(
                f"kink at {where}{more}: one-sided slopes {lo:.6g} and {hi:.6g}, "
                f"analytical {a:.6g} {inside}"
            )
        elif kind == "unverified":
            what = (
                f"a jump within {v[2]:.2g} of the point (discontinuous there)"
                if v[1] == "jump"
                else f"a kink seen only at the step's scale ({v[2]:.2g}), no stable slope"
            )
            notes.append(
                f"UNVERIFIED at {where}{more}: {what}, so the analytical "
                f"{float(analytical_of(j, k)):.6g} can be neither confirmed nor refuted; move "
                "the point or shrink eps (strict=True fails it)"
            )
    return notes


def _look_closer(
    phi: Callable[[float], tuple[np.ndarray, float]],
    f0: np.ndarray,
    a: np.ndarray,
    rows: Sequence[int],
    scale: float,
    opts: _Options,
) -> dict[int, tuple]:
    """Verdicts for the rows of one column that disagree at eps.

    ``phi(s)`` is the output with the input moved by ``s`` along the column's direction
    (and the step actually taken); ``f0`` the unmoved output; ``a`` the analytical column.
    Steps h0 = eps * max(1, |x|), h0/100, h0/10^4 and 30 h0 are tried. Noise: a Richardson
    estimate R(h) = (4 D(h) - D(2h)) / 3 of central differences D that is stable (R(h) ~
    R(2h), rounding small) agrees with ``a``. Kink: the one-sided slopes differ, without
    drifting, at h0 and at h0/100; ``a`` must lie between them (else kink-fail). Mismatch:
    a stable estimate disagrees, or ``a`` is nan/inf. Unverified: a jump f(x+h) - f(x-h)
    that does not shrink down to h0/10^4, or a kink seen only at eps's scale with no stable
    estimate: nothing can be said at this point.
    """
    cache: dict[float, tuple[np.ndarray, float]] = {}

    def at(s: float) -> tuple[np.ndarray, float]:
        if s not in cache:
            cache[s] = phi(s)
        return cache[s]

    def central(h: float) -> np.ndarray:
        (fp, sp), (fm, sm) = at(h), at(-h)
        return (fp - fm) / (sp - sm)

    def rounding(h: float) -> np.ndarray:
        (fp, _), (fm, _) = at(h), at(-h)
        return opts.unit * (np.abs(fp) + np.abs(fm)) / h  # 2.5x the rounding of R(h)

    def ok(x: float, want: float) -> bool:
        return bool(_agree(abs(x - want), want, opts))

    def agrees(x: float, want: float, noise: float) -> bool:
        return bool(abs(x - want) <= _bar(want, noise, opts))

    def sides(h: float) -> tuple[np.ndarray, np.ndarray]:
        (fp, sp), (fm, sm) = at(h), at(-h)
        return (f0 - fm) / -sm, (fp - f0) / sp

    pending = [int(j) for j in rows if math.isfinite(float(a[j]))]
    found: dict[int, tuple] = {int(j): ("mismatch",) for j in rows if int(j) not in pending}
    h0 = opts.eps * max(1.0, scale)
    small = [h0 * 1e-2, h0 * 1e-4]
    # smaller steps first resolve what looks like a jump or kink at eps; larger ones an
    # output offset (x + 1e10) whose rounding swamps small steps
    steps = [h0, 30.0 * h0, small[0], 1e3 * h0, small[1], 1e5 * h0, 1e6 * h0]
    if 0.0 < scale < 0.1:
        steps.append(opts.eps * scale)  # near zero (or a pole) a smaller step is needed
    estimates: dict[int, list[float]] = {j: [] for j in pending}
    best: dict[int, tuple[float, float]] = {}  # the most precise stable estimate: (r, error)

    def decide(j: int) -> None:
        r, e = best[j]
        if agrees(float(a[j]), r, e):
            found[j] = ("noise", b, r)
        else:
            estimates[j].append(r)
        pending.remove(j)

    with np.errstate(all="ignore"):
        for b in steps:
            if not pending:
                break
            d1, d2, d4 = central(b), central(2 * b), central(4 * b)
            r1, r2 = (4 * d1 - d2) / 3, (4 * d2 - d4) / 3
            noise = rounding(b)
            for j in list(pending):
                r = float(r1[j])
                if not (math.isfinite(r) and ok(float(r2[j]), r)):
                    continue
                if noise[j] > 0.1 * (opts.atol + opts.rtol * abs(r)):
                    continue  # rounding swamps this step
                e = abs(r - float(r2[j])) + float(noise[j])
                if j not in best or e < best[j][1]:
                    best[j] = (r, e)
                if opts.auto:
                    if SAFE * best[j][1] <= REL_FLOOR * abs(r) + ABS_FLOOR:
                        decide(j)  # precise enough: no other step can change the verdict
                elif agrees(float(a[j]), r, e):
                    decide(j)
                else:
                    estimates[j].append(r)
        for j in list(pending):
            if j in best and opts.auto:
                decide(j)  # the most precise estimate decides
        pending = [int(j) for j in rows if int(j) not in found]
        if not pending:
            return found
        kinks = []
        for b in (h0, small[0]):
            (l1, r1_), (l2, r2_) = sides(b), sides(2 * b)
            kinks.append((l1, r1_, np.abs(r1_ - r2_) + np.abs(l1 - l2)))
        jumps = [at(b)[0] - at(-b)[0] for b in (small[1], h0, 2 * h0)]
        for j in pending:
            a_j = float(a[j])
            seen = []
            for left, right, drift in kinks:
                lo, hi = sorted((float(left[j]), float(right[j])))
                gap = hi - lo
                tol = opts.atol + opts.rtol * max(abs(lo), abs(hi))
                seen.append(
                    (lo, hi) if math.isfinite(gap) and gap > tol and gap > 4 * drift[j] else None
                )
            if seen[0] is not None and seen[1] is not None:
                lo, hi = seen[1]
                lo0, hi0 = seen[0]
                if _same(lo, lo0) | (abs(lo - lo0) <= 0.1 * (hi - lo)) and (
                    _same(hi, hi0) | (abs(hi - hi0) <= 0.1 * (hi - lo))
                ):
                    inside = lo - opts.atol - opts.rtol * abs(lo) <= a_j
                    inside = inside and a_j <= hi + opts.atol + opts.rtol * abs(hi)
                    found[j] = ("kink" if inside else "kink-fail", lo, hi, a_j)
                    continue
            if estimates[j]:
                found[j] = ("mismatch",)
                continue
            size = abs(float(jumps[1][j]))
            if size > 1e-8 * max(1.0, abs(float(f0[j]))) and all(
                _same(float(jp[j]), float(jumps[1][j])) for jp in jumps
            ):
                found[j] = ("unverified", "jump", small[1])
            elif seen[0] is not None:
                found[j] = ("unverified", "kink", h0)
            else:
                found[j] = ("mismatch",)
    return found


def _same(x: float, y: float) -> bool:
    """x and y agree within 25% (a jump does not shrink with the step; a slope would)."""
    return bool(abs(x - y) <= 0.25 * abs(y))


def _fast_checks(
    run: _Run,
    out: Value,
    f0: np.ndarray,
    targets: list[_Target],
    opts: _Options,
    order: int,
    label: Callable[[int, _Target, int], str],
) -> list[InputCheck]:
    """v^T J u for a few random unit v (one backward pass each) and u (two forward passes
    per input each); an input whose projections disagree gets its full Jacobian checked."""
    rng = np.random.default_rng(opts.seed)
    wrt = [t.value for t in targets]
    stats = [{"proj": [], "connected": False} for _ in targets]
    n_proj = min(FAST_MODE_MAX_PROJECTIONS, max(FAST_MODE_PROJECTIONS, 24 // len(targets)))
    for p in range(n_proj):
        v = _cotangent(rng, (f0.size,))
        v *= np.sign(v[0]) * (1.0 if p % 2 == 0 else -1.0)  # both signs of g are seen
        rows = run.grads(out, wrt, _seed_like(out, v))
        for t, g, s in zip(targets, rows, stats):
            u = _unit(rng, t.shape)
            a = 0.0 if g is None else float(np.sum(np.asarray(g, dtype=np.float64) * u))
            s["connected"] = s["connected"] or g is not None
            scale = float(np.max(np.abs(t.value.data), initial=0.0))
            h = opts.eps * max(1.0, scale)
            with np.errstate(all="ignore"):
                fp, fm = _along(run, t, u, h), _along(run, t, u, -h)
                n = float(v @ (fp - fm)) / (2 * h)
                noise = opts.unit * float(np.abs(v) @ (np.abs(fp) + np.abs(fm))) / (2 * h)
            if not (abs(a - n) <= _bar(n, noise, opts)) and _agree(abs(a - n), n, opts):
                # within atol + rtol but above the noise: measure this projection closely

                def phi(st: float, t: _Target = t, u: np.ndarray = u, v: np.ndarray = v):
                    return np.array([float(v @ _along(run, t, u, st))]), st

                verdict = _look_closer(
                    phi, np.array([float(v @ f0)]), np.array([a]), [0], scale, opts
                )[0]
                if verdict[0] in ("noise", "kink"):
                    n = a  # confirmed by a stable estimate
            s["proj"].append((p, a, n))
            s.setdefault("bars", []).append(float(_bar(n, noise, opts)))
    checks = []
    for t, s in zip(targets, stats):
        proj = s["proj"]
        with np.errstate(all="ignore"):
            errs = [abs(a - n) for _, a, n in proj]
            rels = [e / max(abs(n), 1e-300) for e, (_, _, n) in zip(errs, proj)]
        bad = [
            (p, a, n, e, r)
            for (p, a, n), e, r in zip(proj, errs, rels)
            if not ((_agree(e, n, opts) and e <= _bar(n, 0.0, opts)) or e == 0.0)
        ]
        if not s["connected"] and not any(n for _, _, n in proj):
            checks.append(_unused(t, opts, order, len(proj)))
            continue
        if not bad and s["connected"]:
            checks.append(
                InputCheck(
                    t.name,
                    t.index,
                    t.shape,
                    True,
                    "ok",
                    _nanmax(errs),
                    _nanmax(rels),
                    len(proj),
                    notes=[_detection(t, s.get("bars", []), len(proj))],
                )
            )
            continue
        # a projection disagrees: confirm with the full Jacobian of this input only
        (jac,), (why,) = _analytical(run, out, [t], opts.seed)
        check = _nonlinear(_full_check(run, t, jac, f0, opts, order, label), why)
        shown = [
            f"projection {p}: v^T J u analytical {a:.6g}, numerical {n:.6g}, "
            f"abs error {e:.3g}, rel error {r:.3g}"
            for p, a, n, e, r in bad
        ]
        if check.passed:
            check.notes.append(
                "a random projection disagreed at eps but the full Jacobian agrees: "
                + "; ".join(shown)
            )
        else:
            check.notes.append(
                "found by random projections, confirmed with the full Jacobian: " + "; ".join(shown)
            )
        checks.append(check)
    return checks


def _detection(t: _Target, bars: list[float], n_proj: int) -> str:
    """What fast mode's projections can miss, as a sentence.

    One wrong Jacobian entry J_jk off by d changes v^T J u by d v_j u_k, with |v_j| >= 0.5
    and u_k ~ z / sqrt(n) for a unit u (z standard normal): all n_proj projections miss
    it when each |z| < q, probability erf(q / sqrt 2)^n_proj. Solved for 1% at the
    largest bar used.
    """
    lo, hi = 0.0, 10.0
    for _ in range(60):  # erf(q / sqrt 2)^P = 0.01, by bisection
        q = (lo + hi) / 2
        lo, hi = (q, hi) if math.erf(q / math.sqrt(2)) ** n_proj < 0.01 else (lo, q)
    bar = max(bars, default=0.0)
    d99 = bar * math.sqrt(max(t.size, 1)) / (0.5 * q)
    return (
        f"fast mode, {n_proj} random projections: one wrong Jacobian entry off by more "
        f"than {d99:.3g} is caught with probability >= 99%; smaller errors can be missed "
        "(fast_mode=False checks every entry)"
    )


def _nanmax(xs: Sequence[float]) -> float:
    return float(_inf(np.array(xs, dtype=np.float64)).max(initial=0.0))


def _inf(x: Any) -> Any:
    """NaN as infinity (the worst error), infinities kept."""
    return np.nan_to_num(x, nan=np.inf, posinf=np.inf, neginf=-np.inf)


def _agree(err: Any, numerical: Any, opts: _Options) -> Any:
    """|a - n| <= atol + rtol * |n|, and finite (NaN and infinity never agree)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(err) & (err <= opts.atol + opts.rtol * np.abs(numerical))


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]
    ]


# ------------------------------------------------------------------------ check_graph


def _site(node: Value) -> str | None:
    """Where ``node`` was made (``file:line in function: source``), if recorded."""
    return creation_site(node)


def _sum_to_shape(g: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient in the output's broadcast shape back to the input's ``shape``."""
    return unbroadcast(np.asarray(g, dtype=np.float64), shape)


def _nodes(root: Value) -> list[Value]:
    """The recorded nodes below ``root`` (leaves excluded), each after all of its inputs."""
    return [node for node in topological_order([root]) if not node.is_leaf]


class _NodeCounter:
    forward = 0
    backward = 0


def _check_nodes(
    root: Value, names: dict[int, str], opts: _Options, start: float
) -> GraphCheckResult:
    order = _nodes(root)
    if not order:
        raise ValueError(
            "check_graph: the output was not recorded (nothing it was computed from requires "
            "grad, or it was computed under no_grad), so there is nothing to check"
        )
    position = {id(n): i for i, n in enumerate(order, 1)}
    rng = np.random.default_rng(opts.seed)
    counter = _NodeCounter()
    checks: list[NodeCheck] = []
    unchecked: list[str] = []
    for node in order:
        checks += _check_node(node, position, names, rng, opts, counter, unchecked)
    return GraphCheckResult(
        passed=all(c.passed for c in checks) and not unchecked,
        checks=checks,
        nodes=len(order),
        unchecked=unchecked,
        forward_passes=counter.forward,
        backward_passes=counter.backward,
        seconds=time.perf_counter() - start,
        eps=opts.eps,
        atol=opts.atol,
        rtol=opts.rtol,
    )


def _input_name(x: Value, names: dict[int, str], position: dict[int, int]) -> str:
    if id(x) in position:
        return f"node #{position[id(x)]} {x.op}"
    return names.get(id(x)) or x.name or "a leaf"


def _check_node(
    node: Value,
    position: dict[int, int],
    names: dict[int, str],
    rng: np.random.Generator,
    opts: _Options,
    counter: _NodeCounter,
    unchecked: list[str],
) -> list[NodeCheck]:
    """The node's VJP for each input that needs a gradient, against its own forward."""
    op = node._op
    pos = position[id(node)]
    name = node.op or type(op).__name__
    site = _site(node)
    inputs = node.inputs
    datas = [x.data if isinstance(x, Value) else x for x in inputs]
    params = tuple(node._ctx or ())

    def forward(ds: list[Any]) -> np.ndarray:
        counter.forward += 1
        with np.errstate(all="ignore"):
            return np.array(op.forward(*ds, *params), dtype=np.float64)

    try:
        f0 = forward(datas)
    except Exception as e:
        unchecked.append(f"node #{pos} {name}: its forward could not be run again ({e!r})")
        return []
    recorded = np.asarray(node.data, dtype=np.float64)
    if f0.shape != recorded.shape or not np.allclose(
        f0, recorded, rtol=1e-6, atol=1e-12, equal_nan=True
    ):
        unchecked.append(
            f"node #{pos} {name}: running its forward again gives a different result (random, "
            "or its inputs changed since the graph was recorded); not checked. Seed it (a "
            "fixed rng), eval() the model, or record the graph again"
        )
        return []
    g = _cotangent(rng, recorded.shape)
    g_flat = g.reshape(-1)
    seed: Any = float(g) if type(node.data) is float else g.astype(node.dtype)
    vjp = getattr(op, "vjp", None) or op._vjp  # the protocol's name; _vjp before the split
    counter.backward += 1
    try:
        grads = list(vjp(node, seed, False))
        vjp_error = None
    except Exception as e:
        grads, vjp_error = [None] * len(inputs), e
    checks = []
    for i, x in enumerate(inputs):
        if not (isinstance(x, Value) and x.requires_grad and x.dtype.kind == "f"):
            continue
        check = NodeCheck(
            pos,
            name,
            site,
            i,
            _input_name(x, names, position),
            x.shape,
            recorded.shape,
            "full" if x.size <= DIRECTIONAL_THRESHOLD else "directional",
            True,
        )
        checks.append(check)
        if vjp_error is not None:
            check.passed = False
            check.notes.append(f"its backward raised {vjp_error!r}")
            continue
        try:
            a = np.zeros(x.shape) if grads[i] is None else _sum_to_shape(grads[i], x.shape)
        except ValueError as e:
            check.passed = False
            check.notes.append(f"its backward gave {e}")
            continue
        if grads[i] is None:
            check.notes.append("its backward gave no gradient (None) for this input")
        _compare_node(check, forward, datas, i, x, a, f0, g_flat, rng, opts)
    return checks


def _compare_node(
    check: NodeCheck,
    forward: Callable[[list[Any]], np.ndarray],
    datas: list[Any],
    i: int,
    x: Value,
    a: np.ndarray,
    f0: np.ndarray,
    g: np.ndarray,
    rng: np.random.Generator,
    opts: _Options,
) -> None:
    base = np.array(x.data, dtype=np.float64)
    is_float = type(x.data) is float
    f0g = np.array([g @ f0.reshape(-1)])

    def moved(delta: Any) -> float:
        ds = list(datas)
        ds[i] = float(base + delta) if is_float else base + delta
        return float(g @ forward(ds).reshape(-1))

    if check.mode == "full":
        probes = []
        for k in range(x.size):

            def phi(s: float, k: int = k) -> tuple[np.ndarray, float]:
                delta = np.zeros(base.shape)
                step = float((base.flat[k] + s) - base.flat[k])
                delta.flat[k] = step
                return np.array([moved(delta)]), step

            where = f"d(v.out) / d in{i}{_fmt(_unravel(k, x.shape))}"
            probes.append((where, phi, float(a.flat[k]), abs(float(base.flat[k]))))
    else:
        probes = []
        scale = float(np.max(np.abs(base), initial=0.0))
        for p in range(FAST_MODE_PROJECTIONS):
            u = _unit(rng, base.shape)

            def phi(s: float, u: np.ndarray = u) -> tuple[np.ndarray, float]:
                return np.array([moved(s * u)]), s

            probes.append((f"projection {p}: v.J.u", phi, float(np.sum(a * u)), scale))
    worst = []
    for where, phi, a_k, scale in probes:
        h = opts.eps * max(1.0, scale) if check.mode == "directional" else opts.eps
        with np.errstate(all="ignore"):
            (fp, sp), (fm, sm) = phi(h), phi(-h)
            n_k = float((fp[0] - fm[0]) / (sp - sm))
            err = abs(a_k - n_k)
            rel = err / max(abs(n_k), 1e-300)
        check.max_abs_error = max(check.max_abs_error, _nanmax([err]))
        check.max_rel_error = max(check.max_rel_error, _nanmax([rel]))
        if _agree(err, n_k, opts):
            continue
        verdict = _look_closer(phi, f0g, np.array([a_k]), [0], scale, opts)[0]
        kind = verdict[0]
        if kind in _FAILING:
            check.passed = False
        elif kind == "unverified":
            check.notes.append(
                f"UNVERIFIED at {where}: a {verdict[1]} at the point, the VJP {a_k:.6g} can be "
                "neither confirmed nor refuted; move the point or shrink eps"
            )
        elif kind == "kink":
            check.notes.append(
                f"kink at {where}: one-sided slopes {verdict[1]:.6g} and {verdict[2]:.6g}, "
                "the VJP lies between them"
            )
        else:
            check.notes.append(f"{kind} at {where}: finite-difference error, not counted")
        worst.append(Entry(where, a_k, n_k, err, rel, kind))
    check.worst = sorted([e for e in worst if e.verdict in _FAILING], key=lambda e: -e.abs_error)[
        :_WORST
    ]
