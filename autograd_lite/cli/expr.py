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
import contextlib
import inspect
import math
import operator
import sys
import unicodedata
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from autograd_lite import functional
from autograd_lite.core.modes import AnomalyError, detect_anomaly, is_finite, no_grad
from autograd_lite.core.value import Value

__all__ = [
    "CONSTANTS",
    "FUNCTIONS",
    "EvaluationError",
    "Evaluation",
    "Expression",
    "ExpressionError",
    "parse",
]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """NaN and infinity are results here, not warnings."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _elementwise_functions(module: Any) -> dict[str, tuple[Callable[..., Any], int]]:
    """The functions of ``module.__all__`` that act elementwise on one or two Values.

    Asked of each function rather than listed by hand: it must take one or two required
    arguments, draw no random numbers (no ``rng``) and, given Values of shape (2, 3), give
    a Value of shape (2, 3) of its results on the entries (which reductions, reshapes,
    matmul, softmax... do not). Returns name -> (function, number of arguments), unary first.
    """
    a = np.array([[0.3, 0.5, 0.7], [0.2, 0.4, 0.6]])
    probes = (a, a[::-1, ::-1] + 0.05)
    found: list[tuple[int, str, Callable[..., Any]]] = []
    for name in module.__all__:
        fn: Any = getattr(module, name, None)  # not callable: signature raises TypeError
        try:
            params = inspect.signature(fn).parameters.values()
        except (TypeError, ValueError):
            continue
        required = [p for p in params if p.default is p.empty]
        positional = all(p.kind in _POSITIONAL for p in required)
        if len(required) not in (1, 2) or not positional or any(p.name == "rng" for p in params):
            continue  # (a random function, dropout: its probe could match by chance)
        xs = probes[: len(required)]
        try:
            with _quiet():
                whole = fn(*(Value(x, requires_grad=False) for x in xs))
                parts = [
                    fn(*(Value(float(x[i]), requires_grad=False) for x in xs))
                    for i in np.ndindex(a.shape)
                ]
            elementwise = (
                isinstance(whole, Value)
                and whole.shape == a.shape
                and all(isinstance(p, Value) and p.shape == () for p in parts)
                and np.allclose(whole.data, np.reshape([p.data for p in parts], a.shape))
            )
        except Exception:  # a function that cannot take these is no elementwise function
            continue
        if elementwise:
            found.append((len(required), name, fn))
    return {name: (fn, n) for n, name, fn in sorted(found, key=lambda t: (t[0], t[1]))}


#: The functions an expression may call: name -> (function, number of arguments). They
#: are the elementwise functions of the public functional API (``functional.__all__``).
FUNCTIONS: dict[str, tuple[Callable[..., Any], int]] = _elementwise_functions(functional)

#: Names with a value unless the command line gives them another one.
CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}

MAX_LENGTH = 10_000  # characters (a sum of 4,000 terms fits)
MAX_DEPTH = 5000  # nesting of operations (the walk is iterative; this is a sanity bound)
_AST_DEPTH = 2000  # recursion limit while ast.parse builds the tree (it allows 3x this)

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
    text: str = field(repr=False)  # the whole (stripped) expression, shared by every instr
    span: tuple[int, int] = (0, 0)  # this sub-expression is text[span[0]:span[1]]

    @property
    def source(self) -> str:
        """The text of the sub-expression (sliced on demand: storing every node's text
        would take quadratic memory for a long sum)."""
        return self.text[self.span[0] : self.span[1]]


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
        try:
            # under detect_anomaly every gradient the backward pass makes is checked
            with _quiet(), detect_anomaly() if strict else contextlib.nullcontext():
                self.root.backward()
        except (ArithmeticError, ValueError) as e:  # AnomalyError is an ArithmeticError
            raise self._blame_backward(e) from None

    def _blame_backward(self, failure: Exception) -> EvaluationError:
        """Which operation's derivative failed: the first one, from the output down, whose
        own backward (run again on copies of its inputs, seeded with the gradient that
        reached it) gives a gradient that is not finite."""
        for instr, r, args in reversed(self.records):  # from the output down
            if not isinstance(r, Value) or r.grad is None or instr.kind == "pos":
                continue
            if not is_finite(r.grad):
                continue
            try:
                grads = _local_gradients(instr, args, r.grad)
                bad = next((g for g in grads if not is_finite(g)), None)
                what = None if bad is None else _show(bad)
            except (ArithmeticError, ValueError) as e:
                what = f"undefined ({e})"
            if what is not None:
                return EvaluationError(
                    f"math error: the derivative of {instr.source} (column {instr.col}) is "
                    f"{what} at {_where(self.inputs)}; the gradient must be finite"
                )
        return EvaluationError(f"math error: a gradient is not finite ({failure})")


def _local_gradients(instr: _Instr, args: tuple, seed: Any) -> list[Any]:
    """The gradients that one instruction passes to its inputs, given ``seed`` for its
    result: the instruction is run again on fresh leaves and the engine backpropagates."""
    leaves = [
        Value(a.data, requires_grad=a.requires_grad) if isinstance(a, Value) else a for a in args
    ]
    wanted = [x for x in leaves if isinstance(x, Value) and x.requires_grad]
    if not wanted:
        return []
    with _quiet():
        out = _step(instr, tuple(leaves))
        out.backward(seed)
    return [x.grad for x in wanted if x.grad is not None]


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
        instr, args = self.program[0], ()
        try:
            # strict: detect_anomaly stops at the first result that is NaN or infinite
            with _quiet(), detect_anomaly() if strict else contextlib.nullcontext():
                for instr in self.program:
                    kind = instr.kind
                    if kind == "num":
                        stack.append(instr.arg)
                        continue
                    if kind == "name":
                        stack.append(
                            inputs[instr.arg] if instr.arg in inputs else consts[instr.arg]
                        )
                        continue
                    n = instr.arg[1] if kind == "call" else 2 if kind == "bin" else 1
                    args = tuple(stack[len(stack) - n :])
                    del stack[len(stack) - n :]
                    r = _step(instr, args)
                    if label_nodes and kind != "pos" and _unnamed_result(r):
                        src = instr.source  # each result is named after its sub-expression
                        r.name = src if len(src) <= 40 else src[:39] + "…"
                    records.append((instr, r, args))
                    stack.append(r)
        except AnomalyError:
            with _quiet():  # outside detect_anomaly now: compute the culprit to show it
                shown = _show(_step(instr, args))
            raise EvaluationError(
                f"math error: {instr.source} (column {instr.col}) is {shown} "
                f"({_describe(instr, args)}); results must be finite"
            ) from None
        except (ArithmeticError, ValueError, TypeError) as e:
            raise EvaluationError(
                f"math error: {instr.source} (column {instr.col}) cannot be computed: {e}"
            ) from None
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


def _unnamed_result(r: Any) -> bool:
    return isinstance(r, Value) and not r.is_leaf and r.name is None


def _step(instr: _Instr, args: tuple) -> Any:
    """Run one operation of the program on its arguments (Values or numbers)."""
    kind = instr.kind
    if kind == "neg":
        return -args[0]
    if kind == "pos":
        return args[0]
    if not any(isinstance(a, Value) for a in args):
        # numbers only: the engine computes it anyway (its float semantics, 1/0 is inf; and
        # detect_anomaly sees the result)
        args = (Value(args[0], requires_grad=False), *args[1:])
    if kind == "bin":
        return _BINARY_BY_SYMBOL[instr.arg](*args)
    return FUNCTIONS[instr.arg[0]][0](*args)


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
            tree = _parse_deep(src)
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


def _parse_deep(src: str) -> ast.Expression:
    """``ast.parse(src, mode="eval")``, allowed to build trees MAX_DEPTH deep: CPython
    limits the tree it builds to 3x the recursion limit (a sum of 3,000 terms is 3,000
    deep), so the limit is raised to :data:`_AST_DEPTH` for the call if it is lower."""
    old = sys.getrecursionlimit()
    if old >= _AST_DEPTH:
        return ast.parse(src, mode="eval")
    sys.setrecursionlimit(_AST_DEPTH)
    try:
        return ast.parse(src, mode="eval")
    finally:
        sys.setrecursionlimit(old)


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
    # ast offsets count UTF-8 bytes; users count characters. One table, built once, maps
    # a byte offset to a character offset (ast.get_source_segment and decoding a prefix
    # per node cost O(len) each: quadratic in the length of the expression).
    if src.isascii():
        chars: Any = range(len(src) + 1)
    else:
        chars = [0] * (len(src.encode("utf-8")) + 1)
        at = 0
        for i, c in enumerate(src):
            n = len(c.encode("utf-8"))
            for k in range(n):
                chars[at + k] = i
            at += n
        chars[at] = len(src)

    def span(node: ast.AST) -> tuple[int, int]:
        start, end = getattr(node, "col_offset", None), getattr(node, "end_col_offset", None)
        if start is None or end is None or not 0 <= start <= end < len(chars):
            return (0, 0)
        return (chars[start], chars[end])

    def column(node: ast.AST) -> int:
        offset = getattr(node, "col_offset", 0)
        return lead + (chars[offset] if 0 <= offset < len(chars) else 0) + 1

    def segment(node: ast.AST) -> str:
        a, b = span(node)
        return src[a:b] or type(node).__name__

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
        where = span(node)
        if isinstance(node, ast.Constant):
            number = _number(node, segment(node), col)
            program.append(_Instr("num", number, col, src, where))
        elif isinstance(node, ast.Name):
            variables.setdefault(node.id, None)
            program.append(_Instr("name", node.id, col, src, where))
        elif isinstance(node, ast.UnaryOp):
            kind = "neg" if isinstance(node.op, ast.USub) else "pos"
            program.append(_Instr(kind, None, col, src, where))
        elif isinstance(node, ast.BinOp):
            program.append(_Instr("bin", _BINARY[type(node.op)][0], col, src, where))
        else:
            assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
            program.append(_Instr("call", (node.func.id, len(node.args)), col, src, where))
    return Expression(text, tuple(program), tuple(variables))


def _number(node: ast.Constant, seg: str, col: int) -> float:
    assert isinstance(node.value, (int, float))  # _check admits no other constant
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
