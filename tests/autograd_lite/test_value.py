"""Making Values and operating on them: what is accepted, and clear errors for the rest."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda: Value(10**400), OverflowError, r"Value\(\): the integer .* too large"),
        (lambda: Value([10**400]), TypeError, r"Value\(\): expected real numbers"),
        (lambda: Value(np.ones(3)).mean(axis=1.0), TypeError, "mean: axis must be an int"),
        (lambda: Value(np.ones(3)).sum(axis=1.0), TypeError, "sum: axis must be an int"),
        (lambda: Value(np.ones(3)).max(axis="0"), TypeError, "max: axis must be an int"),
        (lambda: Value(np.ones(2)) ** [[1, 2], [3]], ValueError, "pow: .*rectangular"),
        (lambda: Value(np.ones(3)) + np.ones(4), ValueError, r"^add: cannot broadcast"),
        (lambda: Value(np.ones(3)) ** np.array(["a"]), TypeError, "pow: .*dtype <U1"),
    ],
)
def test_bad_input_is_named_once_and_clearly(make, error, pattern):
    with pytest.raises(error, match=pattern) as info:
        make()
    assert str(info.value).count("(3,)") <= 2  # each shape said once, not twice


def test_broadcast_error_lists_the_shapes_once():
    with pytest.raises(ValueError) as info:
        Value(np.ones(3)) * np.ones((2, 4))
    assert str(info.value) == "mul: cannot broadcast input shapes (3,), (2, 4) together"


def test_empty_index_list_selects_nothing_as_numpy_does():
    x = Value(np.arange(3.0))
    y = x[[]]
    assert y.shape == (0,)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, np.zeros(3))


def test_mean_of_an_empty_array_is_nan_not_zero_division():
    assert np.isnan(ag.mean(Value(np.ones((0, 3))), axis=0).data).all()


# ------------------------------------------------------------------------------ Value


def test_the_readme_example_matches_hand_derived_gradients():
    rng = np.random.default_rng(0)
    x = Value(2.0, name="x")
    W = Value(rng.standard_normal((3, 4)), name="W")
    y = ((W @ np.ones(4)).tanh() * x).sum()
    y.backward()
    h = np.tanh(W.data @ np.ones(4))
    assert type(x.grad) is float
    assert x.grad == pytest.approx(h.sum())
    expected_W = np.outer(x.data * (1 - h**2), np.ones(4))
    np.testing.assert_allclose(W.grad, expected_W)


@pytest.mark.parametrize(
    ("data", "kind", "dtype"),
    [
        (2, float, np.float64),
        (True, float, np.float64),
        (2.5, float, np.float64),
        (np.float64(1.5), float, np.float64),
        (np.float32(1.5), np.ndarray, np.float32),
        ([1, 2, 3], np.ndarray, np.float64),
        (np.arange(3), np.ndarray, np.float64),
        (np.array([True, False]), np.ndarray, np.float64),
        (np.ones(2, dtype=np.float32), np.ndarray, np.float32),
        (np.array(3.0), np.ndarray, np.float64),
    ],
)
def test_data_is_a_python_float_or_a_float_array(data, kind, dtype):
    v = Value(data)
    assert type(v.data) is kind
    assert v.dtype == dtype
    assert v.requires_grad


def test_dtype_argument_casts():
    v = Value([1, 2], dtype=np.float32)
    assert v.data.dtype == np.float32
    with pytest.raises(TypeError, match="floating"):
        Value([1, 2], dtype=np.int64)


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        ("abc", TypeError, "got str"),
        (None, TypeError, "NoneType"),
        (object(), TypeError, "real numbers"),
        ([[1, 2], [3]], ValueError, "ragged"),
        (1 + 2j, TypeError, "real numbers"),
        (["a", "b"], TypeError, "real numbers"),
        ([Value(1.0), Value(2.0)], TypeError, "stack"),
    ],
)
def test_non_numeric_data_is_a_clear_error(data, error, match):
    with pytest.raises(error, match=match):
        Value(data)


def test_an_array_is_copied_not_aliased():
    a = np.ones(3)
    v = Value(a)
    a[0] = 5.0
    assert v.data[0] == 1.0


def test_attributes_and_repr():
    v = Value(np.zeros((2, 3), dtype=np.float32), name="w")
    assert (v.shape, v.ndim, v.size, v.dtype) == ((2, 3), 2, 6, np.float32)
    assert v.is_leaf and v.op is None
    assert "name='w'" in repr(v) and "shape=(2, 3)" in repr(v) and "float32" in repr(v)
    s = Value(3.0, name="s") * 2
    assert s.op == "mul" and not s.is_leaf and "op='mul'" in repr(s)
    assert s.item() == 6.0 and float(s) == 6.0 and f"{s:.1f}" == "6.0"
    assert s.numpy().shape == ()
    with pytest.raises(ValueError, match=r"shape \(2, 3\)"):
        v.item()


def test_detach_shares_data_and_cuts_the_graph():
    x = Value(np.ones(3))
    d = (x * 2).detach()
    assert d.is_leaf and not d.requires_grad
    y = (d * x).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad, 2 * np.ones(3))


def test_numpy_arrays_on_the_left_give_values():
    x = Value(np.arange(3.0))
    for result in (
        np.ones(3) * x,
        np.ones(3) + x,
        np.ones(3) - x,
        np.ones(3) / (x + 1),
        np.ones((2, 3)) @ x,
        np.float64(2.0) * x,
    ):
        assert isinstance(result, Value)
    assert isinstance(np.float64(2.0) * Value(1.0), Value)


def test_in_place_operators_build_new_nodes():
    x = Value(2.0)
    y = x
    y += 3
    y *= 2
    assert x.data == 2.0 and y.data == 10.0
    y.backward()
    assert x.grad == 2.0


def test_power_with_number_and_value_exponents():
    x, p = Value(2.0), Value(3.0)
    y = x**p + x**2 + 2**x
    y.backward()
    assert y.data == pytest.approx(8 + 4 + 4)
    assert x.grad == pytest.approx(3 * 4 + 2 * 2 + 4 * math.log(2))
    assert p.grad == pytest.approx(8 * math.log(2))


def test_scalars_stay_python_floats_through_the_graph():
    x = Value(0.5)
    y = ((x * 3 + 1).tanh().exp() / 2 - x.sigmoid()).relu() ** 2
    y.backward()
    assert type(y.data) is float and type(x.grad) is float


def test_methods_and_functions_agree():
    x = Value(np.array([0.5, 1.5]))
    for name in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos"):
        np.testing.assert_array_equal(getattr(x, name)().data, getattr(ag, name)(x).data)


def test_reshape_transpose_and_indexing_forms():
    x = Value(np.arange(6.0))
    assert x.reshape(2, 3).shape == (2, 3) == x.reshape((2, 3)).shape == x.reshape(-1, 3).shape
    m = x.reshape(2, 3)
    assert m.T.shape == (3, 2) == m.transpose().shape == m.transpose(1, 0).shape
    assert m.transpose((1, 0)).shape == (3, 2)
    assert m[1].shape == (3,) and m[:, 1:].shape == (2, 2) and m[[0, 0, 1]].shape == (3, 3)
    assert m.sum(axis=(0, 1)).shape == () and m.mean(axis=1, keepdims=True).shape == (2, 1)
    assert len(m) == 2 and [r.shape for r in m] == [(3,), (3,)]


def test_repeated_indices_accumulate():
    x = Value(np.zeros(3))
    x[[0, 0, 2, 0]].sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_broadcasting_sums_gradients_back_to_each_shape():
    a = Value(np.ones((3, 1)))
    b = Value(np.ones(4))
    c = Value(2.0)
    (a * b * c).sum().backward()
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 8.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 6.0))
    assert c.grad == 12.0 and type(c.grad) is float


def test_stable_softmax_and_logsumexp_with_huge_logits():
    x = Value(np.array([1000.0, 1000.0, 990.0]))
    np.testing.assert_allclose(ag.logsumexp(x).data, 1000 + np.log(2 + np.exp(-10)))
    p = ag.softmax(x)
    assert np.all(np.isfinite(p.data))
    np.testing.assert_allclose(p.data.sum(), 1.0)
    np.testing.assert_allclose(ag.log_softmax(x).data, np.log(p.data))
    p[0].backward()
    assert np.all(np.isfinite(x.grad))


def test_functions_on_raw_data_compute_like_numpy():
    assert ag.exp(0.0) == 1.0 and type(ag.exp(0.0)) is float
    np.testing.assert_allclose(ag.softmax(np.array([0.0, 0.0])), [0.5, 0.5])
    np.testing.assert_array_equal(ag.maximum(np.array([1.0, 3.0]), 2.0), [2.0, 3.0])


def test_where_concatenate_stack():
    a, b = Value(np.array([1.0, 2.0])), Value(np.array([10.0, 20.0]))
    w = ag.where(np.array([True, False]), a, b)
    np.testing.assert_array_equal(w.data, [1.0, 20.0])
    c = ag.concatenate([a, b])
    s = ag.stack([a, b], axis=1)
    assert c.shape == (4,) and s.shape == (2, 2)
    (w.sum() + (c * np.arange(4)).sum() + s[0, 1]).backward()
    np.testing.assert_array_equal(a.grad, [1.0 + 0.0, 0.0 + 1.0])
    np.testing.assert_array_equal(b.grad, [0.0 + 2.0 + 1.0, 1.0 + 3.0])
    v = ag.stack([Value(1.0), Value(2.0)])
    assert v.shape == (2,)


# -------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: Value(np.ones(3)) + np.ones(4), ValueError, r"add: .*\(3,\), \(4,\)"),
        (
            lambda: Value(np.ones((2, 3))) @ Value(np.ones((2, 3))),
            ValueError,
            r"matmul: .*\(2, 3\)",
        ),
        (lambda: Value(2.0) @ Value(np.ones(2)), ValueError, "matmul: both operands"),
        (lambda: Value(np.ones(6)).reshape(4, 2), ValueError, r"reshape: .*size 6"),
        (lambda: Value(np.ones(3))[5], IndexError, r"getitem: .*\(3,\)"),
        (lambda: Value(np.ones(3))[0.5], IndexError, "getitem"),
        (lambda: Value(np.ones(3)).sum(axis=2), ValueError, "sum: .*axis 2"),
        (lambda: Value(np.ones(3)) * "a", TypeError, "mul: bad operand"),
        (lambda: ag.concatenate([]), ValueError, "concatenate: need"),
        (
            lambda: ag.stack([Value(np.ones(2)), Value(np.ones(3))]),
            ValueError,
            "stack: .*one shape",
        ),
        (lambda: bool(Value(np.ones(2))), ValueError, "ambiguous"),
        (lambda: len(Value(1.0)), TypeError, "scalar"),
    ],
)
def test_bad_input_names_the_op_and_shapes(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_math_domain_follows_numpy_on_scalars_too():
    assert math.isnan(Value(-1.0).log().data) and Value(0.0).log().data == -math.inf
    assert Value(1000.0).exp().data == math.inf
    assert math.isnan((Value(-8.0) ** (1 / 3)).data)
    assert (Value(1.0) / 0.0).data == math.inf


@pytest.mark.parametrize(
    ("f", "grad"),
    [
        (lambda x: x.sqrt(), math.inf),
        (lambda x: x**0.5, math.inf),
        (lambda x: 1 / x, -math.inf),
        (lambda x: x.log(), math.inf),
    ],
)
def test_scalar_backward_at_a_pole_follows_numpy_too(f, grad):
    x = Value(0.0)
    f(x).backward()
    assert x.grad == grad and type(x.grad) is float


# ------------------------------------------------------------------ node size and notes


def test_a_scalar_op_node_takes_at_most_168_bytes():
    """The node, its float and its inputs tuple: seven slots (issue 19: was 184 with two
    rarely-set slots for anomaly sites and module records)."""
    import sys
    import tracemalloc

    x = Value(1.0)
    y = x * 2.0
    assert sys.getsizeof(y) + sys.getsizeof(y.data) + sys.getsizeof(y._inputs) <= 168
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        y = x
        for _ in range(2000):
            y = y * 1.0001 + 0.5
        per_node = (tracemalloc.get_traced_memory()[0] - before) / 4000
    finally:
        tracemalloc.stop()
    assert per_node <= 168.5, per_node


def test_name_site_and_module_records_share_one_rarely_set_slot():
    y = Value(1.0) * 2.0
    assert y._notes is None and y.name is None
    assert getattr(y, "_site", None) is None and getattr(y, "_calls", ()) == ()
    y.name = "y"
    y._calls = ("a call",)
    assert (y.name, y._calls, getattr(y, "_site", None)) == ("y", ("a call",), None)
    with ag.detect_anomaly():
        z = Value(1.0, name="x").tanh()
    assert z._site and z.name is None and getattr(z, "_calls", None) is None
    assert Value(1.0, name="w").detach().name == "w"
    import copy

    w = Value(1.0, name="w")
    c = copy.copy(w)
    c.name = "c"
    assert (w.name, c.name) == ("w", "c")


def test_every_name_bound_onto_value_is_declared_on_the_class():
    """What operators.py (and viz.py) bind at import, a type checker sees in value.py."""
    import ast
    import pathlib

    import autograd_lite.core.value as value_module

    tree = ast.parse(pathlib.Path(value_module.__file__).read_text())
    (cls,) = (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Value")
    declared: set[str] = set()
    blocks = [cls.body]
    while blocks:
        for node in blocks.pop():
            if isinstance(node, ast.If):  # the TYPE_CHECKING block
                blocks.append(node.body)
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                declared.add(node.name)
            elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
                declared.add(node.target.id)
            elif isinstance(node, ast.Assign):
                declared.update(t.id for t in node.targets if isinstance(t, ast.Name))
    declared.update(cls_slot for cls_slot in Value.__slots__)
    internal = {"__module__", "__doc__", "__annotations__", "__slots__", "__slotnames__"}
    runtime = set(Value.__dict__) - internal  # (__slotnames__: copyreg's cache)
    assert runtime - declared == set()
    # ... and the block declares nothing that is not there at run time
    assert {n for n in declared if not hasattr(Value, n)} == set()


# ------------------------------------------------------- the Python-float fast path

# floats where Python and numpy part ways: signed zeros, infinities, nan, overflow, the
# smallest subnormal
EDGE_FLOATS = [0.0, -0.0, 1.5, -2.0, 5e-324, 1e308, -1e308, math.inf, -math.inf, math.nan]


def _same(a, b) -> bool:
    """The same Python float bit for bit (nan equal to nan, 0.0 apart from -0.0)."""
    if type(a) is not type(b):
        return False
    if type(a) is not float:
        return a is b
    return (math.isnan(a) and math.isnan(b)) or (
        a == b and math.copysign(1, a) == math.copysign(1, b)
    )


def _same_node(fast, slow) -> bool:
    return (
        type(fast) is type(slow)
        and _same(fast.data, slow.data)
        and fast.requires_grad == slow.requires_grad
        and fast._op is slow._op
        and fast._ctx == slow._ctx
        and fast.grad is None is slow.grad
        and fast._notes is None is slow._notes
        and (fast._inputs is None) == (slow._inputs is None)
        and all(_same(a, b) for a, b in zip(fast._inputs or (), slow._inputs or ()))
    )


def _outcome(f, *args):
    try:
        return f(*args)
    except Exception as e:
        return (type(e), str(e))


BINARY = [("add", "ADD"), ("sub", "SUB"), ("mul", "MUL"), ("truediv", "DIV"), ("matmul", "MATMUL")]
UNARY = [
    *[(m, m.upper()) for m in ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs")],
    *[(m, m.upper()) for m in ("sin", "cos")],
    ("__neg__", "NEG"),
    ("__abs__", "ABS"),
]


@pytest.mark.parametrize("grad_enabled", [True, False])
@pytest.mark.parametrize("requires_grad", [True, False])
def test_float_operators_make_exactly_the_node_apply_makes(grad_enabled, requires_grad):
    """Value's operators skip apply() on Python floats; side by side with apply() itself,
    nan, infinities, signed zeros, poles and errors included."""
    from autograd_lite.core.op import apply
    from autograd_lite.ops import primitives as prim

    def check(fast, slow, *why):
        if isinstance(slow, tuple):  # the same error (matmul of two scalars)
            assert fast == slow, why
        else:
            assert _same_node(fast, slow), why

    with ag.set_grad_enabled(grad_enabled):
        for a in EDGE_FLOATS:
            x = Value(a, requires_grad=requires_grad)
            for method, name in UNARY:
                op = getattr(prim, name)
                check(_outcome(getattr(x, method)), _outcome(apply, op, (x,)), method, a)
            for b in EDGE_FLOATS:
                y = Value(b)
                for method, name in BINARY:
                    op = getattr(prim, name)
                    forward, reflected = getattr(x, f"__{method}__"), getattr(x, f"__r{method}__")
                    check(_outcome(forward, y), _outcome(apply, op, (x, y)), method, a, b)
                    check(_outcome(forward, b), _outcome(apply, op, (x, b)), method, a, b)
                    check(_outcome(reflected, b), _outcome(apply, op, (b, x)), method, b, a)


def test_the_float_fast_path_leaves_hooks_to_apply():
    """Under detect_anomaly (an open hook) the operators take apply(), which records the
    creation site and checks the result; ints and arrays go through apply() too."""
    x = Value(2.0)
    with ag.detect_anomaly(check_nan=False):
        y = x * 3.0
    assert y._site
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match="forward of 'mul'"):
        x * math.inf
    assert (x + 1)._inputs == (x, 1.0) and type((1 + x)._inputs[0]) is float
    assert (x * np.ones(2)).shape == (2,)


def test_equality_with_numbers_and_arrays_is_elementwise_as_in_numpy():
    x = Value(np.array([0.0, 1.0, np.nan]))
    np.testing.assert_array_equal(x != 0, [False, True, True])
    np.testing.assert_array_equal(x == 1.0, [False, True, False])
    np.testing.assert_array_equal(np.array([0.0, 2.0, 0.0]) == x, [True, False, False])
    assert (Value(2.0) == 2) is True and (Value(2.0) != 2.0) is False
    np.testing.assert_array_equal(ag.where(x != 0, x, x * 2.0).data, [0.0, 1.0, np.nan])
    # a Value against a Value (or None, or anything else) by identity: a graph's key
    y = Value(np.array([0.0, 1.0, np.nan]))
    assert x == x and x != y and (x == y) is False and x != None  # noqa: E711
    assert {x: 1, y: 2}[x] == 1 and x in [y, x] and [y, x].index(x) == 1
