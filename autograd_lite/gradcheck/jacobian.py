"""Backprop's Jacobian against finite differences, entry by entry (full mode).

:func:`full_check`: every entry of a target's Jacobian (or of a block of it, for fast
mode's confirmation), its rows from one backward pass each (:func:`analytical_jacobians`,
which also checks that a backward is linear in its incoming gradient), against central
differences; entries that disagree are examined for noise and kinks, and the notes say
what was found. Fast mode is in :mod:`~autograd_lite.gradcheck.fast`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from autograd_lite.core.value import Value
from autograd_lite.gradcheck.finite_diff import (
    at_element,
    central_differences,
    check_ties,
    cotangent,
    look_closer,
)
from autograd_lite.gradcheck.results import FAILING, WORST, Entry, InputCheck, fmt_index, unravel
from autograd_lite.gradcheck.targets import Run, Target
from autograd_lite.gradcheck.tolerances import Options, agree, bar, nan_as_inf

__all__ = [
    "analytical_jacobians",
    "fail_if_nonlinear",
    "full_check",
    "labeller",
    "seed_like",
    "unused_check",
]


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


def seed_like(out: Value, flat: np.ndarray) -> Any:
    return float(flat[0]) if type(out.data) is float else flat.reshape(out.shape)


def analytical_jacobians(
    run: Run,
    out: Value,
    targets: list[Target],
    seed: int = 0,
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
) -> tuple[list[np.ndarray | None], list[str | None]]:
    """Row j of each Jacobian (None: not connected), and where a backward is not linear in g.

    Row j comes from one backward pass seeded with c_j e_j, divided by c_j, for a random
    signed c_j of size 0.5 to 1.5 (a VJP that ignores or mangles g cannot pass); one more
    pass seeded with v of the opposite signs must give v @ J (linearity in g). ``rows``
    and ``cols``: only the block of those outputs by those elements (flat indices; one
    target), from len(rows) + 1 backward passes.
    """
    m = run.out_size or 1
    rng = np.random.default_rng(seed + 7919)
    c = cotangent(rng, (m,))
    rows_ = np.arange(m) if rows is None else np.asarray(rows)
    jac = [np.zeros((rows_.size, t.size if cols is None else len(cols))) for t in targets]
    connected = [False] * len(targets)
    single = [True] * len(targets)  # every value the VJP gave is a float32 number
    wrt = [t.value for t in targets]

    def part(row: Any) -> np.ndarray:
        flat = np.ravel(np.asarray(row, dtype=np.float64))
        return flat if cols is None else flat[cols]

    with np.errstate(all="ignore"):
        for i, j in enumerate(map(int, rows_)):
            seed_j = np.zeros(m)
            seed_j[j] = c[j]
            for k, row in enumerate(run.grads(out, wrt, seed_like(out, seed_j))):
                if row is not None:
                    flat = part(row)
                    single[k] = single[k] and _is_float32(flat)
                    jac[k][i] = flat / c[j]
                    connected[k] = True
        v = np.zeros(m)
        v[rows_] = (-np.sign(c) * rng.uniform(0.5, 1.5, size=m))[rows_]
        nonlinear: list[str | None] = [None] * len(targets)
        for k, row in enumerate(run.grads(out, wrt, seed_like(out, v))):
            got = np.zeros(jac[k].shape[1]) if row is None else part(row)
            want = v[rows_] @ jac[k]
            err = np.abs(got - want)
            # the precision the VJP computed in: row's dtype, or float32 when every value
            # it gave is a float32 number (sum_to casts a float32 VJP's result to float64)
            dt = np.asarray(row).dtype if row is not None else np.dtype(np.float64)
            if single[k] and _is_float32(got) and (dt.kind != "f" or dt.itemsize > 4):
                dt = np.dtype(np.float32)
            rel = max(1e-8, 100 * float(np.finfo(dt).eps)) if dt.kind == "f" else 1e-8
            bar = rel * (np.abs(v[rows_]) @ np.abs(jac[k])) + 1e-12
            if not np.all(err <= bar) and np.all(np.isfinite(want)):
                i = int(np.argmax(nan_as_inf(err - bar)))
                nonlinear[k] = (
                    "its backward is not linear in the incoming gradient g (does it ignore "
                    "or transform g?): seeded with a random g it gives "
                    f"{got[i]:.6g} for element {i if cols is None else int(cols[i])}, where "
                    f"g @ J (J from one-hot seeds) is "
                    f"{want[i]:.6g}"
                )
    return [a if ok else None for a, ok in zip(jac, connected)], nonlinear


def _is_float32(flat: np.ndarray) -> bool:
    """Whether every value is a float32 number: x == float32(x) for all x."""
    with np.errstate(all="ignore"):
        return bool(np.all(flat.astype(np.float32) == flat))


def full_check(
    run: Run,
    t: Target,
    analytical: np.ndarray | None,
    f0: np.ndarray,
    opts: Options,
    order: int,
    label: Callable[[int, Target, int], str],
    rows: np.ndarray | None = None,
    cols: np.ndarray | None = None,
    differences: tuple[np.ndarray, np.ndarray] | None = None,
) -> InputCheck:
    """Every entry of ``t``'s Jacobian; mismatches are examined for noise and kinks.

    ``rows`` and ``cols``: only the block of those outputs by those elements of ``t``
    (flat indices; ``analytical`` is that block), ``differences`` its central differences
    and their noise if already computed.
    """
    if differences is None:
        numerical, noise = central_differences(run, t, opts, cols)
        if rows is not None:
            numerical, noise = numerical[rows], noise[rows]
    else:
        numerical, noise = differences
    if rows is not None or cols is not None:
        f0 = f0 if rows is None else f0[rows]
        label = _block_label(label, rows, cols)
    connected = analytical is not None
    a = analytical if analytical is not None else np.zeros_like(numerical)
    if not connected and not np.any(numerical):
        return unused_check(t, opts, order, numerical.size)
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

            def phi(s: float, k: int = k) -> tuple[np.ndarray, float]:
                moved, step = at_element(run, t, k if cols is None else int(cols[k]), s)
                return (moved if rows is None else moved[rows]), step

            found = look_closer(
                phi,
                f0,
                a[:, k],
                np.nonzero(bad[:, k])[0],
                abs(float(data[k if cols is None else int(cols[k])])),
                opts,
            )
            for j, v in found.items():
                verdicts[(int(j), int(k))] = v
            confirmed += any(v[0] in FAILING for v in found.values())
    tie_notes = check_ties(run, t, a, f0, verdicts, opts, label, rows, cols)
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
    # a block (fast mode's narrowing): the count is of the entries looked at, and says so
    of = f"{bad.size}" if rows is None and cols is None else f"{bad.size} examined"
    unexamined = sum(kinds[e] == "unexamined" for e in failing)
    if failing:
        verdict = f"FAIL: {len(failing) - unexamined} of {of} entries disagree"
        if unexamined:  # beyond atol + rtol |n| at eps, left after _CONFIRM_LIMIT columns
            verdict += f" (and {unexamined} more beyond the tolerance at eps, not examined)"
    elif unverified:
        verdict = f"unverified: {len(unverified)} of {of} entries"
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
        len(failing) - unexamined,
        worst,
        notes,
        len(unverified),
    )


def _block_label(
    label: Callable[[int, Target, int], str], rows: np.ndarray | None, cols: np.ndarray | None
) -> Callable[[int, Target, int], str]:
    """``label`` for entry (j, k) of a block: output rows[j], element cols[k]."""
    return lambda j, t, k: label(
        j if rows is None else int(rows[j]), t, k if cols is None else int(cols[k])
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


def unused_check(t: Target, opts: Options, order: int, compared: int) -> InputCheck:
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
