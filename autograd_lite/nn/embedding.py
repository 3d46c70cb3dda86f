"""`Embedding`: a lookup table of learned vectors, indexed by integers."""

from __future__ import annotations

from typing import Any

import numpy as np

from autograd_lite import functional as F
from autograd_lite.core.value import Parameter, Value
from autograd_lite.nn import init as _init
from autograd_lite.nn.module import Module

__all__ = ["Embedding"]


class Embedding(Module):
    """y[..., :] = weight[index[...], :]: row ``index`` of a (num_embeddings, embedding_dim)
    table, for integer indices of any shape.

    The weight starts from N(0, 1) (PyTorch's default). Rows used several times in a batch
    accumulate their gradients. With ``padding_idx`` that row starts at zero and gets no
    gradient (it stays as it is through training), as in PyTorch.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        *,
        dtype: Any = np.float64,
        rng: Any = None,
    ) -> None:
        for name, n in (("num_embeddings", num_embeddings), ("embedding_dim", embedding_dim)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"Embedding: {name} must be a positive integer, got {n!r}")
        self.num_embeddings, self.embedding_dim = int(num_embeddings), int(embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
                raise TypeError(f"Embedding: padding_idx must be an int, got {padding_idx!r}")
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be in [-{self.num_embeddings}, "
                    f"{self.num_embeddings}), got {padding_idx}"
                )
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"Embedding: dtype must be a floating type, got {dtype}")
        weight = _init.as_rng(rng).standard_normal((self.num_embeddings, self.embedding_dim))
        if padding_idx is not None:
            weight[padding_idx] = 0.0
        self.weight = Parameter(weight.astype(dtype))

    def forward(self, indices: Any) -> Value:
        # integer arrays (a Value holds floats: checked to be integers by the op, every call)
        dtype = None if isinstance(indices, Value) else np.asarray(indices).dtype
        if dtype is not None and dtype.kind not in "iu":
            raise TypeError(f"Embedding: indices must be integers, got an array of dtype {dtype}")
        try:
            return F.embedding(indices, self.weight, self.padding_idx)
        except (IndexError, ValueError) as e:
            raise type(e)(f"Embedding: {str(e).removeprefix('embedding: ')}") from None

    def extra_repr(self) -> str:
        pad = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
