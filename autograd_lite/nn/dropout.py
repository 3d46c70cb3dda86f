"""`Dropout`: random zeroing in training, the identity in evaluation.

The mask is drawn inside the ``dropout`` op's forward, from the module's numpy Generator
(``rng``, a seed or a Generator), which the op receives as a static parameter: a seed makes
a run reproducible, and a graph replayed by a compiler draws a new mask each time, as
training needs. The kept elements are scaled by 1 / (1 - p), so the expected output is
the input (PyTorch's inverted dropout).
"""

from __future__ import annotations

from typing import Any

from autograd_lite import functional as F
from autograd_lite.nn import init as _init
from autograd_lite.nn.module import Module

__all__ = ["Dropout"]


class Dropout(Module):
    """y = x * mask / (1 - p), mask ~ Bernoulli(1 - p), in training; y = x in evaluation.

    ``Dropout(p=0.5, *, rng=None)``: ``rng`` is a seed or a numpy Generator (None: fresh
    entropy). Active after ``model.train()`` (the default), the identity after
    ``model.eval()``.
    """

    def __init__(self, p: float = 0.5, *, rng: Any = None) -> None:
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p}")
        self.p = float(p)
        self.rng = _init.as_rng(rng)

    def forward(self, x: Any) -> Any:
        return F.dropout(x, self.p, self.training, self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
