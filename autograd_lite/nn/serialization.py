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
import struct
import unicodedata
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from typing import Any, BinaryIO, cast

import numpy as np

from autograd_lite.core.value import Value
from autograd_lite.files import atomic_write, checked_name

__all__ = ["MAX_KEY_BYTES", "check_key", "flatten", "load", "save", "unflatten"]

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
MAX_KEY_BYTES = 1000
"""The longest key :func:`save` writes, in UTF-8 bytes (a zip member name must fit 65,535)."""


def check_key(key: str, who: str = "save") -> None:
    """Raise ValueError naming ``key`` unless it can be a member of a saved file.

    A key is a non-empty string of at most :data:`MAX_KEY_BYTES` UTF-8 bytes, with no
    control character (NUL would cut the member name short), no lone surrogate (not
    UTF-8), no ``/`` or ``\\`` (a member name, never a path such as ``../../x`` or
    ``/etc/x``), and not one of np.savez's argument names (``file``, ``allow_pickle``).
    """
    shown = _quote(key)
    if not isinstance(key, str):
        raise TypeError(f"{who}: the key {shown} is a {type(key).__name__}, not a string")
    if not key:
        raise ValueError(f"{who}: the key '' (empty) is not allowed; name every entry")
    bad = next((c for c in key if ord(c) < 32 or ord(c) == 127), None)
    if bad is not None:
        raise ValueError(f"{who}: the key {shown} holds the control character {bad!r}; rename it")
    try:
        size = len(key.encode("utf-8"))
    except UnicodeEncodeError as e:
        raise ValueError(
            f"{who}: the key {shown} holds a lone surrogate ({key[e.start]!r}, not UTF-8 text); "
            "rename it"
        ) from None
    if size > MAX_KEY_BYTES:
        raise ValueError(
            f"{who}: the key {shown} is {size} bytes long in UTF-8, at most {MAX_KEY_BYTES}"
        )
    if "/" in key or "\\" in key:
        raise ValueError(
            f"{who}: the key {shown} holds a '/' or '\\'; keys are names, not paths "
            "(use dots: 'block.0.weight')"
        )
    if key in _RESERVED:
        raise ValueError(f"{who}: the key {key!r} is reserved by np.savez; rename it")


def _quote(key: object, limit: int = 60) -> str:
    text = repr(key)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _check_keys(keys: Iterable[str]) -> None:
    seen: dict[str, str] = {}
    for key in keys:
        check_key(key)
        same = unicodedata.normalize("NFC", key)
        if same in seen:
            raise ValueError(
                f"save: the keys {_quote(seen[same])} and {_quote(key)} differ only in Unicode "
                "normalisation (they look the same, and one folder on macOS); rename one"
            )
        seen[same] = key


def save(state: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write a state dict (of arrays, numbers or Values; nested dicts are flattened with
    dotted keys) to ``path`` as an ``.npz`` file, atomically.

    Written with :func:`autograd_lite.files.atomic_write`: a reader sees the old file or
    the new one, never a partial one; on any failure, interruption included, ``path`` is
    left as it was and no temporary file is left behind; an existing file keeps its
    permission bits, a new one gets the usual ``0o666 & ~umask``; a symlink is written
    through; a directory, FIFO or read-only file is refused. Only numeric data can be
    saved, so the file never holds a pickle. Keys that would collide once flattened
    (``{"a": {"b": 1}, "a.b": 2}``) raise ValueError naming both; so does every key
    :func:`check_key` refuses, or two keys equal once NFC-normalised; nothing is
    written then. Before the rename, the written file's member names and ``.npy``
    headers are read back as :func:`load` reads them: a file :func:`load` would refuse
    never replaces ``path``. Errors are ValueError/TypeError/OSError starting "save:".
    """
    if not isinstance(state, Mapping):
        raise TypeError(
            f"save: expected a dict (e.g. model.state_dict()), got {type(state).__name__}"
        )
    flat = _flatten(state, "", "save")
    _check_keys(flat)
    arrays = {key: _as_array(key, v) for key, v in flat.items()}

    def write(f: BinaryIO) -> None:
        try:
            np.savez(f, allow_pickle=False, **arrays)
        except (struct.error, UnicodeError, zipfile.LargeZipFile) as e:
            raise ValueError(f"save: cannot write {os.fsdecode(path)} as an .npz ({e})") from None

    atomic_write(path, write, who="save", check=lambda tmp: _verify(tmp, arrays, path))


def _verify(tmp: str, arrays: Mapping[str, np.ndarray], path: Any) -> None:
    """Read back what was written (names and headers, not the data), as :func:`load` does."""
    where = f"save: {os.fsdecode(os.fspath(path))}"
    try:
        with zipfile.ZipFile(tmp) as archive:
            infos = archive.infolist()
            names = [i.filename for i in infos]
            wanted = [f"{k}.npy" for k in arrays]
            if names != wanted:
                raise ValueError(f"members {names[:5]} are not the keys {wanted[:5]}")
            for info, arr in zip(infos, arrays.values()):
                with archive.open(info) as f:
                    shape, _fortran, dtype, _nbytes = _read_header(f, info, where)
                if shape != arr.shape or dtype != arr.dtype:
                    raise ValueError(f"{info.filename!r} reads back as {shape} {dtype}")
    except (OSError, EOFError, zipfile.BadZipFile, NotImplementedError, ValueError) as e:
        raise ValueError(
            f"{where}: the file written would not load ({e}); the old file is kept"
        ) from None


_LOADABLE = "biuf"  # bool, signed and unsigned integers, real floats
MAX_BYTES = 4 << 30
"""The default ``max_bytes`` of :func:`load`: 4 GiB of array data in one file."""
MAX_RATIO = 100
"""The default ``max_ratio`` of :func:`load`: a compressed member may inflate to at most
this many times its compressed size (beyond its first MiB). ``save`` never compresses."""
_SLACK = 1 << 20  # bytes any member may inflate to, whatever its ratio
_CHUNK = 1 << 20  # bytes read at a time
_MAX_DIMS = 64  # numpy's limit on the number of dimensions


def load(
    path: str | os.PathLike,
    *,
    max_bytes: int | None = MAX_BYTES,
    max_ratio: float | None = MAX_RATIO,
) -> dict[str, np.ndarray]:
    """Read a state dict written by :func:`save` (flat, dotted keys), refusing pickles.

    Returns a new dict of new arrays and changes nothing else, so a failed load leaves
    everything as it was (and ``Module.load_state_dict`` is itself all-or-nothing).
    Every member's ``.npy`` header is checked before its data is read; these are
    ValueErrors naming the file (and the member): a file that is not an ``.npz`` from
    :func:`save`, a member that is not an ``.npy`` array, a bad or unsupported header
    (more than 64 dimensions included), a declared size that does not match the
    member's size, truncated or damaged data, an unsupported zip feature, and any array
    that is not real float, integer or bool (object arrays are never unpickled; complex,
    string, datetime/timedelta, structured arrays are refused).

    Memory is bounded by what the file holds, never by what its headers claim: a
    member claiming more bytes than the file has is refused before anything is
    allocated; the arrays together may hold at most ``max_bytes`` bytes (default
    :data:`MAX_BYTES`, 4 GiB); a compressed member may inflate to at most ``max_ratio``
    times its compressed size (default :data:`MAX_RATIO`, 100; a zip bomb is refused
    before it is inflated); data is read in 1 MiB chunks. ``None`` lifts a limit.
    A missing path is FileNotFoundError, a directory IsADirectoryError.
    """
    path = checked_name(os.fspath(path), "load")
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
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as e:
        raise ValueError(f"load: {path} is not an .npz file written by nn.save ({e})") from None
    state: dict[str, np.ndarray] = {}
    budget = [math.inf if max_bytes is None else max_bytes]
    with archive:
        for info in archive.infolist():
            _check_sizes(info, st.st_size, max_ratio, f"load: {path}, member {info.filename!r}")
        _check_layout(path, archive)
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
            where = f"load: {path}, member {name!r}"
            try:
                state[key] = _read_member(archive, info, where, budget, max_bytes)
            except (OSError, EOFError, zipfile.BadZipFile, zlib.error, RuntimeError) as e:
                raise ValueError(f"load: {path} is damaged (reading {name!r}: {e})") from None
    return state


def _check_layout(path: str, archive: zipfile.ZipFile) -> None:
    """Refuse a zip whose directory does not list every member: its members must lie end
    to end from the start of the file to the directory (a damaged entry count would
    otherwise drop members silently)."""
    infos = sorted(archive.infolist(), key=lambda i: i.header_offset)
    at = 0
    with open(path, "rb") as f:
        for info in infos:
            if info.header_offset != at and not (
                at < info.header_offset <= at + 24 and _descriptor(infos, info)
            ):
                break
            f.seek(info.header_offset)
            local = f.read(30)
            if len(local) < 30 or local[:4] != b"PK\x03\x04":
                raise ValueError(
                    f"load: {path} is damaged: no member header where its directory puts "
                    f"{info.filename!r}"
                )
            name_len, extra_len = struct.unpack("<HH", local[26:30])
            at = info.header_offset + 30 + name_len + extra_len + info.compress_size
        else:
            start = getattr(archive, "start_dir", at)
            if start == at or (at < start <= at + 24 and infos and infos[-1].flag_bits & 8):
                return
    raise ValueError(
        f"load: {path} is damaged: its zip directory lists {len(infos)} members, which do "
        "not account for all of the file (a member would be dropped)"
    )


def _descriptor(infos: list[zipfile.ZipInfo], info: zipfile.ZipInfo) -> bool:
    """Whether the member before ``info`` ends with a data descriptor (up to 24 bytes)."""
    i = infos.index(info)
    return i > 0 and bool(infos[i - 1].flag_bits & 8)


def _check_sizes(
    info: zipfile.ZipInfo, file_size: int, max_ratio: float | None, where: str
) -> None:
    """Refuse a member whose zip header claims more than the file holds, or a zip bomb."""
    room = file_size - info.header_offset
    if info.compress_size > room:
        raise ValueError(
            f"{where} is truncated: its zip header claims {_size(info.compress_size)} of data, "
            f"but the file holds {_size(max(room, 0))} from there"
        )
    if info.compress_type == zipfile.ZIP_STORED:
        if info.file_size != info.compress_size:
            raise ValueError(
                f"{where} is damaged: stored uncompressed, yet its zip header gives "
                f"{info.file_size} and {info.compress_size} bytes"
            )
    elif max_ratio is not None and info.file_size > max(
        _SLACK, max_ratio * max(info.compress_size, 1)
    ):
        raise ValueError(
            f"{where} would inflate {_size(info.compress_size)} to {_size(info.file_size)} "
            f"(more than {max_ratio:g} times; a zip bomb?); pass max_ratio=None to load it"
        )


def _read_header(
    f: Any, info: zipfile.ZipInfo, where: str
) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """The checked ``.npy`` header of one member: (shape, fortran, dtype, data bytes)."""
    fmt = np.lib.format
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
    if len(shape) > _MAX_DIMS:
        raise ValueError(
            f"{where} has a bad .npy header: {len(shape)} dimensions, numpy's limit is {_MAX_DIMS}"
        )
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
    return shape, fortran, dtype, nbytes


def _read_member(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    where: str,
    budget: list[float],
    max_bytes: int | None,
) -> np.ndarray:
    with archive.open(info) as f:
        shape, fortran, dtype, nbytes = _read_header(f, info, where)
        if nbytes > budget[0]:
            raise ValueError(
                f"{where}: its {shape} {dtype} array ({_size(nbytes)}) would take the file past "
                f"max_bytes={max_bytes} ({_size(max_bytes or 0)}); pass a larger max_bytes "
                "(or None) to load it"
            )
        budget[0] -= nbytes
        try:
            buf = bytearray(nbytes)  # bounded: by the file's size (or max_ratio times it)
        except MemoryError:
            raise MemoryError(
                f"{where}: not enough memory for its {shape} {dtype} array ({_size(nbytes)})"
            ) from None
        view = memoryview(buf)
        got = 0
        # archive.open in read mode gives a ZipExtFile (typeshed says IO[bytes]): it has readinto
        reader = cast(zipfile.ZipExtFile, f)
        while got < nbytes:
            n = reader.readinto(view[got : got + _CHUNK])
            if not n:
                break
            got += n
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
