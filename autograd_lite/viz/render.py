"""Which program turns DOT text into pictures: Graphviz's ``dot``, else ``graphviz-pure``.

Rendering prefers the system's Graphviz ``dot`` (found on PATH, as the ``graphviz``
package finds it): it writes every format, PDF included. Without it, the
``graphviz-pure`` wheel (a dependency of autograd-lite: a self-contained port of ``dot``
to Rust, installed as the program ``graphviz-pure``) renders SVG, PNG and JPEG, so that
``pip install autograd-lite`` alone is enough for pictures. It is found through its
package's installed files first (so a PATH without the virtualenv's ``bin`` still finds
it), then on PATH.

``AUTOGRAD_LITE_DOT`` chooses: ``auto`` (the default: dot, else graphviz-pure),
``dot`` (the system dot only) or ``graphviz-pure`` (graphviz-pure only).

What graphviz-pure 0.2.2 does differently (measured on every drawing of the test suite,
see ``docs/graphs.md``): no PDF or PostScript; a bitmap is never scaled down by itself
(a 500-value chain asked for a 176,000-pixel-wide PNG and ran out of memory), so every
bitmap is rendered with ``-Gsize`` capping it at :data:`MAX_BITMAP_INCHES` (the
largest side ``dot``'s Cairo renderer draws), and the program runs under a memory
limit; non-ASCII characters are measured as a space (a box holding a multiplication
sign is a little narrow). It lays out large graphs much faster than Graphviz 2.43
(3,000 values: 3.4 s against 42 s).

Every run of either program is bounded: it gets :func:`timeout` seconds (default
:data:`DEFAULT_TIMEOUT`; change it for a block with :func:`time_limit`) and is killed
past them, raising :class:`RenderTimeoutError` (a ``TimeoutError``, so an OSError);
dot's layout time can explode on small graphs (a 60-term ``x+x+...+x`` ran for
minutes). It also runs under a memory limit and in a fresh temporary folder, as its
working directory: a format that writes more files than its output (``vrml`` writes
``node1.png``...) is refused with ValueError, and nothing lands in the caller's folder.
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from typing import Any

import graphviz  # type: ignore[import-untyped]  # graphviz ships no types (no py.typed)

__all__ = [
    "DEFAULT_TIMEOUT",
    "ENV",
    "MAX_BITMAP_INCHES",
    "PURE_FORMATS",
    "RenderTimeoutError",
    "graphviz_pure",
    "long_edges",
    "program",
    "run_dot",
    "run_graphviz_pure",
    "system_dot",
    "time_limit",
    "timeout",
]

ENV = "AUTOGRAD_LITE_DOT"
PURE_FORMATS = frozenset(
    ["svg", "png", "jpg", "jpeg", "jpe", "dot", "gv", "xdot", "canon", "json", "plain"]
)
"""The output formats graphviz-pure writes (no pdf, ps, gif, svgz...)."""
_BITMAPS = frozenset({"png", "jpg", "jpeg", "jpe"})
MAX_BITMAP_INCHES = 340  # 32,640 pixels at Graphviz's 96 dpi, as Cairo's limit
_MEMORY_LIMIT = 6 << 30  # bytes of address space for a renderer run (POSIX)
DEFAULT_TIMEOUT = 60.0
"""Seconds a renderer may run before it is killed (:func:`time_limit` changes it). Large
enough for the biggest bitmap on a busy machine; the command line uses 10 s."""
_timeout: contextvars.ContextVar[float | None] = contextvars.ContextVar(
    "autograd_lite_render_timeout", default=DEFAULT_TIMEOUT
)


class RenderTimeoutError(TimeoutError):
    """The renderer did not finish within the time limit and was killed."""


_EDGE = re.compile(r"^\s*(\S+)\s*->\s*(\S+)", re.MULTILINE)


def long_edges(source: str) -> int:
    """How many ranks the edges of the DOT text ``source`` skip, as ``dot`` would rank it
    (an estimate: longest-path ranks, a node without inputs just before its first
    consumer): sum over edges (u, v) of rank(v) - rank(u) - 1.

    Each skipped rank is a virtual node that ``dot``'s layout must place: a chain has
    none, but ``x+x+...+x`` with n terms has about n**2 / 4, and dot's time explodes past
    a few thousand (40 terms: 1,482 and 1 s; 60 terms: 3,422 and more than 30 s).
    """
    succ: dict[str, list[str]] = {}
    preds: dict[str, int] = {}
    for a, b in _EDGE.findall(source):
        succ.setdefault(a, []).append(b)
        succ.setdefault(b, [])
        preds[b] = preds.get(b, 0) + 1
        preds.setdefault(a, 0)
    has_inputs = {n for n, k in preds.items() if k}
    rank = dict.fromkeys(succ, 0)
    left = dict(preds)
    todo = [n for n, k in preds.items() if k == 0]
    while todo:  # Kahn's order; a cycle (not drawn by us) just stops the walk
        n = todo.pop()
        step = rank[n] + 1 if n in has_inputs else 1
        for m in succ[n]:
            rank[m] = max(rank[m], step)
            left[m] -= 1
            if left[m] == 0:
                todo.append(m)
    for n in succ:
        if n not in has_inputs and succ[n]:
            rank[n] = min(rank[m] for m in succ[n]) - 1
    return sum(max(rank[b] - rank[a] - 1, 0) for a, bs in succ.items() for b in bs)


def timeout() -> float | None:
    """The time limit of a render in seconds, here and now (None: no limit)."""
    return _timeout.get()


@contextlib.contextmanager
def time_limit(seconds: float | None) -> Iterator[None]:
    """Renders inside the block get ``seconds`` each (None: no limit)."""
    if seconds is not None and not seconds > 0:
        raise ValueError(f"time_limit: expected a positive number of seconds, got {seconds!r}")
    token = _timeout.set(seconds)
    try:
        yield
    finally:
        _timeout.reset(token)


def system_dot() -> str | None:
    """The path of Graphviz's ``dot`` on PATH, or None."""
    return shutil.which("dot")


def graphviz_pure() -> str | None:
    """The path of the ``graphviz-pure`` program: from its installed package, else PATH."""
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("graphviz-pure")
        for f in dist.files or ():
            if f.name in ("graphviz-pure", "graphviz-pure.exe"):
                path = os.path.normpath(str(dist.locate_file(f)))
                if os.path.isfile(path) and os.access(path, os.X_OK):
                    return path
    return shutil.which("graphviz-pure")


def _choice() -> str:
    choice = os.environ.get(ENV, "auto").strip().lower() or "auto"
    if choice not in ("auto", "dot", "graphviz-pure"):
        raise ValueError(f"{ENV}={choice!r}: expected auto, dot or graphviz-pure")
    return choice


def program(format: str) -> tuple[str, str] | None:
    """``("dot", path)`` or ``("graphviz-pure", path)``: the program to render ``format``.

    None when neither can: no ``dot``, and graphviz-pure is missing, excluded by
    ``AUTOGRAD_LITE_DOT``, or does not write ``format`` (pdf).
    """
    choice = _choice()
    if choice != "graphviz-pure":
        dot = system_dot()
        if dot is not None:
            return "dot", dot
        if choice == "dot":
            return None
    if format.lower() not in PURE_FORMATS:
        return None
    pure = graphviz_pure()
    return None if pure is None else ("graphviz-pure", pure)


def missing_note(format: str) -> str:
    """Why nothing can render ``format``, for the error message ("" when unknown)."""
    if _choice() != "dot" and format.lower() not in PURE_FORMATS and graphviz_pure():
        return (
            f"graphviz-pure (installed) cannot write {format}, only "
            + ", ".join(sorted(_BITMAPS | {"svg"}))
            + f"; for {format} "
        )
    return ""


def _limit_memory() -> None:  # pragma: no cover - runs in the child process
    import resource

    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (_MEMORY_LIMIT, _MEMORY_LIMIT))


def run_graphviz_pure(path: str, source: bytes, format: str, engine: str = "dot") -> bytes:
    """``source`` rendered by graphviz-pure at ``path`` as ``format``; bitmaps are capped.

    Raises ``graphviz.CalledProcessError`` (as the ``graphviz`` package does for ``dot``)
    when the program fails, :class:`RenderTimeoutError` past :func:`timeout`.
    """
    args = [path, f"-K{engine}", f"-T{format}"]
    if format.lower() in _BITMAPS:
        args.append(f"-Gsize={MAX_BITMAP_INCHES},{MAX_BITMAP_INCHES}")
    return _run(args, source, "graphviz-pure", format, quiet=True)


def run_dot(
    path: str,
    source: bytes,
    format: str,
    engine: str = "dot",
    *,
    renderer: str | None = None,
    formatter: str | None = None,
    neato_no_op: bool | int | None = None,
    quiet: bool = False,
) -> bytes:
    """``source`` rendered by Graphviz's ``dot`` at ``path``, as ``graphviz``'s ``pipe``
    would (the same command line), but within :func:`timeout` and in a temporary folder.

    Raises ``graphviz.CalledProcessError`` when dot fails, ``graphviz.ExecutableNotFound``
    when it is gone, :class:`RenderTimeoutError` past the time limit.
    """
    # graphviz ships no types (no py.typed)
    from graphviz.backend.dot_command import command  # type: ignore[import-untyped]

    args = [
        path,
        *map(
            str,
            command(
                engine, format, renderer=renderer, formatter=formatter, neato_no_op=neato_no_op
            )[1:],
        ),
    ]
    return _run(args, source, "Graphviz's dot", format, quiet=quiet)


def _run(args: Sequence[str], source: bytes, name: str, format: str, *, quiet: bool) -> bytes:
    """Run a renderer: bounded in time and memory, in a fresh folder; its output, stdout."""
    limit = timeout()
    extra: dict[str, Any] = {}
    if os.name == "posix" and sys.platform != "darwin":
        extra["preexec_fn"] = _limit_memory
    with tempfile.TemporaryDirectory(prefix="autograd-lite-render-") as folder:
        try:
            proc = subprocess.run(
                list(args),
                input=source,
                capture_output=True,
                timeout=limit,
                check=False,
                cwd=folder,
                **extra,
            )
        except subprocess.TimeoutExpired:  # subprocess.run has killed it
            raise RenderTimeoutError(
                f"{name} did not finish drawing the graph within {limit:g} s and was stopped; "
                "draw fewer values (max_nodes, --max-nodes) or allow more time "
                "(autograd_lite.viz.render.time_limit, --timeout)"
            ) from None
        except FileNotFoundError:
            raise graphviz.ExecutableNotFound(args) from None
        debris = sorted(os.listdir(folder))
    if proc.returncode != 0:
        raise graphviz.CalledProcessError(
            proc.returncode, list(args), output=proc.stdout, stderr=proc.stderr
        )
    if debris:
        shown = ", ".join(debris[:3]) + (", ..." if len(debris) > 3 else "")
        raise ValueError(
            f"the {format} format writes {len(debris)} more file(s) besides its output "
            f"({shown}); only formats that write one file are supported"
        )
    if not quiet and proc.stderr:
        sys.stderr.write(proc.stderr.decode("utf-8", "replace"))
    return proc.stdout
