""":class:`GraphDrawing`, the ``graphviz.Digraph`` that ``draw_graph`` returns, and its formats.

Building the DOT text needs no Graphviz binary; rendering it (``.pipe()``, ``.render()``,
Jupyter display) uses the system's ``dot``, else the ``graphviz-pure`` program
(:mod:`autograd_lite.viz.render`), and otherwise raises :class:`GraphvizNotFoundError`,
which says how to install Graphviz (:data:`INSTALL_HINT`). :data:`SUFFIX_FORMATS` is the
table of file suffixes and the formats they name.
"""

from __future__ import annotations

import base64
import os
from collections.abc import Iterable
from typing import Any

import graphviz  # type: ignore[import-untyped]  # graphviz ships no types (no py.typed)

from autograd_lite.files import atomic_write
from autograd_lite.viz import render

__all__ = ["INSTALL_HINT", "SUFFIX_FORMATS", "GraphDrawing", "GraphvizNotFoundError"]

INSTALL_HINT = (
    "install Graphviz (the Python package alone is not enough, it runs the 'dot' program): "
    "Debian/Ubuntu 'sudo apt-get install graphviz', macOS 'brew install graphviz', "
    "conda 'conda install -c conda-forge graphviz', Windows 'winget install graphviz' "
    "(then add its bin folder to PATH), or 'pip install graphviz-pure' for svg, png and "
    "jpg; the DOT text (to_dot(), .source, 'autograd-lite graph --format dot') needs no "
    "Graphviz"
)

_SHORT_HINT = (
    "sudo apt-get install graphviz (macOS: brew install graphviz; conda: conda install -c "
    "conda-forge graphviz; Windows: winget install graphviz)"
)


# ------------------------------------------------------------------------ errors


class GraphvizNotFoundError(graphviz.ExecutableNotFound):
    """Rendering needs the Graphviz ``dot`` program, and it is not on PATH.

    A subclass of ``graphviz.ExecutableNotFound`` (so existing handlers still catch it)
    whose message says how to install Graphviz.
    """

    def __init__(self, program: str = "dot", note: str = "") -> None:
        if note:  # graphviz-pure is there but cannot write the format (pdf): one line, one fix
            message = f"cannot render: {note}install Graphviz's dot program: {_SHORT_HINT}"
        else:
            message = (
                f"cannot render: Graphviz's {program!r} program was not found on PATH; "
                + INSTALL_HINT
            )
        RuntimeError.__init__(self, message)


def _friendly(e: graphviz.exceptions.ExecutableNotFound) -> GraphvizNotFoundError:
    if isinstance(e, GraphvizNotFoundError):
        return e
    msg = str(e)
    program = msg.split("'")[1] if msg.count("'") >= 2 else "dot"
    return GraphvizNotFoundError(program)


def pipe_source(graph: graphviz.Digraph, format: str, **kwargs: Any) -> bytes:
    """``graph`` rendered as ``format`` by the system's dot, else by graphviz-pure."""
    prog = render.program(format)
    if prog is None:
        raise GraphvizNotFoundError("dot", render.missing_note(format))
    engine = kwargs.pop("engine", None) or graph.engine or "dot"
    source = graph.source.encode(graph.encoding or "utf-8")
    if prog[0] == "dot":  # through render: bounded in time, in a temporary folder
        for attr in ("renderer", "formatter"):  # as graphviz's pipe: the graph's own
            if kwargs.get(attr) is None:
                kwargs[attr] = getattr(graph, attr, None)
        try:
            return render.run_dot(prog[1], source, format, engine, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None
    return render.run_graphviz_pure(prog[1], source, format, engine)


_MIME = {"svg": "image/svg+xml", "png": "image/png", "jpg": "image/jpeg", "pdf": "application/pdf"}


class GraphDrawing(graphviz.Digraph):
    """The ``graphviz.Digraph`` returned by :func:`draw_graph`.

    Exactly a Digraph (``.source``, ``.pipe()``, ``.render()``, Jupyter display), except
    that rendering falls back to ``graphviz-pure`` when the system has no ``dot``, a
    missing renderer raises :class:`GraphvizNotFoundError` with install instructions
    instead of a bare ``ExecutableNotFound``, and Jupyter shows it in its own ``format``
    (``draw_graph(v, format="png")`` displays a PNG).
    """

    _meta: dict[str, Any] | None = None  # what the interactive page needs (draw_graph)

    def pipe(
        self,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: bool | int | None = None,
        quiet: bool = False,
        *,
        engine: str | None = None,
        encoding: str | None = None,
    ) -> Any:
        fmt = format or self.format or "svg"
        extra = {"renderer": renderer, "formatter": formatter, "neato_no_op": neato_no_op}
        kwargs = {k: v for k, v in extra.items() if v is not None}
        if engine is not None:
            kwargs["engine"] = engine
        data = pipe_source(self, fmt, quiet=quiet, **kwargs)
        return data.decode(encoding) if encoding is not None else data

    def render(self, *args: Any, **kwargs: Any) -> Any:
        fmt = kwargs.get("format") or self.format or "svg"
        prog = render.program(fmt)
        if prog is None:
            raise GraphvizNotFoundError("dot", render.missing_note(fmt))
        return self._render_piped(*args, **kwargs)

    def _render_piped(
        self,
        filename: Any = None,
        directory: Any = None,
        view: bool = False,
        cleanup: bool = False,
        format: str | None = None,
        renderer: str | None = None,
        formatter: str | None = None,
        neato_no_op: Any = None,
        quiet: bool = False,
        quiet_view: bool = False,
        *,
        outfile: Any = None,
        engine: str | None = None,
        raise_if_result_exists: bool = False,
        overwrite_source: bool = False,
    ) -> str:
        """``render()`` through :meth:`pipe` (system dot or graphviz-pure): the same files as
        Graphviz's would be, the render bounded in time (:mod:`~autograd_lite.viz.render`)
        and the result written atomically, one file and no other."""
        fmt = format or self.format or "svg"
        if filename is not None:  # as graphviz's save(): the names are kept for next time
            self.filename = filename
        if directory is not None:
            self.directory = directory
        source_path = self.filepath  # written as every file here is: never into a FIFO,
        source = self.source.encode(self.encoding)  # a device or a folder, no debris
        atomic_write(source_path, lambda f: f.write(source), who="render")
        out = os.fspath(outfile) if outfile is not None else f"{source_path}.{fmt}"
        if raise_if_result_exists and os.path.exists(out):
            raise FileExistsError(f"output file exists: {out!r}")
        data = self.pipe(format=fmt, engine=engine)
        atomic_write(out, lambda f: f.write(data), who="render")
        if cleanup:
            os.remove(source_path)
        if view or quiet_view:
            self._view(out, format=fmt, quiet=quiet_view)
        return out

    def unflatten(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().unflatten(*args, **kwargs)
        except graphviz.ExecutableNotFound as e:
            raise _friendly(e) from None

    def _repr_mimebundle_(
        self,
        include: Iterable[str] | None = None,
        exclude: Iterable[str] | None = None,
        **_: Any,
    ) -> dict[str, Any]:
        """Jupyter's display: the drawing in its own format (svg, png, jpg or pdf).

        Binary formats are base64 text, as notebooks store them; a pdf comes with an
        SVG for the frontends that cannot show a pdf.
        """
        fmt = canonical_format(self.format or "svg")
        wanted = [_MIME.get(fmt, "image/svg+xml")]
        if fmt == "pdf":
            wanted.append("image/svg+xml")
        if include is not None:
            wanted = [m for m in _MIME.values() if m in set(include)]
        if exclude is not None:
            wanted = [m for m in wanted if m not in set(exclude)]
        by_mime = {m: f for f, m in _MIME.items()}
        bundle: dict[str, Any] = {}
        for mime in wanted:
            data = self.pipe(format=by_mime[mime])
            if mime == "image/svg+xml":
                bundle[mime] = data.decode("utf-8")
            else:
                bundle[mime] = base64.b64encode(data).decode("ascii")
        return bundle


SUFFIX_FORMATS: dict[str, str] = {
    ".svg": "svg",
    ".png": "png",
    ".pdf": "pdf",
    ".dot": "dot",
    ".gv": "dot",
    ".jpg": "jpg",
    ".jpeg": "jpg",
    ".jpe": "jpg",
    ".html": "html",
}
"""File suffixes and the format each one names: the one table behind :func:`save_graph`
and ``autograd-lite graph -o``. Any other suffix that is a Graphviz output format
(``.gif``, ``.svgz``, ``.ps``...) names that format; "dot" is the DOT text itself;
"html" is the interactive page (:mod:`autograd_lite.viz.html`)."""


def canonical_format(format: str) -> str:
    format = format.lower()
    return SUFFIX_FORMATS.get("." + format, format)
