"""Gradient flow through a model: :func:`grad_flow` (a table) and :func:`plot_grad_flow` (bars).

After ``loss.backward()``, ``print(nn.utils.grad_flow(model))`` shows, for every
parameter, the mean and max of ``|grad|``, its norm and the fraction of exact zeros,
so that a layer whose gradients vanish (or explode) stands out;
``nn.utils.plot_grad_flow(model, "flow.png")`` draws the same as the familiar bar chart,
one pair of bars (max and mean ``|grad|``) per parameter, on a log scale.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from autograd_lite.core.value import Value
from autograd_lite.files import atomic_write

__all__ = ["GradFlow", "GradStats", "grad_flow", "plot_grad_flow"]


class GradStats(NamedTuple):
    """The gradient of one parameter (all None when it has no gradient)."""

    name: str
    shape: tuple[int, ...]
    mean_abs: float | None
    max_abs: float | None
    norm: float | None
    zero_fraction: float | None


class GradFlow:
    """The gradient statistics of a model's parameters: a table.

    ``str()`` is an aligned text table; ``rows`` the :class:`GradStats` in the model's
    order; ``flow["layers.0.weight"]`` or ``flow[0]`` one row; iteration and ``len``
    go over the rows. Parameters without a gradient show "-" (and None in their row).
    """

    COLUMNS = ("parameter", "shape", "mean |g|", "max |g|", "norm", "zeros")

    def __init__(self, rows: list[GradStats]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def __iter__(self) -> Iterator[GradStats]:
        return iter(self.rows)

    def __getitem__(self, key: int | str) -> GradStats:
        if isinstance(key, str):
            for row in self.rows:
                if row.name == key:
                    return row
            raise KeyError(key)
        return self.rows[key]

    def names(self) -> list[str]:
        return [r.name for r in self.rows]

    def _cells(self) -> list[list[str]]:
        def num(x: float | None) -> str:
            return "-" if x is None else f"{x:.3e}"

        out = []
        for r in self.rows:
            zeros = "-" if r.zero_fraction is None else f"{r.zero_fraction:.1%}"
            shape = "scalar" if r.shape == () else str(r.shape)
            out.append([r.name, shape, num(r.mean_abs), num(r.max_abs), num(r.norm), zeros])
        return out

    def __str__(self) -> str:
        cells = [list(self.COLUMNS), *self._cells()]
        widths = [max(len(row[i]) for row in cells) for i in range(len(self.COLUMNS))]
        lines = []
        for k, row in enumerate(cells):
            parts = [
                row[i].ljust(widths[i]) if i < 2 else row[i].rjust(widths[i])
                for i in range(len(row))
            ]
            lines.append("  ".join(parts).rstrip())
            if k == 0:
                lines.append("  ".join("-" * w for w in widths))
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"GradFlow({len(self.rows)} parameters)\n{self}"

    def _repr_html_(self) -> str:
        import html

        head = "".join(f"<th>{html.escape(c)}</th>" for c in self.COLUMNS)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>"
            for row in self._cells()
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _stats(name: str, p: Value) -> GradStats:
    shape = tuple(np.shape(p.data))
    g = p.grad.data if isinstance(p.grad, Value) else p.grad
    if g is None:
        return GradStats(name, shape, None, None, None, None)
    a = np.abs(np.asarray(g, dtype=np.float64))
    if a.size == 0:
        return GradStats(name, shape, 0.0, 0.0, 0.0, 0.0)
    with np.errstate(all="ignore"):
        m = float(a.max())
        norm = m * math.sqrt(float(np.sum(np.square(a / m)))) if 0 < m < math.inf else m
        return GradStats(name, shape, float(a.mean()), m, float(norm), float((a == 0).mean()))


def grad_flow(model: Any) -> GradFlow:
    """The gradient statistics of every parameter of ``model`` (after ``backward()``).

    ``model`` is anything with ``named_parameters()`` (an ``nn.Module``), or a dict
    ``{name: Value}``. Returns a :class:`GradFlow` table.
    """
    if hasattr(model, "named_parameters"):
        pairs = list(model.named_parameters())
    elif isinstance(model, dict):
        pairs = list(model.items())
    else:
        raise TypeError(
            f"grad_flow: expected a model with named_parameters() or a dict of Values, "
            f"got {type(model).__name__}"
        )
    return GradFlow([_stats(str(name), p) for name, p in pairs])


def plot_grad_flow(model: Any, path: str | os.PathLike | None = None, *, log: bool = True) -> Any:
    """The familiar gradient-flow bar chart: max and mean ``|grad|`` per parameter.

    Bars for every parameter with a gradient, in the model's order (biases included),
    on a log scale by default (zeros drawn at the bottom). Returns the matplotlib
    ``Figure``; with ``path`` it is also saved there (format from the suffix), all or
    nothing (:func:`autograd_lite.files.atomic_write`). Needs matplotlib (the
    ``examples`` extra); without it, an ImportError says how to install it.
    """
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "plot_grad_flow needs matplotlib: pip install -e '.[examples]' in a checkout, "
            "pip install 'autograd-lite[examples]' once published, or pip install matplotlib"
        ) from None
    flow = grad_flow(model)
    rows = [r for r in flow if r.max_abs is not None]
    fig = Figure(figsize=(max(6.0, 0.5 * len(rows) + 2), 4.5), layout="constrained")
    ax = fig.add_subplot()
    x = np.arange(len(rows))
    maxes = np.array([r.max_abs for r in rows], dtype=float)
    means = np.array([r.mean_abs for r in rows], dtype=float)
    floor = None
    if log:
        positive = np.concatenate([maxes, means])
        positive = positive[np.isfinite(positive) & (positive > 0)]
        floor = float(positive.min()) / 10 if positive.size else 1e-12
        maxes = np.where(maxes > 0, maxes, floor)
        means = np.where(means > 0, means, floor)
        ax.set_yscale("log")
    ax.bar(x, maxes, width=0.8, alpha=0.35, color="c", label="max |grad|")
    ax.bar(x, means, width=0.8, alpha=0.9, color="b", label="mean |grad|")
    ax.hlines(floor if log and floor else 0, -0.5, len(rows) - 0.5, lw=1, color="k")
    ax.set_xticks(x, [r.name for r in rows], rotation=60, ha="right", fontsize=8)
    ax.set_xlim(-0.5, max(len(rows) - 0.5, 0.5))
    ax.set_xlabel("parameter")
    ax.set_ylabel("|grad|" + (" (log scale)" if log else ""))
    ax.set_title("Gradient flow")
    ax.grid(True, axis="y", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    if path is not None:
        fmt = os.path.splitext(os.fsdecode(os.fspath(path)))[1][1:].lower() or "png"
        buf = io.BytesIO()
        fig.savefig(buf, format=fmt, dpi=110)
        data = buf.getvalue()
        atomic_write(path, lambda f: f.write(data), who="plot_grad_flow")
    return fig
