"""Hypothesis strategies for testing the gradients of your own operations.

Needs the ``hypothesis`` package (``pip install autograd-lite[test]``)::

    from hypothesis import given
    from autograd_lite import gradcheck
    from autograd_lite.testing import arrays, shapes

    @given(shapes().flatmap(lambda s: arrays(s, low=0.1, high=3.0)))
    def test_my_op(x):
        assert gradcheck(MyOp.apply, [x])

Values are float64 and bounded, so finite differences are trustworthy; ``avoid`` keeps
every element at least ``min_distance`` away from kinks and poles (e.g. 0 for relu).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

try:
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "autograd_lite.testing needs hypothesis: pip install 'autograd-lite[test]'"
    ) from e

__all__ = ["arrays", "away_from", "broadcastable_shapes", "distinct_arrays", "shapes"]


def shapes(
    min_dims: int = 0, max_dims: int = 3, min_side: int = 1, max_side: int = 4
) -> st.SearchStrategy[tuple[int, ...]]:
    """Array shapes, small enough for a full Jacobian check."""
    return hnp.array_shapes(
        min_dims=min_dims, max_dims=max_dims, min_side=min_side, max_side=max_side
    )


def broadcastable_shapes(
    num_shapes: int = 2, min_dims: int = 0, max_dims: int = 3, max_side: int = 4
) -> st.SearchStrategy[tuple[tuple[int, ...], ...]]:
    """Tuples of shapes that broadcast together under numpy's rules."""
    return hnp.mutually_broadcastable_shapes(
        num_shapes=num_shapes, min_dims=min_dims, max_dims=max_dims, max_side=max_side
    ).map(lambda bs: bs.input_shapes)


def away_from(
    points: Sequence[float] = (), min_distance: float = 0.1, low: float = -3.0, high: float = 3.0
) -> st.SearchStrategy[float]:
    """Floats in [low, high] at least ``min_distance`` from every point (kinks, poles)."""
    base = st.floats(low, high, allow_nan=False, allow_infinity=False)
    if not points:
        return base
    return base.filter(lambda v: all(abs(v - p) >= min_distance for p in points))


def arrays(
    shape: tuple[int, ...],
    low: float = -3.0,
    high: float = 3.0,
    avoid: Sequence[float] = (),
    min_distance: float = 0.1,
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays of ``shape`` with elements from :func:`away_from`."""
    return hnp.arrays(np.float64, shape, elements=away_from(avoid, min_distance, low, high))


def distinct_arrays(
    shape: tuple[int, ...], low: float = -3.0, high: float = 3.0, spacing: float = 0.1
) -> st.SearchStrategy[np.ndarray]:
    """float64 arrays whose elements differ pairwise by at least ``spacing`` (no ties).

    For ops with a kink where two elements are equal (``max``, ``maximum``).
    """
    steps = int((high - low) / spacing)
    grid = st.integers(0, steps).map(lambda k: low + k * spacing)
    return hnp.arrays(np.float64, shape, elements=grid, unique=True)
