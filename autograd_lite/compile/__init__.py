"""``compile(fn)``: trace a function once per signature, then replay its ops as a fixed plan.

The package imports autograd_lite's value, modes, op, backward and function modules, the
primitives and functional, never viz or cli. Its public names are re-exported here.
"""

from autograd_lite.compile.api import (
    DEFAULT_MAX_PLANS,
    DEFAULT_MAX_RETRACES,
    CompiledFunction,
    CompileError,
    Plan,
    compile,
    plan_of,
)

__all__ = [
    "DEFAULT_MAX_PLANS",
    "DEFAULT_MAX_RETRACES",
    "CompileError",
    "CompiledFunction",
    "Plan",
    "compile",
    "plan_of",
]
