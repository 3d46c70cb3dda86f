"""Saving and loading state dicts as ``.npz`` files: atomic writes, no pickles.

``save`` writes to a temporary file in the destination's folder and renames it into
place, so an interrupted save never leaves a truncated file where a good one was.
``load`` reads with ``allow_pickle=False``: a file holding Python objects is refused and
none of its code runs.
"""

from __future__ import annotations

import os
import secrets
import zipfile
from collections.abc import Mapping
from typing import Any

import numpy as np

from autograd_lite import Value

__all__ = ["flatten", "load", "save", "unflatten"]

SEP = "."


def flatten(state: Mapping[Any, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as one level with dotted keys: {"a": {"b": 1}} -> {"a.b": 1}.

    Lists and tuples of mappings are numbered (``param_groups.0.lr``).
    """
    flat: dict[str, Any] = {}
    stack = [(prefix, state)]
    while stack:
        pre, m = stack.pop()
        for key, value in m.items():
            name = f"{pre}{SEP}{key}" if pre else str(key)
            if isinstance(value, Mapping):
                stack.append((name, value))
            elif (
                isinstance(value, (list, tuple))
                and value
                and all(isinstance(v, Mapping) for v in value)
            ):
                stack.append((name, dict(enumerate(value))))
            else:
                flat[name] = value
    return flat


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

    The data goes to a temporary file in the same folder (created with the usual
    permissions, i.e. subject to the umask), is flushed to disk, then renamed over
    ``path``: a reader sees the old file or the new one, never a partial one. On any
    failure, interruption included, the temporary file is removed and ``path`` is left
    as it was. Only numeric data can be saved, so the file never holds a pickle.
    """
    if not isinstance(state, Mapping):
        raise TypeError(
            f"save: expected a dict (e.g. model.state_dict()), got {type(state).__name__}"
        )
    arrays = {key: _as_array(key, v) for key, v in flatten(state).items()}
    for key in _RESERVED:
        if key in arrays:
            raise ValueError(f"save: the key {key!r} is reserved by np.savez; rename it")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"save: no such folder: {folder}")
    tmp = os.path.join(folder, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, allow_pickle=False, **arrays)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path: str | os.PathLike) -> dict[str, np.ndarray]:
    """Read a state dict written by :func:`save` (flat, dotted keys), refusing pickles."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    with open(path, "rb") as f:
        magic = f.read(6)
    if magic == b"\x93NUMPY":
        raise ValueError(f"load: {path} holds a single array, not an .npz state dict from nn.save")
    if not magic.startswith(b"PK"):  # every .npz is a zip archive
        raise ValueError(f"load: {path} is not an .npz file written by nn.save")
    try:
        archive = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as e:
        raise ValueError(f"load: {path} is not an .npz file written by nn.save ({e})") from None
    state = {}
    with archive:
        for key in archive.files:
            try:
                state[key] = archive[key]
            except ValueError as e:  # an object array: loading it would unpickle
                raise ValueError(
                    f"load: {path} holds pickled Python objects under {key!r}; refusing to "
                    f"load them (allow_pickle=False) ({e})"
                ) from None
            except (OSError, zipfile.BadZipFile, EOFError) as e:
                raise ValueError(f"load: {path} is damaged (reading {key!r}: {e})") from None
    return state
