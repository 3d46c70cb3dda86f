"""save/load under hostile input: keys, lying headers, zip bombs, byte flips, full disks.

Every outcome is a correct result or one clear error (ValueError/TypeError/OSError)
naming the file or key; a failed save keeps the old file, a failed load the old model.
"""

from __future__ import annotations

import errno
import os
import random
import struct
import time
import tracemalloc
import zipfile

import numpy as np
import pytest

from autograd_lite import nn
from autograd_lite.nn.serialization import MAX_KEY_BYTES


def _model() -> nn.Module:
    return nn.MLP(3, [4, 2], rng=0)


def _same(a: dict, b: dict) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and np.array_equal(a[k], b[k]) for k in a
    )


# ---------------------------------------------------------------- keys (item 1)


@pytest.mark.parametrize(
    ("key", "pattern"),
    [
        ("a\x00b", r"control character '\\x00'"),
        ("a\nb", "control character"),
        ("x" * 70_000, f"70000 bytes long in UTF-8, at most {MAX_KEY_BYTES}"),
        ("a\ud800b", "lone surrogate"),
        ("../../x", "not paths"),
        ("/etc/x", "not paths"),
        ("a\\b", "not paths"),
        ("", "empty"),
        ("file", "reserved"),
    ],
    ids=[
        "nul",
        "newline",
        "70000",
        "surrogate",
        "dotdot",
        "absolute",
        "backslash",
        "empty",
        "file",
    ],
)
def test_a_hostile_key_is_refused_by_name_and_the_good_file_is_kept(tmp_path, key, pattern):
    path = tmp_path / "w.npz"
    nn.save(_model().state_dict(), path)
    good = path.read_bytes()
    with pytest.raises(ValueError, match=pattern) as info:
        nn.save({key: np.ones(2), "ok": np.zeros(1)}, path)
    assert str(info.value).startswith("save: ") and repr(key)[:20] in str(info.value)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["w.npz"]


def test_a_nul_in_a_module_dict_key_is_refused_before_writing(tmp_path):
    path = tmp_path / "w.npz"
    nn.save(_model().state_dict(), path)
    good = path.read_bytes()
    model = nn.ModuleDict({"a\x00b": nn.Linear(2, 2, rng=0)})
    with pytest.raises(ValueError, match=r"'a\\x00b\.weight'"):
        nn.save(model.state_dict(), path)
    assert path.read_bytes() == good
    nn.load(path)  # still the good file


def test_keys_equal_once_normalised_are_refused(tmp_path):
    with pytest.raises(ValueError, match="Unicode normalisation"):
        nn.save({"caf\u00e9": np.ones(1), "cafe\u0301": np.ones(1)}, tmp_path / "w.npz")
    assert os.listdir(tmp_path) == []


def test_a_written_file_the_loader_would_refuse_never_replaces_the_old_one(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    nn.save({"w": np.ones(3)}, path)
    good = path.read_bytes()

    def wrong_savez(f, allow_pickle=False, **arrays):  # writes a member under another name
        with zipfile.ZipFile(f, "w") as z:
            z.writestr("x.npy", b"")

    monkeypatch.setattr(np, "savez", wrong_savez)
    with pytest.raises(ValueError, match=r"save: .*w\.npz: the file written would not load"):
        nn.save({"w": np.zeros(3)}, path)
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["w.npz"]


def test_fuzz_hostile_keys(tmp_path):
    """Random keys from a hostile alphabet: each saves and loads back exactly, or is
    refused with a ValueError naming it, the old file kept and no temp left."""
    rng = random.Random(24)
    alphabet = ["a", "b", ".", "/", "\\", "\x00", "\x01", "\x7f", "\ud800", "é", "e\u0301"]
    alphabet += [" ", "..", "~", "%", "\u202e", "\U0001f600", "file", "allow_pickle"]
    path = tmp_path / "w.npz"
    nn.save({"start": np.ones(1)}, path)
    for _ in range(150):
        key = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
        if rng.random() < 0.05:
            key = "k" * rng.choice([MAX_KEY_BYTES, MAX_KEY_BYTES + 1, 70_000])
        before = path.read_bytes()
        state = {key: np.arange(3.0), "other": np.ones(1)}
        try:
            nn.save(state, path)
        except ValueError as e:
            assert str(e).startswith("save: ") and repr(key)[:20] in str(e), (key, e)
            assert path.read_bytes() == before
        else:
            assert _same(nn.load(path), state), key
        assert os.listdir(tmp_path) == ["w.npz"], key


# ------------------------------------------------------- a full disk (item 5)


def test_a_full_disk_is_an_oserror_naming_save_and_the_path(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    nn.save({"w": np.ones(3)}, path)
    good = path.read_bytes()

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(OSError) as info:
        nn.save({"w": np.zeros(3)}, path)
    assert info.value.errno == errno.ENOSPC
    msg = str(info.value)
    assert msg.startswith("save: ") and str(path) in msg and "No space left" in msg
    monkeypatch.undo()
    assert path.read_bytes() == good and os.listdir(tmp_path) == ["w.npz"]


# ------------------------------------------------ memory and time (item 2)


def _peak(fn) -> tuple[int, float, BaseException | None]:
    tracemalloc.start()
    t = time.perf_counter()
    error = None
    try:
        fn()
    except BaseException as e:  # returned to the caller
        error = e
    seconds = time.perf_counter() - t
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak, seconds, error


def _claim(data: bytes, size: int) -> bytes:
    """A one-member zip whose headers (local and central) claim ``size`` bytes of data."""
    out = bytearray(data)
    local = out.find(b"PK\x03\x04")
    struct.pack_into("<II", out, local + 18, size, size)
    central = out.find(b"PK\x01\x02")
    struct.pack_into("<II", out, central + 20, size, size)
    return bytes(out)


def test_a_small_file_claiming_2_gb_allocates_nothing_and_fails_fast(tmp_path):
    path = tmp_path / "liar.npz"
    nn.save({"w": np.ones(2)}, path)
    path.write_bytes(_claim(path.read_bytes(), 2_000_000_000))
    assert path.stat().st_size < 400
    peak, seconds, error = _peak(lambda: nn.load(path))
    assert isinstance(error, ValueError), error
    assert str(path) in str(error) and "'w.npy'" in str(error) and "truncated" in str(error)
    assert peak < 5_000_000 and seconds < 1.0


def _bomb(path, nbytes: int) -> None:
    header = np.lib.format.header_data_from_array_1_0(np.zeros(0))
    header["shape"] = (nbytes // 8,)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z, z.open("w.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, header)
        chunk = b"\0" * (1 << 20)
        for _ in range(nbytes >> 20):
            f.write(chunk)


def test_a_zip_bomb_is_refused_before_it_inflates(tmp_path):
    path = tmp_path / "bomb.npz"
    _bomb(path, 64 << 20)  # 64 MiB of zeros in about 64 KB
    assert path.stat().st_size < 200_000
    peak, seconds, error = _peak(lambda: nn.load(path))
    assert isinstance(error, ValueError), error
    assert str(path) in str(error) and "zip bomb" in str(error) and "max_ratio" in str(error)
    assert peak < 5_000_000 and seconds < 1.0
    assert nn.load(path, max_ratio=None)["w"].shape == (8 << 20,)  # the limit is overridable


def test_max_bytes_caps_the_total_and_is_overridable(tmp_path):
    path = tmp_path / "w.npz"
    state = {"a": np.ones(100), "b": np.ones(100)}  # 800 bytes each
    nn.save(state, path)
    assert _same(nn.load(path, max_bytes=1600), state)
    with pytest.raises(ValueError, match=r"'b\.npy'.*max_bytes=1000") as info:
        nn.load(path, max_bytes=1000)
    assert str(path) in str(info.value)
    assert _same(nn.load(path, max_bytes=None), state)


# ---------------------------------------------- clear errors for bad headers (item 5)


def test_a_zip_version_flip_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "w.npz"
    nn.save({"w": np.ones(2)}, path)
    data = bytearray(path.read_bytes())
    central = data.find(b"PK\x01\x02")
    data[central + 6] = 245  # "version needed to extract": 24.5
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=r"zip file version 24\.5") as info:
        nn.load(path)
    assert not isinstance(info.value, NotImplementedError) and str(path) in str(info.value)


def test_a_70_dimension_header_is_a_value_error_naming_the_file(tmp_path):
    path = tmp_path / "w.npz"
    header = np.lib.format.header_data_from_array_1_0(np.zeros(1))
    header["shape"] = (1,) * 70
    import io

    buf = io.BytesIO()
    np.lib.format.write_array_header_1_0(buf, header)
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("w.npy", buf.getvalue() + b"\0" * 8)
    with pytest.raises(ValueError, match="70 dimensions") as info:
        nn.load(path)
    assert str(path) in str(info.value) and "'w.npy'" in str(info.value)


def test_fuzz_byte_flips_of_a_saved_model(tmp_path):
    """A few hundred single-byte flips of a saved model (fixed seed): each file loads to
    exactly the saved state, or is refused with a ValueError/OSError naming it, and the
    model it was loaded into is left as it was."""
    source = _model()
    path = tmp_path / "m.npz"
    nn.save(source.state_dict(), path)
    good = path.read_bytes()
    saved = nn.load(path)
    rng = random.Random(2024)
    target = nn.MLP(3, [4, 2], rng=1)
    before = {k: v.copy() for k, v in target.state_dict().items()}
    outcomes = {"loaded": 0, "refused": 0}
    for _ in range(300):
        data = bytearray(good)
        i = rng.randrange(len(data))
        data[i] ^= 1 << rng.randrange(8) if rng.random() < 0.7 else rng.randrange(1, 256)
        path.write_bytes(bytes(data))
        try:
            state = nn.load(path)
        except (ValueError, OSError) as e:
            assert str(path) in str(e), (i, e)
            assert "\n" not in str(e)
            outcomes["refused"] += 1
            with pytest.raises((ValueError, OSError)):
                target.load_state_dict(nn.load(path))
            assert _same(target.state_dict(), before)
            continue
        assert _same(state, saved), i  # never a silently different model
        outcomes["loaded"] += 1
    assert outcomes["loaded"] > 0 and outcomes["refused"] > 100


def test_loading_into_read_only_arrays_is_all_or_nothing():
    src = nn.MLP(3, [4, 2], rng=0).state_dict()
    m = nn.MLP(3, [4, 2], rng=1)
    w = np.array(m.layers[1].weight.data)
    w.flags.writeable = False  # as np.load(mmap_mode="r") or np.broadcast_to give
    m.layers[1].weight.data = w
    m.load_state_dict(src)  # the read-only parameter gets a writable copy
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, src[k])
    assert m.layers[1].weight.data.flags.writeable

    bn = nn.Sequential(nn.Linear(3, 3, rng=0), nn.BatchNorm1d(3))
    state = {k: v + 1.0 for k, v in bn.state_dict().items()}
    before = {k: v.copy() for k, v in bn.state_dict().items()}
    bn[1].running_mean.flags.writeable = False  # a buffer: refused, nothing changed
    with pytest.raises(ValueError, match=r"'1\.running_mean': the buffer is a read-only array"):
        bn.load_state_dict(state)
    for k, v in bn.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
