"""Grad modes and anomaly detection: creation sites, and memory that stays flat."""

from __future__ import annotations

import math
import threading
import tracemalloc

import numpy as np
import pytest

import autograd_lite as ag
from autograd_lite import Value, nn
from autograd_lite.core.modes import creation_site


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


# ------------------------------------------------------------------------ grad modes


def test_no_grad_records_nothing_and_restores_on_exceptions():
    x = Value(2.0)
    with ag.no_grad():
        y = x * 3
        with ag.no_grad():
            pass
        assert not ag.is_grad_enabled()
        with ag.enable_grad():
            z = x * 3
    assert ag.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf
    assert z.requires_grad and z.op == "mul"
    with pytest.raises(RuntimeError), ag.no_grad():
        raise RuntimeError
    assert ag.is_grad_enabled()


def test_no_grad_as_a_decorator_and_set_grad_enabled():
    @ag.no_grad()
    def f(v):
        return v * 2

    assert not f(Value(1.0)).requires_grad
    ag.set_grad_enabled(False)
    assert not ag.is_grad_enabled()
    ag.set_grad_enabled(True)
    with ag.set_grad_enabled(False):
        assert not ag.is_grad_enabled()
    assert ag.is_grad_enabled()


def test_no_grad_is_per_thread():
    seen = []
    inside = threading.Event()
    done = threading.Event()

    def other():
        inside.wait()
        seen.append(ag.is_grad_enabled())
        done.set()

    t = threading.Thread(target=other)
    t.start()
    with ag.no_grad():
        inside.set()
        done.wait()
    t.join()
    assert seen == [True]


# -------------------------------------------------------------------------- anomalies


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_detect_anomaly_names_the_forward_op_and_the_line():
    x = Value(np.array([1.0, 0.0]))
    with pytest.raises(ag.AnomalyError) as info, ag.detect_anomaly():
        (x * 2).log()
    msg = str(info.value)
    assert "'log'" in msg and "all its inputs were finite" in msg
    assert "test_modes.py" in msg and "(x * 2).log()" in msg


@pytest.mark.filterwarnings("ignore:divide by zero:RuntimeWarning")
def test_detect_anomaly_in_backward_names_the_op():
    x = Value(np.array([4.0, 0.0]))
    with ag.detect_anomaly():
        y = x.sqrt().sum()  # forward is finite; d sqrt / dx at 0 is inf
        with pytest.raises(ag.AnomalyError, match=r"backward of 'sqrt' .*input 0.*x.sqrt\(\)"):
            y.backward()
    z = x.sqrt().sum()  # outside the block nothing is checked
    z.backward()
    assert x.grad[1] == math.inf


def test_exploding_gradient_is_caught_at_the_first_overflow():
    w = Value(1.0)
    with pytest.raises(ag.AnomalyError, match="'mul'"), ag.detect_anomaly():
        for _ in range(2000):
            w = w * 10.0
