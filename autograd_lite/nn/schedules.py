"""Learning-rate schedules (StepLR, ExponentialLR, LambdaLR) with PyTorch's rules: each
sets ``group["lr"]`` of an optimizer's groups, epoch by epoch. Re-exported by
:mod:`autograd_lite.nn.optim`, where PyTorch keeps them too.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np

from autograd_lite.core.modes import read_live_only, replayed

if TYPE_CHECKING:
    from autograd_lite.nn.optim import Optimizer

__all__ = ["ExponentialLR", "LRScheduler", "LambdaLR", "StepLR"]


class LRScheduler:
    """Sets ``group["lr"] = base_lr * factor(epoch)`` for every group; ``step()`` advances.

    The factor for epoch 0 applies at construction, as in PyTorch; call ``step()`` once
    per epoch, after the optimizer's steps. A schedule with a ``chained`` rule (StepLR,
    ExponentialLR) multiplies the group's current lr at each ``step()`` instead, as
    PyTorch's do: two of them on one optimizer compose, and an lr set by hand is followed
    (the closed form sets the lr at construction and in ``load_state_dict``).
    """

    _read_live = ("_epoch", "optimizer")  # as Optimizer's (see there)

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(getattr(optimizer, "param_groups", None), list):
            raise TypeError(
                f"{type(self).__name__}: expected an Optimizer, got {type(optimizer).__name__}"
            )
        self.optimizer = optimizer
        self.base_lrs = [g["lr"] for g in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    @property
    def last_epoch(self) -> int:
        """The epoch (``step()`` calls so far). Inside a compiled function only the replayed
        ``step()`` reads it: your code reading it there is refused."""
        read_live_only(self, "the schedule's last_epoch")
        return self._epoch

    @last_epoch.setter
    def last_epoch(self, epoch: int) -> None:
        self._epoch = epoch

    def factor(self, epoch: int) -> float:
        """The multiplier of the base learning rate at ``epoch`` (0 at construction)."""
        raise NotImplementedError

    def chained(self, lr: float, epoch: int) -> float:
        """The lr at ``epoch`` (>= 1) from the lr before it; the closed form by default."""
        raise NotImplementedError

    def _apply(self, chain: bool = False) -> None:
        chain = chain and type(self).chained is not LRScheduler.chained
        for g, base in zip(self.optimizer.param_groups, self.base_lrs):
            epoch = self.last_epoch
            g["lr"] = self.chained(g["lr"], epoch) if chain else base * self.factor(epoch)

    @replayed("state")
    def step(self) -> None:
        """Advance one epoch and set each group's lr for it."""
        self.last_epoch += 1
        self._apply(chain=True)

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as set by the last step."""
        return [g["lr"] for g in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """``{"last_epoch": int, "base_lrs": [...]}`` (numbers only; saveable with nn.save)."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume the schedule where :meth:`state_dict` left it, and set the lr to match."""
        base = [float(b) for b in np.atleast_1d(np.asarray(state["base_lrs"], dtype=float))]
        if len(base) != len(self.optimizer.param_groups):
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: {len(base)} learning rate(s) in the "
                f"state, {len(self.optimizer.param_groups)} parameter group(s) in the optimizer"
            )
        self.base_lrs = base
        self.last_epoch = int(np.asarray(state["last_epoch"]).item())
        self._apply()


class StepLR(LRScheduler):
    """lr = base_lr * gamma ** (epoch // step_size): lr *= gamma every step_size epochs."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        if (
            not isinstance(step_size, (int, np.integer))
            or isinstance(step_size, bool)
            or step_size < 1
        ):
            raise ValueError(f"StepLR: step_size must be an int >= 1, got {step_size!r}")
        self.step_size, self.gamma = int(step_size), float(gamma)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma ** (epoch // self.step_size)

    def chained(self, lr: float, epoch: int) -> float:
        return lr * self.gamma if epoch % self.step_size == 0 else lr


class ExponentialLR(LRScheduler):
    """lr = base_lr * gamma ** epoch: lr *= gamma every epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = float(gamma)
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return self.gamma**epoch

    def chained(self, lr: float, epoch: int) -> float:
        return lr * self.gamma


class LambdaLR(LRScheduler):
    """lr = base_lr * lr_lambda(epoch); e.g. ``lambda e: 1 / (e + 1)`` for lr = c / (epoch + 1)."""

    def __init__(self, optimizer: Optimizer, lr_lambda: Callable[[int], float]) -> None:
        if not callable(lr_lambda):
            raise TypeError("LambdaLR: lr_lambda must be a function of the epoch")
        self.lr_lambda = lr_lambda
        super().__init__(optimizer)

    def factor(self, epoch: int) -> float:
        return float(self.lr_lambda(epoch))
