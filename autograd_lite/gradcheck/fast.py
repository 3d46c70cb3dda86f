"""Fast mode: random projections v^T J u, and a disagreeing one traced to a Jacobian block.

:func:`fast_checks` compares v^T J u for a few random unit v (one backward pass each) and
u (two forward passes per input each). An input whose projections disagree is confirmed
by :func:`_confirm`: halving the elements moved and the outputs weighted follows the
disagreement down to blocks of the Jacobian, each checked entry by entry as in full mode
(:func:`~autograd_lite.gradcheck.jacobian.full_check`), so the report names the wrong
entries at the cost of O(log n) probes and one block's memory. :func:`_detection` says
what the projections can miss.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any, TypedDict

import numpy as np

from autograd_lite.core.value import Value
from autograd_lite.gradcheck.finite_diff import (
    along,
    central_differences,
    cotangent,
    look_closer,
    random_unit,
)
from autograd_lite.gradcheck.jacobian import (
    analytical_jacobians,
    fail_if_nonlinear,
    full_check,
    seed_like,
    unused_check,
)
from autograd_lite.gradcheck.results import InputCheck
from autograd_lite.gradcheck.targets import Run, Target
from autograd_lite.gradcheck.tolerances import Options, agree, bar, largest_error, nan_as_inf

__all__ = [
    "FAST_MODE_PROJECTIONS",
    "fast_checks",
]


FAST_MODE_PROJECTIONS = 3
"""Random projections v^T J u compared per input in fast mode (and per input in
:func:`check_graph` for inputs of more than ``DIRECTIONAL_THRESHOLD`` elements)."""

FAST_MODE_MAX_PROJECTIONS = 8
"""Fast mode uses min(8, max(3, 24 // inputs checked)) projections: more where cheap."""


def fast_checks(
    run: Run,
    out: Value,
    f0: np.ndarray,
    targets: list[Target],
    opts: Options,
    order: int,
    label: Callable[[int, Target, int], str],
) -> list[InputCheck]:
    """v^T J u for a few random unit v (one backward pass each) and u (two forward passes
    per input each); an input whose projections disagree gets its full Jacobian checked."""
    rng = np.random.default_rng(opts.seed)
    wrt = [t.value for t in targets]
    stats: list[_Stats] = [
        {"proj": [], "connected": False, "bars": [], "dirs": []} for _ in targets
    ]
    n_proj = min(FAST_MODE_MAX_PROJECTIONS, max(FAST_MODE_PROJECTIONS, 24 // len(targets)))
    for p in range(n_proj):
        v = cotangent(rng, (f0.size,))
        v *= np.sign(v[0]) * (1.0 if p % 2 == 0 else -1.0)  # both signs of g are seen
        rows = run.grads(out, wrt, seed_like(out, v))
        for t, g, s in zip(targets, rows, stats):
            u = random_unit(rng, t.shape)
            a = 0.0 if g is None else float(np.sum(np.asarray(g, dtype=np.float64) * u))
            s["connected"] = s["connected"] or g is not None
            scale = float(np.max(np.abs(t.value.data), initial=0.0))
            h = opts.eps * max(1.0, scale)
            with np.errstate(all="ignore"):
                fp, fm = along(run, t, u, h), along(run, t, u, -h)
                n = float(v @ (fp - fm)) / (2 * h)
                noise = opts.unit * float(np.abs(v) @ (np.abs(fp) + np.abs(fm))) / (2 * h)
            if not (abs(a - n) <= bar(n, noise, opts)) and agree(abs(a - n), n, opts):
                # within atol + rtol but above the noise: measure this projection closely

                def phi(st: float, t: Target = t, u: np.ndarray = u, v: np.ndarray = v):
                    return np.array([float(v @ along(run, t, u, st))]), st

                verdict = look_closer(
                    phi, np.array([float(v @ f0)]), np.array([a]), [0], scale, opts
                )[0]
                if verdict[0] in ("noise", "kink", "near-kink"):
                    n = a  # confirmed by a stable estimate
            s["proj"].append((p, a, n))
            s["bars"].append(float(bar(n, noise, opts)))
            s["dirs"].append((v, u))
    checks = []
    for t, s in zip(targets, stats):
        proj = s["proj"]
        with np.errstate(all="ignore"):
            errs = [abs(a - n) for _, a, n in proj]
            rels = [e / max(abs(n), 1e-300) for e, (_, _, n) in zip(errs, proj)]
        bad = [
            (p, a, n, e, r)
            for (p, a, n), e, r in zip(proj, errs, rels)
            if not ((agree(e, n, opts) and e <= bar(n, 0.0, opts)) or e == 0.0)
        ]
        if not s["connected"] and not any(n for _, _, n in proj):
            checks.append(unused_check(t, opts, order, len(proj)))
            continue
        if not bad and s["connected"]:
            checks.append(
                InputCheck(
                    t.name,
                    t.index,
                    t.shape,
                    True,
                    "ok",
                    largest_error(errs),
                    largest_error(rels),
                    len(proj),
                    notes=[_detection(t, s["bars"], len(proj))],
                )
            )
            continue
        # a projection disagrees: trace it to a block of this input's Jacobian and check
        # that block entry by entry (the whole Jacobian when it is a single block)
        p_worst = max(bad, key=lambda b: nan_as_inf(b[3] / max(s["bars"][b[0]], 1e-300)))[0]
        check, where, blocks, left = _confirm(
            run, out, f0, t, opts, order, label, *s["dirs"][p_worst]
        )
        shown = [
            f"projection {p}: v^T J u analytical {a:.6g}, numerical {n:.6g}, "
            f"abs error {e:.3g}, rel error {r:.3g}"
            for p, a, n, e, r in bad
        ]
        how = "the full Jacobian" if where is None else f"the Jacobian block{where}"
        if check.passed:
            if blocks > 1:
                how = f"the {blocks} Jacobian blocks it was traced to (the last{where})"
            agrees = "agree" if blocks > 1 else "agrees"
            check.notes.append(
                f"a random projection disagreed at eps but {how} {agrees}: " + "; ".join(shown)
            )
            if left:
                check.notes.append(
                    f"{left} more parts of the Jacobian where projection {p_worst} disagrees "
                    "were not examined (fast_mode=False checks every entry)"
                )
        else:
            check.notes.append(
                f"found by random projections, confirmed with {how}: " + "; ".join(shown)
            )
        checks.append(check)
    return checks


class _Stats(TypedDict):
    """One target's fast-mode record: its projections and whether backprop reached it."""

    proj: list[tuple[int, float, float]]  # (projection, analytical, numerical)
    connected: bool
    bars: list[float]  # the noise bar of each projection
    dirs: list[tuple[np.ndarray, np.ndarray]]  # (v, u) of each projection


_BLOCK = 32
"""A disagreeing projection is traced to blocks of at most this many outputs by this many
input elements, each checked entry by entry."""


def _confirm(
    run: Run,
    out: Value,
    f0: np.ndarray,
    t: Target,
    opts: Options,
    order: int,
    label: Callable[[int, Target, int], str],
    v: np.ndarray,
    u: np.ndarray,
) -> tuple[InputCheck, str | None, int, int]:
    """A projection v^T J u that disagrees, traced to blocks of ``t``'s Jacobian and checked.

    Halving the set S of elements moved (u on S only: v^T J u_S from the same backward
    pass, 2 forward passes per half), then the set R of outputs weighted (v on R only: one
    backward pass per half against the central differences of S's columns), follows the
    disagreement down to blocks of at most _BLOCK x _BLOCK entries: O(log n) probes and
    memory for one block, not the Jacobian. Stops at the first block that fails, or when
    every part that disagrees has been checked. Returns the check, the (last) block's
    description (None: the whole Jacobian), how many blocks were checked and how many
    disagreeing parts were left (none).
    """
    m, wrt = f0.size, [t.value]
    flat_u = np.ravel(u)
    (g,) = run.grads(out, wrt, seed_like(out, v))
    g = np.zeros(t.size) if g is None else np.ravel(np.asarray(g, dtype=np.float64))
    h = opts.eps * max(1.0, float(np.max(np.abs(t.value.data), initial=0.0)))

    def excess(a: Any, n: Any, noise: Any) -> float:
        with np.errstate(all="ignore"):
            worst = np.max(np.abs(a - n) / np.maximum(bar(n, noise, opts), 1e-300))
        return float(nan_as_inf(worst))

    def moved(elements: np.ndarray) -> float:
        u_s = np.zeros(t.size)
        u_s[elements] = flat_u[elements]
        d = u_s.reshape(t.shape)
        with np.errstate(all="ignore"):
            fp, fm = along(run, t, d, h), along(run, t, d, -h)
            n = float(v @ (fp - fm)) / (2 * h)
            noise = opts.unit * float(np.abs(v) @ (np.abs(fp) + np.abs(fm))) / (2 * h)
        return excess(float(g[elements] @ flat_u[elements]), n, noise)

    checks: list[InputCheck] = []
    where: str | None = None
    col_stack, row_stack = [np.arange(t.size)], []
    # every part that disagrees is followed (never a pass with one left unexamined: it
    # could hold the wrong entry); each costs a block's worth of work and memory
    for cols in _trace(col_stack, moved):
        numerical, noise = central_differences(run, t, opts, cols)

        def weighted(
            rows: np.ndarray,
            cols: np.ndarray = cols,
            numerical: np.ndarray = numerical,
            noise: np.ndarray = noise,
        ) -> float:
            v_r = np.zeros(m)
            v_r[rows] = v[rows]
            (gr,) = run.grads(out, wrt, seed_like(out, v_r))
            a = np.zeros(cols.size) if gr is None else np.ravel(np.asarray(gr, float))[cols]
            return excess(a, v[rows] @ numerical[rows], np.abs(v[rows]) @ noise[rows])

        row_stack = [np.arange(m)]
        for rows in _trace(row_stack, weighted):
            (jac,), (why,) = analytical_jacobians(run, out, [t], opts.seed, rows, cols)
            part = (numerical[rows], noise[rows])
            check = full_check(run, t, jac, f0, opts, order, label, rows, cols, part)
            checks.append(fail_if_nonlinear(check, why))
            whole = rows.size == m and cols.size == t.size
            where = None if whole else _describe(rows, cols, m, t)
            if not checks[-1].passed:
                return checks[-1], where, len(checks), 0
    return _merged(checks), where, len(checks), len(col_stack) + len(row_stack)


def _trace(stack: list[np.ndarray], excess: Callable[[np.ndarray], float]) -> Iterator[np.ndarray]:
    """The sets of at most _BLOCK indices a disagreement is traced to, depth first.

    Of a set's two halves, those whose disagreement exceeds its bar (excess > 1) are
    followed, the worse first; if neither does, the worse (a disagreement spread thin).
    ``stack`` keeps what is left to follow.
    """
    while stack:
        part = stack.pop()
        if part.size <= _BLOCK:
            yield part
            continue
        halves = sorted(((excess(x), x) for x in np.array_split(part, 2)), key=lambda e: e[0])
        stack.extend([x for e, x in halves if e > 1] or [halves[-1][1]])


def _describe(rows: np.ndarray, cols: np.ndarray, m: int, t: Target) -> str:
    """A block as words: ' of outputs 0..31 (of 10000) by input0 elements 64..95 (of 4000)'."""
    return (
        f" of outputs {rows[0]}..{rows[-1]} (of {m}, flat) by {t.label} elements "
        f"{cols[0]}..{cols[-1]} (of {t.size}, flat), traced by halving the projection"
    )


def _merged(checks: list[InputCheck]) -> InputCheck:
    """Passing checks of blocks of one input as one: counts summed, notes kept."""
    first = checks[0]
    if len(checks) == 1:
        return first
    compared = sum(c.compared for c in checks)
    unverified = sum(c.unverified for c in checks)
    kinds = sorted({k for c in checks for k in re.findall(r"\((.*)\)", c.verdict)})
    verdict = f"unverified: {unverified} of {compared} entries" if unverified else "ok"
    if kinds and not unverified:
        verdict += f" ({', '.join(kinds)})"
    notes = list(dict.fromkeys(n for c in checks for n in c.notes))
    return InputCheck(
        first.name,
        first.index,
        first.shape,
        True,
        verdict,
        max(c.max_abs_error for c in checks),
        max(c.max_rel_error for c in checks),
        compared,
        notes=notes,
        unverified=unverified,
    )


def _detection(t: Target, bars: list[float], n_proj: int) -> str:
    """What fast mode's projections can miss, as a sentence.

    One wrong Jacobian entry J_jk off by d changes v^T J u by d v_j u_k, with |v_j| >= 0.5
    and u_k ~ z / sqrt(n) for a unit u (z standard normal): all n_proj projections miss
    it when each |z| < q, probability erf(q / sqrt 2)^n_proj. Solved for 1% at the
    largest bar used.
    """
    lo, hi = 0.0, 10.0
    q = hi  # set again by every step below
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
