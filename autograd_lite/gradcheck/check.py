"""gradcheck and gradgradcheck: backprop's Jacobian against central finite differences.

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

This module drives a check: the targets, the leaves found in the graph, the
non-determinism test, full or fast mode, the result; the comparisons themselves are in
:mod:`~autograd_lite.gradcheck.jacobian` (full mode) and :mod:`~autograd_lite.gradcheck.fast`
(fast mode), the probes in :mod:`~autograd_lite.gradcheck.finite_diff`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.core.backward import grad
from autograd_lite.core.value import Value
from autograd_lite.functional import concatenate, reshape
from autograd_lite.gradcheck.fast import fast_checks
from autograd_lite.gradcheck.finite_diff import cotangent
from autograd_lite.gradcheck.jacobian import (
    analytical_jacobians,
    fail_if_nonlinear,
    full_check,
    labeller,
)
from autograd_lite.gradcheck.results import GradcheckError, GradcheckResult, InputCheck
from autograd_lite.gradcheck.targets import Run, Target, found_leaves, prepare, swap, upcast_modules
from autograd_lite.gradcheck.tolerances import Options, nan_as_inf, options

__all__ = [
    "FULL_MODE_BUDGET",
    "gradcheck",
    "gradgradcheck",
]


FULL_MODE_BUDGET = 2000
"""``fast_mode=None`` uses the full Jacobian when 2 * (elements checked) <= this many
forward passes, and random projections beyond it."""


_NONDET = "not checked: non-deterministic"


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
    (:func:`autograd_lite.transforms.check_forward_ad`: each op's JVP), in float64 with a
    tangent on every Value checked (inputs, params and found leaves).
    """
    opts = options(eps, atol, rtol, allow_unused, strict, fast_mode, seed, nondet_tol)
    args, targets, swapped = prepare(fn, inputs, params, "gradcheck", need_targets=False)
    run = Run(fn, args, "gradcheck")
    with swap(swapped), upcast_modules(fn) as upcast:
        found = found_leaves(run, fn, targets, params)
        with swap([t.value for t in found.extra]):
            targets = targets + found.extra
            out, nondet = _twice(run, found.out, bool(found.extra), opts)
            if nondet:
                result = _error_result(nondet, targets, opts, run, 1, _NONDET)
            else:
                result = _check(run, targets, opts, order=1, out=out)
            result = _partly(result, found.unchecked)
            if check_forward_ad and result.passed:  # on the same float64 upcast
                _forward_check(result, run, targets, opts)
    result.notes += upcast
    return _finish(result, raise_exception)


def _forward_check(result: GradcheckResult, run: Run, targets: list[Target], opts: Options) -> None:
    """Forward mode on fn(*args) with a tangent on every checked Value: J v = sum_t J_t v_t.

    The Values themselves (inputs, params, found leaves) carry the tangents and are moved
    for the finite differences, as the reverse check moves them; a failure fails ``result``.
    """
    from autograd_lite.transforms import check_forward_ad as check_jvp

    forward = check_jvp(
        lambda: run.fn(*run.args),
        (),
        params=[t.value for t in targets],
        eps=opts.eps,
        atol=opts.atol,
        rtol=opts.rtol,
        seed=opts.seed,
    )
    result.passed, result.error = forward.passed, None if forward else forward.message


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
    opts = options(eps, atol, rtol, True, strict, fast_mode, seed, nondet_tol)
    args, targets, swapped = prepare(fn, inputs, params, "gradgradcheck", need_targets=False)
    counter = Run(fn, args, "gradgradcheck")
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

    with swap(swapped), upcast_modules(fn) as upcast:
        found = found_leaves(counter, fn, targets, params)
        with swap([t.value for t in found.extra]):
            targets = targets + found.extra
            wrt[:] = [t.value for t in targets]
            sizes[:] = [t.size for t in targets]
            out, nondet = _twice(counter, found.out, bool(found.extra), opts)
            run = Run(first_derivative, args, "gradgradcheck", counter)
            if grad_outputs is None:
                rng = np.random.default_rng(seed)
                v: Any = cotangent(rng, out.shape)
                v = float(v) if out.ndim == 0 else v
            else:
                v = grad_outputs.data if isinstance(grad_outputs, Value) else grad_outputs
            # v is perturbed too (as PyTorch does): d(vjp)/dv catches a backward detaching g
            gv = Value(float(v) if np.ndim(v) == 0 and out.ndim == 0 else np.array(v, float))
            seeds = [*targets, Target(gv, "grad_outputs (v)", "v", None)]
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


def _twice(run: Run, first: Value, rerun: bool, opts: Options) -> tuple[Value, str | None]:
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
    worst = float(nan_as_inf(np.where(same, 0.0, diff)).max())
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
            name = getattr(op, "name", None)
            if tb.tb_frame.f_code.co_name == "_run_backward" and name:
                return f"{name!r} (declared with defop)"
            tb = tb.tb_next
    return "a Function"


def _check(
    run: Run, targets: list[Target], opts: Options, order: int, out: Value | None = None
) -> GradcheckResult:
    start = time.perf_counter()
    out = run.output() if out is None else out
    dt = out.dtype
    opts.unit = float(np.finfo(dt).eps) if dt.kind == "f" and dt.itemsize < 8 else 2.2e-16
    f0 = np.array(out.data, dtype=np.float64).reshape(-1)
    run.out_size = f0.size
    label = labeller(out.shape, targets, order)
    total = sum(t.size for t in targets)
    fast = opts.fast_mode if opts.fast_mode is not None else 2 * total > FULL_MODE_BUDGET
    if f0.size == 0 or total == 0:  # an empty Jacobian: nothing to compare
        checks = [InputCheck(t.name, t.index, t.shape, True, "ok (empty)") for t in targets]
    elif fast:
        checks = fast_checks(run, out, f0, targets, opts, order, label)
    else:
        jacobians, nonlinear = analytical_jacobians(run, out, targets, opts.seed)
        checks = [
            fail_if_nonlinear(full_check(run, t, jac, f0, opts, order, label), why)
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
    run: Run, targets: list[Target], opts: Options, out: Value
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
    message: str, targets: list[Target], opts: Options, run: Run, order: int, verdict: str
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
