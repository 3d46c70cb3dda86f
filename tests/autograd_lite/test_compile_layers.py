"""Every ``nn`` layer compiled gives what it gives eagerly, across a change of its
parameters (in place and rebound), of its buffers (``load_state_dict``) and of
``train()``/``eval()`` — or is refused with a ``CompileError`` naming the line, where the
table says so. The layers are enumerated from ``nn.Module``'s subclasses, so a new layer
without an entry here fails ``test_every_layer_has_an_entry``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import nn
from autograd_lite.compile import CompileError
from autograd_lite.core.value import Value

IDX = np.array([[0, 3, 1], [2, 2, 4]])  # Embedding's indices (captured: a constant)


@dataclass
class Case:
    make: Callable[[], nn.Module]
    inputs: Callable[[np.random.Generator], tuple]
    call: Callable[..., Any] = lambda m, *a: m(*a)
    refused: set[str] = field(default_factory=set)  # modes ("train"/"eval") refused


def _x(*shape: int) -> Callable[[np.random.Generator], tuple]:
    return lambda rng: (rng.normal(size=shape),)


def _pred_target(rng: np.random.Generator) -> tuple:
    return rng.normal(size=(4, 3)), rng.normal(size=(4, 3))


def _probs_target(rng: np.random.Generator) -> tuple:
    return rng.uniform(0.05, 0.95, size=(4, 3)), rng.uniform(0, 1, size=(4, 3)).round()


def _logits_labels(rng: np.random.Generator) -> tuple:
    return rng.normal(size=(4, 3)), rng.integers(0, 3, size=4)


def _seq() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4, rng=1), nn.LayerNorm(4), nn.Tanh(), nn.Linear(4, 2, rng=2))


CASES: dict[str, Case] = {
    "Identity": Case(nn.Identity, _x(4, 3)),
    "ReLU": Case(nn.ReLU, _x(4, 3)),
    "Tanh": Case(nn.Tanh, _x(4, 3)),
    "Sigmoid": Case(nn.Sigmoid, _x(4, 3)),
    "LeakyReLU": Case(lambda: nn.LeakyReLU(0.1), _x(4, 3)),
    "Linear": Case(lambda: nn.Linear(3, 2, rng=0), _x(4, 3)),
    "Layer": Case(lambda: nn.Layer(3, 2, rng=0), _x(4, 3)),
    "Neuron": Case(lambda: nn.Neuron(3, rng=0), _x(4, 3)),
    "MLP": Case(lambda: nn.MLP(3, [4, 2], rng=0), _x(4, 3)),
    "Conv1d": Case(lambda: nn.Conv1d(2, 3, 3, padding=1, rng=0), _x(2, 2, 5)),
    "Conv2d": Case(lambda: nn.Conv2d(2, 3, 3, rng=0), _x(2, 2, 5, 5)),
    "MaxPool2d": Case(lambda: nn.MaxPool2d(2), _x(2, 2, 4, 4)),
    "AvgPool2d": Case(lambda: nn.AvgPool2d(2), _x(2, 2, 4, 4)),
    "Flatten": Case(nn.Flatten, _x(2, 2, 3)),
    "Dropout": Case(lambda: nn.Dropout(0.3, rng=0), _x(4, 3)),
    "Embedding": Case(lambda: nn.Embedding(5, 3, rng=0), _x(2, 3, 3), call=lambda m, x: m(IDX) * x),
    "LayerNorm": Case(lambda: nn.LayerNorm(3), _x(4, 3)),
    # training mode updates the running statistics with numpy (a side effect a plan
    # cannot replay): refused while tracing; eval mode reads the buffers through ops
    "BatchNorm1d": Case(lambda: nn.BatchNorm1d(3), _x(4, 3), refused={"train"}),
    "BatchNorm2d": Case(lambda: nn.BatchNorm2d(2), _x(3, 2, 2, 2), refused={"train"}),
    "Sequential": Case(
        lambda: nn.Sequential(nn.Linear(3, 3, rng=0), nn.BatchNorm1d(3), nn.ReLU()),
        _x(4, 3),
        refused={"train"},
    ),
    "ModuleList": Case(
        lambda: nn.ModuleList([_seq(), nn.Linear(3, 2, rng=3)]),
        _x(4, 3),
        call=lambda m, x: m[0](x) + m[1](x),
    ),
    "ModuleDict": Case(
        lambda: nn.ModuleDict({"a": nn.Linear(3, 2, rng=0), "b": nn.Sigmoid()}),
        _x(4, 3),
        call=lambda m, x: m["b"](m["a"](x)),
    ),
    "ParameterList": Case(
        lambda: nn.ParameterList([nn.Parameter(np.ones(3)), nn.Parameter(np.full(3, 2.0))]),
        _x(4, 3),
        call=lambda m, x: x * m[0] + m[1],
    ),
    "MSELoss": Case(nn.MSELoss, _pred_target),
    "L1Loss": Case(nn.L1Loss, _pred_target),
    # smooth_l1_loss chooses its branch with numpy on the data (nn/losses.py): refused
    "SmoothL1Loss": Case(nn.SmoothL1Loss, _pred_target, refused={"train", "eval"}),
    "BCELoss": Case(nn.BCELoss, _probs_target),
    "BCEWithLogitsLoss": Case(nn.BCEWithLogitsLoss, _pred_target),
    "CrossEntropyLoss": Case(nn.CrossEntropyLoss, _logits_labels),
    "NLLLoss": Case(
        nn.NLLLoss,
        lambda rng: (np.log(rng.dirichlet(np.ones(3), size=4)), rng.integers(0, 3, size=4)),
        refused={"train", "eval"},  # nll_loss reads the labels for ignore_index
    ),
}


def _layer_classes() -> list[type]:
    found, stack = [], [nn.Module]
    while stack:
        cls = stack.pop()
        stack.extend(cls.__subclasses__())
        if cls.__module__.split(".")[0] == "nn" and not cls.__name__.startswith("_"):
            found.append(cls)
    return [c for c in found if c is not nn.Module]


def test_every_layer_has_an_entry():
    missing = sorted(c.__name__ for c in _layer_classes() if c.__name__ not in CASES)
    assert not missing, f"add these nn layers to CASES: {missing}"


def _perturb_parameters(m: nn.Module, step: int) -> None:
    for i, p in enumerate(m.parameters()):
        if type(p.data) is float:
            p.data = p.data * 1.1 - 0.02
        elif i == 0:  # rebound: a new array
            p.data = np.asarray(p.data) * 0.9 + 0.05 * step
        else:  # in place
            p.data[...] = np.asarray(p.data) * 1.1 - 0.02


def _perturbed_state(m: nn.Module) -> dict:
    state = m.state_dict()
    for name, b in m.named_buffers():
        if b.dtype.kind == "f":
            state[name] = b * 1.7 + (0.3 if "mean" in name else 0.5)
        else:
            state[name] = b + 3
    return state


def _run(m: nn.Module, fn: Callable, inputs: tuple) -> tuple[Any, list]:
    for p in m.parameters():
        p.grad = None
    args = [Value(inputs[0], requires_grad=True), *inputs[1:]]
    out = fn(*args)
    out.backward()
    return out.data, [args[0].grad] + [p.grad for p in m.parameters()]


def _same(a: Any, b: Any) -> None:
    if a is None or b is None:
        assert a is None and b is None
        return
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-11, atol=1e-13)


@pytest.mark.parametrize("name", sorted(CASES))
def test_layer_compiled_matches_eager(name):
    case = CASES[name]
    eager_m = case.make()
    comp_m = copy.deepcopy(eager_m)

    def total(m: nn.Module, *a: Any) -> Any:
        out = case.call(m, *a)
        return out if out.ndim == 0 else (out * out).sum()

    eager = lambda *a: total(eager_m, *a)
    compiled = ag.compile(lambda *a: total(comp_m, *a))
    rng = np.random.default_rng(0)
    phases = ["start", "params", "buffers", "eval", "params", "buffers", "train", "eval"]
    seen_refusal: set[str] = set()
    for step, phase in enumerate(phases):
        for m in (eager_m, comp_m):
            if phase == "params":
                _perturb_parameters(m, step)
            elif phase == "eval":
                m.eval()
            elif phase == "train":
                m.train()
        if phase == "buffers":
            state = _perturbed_state(eager_m)
            eager_m.load_state_dict(state)
            comp_m.load_state_dict(state)
        mode = "train" if eager_m.training else "eval"
        for _ in range(2):  # the trace, then a replay on new data
            inputs = case.inputs(rng)
            want = _run(eager_m, eager, inputs)
            if mode in case.refused:
                with pytest.raises(CompileError, match=r"test_compile_layers\.py:\d+"):
                    _run(comp_m, compiled, inputs)
                seen_refusal.add(mode)
                comp_m.load_state_dict(eager_m.state_dict())  # as the eager call left it
                if isinstance(comp_m, nn.Dropout) or hasattr(comp_m, "rng"):
                    comp_m.rng = copy.deepcopy(eager_m.rng)
                continue
            got = _run(comp_m, compiled, inputs)
            _same(got[0], want[0])
            assert len(got[1]) == len(want[1])
            for g, w in zip(got[1], want[1]):
                _same(g, w)
    assert seen_refusal == case.refused
