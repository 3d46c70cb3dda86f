"""Numerical gradient checking: gradcheck, gradgradcheck and check_graph, their verdicts and
reports.

The modules, by job:

- ``check``: :func:`gradcheck` and :func:`gradgradcheck`, which drive a check (targets,
  leaves, non-determinism, full or fast mode) and build its result;
- ``graph``: :func:`check_graph`, each node of a recorded graph checked on its own;
- ``jacobian``: the comparison of every Jacobian entry (full mode), or of one block of
  the Jacobian, and the notes that explain their verdicts;
- ``fast``: random projections v^T J u (fast mode), a disagreeing one traced by halving
  to a block of the Jacobian that is checked entry by entry;
- ``finite_diff``: the probes, central differences and their noise, steps scaled to the
  input, Richardson extrapolation, one-sided slopes (kinks, jumps, ties);
- ``targets``: the Values checked (inputs, params, leaves found in the graph), their names,
  the float64 swap of their data, modules upcast to float64, the counted call of ``fn``;
- ``tolerances``: the options of a check and when two numbers agree;
- ``results``: what a check found (:class:`GradcheckResult`, :class:`GraphCheckResult`,
  ...) and its tables.

Imports core, ops and functional at module level (``check_forward_ad`` reaches
``autograd_lite.transforms`` lazily, inside :func:`gradcheck`); never the drawing, compile
or the CLI.
"""

from autograd_lite.gradcheck.check import FULL_MODE_BUDGET, gradcheck, gradgradcheck
from autograd_lite.gradcheck.fast import FAST_MODE_PROJECTIONS
from autograd_lite.gradcheck.graph import check_graph
from autograd_lite.gradcheck.results import (
    Entry,
    GradcheckError,
    GradcheckResult,
    GraphCheckResult,
    InputCheck,
    NodeCheck,
)

__all__ = [
    "Entry",
    "FAST_MODE_PROJECTIONS",
    "FULL_MODE_BUDGET",
    "GradcheckError",
    "GradcheckResult",
    "GraphCheckResult",
    "InputCheck",
    "NodeCheck",
    "check_graph",
    "gradcheck",
    "gradgradcheck",
]
