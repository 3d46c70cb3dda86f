"""Mini-batches: the second seed's shuffled batches, and a small DataLoader."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from autograd_lite.nn.init import as_rng

__all__ = ["DataLoader", "batches"]


def _check(X: Any, Y: Any, batch_size: int, who: str) -> tuple[np.ndarray, np.ndarray | None]:
    if (
        isinstance(batch_size, bool)
        or not isinstance(batch_size, (int, np.integer))
        or batch_size < 1
    ):
        raise ValueError(f"{who}: batch_size must be a positive integer, got {batch_size!r}")
    X = np.asarray(X)
    if X.ndim == 0:
        raise ValueError(f"{who}: X must have a first (sample) dimension, got a scalar")
    if Y is not None:
        Y = np.asarray(Y)
        if Y.ndim == 0 or len(Y) != len(X):
            raise ValueError(f"{who}: X has {len(X)} samples but Y has shape {Y.shape}")
    return X, Y


def batches(
    X: Any, Y: Any, batch_size: int, shuffle: bool = True, rng: Any = None
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Yield ``(X[idx], Y[idx])`` for consecutive batches of a (shuffled) order.

    Every sample appears exactly once per pass; the last batch is shorter when the batch
    size does not divide the number of samples. ``rng`` (a seed or Generator) makes the
    shuffle reproducible.
    """
    X, Y = _check(X, Y, batch_size, "batches")
    order = as_rng(rng).permutation(len(X)) if shuffle else np.arange(len(X))
    for start in range(0, len(X), batch_size):
        idx = order[start : start + batch_size]
        yield X[idx], (None if Y is None else Y[idx])


class DataLoader:
    """An iterable of mini-batches, reshuffled on every pass: ``for xb, yb in loader``.

    ``Y`` may be None (then each batch is just ``xb``); ``drop_last`` drops a short last
    batch. ``len(loader)`` is the number of batches per pass.
    """

    def __init__(
        self,
        X: Any,
        Y: Any = None,
        batch_size: int = 32,
        shuffle: bool = True,
        rng: Any = None,
        drop_last: bool = False,
    ) -> None:
        self.X, self.Y = _check(X, Y, batch_size, "DataLoader")
        self.batch_size, self.shuffle, self.drop_last = int(batch_size), shuffle, drop_last
        self.rng = as_rng(rng)

    def __len__(self) -> int:
        n, b = len(self.X), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def __iter__(self) -> Iterator[Any]:
        for xb, yb in batches(self.X, self.Y, self.batch_size, self.shuffle, self.rng):
            if self.drop_last and len(xb) < self.batch_size:
                return
            yield xb if self.Y is None else (xb, yb)
