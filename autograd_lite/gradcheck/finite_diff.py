"""The finite-difference probes, and what their differences mean.

Central differences (f(x + eps e_k) - f(x - eps e_k)) / 2 eps with their rounding noise
(:func:`central_differences`), the moved outputs they are made of (:func:`at_element`,
:func:`along`) and the random directions and cotangents of projections. An entry that
disagrees at eps is examined by :func:`look_closer`: steps scaled to the input and
Richardson extrapolation tell finite-difference noise from a wrong gradient, one-sided
slopes tell a kink (a valid subgradient or not), a smaller step that stays on one side of
a kink or tie near the point judges it (near-kink), and a jump, or a kink seen at eps's
scale only, leaves it unverified; :func:`check_ties` judges a kink at several tied elements
together.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, cast

import numpy as np

from autograd_lite.gradcheck.targets import Run, Target
from autograd_lite.gradcheck.tolerances import (
    ABS_FLOOR,
    REL_FLOOR,
    SAFE,
    Options,
    agree,
    bar,
    nan_as_inf,
)


def at_element(run: Run, t: Target, k: int, step: float) -> tuple[np.ndarray, float]:
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
    # Value.data is a float or an ndarray, and type() ruled the float out (mypy does not
    # narrow the other branch of a type() test)
    flat = cast(np.ndarray, d).reshape(-1)  # a view: d is our contiguous float64 copy
    original = flat[k]
    flat[k] = original + step
    try:
        return run.values(), float(flat[k] - original)
    finally:
        flat[k] = original


def along(run: Run, t: Target, u: Any, step: float) -> np.ndarray:
    """fn's output with all of ``t`` moved by ``step * u``."""
    v = t.value
    d = v.data
    v.data = d + step * u if type(d) is not float else d + step * float(u)
    try:
        return run.values()
    finally:
        v.data = d


def _at_many(run: Run, t: Target, ks: list[int], step: float) -> tuple[np.ndarray, float]:
    """fn's output with the elements ``ks`` of ``t`` all moved by ``step`` together."""
    d = t.value.data
    if type(d) is float:
        return at_element(run, t, 0, step)
    flat = cast(np.ndarray, d).reshape(-1)  # an ndarray, as in at_element
    original = flat[ks].copy()
    flat[ks] = original + step
    try:
        return run.values(), float(flat[ks[0]] - original[0])
    finally:
        flat[ks] = original


def random_unit(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random direction u of ``shape``: standard normal, scaled to |u| = 1."""
    u = rng.standard_normal(shape)
    n = float(np.sqrt(np.sum(u * u)))
    return u / n if n > 0 else u


def cotangent(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Random signed weights of size 0.5 to 1.5: a VJP that ignores or mangles its incoming
    gradient (2x for g * 2x, relu(g) * 2x) cannot agree with them by chance."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(0.5, 1.5, size=shape)


def central_differences(
    run: Run, t: Target, opts: Options, elements: Sequence[int] | np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Central differences, two forward passes per element: the (outputs, elements) Jacobian,
    and its rounding noise u (|f(x + eps)| + |f(x - eps)|) / (2 eps) (the output's magnitude,
    so an offset such as x + 1e10 widens it). ``elements``: only these columns (flat indices)."""
    cols, noise = [], []
    with np.errstate(all="ignore"):
        for k in range(t.size) if elements is None else map(int, elements):
            plus, s_plus = at_element(run, t, k, opts.eps)
            minus, s_minus = at_element(run, t, k, -opts.eps)
            cols.append((plus - minus) / (s_plus - s_minus))
            noise.append(opts.unit * (np.abs(plus) + np.abs(minus)) / abs(s_plus - s_minus))
    if not cols:
        empty = np.zeros(((run.out_size or 1), 0))
        return empty, empty
    return np.stack(cols, axis=1), nan_as_inf(np.stack(noise, axis=1))


def look_closer(
    phi: Callable[[float], tuple[np.ndarray, float]],
    f0: np.ndarray,
    a: np.ndarray,
    rows: Sequence[int] | np.ndarray,
    scale: float,
    opts: Options,
) -> dict[int, tuple]:
    """Verdicts for the rows of one column that disagree at eps.

    ``phi(s)`` is the output with the input moved by ``s`` along the column's direction
    (and the step actually taken); ``f0`` the unmoved output; ``a`` the analytical column.
    Steps h0 = eps * max(1, |x|), h0/100, h0/10^4 and 30 h0 are tried. Noise: a Richardson
    estimate R(h) = (4 D(h) - D(2h)) / 3 of central differences D that is stable (R(h) ~
    R(2h), rounding small) agrees with ``a``. Kink: the one-sided slopes differ, without
    drifting, at h0 and at h0/100; ``a`` must lie between them (else kink-fail). Mismatch:
    a stable estimate disagrees, or ``a`` is nan/inf. Near-kink: the steps that are stable
    and precise cross a kink or tie near the point, and a smaller step's stable estimate r,
    whose rounding e is too large to tighten the bar, puts ``a`` within atol + rtol |r| - e
    of it (beyond atol + rtol |r| + e it is a mismatch). Unverified: a jump f(x+h) - f(x-h)
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
        return bool(agree(abs(x - want), want, opts))

    def agrees(x: float, want: float, noise: float) -> bool:
        return bool(abs(x - want) <= bar(want, noise, opts))

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
    coarse: dict[int, list[tuple[float, float, float]]] = {j: [] for j in pending}
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
                    if b < h0:  # too coarse to tighten the bar, not to judge (see below)
                        coarse[j].append((r, abs(r - float(r2[j])) + float(noise[j]), b))
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
            # a step below h0 gave a stable estimate r whose rounding e is too large to
            # tighten the bar: it still refutes a value beyond atol + rtol |r| + e, and
            # confirms one within atol + rtol |r| - e (larger steps cross a kink or tie near
            # the point, the smaller one stays on one side)
            off = [abs(a_j - r) - opts.atol - opts.rtol * abs(r) for r, _, _ in coarse[j]]
            if any(d > e for d, (_, e, _) in zip(off, coarse[j])):
                found[j] = ("mismatch",)
                continue
            near = [(b, r, e) for d, (r, e, b) in zip(off, coarse[j]) if d <= -e]
            if near:
                found[j] = ("near-kink", *near[0])
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


def check_ties(
    run: Run,
    t: Target,
    a: np.ndarray,
    f0: np.ndarray,
    verdicts: dict[tuple[int, int], tuple],
    opts: Options,
    label: Callable[[int, Target, int], str],
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
) -> list[str]:
    """Kinks of one output at several elements (a tie in max) are judged together.

    Moving the tied elements together by s, the output's one-sided slopes bound the sum
    of their analytical entries: a subgradient at a tie splits g (max: sums to 1), it does
    not give all of g to each. A violation turns their verdicts into kink-fail. ``a``,
    ``f0``, ``verdicts`` and ``label`` may be of a block: the outputs ``rows`` by the
    elements ``cols`` of ``t`` (flat indices; None: all).
    """
    by_row: dict[int, list[int]] = {}
    for (j, k), v in verdicts.items():
        if v[0] == "kink":
            by_row.setdefault(j, []).append(k)
    notes = []
    for j, ks in by_row.items():
        if len(ks) < 2:
            continue
        els = ks if cols is None else [int(cols[k]) for k in ks]
        out = j if rows is None else int(rows[j])
        h = opts.eps * max(1.0, float(np.max(np.abs(np.ravel(t.value.data)[els]))))
        with np.errstate(all="ignore"):
            (fp, sp), (fm, sm) = _at_many(run, t, els, h), _at_many(run, t, els, -h)
            right, left = (fp[out] - f0[j]) / sp, (f0[j] - fm[out]) / -sm
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
