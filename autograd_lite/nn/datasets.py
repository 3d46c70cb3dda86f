"""The seeds' data sets, scikit-learn's 8x8 digits and MNIST from IDX files.

Everything is generated or read locally: nothing is downloaded.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from typing import Any, cast

import numpy as np

from autograd_lite.nn.init import as_rng

__all__ = [
    "MAX_IDX_BYTES",
    "addition",
    "load_digits",
    "load_mnist",
    "parity",
    "read_idx",
    "trapezoid",
]

#: The most data (in bytes, after the header) :func:`read_idx` accepts from one IDX file:
#: 2 GiB. MNIST's largest file holds 47 MB; a header declaring more is refused before
#: anything is read or decompressed.
MAX_IDX_BYTES = 2**31


def addition(
    n: int, low: float = 0.0, high: float = 100.0, rng: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seed 000/001: pairs of numbers and their sum. X is (n, 2) from U(low, high), y is (n,)."""
    X = as_rng(rng).uniform(low, high, (n, 2))
    return X, X.sum(axis=1)


def parity(n_bits: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Seed 002: every n-bit number as bits (most significant first) and its label.

    X is (2**n_bits, n_bits) of 0/1 floats; y is 1 for an even number, 0 for odd (the
    post's one-hot target [0, 1] for even is ``np.eye(2)[y]``).
    """
    if not 1 <= n_bits <= 24:
        raise ValueError(f"parity: n_bits must be between 1 and 24, got {n_bits}")
    numbers = np.arange(2**n_bits)
    X = ((numbers[:, None] >> np.arange(n_bits - 1, -1, -1)) & 1).astype(np.float64)
    return X, (numbers % 2 == 0).astype(np.int64)


def trapezoid_function(x: np.ndarray) -> np.ndarray:
    """0 outside [-2, 2], rising linearly on [-2, -1], 1 on [-1, 1], falling on [1, 2]."""
    return np.clip(2.0 - np.abs(x), 0.0, 1.0)


def trapezoid(
    n: int, low: float = -3.0, high: float = 3.0, rng: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Seed 004: samples of a trapezoidal function; x and y are both (n, 1)."""
    x = np.sort(as_rng(rng).uniform(low, high, n))[:, None]
    return x, trapezoid_function(x)


def load_digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1,797 8x8 handwritten digits that ship inside scikit-learn.

    Returns X (1797, 64) scaled to [0, 1] and integer labels y (1797,). Needs the
    ``examples`` extra (scikit-learn).
    """
    try:
        # scikit-learn ships no type information (no py.typed marker, no stubs)
        from sklearn.datasets import load_digits as sk_load_digits  # type: ignore[import-untyped]
    except ImportError:
        raise ImportError(
            "load_digits needs scikit-learn: pip install -e '.[examples]' in a checkout "
            "(pip install 'autograd-lite[examples]' once published), "
            "or pip install scikit-learn"
        ) from None
    d: Any = sk_load_digits()  # a Bunch (sklearn is untyped; pyright infers Bunch | tuple)
    return d.data / 16.0, d.target.astype(np.int64)


_IDX_TYPES: dict[int, type[np.generic] | str] = {
    0x08: np.uint8,
    0x09: np.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}

_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read one IDX file (the MNIST format), gzipped or not (a name ending in ``.gz``).

    The header is checked before any data is read: the declared size is computed with
    Python integers (no overflow) and a file declaring more than :data:`MAX_IDX_BYTES`
    of data is refused. Then exactly the declared number of bytes is read, plus one to
    detect trailing data, so a gzipped file is never decompressed further than that (a
    gzip bomb costs at most ``MAX_IDX_BYTES``). Errors are ValueErrors naming the file:
    bad magic number, unknown data type code, truncated header or data, trailing data,
    too large, or a damaged gzip stream. Returns a read-only array in the file's
    (big-endian) byte order.
    """
    path = os.fspath(path)
    gzipped = os.fsdecode(path).endswith(".gz")
    with (gzip.open if gzipped else open)(path, "rb") as f:
        size = None if gzipped else os.fstat(f.fileno()).st_size
        try:
            return _read_idx(f, path, size)
        except (EOFError, OSError, zlib.error) as e:  # gzip.BadGzipFile is an OSError
            what = "not a valid gzip file, or damaged" if gzipped else "damaged"
            raise ValueError(f"read_idx: {path} is {what} ({e})") from None


def _read_idx(f: Any, path: str, size: int | None) -> np.ndarray:
    """``size`` is the file's size when known (not gzipped): data is read only if it fits."""
    magic = f.read(4)
    if len(magic) < 4 or magic[0] != 0 or magic[1] != 0:
        raise ValueError(f"read_idx: {path} is not an IDX file (bad magic number)")
    if magic[2] not in _IDX_TYPES:
        raise ValueError(
            f"read_idx: {path} is not an IDX file this reader knows: unknown data type code "
            f"0x{magic[2]:02X} (known: {', '.join(f'0x{c:02X}' for c in _IDX_TYPES)})"
        )
    ndim = magic[3]
    dims = f.read(4 * ndim)
    if len(dims) < 4 * ndim:
        raise ValueError(f"read_idx: {path} is truncated (in the header: {ndim} dimensions)")
    shape = tuple(int.from_bytes(dims[4 * i : 4 * i + 4], "big") for i in range(ndim))
    dtype = np.dtype(_IDX_TYPES[magic[2]])
    nbytes = math.prod(shape) * dtype.itemsize  # Python ints: 65536**4 does not wrap
    if nbytes > MAX_IDX_BYTES:
        raise ValueError(
            f"read_idx: {path} is too large: shape {shape} of {dtype} declares {nbytes} bytes "
            f"of data, more than MAX_IDX_BYTES = {MAX_IDX_BYTES}"
        )
    found = None if size is None else size - (4 + 4 * ndim)
    data = f.read(nbytes) if found is None or found >= nbytes else b""  # no doomed allocation
    if len(data) < nbytes:
        raise ValueError(
            f"read_idx: {path} is truncated: shape {shape} of {dtype} needs {nbytes} bytes "
            f"of data after the header, found {len(data) if found is None else found}"
        )
    if f.read(1):
        raise ValueError(
            f"read_idx: {path} has trailing data after the {nbytes} bytes that shape {shape} "
            f"of {dtype} declares"
        )
    return np.frombuffer(data, dtype=dtype).reshape(shape)


def _find(folder: str, stem: str) -> str | None:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        p = os.path.join(folder, name)
        if os.path.exists(p):
            return p
    return None


def load_mnist(path: str | os.PathLike, kind: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """MNIST from the standard IDX files in folder ``path`` (gzipped or not).

    ``kind`` is "train" (60,000 images) or "test" (10,000). Returns X (n, 784) float32
    in [0, 1] and integer labels y (n,). The files are not downloaded: a missing file is
    a FileNotFoundError saying which files to get and where.
    """
    if kind not in _MNIST_FILES:
        raise ValueError(f"load_mnist: kind must be 'train' or 'test', got {kind!r}")
    folder = os.fspath(path)
    found = [_find(folder, stem) for stem in _MNIST_FILES[kind]]
    if None in found:
        missing = [stem for stem, p in zip(_MNIST_FILES[kind], found) if p is None]
        raise FileNotFoundError(
            f"load_mnist: {', '.join(m + '[.gz]' for m in missing)} not found in {folder!r}. "
            "Download the four IDX files (train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
            "t10k-images-idx3-ubyte.gz, t10k-labels-idx1-ubyte.gz) from the MNIST page "
            "(http://yann.lecun.com/exdb/mnist/ or one of its mirrors) into that folder."
        )
    images, labels = (read_idx(cast(str, p)) for p in found)  # (no None: checked above)
    if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
        raise ValueError(
            f"load_mnist: images {images.shape} and labels {labels.shape} in {folder!r} "
            "do not match"
        )
    X = images.reshape(len(images), -1).astype(np.float32) / 255.0
    return X, labels.astype(np.int64)
