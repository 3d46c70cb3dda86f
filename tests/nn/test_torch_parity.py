"""nn against PyTorch at the edges (issues 21, 22, 25): each test compares with torch."""

from __future__ import annotations

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn

torch = pytest.importorskip("torch")


def _t(a, requires_grad=False):
    return torch.tensor(np.asarray(a, dtype=np.float64), requires_grad=requires_grad)


# ------------------------------------------------- 21.3: underscore attributes register


def test_underscore_parameters_and_modules_register_as_in_pytorch(tmp_path):
    class Ours(nn.Module):
        def __init__(self):
            self._w = nn.Parameter(np.array([1.0, -2.0]))
            self._lin = nn.Linear(2, 1, rng=0)
            self.__hidden = nn.Parameter(0.5)  # mangled to _Ours__hidden, as in torch

        def forward(self, x):
            return self._lin(x * self._w) * self.__hidden

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self._w = torch.nn.Parameter(torch.ones(2))
            self._lin = torch.nn.Linear(2, 1)
            self.__hidden = torch.nn.Parameter(torch.tensor(0.5))

    ours, theirs = Ours(), Theirs()
    names = sorted(n for n, _ in ours.named_parameters())
    torch_names = sorted(n.replace("_Theirs", "_Ours") for n, _ in theirs.named_parameters())
    assert names == torch_names == ["_Ours__hidden", "_lin.bias", "_lin.weight", "_w"]
    assert [n for n, _ in ours.named_children()] == ["_lin"]
    assert sorted(ours.state_dict()) == names
    # the optimizer trains it
    before = ours._w.data.copy()
    opt = nn.optim.SGD(ours.parameters(), lr=0.1)
    ours(np.ones((3, 2))).sum().backward()
    opt.step()
    assert not np.array_equal(ours._w.data, before)
    # save and load carry it
    nn.save(ours.state_dict(), tmp_path / "m.npz")
    other = Ours()
    other.load_state_dict(nn.load(tmp_path / "m.npz"))
    np.testing.assert_array_equal(other._w.data, ours._w.data)
    # gradcheck on the module checks it
    result = ag.gradcheck(ours, [np.ones((3, 2))])
    assert result.passed and "\n  _w " in str(result)


def test_names_pytorch_refuses_are_refused():
    m = nn.Module()
    with pytest.raises(ValueError, match=r"'a\.b' cannot name a parameter"):
        setattr(m, "a.b", nn.Parameter(1.0))
    with pytest.raises(KeyError):
        torch.nn.Module().register_parameter("a.b", torch.nn.Parameter(torch.ones(1)))
    m._scratch = Value(1.0)  # a private plain Value that requires grad: allowed, as in torch
    assert m.parameters() == []


# ------------------------------------------------- 25.1: optimizers on scalar parameters

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.2)),
    ("Adam", dict(lr=0.05)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, betas=(0.8, 0.9))),
    ("AdamW", dict(lr=0.05, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.9, centered=True, weight_decay=0.1)),
]


@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZERS)
def test_every_optimizer_takes_float_and_0d_parameters_as_pytorch(name, kwargs):
    rng = np.random.default_rng(0)
    starts = [rng.normal(size=3), 1.5, np.array(-0.7)]  # a vector, a float, a 0-d array
    ours = [nn.Parameter(s) for s in starts]
    assert type(ours[1].data) is float and ours[2].data.shape == ()
    theirs = [torch.nn.Parameter(_t(s)) for s in starts]
    opt = getattr(nn.optim, name)(ours, **kwargs)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(5):
        grads = [rng.normal(size=3), float(rng.normal()), np.array(rng.normal())]
        for p, t, g in zip(ours, theirs, grads):
            p.grad = g
            t.grad = _t(g)
        opt.step()
        topt.step()
    for p, t in zip(ours, theirs):
        np.testing.assert_allclose(p.data, t.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert type(ours[1].data) is float and ours[2].data.shape == ()


@pytest.mark.parametrize(("name", "kwargs"), OPTIMIZERS)
def test_a_step_that_fails_changes_nothing(name, kwargs):
    ours = [nn.Parameter(np.ones(3)), nn.Parameter(2.0), nn.Parameter(np.ones(2))]
    opt = getattr(nn.optim, name)(ours, **kwargs)
    ours[0].grad, ours[1].grad, ours[2].grad = np.ones(3), 1.0, np.ones(3)  # the last is wrong
    with pytest.raises(ValueError, match=r"parameter 2 has shape \(2,\).*nothing was updated"):
        opt.step()
    np.testing.assert_array_equal(ours[0].data, np.ones(3))
    assert ours[1].data == 2.0 and opt.state == {}


# ------------------------------------------------- 25.3: NaN-free losses at the edges

TF = None if torch is None else torch.nn.functional


def _ours_and_theirs(fn_ours, fn_theirs, x, *rest):
    """(loss, grad) of ours and of torch's at x (reduced losses summed for backward)."""
    v = Value(np.array(x, dtype=np.float64))
    loss = fn_ours(v, *rest)
    loss.sum().backward() if loss.shape else loss.backward()
    tx = _t(x, requires_grad=True)
    tl = fn_theirs(tx, *rest)
    tl.sum().backward()
    return (loss.data, v.grad), (tl.detach().numpy(), tx.grad.numpy())


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_with_every_label_ignored_matches_pytorch(reduction):
    x = np.random.default_rng(0).normal(size=(3, 4))
    labels = np.array([-100, -100, -100])
    (ours, g), (theirs, tg) = _ours_and_theirs(
        lambda v, y: nn.nll_loss(v, y, reduction=reduction),
        lambda t, y: TF.nll_loss(t, torch.tensor(y), reduction=reduction),
        x,
        labels,
    )
    np.testing.assert_array_equal(ours, theirs)  # nan for the mean of nothing, as torch
    np.testing.assert_array_equal(g, tg)  # a gradient of 0, not nan
    assert not np.isnan(g).any()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_at_infinite_logits_has_no_nan(reduction):
    x = np.array([np.inf, -np.inf, np.inf, -np.inf, 3.0, -np.inf])
    t = np.array([0.0, 0.0, 1.0, 1.0, 0.5, 0.5])
    (ours, g), (theirs, tg) = _ours_and_theirs(
        lambda v, y: nn.binary_cross_entropy_with_logits(v, y, reduction),
        lambda v, y: TF.binary_cross_entropy_with_logits(v, _t(y), reduction=reduction),
        x,
        t,
    )
    np.testing.assert_allclose(g, tg, rtol=1e-12)  # 1, 0, 0, -1: as torch
    limit = np.array([np.inf, 0.0, 0.0, np.inf, 3.0 * 0.5 + np.log1p(np.exp(-3.0)), np.inf])
    expected = {"none": limit, "sum": limit.sum(), "mean": limit.mean()}[reduction]
    np.testing.assert_allclose(ours, expected, rtol=1e-12)  # the limit, never nan
    if reduction == "none":  # torch agrees wherever it is not nan itself (0 * inf there)
        finite = ~np.isnan(theirs)
        np.testing.assert_allclose(ours[finite], theirs[finite], rtol=1e-12)


# ------------------------------------------------- 25.4: no axes named reduces every axis


@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [(), [], "tuple(range(1, ndim))"])
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda v, **k: v.sum(**k), lambda t, **k: t.sum(**k)),
        (lambda v, **k: v.mean(**k), lambda t, **k: t.mean(**k)),
        (lambda v, **k: v.max(**k), lambda t, **k: torch.amax(t, **k)),
        (lambda v, **k: ag.min(v, **k), lambda t, **k: torch.amin(t, **k)),
    ],
)
@pytest.mark.parametrize("shape", [(5,), (2, 3)])
def test_reductions_over_no_named_axes_reduce_everything(ours, theirs, dim, keepdim, shape):
    x = np.random.default_rng(1).normal(size=shape)
    if dim == "tuple(range(1, ndim))":
        if len(shape) != 1:
            pytest.skip("the issue's example is about 1-D input")
        dim = tuple(range(1, len(shape)))
    v = Value(x)
    out = ours(v, dim=dim, keepdim=keepdim)
    t = _t(x, requires_grad=True)
    tout = theirs(t, dim=dim, keepdim=keepdim)
    assert out.shape == tuple(tout.shape)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=1e-13)
    w = np.random.default_rng(2).normal(size=out.shape)
    (out * w).sum().backward()
    (tout * _t(w)).sum().backward()
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-13)


# ------------------------------------------------- 22.13: BCE near p = 0 and 1, as PyTorch

EDGE_P = [0.0, 1e-30, 1e-13, 1e-6, 0.3, 1 - 1e-13, 1.0]


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_binary_cross_entropy_near_0_and_1_matches_pytorch_to_second_order(reduction):
    p, t = np.array(EDGE_P * 3), np.repeat([0.0, 0.3, 1.0], len(EDGE_P))
    pv, tv = Value(p), Value(t)
    loss = nn.binary_cross_entropy(pv, tv, reduction)
    gp, gt = ag.grad(loss, [pv, tv], create_graph=True)
    pt, tt = _t(p, requires_grad=True), _t(t, requires_grad=True)
    tloss = TF.binary_cross_entropy(pt, tt, reduction=reduction)
    tgp, tgt = torch.autograd.grad(tloss, [pt, tt], create_graph=True)
    np.testing.assert_allclose(loss.data, tloss.item(), rtol=1e-14)
    np.testing.assert_allclose(gp.data, tgp.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gt.data, tgt.detach().numpy(), rtol=1e-12)
    # second order, away from the clamp (there torch's double backward is its own formula
    # with eps added, not the derivative of its first-order rule; ours is that derivative)
    u = np.random.default_rng(3).normal(size=p.shape)
    hp, ht = ag.grad((gp * u).sum(), [pv, tv])
    thp, tht = torch.autograd.grad((tgp * _t(u)).sum(), [pt, tt])
    inside = np.isin(p, [1e-6, 0.3])
    for ours, theirs in ((hp, thp), (ht, tht)):
        np.testing.assert_allclose(np.asarray(ours)[inside], theirs.numpy()[inside], rtol=1e-5)


# ------------------------------------------------- 22.12: probability targets get a gradient


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(4,), (3, 4)])
def test_cross_entropy_probability_targets_get_gradient_first_and_second_order(reduction, shape):
    rng = np.random.default_rng(4)
    x, q = rng.normal(size=shape), rng.dirichlet(np.ones(shape[-1]), size=shape[:-1])
    q = q.reshape(shape)
    xv, qv = Value(x), Value(q)
    loss = nn.cross_entropy(xv, qv, reduction)
    w = rng.normal(size=loss.shape)
    gx, gq = ag.grad((loss * w).sum(), [xv, qv], create_graph=True)
    xt, qt = _t(x, requires_grad=True), _t(q, requires_grad=True)
    tloss = TF.cross_entropy(xt, qt, reduction=reduction)
    tgx, tgq = torch.autograd.grad((tloss * _t(w)).sum(), [xt, qt], create_graph=True)
    np.testing.assert_allclose(loss.data, tloss.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gx.data, tgx.detach().numpy(), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(gq.data, tgq.detach().numpy(), rtol=1e-12)  # -log_softmax(x)
    u = rng.normal(size=shape)
    hx, hq = ag.grad((gq * u).sum() + (gx * u).sum(), [xv, qv])
    thx, thq = torch.autograd.grad((tgq * _t(u)).sum() + (tgx * _t(u)).sum(), [xt, qt])
    np.testing.assert_allclose(hx, thx.numpy(), rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(hq, thq.numpy(), rtol=1e-10, atol=1e-14)


def test_cross_entropy_class_index_targets_still_get_no_gradient():
    y = Value(np.array([2.0, 0.0]))
    nn.cross_entropy(Value(np.zeros((2, 3))), y).backward()
    assert y.grad is None


# ------------------------------------------------- 21.8: max-pool gradients at nan and -inf


def _pool_grads(x, kernel, stride, padding, nd=2):
    ours_fn = ag.functional.max_pool2d if nd == 2 else ag.functional.max_pool1d
    theirs_fn = TF.max_pool2d if nd == 2 else TF.max_pool1d
    v = Value(x)
    out = ours_fn(v, kernel, stride, padding)
    w = np.random.default_rng(5).normal(size=out.shape)
    (out * w).sum().backward()
    t = _t(x, requires_grad=True)
    tout = theirs_fn(t, kernel, stride, padding)
    (tout * _t(w)).sum().backward()
    np.testing.assert_array_equal(out.data, tout.detach().numpy())
    np.testing.assert_allclose(v.grad, t.grad.numpy(), rtol=1e-12, atol=0)  # the same places


@pytest.mark.parametrize("seed", range(6))
def test_max_pool2d_gradient_at_nan_and_inf_goes_where_pytorchs_does(seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(2, 2, 6, 7)).astype(float)  # ties everywhere
    x[rng.random(x.shape) < 0.2] = np.nan  # windows with two nans or more
    x[rng.random(x.shape) < 0.2] = -np.inf
    x[0, 0, :3, :3] = -np.inf  # a window of -inf against the padding
    for kernel, stride, padding in [(2, 2, 0), (3, 1, 1), (3, 2, 1), ((2, 3), (1, 2), (1, 1))]:
        _pool_grads(x, kernel, stride, padding)


def test_max_pool2d_two_nans_and_a_window_of_minus_inf():
    x = np.array([[[[np.nan, 1.0], [np.nan, 0.0]]]])
    _pool_grads(x, 2, 2, 0)  # torch: the second nan
    _pool_grads(np.full((1, 1, 3, 3), -np.inf), 2, 2, 1)  # torch: the input, not the padding


# ------------------------------------------------- 25.5: bad arguments, refused at construction

BAD_ARGUMENTS = [
    (lambda: nn.Conv2d(3, 4, 3.0), "kernel_size", None),
    (lambda: nn.Conv2d(3, 4, 3, stride=1.5), "stride", None),
    (lambda: nn.Conv2d(3, 4, 3, padding=1.0), "padding", None),
    (lambda: nn.Conv2d(3, 4, 3, stride=2, padding="same"), "same", None),
    (lambda: nn.Conv2d(3, 4, 3, padding="full"), "padding", None),
    (lambda: ag.functional.max_pool2d(np.ones((1, 1, 4, 4)), 2.0), "kernel_size", None),
    (lambda: nn.MaxPool2d(0), "kernel_size", None),
    (lambda: nn.MaxPool2d(2, padding=2), "padding", None),
    (lambda: nn.AvgPool2d(2, stride=0), "stride", None),
    (lambda: nn.BatchNorm1d(3, eps=0.0), "eps", None),
    (lambda: nn.BatchNorm2d(3, eps=-1e-5), "eps", None),
    (lambda: nn.LayerNorm(3, eps=float("nan")), "eps", None),
    (lambda: Value(np.ones(6)).view(-2, 3), "-1", None),
    (lambda: nn.nll_loss(np.zeros((2, 3)), [0, 1], ignore_index=1.5), "ignore_index", None),
    (lambda: nn.NLLLoss(ignore_index=1.5), "ignore_index", None),
    (lambda: nn.Embedding(4, 2, padding_idx=1.5), "padding_idx", None),
    (lambda: nn.optim.Adam([nn.Parameter(1.0)], betas=(0.9, 0.99, 0.9)), "betas", None),
]


@pytest.mark.parametrize(("make", "names"), [(m, n) for m, n, _ in BAD_ARGUMENTS])
def test_bad_arguments_are_clear_errors_naming_the_argument(make, names):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert names in str(info.value)
    assert "not iterable" not in str(info.value) and "unpack" not in str(info.value)


def test_pytorch_refuses_them_too():
    with pytest.raises((ValueError, TypeError, RuntimeError)):
        torch.nn.Conv2d(3, 4, 3, stride=2, padding="same")
    with pytest.raises(RuntimeError):
        torch.ones(6).view(-2, 3)


# ------------------------------------------------- 25.2: to_torch keeps modes and dtypes


def _random_model(rng, dtypes):
    def dt():
        return dtypes[rng.integers(len(dtypes))]

    def block():
        kind = rng.integers(5)
        if kind == 0:
            return nn.Linear(4, 4, dtype=dt(), rng=int(rng.integers(1000)))
        if kind == 1:
            bn = nn.BatchNorm1d(4, dtype=dt())
            bn.running_mean[...] = rng.normal(size=4)
            bn.running_var[...] = rng.uniform(0.5, 2.0, size=4)
            return bn
        if kind == 2:
            return nn.LayerNorm(4, dtype=dt())
        if kind == 3:
            return nn.MLP(4, [4, 4], dtype=dt(), rng=int(rng.integers(1000)))
        return nn.Tanh()

    inner = nn.ModuleList([block() for _ in range(2)])
    model = nn.Sequential(block(), nn.Sequential(*inner), nn.Dropout(0.5), block())
    for m in model.modules():  # a random mode for each (dropout only in eval: deterministic)
        m.training = bool(rng.integers(2)) and not isinstance(m, nn.Dropout)
    return model


def _leaves(model):
    return [(n, m) for n, m in model.named_modules() if not list(m.children())]


def _check_bridge(model, tmodel):
    from autograd_lite.nn.utils import _plan

    _, keys = _plan(model, None)
    tstate, ours = tmodel.state_dict(), model.state_dict()
    for o, t, transpose in keys:
        assert tstate[t].numpy().dtype == ours[o].dtype, (o, t)
        np.testing.assert_array_equal(tstate[t].numpy(), ours[o].T if transpose else ours[o])
    assert tmodel.training == model.training
    for name, m in model.named_modules():
        if not isinstance(m, (nn.MLP, nn.Layer)) and "layers" not in name:
            assert tmodel.get_submodule(name).training == m.training, name


@pytest.mark.parametrize("seed", range(12))
def test_to_torch_keeps_every_mode_and_dtype_both_ways(seed):
    from autograd_lite.nn.utils import load_torch_state_dict, to_torch

    rng = np.random.default_rng(seed)
    mixed = _random_model(rng, [np.float32, np.float64])
    _check_bridge(mixed, to_torch(mixed))
    # one dtype: the forwards agree too (BatchNorm in eval inside a training root, ...)
    dtype = [np.float32, np.float64][seed % 2]
    model = _random_model(rng, [dtype])
    tmodel = to_torch(model)
    _check_bridge(model, tmodel)
    x = rng.normal(size=(5, 4)).astype(dtype)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        model(x).data, tmodel(torch.from_numpy(x)).detach().numpy(), rtol=tol, atol=tol
    )
    # and back: torch's (changed) weights into ours, each kept in our dtype
    with torch.no_grad():
        for p in tmodel.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    load_torch_state_dict(model, tmodel.state_dict())
    _check_bridge(model, tmodel)
    np.testing.assert_allclose(
        model(x).data, tmodel(torch.from_numpy(x)).detach().numpy(), rtol=tol, atol=tol
    )


# ------------------------------------------------- 25.6: the additions, against torch


def _compare(ours_fn, theirs_fn, arrays, differentiable, rtol=1e-10):
    """Values, gradients (random cotangent) and second order (a random direction) of
    ours_fn(*Values) and theirs_fn(*tensors) agree; ``differentiable`` flags the inputs."""
    rng = np.random.default_rng(7)
    vs = [Value(a) if d else a for a, d in zip(arrays, differentiable)]
    ts = [_t(a, requires_grad=d) if d else _t(a) for a, d in zip(arrays, differentiable)]
    out, tout = ours_fn(*vs), theirs_fn(*ts)
    np.testing.assert_allclose(out.data, tout.detach().numpy(), rtol=rtol, atol=1e-12)
    w = rng.normal(size=out.shape)
    wrt = [v for v, d in zip(vs, differentiable) if d]
    twrt = [t for t, d in zip(ts, differentiable) if d]
    grads = ag.grad((out * w).sum(), wrt, create_graph=True)
    tgrads = torch.autograd.grad((tout * _t(w)).sum(), twrt, create_graph=True)
    for g, tg in zip(grads, tgrads):
        np.testing.assert_allclose(g.data, tg.detach().numpy(), rtol=rtol, atol=1e-12)
    us = [rng.normal(size=v.shape) for v in wrt]
    second = sum((g * u).sum() for g, u in zip(grads, us))
    tsecond = sum((tg * _t(u)).sum() for tg, u in zip(tgrads, us))
    if not second.requires_grad:  # linear in every input: torch's second order must be 0
        if tsecond.requires_grad:
            for th in torch.autograd.grad(tsecond, twrt, allow_unused=True):
                assert th is None or not th.any()
        return
    hs = ag.grad(second, wrt, allow_unused=True)
    ths = torch.autograd.grad(tsecond, twrt, allow_unused=True)
    for h, th in zip(hs, ths):
        h = 0.0 if h is None else np.asarray(h.data if isinstance(h, Value) else h)
        th = 0.0 if th is None else th.numpy()
        np.testing.assert_allclose(np.broadcast_to(h, np.shape(th)), th, rtol=rtol, atol=1e-12)


RNG = np.random.default_rng(8)
LOGITS, LABELS = RNG.normal(size=(6, 4)), np.array([0, 3, -100, 1, 3, 2])
CLASS_W = RNG.uniform(0.5, 2.0, size=4)
PROBS = RNG.dirichlet(np.ones(4), size=6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize(
    "options",
    [
        dict(weight=CLASS_W),
        dict(ignore_index=-100),
        dict(ignore_index=3),
        dict(label_smoothing=0.2),
        dict(weight=CLASS_W, ignore_index=-100, label_smoothing=0.1),
    ],
)
def test_cross_entropy_options_match_pytorch(options, reduction):
    topts = {k: (_t(v) if k == "weight" else v) for k, v in options.items()}
    y = torch.tensor(LABELS)
    if options.get("ignore_index", -100) != -100:
        y = torch.tensor(np.where(LABELS == -100, 0, LABELS))
    _compare(
        lambda x: nn.cross_entropy(x, y.numpy(), reduction, **options),
        lambda x: TF.cross_entropy(x, y, reduction=reduction, **topts),
        [LOGITS],
        [True],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("options", [dict(weight=CLASS_W), dict(label_smoothing=0.3)])
def test_cross_entropy_options_with_probability_targets_match_pytorch(options, reduction):
    topts = {k: (_t(v) if k == "weight" else v) for k, v in options.items()}
    _compare(
        lambda x, q: nn.cross_entropy(x, q, reduction, **options),
        lambda x, q: TF.cross_entropy(x, q, reduction=reduction, **topts),
        [LOGITS, PROBS],
        [True, True],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_bce_with_logits_pos_weight_matches_pytorch(reduction):
    x, t = RNG.normal(size=(5, 3)) * 3, RNG.uniform(size=(5, 3))
    pw = RNG.uniform(0.5, 3.0, size=3)
    _compare(
        lambda v, w: nn.binary_cross_entropy_with_logits(v, w, reduction, pos_weight=pw),
        lambda v, w: TF.binary_cross_entropy_with_logits(
            v, w, reduction=reduction, pos_weight=_t(pw)
        ),
        [x, t],
        [True, True],
    )
    out = nn.BCEWithLogitsLoss(reduction, pos_weight=pw)(x, t)
    np.testing.assert_allclose(
        out.data, nn.binary_cross_entropy_with_logits(x, t, reduction, pos_weight=pw).data
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("delta", [0.5, 1.0, 2.5])
def test_huber_loss_matches_pytorch(reduction, delta):
    p, t = RNG.normal(size=(4, 5)) * 2, RNG.normal(size=(4, 5))
    _compare(
        lambda a, b: nn.huber_loss(a, b, reduction, delta),
        lambda a, b: TF.huber_loss(a, b, reduction=reduction, delta=delta),
        [p, t],
        [True, True],
    )
    module = nn.HuberLoss(reduction, delta)(p, t).data
    np.testing.assert_allclose(
        module, TF.huber_loss(_t(p), _t(t), reduction=reduction, delta=delta).numpy(), rtol=1e-12
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none", "batchmean"])
@pytest.mark.parametrize("log_target", [False, True])
def test_kl_div_matches_pytorch(reduction, log_target):
    logq = np.log(RNG.dirichlet(np.ones(4), size=5))
    p = RNG.dirichlet(np.ones(4), size=5)
    target = np.log(p) if log_target else p
    _compare(
        lambda a, b: nn.kl_div(a, b, reduction, log_target),
        lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
        [logq, target],
        [True, True],
    )
    zero = target.copy()  # a zero target adds 0 (its own gradient is nan in torch: not compared)
    zero[0, 1] = -50.0 if log_target else 0.0
    _compare(
        lambda a, b: nn.kl_div(a, b, reduction, log_target),
        lambda a, b: TF.kl_div(a, b, reduction=reduction, log_target=log_target),
        [logq, zero],
        [True, False],
    )
    module = nn.KLDivLoss(reduction, log_target)(logq, target).data
    np.testing.assert_allclose(module, nn.kl_div(logq, target, reduction, log_target).data)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding"), [(2, None, 0), (3, 1, 1), (3, 2, 1), (4, 3, 2)]
)
def test_pool1d_matches_pytorch(kernel, stride, padding):
    x = RNG.normal(size=(2, 3, 9))
    _compare(
        lambda v: ag.functional.max_pool1d(v, kernel, stride, padding),
        lambda t: TF.max_pool1d(t, kernel, stride, padding),
        [x],
        [True],
    )
    for inc in (True, False):
        _compare(
            lambda v, inc=inc: nn.AvgPool1d(kernel, stride, padding, count_include_pad=inc)(v),
            lambda t, inc=inc: TF.avg_pool1d(t, kernel, stride, padding, count_include_pad=inc),
            [x],
            [True],
        )
    np.testing.assert_array_equal(
        nn.MaxPool1d(kernel, stride, padding)(x[0]).data,
        TF.max_pool1d(_t(x[0]), kernel, stride, padding).numpy(),
    )  # unbatched (C, L) too
    xn = RNG.integers(-1, 2, size=(2, 3, 9)).astype(float)
    xn[RNG.random(xn.shape) < 0.3] = np.nan
    xn[0, 0, :4] = -np.inf
    _pool_grads(xn, kernel, stride, padding, nd=1)  # nan and -inf as torch too


@pytest.mark.parametrize(
    ("stride", "padding", "output_padding", "dilation", "bias"),
    [(1, 0, 0, 1, True), (2, 1, 1, 1, True), (2, 0, 1, 2, False), (3, 1, 2, 1, True)],
)
def test_conv_transpose2d_layer_matches_pytorch(stride, padding, output_padding, dilation, bias):
    layer = nn.ConvTranspose2d(
        3, 2, (3, 2), stride, padding, output_padding, bias=bias, dilation=dilation, rng=0
    )
    tlayer = torch.nn.ConvTranspose2d(
        3, 2, (3, 2), stride, padding, output_padding, bias=bias, dilation=dilation
    ).double()
    assert tuple(tlayer.weight.shape) == layer.weight.shape
    w = layer.weight.data
    b = layer.bias.data if bias else None
    x = RNG.normal(size=(2, 3, 4, 5))
    _compare(
        lambda v, wv, *bv: ag.functional.conv_transpose2d(
            v, wv, bv[0] if bv else None, stride, padding, output_padding, dilation=dilation
        ),
        lambda t, wt, *bt: TF.conv_transpose2d(
            t, wt, bt[0] if bt else None, stride, padding, output_padding, 1, dilation
        ),
        [x, w] + ([b] if bias else []),
        [True, True] + ([True] if bias else []),
    )
    with torch.no_grad():
        tlayer.weight.copy_(torch.from_numpy(w))
        if bias:
            tlayer.bias.copy_(torch.from_numpy(b))
    np.testing.assert_allclose(layer(x).data, tlayer(_t(x)).detach().numpy(), rtol=1e-12)
