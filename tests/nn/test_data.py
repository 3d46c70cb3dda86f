"""Mini-batches: every sample once per pass, the short last batch kept, reproducible."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from autograd_lite import nn


@given(n=st.integers(1, 50), batch_size=st.integers(1, 20), seed=st.integers(0, 99))
def test_batches_cover_every_sample_once(n, batch_size, seed):
    X = np.arange(n * 2).reshape(n, 2)
    Y = np.arange(n)
    parts = list(nn.data.batches(X, Y, batch_size, rng=seed))
    sizes = [len(xb) for xb, _ in parts]
    assert sizes == [batch_size] * (n // batch_size) + ([n % batch_size] if n % batch_size else [])
    seen = np.concatenate([yb for _, yb in parts])
    assert sorted(seen.tolist()) == list(range(n))
    for xb, yb in parts:  # rows stay paired with their labels
        np.testing.assert_array_equal(xb[:, 0], 2 * yb)


def test_shuffle_is_reproducible_and_optional():
    X = np.arange(10)
    a = [b.tolist() for b, _ in nn.data.batches(X, X, 3, rng=1)]
    b = [b.tolist() for b, _ in nn.data.batches(X, X, 3, rng=1)]
    assert a == b and [i for batch in a for i in batch] != list(range(10))
    plain = [b.tolist() for b, _ in nn.data.batches(X, X, 4, shuffle=False)]
    assert plain == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]


def test_dataloader_reshuffles_each_pass_and_drops_last_on_request():
    X = np.arange(10)
    loader = nn.data.DataLoader(X, X * 10, batch_size=4, rng=0)
    assert len(loader) == 3
    first = [xb.tolist() for xb, _ in loader]
    second = [xb.tolist() for xb, _ in loader]
    assert first != second and sorted(i for batch in first for i in batch) == list(range(10))
    dropped = nn.data.DataLoader(X, batch_size=4, drop_last=True, rng=0)
    assert len(dropped) == 2 and [len(xb) for xb in dropped] == [4, 4]


@pytest.mark.parametrize(
    ("call", "pattern"),
    [
        (lambda: list(nn.data.batches(np.ones(3), np.ones(4), 2)), "3 samples but Y has shape"),
        (lambda: list(nn.data.batches(np.ones(3), np.ones(3), 0)), "positive integer"),
        (lambda: nn.data.DataLoader(np.ones(3), batch_size=1.5), "positive integer"),
        (lambda: list(nn.data.batches(np.float64(1.0), None, 1)), "sample"),
    ],
)
def test_bad_arguments(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call()


def test_batches_keep_the_dtype_and_work_without_targets():
    X = np.arange(12, dtype=np.float32).reshape(6, 2)
    parts = list(nn.data.batches(X, None, 4, shuffle=False))
    assert [yb for _, yb in parts] == [None, None]
    assert all(xb.dtype == np.float32 for xb, _ in parts)
    np.testing.assert_array_equal(np.concatenate([xb for xb, _ in parts]), X)
    assert [xb.shape for xb in nn.data.DataLoader(X, batch_size=4, shuffle=False)] == [
        (4, 2),
        (2, 2),
    ]
