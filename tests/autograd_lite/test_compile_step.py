"""The whole training step compiled: backward(), optimizers, schedules, clipping and
hand-written updates inside ``ag.compile``, equal to eager to the bit, step by step."""

from __future__ import annotations

import copy
import pathlib
import random
import time

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import nn
from autograd_lite.compile import CompileError
from autograd_lite.core.value import Value

HERE = pathlib.Path(__file__)
SOURCE = HERE.read_text().splitlines()


def line_of(marker: str) -> str:
    hits = [i + 1 for i, text in enumerate(SOURCE) if marker in text and "line_of(" not in text]
    assert len(hits) == 1, marker
    return f"{HERE}:{hits[0]}"


def same(a, b):
    """Equal to the bit: type, shape, dtype, values (NaN where NaN)."""
    assert type(a) is type(b), (type(a), type(b))
    if isinstance(a, np.ndarray):
        assert a.shape == b.shape and a.dtype == b.dtype
        assert np.array_equal(a, b, equal_nan=True), np.max(np.abs(a - b))
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            same(x, y)
    else:
        assert a == b or (a != a and b != b), (a, b)


def _data(n=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 5)), rng.integers(0, 3, n)


OPTIMIZERS = {
    "sgd": lambda ps: nn.optim.SGD(ps, lr=0.1),
    "sgd-momentum-wd": lambda ps: nn.optim.SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3),
    "sgd-nesterov": lambda ps: nn.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
    "adam": lambda ps: nn.optim.Adam(ps, lr=0.01),
    "adamw": lambda ps: nn.optim.AdamW(ps, lr=0.01, weight_decay=0.1),
    "rmsprop": lambda ps: nn.optim.RMSprop(ps, lr=0.01, momentum=0.5),
}


def _run(base, compiled, make_opt, schedule, clip, steps=12):
    model = copy.deepcopy(base)
    opt = make_opt(model.parameters())
    sched = nn.optim.StepLR(opt, step_size=3, gamma=0.5) if schedule else None

    def step(x, y):
        opt.zero_grad()
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        norm = nn.utils.clip_grad_norm_(model.parameters(), 0.3) if clip else None
        opt.step()
        if sched is not None:
            sched.step()
        return loss, norm

    f = ag.compile(step) if compiled else step
    x, y = _data()
    history = []
    for i in range(steps):
        loss, norm = f(x[(i % 4) * 16 :][:16], y[(i % 4) * 16 :][:16])
        history.append(
            (
                loss.data,
                norm,
                [p.data.copy() for p in model.parameters()],
                [p.grad.copy() for p in model.parameters()],
                copy.deepcopy(opt.state_dict()),
            )
        )
    return history, (f.traces if compiled else None)


@pytest.mark.parametrize("schedule,clip", [(False, False), (True, True)])
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_a_compiled_step_equals_eager_to_the_bit(name, schedule, clip):
    base = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3))
    eager, _ = _run(base, False, OPTIMIZERS[name], schedule, clip)
    compiled, traces = _run(base, True, OPTIMIZERS[name], schedule, clip)
    assert traces == 1  # the learning rate and the state are read live: no retrace
    for e, c in zip(eager, compiled):
        same(e, c)


def _descend(p):
    def step(x):
        loss = ((p * x) ** 2).sum()
        loss.backward()
        p.data = p.data - 0.01 * p.grad
        return loss

    return step


def _squares(model, opt, set_to_none=True):
    def step(x):
        opt.zero_grad(set_to_none=set_to_none)
        loss = (model(x) ** 2).mean()
        loss.backward()
        opt.step()
        return loss

    return step


def test_a_learning_rate_changed_by_hand_is_read_live():
    model = nn.Linear(5, 3)
    twin = copy.deepcopy(model)
    opts = [nn.optim.SGD(m.parameters(), lr=0.1, momentum=0.9) for m in (model, twin)]

    def make(m, opt):
        def step(x, y):
            opt.zero_grad()
            loss = nn.cross_entropy(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return step

    eager, compiled = make(twin, opts[1]), ag.compile(make(model, opts[0]))
    x, y = _data(16)
    for i in range(6):
        for opt in opts:
            opt.param_groups[0]["lr"] = 0.1 / (i + 1)
        same(eager(x, y).data, compiled(x, y).data)
    assert compiled.traces == 1
    for p, q in zip(model.parameters(), twin.parameters()):
        same(p.data, q.data)


def _scalar_net(seed=0):
    r = random.Random(seed)
    w = [[Value(r.uniform(-1, 1)) for _ in range(3)] for _ in range(4)]
    v = [Value(r.uniform(-1, 1)) for _ in range(4)]
    return w, v, [p for row in w for p in row] + v


def _micrograd_step(w, v, params):
    def step(xs, ys, lr):
        loss = 0.0
        for x, y in zip(xs, ys):
            h = [sum((a * b for a, b in zip(row, x)), 0.0).tanh() for row in w]
            out = sum((a * b for a, b in zip(v, h)), 0.0)
            loss = loss + (out - y) ** 2
        for p in params:
            p.grad = 0.0  # micrograd's idiom
        loss.backward()
        for p in params:
            p.data -= lr * p.grad
        return loss

    return step


def test_a_micrograd_style_step_with_hand_written_updates_equals_eager():
    xs = [[0.5, -1.0, 2.0], [1.0, 0.3, -0.5], [-0.2, 0.8, 0.1]]
    ys = [1.0, -1.0, 1.0]
    runs = []
    for compiled in (False, True):
        w, v, params = _scalar_net()
        step = _micrograd_step(w, v, params)
        f = ag.compile(step) if compiled else step
        losses = [f(xs, ys, 0.05 if i < 4 else 0.01).data for i in range(8)]
        runs.append((losses, [p.data for p in params], [p.grad for p in params]))
        if compiled:
            assert f.traces == 1
            assert type(params[0].data) is float and type(params[0].grad) is float
    same(runs[0], runs[1])


def test_gradients_accumulate_across_compiled_steps_as_eagerly():
    # no zero_grad: each backward adds into .grad, as eagerly; the update reads the sum
    runs = []
    for compiled in (False, True):
        p = Value(np.array([1.0, -2.0, 0.5]))
        step = _descend(p)
        f = ag.compile(step) if compiled else step
        runs.append(([f(np.array([0.5, 1.0, 2.0]) * i).data for i in range(1, 5)], p.data, p.grad))
    same(runs[0], runs[1])


def test_module_zero_grad_and_a_global_learning_rate():
    global LR
    LR = 0.1
    models = [nn.Linear(4, 2)]
    models.append(copy.deepcopy(models[0]))

    def make(m):
        def step(x):
            m.zero_grad()
            loss = (m(x) ** 2).mean()
            loss.backward()
            for p in m.parameters():
                p.data -= LR * p.grad
            return loss

        return step

    eager, compiled = make(models[1]), ag.compile(make(models[0]))
    x = np.random.default_rng(3).standard_normal((8, 4))
    for i in range(5):
        LR = 0.1 / (1 + i // 2)  # a guarded global: a change traces again
        same(eager(x).data, compiled(x).data)
    for p, q in zip(models[0].parameters(), models[1].parameters()):
        same(p.data, q.data)
        same(p.grad, q.grad)
    assert compiled.traces == 3


def test_dropout_inside_a_compiled_step_draws_as_eagerly():
    runs = []
    for compiled in (False, True):
        model = nn.Sequential(nn.Linear(6, 6), nn.Dropout(0.5, rng=7), nn.Linear(6, 1))
        if runs:
            model.load_state_dict(runs[0][2])
        step = _squares(model, nn.optim.SGD(model.parameters(), lr=0.1))
        f = ag.compile(step) if compiled else step
        start = copy.deepcopy(model.state_dict())
        x = np.random.default_rng(1).standard_normal((5, 6))
        losses = [f(x).data for _ in range(5)]
        runs.append((losses, [p.data.copy() for p in model.parameters()], start))
    same(runs[0][:2], runs[1][:2])


# ------------------------------------------------------------------ refusals


def _refused(fn, *args, match=None):
    with pytest.raises(CompileError, match=match) as err:
        ag.compile(fn)(*args)
    return str(err.value)


def test_a_second_backward_is_refused_with_the_line():
    p = Value(np.ones(3))

    def f(x):
        (p * x).sum().backward()
        (p * x * 2).sum().backward()  # SECOND-BACKWARD
        return x

    assert line_of("# SECOND-BACKWARD") in _refused(f, np.ones(3), match="second backward")


def test_a_numpy_function_of_a_grad_is_refused_with_the_line():
    """After backward(), p.grad is an array eagerly and a stand-in Value while tracing:
    numpy's own functions of it are refused with the line (and its autograd_lite op
    works), instead of failing compiled only with numpy's TypeError."""
    p = Value(np.ones(3), requires_grad=True)

    def f(x):
        (p * x).sum().backward()
        p.data -= 0.1 * np.sqrt(p.grad)  # NP-SQRT
        return x

    text = _refused(f, np.ones(3), match="numpy's sqrt of a traced Value")
    assert line_of("# NP-SQRT") in text and "ag.sqrt" in text


def test_numpy_functions_of_values_raise_numpys_error_as_eagerly():
    """Before backward() a Value is a Value eagerly too: np.exp(w) and array += w raise
    numpy's TypeError compiled as eagerly (a function never works compiled only)."""
    w = Value(np.ones(3), requires_grad=True)
    for fn in (lambda x: np.exp(w * x), lambda x: _iadd(np.ones(3), w * x)):
        for f in (fn, ag.compile(fn)):
            with pytest.raises(TypeError, match="does not support ufuncs"):
                f(np.ones(3))


def _iadd(a, v):
    a += v
    return a


def test_an_array_and_a_value_combine_compiled_as_eagerly():
    """``array + w`` (and -, *, /, **, @, numpy scalars too) takes w's reflected operator
    while tracing as eagerly: the same losses, gradients and updates, step by step."""
    c = np.arange(1.0, 4.0)

    def make():
        w = Value(np.array([0.5, 1.5, 2.0]), requires_grad=True)

        def step(x):
            loss = (c * w + (c - w) + c / w + 2.0**w).sum() + (c @ w) * np.float64(0.5)
            loss = loss + (x * w).sum()
            loss.backward()
            w.data -= 0.01 * (c * w.grad)
            w.grad = None
            return loss

        return w, step

    (w0, eager), (w1, compiled) = make(), make()
    compiled = ag.compile(compiled)
    for k in range(4):
        x = np.full(3, k + 1.0)
        same(eager(x).data, compiled(x).data)
        same(w0.data, w1.data)
    assert compiled.traces == 1


def test_backward_with_create_graph_is_refused_with_the_line():
    p = Value(np.ones(3))

    def f(x):
        (p * x).sum().backward(create_graph=True)  # CREATE-GRAPH
        return x

    assert line_of("# CREATE-GRAPH") in _refused(f, np.ones(3), match="create_graph")


def test_an_optimizer_step_between_the_ops_and_backward_is_refused():
    model = nn.Linear(3, 1)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    def f(x):
        loss = model(x).sum()
        opt.step()  # STEP-TOO-EARLY
        loss.backward()
        return loss

    assert line_of("# STEP-TOO-EARLY") in _refused(f, np.ones((2, 3)), match="between the ops")


def test_an_update_from_a_forward_result_is_refused():
    p = Value(np.ones(3))

    def f(x):
        loss = (p * x).sum()
        loss.backward()
        p.data = p.data - 0.1 * loss  # UPDATE-FROM-LOSS
        return loss

    assert "computed before it" in _refused(f, np.ones(3))


def test_an_update_with_a_constant_is_refused_with_the_line():
    p = Value(np.ones(3))

    def f(x):
        loss = (p * x).sum()
        loss.backward()
        p.data = np.zeros(3)  # CONSTANT-UPDATE
        return loss

    assert line_of("# CONSTANT-UPDATE") in _refused(f, np.ones(3), match=r"assigning \.data")


def test_item_assignment_into_a_parameter_is_refused_with_the_line():
    p = Value(np.ones(3))

    def f(x):
        loss = (p * x).sum()
        loss.backward()
        p.data[0] = 0.0  # ITEM-ASSIGNMENT
        return loss

    assert line_of("# ITEM-ASSIGNMENT") in _refused(f, np.ones(3), match="item assignment")


def test_returning_a_value_computed_after_backward_is_refused():
    p = Value(np.ones(3))

    def f(x):
        loss = (p * x).sum()
        loss.backward()
        p.data = p.data - 0.1 * p.grad
        return loss, p.data * 2

    assert "after loss.backward()" in _refused(f, np.ones(3))


def test_reading_grad_before_backward_is_still_refused():
    p = Value(np.ones(3))

    def f(x):
        loss = (p * x).sum()
        g = p.grad  # GRAD-TOO-EARLY
        loss.backward()
        return loss, g

    assert line_of("# GRAD-TOO-EARLY") in _refused(f, np.ones(3), match=r"reading \.grad")


def test_a_clock_read_in_an_update_is_refused_on_the_second_call():
    p = Value(np.ones(3))

    def f(x):
        loss = (p * x).sum()
        loss.backward()
        p.data = p.data - (1e-3 * (time.perf_counter_ns() % 997 + 1)) * p.grad
        return loss

    g = ag.compile(f)
    g(np.ones(3))
    with pytest.raises(CompileError, match="another forward when traced again"):
        g(np.ones(3))


def test_parameters_passed_as_arguments_are_updated_in_place():
    runs = []
    for compiled in (False, True):
        ps = [Value(np.array([1.0, 2.0])), Value(np.array([-1.0, 0.5]))]

        def step(params, x):
            loss = ((params[0] * x + params[1]) ** 2).sum()
            loss.backward()
            for p in params:
                p.data -= 0.1 * p.grad
                p.grad = None
            return loss

        f = ag.compile(step) if compiled else step
        runs.append(([f(ps, np.array([0.3, i])).data for i in range(4)], [p.data for p in ps]))
        if compiled:
            assert f.traces == 1 and ps[0].grad is None
    same(runs[0], runs[1])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_float32_and_zeroed_grads_as_eagerly(dtype):
    base = nn.Sequential(nn.Linear(5, 6, dtype=dtype), nn.LayerNorm(6, dtype=dtype), nn.Tanh())
    runs = []
    for compiled in (False, True):
        model = copy.deepcopy(base)
        step = _squares(model, nn.optim.Adam(model.parameters(), lr=0.01), set_to_none=False)
        f = ag.compile(step) if compiled else step
        x = np.random.default_rng(2).standard_normal((8, 5)).astype(dtype)
        losses = [f(x * (1 + i)).data for i in range(6)]
        runs.append((losses, copy.deepcopy(model.state_dict())))
        if compiled:
            assert f.traces == 1
    same(runs[0], runs[1])


step = 0  # a global named as the method the step calls: opt.step() reads no global


def test_a_global_named_step_is_not_guarded_by_opt_step():
    global step
    model = nn.Linear(3, 1)
    train = ag.compile(_squares(model, nn.optim.SGD(model.parameters(), lr=0.1)))
    for step in range(4):  # the global changes: the point of the test
        train(np.ones((2, 3)) * step)
    assert train.traces == 1


def test_gradients_of_argument_values_reset_before_the_ops():
    runs = []
    for compiled in (False, True):
        ps = [Value(np.array([1.0, 2.0]))]

        def step(params, x):
            loss = ((params[0] * x) ** 2).sum()
            params[0].grad = None  # before backward(): replayed before the ops
            loss.backward()
            params[0].data -= 0.1 * params[0].grad
            return loss

        f = ag.compile(step) if compiled else step
        ps[0].grad = np.ones(2)  # a stale gradient the reset must remove
        runs.append(([f(ps, np.array([0.3, 0.1 * i])).data for i in range(4)], ps[0].data))
    same(runs[0], runs[1])


# ------------------------------------------- found by an adversarial review (each failed)


def _twice(make, calls, args):
    """``make()`` -> (state to compare, step); run eagerly and compiled, compare each call."""
    runs = []
    for compiled in (False, True):
        state, step = make()
        f = ag.compile(step) if compiled else step
        out = []
        for i in range(calls):
            r = f(*args(i))
            out.append(
                (
                    [
                        x.data if isinstance(x, Value) else x
                        for x in (r if isinstance(r, tuple) else (r,))
                    ],
                    [copy.deepcopy(v.data) for v in state],
                    [copy.deepcopy(v.grad) for v in state],
                )
            )
        runs.append(out)
    same(runs[0], runs[1])


def test_an_argument_parameter_gets_its_gradient_on_the_first_call():
    def make2():
        w = Value(np.array([1.0, 2.0, 3.0]))

        def step(x):
            return inner(w, x)

        def inner(w, x):
            loss = ((w * x) ** 2).sum()
            loss.backward()  # no zero_grad: accumulates, from the first call on
            w.data -= 0.01 * w.grad
            return loss

        return [w], step

    _twice(make2, 4, lambda i: (np.array([0.5, 1.0, 1.5]) * (i + 1),))
    w = Value(np.array([1.0, 2.0, 3.0]))
    opt = nn.optim.SGD([w], lr=0.1)

    @ag.compile
    def step(w, x):
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    step(w, np.array([0.5, 0.5, 0.5]))
    same(w.data, np.array([0.95, 1.9, 2.85]))  # updated by the first (traced) call


def test_a_clipping_norm_used_in_an_update_is_read_live():
    def make():
        w = Value(np.array([1.0, -2.0, 0.5]))

        def step(x):
            loss = ((w * x) ** 2).sum()
            loss.backward()
            n = nn.utils.clip_grad_norm_([w], 1e9)
            w.data -= (0.1 / (1.0 + n)) * w.grad
            w.grad = None
            return loss, n

        return [w], step

    _twice(make, 5, lambda i: (np.array([1.0, 2.0, 3.0]) * (i + 1),))


def test_a_learning_rate_read_after_a_schedule_step_is_read_live():
    def make():
        w = Value(np.array([1.0, -2.0, 0.5]))
        opt = nn.optim.SGD([w], lr=0.1)
        sched = nn.optim.ExponentialLR(opt, 0.5)

        def step(x):
            opt.zero_grad()
            loss = ((w * x) ** 2).sum()
            loss.backward()
            sched.step()
            w.data -= sched.get_last_lr()[0] * w.grad
            return loss

        return [w], step

    _twice(make, 5, lambda i: (np.array([1.0, 2.0, 3.0]),))


@pytest.mark.parametrize("n", [1, 2])
def test_a_learning_rate_read_from_a_group_before_the_parameters(n):
    # the group's lr read first, then each .data and .grad: the second call's check must
    # pair the reads with the first trace's in order, the lr's aside
    def make():
        ws = [Value(np.array([1.0, -2.0, 0.5])), Value(np.array([0.3, 0.2]))][:n]
        opt = nn.optim.SGD(ws, lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = sum((((w * x[: w.size]) ** 2).sum() for w in ws), 0.0)
            loss.backward()
            lr = opt.param_groups[0]["lr"]
            for p in ws:
                p.data -= lr * p.grad
            return loss

        return ws, step

    _twice(make, 5, lambda i: (np.array([1.0, 2.0, 3.0]),))


def test_a_learning_rate_assigned_inside_is_refused_with_the_line():
    w = Value(np.ones(3))
    opt = nn.optim.SGD([w], lr=0.1)

    def f(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.param_groups[0]["lr"] *= 0.5  # LR-ASSIGNED
        opt.step()
        return x

    assert line_of("# LR-ASSIGNED") in _refused(
        f, np.ones(3), match=r"assigning ParamGroup\['lr'\]"
    )


def test_a_gradient_checked_for_none_is_guarded():
    w1, w2 = Value(np.ones(3)), Value(np.ones(3))

    def make():
        w1.data, w2.data, w1.grad, w2.grad = np.ones(3), np.ones(3), None, None

        def step(x):
            loss = ((w1 * x).sum()) ** 2
            loss.backward()
            for p in (w1, w2):
                if p.grad is not None:
                    p.data -= 0.1 * p.grad
                    p.grad = None
            return loss

        return [w1, w2], step

    x = np.array([0.1, 0.2, 0.3])

    def args(i):
        if i >= 1:
            (w2 * x).sum().backward()  # other code gives w2 a gradient between calls
        return (x,)

    _twice(make, 4, args)


def test_assignments_and_in_place_updates_alias_as_eagerly():
    def swap():
        a, b = Value(np.array([1.0, 2.0])), Value(np.array([-3.0, 4.0]))

        def step(x):
            loss = (a * x + b * x * 2).sum()
            loss.backward()
            a.data, b.data = b.data, a.data
            a.grad = None
            b.grad = None
            return loss

        return [a, b], step

    _twice(swap, 4, lambda i: (np.array([1.0, 0.5]),))

    def target_sync():
        online, target = nn.Linear(2, 1, rng=0), nn.Linear(2, 1, rng=1)
        opt = nn.optim.SGD(online.parameters(), lr=0.1)

        def step(x, sync):
            opt.zero_grad()
            loss = ((online(x) + target(x)) ** 2).mean()
            loss.backward()
            opt.step()
            if sync:
                for tp, p in zip(target.parameters(), online.parameters()):
                    tp.data = p.data  # shares the array, as eagerly: later steps move both
            return loss

        return [*target.parameters(), *online.parameters()], step

    _twice(target_sync, 4, lambda i: (np.ones((3, 2)) * (i + 1), i == 0))

    def scale_grad():
        w = Value(np.array([1.0, -2.0]))

        def step(x):
            loss = ((w * x) ** 2).sum()
            loss.backward()
            g = w.grad
            g *= 0.5  # changes w.grad in place, as numpy does
            w.data -= 0.1 * w.grad
            w.grad = None
            return loss

        return [w], step

    _twice(scale_grad, 4, lambda i: (np.array([1.0, 2.0]) * (i + 1),))


def test_a_value_read_before_its_in_place_update_is_refused():
    p, q = Value(np.ones(3)), Value(np.zeros(3))

    def f(x):
        (p * x).sum().backward()
        old = p.data
        p.data -= 0.1 * p.grad
        q.data = old * 1.0  # OLD-AFTER-UPDATE
        return x

    assert line_of("# OLD-AFTER-UPDATE") in _refused(f, np.ones(3), match="in-place update")


def test_a_gradient_kept_in_a_list_is_refused():
    w = Value(np.array([1.0, 2.0]))
    history = []

    def f(x):
        loss = ((w * x) ** 2).sum()
        loss.backward()
        history.append(w.grad)
        w.grad = None
        return loss

    message = _refused(f, np.ones(2), match="kept a reference")
    assert ".grad read after backward()" in message and "ran the whole step once" in message


def test_parameters_used_through_views_compile_with_their_update():
    def transposed():
        w = Value(np.arange(12.0).reshape(3, 4) / 10)
        opt = nn.optim.SGD([w], lr=0.1)

        def step(x):
            opt.zero_grad()
            loss = ((x @ w.T) ** 2).mean()
            loss.backward()
            opt.step()
            return loss

        return [w], step

    _twice(transposed, 4, lambda i: (np.ones((2, 4)) * (i + 1),))

    def frozen_norm():
        m = nn.Sequential(nn.Linear(4, 6, rng=0), nn.BatchNorm1d(6), nn.Linear(6, 2, rng=1))
        m.eval()
        opt = nn.optim.SGD(m.parameters(), lr=0.1)

        def step(x, y):
            opt.zero_grad()
            loss = nn.mse_loss(m(x), y)
            loss.backward()
            opt.step()
            return loss

        return list(m.parameters()), step

    _twice(frozen_norm, 4, lambda i: (np.ones((8, 4)) * (i + 1), np.zeros((8, 2))))


def test_the_loss_has_its_gradient_on_the_first_call():
    w = Value(np.ones(3))
    opt = nn.optim.SGD([w], lr=0.1)

    @ag.compile
    def step(x):
        opt.zero_grad()
        loss = ((w * x) ** 2).sum()
        loss.backward()
        opt.step()
        return loss

    assert [repr(step(np.ones(3)).grad) for _ in range(3)] == ["array(1.)"] * 3


# ------------------------------------------------------------------ the listing


def _listed_step():
    model = nn.Linear(5, 3)
    opt = nn.optim.Adam(model.parameters(), lr=0.01)

    def step(x, y):
        opt.zero_grad()  # LISTED-ZERO-GRAD
        loss = nn.cross_entropy(model(x), y)
        loss.backward()
        nn.utils.clip_grad_norm_(model.parameters(), 0.3)  # LISTED-CLIP
        opt.step()  # LISTED-STEP
        return loss

    f = ag.compile(step)
    f(*_data(8))
    return f


def test_str_of_a_step_plan_lists_the_calls_backward_and_updates_in_order():
    text = str(_listed_step().plans[0])
    lines = text.splitlines()
    expected = [
        f"  before: Adam.zero_grad()  # {line_of('# LISTED-ZERO-GRAD')}:",
        "  forward: the ops above",
        "  then: backward() of output 0",
        f"  call: clip_grad_norm_([2 Parameters], 0.3)  # {line_of('# LISTED-CLIP')}:",
        f"  call: Adam.step()  # {line_of('# LISTED-STEP')}:",
    ]
    at = [next(i for i, t in enumerate(lines) if t.startswith(e)) for e in expected]
    assert at == sorted(at) and lines[at[0] - 1] == "step (in this order):"
    assert lines.index("forward:") < at[0]  # after the forward and its backward lines
    assert "output 0: %" in text and text.count("backward: d%") >= 1


def test_str_of_a_hand_written_update_names_what_it_reads_and_writes():
    p = Value(np.array([1.0, -2.0]), name="p")

    def step(x, r):
        p.grad = None  # LISTED-RESET
        loss = (p * x).sum() * r
        loss.backward()
        p.data = p.data - 0.1 * p.grad  # LISTED-UPDATE
        r.data -= 0.5 * r.grad
        return loss

    f = ag.compile(step)
    f(np.ones(2), Value(3.0))
    plan = f.plans[0]
    text = str(plan)
    (slot,) = [t.split(" =")[0].strip() for t in text.splitlines() if " = live Value 'p'" in t]
    update = line_of("# LISTED-UPDATE")
    assert f"  before: None -> {slot}.grad (live Value 'p')  # {line_of('# LISTED-RESET')}:" in text
    n = plan.n_slots  # the update's results are numbered on from the forward's slots
    assert f"  update: %{n} = mul(0.1, {slot}.grad)  # {update}:" in text
    assert f"  update: %{n + 1} = sub({slot}.data, %{n})  # {update}:" in text
    assert f"  write: %{n + 1} -> {slot}.data (live Value 'p')  # {update}:" in text
    assert f"  update: %{n + 3} = sub(%1.data, %{n + 2})" in text
    assert f"  write: %{n + 3} -> %1.data (argument 1)" in text


def test_str_of_a_plan_without_a_step_lists_no_step():
    p = Value(np.ones(3))
    f = ag.compile(lambda x: (p * x).sum())
    f(np.ones(3))
    assert f.plans[0].step is None and "step (" not in str(f.plans[0])
    assert "backward()" not in str(f.plans[0])


def test_a_learning_rate_read_after_a_schedule_step_before_the_ops_is_refused():
    w = Value(np.ones(3))
    opt = nn.optim.SGD([w], lr=0.1)
    sched = nn.optim.ExponentialLR(opt, 0.5)

    def f(x):
        sched.step()
        lr = opt.param_groups[0]["lr"]  # LR-AFTER-SCHEDULE
        w.grad = None
        loss = (w * x).sum()
        loss.backward()
        w.data -= lr * w.grad
        return loss

    assert line_of("# LR-AFTER-SCHEDULE") in _refused(f, np.ones(3), match="after a schedule")


def test_an_optimizers_state_or_a_schedules_epoch_read_inside_is_refused_with_the_line():
    w = Value(np.ones(3))
    opt = nn.optim.Adam([w], lr=0.1)
    sched = nn.optim.ExponentialLR(opt, 0.9)

    def by_state(x):
        opt.zero_grad()
        loss = (w * x).sum()
        if opt.state.get(0, {}).get("step", 0) < 3:  # STATE-READ
            loss = loss * 0.1
        loss.backward()
        opt.step()
        return loss

    def by_epoch(x):
        opt.zero_grad()
        loss = (w * x).sum()
        loss.backward()
        opt.step()
        sched.step()
        w.data -= (0.01 * sched.last_epoch) * w.grad  # EPOCH-READ
        return loss

    assert line_of("# STATE-READ") in _refused(by_state, np.ones(3), match="optimizer's state")
    assert line_of("# EPOCH-READ") in _refused(by_epoch, np.ones(3), match="last_epoch")
    assert opt.state[0]["step"] >= 1 and sched.last_epoch >= 1  # outside: read as ever


def test_a_numpy_float_learning_rate_keeps_its_promotion():
    def make():
        w = Value(np.random.default_rng(0).standard_normal(100).astype(np.float32))
        opt = nn.optim.SGD([w], lr=0.1)
        opt.param_groups[0]["lr"] = np.float64(0.1 / 3)

        def step(x):
            w.grad = None
            loss = ((w * x) ** 2).sum()
            loss.backward()
            w.data = w.data - opt.param_groups[0]["lr"] * w.grad
            return loss

        return [w], step

    x = np.random.default_rng(1).standard_normal(100).astype(np.float32)
    _twice(make, 3, lambda i: (x,))


# --------------------------------------------- gradients recycled, the loss's backward
def _recycling_step(dtype=np.float64):
    rng = np.random.default_rng(3)
    model = nn.Sequential(nn.Linear(6, 4, dtype=dtype), nn.Sigmoid(), nn.Linear(4, 2, dtype=dtype))
    opt = nn.optim.SGD(model.parameters(), lr=0.1)

    def step(x, y):
        opt.zero_grad()
        loss = nn.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        return loss

    x, y = rng.standard_normal((8, 6)).astype(dtype), rng.standard_normal((8, 2)).astype(dtype)
    return model, ag.compile(step), x, y, copy.deepcopy(model)


def test_a_gradient_nothing_else_holds_is_written_into_again():
    """The weight's .grad is the array the plan handed out last time (no allocation per
    step): proved by identity, the plan's own reference keeping it alive throughout."""
    model, f, x, y, _ = _recycling_step()
    f(x, y)
    f(x, y)
    assert f.traces == 1
    plan = f.plans[-1]
    w = model[0].weight
    assert any(w.grad is h for h in plan.held)
    before = [id(h) for h in plan.held]
    f(x, y)
    assert [id(h) for h in plan.held] == before
    assert any(w.grad is h for h in plan.held)


@pytest.mark.parametrize("hold", ["reference", "view", "weakref", "list"])
def test_a_gradient_held_outside_is_never_written_into(hold):
    """Kept by the user (a name, a view, a weak reference, a list), last step's .grad keeps
    its values (or, weakly held, is gone), and the next step's .grad is another array,
    equal to eager's."""
    import weakref

    model, f, x, y, eager_model = _recycling_step()
    f(x, y)
    f(x, y)
    w = model[0].weight
    kept = w.grad
    saved = kept.copy()
    handle = (
        kept
        if hold == "reference"
        else kept[1:]
        if hold == "view"
        else weakref.ref(kept)
        if hold == "weakref"
        else [kept]
    )
    if hold != "reference":
        del kept
    f(x * 2.0, y)
    got = handle if hold in ("reference", "view") else handle() if hold == "weakref" else handle[0]
    if got is not None or hold != "weakref":  # (a weak reference may have died: not reused)
        np.testing.assert_array_equal(got, saved if hold != "view" else saved[1:], strict=True)
        assert w.grad is not got and (hold != "view" or w.grad is not got.base)
    opt = nn.optim.SGD(eager_model.parameters(), lr=0.1)
    for xs in (x, x, x * 2.0):  # the same three steps, eagerly
        opt.zero_grad()
        nn.mse_loss(eager_model(xs), y).backward()
        opt.step()
    same(w.grad, eager_model[0].weight.grad)


def test_a_parameter_made_by_an_op_outside_gets_its_gradient_through_the_engine():
    """A live input that is not a leaf (W = base * 2, made outside): the loss's backward
    goes to the engine, which walks on to ``base``, as eagerly."""

    def run(compiled):
        base = Value(np.linspace(-1.0, 1.0, 6).reshape(3, 2))
        W = base * 2.0

        def step(x):
            base.grad = None
            loss = ((x @ W).tanh() ** 2).sum()
            loss.backward()
            return loss

        f = ag.compile(step) if compiled else step
        out = []
        for i in range(3):
            loss = f(np.full((4, 3), 0.1 * (i + 1)))
            out.append((loss.data, loss.grad, base.grad.copy()))
        return out

    for e, c in zip(run(False), run(True)):
        same(e, c)


def test_a_recycled_gradient_given_to_two_leaves_is_copied_for_one():
    """The loss's backward takes a recycled array as a .grad only while nothing but the
    plan holds it: handed to two leaves (no generated plan does so today), one of them
    gets a copy, never the same array."""
    import types

    from autograd_lite.compile.step import loss_backward

    a, b = Value(np.zeros(3)), Value(np.zeros(3))
    plan = types.SimpleNamespace(held=[np.arange(3.0)])
    plan.vjp = lambda *args: [plan.held[0], plan.held[0]]  # only the plan holds it
    shared = id(plan.held[0])
    root = Value(np.array(2.0))
    root._inputs, root._ctx = (a, b), (None, 0)
    loss_backward(plan, root)  # type: ignore[arg-type]
    assert a.grad is not b.grad and shared in (id(a.grad), id(b.grad))  # one taken as is
    same(a.grad, np.arange(3.0))
    same(b.grad, np.arange(3.0))
    same(root.grad, np.array(1.0))


def test_a_gradient_the_plan_does_not_hold_is_copied_when_held_elsewhere():
    """Only the plan's own recycled arrays count as known references: an array a rule
    keeps elsewhere (here a list standing for a user op's cache) becomes a copy."""
    import types

    from autograd_lite.compile.step import loss_backward

    cache = [np.arange(3.0)]
    a = Value(np.zeros(3))
    plan = types.SimpleNamespace(held=[], vjp=lambda *args: [cache[0]])
    root = Value(np.array(2.0))
    root._inputs, root._ctx = (a,), (None, 0)
    loss_backward(plan, root)  # type: ignore[arg-type]
    assert a.grad is not cache[0]
    same(a.grad, np.arange(3.0))
