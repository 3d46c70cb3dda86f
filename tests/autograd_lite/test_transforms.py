"""vjp, jvp, hvp, jacobian, hessian and checkpoint: against torch.autograd.functional, and
what forward mode and checkpointing promise about memory."""

from __future__ import annotations

import gc
import tracemalloc

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import nn

RNG = np.random.default_rng(0)
X = RNG.standard_normal((3, 4))
W = RNG.standard_normal((4, 2))
S = float(RNG.standard_normal())


def f_one(x):  # (3, 4) -> (3, 2)
    return ag.tanh(x @ ag.Value(W, requires_grad=False)) * 2.0


def f_two(x, s):  # (3, 4), () -> (4,)
    return ag.sum(ag.sin(x) * s, axis=0) + ag.exp(s * 0.5)


def f_scalar(x, s):  # (3, 4), () -> ()
    return ag.sum(ag.log_softmax(x * s, axis=-1) ** 2.0) + s * s * s


def t_one(torch, x):
    return torch.tanh(x @ torch.tensor(W)) * 2.0


def t_two(torch, x, s):
    return torch.sum(torch.sin(x) * s, dim=0) + torch.exp(s * 0.5)


def t_scalar(torch, x, s):
    return torch.sum(torch.log_softmax(x * s, dim=-1) ** 2.0) + s * s * s


def close(a, b):
    if isinstance(a, tuple):
        assert isinstance(b, tuple) and len(a) == len(b)
        for x, y in zip(a, b):
            close(x, y)
        return
    b = b.detach().numpy()
    a = a.data if isinstance(a, ag.Value) else a
    assert np.shape(a) == b.shape
    np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


def tt(torch, *xs):
    return tuple(torch.tensor(x, dtype=torch.float64) for x in xs)


def test_vjp_matches_torch(torch):
    TF = torch.autograd.functional
    v = RNG.standard_normal((3, 2))
    close(ag.vjp(f_one, X, v), TF.vjp(lambda x: t_one(torch, x), *tt(torch, X), *tt(torch, v)))
    v2 = RNG.standard_normal(4)
    out, (gx, gs) = ag.vjp(f_two, (X, S), v2)
    tout, (tx, ts) = TF.vjp(lambda x, s: t_two(torch, x, s), tt(torch, X, S), *tt(torch, v2))
    close((out, gx, gs), (tout, tx, ts))
    assert type(gs) is float  # a float input gets a float


@pytest.mark.parametrize("create_graph", [False, True])
def test_jvp_matches_torch(torch, create_graph):
    TF = torch.autograd.functional
    v = RNG.standard_normal((3, 4))
    close(
        ag.jvp(f_one, X, v, create_graph=create_graph),
        TF.jvp(lambda x: t_one(torch, x), *tt(torch, X), *tt(torch, v)),
    )
    vs = (RNG.standard_normal((3, 4)), 0.7)
    close(
        ag.jvp(f_two, (X, S), vs, create_graph=create_graph),
        TF.jvp(lambda x, s: t_two(torch, x, s), tt(torch, X, S), tt(torch, *vs)),
    )


def test_hvp_matches_torch(torch):
    TF = torch.autograd.functional
    vs = (RNG.standard_normal((3, 4)), 0.3)
    out, (hx, hs) = ag.hvp(f_scalar, (X, S), vs)
    close(
        (out, hx, hs),
        (
            TF.hvp(lambda x, s: t_scalar(torch, x, s), tt(torch, X, S), tt(torch, *vs))[0],
            *TF.hvp(lambda x, s: t_scalar(torch, x, s), tt(torch, X, S), tt(torch, *vs))[1],
        ),
    )


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_jacobian_matches_torch(torch, mode):
    TF = torch.autograd.functional
    J = ag.jacobian(f_one, X, mode=mode)
    assert J.shape == (3, 2, 3, 4)  # O + I
    close(J, TF.jacobian(lambda x: t_one(torch, x), *tt(torch, X)))
    close(
        ag.jacobian(f_two, (X, S), mode=mode),
        TF.jacobian(lambda x, s: t_two(torch, x, s), tt(torch, X, S)),
    )
    both = lambda x, s: (f_two(x, s), f_scalar(x, s))
    close(
        ag.jacobian(both, (X, S), mode=mode),
        TF.jacobian(lambda x, s: (t_two(torch, x, s), t_scalar(torch, x, s)), tt(torch, X, S)),
    )
    assert ag.jacobian(lambda x: x.sin() * x, 0.5, mode=mode) == pytest.approx(
        np.cos(0.5) * 0.5 + np.sin(0.5)
    )


def test_hessian_matches_torch(torch):
    TF = torch.autograd.functional
    H = ag.hessian(f_scalar, (X, S))
    close(H, TF.hessian(lambda x, s: t_scalar(torch, x, s), tt(torch, X, S)))
    assert H[0][0].shape == (3, 4, 3, 4) and H[0][1].shape == (3, 4)
    H1 = ag.hessian(lambda x: ag.sum(x.tanh() ** 3.0), X)
    close(H1, TF.hessian(lambda x: torch.sum(torch.tanh(x) ** 3.0), *tt(torch, X)))


def test_create_graph_composes(torch):
    """A gradient of an hvp, a Hessian of a Jacobian (forward and reverse), vs torch."""
    TF = torch.autograd.functional
    x = ag.Value(X)
    v = RNG.standard_normal((3, 4))
    _, hv = ag.hvp(lambda x: f_scalar(x, S), x, v, create_graph=True)
    (g,) = ag.grad(ag.sum(hv), [x])
    tx = torch.tensor(X, requires_grad=True)
    _, thv = TF.hvp(
        lambda a: t_scalar(torch, a, torch.tensor(S, dtype=torch.float64)),
        tx,
        torch.tensor(v),
        create_graph=True,
    )
    (tg,) = torch.autograd.grad(thv.sum(), [tx])
    close(g, tg)
    for mode in ("reverse", "forward"):
        H = ag.jacobian(
            lambda x, mode=mode: ag.jacobian(
                lambda y: f_two(y, S), x, create_graph=True, mode=mode
            ),
            X,
        )
        tH = TF.jacobian(
            lambda a: TF.jacobian(
                lambda b: t_two(torch, b, torch.tensor(S, dtype=torch.float64)),
                a,
                create_graph=True,
            ),
            *tt(torch, X),
        )
        close(H, tH)
    _, jv = ag.jvp(lambda x: f_two(x, S), x, v, create_graph=True)
    (g,) = ag.grad(ag.sum(jv * jv), [x])
    _, tjv = TF.jvp(
        lambda a: t_two(torch, a, torch.tensor(S, dtype=torch.float64)),
        tx,
        torch.tensor(v),
        create_graph=True,
    )
    (tg,) = torch.autograd.grad((tjv * tjv).sum(), [tx])
    close(g, tg)


def test_results_are_raw_unless_create_graph():
    out, jv = ag.jvp(f_one, X, X)
    assert type(out) is np.ndarray and type(jv) is np.ndarray and jv.flags.writeable
    assert type(ag.jacobian(f_one, X)) is np.ndarray
    out, jv = ag.jvp(f_one, X, X, create_graph=True)
    assert isinstance(jv, ag.Value)


def test_forward_mode_through_nn_and_functions():
    model = nn.MLP(3, [8, 8, 2], rng=0)
    x = RNG.standard_normal(3)
    Jf = ag.jacobian(model, x, mode="forward")
    Jr = ag.jacobian(model, x)
    np.testing.assert_allclose(Jf, Jr, rtol=1e-12, atol=1e-14)
    assert Jf.shape == (2, 3)

    class Cube(ag.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 3.0 * x * x

    class CubeJ(Cube):
        calls = 0

        @staticmethod
        def jvp(ctx, t):
            CubeJ.calls += 1
            (x,) = ctx.saved_tensors
            return t * 3.0 * x * x

    xs = np.array([0.5, -2.0])
    for cls in (Cube, CubeJ):
        _, jv = ag.jvp(lambda x, cls=cls: cls.apply(x).sin(), xs, np.ones(2))
        np.testing.assert_allclose(jv, np.cos(xs**3) * 3 * xs**2)
    assert CubeJ.calls == 1


def test_a_user_op_without_a_jvp_rule_gets_forward_mode():
    op = ag.defop(
        "tr_square_minus",
        lambda x, y: x * x - y,
        lambda g, out, x, y: g * 2.0 * x,
        lambda g, out, x, y: -g,
    )
    assert op.jvp is None
    xs, ys = np.array([1.0, 3.0]), np.array([0.5, 0.25])
    _, jv = ag.jvp(lambda x, y: op(x, y), (xs, ys), (np.ones(2), np.full(2, 2.0)))
    np.testing.assert_allclose(jv, 2 * xs - 2.0)
    assert ag.jvp(lambda x: op(x, 1.0), 3.0) == (8.0, 6.0)
    assert ag.transforms.check_forward_ad(lambda x: op(x, ys), [xs])


def test_bad_tangents_and_nesting_are_refused():
    with pytest.raises(ValueError, match=r"jvp: v\[0\] has shape \(2,\), expected \(3, 4\)"):
        ag.jvp(f_one, X, np.ones(2))
    with pytest.raises(ValueError, match="v must be given"):
        ag.jvp(f_one, X)
    with pytest.raises(ValueError, match="inside forward mode"):
        ag.jvp(lambda x: ag.jvp(lambda y: y * 2.0, x)[0], 1.0)
    with pytest.raises(ValueError, match="mode must be"):
        ag.jacobian(f_one, X, mode="sideways")


def _peak(fn):
    gc.collect()
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_long_forward_mode_chain_keeps_no_graph():
    x = RNG.standard_normal(20_000)  # 160 kB per array

    def chain(x):
        for _ in range(1000):  # 3,000 ops
            x = ag.sin(x) * 0.5 + 0.1
        return x

    peak = _peak(lambda: ag.jvp(chain, x, np.ones_like(x)))
    assert peak < 12 * x.nbytes, peak  # a few arrays, not 6,000 of them
    xs = ag.Value(x)
    reverse = _peak(lambda: chain(xs))  # the recorded graph, for scale
    assert reverse > 100 * x.nbytes


def _stack(rng=0):
    return [nn.Linear(64, 64, rng=rng + k) for k in range(12)]


def _block(layer, h):
    return ag.tanh(layer(h)) * 0.5 + ag.sin(h) * 0.5


def test_checkpoint_keeps_less_memory_with_identical_gradients():
    x = RNG.standard_normal((256, 64))
    results = {}
    for name in ("plain", "checkpoint"):
        layers = _stack()
        params = [p for layer in layers for p in layer.parameters()]

        def run(layers=layers, name=name):
            h = ag.Value(x, requires_grad=False)
            for layer in layers:
                h = ag.checkpoint(_block, layer, h) if name == "checkpoint" else _block(layer, h)
            results[name + "_loss"] = ag.sum(h * h)

        peak = _peak(run)
        loss = results.pop(name + "_loss")
        grads = ag.grad(loss, params)
        results[name] = (peak, grads)
    plain, ckpt = results["plain"], results["checkpoint"]
    assert ckpt[0] < plain[0] / 2, (ckpt[0], plain[0])
    for a, b in zip(plain[1], ckpt[1]):
        np.testing.assert_array_equal(a, b)


def test_checkpoint_second_order_and_inputs(torch):
    x = ag.Value(X)
    w = ag.Value(RNG.standard_normal((4, 4)))
    f = lambda x: ag.sum(ag.tanh(x @ w) ** 2.0)
    g_plain = ag.grad(f(x), [x, w], create_graph=True)
    g_ckpt = ag.grad(ag.checkpoint(f, x), [x, w], create_graph=True)
    for a, b in zip(g_plain, g_ckpt):
        np.testing.assert_allclose(a.data, b.data, rtol=1e-13)
    h_plain = ag.grad(ag.sum(g_plain[0] * g_plain[1].sum()), [x, w])
    h_ckpt = ag.grad(ag.sum(g_ckpt[0] * g_ckpt[1].sum()), [x, w])
    for a, b in zip(h_plain, h_ckpt):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_checkpoint_refusals():
    with pytest.raises(ValueError, match="dropout"):
        d = nn.Dropout(0.5)
        ag.checkpoint(d, ag.Value(np.ones(3)))
    with pytest.raises(TypeError, match="must return one Value"):
        ag.checkpoint(lambda y: (y, y), ag.Value(np.ones(3)))


def _mlp():
    return nn.Sequential(
        nn.Linear(4, 16, rng=1),
        nn.Tanh(),
        nn.Linear(16, 16, rng=2),
        nn.Tanh(),
        nn.Linear(16, 1, rng=3),
    )


def test_checkpoint_compiled_equals_eager_over_replays():
    """Inside compile, checkpoint is inlined: the same losses and parameter gradients as the
    eager checkpoint, on the trace and on replays with new data."""
    models = {"eager": _mlp(), "compiled": _mlp()}
    steps = {}
    for name, model in models.items():

        def step(x, y, model=model):
            h = ag.checkpoint(model, x)
            return ag.mean((h - y) ** 2.0)

        steps[name] = ag.compile(step) if name == "compiled" else step
    rng = np.random.default_rng(5)
    for _ in range(4):
        x, y = rng.standard_normal((8, 4)), rng.standard_normal((8, 1))
        losses = {}
        for name, model in models.items():
            model.zero_grad()
            loss = steps[name](x, y)
            loss.backward()
            losses[name] = loss.data
        np.testing.assert_allclose(losses["compiled"], losses["eager"], rtol=1e-13)
        for a, b in zip(models["compiled"].parameters(), models["eager"].parameters()):
            np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12, atol=1e-15)
    compiled = steps["compiled"]
    assert compiled.traces == 1 and len(compiled.plans) == 1
    assert compiled.plans[0].calls == 3  # replays, not only the trace
    ops = [ins.op.name for ins in compiled.plans[0].instrs]
    assert "checkpoint" not in ops and ops.count("linear") == 3  # fn's ops, inlined
    plain = ag.compile(lambda x, y: ag.mean((models["compiled"](x) - y) ** 2.0))
    plain(x, y)
    assert plain.plans[0].source == compiled.plans[0].source  # the plan without checkpoint


def test_checkpoint_compiled_create_graph_equals_eager():
    w = ag.Value(RNG.standard_normal((4, 4)))
    f = lambda x: ag.sum(ag.tanh(x @ w) ** 2.0)
    step = ag.compile(lambda x: ag.checkpoint(f, x))
    for k in range(3):
        xs = {name: ag.Value(X * (k + 1.0)) for name in ("eager", "compiled")}
        outs = {"eager": ag.checkpoint(f, xs["eager"]), "compiled": step(xs["compiled"])}
        for name in outs:
            gx, gw = ag.grad(outs[name], [xs[name], w], create_graph=True)
            outs[name] = ag.grad(ag.sum(gx * gw.sum()), [xs[name], w])
        for a, b in zip(outs["compiled"], outs["eager"]):
            np.testing.assert_allclose(a, b, rtol=1e-12)
    assert step.traces == 1 and step.plans[0].calls == 2


def test_checkpoint_compiled_refuses_dropout_as_eagerly():
    """Eagerly checkpoint refuses dropout (the recomputation would draw another mask);
    compiled it is refused too, so a function never works compiled only."""
    drop = nn.Dropout(0.5, rng=0)
    step = ag.compile(lambda x: ag.checkpoint(drop, x))
    with pytest.raises(ValueError, match="fn applies dropout"):
        step(ag.Value(np.ones(3)))
    drop.eval()  # no dropout drawn: allowed, compiled and eagerly
    out = step(ag.Value(np.ones(3), requires_grad=True))
    np.testing.assert_array_equal(out.data, ag.checkpoint(drop, ag.Value(np.ones(3))).data)
    with pytest.raises(TypeError, match="must return one Value"):
        ag.compile(lambda y: ag.checkpoint(lambda y: (y, y), y))(ag.Value(np.ones(3)))


def test_checkpoint_of_a_compiled_function_equals_checkpoint_of_the_function():
    """Eagerly, ``checkpoint(compiled_f, x)`` gives what ``checkpoint(f, x)`` gives (the
    output and every gradient, the parameters ``f`` reads included) over traces and
    replays: the ops recorded while ``f`` is traced are not taken for ``f``'s inputs."""
    models = {"plain": _mlp(), "compiled": _mlp()}
    fns = {
        "plain": lambda x: ag.mean(models["plain"](x) ** 2.0),
        "compiled": ag.compile(lambda x: ag.mean(models["compiled"](x) ** 2.0)),
    }
    for k in range(3):
        grads = {}
        for name, f in fns.items():
            x = ag.Value(X * (k + 1.0), requires_grad=True)
            out = ag.checkpoint(f, x)
            out.backward()
            grads[name] = [out.data, x.grad] + [p.grad for p in models[name].parameters()]
            models[name].zero_grad()
        for a, b in zip(grads["compiled"], grads["plain"]):
            np.testing.assert_allclose(a, b, rtol=1e-13)
    assert fns["compiled"].plans and all(p.calls >= 1 for p in fns["compiled"].plans)


def test_checkpoint_refuses_a_compiled_function_that_draws():
    """A compiled plan that draws random numbers (dropout) replayed under checkpoint is
    refused, as dropout is eagerly: the recomputation would draw another mask."""
    drop = nn.Dropout(0.5, rng=0)
    f = ag.compile(lambda x: drop(x * 2.0))
    x = ag.Value(np.ones(4), requires_grad=True)
    with pytest.raises(ValueError, match="fn applies dropout"):  # the trace's own op
        ag.checkpoint(f, x)
    with ag.no_grad():
        f(x)  # a plan for no_grad, as checkpoint's first run: replayed next
    with pytest.raises(ValueError, match="fn applies dropout"):
        ag.checkpoint(f, x)


def test_forward_mode_through_a_compiled_function():
    w = ag.Value(np.ones((3, 2)))
    f = ag.compile(lambda x: ag.tanh(x @ w))
    x = np.array([0.1, 0.2, 0.3])
    f(ag.Value(x))
    f(ag.Value(x))  # compiled by now
    _, jv = ag.jvp(f, x, np.ones(3))
    np.testing.assert_allclose(jv, 3.0 * (1.0 - np.tanh(0.6) ** 2) * np.ones(2))
    np.testing.assert_allclose(ag.jacobian(f, x, mode="forward"), ag.jacobian(f, x))


def test_derived_jvp_with_create_graph_is_differentiable():
    op = ag.defop("tr_cube_nojvp", lambda x: x**3, lambda g, out, x: g * 3.0 * x * x)
    x = ag.Value(np.array([0.5, 2.0]))
    _, jv = ag.jvp(lambda x: op(x), x, np.ones(2), create_graph=True)
    np.testing.assert_allclose(jv.data, 3.0 * x.data**2)
    (g,) = ag.grad(ag.sum(jv), [x])
    np.testing.assert_allclose(g, 6.0 * x.data)


def test_the_recorder_tests_one_counter_for_every_kind_of_block():
    from autograd_lite.core.modes import observing, open_blocks

    assert open_blocks.hooks == 0
    with ag.detect_anomaly(check_nan=False), observing(lambda *a: None):
        assert open_blocks.hooks == 2 and open_blocks.anomaly_blocks == 1
    assert open_blocks.hooks == 0
    seen = []
    with observing(lambda v, op, *rest: seen.append(op.name)):
        ag.Value(2.0) * 3.0
    assert seen == ["mul"]


def test_cli_grad_prints_the_hessian(capsys):
    from autograd_lite.cli import app as cli

    assert cli.main(["grad", "x**2 * y + sin(y)", "x=3", "y=2", "--hessian"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[3:] == [
        "d2/dx dx = 4",
        "d2/dx dy = 6",
        f"d2/dy dy = {-np.sin(2.0):.10g}",
    ]


def _flat_sum(res):
    if isinstance(res, tuple):
        total = None
        for r in res:
            s = _flat_sum(r)
            total = s if total is None else total + s
        return total
    return res.sum()


@pytest.mark.parametrize("which", ["vjp", "jvp", "hvp", "jacobian", "jacobian_fwd", "hessian"])
def test_every_transform_with_create_graph_is_differentiable_as_in_torch(torch, which):
    """d(sum of the transform's result)/d(inputs), with two inputs, against torch."""
    TF = torch.autograd.functional
    v4, vx = RNG.standard_normal(4), RNG.standard_normal((3, 4))
    ours = {
        "vjp": lambda xs: ag.vjp(f_two, xs, v4, create_graph=True)[1],
        "jvp": lambda xs: ag.jvp(f_two, xs, (vx, 0.5), create_graph=True)[1],
        "hvp": lambda xs: ag.hvp(f_scalar, xs, (vx, 0.5), create_graph=True)[1],
        "jacobian": lambda xs: ag.jacobian(f_two, xs, create_graph=True),
        "jacobian_fwd": lambda xs: ag.jacobian(f_two, xs, create_graph=True, mode="forward"),
        "hessian": lambda xs: ag.hessian(f_scalar, xs, create_graph=True),
    }[which]
    tv4, tvx, half = *tt(torch, v4, vx), torch.tensor(0.5, dtype=torch.float64)
    theirs = {
        "vjp": lambda xs: TF.vjp(lambda *a: t_two(torch, *a), xs, tv4, create_graph=True)[1],
        "jvp": lambda xs: TF.jvp(lambda *a: t_two(torch, *a), xs, (tvx, half), create_graph=True)[
            1
        ],
        "hvp": lambda xs: TF.hvp(
            lambda *a: t_scalar(torch, *a), xs, (tvx, half), create_graph=True
        )[1],
        "jacobian": lambda xs: TF.jacobian(lambda *a: t_two(torch, *a), xs, create_graph=True),
        "jacobian_fwd": lambda xs: TF.jacobian(lambda *a: t_two(torch, *a), xs, create_graph=True),
        "hessian": lambda xs: TF.hessian(lambda *a: t_scalar(torch, *a), xs, create_graph=True),
    }[which]
    xs = (ag.Value(X), ag.Value(S))
    grads = ag.grad(_flat_sum(ours(xs)), list(xs), allow_unused=True)
    txs = tuple(t.requires_grad_() for t in tt(torch, X, S))
    tgrads = torch.autograd.grad(_flat_sum(theirs(txs)), txs, allow_unused=True)
    for g, tg in zip(grads, tgrads):
        if tg is None:
            assert g is None or np.allclose(g, 0.0)
        else:
            np.testing.assert_allclose(g, tg.numpy(), rtol=1e-10, atol=1e-12)


def test_jacobian_takes_torchs_arguments_too():
    J = ag.jacobian(f_one, X)
    np.testing.assert_array_equal(
        ag.jacobian(f_one, X, False, False, True, "forward-mode"),
        ag.jacobian(f_one, X, mode="forward"),
    )
    np.testing.assert_allclose(ag.jacobian(f_one, X, strategy="forward-mode"), J, rtol=1e-12)


def test_forward_over_reverse_equals_the_hessian():
    x = np.array([0.5, -1.0, 2.0])
    v = np.array([1.0, 2.0, 3.0])

    def f(x):
        return ag.sum(ag.exp(x) * ag.sin(x))

    def gradient(x):  # reverse mode inside forward mode: its leaf carries x's tangent
        return ag.vjp(f, x, create_graph=True)[1]

    H = ag.hessian(f, x)
    np.testing.assert_allclose(ag.jvp(gradient, x, v)[1], H @ v, rtol=1e-12)
    np.testing.assert_allclose(ag.hvp(f, x, v)[1], H @ v, rtol=1e-12)
    np.testing.assert_allclose(ag.jacobian(gradient, x, mode="forward"), H, rtol=1e-12)
    np.testing.assert_allclose(  # and through jacobian, reverse inside forward
        ag.jvp(lambda x: ag.jacobian(f, x, create_graph=True), x, v)[1], H @ v, rtol=1e-12
    )


def test_where_takes_its_tangent_from_the_branch_it_chooses():
    x = np.array([-1.0, 4.0, 0.0])
    t = np.ones(3)

    def f(x):  # sqrt's tangent is nan at -1 and inf at 0: neither branch taken there
        return ag.where(x.data > 0, ag.sqrt(x), x * 3.0)

    np.testing.assert_array_equal(ag.jvp(f, x, t)[1], [3.0, 0.25, 3.0])
    np.testing.assert_array_equal(ag.jacobian(f, x, mode="forward"), np.diag([3.0, 0.25, 3.0]))


def test_each_input_gets_its_partial_derivative_with_create_graph():
    xv = ag.Value(np.array([1.0, 2.0]))

    def f(a, b):
        return a * b * b

    ones = np.ones(2)

    def data(v):
        return v.data if isinstance(v, ag.Value) else v

    for cg in (False, True):
        ga, gb = ag.vjp(f, (xv, xv), ones, create_graph=cg)[1]
        np.testing.assert_allclose(data(ga), [1.0, 4.0])  # b^2, not the total
        np.testing.assert_allclose(data(gb), [2.0, 8.0])  # 2ab
        t = ag.jvp(f, (xv, xv), (np.array([1.0, 0.0]), np.array([0.0, 1.0])), create_graph=cg)[1]
        np.testing.assert_allclose(data(t), [1.0, 8.0])
    H = ag.hessian(lambda a, b: ag.sum(f(a, b)), (xv, xv), create_graph=True)
    np.testing.assert_array_equal(H[0][0].data, np.zeros((2, 2)))  # d2/da2 of a b^2
    np.testing.assert_allclose(H[0][1].data, np.diag([2.0, 4.0]))  # d2/da db: 2b
    # a Value the function also reads from outside: the derivative is with respect to the
    # input alone, with or without create_graph (torch's view_as)
    J = [ag.jacobian(lambda a: a * xv, xv, create_graph=cg) for cg in (False, True)]
    np.testing.assert_array_equal(J[1].data, J[0])
    np.testing.assert_array_equal(J[0], np.diag(xv.data))
    (g,) = ag.grad(ag.sum(ag.vjp(lambda a: a * a, xv, ones, create_graph=True)[1]), [xv])
    np.testing.assert_array_equal(g, [2.0, 2.0])  # the results still lead back to xv


def test_hessian_and_hvp_of_a_function_returning_no_value_are_errors():
    def forgot_return(x):
        ag.sum(x**3.0)

    x = np.ones(3)
    with pytest.raises(TypeError, match="hessian: fn returned a NoneType"):
        ag.hessian(forgot_return, x)
    with pytest.raises(TypeError, match="hvp: fn returned a str"):
        ag.hvp(lambda x: "oops", x, x)
    with pytest.raises(ValueError, match=r"hessian: fn must return a single one-element"):
        ag.hessian(lambda x: x * 2.0, x)


def test_a_value_vector_of_the_wrong_shape_is_refused_with_create_graph():
    x = np.ones(3)
    with pytest.raises(ValueError, match=r"hvp: v\[0\] has shape \(2, 3\), expected \(3,\)"):
        ag.hvp(lambda x: ag.sum(x**3.0), x, ag.Value(np.ones((2, 3))), create_graph=True)
    with pytest.raises(ValueError, match=r"vjp: v\[0\] has shape \(2,\), expected \(3,\)"):
        ag.vjp(lambda x: x * 2.0, x, ag.Value(np.ones(2)), create_graph=True)


def test_jacobian_and_hessian_keep_a_zero_d_inputs_dtype():
    x = np.array(0.5, np.float32)
    assert ag.jacobian(lambda x: x * x, x).dtype == np.float32
    assert ag.hessian(lambda x: x * x * x, x).dtype == np.float32
    assert type(ag.jacobian(lambda x: x * x, 0.5)) is float


def test_forward_mode_jacobian_refuses_dropout():
    drop = nn.Dropout(0.5)
    x = np.ones(4)
    with pytest.raises(ValueError, match=r"jacobian: fn applies dropout.*mode='forward'"):
        ag.jacobian(drop, x, mode="forward")
    J = ag.jacobian(drop, x)  # reverse mode runs fn once: one mask
    assert set(np.unique(J)) <= {0.0, 2.0} and np.count_nonzero(J - np.diag(np.diag(J))) == 0
    drop.eval()
    np.testing.assert_array_equal(ag.jacobian(drop, x, mode="forward"), np.eye(4))


def test_a_transform_inside_a_compiled_function_is_refused_with_the_way_out():
    for transform in (
        lambda x: ag.jvp(ag.sin, x, np.ones(2))[1] * 1.0,
        lambda x: ag.hessian(lambda y: ag.sum(y**3.0), x),
        lambda x: ag.vjp(lambda y: ag.sum(y**3.0), x, create_graph=True)[1],
    ):
        with pytest.raises(ag.CompileError, match=r"a transform .* inside a compiled function"):
            ag.compile(transform)(np.ones(2))
    f = ag.compile(lambda x: ag.sin(x) * x)  # the way out the message gives
    np.testing.assert_allclose(
        ag.jacobian(f, np.ones(2)), ag.jacobian(lambda x: ag.sin(x) * x, np.ones(2))
    )
    with pytest.raises(TypeError, match="checkpoint: fn must be callable, got int"):
        ag.checkpoint(3, np.ones(2))


def test_a_zero_d_input_gets_a_zero_d_array_back_from_every_transform():
    x = np.array(0.5, np.float32)
    for got in (
        ag.vjp(lambda x: x * x, x)[1],
        ag.hvp(lambda x: x * x * x, x, np.array(1.0, np.float32))[1],
        ag.jvp(lambda x: x * x, x, np.array(1.0, np.float32))[1],
    ):
        assert type(got) is np.ndarray and got.shape == () and got.dtype == np.float32
    assert type(ag.vjp(lambda x: x * x, 0.5)[1]) is float
