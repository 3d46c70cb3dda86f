"""Per-thread switches: whether operations record a graph, and anomaly detection.

``no_grad``/``enable_grad``/``set_grad_enabled`` turn recording off and on;
``detect_anomaly`` makes every operation check its result for NaN and infinity and
remembers, on each node it makes, the line of user code that made it.
"""

from __future__ import annotations

import functools
import linecache
import math
import os
import sys
import threading
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "AnomalyError",
    "creation_site",
    "detect_anomaly",
    "enable_grad",
    "assigned",
    "noted",
    "read_live_only",
    "replayed",
    "is_finite",
    "is_grad_enabled",
    "no_grad",
    "set_grad_enabled",
]


class _Mode(threading.local):
    grad_enabled = True
    anomaly = False  # record creation sites (detect_anomaly is on)
    check_nan = False  # ... and raise at the first non-finite number
    tracer: Any = None  # autograd_lite.compile's tracer, while it traces in this thread
    observers: tuple = ()  # called as observer(node, op, inputs, params, datas) per record


state = _Mode()
"""This thread's switches. Read by the recorder and the backward walk."""


class _Open:
    """Counters of open blocks, summed in ``hooks`` (what the recorder tests first)."""

    __slots__ = ("_anomaly", "_traces", "_observers", "hooks")
    _anomaly: int
    _traces: int
    _observers: int
    hooks: int

    def _counter(slot: str) -> property:  # type: ignore[misc]
        def get(self: _Open) -> int:
            return getattr(self, slot)

        def set_(self: _Open, n: int) -> None:
            setattr(self, slot, n)
            self.hooks = self._anomaly + self._traces + self._observers

        return property(get, set_)

    anomaly_blocks = _counter("_anomaly")  # detect_anomaly blocks
    traces = _counter("_traces")  # autograd_lite.compile traces
    observers = _counter("_observers")  # record observers (forward mode, checkpoint)
    del _counter


open_blocks = _Open()
"""How many detect_anomaly blocks, compile traces and record observers are open in any
thread: the recorder tests the plain attribute ``hooks`` (their sum) once and reads the
slower thread-local ``state`` only when one is open (it saves about 5% of recording a
scalar op)."""
open_blocks._anomaly = open_blocks._traces = open_blocks._observers = open_blocks.hooks = 0


_F = TypeVar("_F", bound=Callable[..., Any])


def replayed(changes: str) -> Callable[[_F], _F]:
    """Mark a library call that changes state outside the graph (``changes``: "data" for an
    optimizer's step, "grad" for zero_grad and clipping, "state" for a schedule): inside a
    compiled function it is recorded, run, and run again at every replay, reading its
    state live (see docs/compile.md, "The whole training step")."""

    def mark(fn: _F) -> _F:
        @functools.wraps(fn)
        def call(*args: Any, **kwargs: Any) -> Any:
            tracer = state.tracer
            if tracer is not None and open_blocks.traces:
                return tracer.host(fn, changes, args, kwargs)
            return fn(*args, **kwargs)

        return call  # type: ignore[return-value]  # same signature, by functools.wraps

    return mark


def noted(container: Any, key: Any, value: Any) -> Any:
    """``container[key]``, read as ``value`` by the caller's code: returned as it is, but
    inside a compiled function (not in a replayed call) the read is guarded, so a change
    traces again, or after ``backward()`` it is read live at every replay (an optimizer's
    ``param_groups`` use it: the learning rate a schedule sets)."""
    tracer = state.tracer
    if tracer is not None and open_blocks.traces:
        return tracer.step.note(tracer, container, key, value)
    return value


def read_live_only(owner: Any, what: str) -> None:
    """Refuse reading ``what`` of ``owner`` (an optimizer's state, a schedule's epoch) in
    your code inside a compiled function: only its own replayed calls read it live."""
    tracer = state.tracer
    if tracer is not None and open_blocks.traces and not tracer.step.host_depth:
        tracer.step.refuse_read(owner, what)


def assigned(container: Any, key: Any) -> None:
    """Refuse ``container[key] = ...`` inside a compiled function (it would happen once)."""
    tracer = state.tracer
    if tracer is not None and open_blocks.traces and not tracer.step.host_depth:
        tracer.step.refuse_assignment(container, key)


def is_grad_enabled() -> bool:
    """True when operations record the graph (the default; see :class:`no_grad`)."""
    return state.grad_enabled


class set_grad_enabled:
    """Turn graph recording on or off; usable as a call or as a context manager.

    ``set_grad_enabled(False)`` switches recording off at once; used in a ``with`` block
    it restores the previous mode on exit, exceptions included. The mode is per thread.
    """

    def __init__(self, mode: bool) -> None:
        self._prev = state.grad_enabled
        state.grad_enabled = bool(mode)

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled = self._prev


class no_grad:
    """Context manager and decorator under which operations record no graph.

    Results computed inside are constants (``requires_grad=False``). Nests, restores the
    previous mode on exit (exceptions included) and is per thread.
    """

    _enabled = False

    def __enter__(self) -> None:
        self._prev = state.grad_enabled
        state.grad_enabled = self._enabled

    def __exit__(self, *exc: object) -> None:
        state.grad_enabled = self._prev

    def __call__(self, fn: Callable) -> Callable:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with type(self)():
                return fn(*args, **kwargs)

        return wrapper


class enable_grad(no_grad):
    """Context manager and decorator that turns recording back on inside ``no_grad``."""

    _enabled = True


class observing:
    """Context manager: call ``observer(node, op, inputs, params, datas)`` on every node
    recorded in this thread inside the block (forward mode and checkpoint use it)."""

    def __init__(self, observer: Callable) -> None:
        self.observer = observer

    def __enter__(self) -> observing:
        self._prev = state.observers
        state.observers = (*self._prev, self.observer)
        open_blocks.observers += 1
        return self

    def __exit__(self, *exc: object) -> None:
        open_blocks.observers -= 1
        state.observers = self._prev


# ---------------------------------------------------------------------- anomaly detection


class AnomalyError(FloatingPointError):
    """Raised under :func:`detect_anomaly` when an operation produces NaN or infinity."""


class detect_anomaly:
    """Context manager: raise :class:`AnomalyError` at the first non-finite number.

    Inside the block every operation checks its forward result, and every backward step
    the gradients it produces; the error names the operation, what went wrong and the
    line of your code that created the node. Each node made inside the block remembers
    that line (a few bytes on the node itself, freed with it: memory stays flat over a
    training loop). ``check_nan=False`` only records the lines (as
    :func:`autograd_lite.check_graph` does). Slower: for debugging.
    """

    def __init__(self, check_nan: bool = True) -> None:
        self.check_nan = bool(check_nan)

    def __enter__(self) -> detect_anomaly:
        self._prev = (state.anomaly, state.check_nan)
        state.anomaly, state.check_nan = True, self.check_nan
        open_blocks.anomaly_blocks += 1
        return self

    def __exit__(self, *exc: object) -> None:
        open_blocks.anomaly_blocks -= 1
        state.anomaly, state.check_nan = self._prev


_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the package (autograd_lite.nn inside it) and the nn short name beside it
_LIBRARY_DIRS = tuple(os.path.join(_ROOT, package) + os.sep for package in ("autograd_lite", "nn"))
_SITE_FRAMES = 3


def user_frames() -> tuple[tuple[str, int, str], ...]:
    """The innermost frames of the caller outside this library: (file, line, function)."""
    frames: list[tuple[str, int, str]] = []
    f: FrameType | None = sys._getframe(1)
    while f is not None and len(frames) < _SITE_FRAMES:
        filename = f.f_code.co_filename
        if not os.path.abspath(filename).startswith(_LIBRARY_DIRS):
            frames.append((filename, f.f_lineno, f.f_code.co_name))
        f = f.f_back
    return tuple(frames)


def creation_site(node: Any, frames: int = 1) -> str | None:
    """Where ``node`` was made, as ``file:line in function: source`` (None if unknown).

    Known for nodes made under :class:`detect_anomaly`; ``frames`` > 1 adds the callers.
    """
    site = getattr(node, "_site", None)
    if not site:
        return None
    return " <- ".join(
        f"{file}:{line} in {fn}"
        + (f": {src}" if (src := linecache.getline(file, line).strip()) else "")
        for file, line, fn in site[:frames]
    )


def is_finite(x: Any) -> bool:
    """True when ``x`` (a Value, a float, an array or None) holds no NaN or infinity."""
    d = x if isinstance(x, np.ndarray) else getattr(x, "data", x)  # (an ndarray's .data is
    if d is None:  # its memory buffer: only a Value's is unwrapped)
        return True
    if type(d) is float:
        return math.isfinite(d)
    return bool(np.all(np.isfinite(d)))


def _where(node: Any) -> str:
    return creation_site(node, _SITE_FRAMES) or "unknown place (made outside detect_anomaly)"


def check_forward(op_name: str, node: Any, datas: Sequence[Any]) -> None:
    """Raise :class:`AnomalyError` if the op's result ``node`` is not finite."""
    if is_finite(node.data):
        return
    bad = [i for i, d in enumerate(datas) if not is_finite(d)]
    why = f"its input {bad[0]} was already non-finite" if bad else "all its inputs were finite"
    raise AnomalyError(
        f"detect_anomaly: forward of {op_name!r} produced a non-finite value ({why}); "
        f"made at {_where(node)}"
    )


def check_backward(op_name: str, node: Any, index: int, grad: Any) -> None:
    """Raise :class:`AnomalyError` if the gradient for input ``index`` is not finite."""
    if is_finite(grad):
        return
    raise AnomalyError(
        f"detect_anomaly: backward of {op_name!r} produced a non-finite gradient "
        f"for its input {index}; the node was made at {_where(node)}"
    )
