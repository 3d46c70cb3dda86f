"""Hypothesis strategies for testing the gradients of your own operations.

Needs the ``hypothesis`` package: ``pip install -e '.[test]'`` in a checkout
(``pip install 'autograd-lite[test]'`` once published), or ``pip install hypothesis``::

    from hypothesis import given
    from autograd_lite.gradcheck import gradcheck
    from autograd_lite.testing import arrays, shapes

    @given(shapes().flatmap(lambda s: arrays(s, low=0.1, high=3.0)))
    def test_my_op(x):
        assert gradcheck(MyOp.apply, [x])

Values are float64 and bounded, so finite differences are trustworthy; ``avoid`` keeps
every element at least ``min_distance`` away from kinks and poles (e.g. 0 for relu).

Or in one call, first and second derivatives over generated inputs of the given shapes
(and broadcast variants of them), reporting hypothesis's minimal failing example::

    from autograd_lite.testing import check_gradients

    def test_my_op():
        check_gradients(MyOp.apply, [(3, 4), (4,)])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.core.value import Value
from autograd_lite.gradcheck import GradcheckError, GradcheckResult, gradcheck, gradgradcheck

try:
    from hypothesis import HealthCheck, given, reject, settings
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
except ImportError as e:  # pragma: no cover - exercised only without the test extra
    raise ImportError(
        "autograd_lite.testing needs hypothesis: pip install -e '.[test]' in a checkout "
        "(pip install 'autograd-lite[test]' once published), or pip install hypothesis"
    ) from e

__all__ = [
    "arrays",
    "away_from",
    "broadcastable_shapes",
    "check_gradients",
    "distinct_arrays",
    "shapes",
]

Shape = tuple[int, ...]


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


def check_gradients(
    fn: Callable[..., Value],
    shapes: Sequence[Shape] | Shape,
    *,
    elements: st.SearchStrategy[float] | Sequence[st.SearchStrategy[float]] | None = None,
    max_examples: int = 50,
    second_order: bool = True,
    broadcast: bool = True,
    check_forward_ad: bool = False,
) -> None:
    """Assert |a - n| <= atol + rtol * |n| for fn's first (and second) derivatives on drawn inputs.

    ``fn`` takes one Value per entry of ``shapes``. Hypothesis draws float64 inputs of those
    shapes, elements from ``elements`` (one strategy, or one per input; default floats in
    [-3, 3]); with ``broadcast`` and several mutually broadcastable shapes it also tries
    variants that broadcast to the same shape (leading axes dropped, axes of size 1), and
    skips a variant that ``fn`` rejects with ValueError. Inputs of shape () are sometimes
    Python floats. ``check_forward_ad`` also checks forward mode (each op's JVP; see
    :func:`~autograd_lite.gradcheck.gradcheck`). On failure raises
    :class:`~autograd_lite.gradcheck.GradcheckError` with hypothesis's minimal failing
    example and the result's table. Call it from a plain test function, not from inside
    another ``@given``.
    """
    shape_list = _shape_list(shapes)
    per_input = _element_strategies(elements, len(shape_list))
    variants = broadcast and _broadcastable(shape_list)
    failure: dict[str, Any] = {}

    @st.composite
    def cases(draw: Callable[..., Any]) -> tuple[list[Any], bool]:
        chosen = shape_list
        if variants and draw(st.booleans()):
            chosen = draw(_variant(shape_list))
        xs = []
        for s, el in zip(chosen, per_input):
            x = draw(hnp.arrays(np.float64, s, elements=el))
            xs.append(float(x) if s == () and draw(st.booleans()) else x)
        return xs, chosen != shape_list

    @settings(
        max_examples=max_examples,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    @given(cases())
    def check(case: tuple[list[Any], bool]) -> None:
        xs, is_variant = case
        for checker in (gradcheck, gradgradcheck) if second_order else (gradcheck,):
            try:
                result = checker(
                    fn,
                    [Value(x) for x in xs],
                    raise_exception=False,
                    **(
                        {"check_forward_ad": True}
                        if check_forward_ad and checker is gradcheck
                        else {}
                    ),
                )
            except ValueError:
                if is_variant:
                    reject()  # fn does not take this broadcast variant
                raise
            if not result:
                failure.update(inputs=xs, result=result)
                raise GradcheckError(result)

    try:
        check()
    except Exception as e:
        if "result" not in failure:
            raise
        raise GradcheckError(failure["result"], _report(fn, failure)) from e


def _report(fn: Callable[..., Any], failure: dict[str, Any]) -> str:
    result: GradcheckResult = failure["result"]
    owner = getattr(fn, "__self__", None)
    if isinstance(owner, type):  # a Function's apply: name the Function
        name = f"{owner.__name__}.{getattr(fn, '__name__', 'apply')}"
    else:
        name = getattr(fn, "__qualname__", None) or type(fn).__name__
    with np.printoptions(precision=17, threshold=50):
        inputs = "\n".join(f"    input {i} = {x!r}" for i, x in enumerate(failure["inputs"]))
    which = "gradcheck" if result.order == 1 else "gradgradcheck"
    return (
        f"check_gradients({name}): {which} fails; hypothesis's minimal failing example:\n"
        f"{inputs}\n{result}"
    )


def _shape_list(shapes: Sequence[Shape] | Shape) -> list[Shape]:
    items: list[Any] = list(shapes)  # shapes, or the ints of one shape
    if items and all(isinstance(s, (int, np.integer)) for s in items):
        return [tuple(int(s) for s in items)]  # one shape given bare: (3, 4)
    return [tuple(int(d) for d in s) for s in items]


def _element_strategies(
    elements: st.SearchStrategy[float] | Sequence[st.SearchStrategy[float]] | None, n: int
) -> list[st.SearchStrategy[float]]:
    if elements is None:
        return [away_from()] * n
    if isinstance(elements, st.SearchStrategy):
        return [elements] * n
    per_input = list(elements)
    if len(per_input) != n:
        raise ValueError(f"check_gradients: {len(per_input)} element strategies for {n} inputs")
    return per_input


def _broadcastable(shapes: list[Shape]) -> bool:
    if len(shapes) < 2 or not any(shapes):
        return False
    try:
        np.broadcast_shapes(*shapes)
    except ValueError:
        return False
    return True


def _variant(shapes: list[Shape]) -> st.SearchStrategy[list[Shape]]:
    """Shapes that broadcast to the same result: leading axes dropped, some axes made 1."""
    target = np.broadcast_shapes(*shapes)

    @st.composite
    def build(draw: Callable[..., Any]) -> list[Shape]:
        out = []
        for s in shapes:
            keep = draw(st.integers(0, len(s)))
            out.append(tuple(d if draw(st.booleans()) else 1 for d in s[len(s) - keep :]))
        return out

    return build().filter(lambda v: np.broadcast_shapes(*v) == target)
