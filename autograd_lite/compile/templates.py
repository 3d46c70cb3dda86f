"""The templates generated code is made of: the op table's scalar forwards and VJPs
written out for Python floats, and the numpy functions of the tensor templates, keyed by
the Op object itself, never by a name.

No user text ever reaches ``exec``: the generated code is these fixed templates,
generated variable names and numeric literals (``repr`` of finite floats, checked by
:func:`literal`); everything else (op functions, constants, parameters) is bound in its
namespace.
"""

from __future__ import annotations

import math
import re
from typing import Any

from autograd_lite.core.op import Op
from autograd_lite.ops import primitives as prim

__all__: list[str] = []  # package-internal

_FLOAT_LITERAL = re.compile(r"-?[0-9]+(\.[0-9]+)?(e[+-]?[0-9]+)?\Z")


# Scalar templates: the op table's scalar forwards and VJPs, written out for Python floats
# (keyed by the Op object itself, never by a name). {x0} {x1}: inputs, {p0}: parameter,
# {o}: the result, {g}: its gradient. Each is exactly the expression the op's own scalar
# rule evaluates, so results agree to the bit (the tests check every op). Forwards that can
# raise (exp overflow, log of 0, division by 0) send the call to the interpretive path.
FWD: dict[Op, str] = {
    prim.ADD: "{x0} + {x1}",
    prim.SUB: "{x0} - {x1}",
    prim.MUL: "{x0} * {x1}",
    prim.DIV: "{x0} / {x1}",
    prim.NEG: "-{x0}",
    prim.EXP: "_exp({x0})",
    prim.LOG: "_log({x0})",
    prim.SQRT: "_sqrt({x0})",
    prim.TANH: "_tanh({x0})",
    prim.SIGMOID: "0.5 + 0.5 * _tanh(0.5 * {x0})",
    prim.RELU: "0.0 if {x0} <= 0.0 else {x0}",
    prim.LEAKY_RELU: "{x0} if {x0} > 0.0 else {p0} * {x0}",
    prim.ABS: "_fabs({x0})",
    prim.SIN: "_sin({x0})",
    prim.COS: "_cos({x0})",
    prim.MAXIMUM: "{x0} if {x0} >= {x1} or {x0} != {x0} else {x1}",
    prim.MINIMUM: "{x0} if {x0} <= {x1} or {x0} != {x0} else {x1}",
}
_VJP: dict[Op, tuple[str | None, ...]] = {
    prim.ADD: ("{g}", "{g}"),
    prim.SUB: ("{g}", "-{g}"),
    prim.MUL: ("{g} * {x1}", "{g} * {x0}"),
    prim.DIV: ("{g} / {x1}", "-{g} * {o} / {x1}"),
    prim.NEG: ("-{g}",),
    prim.EXP: ("{g} * {o}",),
    prim.LOG: ("{g} / {x0}",),
    prim.SQRT: ("{g} * 0.5 / {o}",),
    prim.TANH: ("{g} * (1.0 - {o} * {o})",),
    prim.SIGMOID: ("{g} * {o} * (1.0 - {o})",),
    prim.RELU: ("{g} * (1.0 if {x0} > 0.0 else 0.0)",),
    prim.LEAKY_RELU: ("{g} * (1.0 if {x0} > 0.0 else {p0})",),
}
REDUCTIONS = (prim.SUM, prim.MEAN, prim.MAX, prim.LOGSUMEXP)  # of a float over axis None: x
BUILTIN_IDS = frozenset(id(op) for op in prim.BUILTIN_OPS.values())
SAFE_FWD = frozenset(
    {
        prim.ADD,
        prim.SUB,
        prim.MUL,
        prim.NEG,
        prim.TANH,
        prim.SIGMOID,
        prim.RELU,
        prim.LEAKY_RELU,
        prim.ABS,
        prim.MAXIMUM,
        prim.MINIMUM,
    }
)


def literal(c: Any) -> str | None:
    """A float constant as a Python literal (finite floats only; checked), else None."""
    if type(c) is float and math.isfinite(c):
        text = repr(c)
        if _FLOAT_LITERAL.match(text):
            return f"({text})"
    return None


UNARY = {
    prim.NEG: "negative",
    prim.EXP: "exp",
    prim.LOG: "log",
    prim.SQRT: "sqrt",
    prim.TANH: "tanh",
    prim.SIN: "sin",
    prim.COS: "cos",
    prim.ABS: "absolute",
}
BINARY = {prim.ADD: "add", prim.SUB: "subtract", prim.MUL: "multiply", prim.DIV: "divide"}
TENSOR_VJP = frozenset(
    [prim.ADD, prim.SUB, prim.NEG, prim.MUL, prim.EXP, prim.SIGMOID, prim.TANH, prim.RELU]
    + [prim.MSE, prim.LINEAR, prim.MATMUL]
)
TENSOR_OPS = frozenset(
    [*UNARY, *BINARY, prim.SIGMOID, prim.RELU, prim.LINEAR, prim.MATMUL, prim.MSE]
)


def _positional(template: str) -> str:
    """A template with {x0} {x1} {p0} {g} {o} as positional fields {0} {1} {2} {3} {4}."""
    for name, pos in (
        ("{x0}", "{0}"),
        ("{x1}", "{1}"),
        ("{p0}", "{2}"),
        ("{g}", "{3}"),
        ("{o}", "{4}"),
    ):
        template = template.replace(name, pos)
    return template


FWD_POS = {op: _positional(t) for op, t in FWD.items()}
VJP_POS = {op: tuple(_positional(t) if t else t for t in ts) for op, ts in _VJP.items()}
