"""When an analytical number agrees with a numerical one, and the options of a check.

:class:`Options` holds eps, atol, rtol and the other settings of one check. The documented
rule is |a - n| <= atol + rtol |n|, finite (:func:`agree`: NaN and infinity never agree);
with default tolerances the bar is also tightened to the measured finite-difference noise
(:func:`bar`, with ``SAFE``, ``REL_FLOOR`` and ``ABS_FLOOR``). Imports nothing else of the
package.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Options:
    """The settings of one check (its arguments, and what the check learns of fn's output)."""

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


def bar(numerical: Any, noise: Any, opts: Options) -> Any:
    """The largest |analytical - numerical| accepted: atol + rtol |n|, tightened (default
    tolerances) to max(REL_FLOOR |n| + ABS_FLOOR, SAFE * noise) where the noise is small."""
    doc = opts.atol + opts.rtol * np.abs(numerical)
    if not opts.auto:
        return doc
    return np.minimum(doc, np.maximum(REL_FLOOR * np.abs(numerical) + ABS_FLOOR, SAFE * noise))


def agree(err: Any, numerical: Any, opts: Options) -> Any:
    """|a - n| <= atol + rtol * |n|, and finite (NaN and infinity never agree)."""
    with np.errstate(invalid="ignore"):
        return np.isfinite(err) & (err <= opts.atol + opts.rtol * np.abs(numerical))


def nan_as_inf(x: Any) -> Any:
    """NaN as infinity (the worst error), infinities kept."""
    return np.nan_to_num(x, nan=np.inf, posinf=np.inf, neginf=-np.inf)


def largest_error(xs: Sequence[float]) -> float:
    """The largest of ``xs``, NaN counted as infinity (the worst error); 0 for none."""
    return float(nan_as_inf(np.array(xs, dtype=np.float64)).max(initial=0.0))


def options(
    eps: float,
    atol: float | None,
    rtol: float | None,
    allow_unused: bool,
    strict: bool,
    fast_mode: bool | None,
    seed: int,
    nondet_tol: float,
) -> Options:
    """The settings of one check from its arguments: atol 1e-5 and rtol 1e-3 when not given,
    and (neither given, not strict) the bar also tightened to the measured noise."""
    auto = atol is None and rtol is None
    return Options(
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
