"""User-defined operations in PyTorch's style: subclass `Function`.

Each subclass gets an :class:`~autograd_lite.core.op.Op` of its own (``MyOp.op``), made with
the same :func:`~autograd_lite.core.op.defop` the built-ins use: a forward that runs
``forward(ctx, *inputs)`` and one joint VJP that runs ``backward(ctx, grad)``. The
node's static parameter is its :class:`Context`. So a Function's nodes are walked,
checked and drawn exactly like built-in ones.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd_lite.core.op import Op, defop, record
from autograd_lite.core.value import Value, normalize, raw

__all__ = ["Context", "Function"]

_OUTPUT = object()  # marks "the saved thing was the forward's result"


class Context:
    """What a :class:`Function`'s ``forward`` leaves for its ``backward``.

    Call ``ctx.save_for_backward(*arrays)`` in forward and read ``ctx.saved_tensors`` in
    backward; any other attribute may be set freely. ``ctx.needs_input_grad[i]`` tells
    whether input ``i`` needs a gradient.
    """

    def __init__(self) -> None:
        self._saved: tuple = ()
        self._refs: tuple = ()  # per saved thing: an input index, _OUTPUT, or None
        self._seen: tuple | None = None  # (out, inputs) while backward runs
        self.needs_input_grad: tuple[bool, ...] = ()

    def save_for_backward(self, *values: Any) -> None:
        self._saved = values

    @property
    def saved_tensors(self) -> tuple:
        """The saved arrays. Saved inputs and the saved result are handed back as the
        backward pass sees them: during ``create_graph`` backward, as their Values, so the
        backward formula is itself differentiable."""
        seen = self._seen
        if seen is None:
            return self._saved
        out, inputs = seen
        return tuple(
            s if r is None else out if r is _OUTPUT else inputs[r]
            for s, r in zip(self._saved, self._refs)
        )

    def _link(self, datas: list, result: Any) -> None:
        """Remember which saved things are inputs or the result (by identity, at once)."""
        refs = []
        for s in self._saved:
            if s is result:
                refs.append(_OUTPUT)
            else:
                refs.append(next((k for k, d in enumerate(datas) if d is s), None))
        self._refs = tuple(refs)


class Function:
    """Base class for user-defined primitives (the PyTorch protocol).

    Subclass it with two static methods: ``forward(ctx, *inputs)`` receives raw floats or
    ndarrays and returns the result; ``backward(ctx, grad)`` returns one gradient per input
    (``None`` for an input that needs none). Call it as ``MyOp.apply(*inputs)``; inputs may
    mix Values, numbers, arrays and other parameters (passed to forward unchanged). Write
    backward with operators and ``autograd_lite`` functions on ``ctx.saved_tensors`` and
    second derivatives work too. An optional ``jvp(ctx, *tangents)`` gives forward mode
    (the result's tangent, J @ tangents; an input without a tangent gets zeros); without
    it forward mode derives the JVP from ``backward`` (see ``autograd_lite.jvp``).
    """

    name: str = ""
    op: Op

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.__dict__.get("name"):
            cls.name = cls.__name__
        jvp = _jvp_of(cls) if callable(getattr(cls, "jvp", None)) else None
        cls.op = defop(
            cls.name, _forward_of(cls), _backward_of(cls), joint=True, register=False, jvp=jvp
        )

    def __new__(cls, *args: Any, **kwargs: Any) -> Function:
        raise TypeError(
            f"{cls.__name__} is a Function: call {cls.__name__}.apply(...) to apply it "
            "(a Function is not instantiated)"
        )

    @staticmethod
    def forward(ctx: Context, *inputs: Any) -> Any:
        raise NotImplementedError("a Function subclass must define forward(ctx, *inputs)")

    @staticmethod
    def backward(ctx: Context, grad: Any) -> Any:
        raise NotImplementedError("a Function subclass must define backward(ctx, grad)")

    @classmethod
    def apply(cls, *inputs: Any) -> Value:
        """Run ``forward`` on the inputs' data and record the result in the graph."""
        ctx = Context()
        ctx.needs_input_grad = tuple(isinstance(x, Value) and x.requires_grad for x in inputs)
        datas = [x.data if isinstance(x, Value) else x for x in inputs]
        result = cls.forward(ctx, *datas)
        ctx._link(datas, result)
        scalar = all(type(d) is float for d in datas)
        out = normalize(result.data if isinstance(result, Value) else result, _who(cls), scalar)
        return record(out, cls.op, inputs, any(ctx.needs_input_grad), (ctx,), datas)


def _who(cls: type) -> str:
    return f"{cls.__name__}.forward"


def _forward_of(cls: type[Function]) -> Any:
    def forward(*args: Any) -> Any:  # args: the inputs' data, then the node's Context
        datas = args[:-1]
        result = cls.forward(Context(), *datas)  # a fresh ctx: the node's stays as it is
        scalar = all(type(d) is float for d in datas)
        return normalize(result.data if isinstance(result, Value) else result, _who(cls), scalar)

    return forward


def _jvp_of(cls: type[Function]) -> Any:
    def jvp(tangents: Any, out: Any, *args: Any) -> Any:
        *inputs, ctx = args
        ts = [
            t if t is not None else np.zeros_like(raw(x)) if type(raw(x)) is np.ndarray else 0.0
            for t, x in zip(tangents, inputs)
        ]
        return cls.jvp(ctx, *ts)  # type: ignore[attr-defined]

    return jvp


def _backward_of(cls: type[Function]) -> Any:
    def vjp(g: Any, out: Any, *args: Any) -> list:
        *inputs, ctx = args
        create_graph = isinstance(out, Value)
        ctx._seen = (out, inputs)
        try:
            grads = cls.backward(ctx, g)
        except TypeError as e:
            if create_graph and "Value" in str(e):
                raise TypeError(
                    f"{cls.__name__}.backward cannot be differentiated (create_graph=True): "
                    f"it computed on raw arrays ({e}). Write it with operators and "
                    "autograd_lite functions on ctx.saved_tensors and grad, so that it records "
                    "a graph."
                ) from None
            raise
        finally:
            ctx._seen = None
        if not isinstance(grads, tuple):
            grads = (grads,)
        if len(grads) != len(inputs):
            raise TypeError(
                f"{cls.__name__}.backward returned {len(grads)} gradient(s) "
                f"for {len(inputs)} input(s)"
            )
        if create_graph:
            return list(grads)
        return [
            None
            if gx is None
            else normalize(gx.data if isinstance(gx, Value) else gx, f"{cls.__name__}.backward")
            for gx in grads
        ]

    return vjp
