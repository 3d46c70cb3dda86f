"""Library and user frames: :class:`CompileError`, which frames are autograd_lite's or nn's
(and, among them, the engine's, whose reads of traced data a plan replays), and the user's
line an error names.
"""

from __future__ import annotations

import linecache
import sys
import types
from typing import Any

__all__ = ["CompileError"]


class CompileError(RuntimeError):
    """Something a compiled plan could not replay faithfully; the message names your line."""

    __module__ = "autograd_lite.compile"  # in tracebacks as where it is imported from


LIBRARY = ("autograd_lite", "nn")
ENGINE = frozenset(
    {
        "autograd_lite.core.op",  # apply/record/vjp: what they read is replayed by the plan
        "autograd_lite.core.value",  # shape, dtype, size, ndim, repr
        "autograd_lite.core.function",  # Function.apply: replayed with a fresh Context
        "autograd_lite.core.modes",  # anomaly checks
        # this package, every module by its __name__ (a test checks none is missing)
        "autograd_lite.compile",
        "autograd_lite.compile.api",
        "autograd_lite.compile.build",
        "autograd_lite.compile.codegen",
        "autograd_lite.compile.frames",
        "autograd_lite.compile.guards",
        "autograd_lite.compile.plan",
        "autograd_lite.compile.recheck",
        "autograd_lite.compile.step",
        "autograd_lite.compile.steptrace",
        "autograd_lite.compile.templates",
        "autograd_lite.compile.trace",
    }
)
_is_library_cache: dict[str, bool] = {}
LIBRARY_CODE: dict[types.CodeType, bool] = {}


def is_library(module: Any) -> bool:
    hit = _is_library_cache.get(module)
    if hit is None:
        hit = isinstance(module, str) and module.split(".", 1)[0] in LIBRARY
        _is_library_cache[module] = hit
    return hit


def user_frame(depth: int = 2) -> types.FrameType | None:
    """The innermost frame outside autograd_lite and nn, from ``depth`` frames up."""
    f: types.FrameType | None = sys._getframe(depth)
    while f is not None and is_library(f.f_globals.get("__name__")):
        f = f.f_back
    return f


Site = tuple[str, int, str]


def site_of(f: types.FrameType | None) -> Site | None:
    return None if f is None else (f.f_code.co_filename, f.f_lineno, f.f_code.co_name)


def describe_site(site: Site | None) -> str:
    if site is None:
        return "an unknown line"
    file, line, _ = site
    src = linecache.getline(file, line).strip()
    return f"{file}:{line}" + (f": {src}" if src else "")
