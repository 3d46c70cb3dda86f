"""``compile(fn)``: trace a function once per signature, then replay its ops as a fixed plan.

The first call with a given signature (which arguments are Values, numbers or arrays, their
shapes, dtypes and ``requires_grad``, the nesting of lists and tuples, the values of the
static arguments, the grad mode) runs ``fn`` while recording every op it applies (a
*trace*). The trace becomes a :class:`Plan`: the forward as a flat sequence of the op
table's own forwards, the backward of each output as the flat sequence of their VJPs in
the order the engine's backward walk would visit them, both turned into straight-line
Python (op forwards and VJPs bound in the generated module's namespace; the common
scalar ops inlined from fixed templates, so micrograd-style graphs run as plain float
arithmetic). Later calls with the same signature replay the plan on the new data, and
return Values made by **one node each**, whose op replays the forward and whose VJP
replays the backward, so ``loss.backward()``, optimizers, ``no_grad``, anomaly mode and
drawings work as with eager code.

Never a silently wrong answer: anything a replay could not reproduce is refused while
tracing with a :class:`CompileError` that names the user's line — ``bool()``,
``float()``, ``.item()``, comparisons, reading ``.data``/``.grad``/``.numpy()`` of a
traced Value, ``grad()`` inside the function, randomness drawn from numpy's or
Python's global generator (or from a Generator reachable from the function) outside an
op, keeping a reference to a traced Value, ops whose replay differs from the trace,
a second trace (on the first replay) whose ops or constants differ from the first
(randomness or a clock the trace cannot see), more reachable objects than can be guarded.
Everything the function can reach is guarded (see :class:`~autograd_lite.compile.guards.Scan`):
change it and the next call traces again (with a warning past ``max_retraces``); at most
``max_plans`` plans are kept, the least recently used dropped first.

A function that calls ``loss.backward()`` is a **whole training step**: the forward is a
plan as above, and the library calls around it (``zero_grad``, ``opt.step()``, clipping,
schedules, marked by :func:`autograd_lite.core.modes.replayed`) and the updates written by
hand (``p.data -= lr * p.grad``) are replayed in order after the engine's backward of the
loss's node (see ``step``).

No user text ever reaches ``exec``: the generated code is made of fixed templates,
generated variable names and numeric literals (``repr`` of finite floats, checked);
everything else (op functions, constants, parameters) is bound in its namespace.

The modules, by job (each one's docstring says more):

- ``api``: :func:`compile`, :class:`CompiledFunction` (plans by signature, retraces, the
  checks on a trace), :func:`plan_of`.
- ``frames``: :class:`CompileError`; which frames are the library's (and the engine's),
  and the user's line an error names.
- ``trace``: traced Values, which refuse what a replay could not reproduce, and the tracer
  that records each op.
- ``guards``: what the function can see, guarded; a call's signature key.
- ``plan``: :class:`Plan`, the IR (forward and backward steps) and its interpretive replay.
- ``build``: a trace turned into a plan, and checked to be replayable.
- ``templates``: the op table's scalar and numpy templates generated code is made of.
- ``codegen``: a plan as straight-line Python, from the templates.
- ``recheck``: where a second trace differs from a plan (on the first replay).
- ``steptrace``: what a trace of a whole training step records besides ops.
- ``step``: a whole training step: its replayed calls and updates around the plan.

What it may import: autograd_lite's value, modes, op, backward and function modules, the
primitives and functional; never viz or cli (viz imports this package). Inside it:
frames <- trace (<- steptrace, by a late import) <- guards <- plan <- build, codegen
(<- templates) <- recheck <- step <- api; ``guards`` names :class:`CompiledFunction` by
a late import, as ``api`` imports it.
"""

from autograd_lite.compile.api import (
    DEFAULT_MAX_PLANS,
    DEFAULT_MAX_RETRACES,
    CompiledFunction,
    compile,
    plan_of,
)
from autograd_lite.compile.frames import CompileError
from autograd_lite.compile.plan import Plan

__all__ = [
    "DEFAULT_MAX_PLANS",
    "DEFAULT_MAX_RETRACES",
    "CompileError",
    "CompiledFunction",
    "Plan",
    "compile",
    "plan_of",
]
