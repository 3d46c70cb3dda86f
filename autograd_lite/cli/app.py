"""The ``autograd-lite`` command (also ``python -m autograd_lite``).

    autograd-lite graph "tanh(x*w + b)" x=2 w=-3 b=6.88 -o graph.svg
    autograd-lite grad "x**2 * y" x=3 y=2 --check
    autograd-lite demo

Expressions are parsed by :mod:`autograd_lite.cli.expr` (a whitelist over ``ast``; nothing is
evaluated as Python). Errors are one line on stderr, ``autograd-lite: error: ...``, with
exit status 2 for a usage or expression error and 1 for a math error (a NaN or infinite
value or gradient), a failed ``--check``, or a file or Graphviz problem.
"""

from __future__ import annotations

import argparse
import contextlib
import keyword
import math
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import graphviz  # type: ignore[import-untyped]  # graphviz ships no types (no py.typed)

from autograd_lite import __version__
from autograd_lite.cli.expr import (
    CONSTANTS,
    FUNCTIONS,
    ExpressionError,
    normalize_name,
    parse,
)
from autograd_lite.core.value import Value
from autograd_lite.gradcheck import gradcheck
from autograd_lite.viz import (
    SUFFIX_FORMATS,
    GraphvizNotFoundError,
    draw_graph,
    output_format,
    render,
    save_graph,
)

__all__ = ["demo", "main"]

PROG = "autograd-lite"
TIMEOUT = 10.0  # seconds Graphviz may take to draw one graph (--timeout)
LONG_EDGES_PER_SECOND = 200  # render.long_edges that dot lays out in about a second
FORMATS = tuple(dict.fromkeys(SUFFIX_FORMATS.values()))  # the --format choices


class UsageError(Exception):
    """A bad command line (exit status 2)."""

    exit_code = 2


class CommandError(Exception):
    """A command that could not do its job: file, Graphviz or check failure (exit status 1)."""

    exit_code = 1


# ----------------------------------------------------------------------- arguments


class _Parser(argparse.ArgumentParser):
    """argparse with this program's error prefix and a hint about where EXPR goes."""

    def error(self, message: str) -> Any:  # argparse calls this and expects it to exit
        hint = ""
        if "unrecognized arguments: -" in message or "arguments are required: EXPR" in message:
            hint = f' (EXPR comes right after the command, quoted: {PROG} grad "x*y" x=1 y=2)'
        self.print_usage(sys.stderr)
        self.exit(2, f"{PROG}: error: {message}{hint}\n")


_FUNCTIONS_HELP = ", ".join(FUNCTIONS)
_EXPR_HELP = (
    "the expression, quoted: numbers, variables, + - * / ** (power), unary -, parentheses "
    f"and the functions {_FUNCTIONS_HELP}; pi and e are constants"
)
_VARS_HELP = "the value of each variable of EXPR, e.g. x=2 w=-3"
_SUFFIXES_HELP = " ".join(SUFFIX_FORMATS)

_GRAPH_EPILOG = f"""examples:
  {PROG} graph "tanh(x*w + b)" x=2 w=-3 b=6.88 -o graph.svg
  {PROG} graph "x**2 * y" x=3 y=2 -o graph.png
  {PROG} graph "log(x) * y" x=-1 y=2 --allow-nonfinite -o nan.svg   (NaN shown in red)
  {PROG} graph "sigmoid(a*b)" a=1 b=2 --format dot -o -             (DOT text on stdout)
  {PROG} graph "-x*y" x=1 y=2 -o neg.svg         (EXPR is always the first argument)
  {PROG} graph "tanh(x*w)" x=9 w=3 --color grad -o flow.svg  (vanishing gradients flagged)
  {PROG} graph "x**2 * y" x=3 y=2 -o graph.html   (interactive page: pan, zoom, search)

Values are drawn with their data and gradient (after backward), each operation as a
small ellipse between its inputs and its output. The file is written at exactly the
path given, all at once. Its format comes from --format, else from its suffix, else
svg; a suffix that names another format than --format is refused. The suffixes:
  {_SUFFIXES_HELP}, or any other Graphviz format (.gif, .svgz, .ps, ...)
.html writes one self-contained interactive page (no network needed to open it).
All formats but dot need Graphviz's 'dot' program (or graphviz-pure, for svg, png, jpg
and html). A format that writes more files than the one asked for (vrml) is refused.

Time limit: Graphviz gets {TIMEOUT:g} seconds to draw the graph (--timeout SECONDS); past
them it is stopped and the command fails with one line saying so. Its layout time can
explode on short expressions ("x+x+...+x" with 60 terms): a graph that cannot be laid
out in time is refused at once. Fold the graph with --max-nodes, or allow more time."""

_GRAD_EPILOG = f"""examples:
  {PROG} grad "x**2 * y" x=3 y=2
  {PROG} grad "tanh(x*w + b)" x=2 w=-3 b=6.88 --check
  {PROG} grad "-h*x" h=1 x=2                   (EXPR is always the first argument)

Prints the value and the partial derivative with respect to each variable (with
--hessian also every second derivative d2/dx dy). With --check
it also runs autograd_lite.gradcheck (backprop against central finite differences),
prints its report, and exits with status 1 if they disagree."""

_DEMO_EPILOG = f"""examples:
  {PROG} demo                         (writes into ./autograd_lite_demo/)
  {PROG} demo --out results --epochs 30

Trains an MLP on scikit-learn's 8x8 handwritten digits (needs the examples extra:
pip install -e '.[examples]' in a checkout,
pip install 'autograd-lite[examples]' once published), saves its loss curve, draws the graph of one
forward/backward pass, and checks a layer's gradients against finite differences."""


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        description="autograd_lite from the command line: draw the graph of an expression, "
        "print its gradients, or run the demo.",
        epilog=f'example:\n  {PROG} grad "x**2 * y" x=3 y=2\n\n'
        f"Run '{PROG} COMMAND --help' for the options and examples of each command.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    g = sub.add_parser(
        "graph",
        help="draw the computation graph of an expression (after backward)",
        description="Draw the computation graph of an expression, after backward.",
        epilog=_GRAPH_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    g.add_argument("expr", metavar="EXPR", help=_EXPR_HELP)
    g.add_argument("values", metavar="NAME=VALUE", nargs="*", help=_VARS_HELP)
    g.add_argument(
        "-o",
        "--output",
        metavar="FILE",
        help="file to write ('-' for stdout; default graph.FORMAT)",
    )
    g.add_argument(
        "--format",
        choices=FORMATS,
        help="the file format (default: from the suffix of FILE, else svg)",
    )
    g.add_argument("--rankdir", choices=("LR", "TB"), default="LR", help="layout direction")
    g.add_argument(
        "--max-nodes",
        type=_positive_int,
        default=500,
        metavar="N",
        help="fold the graph above N values (default 500)",
    )
    g.add_argument(
        "--color",
        choices=("grad", "data"),
        help="colour every value by the size of its gradient (grad: flags vanishing and "
        "exploding gradients) or of its data (data: also saturated and dead activations)",
    )
    g.add_argument(
        "--depth",
        type=_depth,
        metavar="K",
        help="draw modules nested deeper than K as one box each (for expressions, which "
        "use no modules, it changes nothing)",
    )
    g.add_argument(
        "--timeout",
        type=_positive_float,
        default=TIMEOUT,
        metavar="SECONDS",
        help=f"stop Graphviz if it has not drawn the graph after SECONDS (default {TIMEOUT:g})",
    )
    g.add_argument(
        "--allow-nonfinite",
        action="store_true",
        help="draw NaN/inf values (in red) instead of refusing them",
    )
    g.set_defaults(run=_cmd_graph)

    d = sub.add_parser(
        "grad",
        help="print the value and every partial derivative of an expression",
        description="Print the value of an expression and its partial derivatives.",
        epilog=_GRAD_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    d.add_argument("expr", metavar="EXPR", help=_EXPR_HELP)
    d.add_argument("values", metavar="NAME=VALUE", nargs="*", help=_VARS_HELP)
    d.add_argument(
        "--check",
        action="store_true",
        help="check the gradients against finite differences (gradcheck) and print its report",
    )
    d.add_argument(
        "--hessian",
        action="store_true",
        help="also print the second derivatives (autograd_lite.hessian)",
    )
    d.set_defaults(run=_cmd_grad)

    m = sub.add_parser(
        "demo",
        help="train a digits MLP, draw its graph and gradcheck a layer, in a few seconds",
        description="The main demo: train, see the graph, check the gradients.",
        epilog=_DEMO_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    m.add_argument(
        "-o",
        "--out",
        metavar="DIR",
        default="autograd_lite_demo",
        help="folder for the loss curve and the graph (default ./autograd_lite_demo)",
    )
    m.add_argument(
        "--epochs", type=_positive_int, default=15, metavar="N", help="epochs (default 15)"
    )
    m.add_argument("--quick", action="store_true", help="2 epochs, for a smoke test")
    m.set_defaults(run=lambda args: demo(args))
    return parser


def _at_least(low: int) -> Callable[[str], int]:
    """An argparse type: a whole number >= ``low``."""

    def whole_number(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {n}")
        return n

    return whole_number


_depth = _at_least(0)
_positive_int = _at_least(1)


def _positive_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not (x > 0 and math.isfinite(x)):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text!r}")
    return x


def parse_assignments(items: Sequence[str]) -> dict[str, float]:
    """``["x=2", "w=-3"]`` -> ``{"x": 2.0, "w": -3.0}``; raises UsageError on bad input."""
    values: dict[str, float] = {}
    for item in items:
        name, sep, text = item.partition("=")
        name = normalize_name(name.strip())
        if not sep:
            raise UsageError(f"expected NAME=VALUE, got {item!r} (quote the whole expression)")
        if not name.isidentifier() or keyword.iskeyword(name):
            raise UsageError(f"{name!r} in {item!r} is not a valid variable name")
        if name in FUNCTIONS:
            raise UsageError(f"{name!r} is a function, it cannot be a variable")
        if name in values:
            raise UsageError(f"{name} is given twice")
        try:
            x = float(text.strip())
        except ValueError:
            raise UsageError(f"the value of {name} must be a number, got {text!r}") from None
        if not math.isfinite(x):
            raise UsageError(f"the value of {name} must be finite, got {text!r}")
        values[name] = x
    return values


def _evaluate(args: argparse.Namespace, *, strict: bool = True, label_nodes: bool = False):
    expression = parse(args.expr)
    values = parse_assignments(args.values)
    ev = expression.evaluate(values, label_nodes=label_nodes, strict=strict)
    try:
        ev.backward(strict=strict)
    except ExpressionError as e:
        if strict:
            raise
        # the engine stopped part-way (e.g. a division by zero in a scalar backward rule):
        # draw what there is, and say so
        print(f"{PROG}: warning: {e}; some gradients are missing", file=sys.stderr)
    unused = [n for n in values if n not in expression.variables]
    return expression, values, ev, unused


def _fmt(x: Any) -> str:
    x = x.data if isinstance(x, Value) else x
    return f"{float(x):.10g}"


# ------------------------------------------------------------------------ commands


def _need_stdout() -> None:
    """Refuse to run a command whose result goes to stdout when there is none."""
    if sys.stdout is None or getattr(sys.stdout, "closed", False):
        raise CommandError("standard output is closed: nowhere to print the result")


def _cmd_grad(args: argparse.Namespace) -> int:
    _need_stdout()
    expression, values, ev, _ = _evaluate(args)
    print(f"{expression.text.strip()} = {_fmt(ev.root.data)}")
    names = [n for n in values] + [n for n in expression.variables if n not in values]
    names = [n for n in names if n not in CONSTANTS or n in values]
    if not names:
        print("(no variables: nothing to differentiate)")
        return 0
    width = max(len(n) for n in names) + 3
    for n in names:
        v = ev.inputs.get(n)
        grad = 0.0 if v is None or v.grad is None else v.grad
        print(f"{'d/d' + n:<{width}} = {_fmt(grad)}")

    def f(*xs: Value) -> Value:  # gradcheck perturbs the Values it is given
        return expression.evaluate(dict(zip(names, xs)), strict=False).root

    if args.hessian:
        from autograd_lite.transforms import hessian

        try:
            H = hessian(f, tuple(values[n] for n in names))
        except ExpressionError:
            raise
        except (ArithmeticError, ValueError, TypeError) as e:
            raise CommandError(f"the Hessian could not be computed: {e}") from None
        pairs = [(i, j) for i in range(len(names)) for j in range(i, len(names))]
        labels = [f"d2/d{names[i]} d{names[j]}" for i, j in pairs]
        width = max(map(len, labels), default=0)  # once: n^2 labels
        for (i, j), label in zip(pairs, labels):
            print(f"{label:<{width}} = {_fmt(H[i][j])}")
    if not args.check:
        return 0

    inputs = [Value(values[n], name=n) for n in names]
    try:
        result = gradcheck(f, inputs, allow_unused=True, raise_exception=False)
    except ExpressionError:
        raise
    except (ArithmeticError, ValueError, TypeError) as e:
        raise CommandError(f"the gradient check could not run: {e}") from None
    print()
    print(result)
    if not result:
        failed = [c.name for c in result.failures] or ["the expression"]
        raise CommandError(
            "gradient check failed for "
            + ", ".join(failed)
            + ": backprop and finite differences disagree (the report is above)"
        )
    return 0


def _cmd_graph(args: argparse.Namespace) -> int:
    with render.time_limit(args.timeout):
        return _draw(args)


def _draw(args: argparse.Namespace) -> int:
    out, fmt = args.output, args.format or "svg"
    if out is None:
        out = f"graph.{fmt}"
    elif out != "-":
        try:  # one table of suffixes, viz's; never one format under another's suffix
            fmt = output_format(out, args.format)
        except ValueError as e:
            raise UsageError(f"-o {e}") from None
    expression, _values, ev, _ = _evaluate(args, strict=not args.allow_nonfinite, label_nodes=True)
    graph = draw_graph(
        ev.root,
        format="svg" if fmt in ("dot", "html") else fmt,
        rankdir=args.rankdir,
        max_nodes=args.max_nodes,
        color=args.color,
        depth=args.depth,
    )
    if fmt != "dot":
        _check_layout_time(graph.source, args.timeout)
    info = sys.stderr if out == "-" else sys.stdout
    if out == "-":
        _need_stdout()
    print(f"{expression.text.strip()} = {_fmt(ev.root.data)}", file=info)
    if out == "-":
        if fmt == "dot":
            data = graph.source.encode("utf-8")
        elif fmt == "html":
            data = _page(graph)
        else:
            data = _render(graph, fmt)
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    _save(graph, out, fmt)
    print(f"wrote {out} ({fmt})", file=info)
    return 0


def _check_layout_time(source: str, seconds: float) -> None:
    """Refuse, at once, a graph whose layout cannot finish in time (see render.long_edges)."""
    skipped = render.long_edges(source)
    if skipped > LONG_EDGES_PER_SECOND * seconds:
        raise CommandError(
            f"the graph is too tangled for Graphviz to lay out within {seconds:g} s (--timeout): "
            f"its edges skip {skipped} ranks (a value used by many later operations); nothing "
            "was written. Fold it (e.g. --max-nodes 50) or allow more time (--timeout)"
        )


def _render(graph: graphviz.Digraph, fmt: str) -> bytes:
    with _render_errors():
        return graph.pipe(format=fmt)


def _page(graph: graphviz.Digraph) -> bytes:
    from autograd_lite.viz.html import page

    with _render_errors():
        return page(graph).encode("utf-8")


@contextlib.contextmanager
def _render_errors(path: str = "-") -> Any:
    """Graphviz's failures as one-line CommandErrors."""
    try:
        yield
    except GraphvizNotFoundError as e:
        raise CommandError(f"{e}") from None
    except graphviz.CalledProcessError as e:
        raise CommandError(f"Graphviz failed: {_first_line(e.stderr)}") from None
    except render.RenderTimeoutError:
        limit = render.timeout()
        raise CommandError(
            f"Graphviz did not finish drawing the graph within {limit:g} s (--timeout) and was "
            "stopped; nothing was written. Fold it (e.g. --max-nodes 50) or allow more time "
            "(e.g. --timeout 60)"
        ) from None
    except ValueError as e:  # from render: a format that writes more than one file
        if path == "-":
            raise CommandError(f"cannot write to standard output: {e}") from None
        raise


def _save(graph: graphviz.Digraph, path: str, fmt: str) -> None:
    try:
        with _render_errors(path):
            save_graph(graph, path, fmt)
    except (OSError, ValueError) as e:  # from atomic_write: a folder, FIFO, device, ...
        reason = str(e).removeprefix("save_graph: ") if e.args else str(e)
        if isinstance(e, OSError) and e.strerror:
            reason = e.strerror
        raise CommandError(f"cannot write {path}: {reason}") from None


def _first_line(err: Any) -> str:
    if isinstance(err, bytes):
        err = err.decode("utf-8", "replace")
    lines = [ln for ln in str(err or "").splitlines() if ln.strip()]
    return lines[0] if lines else "unknown error"


def demo(args: argparse.Namespace) -> int:
    """The main demo (:mod:`autograd_lite.cli.demo`): train, draw, gradcheck."""
    # the submodule by its full name: the package's attribute "demo" is this function
    from autograd_lite.cli.demo import DemoError, run

    try:
        return run(args.out, 2 if args.quick else args.epochs)
    except DemoError as e:
        raise CommandError(str(e)) from None
    except OSError as e:
        raise CommandError(f"cannot write into {args.out}: {e.strerror or e}") from None


# ---------------------------------------------------------------------------- main

_EXPR_COMMANDS = ("graph", "grad")
_PLACEHOLDER = "EXPR"  # what argparse sees in EXPR's place


def _take_expression(argv: list[str]) -> tuple[list[str], str | None]:
    """Take EXPR out of a ``graph``/``grad`` command line before argparse reads it.

    EXPR is always the first argument after the command, even when it starts with "-"
    ("-x*y", "-h*x", "-ox"), which argparse would read as options. Exceptions: "-h" or
    "--help" alone asks for help, and a "--" first is skipped (EXPR is the next one).
    Returns the arguments for argparse (a placeholder in EXPR's place) and EXPR.
    """
    if len(argv) < 2 or argv[0] not in _EXPR_COMMANDS:
        return argv, None
    command, rest = argv[0], argv[1:]
    if rest[0] == "--":
        rest = rest[1:]
    elif rest == ["-h"] or rest[0] == "--help":
        return argv, None
    if not rest:
        return [command], None  # argparse says EXPR is missing
    return [command, _PLACEHOLDER, *rest[1:]], rest[0]


def _tolerant_output() -> None:
    """Never fail on printing: characters the terminal's encoding lacks (x·y under
    PYTHONIOENCODING=ascii, say) are written as backslash escapes."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            with contextlib.suppress(OSError, ValueError):  # closed or unusual: leave it be
                reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 math/run error, 2 usage)."""
    _tolerant_output()
    parser = build_parser()
    expr = None
    try:
        argv = list(sys.argv[1:] if argv is None else argv)
        argv, expr = _take_expression(argv)
        args, extras = parser.parse_known_args(argv)
        if expr is not None:
            args.expr = expr
        # NAME=VALUE may also follow options: "grad EXPR --check x=1"
        loose = [a for a in extras if not a.startswith("-") and "=" in a]
        if loose and hasattr(args, "values"):
            args.values = list(args.values) + loose
            extras = [a for a in extras if a not in loose]
        if extras:
            parser.error("unrecognized arguments: " + " ".join(extras))
        if getattr(args, "run", None) is None:
            parser.print_help(sys.stderr)
            return 2
        status = int(args.run(args) or 0)
        if sys.stdout is not None:
            sys.stdout.flush()  # a full disk (> /dev/full) fails here, not at exit
        return status
    except (ExpressionError, UsageError, CommandError) as e:
        message = str(e)
        if e.exit_code == 2 and expr is not None and expr.startswith("-"):
            message += (
                f" (EXPR is always the first argument after the command: {expr!r} was read "
                "as the expression; options go after it)"
            )
        _error(message)
        return e.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # e.g. piped into `head`
        _silence_stdout()
        return 1
    except OSError as e:  # writing the output failed: ENOSPC (> /dev/full), EIO, ...
        _silence_stdout()
        _error(f"cannot write the output to standard output: {e.strerror or e}")
        return 1
    except Exception as e:  # never a traceback on the command line
        _error(f"internal error (please report it): {type(e).__name__}: {e}")
        return 1


def _silence_stdout() -> None:
    """Point stdout at the null device, so that the flush at exit cannot fail again."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _error(message: str) -> None:
    message = " ".join(message.split())  # always one line
    print(f"{PROG}: error: {message}", file=sys.stderr)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
