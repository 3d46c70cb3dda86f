"""Optimizers (SGD, Adam, AdamW) with PyTorch's update rules, and learning-rate schedules.

Each optimizer holds ``param_groups``: dicts with ``"params"`` and the hyper-parameters
(a schedule changes ``group["lr"]``). ``step()`` updates each parameter that has a
gradient, in place, with numpy (nothing is recorded in the graph).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import numpy as np

from autograd_lite import Value

__all__ = [
    "SGD",
    "Adam",
    "AdamW",
    "ExponentialLR",
    "LambdaLR",
    "LRScheduler",
    "Optimizer",
    "StepLR",
]


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, per-parameter state, state dicts."""

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        groups = list(params) if not isinstance(params, Value) else [params]
        if groups and isinstance(groups[0], Mapping):
            groups = [dict(g) for g in groups]
        else:
            groups = [{"params": groups}]
        seen: set[int] = set()
        for g in groups:
            g["params"] = list(g["params"])
            for i, p in enumerate(g["params"]):
                if not isinstance(p, Value):
                    raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Value")
                if id(p) in seen:
                    raise ValueError(f"{name}: a parameter appears more than once")
                seen.add(id(p))
            for key, value in defaults.items():
                g.setdefault(key, value)
            self._check(g)
        if not seen:
            raise ValueError(f"{name}: got an empty parameter list")
        self.defaults = defaults
        self.param_groups: list[dict[str, Any]] = groups
        self.state: dict[int, dict[str, Any]] = {}  # by position among all parameters

    def _check(self, group: dict[str, Any]) -> None:
        if not group["lr"] >= 0.0:
            raise ValueError(
                f"{type(self).__name__}: invalid learning rate {group['lr']} (must be >= 0)"
            )
        if not group.get("weight_decay", 0.0) >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid weight_decay {group['weight_decay']}")

    def _params(self) -> Iterable[tuple[int, Value, dict[str, Any]]]:
        k = 0
        for g in self.param_groups:
            for p in g["params"]:
                yield k, p, g
                k += 1

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to None."""
        for g in self.param_groups:
            for p in g["params"]:
                p.grad = None

    def step(self) -> None:
        """Update every parameter that has a gradient."""
        for k, p, group in self._params():
            grad = p.grad
            if grad is None:
                continue
            if isinstance(grad, Value):
                grad = grad.data
            if type(p.data) is float:  # a Python-float parameter: the rule on 0-d arrays
                data = np.array(p.data)
                self._update(
                    data, np.asarray(grad, dtype=np.float64), self.state.setdefault(k, {}), group
                )
                p.data = float(data)
            else:
                self._update(p.data, grad, self.state.setdefault(k, {}), group)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- state dicts
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{hyper-parameters, "params": [indices]}]}``.

        Arrays are copies. :func:`nn.save` can write it (nested keys are flattened).
        """
        groups, k = [], 0
        for g in self.param_groups:
            entry = {key: v for key, v in g.items() if key != "params"}
            entry["params"] = list(range(k, k + len(g["params"])))
            k += len(g["params"])
            groups.append(entry)
        state = {
            i: {key: (np.array(v) if isinstance(v, np.ndarray) else v) for key, v in s.items()}
            for i, s in self.state.items()
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyper-parameters and state (from :meth:`state_dict` or ``nn.load``)."""
        from nn.serialization import unflatten

        sd = unflatten(state_dict)
        groups = sd.get("param_groups", {})
        if isinstance(groups, Mapping):  # came back from nn.load: {"0": {...}, "1": ...}
            groups = [groups[k] for k in sorted(groups, key=int)]
        if len(groups) != len(self.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: {len(groups)} parameter group(s) in the "
                f"state, {len(self.param_groups)} in the optimizer"
            )
        sizes = [len(g["params"]) for g in self.param_groups]
        for i, (g, size) in enumerate(zip(groups, sizes)):
            n = len(np.atleast_1d(g.get("params", [])))
            if n != size:
                raise ValueError(
                    f"{type(self).__name__}.load_state_dict: group {i} has {n} parameters in "
                    f"the state, {size} in the optimizer"
                )
        total = sum(sizes)
        state: dict[int, dict[str, Any]] = {}
        for key, s in sd.get("state", {}).items():
            k = int(key)
            if not 0 <= k < total:
                raise ValueError(f"{type(self).__name__}.load_state_dict: no parameter {k}")
            state[k] = {name: v.item() if np.ndim(v) == 0 else np.array(v) for name, v in s.items()}
        for g, saved in zip(self.param_groups, groups):
            for key, v in saved.items():
                if key != "params":  # nn.load gives arrays: back to numbers and tuples
                    g[key] = tuple(np.asarray(v).tolist()) if np.ndim(v) else np.asarray(v).item()
        self.state = state


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's rule, step by step:

    g = grad + weight_decay * p;  with momentum: b = g on the first step, else
    b = momentum * b + (1 - dampening) * g, and g = g + momentum * b (nesterov) or b;
    then p = p - lr * g.
    """

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                momentum=momentum,
                dampening=dampening,
                weight_decay=weight_decay,
                nesterov=nesterov,
            ),
        )

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        if not group["momentum"] >= 0.0:
            raise ValueError(f"SGD: invalid momentum {group['momentum']} (must be >= 0)")
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening = 0")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = g + wd * p
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype)
            else:
                buf *= momentum
                buf += (1.0 - group["dampening"]) * g
            g = g + momentum * buf if group["nesterov"] else buf
        p -= lr * g


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's rule; ``weight_decay`` adds wd * p to the gradient.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p = p - lr * (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    _decoupled = False

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay)
        )

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        b1, b2 = group["betas"]
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(
                f"{type(self).__name__}: betas must be in [0, 1), got {group['betas']}"
            )
        if not group["eps"] >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid eps {group['eps']}")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        lr, eps, wd = group["lr"], group["eps"], group["weight_decay"]
        b1, b2 = group["betas"]
        if wd:
            if self._decoupled:
                p *= 1.0 - lr * wd
            else:
                g = g + wd * p
        if "step" not in state:
            state["step"] = 0
            state["exp_avg"] = np.zeros_like(p)
            state["exp_avg_sq"] = np.zeros_like(p)
        state["step"] += 1
        t = state["step"]
        m, v = state["exp_avg"], state["exp_avg_sq"]
        m *= b1
        m += (1.0 - b1) * g
        v *= b2
        v += (1.0 - b2) * (g * g)
        denom = np.sqrt(v) / math.sqrt(1.0 - b2**t) + eps
        p -= (lr / (1.0 - b1**t)) * (m / denom)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): p *= 1 - lr * wd each step."""

    _decoupled = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


# ------------------------------------------------------------------------- schedules


class LRScheduler:
    """Sets ``group["lr"] = base_lr * factor(epoch)`` for every group; ``step()`` advances.

    The factor for epoch 0 applies at construction, as in PyTorch; call ``step()`` once
    per epoch, after the optimizer's steps.
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def factor(self, epoch: int) -> float:
        raise NotImplementedError

    def _apply(self) -> None:
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            g["lr"] = base * self.factor(self.last_epoch)

    def step(self) -> None:
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        return [g["lr"] for g in self.optimizer.param_groups]


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be >= 1, got {step_size}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma ** (epoch // self.step_size)


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma**epoch


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); e.g. ``lambda e: 1 / (e + 1)`` for lr = c / (epoch + 1)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError("LambdaLR: lr_lambda must be a function of the epoch")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return float(self.lr_lambda(epoch))
