"""autograd_lite: a small, fast, fully tested automatic-differentiation engine.

One :class:`Value` type holds a Python float or a numpy array; every operation records its
inputs, and ``backward()`` applies the chain rule in reverse topological order.
"""

from autograd_lite import functional as _functional
from autograd_lite.compile import CompileError, compile
from autograd_lite.core.backward import backward, grad
from autograd_lite.core.function import Context, Function
from autograd_lite.core.modes import (
    AnomalyError,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from autograd_lite.core.op import OPS, Op, defop
from autograd_lite.core.value import Parameter, Value
from autograd_lite.functional import *  # noqa: F403  (every public function, at the top level too)
from autograd_lite.gradcheck import (
    GradcheckError,
    GradcheckResult,
    GraphCheckResult,
    check_graph,
    gradcheck,
    gradgradcheck,
)
from autograd_lite.ops import operators as _operators  # noqa: F401  (binds Value's operators)
from autograd_lite.transforms import checkpoint, hessian, hvp, jacobian, jvp, vjp
from autograd_lite.viz import draw_graph, save_graph, to_dot

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "CompileError",
    "Context",
    "Function",
    "GradcheckError",
    "GradcheckResult",
    "GraphCheckResult",
    "OPS",
    "Op",
    "Parameter",
    "Value",
    "__version__",
    "backward",
    "check_graph",
    "checkpoint",
    "compile",
    "defop",
    "detect_anomaly",
    "draw_graph",
    "enable_grad",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "no_grad",
    "save_graph",
    "set_grad_enabled",
    "to_dot",
    "vjp",
]
__all__ += _functional.__all__
