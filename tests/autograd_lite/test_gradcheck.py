"""The checker itself: it must catch wrong gradients, say where, and leave inputs alone.

Each verdict is shown on a purpose-built case: a wrong op (full and fast mode), a correct
op at a kink and at magnitudes 1e6 and 1e-6 (passing, with a note), a wrong op at a kink
(failing), parameters reached through a closure or a model, and unused inputs.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given

import autograd_lite as ag
import autograd_lite.functional as F
from autograd_lite import Value, nn
from autograd_lite.gradcheck import FULL_MODE_BUDGET, GradcheckResult, check_graph
from autograd_lite.testing import arrays, check_gradients, shapes


class WrongSquare(ag.Function):
    """x * y**2 with a deliberately wrong backward for y (3xy instead of 2xy)."""

    @staticmethod
    def forward(ctx, x, y):
        ctx.save_for_backward(x, y)
        return x * y * y

    @staticmethod
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        return grad * y * y, grad * 3.0 * x * y


class FrozenSquare(ag.Function):
    """x**2 whose backward is right to first order but not differentiable: it keeps x raw."""

    @staticmethod
    def forward(ctx, x):
        ctx.x = x  # not save_for_backward: create_graph cannot see through it
        return x * x

    @staticmethod
    def backward(ctx, grad):
        return 2.0 * ctx.x * grad


class NumpySin(ag.Function):
    """sin, with a backward that calls numpy on what may be a Value under create_graph."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.cos(x)


class ReluWithSlope5AtZero(ag.Function):
    """relu whose derivative at 0 is 5: outside [0, 1], so not a subgradient."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.where(x > 0, 1.0, np.where(x == 0, 5.0, 0.0))


class WrongWeightGrad(ag.Function):
    """x @ w + b whose gradient for w is twice what it should be."""

    @staticmethod
    def forward(ctx, x, w, b):
        ctx.save_for_backward(x, w)
        return x @ w + b

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        return grad @ w.T, 2.0 * (x.T @ grad), grad.sum(axis=0)


class WrongLinear(nn.Module):
    """A linear layer whose weight gradient is wrong (and bias and input gradients right)."""

    def __init__(self, nin, nout, seed):
        rng = np.random.default_rng(seed)
        self.weight = nn.Parameter(rng.standard_normal((nin, nout)) / np.sqrt(nin))
        self.bias = nn.Parameter(rng.standard_normal(nout) * 0.1)

    def forward(self, x):
        return WrongWeightGrad.apply(x, self.weight, self.bias)


class Net(nn.Module):
    """Linear -> tanh -> WrongLinear: parameters layers.0.weight ... layers.1.bias."""

    def __init__(self):
        self.layers = [nn.Linear(3, 4, rng=0), WrongLinear(4, 2, seed=1)]

    def forward(self, x):
        return self.layers[1](self.layers[0](x).tanh())


X = np.random.default_rng(2).standard_normal((2, 3))


# ------------------------------------------------------------------- wrong gradients


def test_a_wrong_backward_is_caught_and_the_right_input_named():
    x, y = Value(np.array([1.0, 2.0])), Value(np.array([0.5, -1.5]))
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradcheck(WrongSquare.apply, [x, y])
    msg = str(info.value)
    assert msg.startswith("gradcheck FAILED: 1 of 2 checked disagree with finite differences")
    assert "atol=1e-05, rtol=0.001" in msg and "mode: full" in msg
    # the worst entry is d out[1] / d y[1]: analytical 3*2*(-1.5) = -9, numerical -6
    assert "d out[1] / d input1[1]: analytical -9, numerical -6, abs error 3" in msg
    result = info.value.result
    assert result["input 0"].passed and not result[1].passed
    assert result[1].verdict == "FAIL: 2 of 4 entries disagree"
    assert result[1].worst[0].analytical == pytest.approx(-9)
    assert result[1].worst[0].numerical == pytest.approx(-6)


def test_a_wrong_backward_is_caught_in_fast_mode_and_confirmed_entry_by_entry():
    x, y = Value(np.array([1.0, 2.0])), Value(np.array([0.5, -1.5]))
    result = ag.gradcheck(WrongSquare.apply, [x, y], fast_mode=True, raise_exception=False)
    assert not result and result.mode == "fast"
    assert result[0].passed and not result[1].passed
    assert "d out[1] / d input1[1]: analytical -9, numerical -6" in str(result)
    assert "found by random projections, confirmed with the full Jacobian" in str(result)


def test_the_result_is_truthy_exactly_when_the_check_passed():
    x, y = Value(1.0), Value(2.0)
    assert issubclass(ag.GradcheckError, AssertionError)
    bad = ag.gradcheck(WrongSquare.apply, [x, y], raise_exception=False)
    assert isinstance(bad, GradcheckResult) and not bad and bad.passed is False
    good = ag.gradcheck(lambda a, b: a * b * b, [x, y])
    assert good and good.passed is True
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradcheck(WrongSquare.apply, [x, y])
    assert str(info.value) == str(info.value.result)
    assert "checked" in str(good) and "input 1" in str(good) and "forward passes" in str(good)


def test_only_inputs_that_require_grad_are_checked():
    x, y = Value(1.0), Value(2.0, requires_grad=False)
    result = ag.gradcheck(WrongSquare.apply, [x, y])
    assert [c.name for c in result.checks] == ["input 0"]


# ----------------------------------------------------------------------------- kinks


def test_relu_at_zero_passes_with_a_note_and_fails_when_strict():
    result = ag.gradcheck(ag.relu, [Value(np.array([0.0, 1.0]))])
    assert result[0].verdict == "ok (kink)"
    assert "one-sided slopes 0 and 1, analytical 0 between them" in result[0].notes[0]
    strict = ag.gradcheck(
        ag.relu, [Value(np.array([0.0, 1.0]))], strict=True, raise_exception=False
    )
    assert not strict and strict[0].failed == 1


@pytest.mark.parametrize(
    "fn, x",
    [
        (lambda v: ag.leaky_relu(v, 0.1), [0.0, -2.0, 3.0]),
        (lambda v: v.max(), [1.0, 1.0, 1.0]),  # a three-way tie: 1/3 each, slopes 0 and 1
        (lambda v: ag.relu(v).sum() * v, [0.0, 2.0]),  # vector output: checked entry by entry
    ],
    ids=["leaky_relu", "max-tie", "vector-output"],
)
def test_correct_ops_at_kinks_pass(fn, x):
    result = ag.gradcheck(fn, [Value(np.array(x))])
    assert "kink" in result[0].verdict


def test_a_wrong_derivative_at_a_kink_fails():
    x = Value(np.array([0.0, 1.0, -1.0]))
    result = ag.gradcheck(ReluWithSlope5AtZero.apply, [x], raise_exception=False)
    assert not result
    assert result[0].worst[0].verdict == "kink-fail"
    assert "one-sided slopes 0 and 1, analytical 5 NOT between them" in str(result)


def test_a_discontinuous_first_derivative_is_unverified_not_a_failure_nor_ok():
    result = ag.gradgradcheck(ag.relu, [Value(np.array([0.0, 1.0]))])
    assert result[0].verdict == "unverified: 1 of 4 entries" and result.unverified == 1
    assert str(result).startswith("gradgradcheck (second derivatives) UNVERIFIED: 1 entry")
    assert "a jump within" in str(result) and "move the point or shrink eps" in str(result)
    strict = ag.gradgradcheck(
        ag.relu, [Value(np.array([0.0, 1.0]))], strict=True, raise_exception=False
    )
    assert not strict


# ------------------------------------------------------------------ noise at magnitudes

MAGNITUDE_CASES = {
    "exp-1e6": (lambda x: (x * 1e-6).exp() * 1e6, 1e6),
    "log-1e6": (lambda x: x.log() * 1e6, 1e6),
    "tanh-1e6": (lambda x: (x * 1e-6).tanh() * 1e6, 1e6),
    "mul-1e6": (lambda x: x * x, 1e6),
    "div-1e6": (lambda x: 1e12 / x, 1e6),
    "exp-1e-6": (lambda x: (x * 1e6).exp(), 1e-6),
    "log-1e-6": (lambda x: x.log(), 1e-6),
    "tanh-1e-6": (lambda x: (x * 1e6).tanh() * 1e-6, 1e-6),
    "mul-1e-6": (lambda x: x * x * 1e12, 1e-6),
    "div-1e-6": (lambda x: 1.0 / x, 1e-6),
}


@pytest.mark.parametrize("name", sorted(MAGNITUDE_CASES))
def test_correct_ops_at_large_and_tiny_magnitudes_pass(name):
    fn, magnitude = MAGNITUDE_CASES[name]
    x = Value(magnitude * np.array([0.6, 1.0, 1.7]))
    assert ag.gradcheck(fn, [x])
    assert ag.gradcheck(fn, [Value(magnitude * 1.3)])


def test_noise_is_a_note_not_a_failure_and_strict_mode_reports_it():
    fn = lambda x: x.log()  # at 1e-6, x - eps reaches 0: the plain difference is nonsense
    x = Value(np.array([1e-6, 2e-6]))
    result = ag.gradcheck(fn, [x])
    assert result[0].verdict == "ok (noise)"
    assert result[0].notes[0].startswith("noise at eps=1e-06, agrees at ")
    assert not ag.gradcheck(fn, [x], strict=True, raise_exception=False)


def test_a_wrong_gradient_is_not_excused_as_noise_at_any_magnitude():
    class ExpOffByOnePercent(ag.Function):
        @staticmethod
        def forward(ctx, x):
            y = np.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad):
            (y,) = ctx.saved_tensors
            return grad * y * 1.01

    for x in (1e-6, 1.0, 30.0):
        result = ag.gradcheck(
            ExpOffByOnePercent.apply, [Value(np.array([x]))], raise_exception=False
        )
        assert not result and result[0].worst[0].verdict == "mismatch", x


# --------------------------------------------------------- parameters, closures, models


def test_a_closure_over_a_layers_weights_checks_them():
    layer = nn.Linear(3, 2, rng=0)
    x = Value(X)
    result = ag.gradcheck(lambda x, w, b: layer(x), [x, layer.weight, layer.bias])
    assert [c.index for c in result.checks] == [0, 1, 2] and result[2].shape == (2,)
    assert result.forward_passes == 2 + 2 * (6 + 6 + 2)  # two runs first: determinism


def test_a_wrong_weight_gradient_is_caught_through_a_closure():
    layer = WrongLinear(3, 2, seed=0)
    x = Value(X)
    result = ag.gradcheck(
        lambda x, w, b: layer(x), [x, layer.weight, layer.bias], raise_exception=False
    )
    assert [c.passed for c in result.checks] == [True, False, True]
    result = ag.gradcheck(lambda x: layer(x), [x], params=layer, raise_exception=False)
    assert [(c.name, c.passed) for c in result.checks] == [
        ("input 0", True),
        ("weight", False),
        ("bias", True),
    ]


def test_params_as_a_list_or_a_dict_are_checked_by_name():
    w = Value(np.array([0.5, -0.3]))
    b = Value(0.2, name="b")
    f = lambda x: (x * w).sum() + b
    as_list = ag.gradcheck(f, [Value(np.array([1.0, 2.0]))], params=[w, b])
    assert [c.name for c in as_list.checks] == ["input 0", "params[0]", "b"]
    as_dict = ag.gradcheck(f, [Value(np.array([1.0, 2.0]))], params={"w": w, "bias": b})
    assert [c.name for c in as_dict.checks] == ["input 0", "w", "bias"]


def test_a_models_wrong_parameter_is_named_in_full_and_fast_mode():
    model = Net()
    for fast in (False, True):
        result = ag.gradcheck(model, [X], fast_mode=fast, raise_exception=False)
        assert result.mode == ("fast" if fast else "full")
        names = [c.name for c in result.checks]
        assert names == [
            "input 0",
            "layers.0.weight",
            "layers.0.bias",
            "layers.1.weight",
            "layers.1.bias",
        ]
        assert [c.name for c in result.failures] == ["layers.1.weight"]
        assert "d out[1, 0] / d layers.1.weight[2, 0]" in str(result)


def test_a_correct_model_passes_with_its_parameters_checked():
    model = nn.MLP(3, [4, 2], rng=0)
    result = ag.gradcheck(model, [Value(X, requires_grad=False)])
    assert [c.name for c in result.checks] == [name for name, _ in model.named_parameters()]


def test_an_input_that_does_not_influence_the_output_is_reported():
    x, unused = Value(np.array([1.0, 2.0])), Value(np.array([3.0]))
    result = ag.gradcheck(lambda a, b: a * 2, [x, unused], raise_exception=False)
    assert not result and result[1].verdict == "unused"
    assert "does not influence the output" in result[1].notes[0]
    allowed = ag.gradcheck(lambda a, b: a * 2, [x, unused], allow_unused=True)
    assert allowed[1].verdict == "unused (allowed)"


def test_a_closure_that_reads_data_directly_is_a_failure_not_unused():
    w = Value(np.array([2.0]))
    result = ag.gradcheck(
        lambda x: x * w.data, [Value(np.array([1.0]))], params=[w], raise_exception=False
    )
    assert not result.checks[1].passed and "no path leads back to it" in str(result)


# ---------------------------------------------------------------- inputs left alone


def test_inputs_are_left_exactly_as_they_were():
    x = Value(np.array([0.1, 0.2, 0.3]), name="x")
    s = Value(0.7)
    data, s_data, grad = x.data, s.data, np.ones(3)
    x.grad = grad
    before = x.data.copy()
    ag.gradcheck(lambda a, b: (a * b).tanh(), [x, s])
    ag.gradgradcheck(lambda a, b: (a * b).tanh(), [x, s])
    assert x.data is data and s.data is s_data and x.grad is grad and s.grad is None
    np.testing.assert_array_equal(x.data, before)


@pytest.mark.parametrize("exc", [KeyboardInterrupt, ValueError])
def test_data_and_grad_are_restored_after_an_interrupt_inside_fn(exc):
    model = Net()
    params = model.parameters()
    datas = [p.data for p in params]
    copies = [p.data.copy() for p in params]
    grads = [np.zeros(p.shape) for p in params]
    for p, g in zip(params, grads):
        p.grad = g
    calls = 0

    def fn(x):
        nonlocal calls
        calls += 1
        if calls == 7:  # in the middle of perturbing layers.0.weight
            raise exc("stop")
        return model(x)

    with pytest.raises(exc):
        ag.gradcheck(fn, [Value(X, requires_grad=False)], params=model)
    for p, d, c, g in zip(params, datas, copies, grads):
        assert p.data is d and p.grad is g
        np.testing.assert_array_equal(p.data, c)


def test_float32_inputs_warn_and_are_checked_in_float64():
    x = Value(np.array([0.1, 0.2], dtype=np.float32))
    data = x.data
    with pytest.warns(UserWarning, match="float32"):
        assert ag.gradcheck(lambda a: a.exp(), [x])
    assert x.data is data and x.dtype == np.float32


# ----------------------------------------------------------------- second derivatives


def test_gradgradcheck_catches_a_value_stashed_on_ctx():
    x = Value(np.array([0.5, -1.2]))
    assert ag.gradcheck(FrozenSquare.apply, [x])
    with pytest.raises(ag.GradcheckError) as info:
        ag.gradgradcheck(FrozenSquare.apply, [x])
    msg = str(info.value)
    assert msg.startswith("gradgradcheck (second derivatives) FAILED")
    assert "d(dL/d input0[0]) / d input0[0]: analytical 0" in msg
    assert "ctx.save_for_backward" in msg and "zero or wrong" in msg


def test_gradgradcheck_explains_a_backward_computed_with_numpy():
    x = Value(np.array([0.5, -1.2]))
    assert ag.gradcheck(NumpySin.apply, [x])
    result = ag.gradgradcheck(NumpySin.apply, [x], raise_exception=False)
    assert not result
    assert (
        "the backward of NumpySin computed on raw arrays; write it with autograd_lite "
        "operations / ctx.saved_tensors so it can be differentiated" in str(result)
    )
    assert "does not support ufuncs" in str(result)


def test_gradgradcheck_passes_a_zero_second_derivative():
    result = ag.gradgradcheck(lambda a, b: a * 2 + b, [Value(np.ones(2)), Value(1.0)])
    assert [c.verdict for c in result.checks] == ["ok (zero)", "ok (zero)", "ok"]
    assert result.checks[2].name == "grad_outputs (v)"  # d(vjp)/dv = J^T: not zero


def test_gradgradcheck_checks_parameters_too():
    model = Net()
    model.layers[1] = nn.Linear(4, 2, rng=1)
    result = ag.gradgradcheck(model, [Value(X, requires_grad=False)])
    assert len(result.checks) == 4 + 1 and result.order == 2  # + grad_outputs (v)


# ------------------------------------------------------------------------ cost, modes


def test_cost_is_two_forward_passes_per_input_element():
    calls = 0

    def f(a):
        nonlocal calls
        calls += 1
        return (a * a).sum()

    n = 50
    result = ag.gradcheck(f, [Value(np.linspace(0, 1, n))])
    assert calls == 2 * n + 2 == result.forward_passes  # + the determinism run
    assert (
        result.backward_passes == 2 and result.mode == "full"
    )  # + linearity in g and result.seconds > 0


def test_fast_mode_is_chosen_beyond_the_budget():
    f = lambda a: (a * a).sum()
    n = FULL_MODE_BUDGET // 2
    assert ag.gradcheck(f, [Value(np.linspace(0, 1, n))]).mode == "full"
    fast = ag.gradcheck(f, [Value(np.linspace(0, 1, n + 1))])
    assert fast.mode == "fast" and fast.forward_passes == 2 + 2 * 8  # 8 projections: cheap
    assert "random projections" in str(fast)


def test_fast_mode_is_seeded():
    x, y = Value(np.array([1.0, 2.0])), Value(np.array([0.5, -1.5]))
    f = lambda a, b: (a * b).tanh()
    one = ag.gradcheck(f, [x, y], fast_mode=True, seed=3)
    two = ag.gradcheck(f, [x, y], fast_mode=True, seed=3)
    assert [c.max_abs_error for c in one.checks] == [c.max_abs_error for c in two.checks]


def test_tolerances_are_honoured():
    x = Value(np.array([1.0]))
    nudged = lambda a: a * (1 + 1e-4)

    class Nudge(ag.Function):
        @staticmethod
        def forward(ctx, v):
            return v * 1.0

        @staticmethod
        def backward(ctx, grad):
            return grad * (1 + 1e-4)

    assert ag.gradcheck(Nudge.apply, [x], atol=0, rtol=1e-3)  # given: used as given
    assert not ag.gradcheck(Nudge.apply, [x], atol=0, rtol=1e-5, raise_exception=False)
    # the defaults are tightened to the measured noise: 1e-4 relative is caught in float64
    assert not ag.gradcheck(Nudge.apply, [x], raise_exception=False)
    assert ag.gradcheck(nudged, [x], atol=0, rtol=1e-9)


def test_fn_must_return_a_value_and_something_must_require_grad():
    with pytest.raises(TypeError, match="must return a Value"):
        ag.gradcheck(lambda a: 1.0, [Value(1.0)])
    with pytest.raises(ValueError, match="no input requires grad"):
        ag.gradcheck(lambda a: a * 2, [Value(1.0, requires_grad=False)])


@given(shapes(max_dims=2).flatmap(lambda s: arrays(s, 0.2, 3.0)))
def test_the_checker_passes_correct_gradients_of_compositions(x):
    assert ag.gradcheck(lambda a: (a.log() * a.sqrt() + a.sin()).sum() * a.mean(), [Value(x)])


# ------------------------------------------- leaves fn reaches without receiving them

W_GLOBAL = nn.Parameter(np.array([[0.5, -0.3], [0.2, 0.8], [-0.4, 0.1]]))
B_GLOBAL = nn.Parameter(np.array([0.1, -0.2]))


def _wrong_through_global(x):
    return WrongWeightGrad.apply(x, W_GLOBAL, B_GLOBAL)


def test_a_parameter_held_by_a_closure_is_found_and_checked():
    W = nn.Parameter(np.array([[0.5, -0.3], [0.2, 0.8], [-0.4, 0.1]]))
    b = Value(np.array([0.1, -0.2]), name="b")
    x = Value(X)
    result = ag.gradcheck(lambda x: WrongWeightGrad.apply(x, W, b), [x], raise_exception=False)
    assert not result
    assert {c.name: c.passed for c in result.checks} == {
        "input 0": True,
        "W": False,  # the closure variable's name
        "b": True,  # the Value's own name
    }
    assert "d out[1, 0] / d W[" in str(result)


def test_a_parameter_held_by_a_global_is_found_and_checked():
    result = ag.gradcheck(_wrong_through_global, [Value(X)], raise_exception=False)
    assert {c.name: c.passed for c in result.checks} == {
        "input 0": True,
        "W_GLOBAL": False,
        "B_GLOBAL": True,
    }


def test_parameters_of_a_module_the_function_reaches_are_checked_by_their_names():
    model = Net()
    result = ag.gradcheck(lambda x: model(x) * 2.0, [Value(X)], raise_exception=False)
    assert [c.name for c in result.failures] == ["layers.1.weight"]
    assert len(result.checks) == 5 and not result.unchecked


def test_params_limiting_the_check_lists_the_unchecked_leaves_first():
    w1 = Value(np.array([0.5, -0.3]), name="w1")
    w2 = nn.Parameter(np.array([[0.5, -0.3], [0.2, 0.8]]))  # its gradient is wrong
    b = Value(np.zeros(2), requires_grad=False)
    f = lambda x: WrongWeightGrad.apply(x * w1, w2, b)
    x = Value(np.array([[1.0, 2.0]]), requires_grad=False)
    result = ag.gradcheck(f, [x], params=[w1])
    assert result and result.unchecked == ["w2"]
    first = str(result).splitlines()[0]
    assert first.startswith("gradcheck partly checked: 1 leaf not checked (w2)")
    assert "passed" not in first
    strict = ag.gradcheck(f, [x], params=[w1], strict=True, raise_exception=False)
    assert not strict
    assert str(strict).splitlines()[0] == (
        "gradcheck FAILED (strict): partly checked: 1 leaf not checked (w2)"
    )
    assert not ag.gradcheck(f, [x], raise_exception=False)  # no params=: w2 found, fails


def test_gradgradcheck_finds_closure_leaves_too():
    w = Value(np.array([0.5, -0.3]), name="w")
    result = ag.gradgradcheck(lambda x: (x * w).tanh(), [Value(np.array([0.2, 0.4]))])
    assert [c.name for c in result.checks] == ["input 0", "w", "grad_outputs (v)"]
    frozen = lambda x: FrozenSquare.apply(w) * x
    bad = ag.gradgradcheck(frozen, [Value(np.array([0.2, 0.4]))], raise_exception=False)
    assert [c.name for c in bad.failures] == ["w"]


# ----------------------------------------------------------- randomness and state


def test_a_random_forward_is_reported_as_non_deterministic_not_as_disagreeing():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.Dropout(0.5))
    result = ag.gradcheck(model, [Value(X)], raise_exception=False)
    assert not result
    first = str(result).splitlines()[0]
    assert first.startswith("gradcheck FAILED: non-deterministic: fn gave different outputs")
    assert "model.eval()" in first and "nondet_tol=" in first and "disagree" not in first
    model.eval()
    assert ag.gradcheck(model, [Value(X)])
    seeded = lambda x: F.dropout(x * 2.0, 0.5, rng=0)  # a fixed seed inside fn
    assert ag.gradcheck(seeded, [Value(X)]) and ag.gradgradcheck(seeded, [Value(X)])
    assert not ag.gradgradcheck(lambda x: F.dropout(x * x, 0.5), [Value(X)], raise_exception=False)


def test_nondet_tol_allows_tiny_differences():
    calls = []

    def jitter(x):
        calls.append(1)
        return x * x + 1e-13 * len(calls)

    assert not ag.gradcheck(jitter, [Value(np.array([0.5]))], raise_exception=False)
    assert ag.gradcheck(jitter, [Value(np.array([0.5]))], nondet_tol=1e-10)


# ------------------------------------------------ the table of WRONG gradients
#
# Each is a purpose-built wrong backward (one per way the checker used to pass without
# checking). None may pass: not in full mode, not in fast mode, with scalar or tensor
# outputs. Entries are added by the items below.


class IgnoresG(ag.Function):
    """x**2 whose backward returns 2x, ignoring the incoming gradient g."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return 2.0 * x


class ReluOfG(ag.Function):
    """x**2 whose backward returns relu(g) * 2x: right for g >= 0 only."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return ag.relu(grad) * 2.0 * x


X3 = np.array([0.5, -1.2, 2.0])

WRONG = {
    "ignores-g-scalar": (lambda x: IgnoresG.apply(x).sum(), [X3]),
    "ignores-g-tensor": (IgnoresG.apply, [X3]),
    "relu-of-g-scalar": (lambda x: ReluOfG.apply(x).sum(), [X3]),
    "relu-of-g-tensor": (lambda x: ReluOfG.apply(x) * 3.0, [X3]),
    "relu-of-g-scalar-float": (lambda x: ReluOfG.apply(x) * 1.0, [0.7]),
}


def _claims(forward, slope):
    """A Function computing ``forward`` (numpy) whose backward claims ``slope`` * g."""

    class Claim(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return forward(x)

        @staticmethod
        def backward(ctx, grad):
            return grad * slope

    return Claim.apply


def _steep(x):
    return np.tanh((x - 0.3) * 1e7)  # slope 1e7 at 0.3: looks like a jump at eps = 1e-6


def _step_nearby(x):
    return np.where(x < 0.3 + 5e-7, 3.0, 4.0)  # locally constant at 0.3, a step 5e-7 away


def _sharp_softplus(x):
    return 1e-8 * np.logaddexp(0.0, x / 1e-8)  # smooth; slope 0.5 at 0, a kink at eps scale


for _slope in (0.0, -5.0, 1e30, np.inf, np.nan):
    WRONG[f"steep-claims-{_slope:g}"] = (_claims(_steep, _slope), [np.array([0.3])])
    WRONG[f"steep-claims-{_slope:g}-scalar"] = (_claims(_steep, _slope), [0.3])
WRONG["nan-where-finite"] = (_claims(np.sin, np.array([1.0, np.nan])), [np.array([0.2, 0.4])])
WRONG["locally-constant-claims-7"] = (_claims(_step_nearby, 7.0), [np.array([0.3])])
WRONG["sharp-softplus-claims-0.9"] = (_claims(_sharp_softplus, 0.9), [np.array([0.0])])
WRONG["sharp-softplus-claims-0.9-vector"] = (
    lambda x: _claims(_sharp_softplus, 0.9)(x) * np.array([1.0, -2.0]),
    [np.array([0.0])],
)


class OffBy1e4(ag.Function):
    """x**2 whose backward is 1.0001 * 2x g: wrong by 1e-4 relative."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * 2.0 * x * (1 + 1e-4)


WRONG["off-by-1e-4-tensor"] = (OffBy1e4.apply, [X3])
WRONG["off-by-1e-4-scalar"] = (lambda x: OffBy1e4.apply(x).sum(), [X3])
WRONG["off-by-1e-4-float"] = (OffBy1e4.apply, [1.3])
WRONG["x+1e10-claims-2"] = (lambda x: _claims(lambda v: v + 1e10, 2.0)(x), [X3])

CORRECT = {
    "relu-at-0": (ag.relu, [np.array([0.0, 1.0, -1.0])]),
    "abs-at-0": (lambda x: x.abs(), [np.array([0.0, 2.0])]),
    "max-tie": (lambda x: x.max(), [np.array([1.0, 1.0, 1.0])]),
    "steep-claims-1e7": (_claims(_steep, 1e7), [np.array([0.3])]),
    "locally-constant-claims-0": (_claims(_step_nearby, 0.0), [np.array([0.3])]),
    "sharp-softplus-claims-0.5": (_claims(_sharp_softplus, 0.5), [np.array([0.0])]),
    "seeded-dropout": (lambda x: F.dropout(x * x, 0.5, rng=3).sum(), [X3]),
    "exp-1e6": (lambda x: (x * 1e-6).exp() * 1e6, [1e6 * X3]),
    "log-1e-6": (lambda x: x.log(), [1e-6 * np.abs(X3)]),
    "x*x+1e9": (lambda x: x * x + 1e9, [X3]),
    "x+1e10": (lambda x: x + 1e10, [X3]),
    "x+1e10-scalar": (lambda x: (x + 1e10).sum() * 2.0, [X3]),
    "curvy-1/x-at-0.01": (lambda x: 1.0 / x, [np.array([0.01, 0.02])]),
}


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("name", sorted(CORRECT))
def test_no_correct_gradient_fails(name, fast):
    fn, xs = CORRECT[name]
    result = ag.gradcheck(
        fn, [Value(np.array(x)) for x in xs], fast_mode=fast, raise_exception=False
    )
    assert result, str(result)


def _passes_clean(result):
    """Passed with everything checked and verified."""
    return bool(result) and not result.unchecked and not getattr(result, "unverified", 0)


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("name", sorted(WRONG))
def test_no_wrong_gradient_passes(name, fast):
    fn, xs = WRONG[name]
    result = ag.gradcheck(
        fn, [Value(np.array(x)) for x in xs], fast_mode=fast, raise_exception=False
    )
    assert not _passes_clean(result), str(result)


GG_WRONG = ["ignores-g-scalar", "ignores-g-tensor", "relu-of-g-scalar", "relu-of-g-tensor"]


@pytest.mark.parametrize("name", GG_WRONG)
def test_no_wrong_gradient_passes_gradgradcheck_or_check_gradients(name):
    fn, xs = WRONG[name]
    result = ag.gradgradcheck(fn, [Value(np.array(x)) for x in xs], raise_exception=False)
    assert not _passes_clean(result), str(result)
    with pytest.raises(ag.GradcheckError):
        check_gradients(fn, [np.shape(x) for x in xs], max_examples=5)


def test_a_backward_ignoring_g_is_named_as_such():
    result = ag.gradcheck(lambda x: ReluOfG.apply(x) * 3.0, [Value(X3)], raise_exception=False)
    assert "not linear in the incoming gradient" in str(result) or "FAIL" in result[0].verdict


def test_check_graph_uses_a_signed_cotangent_for_scalar_nodes():
    result = check_graph(
        lambda x: IgnoresG.apply(x.sum() * 1.0) * 2.0, [Value(X3)], raise_exception=False
    )
    assert [c.op for c in result.failures] == ["IgnoresG"]


class DetachesG(ag.Function):
    """x**2 whose backward detaches g: right to first order, but d(vjp)/dg is lost."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        g = Value(grad.data, requires_grad=False) if isinstance(grad, Value) else grad
        return g * 2.0 * x


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize(
    "fn",
    [DetachesG.apply, lambda x: DetachesG.apply(x).sum(), lambda x: DetachesG.apply(x) * 1.0],
    ids=["tensor", "scalar", "float"],
)
def test_gradgradcheck_catches_a_backward_that_detaches_g(fn, fast):
    x = Value(np.array([0.5, -1.2])) if fn is not None else None
    assert ag.gradcheck(fn, [x], fast_mode=fast)  # first order is right
    result = ag.gradgradcheck(fn, [x], fast_mode=fast, raise_exception=False)
    assert not result and [c.name for c in result.failures] == ["grad_outputs (v)"]
    assert "no graph back to it" in str(result)


def test_check_gradients_catches_a_backward_that_detaches_g():
    with pytest.raises(ag.GradcheckError, match="gradgradcheck fails"):
        check_gradients(DetachesG.apply, [(2,)], max_examples=5)


class MaxDuplicating(ag.Function):
    """max over the last axis whose backward gives all of g to every tied entry."""

    @staticmethod
    def forward(ctx, x):
        m = np.max(x, axis=-1)
        ctx.save_for_backward(x, m)
        return m

    @staticmethod
    def backward(ctx, grad):
        x, m = ctx.saved_tensors
        return (x == m[..., None]) * grad[..., None]


TIES = np.array([[1.0, 1.0, 0.5], [0.2, 0.7, 0.7]])
WRONG["max-tie-duplicated-tensor"] = (MaxDuplicating.apply, [TIES])
WRONG["max-tie-duplicated-scalar"] = (lambda x: MaxDuplicating.apply(x).sum(), [TIES])
WRONG["max-tie-duplicated-3way"] = (
    lambda x: MaxDuplicating.apply(x) * 2.0,
    [np.array([[1.0, 1.0, 1.0]])],
)
CORRECT["max-tie-split"] = (lambda x: ag.max(x, axis=-1), [TIES])


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
@pytest.mark.parametrize("name", [n for n in WRONG if n.startswith("max-tie")])
def test_a_tie_given_the_whole_gradient_twice_fails(name, fast):
    fn, xs = WRONG[name]
    result = ag.gradcheck(fn, [Value(x) for x in xs], fast_mode=fast, raise_exception=False)
    assert not result and "splits the gradient" in str(result)


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_a_correct_split_at_a_tie_passes(fast):
    fn, xs = CORRECT["max-tie-split"]
    assert ag.gradcheck(fn, [Value(x) for x in xs], fast_mode=fast)


# Near a tie (entries 1e-8 apart, closer than eps) steps of eps cross it; a smaller step
# that stays on one side has too much rounding to tighten the bar but can still judge.
NEAR_TIE = np.array([[0.0, 1e-8, 1e-8, 1e-8], [1e-8] * 4, [1e-8] * 4])


def test_min_near_a_tie_passes_gradgradcheck():
    """The input hypothesis found (test_ops' test_composite_gradients[min]): it failed with
    numerical second derivatives of 2.7e5 from steps crossing the tie at 1e-8."""
    result = ag.gradgradcheck(lambda x: ag.min(x, axis=-1), [Value(NEAR_TIE)])
    assert result and "near a kink or tie at d(dL/d input0[0, 0])" in str(result)
    assert ag.gradcheck(lambda x: ag.max(x, axis=-1), [Value(-NEAR_TIE)])


class MinWrongCurvature(ag.Function):
    """min of a vector: its backward is right (g at the argmin, split at a tie) but
    differentiates wrong (d/dx of it is g at the argmin; min's is 0 away from a tie)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.min(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        raw = np.asarray(x.data)
        mask = (raw == raw.min()) / np.sum(raw == raw.min())
        return grad * mask * (1.0 + x - raw)


class MaxCloseEnough(ag.Function):
    """max of a vector whose backward gives all of g to every entry within 1e-6 of the max
    (np.isclose as the tie test): near a tie it duplicates the gradient."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.max(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * np.isclose(x, np.max(x), rtol=0.0, atol=1e-6)


def test_a_wrong_min_or_max_near_a_tie_still_fails():
    near = NEAR_TIE[0]
    assert ag.gradgradcheck(lambda x: ag.min(x), [Value(near)])  # the right one passes
    wrong2 = ag.gradgradcheck(MinWrongCurvature.apply, [Value(near)], raise_exception=False)
    assert ag.gradcheck(MinWrongCurvature.apply, [Value(near)])  # right to first order
    assert not wrong2 and "d(dL/d input0[0]) / d input0[0]: analytical" in str(wrong2)
    assert ag.gradcheck(lambda x: ag.max(x), [Value(-near)])
    wrong1 = ag.gradcheck(MaxCloseEnough.apply, [Value(-near)], raise_exception=False)
    assert not wrong1 and "d out / d input0[1]: analytical 1, numerical" in str(wrong1)
    # at an exact tie the split still has to sum to g (item 9): duplicating fails
    tied = ag.gradcheck(
        MaxCloseEnough.apply, [Value(np.array([1.0, 1.0, 0.5]))], raise_exception=False
    )
    assert not tied and "splits the gradient" in str(tied)


@pytest.mark.parametrize("norm", ["layer", "batch"])
def test_a_float32_model_with_norm_layers_is_upcast_whole_and_passes(norm):
    f32 = np.float32
    layer = nn.LayerNorm(4, dtype=f32) if norm == "layer" else nn.BatchNorm1d(4, dtype=f32)
    model = nn.Sequential(nn.Linear(3, 4, rng=0, dtype=f32), layer, nn.Tanh())
    buffers = [b for b in model.buffers()]
    x = np.random.default_rng(0).standard_normal((5, 3))
    with pytest.warns(UserWarning, match="float32"):
        result = ag.gradcheck(model, [x])
    assert "upcast to float64 for the check" in str(result)
    assert layer._dtype == f32 and all(p.dtype == f32 for p in model.parameters())
    assert all(b is c for b, c in zip(model.buffers(), buffers))  # put back, the same arrays


_DELTA = [0.0]
_AT = [7]


class OneWrongEntry(ag.Function):
    """sin, with element _AT[0] (7) of the gradient off by _DELTA[0]."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.sin(x)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        bump = np.zeros(x.shape)
        bump.flat[_AT[0]] = _DELTA[0]
        return grad * (np.cos(x) + bump)


def test_fast_mode_states_what_it_can_miss_and_keeps_its_word():
    import re

    x = np.linspace(-1.0, 1.0, 400)
    _DELTA[0] = 0.0
    ok = ag.gradcheck(OneWrongEntry.apply, [Value(x)], fast_mode=True)
    note = ok[0].notes[0]
    assert "is caught with probability >= 99%" in note and "fast_mode=False" in note
    assert "see the notes for what they can miss" in str(ok)
    d99 = float(re.search(r"off by more than (\S+) is caught", note).group(1))
    _DELTA[0] = 1.5 * d99
    caught = sum(
        not ag.gradcheck(
            OneWrongEntry.apply, [Value(x)], fast_mode=True, seed=s, raise_exception=False
        )
        for s in range(20)
    )
    assert caught >= 19


def test_fast_mode_names_one_wrong_entry_of_a_large_input_from_a_block(monkeypatch):
    """The projection that disagrees is traced by halving to a block of the Jacobian: the
    wrong entry is named without the Jacobian (4000 x 4000) or its 8000 forward passes."""
    import importlib
    import re

    fast = importlib.import_module("autograd_lite.gradcheck.fast")  # ag.gradcheck: the function
    asked = []
    for name in ("central_differences", "analytical_jacobians"):
        real = getattr(fast, name)

        def spy(*args, real=real, name=name):
            asked.append((name, args[-1]))  # the columns asked for (None: all of them)
            return real(*args)

        monkeypatch.setattr(fast, name, spy)
    x = np.linspace(-1.0, 1.0, 4000)
    _DELTA[0], _AT[0] = 0.5, 2345
    try:
        result = ag.gradcheck(
            OneWrongEntry.apply, [Value(x)], fast_mode=True, raise_exception=False
        )
        _DELTA[0] = 0.0
        assert ag.gradcheck(OneWrongEntry.apply, [Value(x)], fast_mode=True)  # correct: passes
    finally:
        _DELTA[0], _AT[0] = 0.0, 7
    assert not result and result.mode == "fast" and result[0].verdict.startswith("FAIL: 1 of")
    # the count is of the block's entries, and says so (not "1 of 1024" as if all were seen)
    assert re.fullmatch(r"FAIL: 1 of \d+ examined entries disagree", result[0].verdict)
    want = np.cos(x[2345])
    assert f"d out[2345] / d input0[2345]: analytical {want + 0.5:.6g}, numerical {want:.6g}" in (
        str(result)
    )
    assert "confirmed with the Jacobian block of outputs" in str(result)
    assert asked and all(cols is not None and len(cols) <= fast._BLOCK for _, cols in asked)
    assert result.forward_passes < 200 and result.backward_passes < 100  # 2n = 8000


def test_fast_mode_traces_a_wrong_entry_off_the_diagonal_and_a_wrong_row():
    """A wrong weight gradient of a layer (outputs mixing many elements), fast mode on an
    input of more than one block: the block named holds a wrong entry."""
    X = np.random.default_rng(1).standard_normal((40, 30))
    w = Value(np.random.default_rng(2).standard_normal((30, 20)))
    b = Value(np.zeros(20))
    result = ag.gradcheck(
        lambda x: WrongWeightGrad.apply(x, w, b),
        [Value(X, requires_grad=False)],
        params=[w, b],
        fast_mode=True,
        raise_exception=False,
    )
    assert not result and not result["params[0]"].passed and result["params[1]"].passed
    assert "confirmed with the Jacobian block" in str(result)
    entry = result["params[0]"].worst[0]
    assert entry.analytical == pytest.approx(2 * entry.numerical, rel=1e-3)


def test_the_gradcheck_package_map_names_each_of_its_modules_and_exports_one_object():
    import importlib
    import pkgutil

    pkg = importlib.import_module("autograd_lite.gradcheck")  # ag.gradcheck is the function
    modules = [m.name for m in pkgutil.iter_modules(pkg.__path__)]
    assert len(modules) > 1
    assert [m for m in modules if f"``{m}``" not in (pkg.__doc__ or "")] == []
    for name in set(pkg.__all__) & set(ag.__all__):
        assert getattr(ag, name) is getattr(pkg, name), name


class KinkyWrongRelu(ag.Function):
    """relu, whose VJP is wrong at element ``_AT[0]`` by ``_DELTA[0]``."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return np.maximum(x, 0.0)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        d = (x > 0).astype(float)
        d.flat[_AT[0]] += _DELTA[0]
        return grad * d


def test_fast_mode_never_passes_a_disagreement_it_did_not_trace():
    """Kinks everywhere (relu at 0 on every 7th element) make a projection disagree in
    many parts; a wrong entry in the last one must still be found (fast mode once stopped
    after 4 agreeing blocks and passed), and the correct VJP still passes."""
    x = np.linspace(-1.0, 1.0, 5000)
    x[::7] = 0.0
    _DELTA[0], _AT[0] = 0.5, 4999
    try:
        for seed in range(2):
            result = ag.gradcheck(
                KinkyWrongRelu.apply, [Value(x)], fast_mode=True, seed=seed, raise_exception=False
            )
            assert not result and "d out[4999] / d input0[4999]" in str(result)
        _DELTA[0] = 0.0
        assert ag.gradcheck(KinkyWrongRelu.apply, [Value(x)], fast_mode=True)
    finally:
        _DELTA[0], _AT[0] = 0.0, 7


def _mul_with_jvp(name: str, fac: float) -> ag.Op:
    """x * y whose VJPs are right and whose JVP for y is off by ``fac`` (1.0: right)."""
    return ag.defop(
        name,
        lambda x, y: x * y,
        lambda g, out, x, y: g * y,
        lambda g, out, x, y: g * x,
        jvp=lambda t, out, x, y: (
            (0.0 if t[0] is None else t[0] * y) + (0.0 if t[1] is None else t[1] * x * fac)
        ),
    )


MUL_JVP_OK, MUL_JVP_BAD = _mul_with_jvp("mul_jvp_ok", 1.0), _mul_with_jvp("mul_jvp_bad", 1.5)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_forward_ad_runs_on_the_float64_upcast(dtype):
    """check_forward_ad=True on float32 inputs: J v against differences in float64, as the
    reverse check (a correct tanh once failed); a JVP off by 1.5x still fails."""
    x0 = np.random.default_rng(0).standard_normal((3, 4)).astype(dtype)
    x = Value(x0.copy())
    data = x.data
    f32 = dtype == np.float32
    with pytest.warns(UserWarning, match="float32") if f32 else contextlib.nullcontext():
        assert ag.gradcheck(lambda v: v.tanh(), [x], check_forward_ad=True)
        y = Value(x0.copy())
        bad = ag.gradcheck(
            lambda v: MUL_JVP_BAD(y, v).tanh(), [x], check_forward_ad=True, raise_exception=False
        )
    assert not bad and "mul_jvp_bad" in str(bad)
    assert x.data is data and x.dtype == dtype and x.grad is None


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("how", ["found", "params", "module"])
def test_forward_ad_gives_tangents_to_every_checked_leaf(how, dtype):
    """Forward mode is checked with respect to every Value gradcheck checks, not only the
    explicit inputs: a JVP off by 1.5x for a closure's W (found, or in params=) fails."""
    rng = np.random.default_rng(0)
    x0 = rng.standard_normal((3, 4)).astype(dtype)
    W = nn.Parameter(rng.standard_normal((3, 4)).astype(dtype))
    data = W.data

    class Scale(nn.Module):
        def __init__(self, op: ag.Op) -> None:
            self.op = op
            self.weight = W

        def forward(self, x: Value) -> Value:
            return self.op(x, self.weight).tanh()

    def run(op: ag.Op) -> GradcheckResult:
        if how == "module":
            fn, params = Scale(op), None
        else:
            fn, params = (lambda x: op(x, W).tanh()), ([W] if how == "params" else None)
        return ag.gradcheck(
            fn, [Value(x0)], params=params, check_forward_ad=True, raise_exception=False
        )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # float32 -> float64
        good, bad = run(MUL_JVP_OK), run(MUL_JVP_BAD)
    assert good and len(good.checks) == 2, str(good)
    assert not bad and "mul_jvp_bad" in str(bad) and "input 1" in str(bad), str(bad)
    assert W.data is data and W.dtype == dtype and W.grad is None and W._ctx is None


def test_check_forward_ad_params_are_moved_in_place_and_restored():
    """check_forward_ad(params=): the closure's Values carry tangents and are shifted for
    the differences (a right JVP passes, so both agree), then are back as they were."""
    from autograd_lite.transforms import check_forward_ad

    rng = np.random.default_rng(1)
    W = Value(rng.standard_normal((2, 3)))
    data = W.data.copy()
    x = rng.standard_normal((2, 3))
    assert check_forward_ad(lambda v: MUL_JVP_OK(v, W).sin(), [x], params=[W])
    assert not check_forward_ad(lambda v: MUL_JVP_BAD(v, W).sin(), [x], params=[W])
    assert check_forward_ad(lambda v: MUL_JVP_BAD(v, W).sin(), [x])  # W held constant
    assert np.array_equal(W.data, data) and W._ctx is None


def _sin_vjp32(extra: Callable[[np.ndarray], np.ndarray]) -> ag.Op:
    """sin whose VJP is rounded to float32, plus ``extra(g)``."""
    return ag.defop(
        f"sin_vjp32_{extra.__name__}",
        lambda x: np.sin(x),
        lambda g, out, x: (g * np.cos(x) + extra(np.asarray(g))).astype(np.float32),
    )


def _nothing(g: np.ndarray) -> np.ndarray:
    return np.zeros_like(g)


def _squares_g(g: np.ndarray) -> np.ndarray:
    return g * g - g  # g * cos(x) + g * g - g: not linear


def _adds_constant(g: np.ndarray) -> np.ndarray:
    return np.full_like(g, 1e-3)


def _mixes_g(g: np.ndarray) -> np.ndarray:
    """Zero for a one-hot g (so every Jacobian row is right), not for a dense one."""
    return 1e-4 * (g.sum() ** 2 - (g * g).sum()) * np.ones_like(g)


@pytest.mark.parametrize("fast", [False, True], ids=["full", "fast"])
def test_a_float32_rounded_vjp_is_linear_in_g(fast):
    """A VJP computed in float32 (error ~5e-8) is linear in g up to float32 rounding: it
    once failed as "backward not linear in g" (the bar was float64's, 1e-8)."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    op = _sin_vjp32(_nothing)
    for fn in (op, lambda v: op(v).sum(), lambda v: op(v) * 2.0):
        result = ag.gradcheck(fn, [Value(x)], fast_mode=fast, raise_exception=False)
        assert result, str(result)
        assert result[0].verdict == "ok", str(result)


@pytest.mark.parametrize("extra", [_squares_g, _adds_constant, _mixes_g])
def test_a_float32_vjp_not_linear_in_g_still_fails(extra):
    """The float32 bar still catches a VJP that squares g, adds a constant, or mixes the
    elements of g (right for every one-hot seed: only the linearity pass sees it)."""
    x = np.random.default_rng(0).standard_normal((3, 4))
    result = ag.gradcheck(_sin_vjp32(extra), [Value(x)], raise_exception=False)
    assert not result and result[0].verdict.startswith("FAIL: backward not linear in g")
    assert "not linear in the incoming gradient" in str(result)


def test_the_verdict_counts_only_the_entries_it_examined_as_disagreeing():
    def vjp(g, out, x):
        r = np.array(g * 2.0 * x, dtype=np.float64)
        r[:8] *= 1.5  # wrong on 8 diagonal entries; 5 columns are confirmed, then it stops
        return r

    op = ag.defop("square_off_8", lambda x: x * x, vjp, register=False)
    check = ag.gradcheck(op, [Value(np.linspace(1.0, 2.0, 12))], raise_exception=False)[0]
    assert check.verdict == (
        "FAIL: 5 of 144 entries disagree (and 3 more beyond the tolerance at eps, not examined)"
    )
    assert check.failed == 5


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_a_non_finite_input_is_named_instead_of_blamed_on_the_gradient(bad):
    x = np.array([[0.3, 1.0], [bad, 2.0]])
    with pytest.raises(ValueError, match=r"gradcheck: input 0 holds .* at \(1, 0\): finite"):
        ag.gradcheck(ag.sin, [Value(x)])
    with pytest.raises(ValueError, match=r"check_graph: input 0 holds"):
        ag.check_graph(lambda v: (-v).exp(), [Value(x)])
