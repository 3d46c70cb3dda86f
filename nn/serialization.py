"""Saving and loading state dicts as ``.npz`` files: atomic writes, no pickles.

``save`` writes through :func:`autograd_lite.files.atomic_write` (a temporary file in the
destination's folder, fsync'ed and renamed into place), so an interrupted save never
leaves a truncated file where a good one was. ``load`` parses every member's ``.npy``
header itself and reads only real float, integer and bool arrays: a file holding Python
objects is refused and none of its code runs.
"""

from __future__ import annotations

import math
import os
import stat
import zipfile
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from autograd_lite import Value
from autograd_lite.files import atomic_write

__all__ = ["flatten", "load", "save", "unflatten"]

SEP = "."


def flatten(state: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with dotted keys: {"a": {"b": 1}} -> {"a.b": 1}.

    Lists and tuples of mappings are numbered (``param_groups.0.lr``). Two entries that
    would get the same flat key (``{"a": {"b": 1}, "a.b": 2}``, or ``{1: x, "1": y}``)
    raise ValueError naming both, instead of one silently replacing the other.
    """
    return _flatten(state, prefix, "flatten")


def _flatten(state: Mapping[Any, Any], prefix: str, who: str) -> dict[str, Any]:
    flat: dict[str, Any] = {}
    origin: dict[str, tuple[Any, ...]] = {}  # flat key -> the keys that led to it
    stack: list[tuple[str, tuple[Any, ...], Mapping[Any, Any]]] = [(prefix, (), state)]
    while stack:
        pre, keys, m = stack.pop()
        for key, value in m.items():
            name = f"{pre}{SEP}{key}" if pre else str(key)
            where = (*keys, key)
            if isinstance(value, Mapping):
                stack.append((name, where, value))
            elif (
                isinstance(value, (list, tuple))
                and value
                and all(isinstance(v, Mapping) for v in value)
            ):
                stack.append((name, where, dict(enumerate(value))))
            else:
                if name in origin:
                    first, second = sorted((_show(origin[name]), _show(where)))
                    raise ValueError(
                        f"{who}: {first} and {second} both become the key {name!r}; "
                        "rename one of them"
                    )
                flat[name] = value
                origin[name] = where
    return flat


def _show(keys: tuple[Any, ...]) -> str:
    return "state" + "".join(f"[{k!r}]" for k in keys)


def unflatten(flat: Mapping[str, Any]) -> dict[str, Any]:
    """The inverse of :func:`flatten` (keys without dots are left as they are)."""
    nested: dict[str, Any] = {}
    for key, value in flat.items():
        if isinstance(value, Mapping):
            nested[key] = value
            continue
        parts = str(key).split(SEP)
        node = nested
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return nested


def _as_array(key: str, value: Any) -> np.ndarray:
    if isinstance(value, Value):
        value = value.data
    try:
        arr = np.asarray(value)
    except (TypeError, ValueError) as e:
        raise TypeError(f"save: {key!r} is not an array or a number ({e})") from None
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"save: {key!r} holds {arr.dtype} data ({type(value).__name__}); only numbers and "
            "numeric arrays can be saved (no pickled objects)"
        )
    return arr


_RESERVED = ("file", "allow_pickle")  # np.savez's own argument names


def save(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a state dict (of arrays, numbers or Values; nested dicts are flattened with
    dotted keys) to ``path`` as an ``.npz`` file, atomically.

    Written with :func:`autograd_lite.files.atomic_write`: a reader sees the old file or
    the new one, never a partial one; on any failure, interruption included, ``path`` is
    left as it was and no temporary file is left behind; an existing file keeps its
    permission bits, a new one gets the usual ``0o666 & ~umask``; a symlink is written
    through; a directory, FIFO or read-only file is refused. Only numeric data can be
    saved, so the file never holds a pickle. Keys that would collide once flattened
    (``{"a": {"b": 1}, "a.b": 2}``) raise ValueError naming both; nothing is written.
    """
    if not isinstance(state, Mapping):
        raise TypeError(
            f"save: expected a dict (e.g. model.state_dict()), got {type(state).__name__}"
        )
    arrays = {key: _as_array(key, v) for key, v in _flatten(state, "", "save").items()}
    for key in _RESERVED:
        if key in arrays:
            raise ValueError(f"save: the key {key!r} is reserved by np.savez; rename it")
    atomic_write(path, lambda f: np.savez(f, allow_pickle=False, **arrays), who="save")


_LOADABLE = "biuf"  # bool, signed and unsigned integers, real floats


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a state dict written by :func:`save` (flat, dotted keys), refusing pickles.

    Returns a new dict of new arrays and changes nothing else, so a failed load leaves
    everything as it was (and ``Module.load_state_dict`` is itself all-or-nothing).
    Every member's ``.npy`` header is checked before its data is read; these are
    ValueErrors naming the file (and the member): a file that is not an ``.npz`` from
    :func:`save`, a member that is not an ``.npy`` array, a bad or unsupported header,
    a declared size that does not match the member's real size (so a header claiming
    terabytes is refused before anything is allocated), truncated or damaged data, and
    any array that is not real float, integer or bool (object arrays are never
    unpickled; complex, string, datetime/timedelta, structured arrays are refused).
    A missing path is FileNotFoundError, a directory IsADirectoryError.
    """
    path = os.fspath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"load: no such file: {path}") from None
    if stat.S_ISDIR(st.st_mode):
        raise IsADirectoryError(f"load: {path} is a directory, not an .npz file from nn.save")
    if not stat.S_ISREG(st.st_mode):
        raise ValueError(f"load: {path} is not a regular file (an .npz file from nn.save)")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"load: {path} holds a single array, not an .npz state dict from nn.save")
    if not magic.startswith(b"PK"):  # every .npz is a zip archive
        raise ValueError(f"load: {path} is not an .npz file written by nn.save")
    try:
        archive = zipfile.ZipFile(path)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"load: {path} is not an .npz file written by nn.save ({e})") from None
    state: dict[str, np.ndarray] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename
            if not name.endswith(".npy") or info.is_dir():
                raise ValueError(
                    f"load: {path} holds {name!r}, which is not an .npy array; "
                    "not an .npz file written by nn.save"
                )
            key = name[: -len(".npy")]
            if key in state:
                raise ValueError(f"load: {path} holds {name!r} twice; the file is damaged")
            try:
                state[key] = _read_member(archive, info, f"load: {path}, member {name!r}")
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as e:
                raise ValueError(f"load: {path} is damaged (reading {name!r}: {e})") from None
            except NotImplementedError as e:  # e.g. an unsupported compression method
                raise ValueError(f"load: {path}: cannot read {name!r} ({e})") from None
    return state


def _read_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, where: str) -> np.ndarray:
    fmt = np.lib.format
    with archive.open(info) as f:
        try:
            version = fmt.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = fmt.read_array_header_1_0(f)
            elif version == (2, 0):
                shape, fortran, dtype = fmt.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy format version {version}")
        except (ValueError, SyntaxError, TypeError, EOFError) as e:
            raise ValueError(f"{where} has a bad .npy header ({e})") from None
        if not isinstance(shape, tuple) or not all(type(n) is int and n >= 0 for n in shape):
            raise ValueError(f"{where} has a bad .npy header (shape {shape!r})")
        if dtype.hasobject:
            raise ValueError(
                f"{where} holds pickled Python objects; refusing to load them (allow_pickle=False)"
            )
        if dtype.kind not in _LOADABLE or dtype.fields is not None or dtype.subdtype:
            raise ValueError(
                f"{where} holds {dtype} data; only real float, integer and bool arrays load"
            )
        nbytes = math.prod(shape) * dtype.itemsize  # Python ints: no overflow
        header = f.tell()
        if header + nbytes != info.file_size:
            found = info.file_size - header
            problem = "is truncated" if found < nbytes else "has trailing data"
            raise ValueError(
                f"{where} {problem}: its header declares a {shape} {dtype} array "
                f"({_size(nbytes)}), but it holds {_size(max(found, 0))} of data"
            )
        try:
            buf = bytearray(nbytes)
        except MemoryError:
            raise MemoryError(
                f"{where}: not enough memory for its {shape} {dtype} array ({_size(nbytes)})"
            ) from None
        got = f.readinto(buf)
        if got != nbytes:
            raise ValueError(f"{where} is truncated: {got} of {nbytes} data bytes")
    arr = np.frombuffer(buf, dtype=dtype)
    if fortran:
        return arr.reshape(shape[::-1]).transpose()
    return arr.reshape(shape)


def _size(nbytes: int) -> str:
    if nbytes < 1000:
        return f"{nbytes} bytes"
    size = float(nbytes)
    for unit in ("KB", "MB", "GB"):
        size /= 1000
        if size < 1000:
            return f"{size:.1f} {unit}"
    return f"{size / 1000:.1f} TB"
