"""The backward walk: reference cycles, and clear errors for what it is given."""

from __future__ import annotations

import gc
import weakref

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value


def _graph_data_is_freed(make) -> bool:
    """Build a graph with ``make``, drop it, and say whether its arrays were freed without
    the garbage collector (a node holds its data; numpy arrays can be weakly referenced)."""
    gc.collect()
    gc.disable()
    try:
        refs = make()
        gc_free = all(r() is None for r in refs)
    finally:
        gc.enable()
    return gc_free


def test_grad_with_create_graph_makes_no_reference_cycle():
    def make():
        x = Value(np.linspace(0.1, 1.0, 5))
        y = (x * x).tanh().sum()
        (g,) = ag.grad(y, [x], create_graph=True)
        (gg,) = ag.grad(g.sum(), [x])
        return [weakref.ref(x.data), weakref.ref(g.data), weakref.ref(gg)]

    assert _graph_data_is_freed(make)


def test_backward_with_create_graph_warns_of_its_cycle_as_pytorch_does():
    def make():
        x = Value(np.linspace(0.1, 1.0, 5))
        with pytest.warns(UserWarning, match="reference cycle"):
            (x * x).sum().backward(create_graph=True)
        return [weakref.ref(x.data), weakref.ref(x.grad.data)]

    assert not _graph_data_is_freed(make)  # the documented cycle: x.grad -> graph -> x
    gc.collect()


def test_an_ordinary_backward_frees_the_graph_without_the_collector():
    def make():
        x = Value(np.ones(4))
        y = (x * 2.0).exp().sum()
        y.backward()
        return [weakref.ref(x.data), weakref.ref(y.inputs[0].data)]

    assert _graph_data_is_freed(make)


@pytest.mark.parametrize(
    "call, error, pattern",
    [
        (lambda x: ag.grad(3.0, x), TypeError, "grad: outputs must be a Value"),
        (lambda x: ag.grad([x * 2.0, 3.0], x), TypeError, r"grad: outputs\[1\] is a float"),
        (lambda x: ag.grad(x * 2.0, 3.0), TypeError, "grad: inputs must be a Value"),
        (lambda x: (x * 2.0).backward("ab"), TypeError, "backward: .*got str"),
        (lambda x: (x * 2.0).backward([1.0, 2.0]), ValueError, "backward: gradient has shape"),
        (lambda x: (x * 2.0).backward(1j), TypeError, "complex"),
    ],
)
def test_bad_arguments_get_clear_errors(call, error, pattern):
    with pytest.raises(error, match=pattern):
        call(Value(1.5))
