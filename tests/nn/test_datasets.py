"""The seeds' data sets, scikit-learn's digits, and MNIST from IDX files the tests write."""

from __future__ import annotations

import gzip
import struct
import sys

import numpy as np
import pytest

import nn


def test_addition_targets_are_sums():
    X, y = nn.datasets.addition(100, low=0, high=10, rng=0)
    assert X.shape == (100, 2) and y.shape == (100,)
    np.testing.assert_array_equal(y, X[:, 0] + X[:, 1])
    assert X.min() >= 0 and X.max() < 10


def test_parity_bits_are_most_significant_first():
    X, y = nn.datasets.parity(10)
    assert X.shape == (1024, 10) and y.shape == (1024,)
    assert X[5].tolist() == [0] * 7 + [1, 0, 1]  # '{0:010b}'.format(5), as in the post
    assert X[1023].tolist() == [1] * 10
    np.testing.assert_array_equal(y, (np.arange(1024) % 2 == 0).astype(int))
    np.testing.assert_array_equal(y, 1 - X[:, -1])  # the least significant bit decides


def test_trapezoid_shape_and_values():
    x, y = nn.datasets.trapezoid(200, rng=0)
    assert x.shape == y.shape == (200, 1)
    f = nn.datasets.trapezoid_function
    np.testing.assert_allclose(f(np.array([-3.0, -1.5, 0.0, 1.5, 2.5])), [0.0, 0.5, 1.0, 0.5, 0.0])
    np.testing.assert_array_equal(y, f(x))


def test_load_digits():
    sklearn_datasets = pytest.importorskip("sklearn.datasets")
    X, y = nn.datasets.load_digits()
    assert X.shape == (1797, 64) and y.shape == (1797,)
    assert X.min() == 0.0 and X.max() == 1.0 and set(y.tolist()) == set(range(10))
    raw = sklearn_datasets.load_digits()  # pixel intensities 0..16
    np.testing.assert_array_equal(X * 16.0, raw.data)
    np.testing.assert_array_equal(y, raw.target)


def test_load_digits_without_scikit_learn_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now fails
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match=r"pip install 'autograd-lite\[examples\]'"):
        nn.datasets.load_digits()


def write_idx(path, array, type_code=0x08):
    header = bytes([0, 0, type_code, array.ndim]) + b"".join(
        struct.pack(">i", d) for d in array.shape
    )
    data = header + array.astype(">u1" if type_code == 0x08 else ">f4").tobytes()
    if str(path).endswith(".gz"):
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_load_mnist_reads_idx_files(tmp_path, suffix):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (5, 28, 28), dtype=np.uint8)
    labels = np.array([3, 1, 4, 1, 5], dtype=np.uint8)
    write_idx(tmp_path / f"t10k-images-idx3-ubyte{suffix}", images)
    write_idx(tmp_path / f"t10k-labels-idx1-ubyte{suffix}", labels)
    X, y = nn.datasets.load_mnist(tmp_path, kind="test")
    assert X.shape == (5, 784) and X.dtype == np.float32
    np.testing.assert_allclose(X[2], images[2].ravel() / 255.0)
    assert y.tolist() == [3, 1, 4, 1, 5]


def test_load_mnist_says_what_to_download(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        nn.datasets.load_mnist(tmp_path)
    msg = str(info.value)
    assert "train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz] not found" in msg
    assert "yann.lecun.com/exdb/mnist" in msg


def test_bad_idx_files(tmp_path):
    (tmp_path / "junk").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(ValueError, match="bad magic"):
        nn.datasets.read_idx(tmp_path / "junk")
    write_idx(tmp_path / "short", np.zeros((3, 2), dtype=np.uint8))
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(ValueError, match="expected 18 for shape"):
        nn.datasets.read_idx(tmp_path / "short")
    floats = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "floats", floats, 0x0D)
    np.testing.assert_array_equal(nn.datasets.read_idx(tmp_path / "floats"), floats)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="do not match"):
        nn.datasets.load_mnist(tmp_path)
