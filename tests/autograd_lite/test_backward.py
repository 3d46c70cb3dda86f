"""The backward walk: reference cycles, and clear errors for what it is given."""

from __future__ import annotations

import gc
import math
import sys
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


# -------------------------------------------------------------------------- backward


def test_a_reused_node_gets_each_contribution_once():
    a = Value(3.0)
    b = a + a
    b.backward()
    assert a.grad == 2.0
    a2 = Value(3.0)
    d = a2 * a2
    e = d + d * a2  # a2 reached along three paths, d along two
    e.backward()
    assert a2.grad == pytest.approx(2 * 3 + 3 * 9)


def test_gradients_accumulate_across_backward_calls():
    x = Value(np.array([1.0, 2.0]))
    (x * x).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, 4 * x.data)
    x.grad = None
    (x * 3).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


def test_intermediate_nodes_get_grads_like_micrograd():
    x = Value(2.0)
    h = x * 3
    y = h.tanh()
    y.backward()
    assert h.grad == pytest.approx(1 - math.tanh(6) ** 2)
    assert y.grad == 1.0


def test_leaf_grads_are_their_own_writable_arrays():
    a, b = Value(np.ones(2)), Value(np.ones(2))
    (a + b).sum().backward()  # the add rule hands the same array to both inputs
    a.grad *= 10
    np.testing.assert_array_equal(b.grad, [1.0, 1.0])


def _all_nodes(root):
    seen, stack = {id(root): root}, [root]
    while stack:
        for x in stack.pop().inputs:
            if isinstance(x, Value) and id(x) not in seen:
                seen[id(x)] = x
                stack.append(x)
    return list(seen.values())


@pytest.mark.parametrize(
    "f",
    [
        lambda a, b, W: (a + b).sum(),
        lambda a, b, W: ag.functional.linear(a, W, b).sum(),
        lambda a, b, W: ag.functional.linear(np.ones((4, 3)), W, b).tanh().sum(),
        lambda a, b, W: (a * b + a).sum() + (W @ b).sum(),
        lambda a, b, W: (W + b).sum(),
        lambda a, b, W: a[0] + b[1] + W[0, 0],
    ],
)
def test_no_leaf_grad_shares_memory_with_another_grad(f):
    """Leaf grads are taken without a copy only when nothing else refers to them."""
    a, b, W = Value(np.ones(3)), Value(np.ones(3)), Value(np.ones((3, 3)))
    root = f(a, b, W)
    root.backward()
    grads = [v.grad for v in _all_nodes(root) if isinstance(v.grad, np.ndarray)]
    for leaf in (a, b, W):
        if leaf.grad is None:
            continue
        assert leaf.grad.flags.writeable and leaf.grad.base is None
        assert not any(g is not leaf.grad and np.shares_memory(g, leaf.grad) for g in grads)


def test_non_scalar_backward_needs_a_gradient():
    y = Value(np.ones(3)) * 2
    with pytest.raises(ValueError, match=r"gradient must be given .* shape \(3,\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"gradient has shape \(2,\).*\(3,\)"):
        y.backward(np.ones(2))
    y.backward(np.array([1.0, 2.0, 3.0]))


def test_backward_of_a_constant_is_a_clear_error():
    with pytest.raises(ValueError, match="does not require grad"):
        (Value(1.0, requires_grad=False) * 2).backward()


def test_grad_returns_gradients_without_touching_dot_grad():
    x, y = Value(3.0), Value(2.0)
    f = x**2 * y
    gx, gy = ag.grad(f, [x, y])
    assert (gx, gy) == (12.0, 9.0)
    assert x.grad is None and y.grad is None and f.grad is None


def test_grad_of_an_unused_input():
    x, z = Value(1.0), Value(2.0)
    with pytest.raises(ValueError, match="input 1 is not used"):
        ag.grad(x * 2, [x, z])
    assert ag.grad(x * 2, [x, z], allow_unused=True) == (2.0, None)


def test_grad_with_respect_to_an_intermediate_node():
    x = Value(2.0)
    h = x * 3
    y = h * h
    (gh,) = ag.grad(y, [h])
    assert gh == 12.0


def test_second_derivative_of_a_cubic():
    x = Value(2.0)
    (g,) = ag.grad(x**3, [x], create_graph=True)
    (h,) = ag.grad(g, [x])
    assert g.data == 12.0 and h == 12.0


def test_the_issue_second_derivative_form_on_tensors():
    x = Value(np.array([0.3, -0.7, 1.1]))
    f = lambda v: (v.sin() * v).sum()
    (h,) = ag.grad(ag.grad(f(x), [x], create_graph=True)[0].sum(), [x])
    xs = x.data
    np.testing.assert_allclose(h, 2 * np.cos(xs) - xs * np.sin(xs))


def test_hessian_vector_product_of_a_quadratic_form():
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    v = rng.standard_normal(4)
    x = Value(rng.standard_normal(4))
    f = x @ (A @ x)
    (g,) = ag.grad(f, [x], create_graph=True)
    (hv,) = ag.grad(g, [x], grad_outputs=v)
    np.testing.assert_allclose(hv, (A + A.T) @ v)


def test_backward_with_create_graph_stores_differentiable_grads():
    x = Value(1.5)
    (x**3).backward(create_graph=True)
    assert isinstance(x.grad, Value)
    x.grad.backward()  # d/dx (3x^2) = 6x, accumulated onto the Value grad
    assert x.grad.data == pytest.approx(3 * 1.5**2 + 6 * 1.5)


@pytest.mark.slow
def test_a_million_node_chain_with_the_default_recursion_limit():
    assert sys.getrecursionlimit() <= 10_000
    x = Value(0.0)
    y = x
    for _ in range(1_000_000):
        y = y + 1.0
    y.backward()
    assert y.data == 1_000_000.0 and x.grad == 1.0


def test_a_graph_is_freed_by_reference_counting_alone():
    class Probe:
        pass

    probes = [Probe()]
    ref = weakref.ref(probes[0])

    class Id(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.probe = probes.pop()
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    gc.disable()
    try:
        x = Value(np.ones(3))
        y = (Id.apply(x) * 2).tanh().sum()
        y.backward()
        assert ref() is not None  # held by the graph
        del y
        assert ref() is None  # freed without the cycle collector
    finally:
        gc.enable()


# ------------------------------------------------------- the Python-float fast path


def _same(a, b) -> bool:
    """The same Python float bit for bit (nan equal to nan, 0.0 apart from -0.0)."""
    if type(a) is not float or type(b) is not float:
        return False
    return (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


def _general_walk(root: Value) -> dict:
    """Every node's gradient by the general path alone: ``Op.vjp`` and ``sum_to`` per
    node, in the walk's own order (what the backward did before its float fast path)."""
    from autograd_lite.core.backward import sum_to, topological_order

    grads, total = {root: 1.0}, {}
    for node in reversed(topological_order([root])):
        g = grads.pop(node, None)
        if g is None:
            continue
        total[node] = g
        if node._inputs is None:
            continue
        for i, gx in enumerate(node._op.vjp(node, g, False)):
            if gx is not None:
                x = node._inputs[i]
                gx = sum_to(gx, x, node, i)
                grads[x] = gx if x not in grads else grads[x] + gx
    return total


EDGE_FLOATS = [0.0, -0.0, 1.5, -2.0, 5e-324, 1e308, math.inf, -math.inf, math.nan]
FLOAT_GRAPHS = [
    lambda x, y: x + y,
    lambda x, y: x - y,
    lambda x, y: x * y,
    lambda x, y: x / y,  # y = 0: the rule divides by zero, retried in numpy (inf or nan)
    lambda x, y: 2.0 - x * x / y,
    lambda x, y: (x * y).relu() + (x - y).tanh() * x,
    lambda x, y: (x / y).exp() - x.sigmoid() * y.log(),
    lambda x, y: x.sqrt() + (-y).abs() * x.sin() - y.cos(),
    lambda x, y: (x**2 + 1) * ag.maximum(x, y) + x.leaky_relu(0.1),  # ops with params
]


@pytest.mark.parametrize("f", FLOAT_GRAPHS)
def test_float_backward_gives_exactly_what_the_general_path_gives(f):
    """The backward calls a float node's rules directly, skipping Op.vjp; side by side
    with a walk that goes through Op.vjp for every node, nan and infinities included."""
    for a in EDGE_FLOATS:
        for b in EDGE_FLOATS:
            x, y = Value(a), Value(b)
            with np.errstate(all="ignore"):
                out = f(x, y)
                want = _general_walk(out)
                out.backward()
            assert want and all(_same(node.grad, g) for node, g in want.items()), (a, b)


def test_float_backward_keeps_anomaly_checks():
    """The fast path still checks each gradient under detect_anomaly, and a constant
    input (or one that does not require grad) gets no gradient."""
    x, y = Value(0.0), Value(1e-320)
    quotient, root = x / y, x.sqrt()  # finite forward, an infinite gradient
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="backward of 'div'"):
        quotient.backward()
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="backward of 'sqrt'"):
        root.backward()
    c = Value(3.0, requires_grad=False)
    y = Value(2.0)
    (c * y + 1.0).backward()
    assert c.grad is None and y.grad == 3.0


@pytest.mark.parametrize("x", [np.array([0.3, -1.2]), 0.5, np.array(0.5, np.float32)])
def test_a_complex_gradient_is_an_error_naming_the_op(x):
    op = ag.defop(
        "sin_complex", np.sin, lambda g, out, x: np.asarray(g * np.cos(x)) + 1j, register=False
    )
    y = op(ag.Value(x))
    with pytest.raises(TypeError, match="backward of 'sin_complex' gave a complex gradient"):
        ag.sum(y).backward()
