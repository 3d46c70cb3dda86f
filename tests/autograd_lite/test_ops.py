"""Every primitive in the op table, gradient-checked against central finite differences.

``CASES`` maps each op name to a hypothesis strategy of ``(inputs, params)``: generated
shapes (broadcasting included) and float64 values kept away from kinks and domain edges.
An input that is data rather than a variable (``pick``'s class labels) is wrapped in
:class:`Labels`: passed as it is, never perturbed.
The tests iterate over ``OPS`` itself, so an op added to the table without a case here
fails ``test_every_op_has_a_gradient_case``.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import autograd_lite as ag
from autograd_lite.core.op import apply
from autograd_lite.ops.primitives import BUILTIN_OPS as OPS
from autograd_lite.ops.primitives import MaskBox
from autograd_lite.testing import (
    arrays,
    broadcastable_shapes,
    check_gradients,
    distinct_arrays,
    shapes,
)
from autograd_lite.transforms import check_forward_ad


@st.composite
def maybe_scalar(draw, array_strategy):
    """An array, or for shape () sometimes a Python float (the engine's scalar fast path)."""
    x = draw(array_strategy)
    if x.shape == () and draw(st.booleans()):
        return float(x)
    return x


class Labels:
    """Class labels: an op input that is not differentiated (passed raw, not as a Value)."""

    def __init__(self, labels, n_classes):
        self.labels, self.n_classes = labels, n_classes

    def moved(self, k):
        """Other valid labels (for replays with new data)."""
        return Labels(np.asarray((self.labels + k) % self.n_classes), self.n_classes)

    def __repr__(self):
        return f"Labels({self.labels!r})"


def op_inputs(name, inputs, params, cast=ag.Value):
    """``(fn, variables)``: the op as a function of its variable inputs (``cast`` of each),
    with its :class:`Labels` inputs bound as they are."""
    op = OPS[name]
    variables = [cast(x) for x in inputs if not isinstance(x, Labels)]

    def fn(*xs):
        it = iter(xs)
        return apply(
            op, tuple(x.labels if isinstance(x, Labels) else next(it) for x in inputs), params
        )

    return fn, variables


NO_PARAMS = st.just(())


def unary(low=-3.0, high=3.0, avoid=(), params=NO_PARAMS):
    x = shapes().flatmap(lambda s: maybe_scalar(arrays(s, low, high, avoid)))
    return st.tuples(x.map(lambda a: [a]), params)


def binary(x_range=(-3.0, 3.0), y_range=(-3.0, 3.0), y_avoid=()):
    def build(pair):
        sx, sy = pair
        return st.tuples(
            maybe_scalar(arrays(sx, *x_range)), maybe_scalar(arrays(sy, *y_range, y_avoid))
        ).map(list)

    return st.tuples(broadcastable_shapes().flatmap(build), st.just(()))


@st.composite
def tie_free_pair(draw):
    """x and y on interleaved grids, so no element of x equals one of y (kink of max/min)."""
    sx, sy = draw(broadcastable_shapes())
    x = draw(hnp.arrays(np.float64, sx, elements=st.integers(-15, 15).map(lambda k: 0.2 * k)))
    y = draw(hnp.arrays(np.float64, sy, elements=st.integers(-15, 15).map(lambda k: 0.2 * k + 0.1)))
    return [x, y], ()


@st.composite
def axis_params(draw, shape):
    nd = len(shape)
    if nd == 0:
        axis = None
    else:
        axis = draw(
            st.one_of(
                st.none(),
                st.integers(-nd, nd - 1),
                st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True).map(tuple),
            )
        )
    return axis, draw(st.booleans())


def reduction(values=arrays):
    @st.composite
    def build(draw):
        s = draw(shapes())
        return [draw(values(s))], draw(axis_params(s))

    return build()


@st.composite
def reshape_case(draw):
    s = draw(shapes())
    size = int(np.prod(s))
    new = draw(st.sampled_from([(size,), (-1,), s[::-1], (1, size), (size, 1, 1)]))
    return [draw(arrays(s))], (new,)


@st.composite
def transpose_case(draw):
    s = draw(shapes(min_dims=1))
    axes = draw(st.one_of(st.none(), st.permutations(range(len(s))).map(tuple)))
    return [draw(arrays(s))], (axes,)


@st.composite
def broadcast_to_case(draw):
    target = draw(shapes(min_dims=1))
    keep = draw(st.integers(0, len(target)))  # the input has the trailing `keep` dims
    src = tuple(d if draw(st.booleans()) else 1 for d in target[len(target) - keep :])
    return [draw(arrays(src))], (target,)


@st.composite
def index_case(draw):
    s = draw(shapes(min_dims=1))
    index = draw(
        st.one_of(
            hnp.basic_indices(s, allow_ellipsis=True, allow_newaxis=False),
            hnp.integer_array_indices(s, result_shape=hnp.array_shapes(max_dims=2, max_side=5)),
        )
    )
    return s, index


@st.composite
def getitem_case(draw):
    s, index = draw(index_case())
    return [draw(arrays(s))], (index,)


@st.composite
def scatter_add_case(draw):
    s, index = draw(index_case())
    g_shape = np.zeros(s)[index].shape
    return [draw(arrays(g_shape))], (index, s)


@st.composite
def concatenate_case(draw):
    s = draw(shapes(min_dims=1))
    axis = draw(st.integers(-len(s), len(s) - 1))
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        part = list(s)
        part[axis] = draw(st.integers(1, 3))
        parts.append(draw(arrays(tuple(part))))
    return parts, (axis,)


@st.composite
def matmul_case(draw):
    n, k, m = draw(st.tuples(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3)))
    bx, by = draw(broadcastable_shapes(max_dims=2, max_side=3))
    x_shape = draw(st.sampled_from([(k,), (n, k), bx + (n, k)]))
    y_shape = draw(st.sampled_from([(k,), (k, m), by + (k, m)]))
    return [draw(arrays(x_shape)), draw(arrays(y_shape))], ()


@st.composite
def linear_case(draw):
    n_in, n_out = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    batch = draw(st.sampled_from([(), (2,), (3, 2)]))
    b_shape = draw(st.sampled_from([(n_out,), (), (1, n_out)]))
    return [
        draw(arrays((*batch, n_in))),
        draw(arrays((n_in, n_out))),
        draw(arrays(b_shape)),
    ], ()


@st.composite
def where_case(draw):
    sc, sa, sb = draw(broadcastable_shapes(num_shapes=3))
    cond = draw(hnp.arrays(np.bool_, sc))
    return [draw(arrays(sa)), draw(arrays(sb))], (bool(cond) if cond.ndim == 0 else cond,)


@st.composite
def log_softmax_case(draw):
    s = draw(shapes(min_dims=1))
    return [draw(arrays(s))], (draw(st.integers(-len(s), len(s) - 1)),)


# ------------------------------------------------ convolution, pooling and dropout cases
# Tiny images (1-2 samples and channels, sides up to 5) keep each op's three tests quick.


@st.composite
def conv_config(draw, nd=None):
    """(x shape, w shape, out shape, stride, padding pairs, dilation) of a small convolution."""
    nd = nd or draw(st.integers(1, 2))
    n, c, o = (draw(st.integers(1, 2)) for _ in range(3))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) if k > 1 else 1 for k in kernel)
    padding = tuple((draw(st.integers(0, 1)), draw(st.integers(0, 1))) for _ in range(nd))
    size = []
    for k, d, (lo, hi) in zip(kernel, dilation, padding):
        low = max(1, d * (k - 1) + 1 - lo - hi)
        size.append(draw(st.integers(low, max(low, 5 if nd == 1 else 4))))
    out = tuple(
        (s + lo + hi - d * (k - 1) - 1) // st_ + 1
        for s, k, st_, (lo, hi), d in zip(size, kernel, stride, padding, dilation)
    )
    return (n, c, *size), (o, c, *kernel), (n, o, *out), stride, padding, dilation


@st.composite
def conv_case(draw, nd):
    xs, ws, _, stride, padding, dilation = draw(conv_config(nd))
    bias = draw(arrays((ws[0],)))
    return [draw(arrays(xs)), draw(arrays(ws)), bias], (stride, padding, dilation)


@st.composite
def conv_transpose_case(draw):
    xs, ws, gs, stride, padding, dilation = draw(conv_config())
    return [draw(arrays(gs)), draw(arrays(ws))], (stride, padding, dilation, xs[2:])


@st.composite
def conv_weight_case(draw):
    xs, ws, gs, stride, padding, dilation = draw(conv_config())
    return [draw(arrays(xs)), draw(arrays(gs))], (stride, padding, dilation, ws[2:])


@st.composite
def pool_config(draw, nd=2):
    """(input shape, kernel, stride, padding pairs, output spatial shape) of a small pooling."""
    lead = draw(st.sampled_from([(1,), (2,), (1, 2), (2, 1)]))
    kernel = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    pads = tuple(draw(st.integers(0, k // 2)) for k in kernel)
    size = tuple(draw(st.integers(max(1, k - 2 * p), 5)) for k, p in zip(kernel, pads))
    out = tuple((s + 2 * p - k) // st_ + 1 for s, k, st_, p in zip(size, kernel, stride, pads))
    return (*lead, *size), kernel, stride, tuple((p, p) for p in pads), out


@st.composite
def max_pool_case(draw):
    shape, kernel, stride, padding, _ = draw(pool_config())
    return [draw(distinct_arrays(shape))], (kernel, stride, padding)


@st.composite
def avg_pool_case(draw):
    shape, kernel, stride, padding, _ = draw(pool_config())
    return [draw(arrays(shape))], (kernel, stride, padding, draw(st.booleans()))


@st.composite
def window_mask(draw, shape):
    """The constant weights of window_scatter/gather: a number, or one per window entry."""
    if draw(st.booleans()):
        return draw(st.floats(0.1, 1.0))
    return draw(arrays(shape))


@st.composite
def window_scatter_case(draw):
    shape, kernel, stride, padding, out = draw(pool_config(draw(st.integers(1, 2))))
    lead = shape[: len(shape) - len(kernel)]
    mask = draw(window_mask(lead + out + kernel))
    return [draw(arrays(lead + out))], (mask, shape[len(lead) :], kernel, stride, padding)


@st.composite
def window_gather_case(draw):
    shape, kernel, stride, padding, out = draw(pool_config(draw(st.integers(1, 2))))
    lead = shape[: len(shape) - len(kernel)]
    mask = draw(window_mask(lead + out + kernel))
    return [draw(arrays(shape))], (mask, kernel, stride, padding)


class SameDraws:
    """A stand-in for a numpy Generator whose every draw is the same (seeded) one, so the
    finite differences of dropout see one fixed mask; the real op draws anew each time."""

    def __init__(self, seed):
        self.seed = seed

    def random(self, size=None):
        return np.random.default_rng(self.seed).random(size)


@st.composite
def dropout_case(draw):
    x = draw(shapes(min_dims=1).flatmap(arrays))
    p = draw(st.sampled_from([0.2, 0.5, 0.8]))
    return [x], (p, SameDraws(draw(st.integers(0, 2**16))), MaskBox())


@st.composite
def pick_case(draw):
    s = draw(shapes(min_dims=1))
    labels = draw(hnp.arrays(np.int64, s[:-1], elements=st.integers(0, s[-1] - 1)))
    return [draw(arrays(s)), Labels(labels, s[-1])], ()


@st.composite
def embedding_case(draw):
    rows, dim = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    idx = draw(hnp.arrays(np.int64, shapes(max_dims=2), elements=st.integers(0, rows - 1)))
    # a padding row takes no gradient by declaration (its value is used): finite
    # differences see it, so the checks draw padding_idx=None; tests/nn check padding
    return [draw(arrays((rows, dim))), Labels(idx, rows)], (None,)


@st.composite
def bce_logits_case(draw):
    sx, st_ = draw(broadcastable_shapes())
    x = draw(maybe_scalar(arrays(sx, -4.0, 4.0)))
    t = draw(maybe_scalar(arrays(st_, 0.0, 1.0)))
    pw = draw(st.one_of(st.floats(0.5, 3.0), arrays(sx, 0.5, 3.0)))
    return [x, t], (pw,)


CASES = {
    "add": binary(),
    "sub": binary(),
    "mul": binary(),
    "div": binary(y_range=(-3.0, 3.0), y_avoid=(0.0,)),
    "neg": unary(),
    "pow": binary(x_range=(0.3, 3.0), y_range=(-2.0, 2.0)),
    "pow_const": unary(
        0.3, 3.0, params=st.sampled_from([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0, 3.0]).map(lambda c: (c,))
    ),
    "exp": unary(),
    "log": unary(0.2, 5.0),
    "sqrt": unary(0.2, 5.0),
    "tanh": unary(-4.0, 4.0),
    "sigmoid": unary(-6.0, 6.0),
    "relu": unary(avoid=(0.0,)),
    "leaky_relu": unary(avoid=(0.0,), params=st.floats(0.01, 0.5).map(lambda a: (a,))),
    "abs": unary(avoid=(0.0,)),
    "sin": unary(),
    "cos": unary(),
    "maximum": tie_free_pair(),
    "minimum": tie_free_pair(),
    "where": where_case(),
    "sum": reduction(),
    "max": reduction(distinct_arrays),
    "logsumexp": reduction(),
    "mean": reduction(),
    "log_softmax": log_softmax_case(),
    "reshape": reshape_case(),
    "transpose": transpose_case(),
    "broadcast_to": broadcast_to_case(),
    "getitem": getitem_case(),
    "pick": pick_case(),
    "embedding": embedding_case(),
    "scatter_add": scatter_add_case(),
    "concatenate": concatenate_case(),
    "matmul": matmul_case(),
    "linear": linear_case(),
    "mse": binary(),
    "binary_cross_entropy": binary(x_range=(0.05, 0.95), y_range=(0.0, 1.0)),
    "binary_cross_entropy_with_logits": bce_logits_case(),
    "conv1d": conv_case(1),
    "conv2d": conv_case(2),
    "conv_transpose": conv_transpose_case(),
    "conv_weight": conv_weight_case(),
    "max_pool2d": max_pool_case(),
    "avg_pool2d": avg_pool_case(),
    "window_scatter": window_scatter_case(),
    "window_gather": window_gather_case(),
    "dropout": dropout_case(),
}


def test_every_op_has_a_gradient_case():
    missing = set(OPS) - set(CASES)
    assert not missing, f"ops without a gradcheck case in CASES: {sorted(missing)}"
    assert not set(CASES) - set(OPS), "CASES names ops that are not in the table"


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradient_matches_finite_differences(name):
    @given(CASES[name])
    def check(case):
        assert ag.gradcheck(*op_inputs(name, *case))

    check()


@pytest.mark.parametrize("name", sorted(OPS))
def test_second_derivative_matches_finite_differences(name):
    """The backward rules are differentiable too (create_graph=True), for every op."""

    @given(CASES[name])
    def check(case):
        assert ag.gradgradcheck(*op_inputs(name, *case))

    check()


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradient_has_the_input_shape_and_dtype(name):
    """float32 stays float32 through forward and backward, and grads take the input's shape."""

    @given(CASES[name])
    def check(case):
        fn, xs = op_inputs(name, *case, cast=lambda x: ag.Value(np.asarray(x, dtype=np.float32)))
        out = fn(*xs)
        assert out.dtype == np.float32
        out.backward(np.ones(out.shape, dtype=np.float32))
        for x in xs:
            assert x.grad.shape == x.shape
            assert x.grad.dtype == np.float32

    check()


# Composite functions (built from the primitives above) are checked through the public API.
COMPOSITES = {
    "min": lambda x: ag.min(x, axis=-1),
    "softmax": lambda x: ag.softmax(x, axis=-1),
    "stack": lambda x: ag.stack([x, x * 2.0, x.tanh()], axis=1),
    "sub_scalar_rsub": lambda x: 1.0 - x / 2.0,
    "rpow": lambda x: 2.0**x,
    "T": lambda x: x.T @ x,
}


@pytest.mark.parametrize("name", sorted(COMPOSITES))
def test_composite_gradients(name):
    """Through the public checker users have: first and second order, with broadcast
    variants of the shape, hypothesis shrinking any failure to a minimal example."""
    check_gradients(COMPOSITES[name], [(3, 4)], max_examples=25)


# Forward mode: every op's JVP rule, from the same table and the same cases.


def test_every_op_has_a_jvp_rule():
    """A built-in without its own rule would fall back to the (slower) derived JVP."""
    missing = sorted(name for name, op in OPS.items() if op.jvp is None)
    assert not missing, f"ops without a jvp= rule: {missing}"


@pytest.mark.parametrize("name", sorted(OPS))
def test_jvp_matches_vjp_and_finite_differences(name):
    """<u, J t> by the op's JVP = <J^T u, t> by its VJP (the dot-product identity: exact up
    to rounding, at any magnitude), and J v = central finite differences."""

    @given(CASES[name])
    def check(case):
        fn, xs = op_inputs(name, *case)
        result = check_forward_ad(fn, xs)
        assert result, result.message
        assert result.op is None

    check()


def test_a_wrong_jvp_rule_is_caught_and_named(monkeypatch):
    monkeypatch.setattr(OPS["tanh"], "jvp", lambda t, out, x: t[0] * (1.0 - out))
    result = check_forward_ad(lambda x: (x * 2.0).tanh().sum(), [np.array([0.3, -0.7])])
    assert not result and result.op == "tanh" and result.input == 0
    with pytest.raises(ag.GradcheckError, match="JVP of op 'tanh'"):
        ag.gradcheck(lambda x: x.tanh().sum(), [np.array([0.3, -0.7])], check_forward_ad=True)
    assert ag.gradcheck(lambda x: x.tanh().sum(), [np.array([0.3, -0.7])])  # reverse is fine
    with pytest.raises(ag.GradcheckError, match="JVP of op 'tanh'"):
        check_gradients(lambda x: x.tanh(), [(3,)], check_forward_ad=True, max_examples=3)


@pytest.mark.parametrize("name", sorted(OPS))
def test_jvp_rule_serves_values_floats_and_float32(name):
    """One rule: on raw data (arrays and Python floats), on Values (create_graph, the
    same numbers) and in float32 (the tangent keeps the result's dtype)."""

    @given(CASES[name])
    def check(case):
        fn, xs = op_inputs(name, *case)
        rng = np.random.default_rng(0)
        data = tuple(x.data for x in xs)
        vs = tuple(
            float(rng.standard_normal()) if type(d) is float else rng.standard_normal(d.shape)
            for d in data
        )
        out, t = ag.jvp(fn, data, vs)
        assert np.shape(t) == np.shape(out) and type(t) is type(out)
        _, tv = ag.jvp(fn, tuple(ag.Value(d) for d in data), vs, create_graph=True)
        np.testing.assert_allclose(tv.data, t, rtol=1e-12, atol=1e-14)
        data32 = tuple(np.asarray(d, np.float32) for d in data)
        out32, t32 = ag.jvp(fn, data32, tuple(np.asarray(v, np.float32) for v in vs))
        assert t32.dtype == np.float32 == out32.dtype

    check()
