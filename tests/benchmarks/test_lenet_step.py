"""benchmarks/lenet_step.py: both sides take the same step, and the command line runs."""

from __future__ import annotations

import numpy as np
import pytest

import benchmarks  # noqa: F401  (pins BLAS threads)
from benchmarks import lenet_step


@pytest.mark.parametrize("size", [8, 28])
def test_autograd_lite_and_torch_take_the_same_step(size):
    pytest.importorskip("torch")
    ours = lenet_step.make("autograd_lite", "float64", 4, size)
    theirs = lenet_step.make("torch", "float64", 4, size)
    for p, q in zip(ours.params(), theirs.params()):
        np.testing.assert_array_equal(p, q)  # the same starting weights
    for _ in range(2):
        assert ours() == pytest.approx(theirs(), rel=1e-10)
    for p, q in zip(ours.params(), theirs.params()):
        np.testing.assert_allclose(p, q, rtol=1e-9, atol=1e-12)


@pytest.mark.slow
def test_main_prints_both_figures_and_the_ratio(capsys):
    pytest.importorskip("torch")
    assert lenet_step.main(["--quick", "--size", "8"]) == 0
    out = capsys.readouterr().out
    assert "autograd_lite" in out and "torch eager" in out and "ratio" in out
