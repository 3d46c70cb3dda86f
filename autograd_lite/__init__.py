"""autograd_lite: a small, fast, fully tested automatic-differentiation engine.

One :class:`Value` type holds a Python float or a numpy array; every operation records its
inputs, and ``backward()`` applies the chain rule in reverse topological order.
"""

from autograd_lite import operators as _operators  # noqa: F401  (binds Value's operators)
from autograd_lite.backward import backward, grad
from autograd_lite.compile import CompileError, compile
from autograd_lite.function import Context, Function
from autograd_lite.functional import (
    abs,
    broadcast_to,
    concatenate,
    cos,
    exp,
    leaky_relu,
    log,
    log_softmax,
    logsumexp,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    pick,
    pow,
    relu,
    reshape,
    sigmoid,
    sin,
    softmax,
    sqrt,
    stack,
    sum,
    tanh,
    transpose,
    where,
)
from autograd_lite.gradcheck import (
    GradcheckError,
    GradcheckResult,
    GraphCheckResult,
    check_graph,
    gradcheck,
    gradgradcheck,
)
from autograd_lite.modes import (
    AnomalyError,
    detect_anomaly,
    enable_grad,
    is_grad_enabled,
    no_grad,
    set_grad_enabled,
)
from autograd_lite.op import OPS, Op, defop
from autograd_lite.transforms import checkpoint, hessian, hvp, jacobian, jvp, vjp
from autograd_lite.value import Parameter, Value
from autograd_lite.viz import draw_graph, to_dot

__version__ = "0.1.0"

__all__ = [
    "OPS",
    "AnomalyError",
    "CompileError",
    "Context",
    "Function",
    "GradcheckError",
    "GradcheckResult",
    "GraphCheckResult",
    "Op",
    "Parameter",
    "Value",
    "__version__",
    "abs",
    "backward",
    "broadcast_to",
    "check_graph",
    "checkpoint",
    "compile",
    "concatenate",
    "cos",
    "defop",
    "detect_anomaly",
    "draw_graph",
    "enable_grad",
    "exp",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "hvp",
    "is_grad_enabled",
    "jacobian",
    "jvp",
    "leaky_relu",
    "log",
    "log_softmax",
    "logsumexp",
    "matmul",
    "max",
    "maximum",
    "mean",
    "min",
    "minimum",
    "no_grad",
    "pick",
    "pow",
    "relu",
    "reshape",
    "set_grad_enabled",
    "sigmoid",
    "sin",
    "softmax",
    "sqrt",
    "stack",
    "sum",
    "tanh",
    "to_dot",
    "transpose",
    "vjp",
    "where",
]
