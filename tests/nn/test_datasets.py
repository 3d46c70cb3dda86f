"""The seeds' data sets, scikit-learn's digits, and MNIST from IDX files the tests write."""

from __future__ import annotations

import gzip
import pathlib
import re
import struct
import sys

import numpy as np
import pytest

from autograd_lite import nn

ROOT = pathlib.Path(nn.__file__).resolve().parent.parent


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
    with pytest.raises(ImportError) as info:
        nn.datasets.load_digits()
    assert "pip install -e '.[examples]' in a checkout" in str(info.value)
    assert "pip install scikit-learn" in str(info.value)


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
    with pytest.raises(ValueError, match=r"short is truncated: .* needs 6 bytes .* found 5"):
        nn.datasets.read_idx(tmp_path / "short")
    floats = np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3)
    write_idx(tmp_path / "floats", floats, 0x0D)
    np.testing.assert_array_equal(nn.datasets.read_idx(tmp_path / "floats"), floats)
    write_idx(tmp_path / "train-images-idx3-ubyte", np.zeros((2, 28, 28), dtype=np.uint8))
    write_idx(tmp_path / "train-labels-idx1-ubyte", np.zeros(3, dtype=np.uint8))
    with pytest.raises(ValueError, match="do not match"):
        nn.datasets.load_mnist(tmp_path)


# --- read_idx: sizes without overflow, a limit, streaming, clear errors -----------------


def idx_header(dims, type_code=0x08) -> bytes:
    return bytes([0, 0, type_code, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims)


class CountingGzip:
    """gzip.open, counting the decompressed bytes read_idx asks for (and gets)."""

    def __init__(self):
        self.delivered = 0

    def __call__(self, path, mode="rb"):
        self.file = gzip.GzipFile(path, mode)
        return self

    def read(self, n=-1):
        data = self.file.read(n)
        self.delivered += len(data)
        return data

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.file.close()


def zeros_gz(mib: int) -> bytes:
    """A gzip stream of ``mib`` MiB of zeros, small: one 16 MiB member, repeated."""
    member = gzip.compress(bytes(16 << 20), compresslevel=9)
    return member * (mib // 16)


@pytest.mark.parametrize(
    ("dims", "type_code"),
    [
        ((65536,) * 4, 0x08),
        ((2**16, 2**16), 0x08),
        ((2**31, 2**31, 2**31), 0x0E),
        ((2**29 + 1,), 0x0C),
    ],
)
def test_a_declared_size_over_the_limit_is_refused_without_overflow(tmp_path, dims, type_code):
    path = tmp_path / "big-idx"
    path.write_bytes(idx_header(dims, type_code))  # 65536**4 wrapped to 0 in np.prod
    with pytest.raises(ValueError, match="too large") as info:
        nn.datasets.read_idx(path)
    msg = str(info.value)
    assert str(path) in msg and "MAX_IDX_BYTES" in msg and str(nn.datasets.MAX_IDX_BYTES) in msg
    assert "-" not in msg.split("declares")[1]  # no wrapped, negative sizes


def test_the_limit_is_a_documented_module_constant(tmp_path, monkeypatch):
    assert nn.datasets.MAX_IDX_BYTES == 2**31
    assert "MAX_IDX_BYTES" in nn.datasets.read_idx.__doc__
    write_idx(tmp_path / "small", np.zeros((4, 4), dtype=np.uint8))
    monkeypatch.setattr(nn.datasets, "MAX_IDX_BYTES", 15)
    with pytest.raises(ValueError, match="too large"):
        nn.datasets.read_idx(tmp_path / "small")
    monkeypatch.setattr(nn.datasets, "MAX_IDX_BYTES", 16)
    assert nn.datasets.read_idx(tmp_path / "small").shape == (4, 4)


def test_a_gzip_bomb_with_a_huge_shape_is_never_decompressed(tmp_path, monkeypatch):
    path = tmp_path / "bomb-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(idx_header((60000, 65536, 65536))) + zeros_gz(256))
    assert path.stat().st_size < 1 << 20  # a small file...
    counting = CountingGzip()
    monkeypatch.setattr(nn.datasets.gzip, "open", counting)
    with pytest.raises(ValueError, match="too large") as info:
        nn.datasets.read_idx(path)
    assert str(path) in str(info.value)
    assert counting.delivered < 1 << 20  # ...that stands for 256 MiB: not decompressed


def test_a_gzip_bomb_after_a_small_shape_is_trailing_data_read_one_byte_far(tmp_path, monkeypatch):
    path = tmp_path / "labels.gz"
    path.write_bytes(gzip.compress(idx_header((10,)) + bytes(range(10))) + zeros_gz(256))
    counting = CountingGzip()
    monkeypatch.setattr(nn.datasets.gzip, "open", counting)
    with pytest.raises(ValueError, match="has trailing data") as info:
        nn.datasets.read_idx(path)
    assert str(path) in str(info.value)
    assert counting.delivered == 4 + 4 + 10 + 1  # the header, the data and one byte more


def test_idx_errors_name_the_file(tmp_path):
    cases = {
        "magic": (b"\x01\x00\x08\x01", "is not an IDX file .bad magic number."),
        "short": (b"\x00\x00", "bad magic number"),
        "dtype": (idx_header((2,), 0x0A) + b"\0\0", "unknown data type code 0x0A"),
        "header": (idx_header((2, 3))[:-2], r"truncated \(in the header"),
        "data": (idx_header((2, 3)) + b"\0" * 5, "truncated: .* needs 6 bytes .* found 5"),
        "trailing": (idx_header((2, 3)) + b"\0" * 7, "has trailing data"),
    }
    for name, (data, pattern) in cases.items():
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(ValueError, match=pattern) as info:
            nn.datasets.read_idx(path)
        assert str(path) in str(info.value), name
        gz = tmp_path / (name + ".gz")
        gz.write_bytes(gzip.compress(data))
        with pytest.raises(ValueError, match=pattern) as info:
            nn.datasets.read_idx(gz)
        assert str(gz) in str(info.value), name


def test_a_damaged_gzip_file_is_a_clear_error(tmp_path):
    good = gzip.compress(idx_header((100,)) + bytes(100))
    for name, data in {"cut.gz": good[:-12], "plain.gz": b"not gzip at all"}.items():
        (tmp_path / name).write_bytes(data)
        with pytest.raises(ValueError, match="not a valid gzip file, or damaged") as info:
            nn.datasets.read_idx(tmp_path / name)
        assert str(tmp_path / name) in str(info.value)


@pytest.mark.parametrize("type_code", [0x08, 0x09, 0x0B, 0x0C, 0x0D, 0x0E])
def test_every_idx_type_reads_back(tmp_path, type_code):
    dtype = np.dtype(nn.datasets._IDX_TYPES[type_code])
    array = np.arange(24).reshape(2, 3, 4).astype(dtype)
    (tmp_path / "a").write_bytes(idx_header(array.shape, type_code) + array.tobytes())
    (tmp_path / "a.gz").write_bytes(gzip.compress((tmp_path / "a").read_bytes()))
    for name in ("a", "a.gz"):
        out = nn.datasets.read_idx(tmp_path / name)
        assert out.dtype == dtype and out.shape == (2, 3, 4)
        np.testing.assert_array_equal(out, array)
    (tmp_path / "empty").write_bytes(idx_header((0, 28, 28)))
    assert nn.datasets.read_idx(tmp_path / "empty").shape == (0, 28, 28)


# --- install hints say what works from a checkout -----------------------------------------

OLD_HINT = re.compile(r"pip install ['\"]?autograd-lite\[[\w,]+\]['\"]?")
PUBLISHED = re.compile(r"pip install ['\"]?autograd-lite\[[\w,]+\]['\"]?(?:``)? once published")


def hint_files() -> list[pathlib.Path]:
    found = [ROOT / "README.md"]
    for folder, pattern in (("autograd_lite", "*.py"), ("nn", "*.py"), ("examples", "*.py")):
        found += sorted((ROOT / folder).rglob(pattern))
    found += sorted((ROOT / "docs").rglob("*.md"))
    return [p for p in found if p.is_file()]


@pytest.mark.parametrize("path", hint_files(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_install_hints_say_what_works_from_a_checkout(path):
    """autograd-lite is not on an index: pip install 'autograd-lite[x]' fails today. A hint
    must give pip install -e '.[x]' (from a checkout), the published form only beside it."""
    text = path.read_text(encoding="utf-8")
    old = [m.group() for m in OLD_HINT.finditer(text) if not PUBLISHED.match(text, m.start())]
    assert not old, f"{path}: {old} (say: pip install -e '.[extra]' in a checkout)"
    for m in PUBLISHED.finditer(text):
        before = text[max(0, m.start() - 200) : m.start()]
        assert "pip install -e" in before, f"{path}: {m.group()} without the checkout form"
