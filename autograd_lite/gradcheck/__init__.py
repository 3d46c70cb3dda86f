"""Numerical gradient checking: gradcheck, gradgradcheck and check_graph, their verdicts and
reports. Imports core, ops and functional; never the drawing, compile or the CLI.
"""

from autograd_lite.gradcheck.api import (
    FAST_MODE_PROJECTIONS,
    FULL_MODE_BUDGET,
    Entry,
    GradcheckError,
    GradcheckResult,
    GraphCheckResult,
    InputCheck,
    NodeCheck,
    check_graph,
    gradcheck,
    gradgradcheck,
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
