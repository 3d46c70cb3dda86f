"""check_graph: each node's VJP against its own forward, so the wrong op is named."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.gradcheck import GraphCheckResult, check_graph

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 5))
Y = np.array([0, 2, 1, 0])

# An op declared like the built-ins (forward + one VJP rule per input), with a VJP that is
# 1% off: 2.02 x instead of 2 x.
SQUARE_OFF = ag.defop("square_off", lambda x: x * x, lambda g, out, x: 2.02 * x * g, register=False)


class OffTanh(ag.Function):
    """tanh whose backward is off by a factor of 1.01."""

    @staticmethod
    def forward(ctx, x):
        y = np.tanh(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y) * 1.01


class OffTanhLayer(nn.Module):
    def forward(self, x):
        return OffTanh.apply(x)  # the line check_graph must point at


def _model():
    return nn.Sequential(
        nn.Linear(5, 8, rng=0),
        nn.Tanh(),
        nn.Linear(8, 8, rng=1),
        OffTanhLayer(),
        nn.Linear(8, 3, rng=2),
    )


def _line_of(text):
    with open(__file__, encoding="utf-8") as f:
        return next(i for i, line in enumerate(f, 1) if text in line and "def " not in line)


def test_a_correct_training_step_passes_every_node():
    model = nn.MLP(784, [32, 10], rng=0)
    x = Value(np.random.default_rng(1).standard_normal((4, 784)), requires_grad=False)
    y = np.array([1, 2, 3, 4])
    result = check_graph(lambda x: nn.cross_entropy(model(x), y), [x], params=model)
    assert isinstance(result, GraphCheckResult) and result and not result.failures
    assert result.nodes >= 6 and result.unchecked == []
    named = {c.input_name for c in result.checks}
    assert {"layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"} <= named
    assert str(result).startswith("check_graph passed:")


def test_a_wrong_builtin_style_op_is_named_among_correct_ones():
    W = Value(RNG.standard_normal((5, 3)), name="W")

    def f(x):
        h = (x @ W).tanh()
        return (SQUARE_OFF(h) * 3.0).sum()

    result = check_graph(f, [Value(X, requires_grad=False)], raise_exception=False)
    assert not result
    assert [(c.op, c.input_name) for c in result.failures] == [("square_off", "node #2 tanh")]
    assert result.culprit.position == 3 and result.culprit.mode == "full"  # 12 elements
    later = [c for c in result.checks if c.position > 3]
    assert later and all(c.passed for c in later)
    assert [c.op for c in result.checks if c.position < 3] == ["matmul", "tanh"]
    assert result.culprit.worst[0].rel_error == pytest.approx(0.01, rel=1e-3)


def test_a_wrong_custom_activation_deep_in_a_model_is_named_with_its_line():
    model = _model()
    result = check_graph(
        lambda x: nn.cross_entropy(model(x), Y),
        [Value(X, requires_grad=False)],
        params=model,
        raise_exception=False,
    )
    assert not result
    assert [c.op for c in result.failures] == ["OffTanh"]
    assert result.culprit.op == "OffTanh" and result.culprit.input_name.endswith("linear")
    assert result.culprit.mode == "directional"  # a (4, 8) input: random projections
    assert sum(c.passed for c in result.checks) == len(result.checks) - 1
    assert "likely culprit: node #" in str(result) and "'OffTanh'" in str(result)
    assert result.culprit.site is not None
    line = _line_of("return OffTanh.apply(x)")
    assert f"test_check_graph.py:{line} in forward: return OffTanh.apply(x)" in result.culprit.site
    assert result.culprit.site in str(result)


def test_an_already_recorded_graph_can_be_checked():
    model = _model()
    loss = nn.cross_entropy(model(X), Y)
    result = check_graph(loss, params=model, raise_exception=False)
    assert [c.op for c in result.failures] == ["OffTanh"]
    assert {"0.weight", "2.bias", "4.weight"} <= {c.input_name for c in result.checks}


def test_failure_raises_a_gradcheck_error_carrying_the_result():
    model = _model()
    with pytest.raises(ag.GradcheckError) as info:
        check_graph(model, [X])
    assert isinstance(info.value.result, GraphCheckResult)
    assert str(info.value) == str(info.value.result)
    assert str(info.value).startswith("check_graph FAILED: 1 of ")


def test_a_kink_inside_the_graph_is_not_a_failure():
    x = Value(np.array([0.0, -1.0, 2.0]))
    result = check_graph(lambda v: (ag.relu(v) * 2.0).sum(), [x])
    relu = next(c for c in result.checks if c.op == "relu")
    assert relu.mode == "full" and any("kink" in n for n in relu.notes)


def test_a_node_whose_inputs_changed_since_recording_is_left_unchecked():
    w = Value(np.array([0.5, -0.5]))
    out = ((w * 2.0).tanh() * 3.0).sum()
    w.data[0] = 7.0  # an in-place update after the graph was recorded (an optimizer step)
    result = check_graph(out, raise_exception=False)
    assert not result and len(result.unchecked) == 1  # never "passed" with a node unchecked
    assert "node #1 mul: running its forward again gives a different result" in result.unchecked[0]
    assert str(result).startswith("check_graph FAILED: 1 of 4 nodes could not be checked")


class WrongDropoutGrad(ag.Function):
    """A random op (a fresh mask each call) whose backward is wrong: 3 g instead of mask g."""

    @staticmethod
    def forward(ctx, x):
        return x * (np.random.default_rng().random(x.shape) > 0.5) * 2.0

    @staticmethod
    def backward(ctx, grad):
        return grad * 3.0


def test_a_random_op_is_never_passed_unchecked():
    x = Value(np.ones(64))  # (with 4 entries, the mask drawn again matched 1 time in 16)
    result = check_graph(
        lambda v: (WrongDropoutGrad.apply(v) * 2.0).sum(), [x], raise_exception=False
    )
    assert not result and result.unchecked
    assert "Seed it" in str(result)
    with pytest.raises(ag.GradcheckError):
        check_graph(lambda v: (WrongDropoutGrad.apply(v) * 2.0).sum(), [x])


def test_params_and_inputs_are_restored():
    model = _model()
    datas = [p.data for p in model.parameters()]
    x = Value(X)
    x_data = x.data
    check_graph(model, [x], raise_exception=False)
    assert all(p.data is d for p, d in zip(model.parameters(), datas))
    assert x.data is x_data and x.grad is None


def test_a_backward_that_raises_is_a_failure():
    class Broken(ag.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, grad):
            raise RuntimeError("oops")

    result = check_graph(
        lambda v: Broken.apply(v).sum(), [Value(np.ones(3))], raise_exception=False
    )
    assert [c.op for c in result.failures] == ["Broken"]
    assert "its backward raised RuntimeError('oops')" in result.failures[0].notes[0]


def test_nothing_recorded_is_an_error():
    with pytest.raises(ValueError, match="nothing to check"):
        check_graph(Value(1.0, requires_grad=False) * 2.0)


def _sin_off(name, factor, entry=None):
    """sin whose VJP is off by ``factor``: everywhere, or at one flat ``entry``."""

    def vjp(g, out, x):
        r = np.array(g * np.cos(x), dtype=np.float64)
        if entry is None:
            return r * factor
        r.flat[entry] *= factor
        return r

    return ag.defop(name, np.sin, vjp, register=False)


def test_what_fails_gradcheck_fails_here_too():
    # 1e-4 relative is inside atol + rtol |n| but far above the measured rounding noise:
    # with default tolerances both checkers tighten the bar to it
    op = _sin_off("sin_off_1e4", 1.0001)

    def f(x):
        return (op(x) * 2.0).tanh().sum()

    x = [Value(X[:2, :3])]
    assert not ag.gradcheck(f, x, raise_exception=False)
    result = check_graph(f, x, raise_exception=False)
    assert result.culprit is not None and result.culprit.op == "sin_off_1e4"
    assert check_graph(f, x, atol=1e-5, rtol=1e-3, raise_exception=False)  # the documented bar


@pytest.mark.parametrize("seed", range(5))
def test_one_wrong_entry_of_a_large_input_is_found_along_random_directions(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 60))
    op = _sin_off("sin_off_entry", 1.01, entry=int(rng.integers(x.size)))
    result = check_graph(op, [Value(x)], raise_exception=False, seed=seed)
    assert not result and result.culprit.mode == "directional"
    assert check_graph(ag.sin, [Value(x)], seed=seed)  # and the right op passes


def test_a_float32_model_is_checked_in_float64_as_gradcheck_does():
    layer = nn.Linear(4, 3, rng=0, dtype=np.float32)
    x = RNG.standard_normal((3, 4)).astype(np.float32)
    assert check_graph(lambda x: layer(x).tanh().sum(), [Value(x)])
    assert layer.weight.dtype == np.float32  # put back after


def test_ties_in_a_max_pool_after_relu_are_judged_element_by_element():
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, rng=0), nn.ReLU(), nn.MaxPool2d(2))
    x = rng.standard_normal((2, 2, 8, 8))  # relu zeros tie in many windows

    def loss(x):
        return (model(x) * 1.5).sum()

    result = check_graph(loss, [Value(x)], params=model)
    pool = next(c for c in result.checks if c.op == "max_pool2d")
    assert pool.mode == "full" and "checked element by element" in pool.notes[0]
