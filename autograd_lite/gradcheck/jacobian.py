"""Backprop's Jacobian against finite differences, in full mode and in fast mode.

Full mode (:func:`full_check`): every entry of a target's Jacobian, its rows from one
backward pass each (:func:`analytical_jacobians`, which also checks that a backward is
linear in its incoming gradient), against central differences; entries that disagree
are examined for noise and kinks, and the notes say what was found. Fast mode
(:func:`fast_checks`): random projections v^T J u, an input whose projections disagree
confirmed with its full Jacobian, and a sentence on what the projections can miss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NotRequired, TypedDict

import numpy as np

from autograd_lite.core.value import Value
from autograd_lite.gradcheck.finite_diff import (
    along,
    at_element,
    central_differences,
    check_ties,
    cotangent,
    look_closer,
    random_unit,
)
from autograd_lite.gradcheck.results import FAILING, WORST, Entry, InputCheck, fmt_index, unravel
from autograd_lite.gradcheck.targets import Run, Target
from autograd_lite.gradcheck.tolerances import Options, agree, bar, largest_error, nan_as_inf

__all__ = [
    "FAST_MODE_PROJECTIONS",
]


FAST_MODE_PROJECTIONS = 3
"""Random projections v^T J u compared per input in fast mode (and per input in
:func:`check_graph` for inputs of more than ``DIRECTIONAL_THRESHOLD`` elements)."""

FAST_MODE_MAX_PROJECTIONS = 8
"""Fast mode uses min(8, max(3, 24 // inputs checked)) projections: more where cheap."""


_CONFIRM_LIMIT = 5  # columns confirmed as wrong before the rest are left unexamined


def labeller(
    out_shape: tuple[int, ...], targets: list[Target], order: int
) -> Callable[[int, Target, int], str]:
    """How entry (output j, input t, element k) is printed."""
    if order == 1:
        return lambda j, t, k: (
            f"d out{fmt_index(unravel(j, out_shape))} / d {t.label}{fmt_index(unravel(k, t.shape))}"
        )
    offsets = np.cumsum([0] + [t.size for t in targets])

    def second(j: int, t: Target, k: int) -> str:
        w = int(np.searchsorted(offsets, j, side="right")) - 1
        tw = targets[w]
        inner = f"dL/d {tw.label}{fmt_index(unravel(j - int(offsets[w]), tw.shape))}"
        return f"d({inner}) / d {t.label}{fmt_index(unravel(k, t.shape))}"

    return second


def _seed_like(out: Value, flat: np.ndarray) -> Any:
    return float(flat[0]) if type(out.data) is float else flat.reshape(out.shape)


def analytical_jacobians(
    run: Run, out: Value, targets: list[Target], seed: int = 0
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Row j of each Jacobian (None: not connected), and where a backward is not linear in g.

    Row j comes from one backward pass seeded with c_j e_j, divided by c_j, for a random
    signed c_j of size 0.5 to 1.5 (a VJP that ignores or mangles g cannot pass); one more
    pass seeded with v of the opposite signs must give v @ J (linearity in g).
    """
    m = run.out_size or 1
    rng = np.random.default_rng(seed + 7919)
    c = cotangent(rng, (m,))
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
                i = int(np.argmax(nan_as_inf(err - bar)))
                nonlinear[k] = (
                    "its backward is not linear in the incoming gradient g (does it ignore "
                    "or transform g?): seeded with a random g it gives "
                    f"{got[i]:.6g} for element {i}, where g @ J (J from one-hot seeds) is "
                    f"{want[i]:.6g}"
                )
    return [a if ok else None for a, ok in zip(jac, connected)], nonlinear


def full_check(
    run: Run,
    t: Target,
    analytical: np.ndarray | None,
    f0: np.ndarray,
    opts: Options,
    order: int,
    label: Callable[[int, Target, int], str],
) -> InputCheck:
    """Every entry of ``t``'s Jacobian; mismatches are examined for noise and kinks."""
    numerical, noise = central_differences(run, t, opts)
    connected = analytical is not None
    a = analytical if analytical is not None else np.zeros_like(numerical)
    if not connected and not np.any(numerical):
        return _unused(t, opts, order, numerical.size)
    with np.errstate(all="ignore"):
        err = np.abs(a - numerical)
        rel = err / np.maximum(np.abs(numerical), 1e-300)
    outside = ~agree(err, numerical, opts)  # beyond the documented atol + rtol |n|
    with np.errstate(invalid="ignore"):
        bad = outside | ~(err <= bar(numerical, noise, opts))
    verdicts: dict[tuple[int, int], tuple] = {}
    if bad.any() and not opts.strict:
        data = np.ravel(t.value.data)
        severity = nan_as_inf(np.where(bad, rel, -1.0)).max(axis=0)
        confirmed = 0
        for k in map(int, np.argsort(-severity, kind="stable")):
            if not bad[:, k].any() or confirmed >= _CONFIRM_LIMIT:
                break
            rows = np.nonzero(bad[:, k])[0]

            def phi(s: float, k: int = k) -> tuple[np.ndarray, float]:
                return at_element(run, t, k, s)

            found = look_closer(
                phi,
                f0,
                a[:, k],
                rows,
                abs(float(data[k])),
                opts,
            )
            for j, v in found.items():
                verdicts[(int(j), int(k))] = v
            confirmed += any(v[0] in FAILING for v in found.values())
    tie_notes = check_ties(run, t, a, f0, verdicts, opts, label)
    bad_idx = [(int(j), int(k)) for j, k in np.argwhere(bad)]
    kinds = {e: verdicts.get(e, ("mismatch" if opts.strict else "unexamined",))[0] for e in bad_idx}
    # noise within the documented tolerances is what every check sees: not worth a note
    bad_idx = [e for e in bad_idx if kinds[e] != "noise" or outside[e]]
    failing = [e for e in bad_idx if kinds[e] in FAILING]
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
    entries = sorted(entries, key=lambda e: -nan_as_inf(err[e]))[:WORST]
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
        float(nan_as_inf(err).max(initial=0.0)),
        float(nan_as_inf(rel).max(initial=0.0)),
        bad.size,
        len(failing),
        worst,
        notes,
        len(unverified),
    )


def fail_if_nonlinear(check: InputCheck, why: str | None) -> InputCheck:
    """Fail a check whose backward is not linear in its incoming gradient."""
    if why is not None:
        check.passed = False
        check.verdict = "FAIL: backward not linear in g" + (
            f"; {check.verdict[6:]}" if check.verdict.startswith("FAIL: ") else ""
        )
        check.notes.insert(0, why)
    return check


def _unused(t: Target, opts: Options, order: int, compared: int) -> InputCheck:
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
    t: Target,
    bad: list[tuple[int, int]],
    kinds: dict[tuple[int, int], str],
    verdicts: dict[tuple[int, int], tuple],
    opts: Options,
    label: Callable[[int, Target, int], str],
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
        elif kind == "near-kink":
            notes.append(
                f"near a kink or tie at {where}{more}: steps of eps cross it (their differences "
                f"are unstable), a step of {v[1]:.2g} stays on one side and gives a stable "
                f"{v[2]:.6g} (rounding up to {v[3]:.2g}), which the analytical "
                f"{float(analytical_of(j, k)):.6g} matches within atol + rtol |n|"
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
    stats: list[_Stats] = [{"proj": [], "connected": False} for _ in targets]
    n_proj = min(FAST_MODE_MAX_PROJECTIONS, max(FAST_MODE_PROJECTIONS, 24 // len(targets)))
    for p in range(n_proj):
        v = cotangent(rng, (f0.size,))
        v *= np.sign(v[0]) * (1.0 if p % 2 == 0 else -1.0)  # both signs of g are seen
        rows = run.grads(out, wrt, _seed_like(out, v))
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
            s.setdefault("bars", []).append(float(bar(n, noise, opts)))
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
                    largest_error(errs),
                    largest_error(rels),
                    len(proj),
                    notes=[_detection(t, s.get("bars", []), len(proj))],
                )
            )
            continue
        # a projection disagrees: confirm with the full Jacobian of this input only
        (jac,), (why,) = analytical_jacobians(run, out, [t], opts.seed)
        check = fail_if_nonlinear(full_check(run, t, jac, f0, opts, order, label), why)
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


class _Stats(TypedDict):
    """One target's fast-mode record: its projections and whether backprop reached it."""

    proj: list[tuple[int, float, float]]  # (projection, analytical, numerical)
    connected: bool
    bars: NotRequired[list[float]]  # the noise bar of each projection


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
