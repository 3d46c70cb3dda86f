"""Colouring a drawing by gradient or activation size: ``draw_graph(v, color="grad"|"data")``.

Every Value gets one number, the root mean square of its gradient (``color="grad"``) or
of its data (``color="data"``): ``||a|| / sqrt(a.size)``, the size of a typical element,
so that tensors of any shape compare. Its colour comes from a log scale of that number
divided by a reference, one colour per decade from ``1e-4`` (blue) through ``1`` (white)
to ``1e4`` (orange), and the drawing's legend prints the scale in absolute numbers.

The reference is the output's gradient rms for ``grad`` (1 after ``loss.backward()``)
and 1 for ``data``. Flags, written in the box and drawn with a heavy border:

* **vanishing**: rms below :data:`VANISHING` (1e-4) times the reference (for ``data``:
  results of operations only; a zero bias is not flagged);
* **exploding**: rms above :data:`EXPLODING` (1e4) times the reference;
* **saturated** (``data``): at least :data:`SATURATED` (half) of a ``sigmoid`` or
  ``tanh`` output lies within :data:`SATURATION_EPS` (1e-3) of an asymptote (0 or 1;
  -1 or 1); the fraction is shown for every such output;
* **dead** (``data``): at least :data:`DEAD` (half) of a ``relu``'s units output 0 for
  every sample of the batch (axis 0 of a tensor of 2 or more dimensions; every element
  counts for a vector or a scalar); the fraction is shown for every relu output;
* NaN or infinity: red, as in every drawing.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = [
    "DEAD",
    "EXPLODING",
    "PALETTE",
    "SATURATED",
    "SATURATION_EPS",
    "VANISHING",
    "Assessment",
    "assess",
    "colour_of",
    "rms",
]

VANISHING = 1e-4
"""A gradient (or activation) rms below this fraction of the reference is flagged vanishing."""
EXPLODING = 1e4
"""A gradient (or activation) rms above this multiple of the reference is flagged exploding."""
SATURATION_EPS = 1e-3
"""An output of sigmoid/tanh within this distance of an asymptote counts as saturated."""
SATURATED = 0.5
"""A sigmoid/tanh output with at least this fraction saturated is flagged."""
DEAD = 0.5
"""A relu output with at least this fraction of dead units is flagged."""

# one colour per decade of rms/reference, 1e-4 .. 1e4 (light enough for black text)
PALETTE = (
    "#6baed6",
    "#9ecae1",
    "#c6dbef",
    "#deebf7",
    "#f7f7f7",
    "#fee6ce",
    "#fdd0a2",
    "#fdae6b",
    "#fd8d3c",
)
_DECADES = (len(PALETTE) - 1) // 2  # 4: the scale runs from 1e-4 to 1e4
FLAG_STYLE = {
    "vanishing": {"color": "#08519c", "penwidth": "3"},
    "exploding": {"color": "#a63603", "penwidth": "3"},
    "saturated": {"color": "#7c3aed", "penwidth": "3"},
    "dead": {"color": "#7c3aed", "penwidth": "3"},
}
NO_GRAD_FILL = "#f3f4f6"


def rms(x: Any) -> float | None:
    """``||x|| / sqrt(x.size)`` without overflow (nan when ``x`` holds NaN or inf)."""
    if x is None:
        return None
    a = np.asarray(getattr(x, "data", x))
    if a.size == 0 or a.dtype.kind not in "fiub":
        return None
    a = a.astype(np.float64, copy=False)
    with np.errstate(all="ignore"):
        m = float(np.max(np.abs(a)))
        if not math.isfinite(m):
            return math.nan
        if m == 0.0:
            return 0.0
        return m * math.sqrt(float(np.mean(np.square(a / m))))


def colour_of(ratio: float) -> str:
    """The palette colour of ``rms / reference`` (clipped to 1e-4 .. 1e4)."""
    if ratio <= 0.0:
        return PALETTE[0]
    k = round(math.log10(ratio))
    return PALETTE[min(max(k, -_DECADES), _DECADES) + _DECADES]


class Assessment:
    """What the colouring says about one Value: its rms, colour and flags."""

    __slots__ = ("colour", "flags", "notes", "rms")

    def __init__(self) -> None:
        self.rms: float | None = None
        self.colour: str | None = None
        self.flags: list[str] = []  # "vanishing", "exploding", "saturated", "dead"
        self.notes: list[str] = []  # "saturated 73%", "dead 40%"


def _saturation(op: str, y: np.ndarray) -> float | None:
    if op == "sigmoid":
        lo, hi = 0.0, 1.0
    elif op == "tanh":
        lo, hi = -1.0, 1.0
    else:
        return None
    if y.size == 0:
        return None
    near = (np.abs(y - lo) < SATURATION_EPS) | (np.abs(y - hi) < SATURATION_EPS)
    return float(near.mean())


def _dead(y: np.ndarray) -> float | None:
    if y.size == 0:
        return None
    zero = y == 0
    if y.ndim >= 2:
        return float(zero.all(axis=0).mean())
    return float(zero.mean())


def assess(mode: str, data: Any, grad: Any, op: str | None, reference: float) -> Assessment:
    """The rms, colour and flags of one Value for ``mode`` ("grad" or "data")."""
    out = Assessment()
    r = rms(grad) if mode == "grad" else rms(data)
    out.rms = r
    if r is None:
        out.colour = NO_GRAD_FILL
        return out
    if not math.isfinite(r):
        return out  # NaN/inf: the drawing's red
    ratio = r / reference if reference > 0 else r
    out.colour = colour_of(ratio)
    if ratio < VANISHING and (mode == "grad" or op is not None):
        out.flags.append("vanishing")
    elif ratio > EXPLODING:
        out.flags.append("exploding")
    if mode == "data" and op is not None:
        y = np.asarray(data, dtype=np.float64)
        sat = _saturation(op, y)
        if sat is not None:
            out.notes.append(f"saturated {sat:.0%}")
            if sat >= SATURATED:
                out.flags.append("saturated")
        elif op == "relu":
            dead = _dead(y)
            if dead is not None:
                out.notes.append(f"dead {dead:.0%}")
                if dead >= DEAD:
                    out.flags.append("dead")
    return out


def scale_label(mode: str, reference: float) -> str:
    """The legend of the colour scale, an HTML label: one cell per decade, then the flags."""
    what = "gradient" if mode == "grad" else "activation"
    ref = "the output's gradient rms" if mode == "grad" else "1"
    cells = []
    for k, colour in enumerate(PALETTE):
        value = reference * 10.0 ** (k - _DECADES)
        cells.append(f'<TD BGCOLOR="{colour}">{value:.0e}</TD>')
    flags = [
        f'<TD COLSPAN="3" BGCOLOR="{PALETTE[0]}"><FONT COLOR="#08519c">'
        f"<B>VANISHING</B> &lt; {VANISHING:g}\u00d7ref</FONT></TD>",
        f'<TD COLSPAN="3" BGCOLOR="{NO_GRAD_FILL}">no {"grad" if mode == "grad" else "data"}</TD>',
        f'<TD COLSPAN="3" BGCOLOR="{PALETTE[-1]}"><FONT COLOR="#a63603">'
        f"<B>EXPLODING</B> &gt; {EXPLODING:g}\u00d7ref</FONT></TD>",
    ]
    rows = [
        f'<TR><TD COLSPAN="{len(PALETTE)}"><B>{what} rms</B> = ||a||/sqrt(size); '
        f"ref = {ref} = {reference:.4g}</TD></TR>",
        "<TR>" + "".join(cells) + "</TR>",
        "<TR>" + "".join(flags) + "</TR>",
    ]
    if mode == "data":
        rows.append(
            f'<TR><TD COLSPAN="{len(PALETTE)}"><FONT COLOR="#7c3aed"><B>SATURATED</B> '
            f"sigmoid/tanh: \u2265 {SATURATED:.0%} within {SATURATION_EPS:g} of an asymptote; "
            f"<B>DEAD</B> relu: \u2265 {DEAD:.0%} of units 0 on the whole batch</FONT></TD></TR>"
        )
    return (
        '<<TABLE BORDER="0" CELLBORDER="1" CELLSPACING="0" CELLPADDING="4">'
        + "".join(rows)
        + "</TABLE>>"
    )
