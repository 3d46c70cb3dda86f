"""Optimizers (SGD, Adam, AdamW, RMSprop) with PyTorch's update rules, and learning-rate schedules.

Each optimizer holds ``param_groups``: dicts with ``"params"`` and the hyper-parameters
(a schedule changes ``group["lr"]``). ``step()`` updates each parameter that has a
gradient, in place, with numpy on ``p.data`` (nothing is recorded in the graph; a
Python-float parameter stays a float). State (momentum buffers, Adam's moments and step
counts) is kept per parameter, in the parameter's dtype; ``state_dict()`` holds only
arrays and numbers, so :func:`nn.save` can write it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from autograd_lite.core.modes import replayed
from autograd_lite.core.value import Value
from autograd_lite.nn.module import reset_grad
from autograd_lite.nn.optim_state import OptimizerState, ParamGroup, checked_state
from autograd_lite.nn.schedules import ExponentialLR, LambdaLR, LRScheduler, StepLR

__all__ = [
    "SGD",
    "OptimizerState",
    "ParamGroup",
    "Adam",
    "AdamW",
    "ExponentialLR",
    "LambdaLR",
    "LRScheduler",
    "Optimizer",
    "RMSprop",
    "StepLR",
]


# PyTorch's optimizer options not implemented here: refused in a parameter group (as
# keyword arguments they are refused by the signatures), never silently ignored
_UNSUPPORTED = frozenset(
    (
        "maximize",
        "amsgrad",
        "foreach",
        "capturable",
        "differentiable",
        "fused",
        "decoupled_weight_decay",
    )
)


class Optimizer:
    """Base class: parameter groups, ``zero_grad``, per-parameter state, state dicts."""

    # read live by step() at every replay of a compiled whole step, so not guarded there
    _read_live = ("state", "param_groups", "_temps")
    # a parameter's state: the names it must hold once it has any, and those it may hold
    # (checked by load_state_dict: a state missing one would restart or fail later)
    _state_required: tuple[str, ...] = ()
    _state_names: tuple[str, ...] = ()

    def __init__(self, params: Iterable[Any], defaults: dict[str, Any]) -> None:
        name = type(self).__name__
        if callable(getattr(params, "named_parameters", None)):
            raise TypeError(f"{name}: got a Module; pass model.parameters()")
        if isinstance(params, (str, bytes)) or not (
            isinstance(params, Value) or hasattr(params, "__iter__")
        ):
            raise TypeError(
                f"{name}: params must be an iterable of Values (or of parameter-group dicts), "
                f"got {type(params).__name__}"
            )
        self.defaults = defaults
        groups: list[Any] = list(params) if not isinstance(params, Value) else [params]
        if groups and isinstance(groups[0], Mapping):
            groups = [ParamGroup(g) for g in groups]
        else:
            groups = [ParamGroup(params=groups)]
        seen: set[int] = set()
        for g in groups:
            if "params" not in g:
                raise ValueError(f"{name}: a parameter group needs a 'params' entry")
            g["params"] = [g["params"]] if isinstance(g["params"], Value) else list(g["params"])
            for i, p in enumerate(g["params"]):
                if not isinstance(p, Value):
                    raise TypeError(f"{name}: parameter {i} is a {type(p).__name__}, not a Value")
                if not p.is_leaf:
                    raise ValueError(
                        f"{name}: parameter {i} is the result of an operation ({p.op}), not a "
                        "leaf Value; an optimizer can only update leaves"
                    )
                if id(p) in seen:
                    raise ValueError(f"{name}: a parameter appears more than once")
                seen.add(id(p))
            for key, value in defaults.items():
                g.setdefault(key, value)
            self._check(g)
        if not seen:
            raise ValueError(f"{name}: got an empty parameter list")
        self.param_groups: list[ParamGroup] = groups
        self.state = OptimizerState()  # {position among all parameters: {name: value}}
        # the update's temporaries, one pair per parameter shape and dtype, reused at every
        # step (see _scratch): not state, never saved
        self._temps: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def _check(self, group: dict[str, Any]) -> None:
        """Raise a ValueError for a hyper-parameter out of range (subclasses add theirs)."""
        name = type(self).__name__
        for key in group:
            if key in _UNSUPPORTED and key not in self.defaults:
                raise ValueError(
                    f"{name}: a parameter group sets {key!r}, which PyTorch's {name} takes "
                    "but this one does not support (it would be ignored); remove it"
                )
        for key in self.defaults:
            if not _is_hyper(group[key]):
                raise TypeError(f"{name}: {key} must be a number, got {group[key]!r}")
        if not group["lr"] >= 0.0:
            raise ValueError(f"{name}: invalid learning rate {group['lr']} (must be >= 0)")
        if not group.get("weight_decay", 0.0) >= 0.0:
            raise ValueError(f"{name}: invalid weight_decay {group['weight_decay']} (must be >= 0)")

    def _params(self) -> Iterable[tuple[int, Value, dict[str, Any]]]:
        k = 0
        for g in self.param_groups:
            for p in g["params"]:
                yield k, p, g
                k += 1

    @replayed("grad")
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Set every parameter's ``.grad`` to None (PyTorch's default), or to zeros with
        ``set_to_none=False``."""
        for g in self.param_groups:
            for p in g["params"]:
                reset_grad(p, set_to_none)

    @replayed("data")
    def step(self) -> None:
        """Update every parameter that has a gradient (``.grad`` not None), in place.

        Every gradient is checked before any parameter changes: a step that fails (a
        gradient of the wrong shape or dtype) changes nothing.
        """
        # The optimizer's own reads go to the dicts directly (dict.__getitem__): inside a
        # compiled step this whole call is replayed, so nothing here needs noting, and a
        # plain lookup is ~0.3 us cheaper per read than ParamGroup's noted one.
        todo = []
        k = -1
        getitem = dict.__getitem__
        for group in self.param_groups:
            for p in getitem(group, "params"):
                k += 1
                grad = p.grad
                if grad is None:
                    continue
                if isinstance(grad, Value):  # from a create_graph backward
                    grad = grad.data
                data = p.data
                if not (
                    (
                        type(grad) is np.ndarray  # the common case first: no conversions
                        and type(data) is np.ndarray
                        and grad.dtype.kind == "f"
                        and grad.shape == data.shape
                    )
                    or (np.shape(grad) == p.shape and np.asarray(grad).dtype.kind in "fiu")
                ):
                    raise ValueError(
                        f"{type(self).__name__}.step: parameter {k} has shape {p.shape} but "
                        f"its gradient is {np.asarray(grad).dtype} of shape {np.shape(grad)}; "
                        "nothing was updated"
                    )
                todo.append((k, p, grad, group))
        states = self.state
        get, setitem = dict.get, dict.__setitem__
        for k, p, grad, group in todo:
            state = get(states, k)
            if state is None:
                state = {}
                setitem(states, k, state)
            if type(p.data) is float:  # a Python-float parameter: the rule on a 0-d array
                data = np.array(p.data)
                self._update(data, np.asarray(grad, dtype=np.float64), state, group)
                p.data = float(data)
            else:
                self._update(p.data, grad, state, group)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        raise NotImplementedError

    def _scratch(self, p: np.ndarray, g: np.ndarray, *numbers: Any) -> tuple | None:
        """Two reused arrays like ``p`` for the update's temporaries, or None when writing
        into them could round otherwise than the expressions they replace: only when ``g`` is
        an array of ``p``'s dtype and every number is a Python float or int (numpy's weak scalars:
        the result then has that dtype too, so ``out=`` computes exactly the same). Reusing
        them spares the allocations of every step (a large float64 temporary is a fresh
        mmap, and page faults, each time)."""
        if type(g) is not np.ndarray or g.dtype != p.dtype:
            return None
        for x in numbers:
            if type(x) is not float and type(x) is not int:
                return None
        key = (p.shape, p.dtype)
        temps = self._temps.get(key)
        if temps is None:
            temps = self._temps[key] = (np.empty_like(p), np.empty_like(p))
        return temps

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
        """Restore hyper-parameters and state (from :meth:`state_dict` or ``nn.load``).

        Everything is checked first (group and parameter counts, each state array's shape
        against its parameter, the hyper-parameters' ranges, that each parameter's state
        holds this optimizer's names and all it needs, that a step count is a whole
        number >= 0, no group key of another optimizer); on any problem a ValueError
        names it and the optimizer is left unchanged. State arrays are copied, in the
        parameter's dtype.
        """
        new_groups, state = checked_state(self, state_dict)
        for g, new in zip(self.param_groups, new_groups):
            g.update(new)
        self.state = OptimizerState(state)


def _is_hyper(value: Any) -> bool:
    """A number, a bool, or a tuple of numbers (Adam's betas)."""
    if isinstance(value, tuple):
        return all(_is_hyper(v) for v in value)
    return isinstance(value, (int, float, bool, np.integer, np.floating, np.bool_))


class SGD(Optimizer):
    """Stochastic gradient descent with PyTorch's rule, step by step:

    g = grad + weight_decay * p;  with momentum: b = g on the first step, else
    b = momentum * b + (1 - dampening) * g, and g = g + momentum * b (nesterov) or b;
    then p = p - lr * g.
    """

    _state_names = ("momentum_buffer",)

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
        get = dict.__getitem__  # (see step())
        lr, momentum, wd = get(group, "lr"), get(group, "momentum"), get(group, "weight_decay")
        if wd:
            g = g + wd * p
        if momentum:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = np.array(g, dtype=p.dtype)
            else:
                buf *= momentum
                buf += (1.0 - get(group, "dampening")) * g
            g = g + momentum * buf if get(group, "nesterov") else buf
        temps = self._scratch(p, g, lr)
        if temps is None:
            p -= lr * g
        else:
            p -= np.multiply(g, lr, out=temps[0])


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's rule; ``weight_decay`` adds wd * p to the gradient.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
    p = p - lr * (m / (1 - b1^t)) / (sqrt(v) / sqrt(1 - b2^t) + eps).
    """

    _decoupled = False
    _state_required = _state_names = ("step", "exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                betas=tuple(betas) if isinstance(betas, (tuple, list)) else betas,
                eps=eps,
                weight_decay=weight_decay,
            ),
        )

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        betas = group["betas"]
        if not isinstance(betas, tuple) or len(betas) != 2:
            raise ValueError(
                f"{type(self).__name__}: betas must be a pair (beta1, beta2), got {betas!r}"
            )
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(
                f"{type(self).__name__}: betas must be in [0, 1), got {group['betas']}"
            )
        if not group["eps"] >= 0.0:
            raise ValueError(f"{type(self).__name__}: invalid eps {group['eps']}")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        get = dict.__getitem__  # (see step())
        lr, eps, wd = get(group, "lr"), get(group, "eps"), get(group, "weight_decay")
        b1, b2 = get(group, "betas")
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
        temps = self._scratch(p, g, lr, b1, b2, eps)
        if temps is None:
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * (g * g)
            denom = np.sqrt(v, out=np.empty_like(v))
        else:  # the same operations, their temporaries in the reused arrays
            tmp, denom = temps
            m *= b1
            m += np.multiply(g, 1.0 - b1, out=tmp)
            v *= b2
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - b2
            v += tmp
            np.sqrt(v, out=denom)
        # sqrt(v) / sqrt(1 - b2^t) + eps, then the step, in one buffer (an array at 0-d too)
        denom /= math.sqrt(1.0 - b2**t)
        denom += eps
        np.divide(m, denom, out=denom)
        denom *= lr / (1.0 - b1**t)
        p -= denom


class RMSprop(Optimizer):
    """RMSprop with PyTorch's rule, step by step:

    g = grad + weight_decay * p;  v = alpha v + (1 - alpha) g^2;  with ``centered``,
    m = alpha m + (1 - alpha) g and avg = sqrt(v - m^2) + eps, else avg = sqrt(v) + eps;
    with momentum: b = momentum * b + g / avg and p = p - lr * b; else p = p - lr * g / avg.
    """

    _state_required = ("step", "square_avg")
    _state_names = ("step", "square_avg", "momentum_buffer", "grad_avg")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(
            params,
            dict(
                lr=lr,
                alpha=alpha,
                eps=eps,
                weight_decay=weight_decay,
                momentum=momentum,
                centered=centered,
            ),
        )

    def _check(self, group: dict[str, Any]) -> None:
        super()._check(group)
        if not 0.0 <= group["alpha"] <= 1.0:
            raise ValueError(f"RMSprop: alpha must be in [0, 1], got {group['alpha']}")
        if not group["eps"] >= 0.0:
            raise ValueError(f"RMSprop: invalid eps {group['eps']}")
        if not group["momentum"] >= 0.0:
            raise ValueError(f"RMSprop: invalid momentum {group['momentum']} (must be >= 0)")

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict, group: dict) -> None:
        get = dict.__getitem__  # (see step())
        lr, alpha, eps = get(group, "lr"), get(group, "alpha"), get(group, "eps")
        wd, momentum, centered = (
            get(group, "weight_decay"),
            get(group, "momentum"),
            get(group, "centered"),
        )
        if wd:
            g = g + wd * p
        if "step" not in state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(p)
            if momentum:
                state["momentum_buffer"] = np.zeros_like(p)
            if centered:
                state["grad_avg"] = np.zeros_like(p)
        state["step"] += 1
        v = state["square_avg"]
        temps = None if centered else self._scratch(p, g, lr, alpha, eps, momentum)
        if temps is not None:  # the same operations as below, temporaries reused
            tmp, avg = temps
            v *= alpha
            np.multiply(g, g, out=tmp)
            tmp *= 1.0 - alpha
            v += tmp
            np.sqrt(v, out=avg)
            avg += eps
            np.divide(g, avg, out=tmp)
            if momentum:
                buf = state.setdefault("momentum_buffer", np.zeros_like(p))
                buf *= momentum
                buf += tmp
                p -= np.multiply(buf, lr, out=tmp)
            else:
                tmp *= lr
                p -= tmp
            return
        v *= alpha
        v += (1.0 - alpha) * (g * g)
        if centered:
            m = state.setdefault("grad_avg", np.zeros_like(p))
            m *= alpha
            m += (1.0 - alpha) * g
            avg = np.sqrt(v - m * m)
        else:
            avg = np.sqrt(v)
        avg += eps
        if momentum:
            buf = state.setdefault("momentum_buffer", np.zeros_like(p))
            buf *= momentum
            buf += g / avg
            p -= lr * buf
        else:
            p -= lr * (g / avg)


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
