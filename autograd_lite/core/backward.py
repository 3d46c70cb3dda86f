"""The reverse-mode walk: ``backward`` and ``grad``.

The nodes below the outputs are put in topological order once (iteratively: a chain of a
million nodes needs no recursion limit), then visited in reverse, so each node's
gradient is complete before it is passed on. Each op's VJP gives a gradient per input,
which is summed back to the input's shape here, at the edge (un-broadcasting in one
place), and added to what that input has already received.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from autograd_lite.core import modes
from autograd_lite.core.value import Value, constant, leaf, shape_of

__all__ = ["backward", "grad"]


_EMIT = object()  # on the walk's stack: "the node below me has all its inputs emitted"


def topological_order(roots: Sequence[Value]) -> list[Value]:
    """Every node below ``roots`` that requires grad, each after all of its inputs.

    Iterative depth-first search (no recursion, so graphs of any depth work): a node is
    pushed back with a marker above it before its inputs, and emitted when the marker is
    popped after them (a marker instead of (node, done) pairs: no tuple per node).
    """
    order: list[Value] = []
    visited: set[Value] = set()
    stack: list[Any] = list(reversed(roots))
    pop, push, emit, visit = stack.pop, stack.append, order.append, visited.add
    while stack:
        node = pop()
        if node is _EMIT:
            emit(pop())
        elif node not in visited:
            visit(node)
            inputs = node._inputs
            if inputs is None:  # a leaf: nothing below it
                emit(node)
                continue
            push(node)
            push(_EMIT)
            for x in inputs:
                if isinstance(x, Value) and x.requires_grad and x not in visited:
                    push(x)
    return order


def broadcast_axes(gshape: tuple[int, ...], xshape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The axes of a gradient of shape ``gshape`` to sum for an input of shape ``xshape``
    that broadcast to it (leading axes, then axes of size 1); None if it did not."""
    lead = len(gshape) - len(xshape)
    if lead < 0 or any(s != 1 and s != gs for s, gs in zip(xshape, gshape[lead:])):
        return None
    kept = tuple(lead + i for i, s in enumerate(xshape) if s == 1 and gshape[lead + i] != 1)
    return tuple(range(lead)) + kept


def unbroadcast(g: np.ndarray, xshape: tuple[int, ...]) -> np.ndarray:
    """Sum an array gradient ``g`` back to the shape of an input that broadcast to it."""
    axes = broadcast_axes(g.shape, xshape)
    if axes is None:
        raise ValueError(f"a gradient of shape {g.shape} for an input of shape {xshape}")
    if not axes:
        return g
    if len(axes) == g.ndim - len(xshape):  # only leading axes (a bias over a batch)
        return g.sum(axis=axes)
    return g.sum(axis=axes, keepdims=True).reshape(xshape)


def sum_to(g: Any, x: Value, node: Value, index: int) -> Any:
    """Reduce gradient ``g`` to the shape and dtype of input ``x`` (undo broadcasting)."""
    xd: Any = x.data
    if type(g) is np.ndarray and type(xd) is np.ndarray and g.shape == xd.shape:
        return g if g.dtype == xd.dtype else _cast(g, xd.dtype, node, index)
    is_value = isinstance(g, Value)
    gshape = g.shape if is_value else shape_of(g)
    xshape = shape_of(xd)
    if gshape != xshape:
        axes = broadcast_axes(gshape, xshape)
        if axes is None:
            raise ValueError(
                f"backward of {node.op!r} gave a gradient of shape {gshape} "
                f"for its input {index} of shape {xshape}"
            )
        if is_value:
            g = g.sum(axes, True).reshape(xshape)  # Value methods: core imports no op
        elif all(gshape[a] == 1 for a in axes):  # nothing to add up (a batch of 1): a view
            g = g.reshape(xshape)
        elif len(axes) == len(gshape) - len(xshape):  # only leading axes (a bias over a batch)
            g = g.sum(axis=axes)
        else:
            g = g.sum(axis=axes, keepdims=True).reshape(xshape)
    if is_value:
        return g
    if type(xd) is float:
        return float(g) if type(g) is float else float(_cast(g, np.float64, node, index))
    if type(g) is not np.ndarray or g.dtype != xd.dtype:
        g = _cast(g, xd.dtype, node, index)
    return g


def _cast(g: Any, dtype: Any, node: Value, index: int) -> np.ndarray:
    """``g`` as an array of ``dtype``; a complex gradient is an error (its imaginary part
    would be dropped with only a warning)."""
    g = np.asarray(g)
    if g.dtype.kind == "c":
        raise TypeError(
            f"backward of {node.op!r} gave a complex gradient ({g.dtype}) for its input "
            f"{index}: gradients must be real"
        )
    return g.astype(dtype, copy=False)


def _seed(root: Value, gradient: Any, create_graph: bool, who: str) -> Any:
    if not isinstance(root, Value):
        raise TypeError(f"{who}: outputs must be Values, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError(
            f"{who}: this output does not require grad (it was computed from constants only, "
            "or under no_grad)"
        )
    if gradient is None:
        if root.size != 1:
            raise ValueError(
                f"{who}: a gradient must be given for an output of shape {root.shape} "
                "(only a one-element output gets the implicit gradient 1)"
            )
        seed: Any = (
            1.0 if type(root.data) is float else np.array(1.0, root.dtype).reshape(root.shape)
        )
    else:
        seed = gradient
        if isinstance(seed, Value) and not create_graph:
            seed = seed.data
        seed_shape = seed.shape if isinstance(seed, Value) else shape_of(constant(seed, who))
        if seed_shape != root.shape:
            raise ValueError(
                f"{who}: gradient has shape {seed_shape} but the output has shape {root.shape}"
            )
        if not isinstance(seed, Value):
            seed = constant(seed, who)
            if type(root.data) is float:
                seed = float(seed)
    if create_graph and not isinstance(seed, Value):
        seed = leaf(seed, False)
    return seed


def _run_backward(
    roots: Sequence[Value],
    gradients: Sequence[Any],
    create_graph: bool,
    accumulate: bool,
    wanted: Sequence[Value] = (),
) -> dict[Value, Any]:
    """The reverse sweep shared by ``Value.backward`` and :func:`grad`.

    Walks the nodes in reverse topological order, so each node's gradient is complete
    before it is passed on; each input's contributions are summed exactly once per use.
    With ``accumulate`` the gradient of every node is added into ``node.grad``. Returns
    the gradients of the ``wanted`` nodes.
    """
    who = "backward" if accumulate else "grad"
    grads: dict[Value, Any] = {}
    for root, gradient in zip(roots, gradients):
        s = _seed(root, gradient, create_graph, who)
        grads[root] = s if root not in grads else grads[root] + s
    wanted_set = set(wanted)
    found: dict[Value, Any] = {}
    state = modes.state
    anomaly = state.check_nan
    prev_mode = state.grad_enabled
    state.grad_enabled = create_graph  # record the backward pass only when asked to
    fast = not create_graph  # (the float fast paths below compute on raw floats)
    pop, get = grads.pop, grads.get
    try:
        for node in reversed(topological_order(roots)):
            g = pop(node, None)
            if g is None:
                continue
            if accumulate:
                if node.grad is None and type(g) is float:  # Python-float path: store as is
                    node.grad = g
                else:
                    accumulate_grad(node, g)
            if wanted_set and node in wanted_set:
                found[node] = g
            inputs = node._inputs
            if inputs is None:
                continue
            op: Any = node._op  # (an Op whenever _inputs is set)
            nin = op.nin
            if nin == 2 and fast and type(g) is float and not node._ctx:
                # Python-float fast path: the op's own two rules called directly, as
                # Op.vjp calls them, without its argument list (~30% of a scalar backward)
                x, y = inputs
                xv = isinstance(x, Value)
                yv = isinstance(y, Value)
                xd = x.data if xv else x
                yd = y.data if yv else y
                if type(xd) is float and type(yd) is float:
                    rules = op.vjps
                    out = node.data
                    try:
                        gx = rules[0](g, out, xd, yd) if xv and x.requires_grad else None
                        gy = rules[1](g, out, xd, yd) if yv and y.requires_grad else None
                    except ArithmeticError:  # Op.vjp retries in numpy float64 (inf, nan)
                        gx, gy = op.vjp(node, g, False)
                    if gx is not None:
                        if type(gx) is not float:
                            gx = sum_to(gx, x, node, 0)
                        if anomaly:
                            modes.check_backward(op.name, node, 0, gx)
                        prev = get(x)
                        grads[x] = gx if prev is None else prev + gx
                    if gy is not None:
                        if type(gy) is not float:
                            gy = sum_to(gy, y, node, 1)
                        if anomaly:
                            modes.check_backward(op.name, node, 1, gy)
                        prev = get(y)
                        grads[y] = gy if prev is None else prev + gy
                    continue
            elif nin == 1 and fast and type(g) is float and not node._ctx:
                (x,) = inputs
                if isinstance(x, Value) and type(xd := x.data) is float:
                    if not x.requires_grad:
                        continue
                    try:
                        gx = op.vjps[0](g, node.data, xd)
                    except ArithmeticError:
                        (gx,) = op.vjp(node, g, False)
                    if gx is None:
                        continue
                    if type(gx) is not float:
                        gx = sum_to(gx, x, node, 0)
                    if anomaly:
                        modes.check_backward(op.name, node, 0, gx)
                    prev = get(x)
                    grads[x] = gx if prev is None else prev + gx
                    continue
            for i, gx in enumerate(op.vjp(node, g, create_graph)):
                if gx is None:
                    continue
                x = inputs[i]
                # Python-float path: a float gradient of a float input needs no reduction
                # or cast; skipping the call saves ~10% of a scalar graph's backward.
                if type(gx) is not float or type(x.data) is not float:
                    gx = sum_to(gx, x, node, i)
                if anomaly:
                    modes.check_backward(op.name, node, i, gx)
                prev = get(x)
                grads[x] = gx if prev is None else prev + gx
    finally:
        state.grad_enabled = prev_mode
    return found


def accumulate_grad(node: Value, g: Any, known: int = 0) -> None:
    """``node.grad += g``, taking ``g`` itself, without a copy, when nothing else holds it
    (``known``: references to ``g`` the caller accounts for, as a compiled step's own
    reference to a gradient array it recycles)."""
    old = node.grad
    if old is None:
        # A leaf's .grad must be its own writable array: optimizers and clipping change it
        # in place, and g may be shared (the add rule hands one array to both inputs) or a
        # read-only view. An array nobody else refers to is taken as is (as PyTorch's
        # AccumulateGrad does); that saves a copy of every weight gradient per step.
        # (3 references: the caller's variable, this argument, getrefcount's argument;
        # and the ``known`` others.)
        if (
            type(g) is np.ndarray
            and node._op is None
            and (g.base is not None or not g.flags.writeable or sys.getrefcount(g) > 3 + known)
        ):
            g = g.copy()
        node.grad = g
    else:
        node.grad = old + g


def grad(
    outputs: Value | Sequence[Value],
    inputs: Value | Sequence[Value],
    grad_outputs: Any = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, leaving every ``.grad`` alone.

    Returns a tuple with one entry per input: d(sum_k grad_outputs[k] * outputs[k])/d(input).
    Entries are raw floats/ndarrays, or Values (differentiable again) with
    ``create_graph=True``. An input the outputs do not depend on is an error unless
    ``allow_unused=True``, which gives None for it.
    """
    outs = _values(outputs, "outputs")
    ins = _values(inputs, "inputs")
    if grad_outputs is None:
        seeds: list[Any] = [None] * len(outs)
    elif isinstance(outputs, Value):
        seeds = [grad_outputs]
    else:
        seeds = list(grad_outputs)
        if len(seeds) != len(outs):
            raise ValueError(f"grad: {len(seeds)} grad_outputs for {len(outs)} outputs")
    for i, x in enumerate(ins):
        if not x.requires_grad:
            raise ValueError(f"grad: input {i} does not require grad")
    found = _run_backward(outs, seeds, create_graph, accumulate=False, wanted=ins)
    result = []
    for i, x in enumerate(ins):
        g = found.get(x)
        if g is None and not allow_unused:
            raise ValueError(
                f"grad: input {i} is not used to compute the outputs "
                "(pass allow_unused=True to get None for it)"
            )
        result.append(g)
    return tuple(result)


def _values(xs: Any, what: str) -> list[Value]:
    if isinstance(xs, Value):
        return [xs]
    if not isinstance(xs, (list, tuple)):
        raise TypeError(
            f"grad: {what} must be a Value or a list/tuple of Values, got {type(xs).__name__}"
        )
    for i, x in enumerate(xs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: {what}[{i}] is a {type(x).__name__}, not a Value")
    return list(xs)


def backward(output: Value, gradient: Any = None, create_graph: bool = False) -> None:
    """Backpropagate from ``output``: add d(output)/d(node) * gradient into every ``node.grad``.

    ``gradient`` defaults to 1 and may be omitted only for a one-element output.
    Gradients *accumulate*: call ``zero_grad`` (or set ``.grad = None``) between steps.
    Every node on the way that requires grad gets ``.grad`` (leaves and intermediate
    results alike, as in micrograd). With ``create_graph=True`` the backward pass is
    itself recorded, ``.grad`` holds Values, and they can be differentiated again; each
    leaf's ``.grad`` then refers to a graph that refers back to the leaf (a reference
    cycle, as in PyTorch, freed only by the garbage collector; a warning says so).
    Prefer :func:`grad` with ``create_graph=True``, which makes no cycle.
    """
    tracer = modes.state.tracer
    if tracer is not None and modes.open_blocks.traces:  # a compiled function's whole step
        tracer.backward(
            output, gradient, create_graph, lambda: _run_backward([output], [gradient], False, True)
        )
        return
    if create_graph:
        warnings.warn(
            "backward(create_graph=True) makes a reference cycle between each leaf and its "
            ".grad (freed only by the garbage collector); autograd_lite.grad(..., "
            "create_graph=True) returns the gradients without one",
            stacklevel=2,
        )
    _run_backward([output], [gradient], create_graph, accumulate=True)
