"""Optimizers step by step against the closed-form rules (and torch when installed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn

RNG = np.random.default_rng(0)
GRADS = [RNG.standard_normal(3) for _ in range(5)]  # a fixed sequence of gradients
P0 = RNG.standard_normal(3)


def run(opt_class, steps=5, **kw):
    """Apply ``opt_class`` to one parameter fed the gradients GRADS; the trajectory."""
    p = Value(P0.copy())
    opt = opt_class([p], **kw)
    out = []
    for g in GRADS[:steps]:
        p.grad = g.copy()
        opt.step()
        out.append(p.data.copy())
    return out


def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    """PyTorch's documented SGD algorithm, written out independently."""
    p, buf, out = P0.copy(), None, []
    for g in GRADS:
        g = g + weight_decay * p
        if momentum:
            buf = g.copy() if buf is None else momentum * buf + (1 - dampening) * g
            g = g + momentum * buf if nesterov else buf
        p = p - lr * g
        out.append(p)
    return out


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
    """Kingma & Ba's Adam (with PyTorch's L2 or AdamW's decoupled decay)."""
    p, m, v, out = P0.copy(), np.zeros(3), np.zeros(3), []
    for t, g in enumerate(GRADS, start=1):
        if decoupled:
            p = p * (1 - lr * weight_decay)
        else:
            g = g + weight_decay * p
        m = betas[0] * m + (1 - betas[0]) * g
        v = betas[1] * v + (1 - betas[1]) * g * g
        m_hat, v_hat = m / (1 - betas[0] ** t), v / (1 - betas[1] ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
        out.append(p)
    return out


@pytest.mark.parametrize(
    "kw",
    [
        dict(lr=0.1),
        dict(lr=0.1, momentum=0.9),
        dict(lr=0.05, momentum=0.9, dampening=0.5),
        dict(lr=0.1, momentum=0.9, nesterov=True),
        dict(lr=0.1, weight_decay=0.01),
        dict(lr=0.1, momentum=0.5, weight_decay=0.1, nesterov=True),
    ],
)
def test_sgd_matches_the_closed_form_rule(kw):
    for got, want in zip(run(nn.optim.SGD, **kw), sgd_reference(**kw)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


@pytest.mark.parametrize(
    ("cls", "kw", "decoupled"),
    [
        (nn.optim.Adam, dict(lr=0.01), False),
        (nn.optim.Adam, dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1), False),
        (nn.optim.AdamW, dict(lr=0.01, weight_decay=0.1), True),
    ],
)
def test_adam_matches_the_closed_form_rule(cls, kw, decoupled):
    for got, want in zip(run(cls, **kw), adam_reference(**kw, decoupled=decoupled)):
        np.testing.assert_allclose(got, want, rtol=1e-10)


def test_scalar_float_parameters_are_updated_too():
    a = Value(10.0)
    opt = nn.optim.SGD([a], lr=0.3, momentum=0.5)
    for _ in range(3):
        opt.zero_grad()
        (a * a).backward()
        opt.step()
    assert type(a.data) is float
    expected, buf = 10.0, None
    for _ in range(3):
        g = 2 * expected
        buf = g if buf is None else 0.5 * buf + g
        expected -= 0.3 * buf
    assert a.data == pytest.approx(expected)


def test_parameters_without_grad_are_skipped_and_zero_grad_clears():
    a, b = Value(np.ones(2)), Value(np.ones(2))
    opt = nn.optim.Adam([a, b], lr=0.1)
    a.grad = np.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, np.ones(2))
    assert not np.array_equal(a.data, np.ones(2))
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_the_seed_003_example_through_sgd():
    """Backprop by hand, seed 003: gradient 40, new weight 0.8, new output 4."""
    phi = lambda v: 2 * v
    xh1 = Value(2.0)
    rest = {"hh1": 0.75, "hh2": 0.25, "hy1": 0.25, "hy2": 0.5}

    def output():
        a1 = phi(2.0 * xh1)
        return phi(rest["hy1"] * phi(rest["hh1"] * a1) + rest["hy2"] * phi(rest["hh2"] * a1))

    opt = nn.optim.SGD([xh1], lr=0.03)
    loss = 0.5 * (output() - 2.0) ** 2
    loss.backward()
    assert xh1.grad == 40.0
    opt.step()
    assert xh1.data == pytest.approx(0.8)
    assert output().data == pytest.approx(4.0)


@pytest.mark.parametrize(
    ("make", "pattern"),
    [
        (lambda p: nn.optim.SGD(p, lr=-0.1), "invalid learning rate -0.1"),
        (lambda p: nn.optim.SGD(p, lr=0.1, nesterov=True), "nesterov momentum needs momentum > 0"),
        (lambda p: nn.optim.SGD(p, lr=0.1, momentum=-1), "invalid momentum"),
        (lambda p: nn.optim.SGD(p, lr=0.1, weight_decay=-1), "invalid weight_decay"),
        (lambda p: nn.optim.SGD([], lr=0.1), "empty parameter list"),
        (lambda p: nn.optim.SGD(p + p, lr=0.1), "more than once"),
        (lambda p: nn.optim.Adam(p, betas=(1.0, 0.9)), r"betas must be in \[0, 1\)"),
        (lambda p: nn.optim.Adam(p, lr=float("nan")), "invalid learning rate"),
    ],
)
def test_bad_arguments_are_clear_errors(make, pattern):
    with pytest.raises(ValueError, match=pattern):
        make([Value(np.ones(2))])


def test_a_non_value_parameter_is_a_type_error():
    with pytest.raises(TypeError, match="parameter 0 is a ndarray"):
        nn.optim.SGD([np.ones(2)], lr=0.1)


def test_param_groups_with_their_own_learning_rates():
    a, b = Value(np.ones(1)), Value(np.ones(1))
    opt = nn.optim.SGD([{"params": [a]}, {"params": [b], "lr": 1.0}], lr=0.1)
    a.grad, b.grad = np.ones(1), np.ones(1)
    opt.step()
    assert a.data[0] == pytest.approx(0.9) and b.data[0] == pytest.approx(0.0)


@pytest.mark.parametrize(
    ("make", "rule"),
    [
        (lambda o: nn.optim.StepLR(o, step_size=2, gamma=0.5), lambda e: 0.5 ** (e // 2)),
        (lambda o: nn.optim.ExponentialLR(o, gamma=0.9), lambda e: 0.9**e),
        (lambda o: nn.optim.LambdaLR(o, lambda e: 1 / (e + 1)), lambda e: 1 / (e + 1)),
    ],
)
def test_schedules_follow_their_formula(make, rule):
    opt = nn.optim.SGD([Value(np.ones(1))], lr=0.2)
    sched = make(opt)
    for epoch in range(7):
        assert opt.param_groups[0]["lr"] == pytest.approx(0.2 * rule(epoch))
        assert sched.get_last_lr() == [opt.param_groups[0]["lr"]]
        sched.step()


def _steps(p, opt, ks):
    for k in ks:
        p.grad = np.cos(p.data + k)
        opt.step()


@pytest.mark.parametrize(
    "factory",
    [
        lambda ps: nn.optim.SGD(ps, lr=0.1, momentum=0.9),
        lambda ps: nn.optim.Adam(ps, lr=0.1, betas=(0.8, 0.9)),
        lambda ps: nn.optim.AdamW(ps, lr=0.1),
    ],
)
def test_optimizer_state_round_trips_through_save_and_load(factory, tmp_path):
    """3 steps, save, load into a fresh optimizer, 3 more == 6 steps without stopping."""
    p_ref = Value(np.linspace(0, 1, 4))
    ref_opt = factory([p_ref])
    _steps(p_ref, ref_opt, range(3))
    nn.save(ref_opt.state_dict(), tmp_path / "opt.npz")
    middle = p_ref.data.copy()
    p_res = Value(middle)
    opt = factory([p_res])
    opt.load_state_dict(nn.load(tmp_path / "opt.npz"))
    _steps(p_ref, ref_opt, range(3, 6))
    _steps(p_res, opt, range(3, 6))
    np.testing.assert_allclose(p_res.data, p_ref.data, rtol=1e-15)
    assert opt.param_groups[0]["lr"] == ref_opt.param_groups[0]["lr"]
    fresh = Value(middle)  # without the saved state the trajectory differs
    _steps(fresh, factory([fresh]), range(3, 6))
    assert not np.allclose(fresh.data, p_ref.data)


def test_optimizer_load_checks_the_parameter_count():
    opt = nn.optim.SGD([Value(np.ones(1)), Value(np.ones(1))], lr=0.1)
    other = nn.optim.SGD([Value(np.ones(1))], lr=0.1)
    with pytest.raises(
        ValueError, match="group 0 has 1 parameters in the state, 2 in the optimizer"
    ):
        opt.load_state_dict(other.state_dict())


def test_matches_torch_when_installed():
    torch = pytest.importorskip("torch")
    w0 = RNG.standard_normal((4, 3))
    x = RNG.standard_normal((5, 4))
    for name, kw in (
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("Adam", dict(lr=0.05, weight_decay=0.01)),
        ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ):
        w = Value(w0.copy())
        tw = torch.tensor(w0.copy(), requires_grad=True)
        ours = getattr(nn.optim, name)([w], **kw)
        theirs = getattr(torch.optim, name)([tw], **kw)
        for _ in range(4):
            ours.zero_grad()
            theirs.zero_grad()
            (ag.tanh(Value(x) @ w) ** 2).sum().backward()
            (torch.tanh(torch.tensor(x) @ tw) ** 2).sum().backward()
            ours.step()
            theirs.step()
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_lr_equal_c_over_epoch_plus_one_as_in_the_first_seed():
    opt = nn.optim.SGD([Value(1.0)], lr=1 / (2 * 100000))
    sched = nn.optim.LambdaLR(opt, lambda epoch: 1 / (epoch + 1))
    lrs = []
    for _ in range(3):
        lrs.append(opt.param_groups[0]["lr"])
        sched.step()
    assert lrs == pytest.approx([1 / (2 * 100000 * (e + 1)) for e in range(3)])
    assert not math.isnan(lrs[-1])


def test_the_seed_003_network_built_from_nn_modules():
    """Seed 003's 1-1-2-1 network as an nn.MLP (phi(x) = 2x, no biases), loss (Y - T)^2 / 2.

    By hand, with x = 2 and T = 2: A1 = 8, A2 = (12, 4), Y = 10, so Y - T = 8 and
    dL/dxh1 = 40, dL/dhh = (64, 128), dL/dhy = (192, 64); after one SGD step on xh1 at
    eta 0.03 the weight is 0.8 and the output 4.
    """
    phi = lambda v: 2 * v
    model = nn.MLP(1, [1, 2, 1], activation=phi, output_activation=phi, bias=False)
    model.load_state_dict(
        {
            "layers.0.weight": [[2.0]],
            "layers.1.weight": [[0.75, 0.25]],
            "layers.2.weight": [[0.25], [0.5]],
        }
    )
    xh1 = model.layers[0].weight
    opt = nn.optim.SGD([xh1], lr=0.03)
    y = model([2.0])
    assert y.item() == 10.0
    loss = 0.5 * nn.mse_loss(y, [2.0])
    opt.zero_grad()
    loss.backward()
    assert xh1.grad.tolist() == [[40.0]]
    assert model.layers[1].weight.grad.tolist() == [[64.0, 128.0]]
    assert model.layers[2].weight.grad.tolist() == [[192.0], [64.0]]
    hh_before = model.layers[1].weight.data.copy()
    opt.step()
    assert xh1.data[0, 0] == pytest.approx(0.8)
    np.testing.assert_array_equal(model.layers[1].weight.data, hh_before)  # only xh1 moved
    assert model([2.0]).item() == pytest.approx(4.0)


@pytest.mark.parametrize("cls", [nn.optim.SGD, nn.optim.Adam])
def test_float32_parameters_and_state_stay_float32(cls):
    mlp = nn.MLP(3, [4, 2], dtype=np.float32, rng=0)
    kw = dict(lr=0.1, momentum=0.9, weight_decay=0.01) if cls is nn.optim.SGD else {}
    opt = cls(mlp.parameters(), **kw)
    x, y = np.ones((5, 3)), np.zeros((5, 2))
    for _ in range(3):
        opt.zero_grad()
        nn.mse_loss(mlp(x), y).backward()
        opt.step()
    assert all(p.dtype == np.float32 for p in mlp.parameters())
    for state in opt.state.values():
        assert all(v.dtype == np.float32 for v in state.values() if isinstance(v, np.ndarray))


def test_zero_grad_to_zeros_on_request():
    p = Value(np.ones(3))
    opt = nn.optim.SGD([p], lr=0.1)
    p.grad = np.full(3, 2.0)
    opt.zero_grad(set_to_none=False)
    np.testing.assert_array_equal(p.grad, np.zeros(3))
    opt.step()  # a zero gradient moves nothing
    np.testing.assert_array_equal(p.data, np.ones(3))


@pytest.mark.parametrize(
    ("make", "error", "pattern"),
    [
        (lambda: nn.optim.SGD(nn.Linear(2, 2), lr=0.1), TypeError, r"pass model.parameters\(\)"),
        (lambda: nn.optim.SGD(3.0, lr=0.1), TypeError, "iterable of Values"),
        (lambda: nn.optim.SGD([Value(np.ones(2)) * 2], lr=0.1), ValueError, "not a leaf"),
        (lambda: nn.optim.SGD([Value(np.ones(2))], lr="0.1"), TypeError, "lr must be a number"),
        (lambda: nn.optim.SGD([{"lr": 0.1}], lr=0.1), ValueError, "needs a 'params' entry"),
        (lambda: nn.optim.Adam([Value(1.0)], eps=-1.0), ValueError, "invalid eps"),
    ],
)
def test_more_bad_arguments(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make()


def test_a_bad_optimizer_state_is_refused_and_nothing_changes():
    p = Value(np.linspace(0, 1, 4))
    opt = nn.optim.SGD([p], lr=0.1, momentum=0.9)
    _steps(p, opt, range(2))
    good = opt.state_dict()
    before_buf = opt.state[0]["momentum_buffer"].copy()
    wrong_shape = nn.optim.SGD([Value(np.ones(3))], lr=0.5, momentum=0.9)
    _steps(wrong_shape.param_groups[0]["params"][0], wrong_shape, range(1))
    with pytest.raises(ValueError, match=r"momentum_buffer of parameter 0 has shape \(3,\)"):
        opt.load_state_dict(wrong_shape.state_dict())
    bad_lr = dict(good, param_groups=[dict(good["param_groups"][0], lr=-1.0)])
    with pytest.raises(ValueError, match=r"group 0: SGD: invalid learning rate -1\.0"):
        opt.load_state_dict(bad_lr)
    assert opt.param_groups[0]["lr"] == 0.1
    np.testing.assert_array_equal(opt.state[0]["momentum_buffer"], before_buf)


def test_scheduler_state_round_trips(tmp_path):
    def make():
        opt = nn.optim.SGD([Value(np.ones(1))], lr=0.5)
        return opt, nn.optim.StepLR(opt, step_size=2, gamma=0.1)

    opt, sched = make()
    for _ in range(3):
        sched.step()
    nn.save(sched.state_dict(), tmp_path / "sched.npz")
    opt2, sched2 = make()
    sched2.load_state_dict(nn.load(tmp_path / "sched.npz"))
    assert sched2.last_epoch == 3 and opt2.param_groups[0]["lr"] == pytest.approx(0.05)
    sched.step()
    sched2.step()
    assert opt2.param_groups[0]["lr"] == pytest.approx(opt.param_groups[0]["lr"]) == 0.005


def test_sgd_and_schedules_match_torch_when_installed():
    torch = pytest.importorskip("torch")
    w0 = RNG.standard_normal((3, 2))
    for kw, make_sched, make_torch_sched in (
        (
            dict(lr=0.2, momentum=0.8, dampening=0.3, weight_decay=0.05),
            lambda o: nn.optim.StepLR(o, 2, gamma=0.5),
            lambda o: torch.optim.lr_scheduler.StepLR(o, 2, gamma=0.5),
        ),
        (
            dict(lr=0.1, momentum=0.9),
            lambda o: nn.optim.ExponentialLR(o, 0.7),
            lambda o: torch.optim.lr_scheduler.ExponentialLR(o, 0.7),
        ),
        (
            dict(lr=0.1),
            lambda o: nn.optim.LambdaLR(o, lambda e: 1 / (e + 1)),
            lambda o: torch.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (e + 1)),
        ),
    ):
        w, tw = Value(w0.copy()), torch.tensor(w0.copy(), requires_grad=True)
        ours, theirs = nn.optim.SGD([w], **kw), torch.optim.SGD([tw], **kw)
        s_ours, s_theirs = make_sched(ours), make_torch_sched(theirs)
        for _ in range(6):
            ours.zero_grad()
            theirs.zero_grad()
            (ag.sin(w) * w).sum().backward()
            (torch.sin(tw) * tw).sum().backward()
            ours.step()
            theirs.step()
            s_ours.step()
            s_theirs.step()
            assert s_ours.get_last_lr() == pytest.approx(s_theirs.get_last_lr(), rel=1e-12)
        np.testing.assert_allclose(w.data, tw.detach().numpy(), rtol=1e-12, atol=1e-14)


# ------------------------------------------------ the reused temporaries, side by side
_FAST_PATH_CASES = [
    (nn.optim.SGD, dict(lr=0.1)),
    (nn.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    (nn.optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
    (nn.optim.Adam, dict(lr=1e-2)),
    (nn.optim.Adam, dict(lr=1e-2, weight_decay=0.1)),
    (nn.optim.AdamW, dict(lr=1e-2)),
    (nn.optim.RMSprop, dict(lr=1e-2)),
    (nn.optim.RMSprop, dict(lr=1e-2, momentum=0.9, weight_decay=0.1)),
    (nn.optim.RMSprop, dict(lr=1e-2, centered=True)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, kw", _FAST_PATH_CASES)
def test_the_reused_temporaries_give_the_general_paths_bits(cls, kw, dtype):
    """The update with its temporaries in reused arrays (out=) against the same class
    with them turned off (the plain expressions): equal to the bit over several steps,
    with inf, nan, -0.0 and huge gradients, on arrays, a 0-d array and a Python float."""

    class General(cls):  # type: ignore[misc, valid-type]
        def _scratch(self, *args):
            return None

    rng = np.random.default_rng(0)
    shapes = [(5, 3), (3,), ()]

    def make(c):
        ps = [Value(rng.standard_normal(s).astype(dtype)) for s in shapes] + [Value(0.5)]
        return ps, c(ps, **kw)

    state = rng.bit_generator.state
    fast, opt_fast = make(cls)
    rng.bit_generator.state = state
    slow, opt_slow = make(General)
    assert opt_fast._scratch(fast[0].data, fast[0].data, 0.1) is not None  # it is in use
    for step in range(6):
        for a, b in zip(fast, slow):
            g = rng.standard_normal(np.shape(a.data)) * 10.0 ** rng.integers(-3, 30)
            if step == 3 and np.ndim(a.data):
                g.flat[0], g.flat[-1] = np.inf, -0.0
            if step == 5 and np.ndim(a.data):
                g.flat[0] = np.nan
            a.grad = b.grad = g.astype(dtype) if np.ndim(a.data) else float(g)
        with np.errstate(all="ignore"):
            opt_fast.step()
            opt_slow.step()
        for a, b in zip(fast, slow):
            assert type(a.data) is type(b.data)
            np.testing.assert_array_equal(np.asarray(a.data), np.asarray(b.data), strict=True)
        sf, ss = opt_fast.state_dict()["state"], opt_slow.state_dict()["state"]
        for k in ss:
            for name in ss[k]:
                np.testing.assert_array_equal(sf[k][name], ss[k][name], strict=True)


def test_the_temporaries_are_not_used_where_they_could_round_otherwise():
    """A numpy-float learning rate (a strong scalar) or a gradient of another dtype
    makes the product another dtype: the plain expression is used, and it promotes as
    numpy does (no out= cast in between)."""
    p = Value(np.ones(3, np.float32))
    opt = nn.optim.SGD([p], lr=0.1)
    assert opt._scratch(p.data, np.ones(3, np.float64), 0.1) is None
    assert opt._scratch(p.data, np.ones(3, np.float32), np.float64(0.1)) is None
    assert opt._scratch(p.data, np.ones(3, np.float32), 0.1, 2) is not None
    lr = np.float64(1 / 3)
    q = Value(np.full(3, 1.0, np.float32))
    q.grad = np.full(3, 1.0, np.float32)
    nn.optim.SGD([q], lr=lr).step()
    want = np.full(3, 1.0, np.float32)
    want -= lr * np.full(3, 1.0, np.float32)  # computed in float64, then stored
    np.testing.assert_array_equal(q.data, want, strict=True)


def test_step_and_exponential_schedules_chain_as_torch_does():
    # two schedules on one optimizer compose, and an lr set by hand is followed
    opt = nn.optim.SGD([Value(np.ones(1))], lr=0.1)
    exp, step = nn.optim.ExponentialLR(opt, 0.9), nn.optim.StepLR(opt, 2, gamma=0.5)
    seen = []
    for _ in range(3):
        exp.step()
        step.step()
        seen.append(opt.param_groups[0]["lr"])
    assert seen == [0.1 * 0.9, 0.1 * 0.9 * 0.9 * 0.5, 0.1 * 0.9 * 0.9 * 0.5 * 0.9]
    opt = nn.optim.SGD([Value(np.ones(1))], lr=0.1)
    sched = nn.optim.StepLR(opt, 2, gamma=0.5)
    opt.param_groups[0]["lr"] = 1.0
    sched.step()
    assert opt.param_groups[0]["lr"] == 1.0
    sched.step()
    assert opt.param_groups[0]["lr"] == 0.5
    with pytest.raises(ValueError, match=r"StepLR: step_size must be an int >= 1, got 2\.5"):
        nn.optim.StepLR(opt, 2.5)


def test_stacked_schedules_match_torch_when_installed():
    torch = pytest.importorskip("torch")
    p, tp = Value(np.ones(1)), torch.ones(1, requires_grad=True)
    ours, theirs = nn.optim.SGD([p], lr=0.1), torch.optim.SGD([tp], lr=0.1)
    mine = [nn.optim.ExponentialLR(ours, 0.9), nn.optim.StepLR(ours, 3, gamma=0.5)]
    torch_ = [
        torch.optim.lr_scheduler.ExponentialLR(theirs, 0.9),
        torch.optim.lr_scheduler.StepLR(theirs, 3, gamma=0.5),
    ]
    for epoch in range(8):
        if epoch == 4:  # by hand, between epochs
            ours.param_groups[0]["lr"] = theirs.param_groups[0]["lr"] = 0.2
        for a, b in zip(mine, torch_):
            a.step()
            b.step()
        assert ours.param_groups[0]["lr"] == theirs.param_groups[0]["lr"]


@pytest.mark.parametrize("key", ["maximize", "amsgrad", "foreach"])
def test_a_torch_option_we_do_not_have_is_refused_in_a_group(key):
    with pytest.raises(ValueError, match=f"sets '{key}', which PyTorch's Adam takes"):
        nn.optim.Adam([{"params": [Value(np.ones(2))], key: True}], lr=0.1)
    nn.optim.Adam([{"params": [Value(np.ones(2))], "name": "encoder"}], lr=0.1)  # yours: kept


def _adam_state():
    p = Value(np.array([1.0, -2.0]))
    opt = nn.optim.Adam([p], lr=0.1)
    p.grad = np.array([0.5, 0.25])
    opt.step()
    return p, opt, opt.state_dict()


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["state"][0].pop("exp_avg_sq"), r"parameter 0 lacks \['exp_avg_sq'\]"),
        (lambda s: s["state"][0].pop("step"), r"parameter 0 lacks \['step'\]"),
        (lambda s: s["state"][0].update(step=-5), "step of parameter 0 must be one whole number"),
        (lambda s: s["state"][0].update(step=2.7), "step of parameter 0 must be one whole number"),
        (lambda s: s["state"][0].update(step=np.nan), "step of parameter 0 must be one whole"),
        (lambda s: s["state"][0].update(step=[1, 2]), "step of parameter 0 must be one whole"),
        (lambda s: s["state"].update(x=s["state"].pop(0)), "state key 'x' is not a position"),
        (lambda s: s["state"].update({0: np.ones(2)}), "the state of parameter 0 must be a dict"),
        (lambda s: s["state"][0].update(foo=np.ones(2)), r"has \['foo'\], not part of Adam"),
        (lambda s: s["param_groups"][0].update(momentum=0.9), "group 0 has 'momentum'"),
    ],
)
def test_a_broken_optimizer_state_is_refused_before_anything_changes(edit, message):
    _, opt, state = _adam_state()
    edit(state)
    before = opt.state_dict()
    with pytest.raises(ValueError, match="Adam.load_state_dict: .*" + message):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    for k in before["state"][0]:
        np.testing.assert_array_equal(after["state"][0][k], before["state"][0][k])


def test_one_optimizers_state_is_refused_by_another():
    _, _, state = _adam_state()
    sgd = nn.optim.SGD([Value(np.array([1.0, -2.0]))], lr=0.1)
    with pytest.raises(ValueError, match=r"SGD\.load_state_dict: group 0 has 'betas'"):
        sgd.load_state_dict(state)
