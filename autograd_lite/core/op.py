"""What an operation is, and how applying one records a node of the graph.

An :class:`Op` is a forward function and one vector-Jacobian product (VJP) per input.
:func:`defop` declares one; the built-in table (:mod:`autograd_lite.ops.primitives`) and
users declare ops with the same call, and ``Function`` subclasses build their op with it
too, so the backward walk, the gradient checks and the drawings treat them all alike.

The protocol the rest of the library relies on: for a node ``v`` made by an op,
``v._op`` is the Op, ``v._inputs`` its inputs (Values and raw constants) and ``v._ctx``
its static parameters; ``op.forward(*input_data, *params)`` recomputes the node's data
and ``op.vjp(v, g, create_graph)`` gives one gradient per input (None where none is
needed), possibly in the broadcast shape of the output.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.core import modes
from autograd_lite.core.modes import open_blocks, state
from autograd_lite.core.value import Data, Value, constant, leaf, new_node, normalize, raw, shape_of

__all__ = ["OPS", "Op", "apply", "defop"]


class Op:
    """A primitive operation: a forward function and one vector-Jacobian product per input.

    ``forward(*inputs, *params)`` computes the result from raw data (Python floats or
    ndarrays); ``vjps[i](g, out, *inputs, *params)`` maps the gradient ``g`` of the
    result to the gradient of input ``i``. A ``variadic`` op (any number of inputs, like
    ``concatenate``) has one rule that takes the input's index first; a ``joint`` op has
    one rule that returns every input's gradient at once (a ``Function``'s backward,
    or rules that share work). ``label`` names the
    op in drawings (a string, or a function of the static parameters); ``commutative`` ops
    do not care about the order of their inputs (drawings leave their edges unnumbered).

    Calling an op applies it: ``op(x, y, *params)`` for an op with two VJPs, or
    ``op(*inputs, params=(...))`` for a variadic one. The result is recorded when an input
    is a Value that requires grad, and raw data otherwise.
    """

    __slots__ = ("name", "forward", "vjps", "label", "commutative", "joint", "nin", "jvp")

    def __init__(
        self,
        name: str,
        forward: Callable,
        vjps: tuple[Callable, ...] | Callable,
        label: str | Callable[..., str] | None = None,
        commutative: bool = False,
        joint: bool = False,
        jvp: Callable | None = None,
    ) -> None:
        self.name = name
        self.jvp = jvp
        self.forward = forward
        self.vjps = vjps
        self.label = label or name
        self.commutative = commutative
        self.joint = joint
        # None: any number. vjps is a tuple when len() runs; pyright does not narrow the
        # Callable member of the union on `type(vjps) is tuple`
        self.nin = len(vjps) if type(vjps) is tuple else None  # pyright: ignore[reportArgumentType]

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    def describe(self, params: tuple = ()) -> str:
        """Short label of this op with its static parameters, for graph drawings."""
        return self.label(*params) if callable(self.label) else self.label

    def __call__(self, *args: Any, params: tuple = ()) -> Any:
        if self.nin is None:
            return call(self, args, tuple(params))
        if len(args) < self.nin:
            raise TypeError(f"{self.name}: takes {self.nin} input(s), got {len(args)}")
        return call(self, args[: self.nin], args[self.nin :] + tuple(params))

    def tangent(self, tangents: Sequence[Any], out: Any, args: Sequence[Any]) -> Any:
        """The tangent of the result, J @ tangents (one per input, None for zero).

        ``out`` and ``args`` (inputs then params) are raw data, or Values when the
        tangents are Values (forward mode with ``create_graph``). An op without a ``jvp``
        rule gets J @ t from its VJPs by transposing the linear map u -> J^T u: one VJP
        evaluation recorded as a graph, then one reverse pass over that graph (about
        three times the cost of a rule, and the memory of that small graph while it runs).
        """
        if self.jvp is not None:
            return self.jvp(tangents, out, *args)
        return _jvp_from_vjps(self, tangents, out, args)

    def vjp(self, node: Value, g: Any, create_graph: bool, wide: bool = False) -> list[Any]:
        """Gradients for the inputs of ``node`` (None where none is needed).

        With ``create_graph`` the rules get Values (the node as ``out``), so what they
        compute is recorded and can be differentiated again.
        """
        inputs: Any = node._inputs  # (annotations for checkers only: nothing runs for them)
        ctx: Any = node._ctx  # a tuple on every node with an op (record sets both)
        out: Any
        args: Any
        if create_graph:  # the rules see Values, so what they compute is recorded
            out, args = node, (*inputs, *ctx)
        else:
            out = node.data
            if len(inputs) == 2:  # most ops: unrolled, no comprehension call (~10% of backward)
                x, y = inputs
                args = [
                    x.data if isinstance(x, Value) else x,
                    y.data if isinstance(y, Value) else y,
                ]
            else:
                args = [x.data if isinstance(x, Value) else x for x in inputs]
            if ctx:
                args += ctx
            if wide:  # Python floats raise at poles (1/0); numpy float64 gives inf/nan instead
                g, out = np.float64(g), np.float64(out)
                args = [np.float64(a) if type(a) is float else a for a in args]
        vjps: Any = self.vjps
        try:
            if self.joint:
                grads = vjps(g, out, *args)
                if len(grads) != len(inputs):
                    raise TypeError(
                        f"{self.name}: its VJP gave {len(grads)} gradient(s) "
                        f"for {len(inputs)} input(s)"
                    )
                return [
                    gx if isinstance(x, Value) and x.requires_grad else None
                    for x, gx in zip(inputs, grads)
                ]
            if type(vjps) is not tuple:  # variadic: one rule, told which input
                return [
                    vjps(i, g, out, *args) if isinstance(x, Value) and x.requires_grad else None
                    for i, x in enumerate(inputs)
                ]
            if len(vjps) == 2:  # unrolled: most ops have two inputs
                x, y = inputs
                return [
                    vjps[0](g, out, *args) if isinstance(x, Value) and x.requires_grad else None,
                    vjps[1](g, out, *args) if isinstance(y, Value) and y.requires_grad else None,
                ]
            grads = []
            for vjp, x in zip(vjps, inputs):
                needed = isinstance(x, Value) and x.requires_grad
                grads.append(vjp(g, out, *args) if needed else None)
            return grads
        except ArithmeticError:
            if create_graph or wide:
                raise
            with np.errstate(all="ignore"):
                return self.vjp(node, g, False, wide=True)


def _elementwise_jvp(vjps: tuple[Callable, ...]) -> Callable:
    """The JVP of an elementwise op: sum_i vjp_i(t_i) (its Jacobians are diagonal)."""

    def jvp(tangents: Sequence[Any], out: Any, *args: Any) -> Any:
        total = None
        for vjp, t in zip(vjps, tangents):
            if t is not None:
                term = vjp(t, out, *args)
                total = term if total is None else total + term
        return total

    return jvp


OPS: dict[str, Op] = {}
"""Every declared op by name: the built-ins, and the ops users declare with :func:`defop`."""

BUILTIN_NAMES: set[str] = set()
"""The built-in ops' names (filled by :mod:`autograd_lite.ops.primitives`): not redeclarable."""


def defop(
    name: str,
    forward: Callable,
    *vjps: Callable,
    label: Any = None,
    variadic: bool = False,
    joint: bool = False,
    commutative: bool = False,
    register: bool = True,
    jvp: Callable | str | None = None,
) -> Op:
    """Declare a primitive operation, register it in :data:`OPS`, and return it.

    ``forward(*inputs, *params)`` computes on raw data; ``vjps[i](g, out, *inputs,
    *params)`` is the vector-Jacobian product for input ``i``. Write the VJPs with
    operators and ``autograd_lite`` functions, and higher-order gradients work too. A
    ``variadic`` op takes any number of inputs and gives one rule ``vjp(i, g, out, ...)``;
    a ``joint`` op gives one rule ``vjp(g, out, ...)`` returning a gradient per input.
    ``register=False`` leaves the op out of :data:`OPS` (``Function`` subclasses do).
    ``jvp(tangents, out, *inputs, *params)`` is the forward-mode rule: the tangent of the
    result, J @ tangents, given one tangent per input (None for an input without one;
    at least one is not None). ``jvp="elementwise"`` declares an elementwise op (a
    diagonal Jacobian), whose JVP is the sum of its VJPs applied to the tangents. Without
    a rule, forward mode derives one from the VJPs (see :meth:`Op.tangent`).
    Declaring a name again replaces your earlier op of that name (re-running a notebook
    cell works); the built-ins' names are taken.
    """
    if register and name in BUILTIN_NAMES:
        raise ValueError(f"defop: {name!r} is a built-in op; choose another name")
    if not callable(forward) or not vjps or not all(callable(v) for v in vjps):
        raise TypeError(f"defop({name!r}): needs a forward function and one VJP per input")
    if (variadic or joint) and len(vjps) != 1:
        raise TypeError(f"defop({name!r}): a variadic or joint op has exactly one VJP rule")
    if jvp == "elementwise":
        if variadic or joint:
            raise TypeError(f"defop({name!r}): jvp='elementwise' needs one VJP per input")
        jvp = _elementwise_jvp(vjps)
    elif jvp is not None and not callable(jvp):
        raise TypeError(f"defop({name!r}): jvp must be a function or 'elementwise'")
    rules = vjps if not (variadic or joint) else vjps[0]
    op = Op(name, forward, rules, label, commutative, joint, jvp)
    if register:
        OPS[name] = op
    return op


# ------------------------------------------------------------------------ recording


def apply(op: Op, inputs: tuple, params: tuple = ()) -> Value:
    """Run ``op`` forward on the data of ``inputs`` and record the result in the graph.

    ``params`` are static (non-differentiable) arguments such as an axis or a shape.
    """
    datas = []
    track = False
    converted = False
    for x in inputs:
        if isinstance(x, Value):
            datas.append(x.data)
            if x.requires_grad:
                track = True
        else:
            d = constant(x, op.name)
            datas.append(d)
            converted = converted or d is not x
    try:
        out = op.forward(*datas, *params)
    except (ValueError, TypeError, IndexError, ZeroDivisionError, OverflowError) as e:
        raise op_error(op, e, datas) from None
    if type(out) is not float and type(out) is not np.ndarray:
        out = normalize(out, op.name, all(type(d) is float for d in datas))
    if converted:  # keep constants in normalised form: backward rules see what forward saw
        inputs = tuple(x if isinstance(x, Value) else d for x, d in zip(inputs, datas))
    return record(out, op, inputs, track, params, datas)


def record(
    out: Data, op: Op, inputs: tuple, track: bool, params: tuple, datas: Sequence[Any]
) -> Value:
    """Wrap an op's result in a Value; link it to its inputs when a gradient can flow."""
    v = new_node(Value)
    v.data = out
    v.grad = None
    v._notes = None
    if track and state.grad_enabled:
        v.requires_grad = True
        v._op = op
        v._inputs = inputs
        v._ctx = params
    else:
        v.requires_grad = False
        v._op = v._inputs = v._ctx = None
    if open_blocks.hooks:  # one test when no block is open anywhere
        if open_blocks.anomaly_blocks and state.anomaly:
            v._site = modes.user_frames()
            if state.check_nan:
                modes.check_forward(op.name, v, datas)
        if open_blocks.traces and state.tracer is not None:  # autograd_lite.compile traces
            state.tracer.record(v, op, inputs, params)
        if open_blocks.observers:
            for observer in state.observers:  # forward mode, checkpoint (autograd_lite.transforms)
                observer(v, op, inputs, params, datas)
    return v


# ------------------------------------------------------------ operator methods
# Value's operators (bound by autograd_lite.ops.operators) with a Python-float fast path:
# when the data are floats and no hook is open (anomaly mode, a compile trace, an
# observer), the node is made right here, as record() makes it, with the op's own
# forward; anything else (arrays, ints, other operands, an exception, a result that is
# not a float) goes through apply(), which computes it again and raises what it raises.
# Skipping apply's generic loop and the call to record saves about a third of recording
# a scalar op.


def binary_methods(op: Op) -> tuple[Callable[[Value, Any], Value], Callable[[Value, Any], Value]]:
    """``x.__op__(y)`` and ``x.__rop__(y)``: ``apply(op, (x, y))`` and ``apply(op, (y, x))``."""
    forward = op.forward

    def method(self: Value, other: Any) -> Value:
        a = self.data
        if type(a) is float and not open_blocks.hooks:
            if isinstance(other, Value):
                b = other.data
                track = self.requires_grad or other.requires_grad
            else:
                b = other
                track = self.requires_grad
            if type(b) is float:
                try:
                    out = forward(a, b)
                except Exception:
                    return apply(op, (self, other))
                if type(out) is float:
                    v = new_node(Value)
                    v.data = out
                    v.grad = None
                    v._notes = None
                    if track and state.grad_enabled:
                        v.requires_grad = True
                        v._op = op
                        v._inputs = (self, other)
                        v._ctx = ()
                    else:
                        v.requires_grad = False
                        v._op = v._inputs = v._ctx = None
                    return v
        return apply(op, (self, other))

    def reflected(self: Value, other: Any) -> Value:
        a = self.data
        if type(a) is float and type(other) is float and not open_blocks.hooks:
            try:
                out = forward(other, a)
            except Exception:
                return apply(op, (other, self))
            if type(out) is float:
                v = new_node(Value)
                v.data = out
                v.grad = None
                v._notes = None
                if self.requires_grad and state.grad_enabled:
                    v.requires_grad = True
                    v._op = op
                    v._inputs = (other, self)
                    v._ctx = ()
                else:
                    v.requires_grad = False
                    v._op = v._inputs = v._ctx = None
                return v
        return apply(op, (other, self))

    return method, reflected


def unary_method(op: Op) -> Callable[[Value], Value]:
    """``x.method()``: ``apply(op, (x,))``, with the same fast path."""
    forward = op.forward

    def method(self: Value) -> Value:
        a = self.data
        if type(a) is float and not open_blocks.hooks:
            try:
                out = forward(a)
            except Exception:
                return apply(op, (self,))
            if type(out) is float:
                v = new_node(Value)
                v.data = out
                v.grad = None
                v._notes = None
                if self.requires_grad and state.grad_enabled:
                    v.requires_grad = True
                    v._op = op
                    v._inputs = (self,)
                    v._ctx = ()
                else:
                    v.requires_grad = False
                    v._op = v._inputs = v._ctx = None
                return v
        return apply(op, (self,))

    method.__doc__ = f"{op.name}(self), elementwise."
    return method


def _jvp_from_vjps(op: Op, tangents: Sequence[Any], out: Any, args: Sequence[Any]) -> Any:
    """J @ t for an op without a JVP rule: d/du <J^T u, t> at any u (the VJP is linear in u)."""
    from autograd_lite import functional as F
    from autograd_lite.core.backward import grad, sum_to

    n = len(tangents)
    inputs, params = list(args[:n]), tuple(args[n:])
    create_graph = isinstance(out, Value)
    out_data = out.data if create_graph else out
    prev = state.grad_enabled, state.observers
    state.grad_enabled, state.observers = True, ()
    try:
        if create_graph:
            xs = tuple(x if isinstance(x, Value) else leaf(x, False) for x in inputs)
        else:
            xs = tuple(leaf(x, t is not None) for x, t in zip(inputs, tangents))
        node = record(out_data, op, xs, True, params, [raw(x) for x in xs])
        zero = 0.0 if type(out_data) is float else np.zeros_like(out_data)
        u = leaf(zero, True)
        total = None
        for i, (x, gx, t) in enumerate(zip(xs, op.vjp(node, u, True), tangents)):
            if t is None or gx is None:
                continue
            term = F.sum(sum_to(gx, x, node, i) * t)
            total = term if total is None else total + term
        if total is None or not total.requires_grad:
            return None
        (jt,) = grad(total, u, create_graph=create_graph, allow_unused=True)
        return jt
    finally:
        state.grad_enabled, state.observers = prev


def call(op: Op, inputs: Sequence[Any], params: tuple = ()) -> Any:
    """Apply ``op``: recorded when an input is a Value, plain computation on raw data.

    This is what lets one VJP rule serve both an ordinary backward pass (raw arrays in,
    raw arrays out) and ``create_graph=True`` (Values in, a recorded graph out).
    """
    for x in inputs:
        if isinstance(x, Value):
            return apply(op, tuple(inputs), params)
    datas = [float(x) if type(x) is int or type(x) is bool else x for x in inputs]
    try:
        out = op.forward(*datas, *params)
    except (ValueError, TypeError, IndexError) as e:  # arithmetic errors propagate as they are
        raise op_error(op, e, datas) from None
    return normalize(out, op.name, all(type(d) is float for d in datas))


def op_error(op: Op, e: Exception, datas: Sequence[Any]) -> Exception:
    """``e`` from the forward of ``op``, re-raised with the op's name and the input shapes."""
    shapes = ", ".join(str(shape_of(d)) for d in datas)
    cls = (
        IndexError
        if isinstance(e, IndexError) and not isinstance(e, ValueError)
        else TypeError
        if isinstance(e, TypeError)
        else ValueError
    )
    message = str(e)
    if "could not be broadcast" in message:  # numpy's message already lists the shapes
        return ValueError(f"{op.name}: cannot broadcast input shapes {shapes} together")
    if message.startswith(op.name + ":"):
        return cls(f"{message} (input shapes: {shapes})")
    return cls(f"{op.name}: {message} (input shapes: {shapes})")
