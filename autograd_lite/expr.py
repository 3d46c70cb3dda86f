"""A safe parser for small math expressions such as ``"tanh(x*w + b)"`` (used by the CLI).

The text is parsed with ``ast.parse(text, mode="eval")`` and walked (iteratively) against a
whitelist: numbers, variable names, ``+ - * / **``, unary minus and plus, parentheses, and
calls of the functions in :data:`FUNCTIONS`. Nothing is ever ``eval``-ed or compiled; the
accepted tree becomes a small postfix program run on :class:`~autograd_lite.Value`.

Everything that goes wrong raises :class:`ExpressionError` (a ``ValueError``) with a
one-line message that points at the column of the problem: refused constructs, syntax
errors, unknown names, missing variables (``exit_code`` 2), and math errors, a NaN or
infinite result or gradient such as ``log(-1)`` (:class:`EvaluationError`, ``exit_code`` 1).
"""

from __future__ import annotations

import ast
import math
import operator
import unicodedata
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograd_lite import ops
from autograd_lite.engine import Value, _finite, no_grad

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "EvaluationError",
    "Evaluation",
    "Expression",
    "ExpressionError",
    "parse",
]

#: The functions an expression may call: name -> (function, number of arguments).
FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = {
    "abs": (ops.abs, 1),
    "cos": (ops.cos, 1),
    "exp": (ops.exp, 1),
    "log": (ops.log, 1),
    "relu": (ops.relu, 1),
    "sigmoid": (ops.sigmoid, 1),
    "sin": (ops.sin, 1),
    "sqrt": (ops.sqrt, 1),
    "tanh": (ops.tanh, 1),
    "maximum": (ops.maximum, 2),
    "minimum": (ops.minimum, 2),
    "pow": (ops.pow, 2),
}

#: Names with a value unless the command line gives them another one.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

MAX_LENGTH = 2000  # characters; Python's own parser gives up on deeply nested text
MAX_DEPTH = 1000  # nesting of operations (the walk is iterative; this is a sanity bound)

_BINARY: dict[type, tuple[str, Callable[[Any, Any], Any]]] = {
    ast.Add: ("+", operator.add),
    ast.Sub: ("-", operator.sub),
    ast.Mult: ("*", operator.mul),
    ast.Div: ("/", operator.truediv),
    ast.Pow: ("**", operator.pow),
}
_REFUSED_OPERATORS = {
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Not: "not",
}
_REFUSED_NODES = {
    "Attribute": "attribute access",
    "Subscript": "indexing",
    "Slice": "slicing",
    "Lambda": "lambda",
    "Compare": "comparisons",
    "BoolOp": "'and'/'or'",
    "IfExp": "'if'/'else'",
    "NamedExpr": "':='",
    "List": "lists",
    "Tuple": "tuples",
    "Set": "sets",
    "Dict": "dicts",
    "ListComp": "comprehensions",
    "SetComp": "comprehensions",
    "DictComp": "comprehensions",
    "GeneratorExp": "generator expressions",
    "JoinedStr": "strings",
    "FormattedValue": "strings",
    "Starred": "'*' unpacking",
    "Await": "'await'",
    "Yield": "'yield'",
    "YieldFrom": "'yield'",
}
_ALLOWED = "allowed: numbers, variables, + - * / **, parentheses and " + ", ".join(
    f"{f}()" for f in FUNCTIONS
)


class ExpressionError(ValueError):
    """The expression is refused; the message says why and where. CLI exit status 2."""

    exit_code = 2


class EvaluationError(ExpressionError):
    """A math error: a result or gradient is NaN or infinite. CLI exit status 1."""

    exit_code = 1


@dataclass(frozen=True)
class _Instr:
    kind: str  # "num", "name", "neg", "pos", "bin", "call"
    arg: Any
    col: int  # 1-based column in the original text
    source: str  # the text of the sub-expression


def _show(x: Any) -> str:
    d = x.data if isinstance(x, Value) else x
    try:
        return f"{float(d):.6g}"
    except (TypeError, ValueError):
        return str(d)


@dataclass
class Evaluation:
    """The result of :meth:`Expression.evaluate`: the output and the input Values."""

    expression: Expression
    root: Value
    inputs: dict[str, Value]
    records: list[tuple[_Instr, Any, tuple]] = field(default_factory=list, repr=False)

    @property
    def value(self) -> float:
        return float(self.root.data)

    def backward(self, *, strict: bool = True) -> None:
        """Backpropagate; raise :class:`EvaluationError` naming the operation whose
        derivative is not finite (such as ``sqrt(x)`` at 0). ``strict=False`` lets NaN and
        infinite gradients through (to draw them)."""
        if not self.root.requires_grad:
            return  # no variables: nothing to differentiate
        failure: Exception | None = None
        try:
            with np.errstate(all="ignore"), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                self.root.backward()
        except (ArithmeticError, ValueError) as e:
            failure = e
        if not strict and failure is None:
            return
        if failure is None and all(v.grad is None or _finite(v.grad) for v in self.inputs.values()):
            return
        raise self._blame_backward(failure)

    def _blame_backward(self, failure: Exception | None) -> EvaluationError:
        for instr, r, _args in reversed(self.records):  # from the output down
            if not isinstance(r, Value) or r._op is None or instr.kind == "pos":
                continue
            g = r.grad
            if g is None or not _finite(g):
                continue
            try:
                with np.errstate(all="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    parts = r._op._vjp(r, g, False)
                bad = next((p for p in parts if p is not None and not _finite(p)), None)
                what = None if bad is None else _show(bad)
            except (ArithmeticError, ValueError) as e:
                what = f"undefined ({e})"
            if what is not None:
                return EvaluationError(
                    f"math error: the derivative of {instr.source} (column {instr.col}) is "
                    f"{what} at {_where(self.inputs)}; the gradient must be finite"
                )
        why = f" ({failure})" if failure is not None else ""
        return EvaluationError(f"math error: a gradient is not finite{why}")


def _where(inputs: Mapping[str, Value]) -> str:
    return ", ".join(f"{k}={_show(v)}" for k, v in inputs.items()) or "these values"


@dataclass(frozen=True)
class Expression:
    """A parsed, validated expression. ``variables``: the names it uses, in order."""

    text: str
    program: tuple[_Instr, ...] = field(repr=False)
    variables: tuple[str, ...]

    def evaluate(
        self,
        values: Mapping[str, Any],
        *,
        requires_grad: bool = True,
        label_nodes: bool = False,
        strict: bool = True,
    ) -> Evaluation:
        """Run the expression on ``values`` (name -> number). Each variable becomes a
        ``Value`` named after it. With ``label_nodes`` every intermediate result is named
        after its sub-expression (for drawings). Raises :class:`ExpressionError` for a
        missing variable and :class:`EvaluationError` for a non-finite result (unless
        ``strict=False``)."""
        inputs: dict[str, Value] = {}
        consts: dict[str, float] = {}
        for instr in self.program:
            if instr.kind != "name" or instr.arg in inputs or instr.arg in consts:
                continue
            name = instr.arg
            if name in values:
                v = values[name]
                if not isinstance(v, Value):
                    try:
                        v = Value(float(v), requires_grad=requires_grad, name=name)
                    except (TypeError, ValueError, OverflowError):
                        raise ExpressionError(
                            f"the value of {name} must be a number, not {v!r}"
                        ) from None
                inputs[name] = v
            elif name in CONSTANTS:
                consts[name] = CONSTANTS[name]
            else:
                raise ExpressionError(
                    f"no value for the variable {name!r} used at column {instr.col}: "
                    f"add {name}=NUMBER"
                )
        stack: list[Any] = []
        records: list[tuple[_Instr, Any, tuple]] = []
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for instr in self.program:
                kind = instr.kind
                args: tuple = ()
                if kind == "num":
                    stack.append(instr.arg)
                    continue
                if kind == "name":
                    stack.append(inputs[instr.arg] if instr.arg in inputs else consts[instr.arg])
                    continue
                try:
                    if kind == "neg":
                        args = (stack.pop(),)
                        r = -args[0]
                    elif kind == "pos":
                        args = (stack.pop(),)
                        r = args[0]
                    elif kind == "bin":
                        b = stack.pop()
                        a = stack.pop()
                        args = (a, b)
                        if not isinstance(a, Value) and not isinstance(b, Value):
                            a = Value(a, requires_grad=False)  # the engine's float semantics
                        r = _BINARY_BY_SYMBOL[instr.arg](a, b)
                    else:  # call
                        fname, nargs = instr.arg
                        args = tuple(stack[len(stack) - nargs :])
                        del stack[len(stack) - nargs :]
                        r = FUNCTIONS[fname][0](*args)
                except (ArithmeticError, ValueError, TypeError) as e:
                    raise EvaluationError(
                        f"math error: {instr.source} (column {instr.col}) cannot be computed: {e}"
                    ) from None
                if strict and not _finite(r):
                    raise EvaluationError(
                        f"math error: {instr.source} (column {instr.col}) is {_show(r)} "
                        f"({_describe(instr, args)}); results must be finite"
                    )
                if (
                    label_nodes
                    and isinstance(r, Value)
                    and r._op is not None
                    and r.name is None
                    and kind != "pos"
                ):
                    r.name = instr.source if len(instr.source) <= 40 else instr.source[:39] + "…"
                records.append((instr, r, args))
                stack.append(r)
        root = stack.pop()
        if not isinstance(root, Value):
            root = Value(float(root), requires_grad=False)
        return Evaluation(self, root, inputs, records)

    def value_at(self, values: Mapping[str, float]) -> float:
        """The expression's value as a float (no graph), NaN where it is not finite."""
        with no_grad():
            try:
                return float(self.evaluate(values, requires_grad=False).root.data)
            except EvaluationError:
                return math.nan


def _describe(instr: _Instr, args: tuple) -> str:
    shown = [_show(a) for a in args]
    if instr.kind == "call":
        return f"{instr.arg[0]} of {', '.join(shown)}"
    if instr.kind == "bin":
        return f"{shown[0]} {instr.arg} {shown[1]}"
    return f"-{shown[0]}" if instr.kind == "neg" else shown[0]


_BINARY_BY_SYMBOL = {sym: fn for sym, fn in _BINARY.values()}


# -------------------------------------------------------------------------- parsing


def parse(text: str) -> Expression:
    """Parse and validate ``text``; raise :class:`ExpressionError` if it is refused."""
    if not isinstance(text, str):
        raise ExpressionError(f"the expression must be a string, not {type(text).__name__}")
    lead = len(text) - len(text.lstrip())
    src = text.strip()
    if not src:
        raise ExpressionError("the expression is empty")
    if len(src) > MAX_LENGTH:
        raise ExpressionError(
            f"the expression is too long ({len(src)} characters, at most {MAX_LENGTH})"
        )
    for i, c in enumerate(src):
        if c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029":
            raise ExpressionError(
                f"the expression must be one line (line break at column {lead + i + 1})"
            )
        if c == "\x00":
            raise ExpressionError(f"a NUL character at column {lead + i + 1} is not allowed")
    try:
        src.encode("utf-8")
    except UnicodeEncodeError as e:
        raise ExpressionError(
            f"an invalid character (a lone surrogate) at column {lead + e.start + 1}"
        ) from None
    try:
        with warnings.catch_warnings():  # e.g. SyntaxWarning "invalid decimal literal"
            warnings.simplefilter("ignore")
            tree = ast.parse(src, mode="eval")
    except SyntaxError as e:
        msg = (e.msg or "invalid syntax").split(" (")[0]
        offset = e.offset or 0
        if offset <= 0 or offset > len(src):
            where = "at the end (is something missing?)"
        else:
            where = f"at column {lead + offset} ({src[offset - 1]!r})"
        raise ExpressionError(f"syntax error {where}: {msg} in {_quote(src)}") from None
    except (RecursionError, MemoryError, ValueError, OverflowError):
        raise ExpressionError("the expression is too deeply nested") from None
    return _compile(tree.body, src, lead, text)


def _quote(s: str, limit: int = 60) -> str:
    if len(s) > limit:
        s = s[: limit - 1] + "…"
    return repr(s)


def _children(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def _compile(body: ast.AST, src: str, lead: int, text: str) -> Expression:
    program: list[_Instr] = []
    variables: dict[str, None] = {}
    raw = src.encode("utf-8")

    def column(node: ast.AST) -> int:  # ast offsets count UTF-8 bytes; users count characters
        offset = getattr(node, "col_offset", 0)
        return lead + len(raw[:offset].decode("utf-8", "replace")) + 1

    def segment(node: ast.AST) -> str:
        try:
            s = ast.get_source_segment(src, node)
        except (AttributeError, IndexError, TypeError, ValueError):
            s = None
        return s or type(node).__name__

    def refuse(node: ast.AST, what: str, hint: str = _ALLOWED) -> ExpressionError:
        col = column(node)
        return ExpressionError(
            f"not allowed: {what} at column {col} ({_quote(segment(node), 40)}); {hint}"
        )

    stack: list[tuple[ast.AST, bool, int]] = [(body, False, 0)]
    while stack:
        node, done, depth = stack.pop()
        col = column(node)
        if not done:
            if depth > MAX_DEPTH:
                raise ExpressionError(
                    f"the expression is too deeply nested (more than {MAX_DEPTH} levels)"
                )
            _check(node, refuse, segment, col)
            stack.append((node, True, depth))
            stack.extend((c, False, depth + 1) for c in reversed(_children(node)))
            continue
        seg = segment(node)
        if isinstance(node, ast.Constant):
            program.append(_Instr("num", _number(node, seg, col), col, seg))
        elif isinstance(node, ast.Name):
            variables.setdefault(node.id, None)
            program.append(_Instr("name", node.id, col, seg))
        elif isinstance(node, ast.UnaryOp):
            kind = "neg" if isinstance(node.op, ast.USub) else "pos"
            program.append(_Instr(kind, None, col, seg))
        elif isinstance(node, ast.BinOp):
            program.append(_Instr("bin", _BINARY[type(node.op)][0], col, seg))
        else:
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            program.append(_Instr("call", (node.func.id, len(node.args)), col, seg))
    return Expression(text, tuple(program), tuple(variables))


def _number(node: ast.Constant, seg: str, col: int) -> float:
    try:
        x = float(node.value)
    except OverflowError:
        raise ExpressionError(f"the number at column {col} is too large") from None
    if not math.isfinite(x):
        raise ExpressionError(
            f"the number {_quote(seg, 30)} at column {col} is too large (it overflows to inf)"
        )
    return x


def _check(node: ast.AST, refuse: Callable[..., ExpressionError], segment: Any, col: int) -> None:
    """Raise unless ``node`` is one of the whitelisted constructs."""
    if isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or v is None or v is Ellipsis:
            raise refuse(node, f"{v!r}")
        if isinstance(v, complex):
            raise refuse(node, "a complex number", "only real numbers are supported")
        if isinstance(v, (str, bytes)):
            raise refuse(node, "a string")
        if not isinstance(v, (int, float)):
            raise refuse(node, f"a {type(v).__name__} constant")
        return
    if isinstance(node, ast.Name):
        if node.id in FUNCTIONS:
            raise refuse(
                node, f"the function name {node.id!r} without a call", f"call it, e.g. {node.id}(x)"
            )
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            sym = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            raise refuse(node, f"the operator {sym!r}", "use + - * / **")
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.USub, ast.UAdd)):
            sym = _REFUSED_OPERATORS.get(type(node.op), type(node.op).__name__)
            raise refuse(node, f"the operator {sym!r}", "use unary - or +")
        return
    if isinstance(node, ast.Call):
        func = node.func
        if not isinstance(func, ast.Name):
            what = "attribute access" if isinstance(func, ast.Attribute) else "this call"
            raise refuse(node, what, "only " + ", ".join(FUNCTIONS) + " can be called")
        if func.id not in FUNCTIONS:
            raise refuse(
                node,
                f"the unknown function {func.id!r}",
                "the functions are " + ", ".join(FUNCTIONS),
            )
        if node.keywords:
            raise refuse(node, "a keyword argument", "pass arguments by position")
        for a in node.args:
            if isinstance(a, ast.Starred):
                raise refuse(a, "'*' unpacking")
        want = FUNCTIONS[func.id][1]
        if len(node.args) != want:
            raise ExpressionError(
                f"{func.id}() at column {col} takes {want} argument{'s' if want != 1 else ''}, "
                f"got {len(node.args)}"
            )
        return
    raise refuse(node, _REFUSED_NODES.get(type(node).__name__, type(node).__name__))


def normalize_name(name: str) -> str:
    """A variable name as Python's parser sees it (identifiers are NFKC-normalised)."""
    return unicodedata.normalize("NFKC", name)
