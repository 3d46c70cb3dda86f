"""Grad modes and anomaly detection: creation sites, and memory that stays flat."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest

import autograd_lite as ag
import nn
from autograd_lite import Value
from autograd_lite.modes import creation_site


def test_anomaly_mode_records_the_users_line_on_the_node():
    with ag.detect_anomaly():
        y = Value(2.0).tanh()  # the line to be named
    site = creation_site(y)
    assert site is not None and "test_modes.py" in site and "the line to be named" in site
    assert creation_site(Value(2.0).tanh()) is None  # outside the block: nothing recorded


def test_anomaly_names_the_op_and_the_line():
    with ag.detect_anomaly(), pytest.raises(ag.AnomalyError, match=r"'log'.*test_modes.py"):
        Value(-1.0).log()  # nan made here


def test_check_nan_false_only_records_sites():
    with ag.detect_anomaly(check_nan=False):
        y = Value(-1.0).log()
    assert math.isnan(y.data) and "test_modes.py" in creation_site(y)


def test_memory_stays_flat_in_a_training_loop_under_detect_anomaly():
    model = nn.MLP(4, [16, 3], rng=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.01)
    X, y = np.random.default_rng(0).standard_normal((8, 4)), np.arange(8) % 3

    def step():
        loss = nn.cross_entropy(model(X), y)
        opt.zero_grad()
        loss.backward()
        opt.step()

    with ag.detect_anomaly():
        for _ in range(20):
            step()
        tracemalloc.start()
        try:
            for _ in range(50):
                step()
            first, _ = tracemalloc.get_traced_memory()
            for _ in range(200):
                step()
            second, _ = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    # before the fix every node and its stack stayed alive until the block ended: ~1 MB
    # per 50 steps here; now the sites die with their nodes
    assert second - first < 100_000, (first, second)


def test_modes_nest_and_are_restored_after_errors():
    assert ag.is_grad_enabled()
    with pytest.raises(RuntimeError), ag.no_grad():
        with ag.enable_grad():
            assert ag.is_grad_enabled()
        raise RuntimeError
    assert ag.is_grad_enabled()
