"""save/load: exact round trips, atomic writes, refused pickles, clear errors."""

from __future__ import annotations

import io
import os
import stat
import threading
import zipfile

import numpy as np
import pytest

from autograd_lite import nn
from autograd_lite.files import TMP_SUFFIX


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_round_trip_is_exact(tmp_path, dtype):
    model = nn.MLP(3, [5, 2], dtype=dtype, rng=0)
    path = tmp_path / "weights.npz"
    nn.save(model.state_dict(), path)
    loaded = nn.load(path)
    other = nn.MLP(3, [5, 2], dtype=dtype, rng=1)
    other.load_state_dict(loaded)
    for (name, p), (_, q) in zip(model.named_parameters(), other.named_parameters()):
        assert q.dtype == dtype
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    x = np.ones((2, 3))
    np.testing.assert_array_equal(model(x).data, other(x).data)


def test_nested_state_is_flattened_with_dotted_keys(tmp_path):
    nn.save({"a": {"b": np.arange(3), "c": 1.5}, "groups": [{"lr": 0.1}]}, tmp_path / "s.npz")
    state = nn.load(tmp_path / "s.npz")
    assert sorted(state) == ["a.b", "a.c", "groups.0.lr"]
    assert state["a.c"] == 1.5 and state["groups.0.lr"] == 0.1
    assert nn.serialization.unflatten(state)["a"]["b"].tolist() == [0, 1, 2]


def test_an_interrupted_save_leaves_the_old_file_and_no_litter(tmp_path, monkeypatch):
    path = tmp_path / "w.npz"
    nn.save({"w": np.ones(3)}, path)
    good = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a zip file")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        nn.save({"w": np.zeros(3)}, path)
    assert path.read_bytes() == good
    assert os.listdir(tmp_path) == ["w.npz"]


def test_a_pickle_is_refused_and_its_code_does_not_run(tmp_path):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.npz"
    np.savez(path, w=np.array([Evil()], dtype=object))
    with pytest.raises(ValueError, match=r"member 'w\.npy' holds pickled Python objects"):
        nn.load(path)
    assert not marker.exists()


def test_objects_cannot_be_saved(tmp_path):
    with pytest.raises(TypeError, match="'w' holds object data"):
        nn.save({"w": np.array([object()], dtype=object)}, tmp_path / "x.npz")
    with pytest.raises(TypeError, match="'w' holds <U"):
        nn.save({"w": "text"}, tmp_path / "x.npz")
    assert not list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("content", "pattern"),
    [
        (b"not a zip at all", "not an .npz file"),
        (b"PK\x03\x04truncated", "not an .npz file"),
    ],
)
def test_damaged_files_are_clear_errors(tmp_path, content, pattern):
    path = tmp_path / "bad.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=pattern):
        nn.load(path)


def test_a_single_array_file_and_a_missing_file(tmp_path):
    np.save(tmp_path / "one.npy", np.ones(2))
    with pytest.raises(ValueError, match="single array"):
        nn.load(tmp_path / "one.npy")
    with pytest.raises(FileNotFoundError, match="no such file"):
        nn.load(tmp_path / "missing.npz")


def test_a_failed_load_leaves_the_model_as_it_was(tmp_path):
    nn.save(nn.MLP(3, [4, 2], rng=0).state_dict(), tmp_path / "small.npz")
    model = nn.MLP(3, [5, 2], rng=1)  # a different hidden size
    before = model.state_dict()
    with pytest.raises(ValueError, match="nothing was loaded"):
        model.load_state_dict(nn.load(tmp_path / "small.npz"))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_a_saved_file_gets_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        nn.save({"w": np.ones(2)}, tmp_path / "w.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "w.npz").stat().st_mode & 0o777 == 0o644  # not a private temp file's 600


def test_reserved_keys_and_a_missing_folder_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="'allow_pickle' is reserved"):
        nn.save({"allow_pickle": np.ones(1)}, tmp_path / "x.npz")
    with pytest.raises(FileNotFoundError, match="no such folder"):
        nn.save({"w": np.ones(1)}, tmp_path / "nowhere" / "x.npz")
    assert not list(tmp_path.iterdir())


def test_the_file_is_a_plain_npz_without_pickles(tmp_path):
    model = nn.MLP(2, [3], rng=0)
    nn.save(model.state_dict(), tmp_path / "m.npz")
    with np.load(tmp_path / "m.npz", allow_pickle=False) as f:  # numpy reads it alone
        assert sorted(f.files) == ["layers.0.bias", "layers.0.weight"]
        np.testing.assert_array_equal(f["layers.0.weight"], model.layers[0].weight.data)


def test_values_and_python_floats_are_saved(tmp_path):
    n = nn.Neuron(2, rng=0)
    n.bias.data = 0.125
    nn.save({"bias": n.bias, "w": n.weight, "step": 3}, tmp_path / "n.npz")
    state = nn.load(tmp_path / "n.npz")
    assert state["bias"] == 0.125 and state["step"] == 3
    np.testing.assert_array_equal(state["w"], n.weight.data)


# --- save goes through autograd_lite.files.atomic_write --------------------------------


def test_save_uses_atomic_write(tmp_path, monkeypatch):
    calls = []
    real = nn.serialization.atomic_write

    def spy(path, write, *, who, check=None):
        calls.append((os.fspath(path), who, check is not None))
        return real(path, write, who=who, check=check)

    monkeypatch.setattr(nn.serialization, "atomic_write", spy)
    nn.save({"w": np.ones(2)}, tmp_path / "w.npz")
    assert calls == [(str(tmp_path / "w.npz"), "save", True)]  # and checks what it wrote


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions and symlinks")
def test_save_keeps_the_mode_writes_through_links_and_refuses_folders(tmp_path):
    path = tmp_path / "w.npz"
    nn.save({"w": np.ones(2)}, path)
    os.chmod(path, 0o600)
    nn.save({"w": np.zeros(2)}, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    link = tmp_path / "latest.npz"
    link.symlink_to("w.npz")
    nn.save({"w": np.full(2, 7.0)}, link)
    assert link.is_symlink() and nn.load(path)["w"].tolist() == [7.0, 7.0]
    (tmp_path / "dir.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"^save: .*dir\.npz"):
        nn.save({"w": np.ones(2)}, tmp_path / "dir.npz")
    assert not [n for n in os.listdir(tmp_path) if n.endswith(TMP_SUFFIX)]


# --- keys that collide once flattened -------------------------------------------------


@pytest.mark.parametrize(
    ("state", "first", "second", "flat"),
    [
        ({"a": {"b": 1}, "a.b": 2}, "state['a.b']", "state['a']['b']", "a.b"),
        ({1: np.ones(1), "1": np.zeros(1)}, "state['1']", "state[1]", "1"),
        ({"g": [{"lr": 0.1}], "g.0.lr": 0.2}, "state['g'][0]['lr']", "state['g.0.lr']", "g.0.lr"),
    ],
)
def test_keys_that_collide_once_flattened_are_refused(tmp_path, state, first, second, flat):
    with pytest.raises(ValueError) as info:
        nn.save(state, tmp_path / "x.npz")
    msg = str(info.value)
    assert msg.startswith("save: ") and first in msg and second in msg and repr(flat) in msg
    assert not list(tmp_path.iterdir())
    with pytest.raises(ValueError, match="both become"):
        nn.serialization.flatten(state)


# --- load: hostile and damaged files ---------------------------------------------------


def npy_header(shape, descr="<f8", version=1, fortran=False) -> bytes:
    d = f"{{'descr': {descr!r}, 'fortran_order': {fortran}, 'shape': {shape!r}, }}".encode()
    size_len = 2 if version == 1 else 4
    pad = (64 - (6 + 2 + size_len + len(d) + 1) % 64) % 64
    d += b" " * pad + b"\n"
    return b"\x93NUMPY" + bytes([version, 0]) + len(d).to_bytes(size_len, "little") + d


def write_npz(path, members: dict[str, bytes]) -> None:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as z:
        for name, data in members.items():
            z.writestr(name, data)


def test_a_header_declaring_terabytes_is_refused_before_allocating(tmp_path):
    path = tmp_path / "huge.npz"
    shape = (1_000_000, 1_000_000)  # 8 TB of float64
    write_npz(
        path, {"w.npy": npy_header(shape) + b"\0" * 64, "b.npy": npy_header((1,)) + b"\0" * 8}
    )
    with pytest.raises(ValueError) as info:
        nn.load(path)
    msg = str(info.value)
    assert str(path) in msg and "'w.npy'" in msg and "8.0 TB" in msg and "truncated" in msg


@pytest.mark.parametrize(
    ("data", "pattern"),
    [
        (npy_header((4,)) + b"\0" * 8, r"member 'w.npy' is truncated"),
        (npy_header((1,)) + b"\0" * 16, r"member 'w.npy' has trailing data"),
        (b"\x93NUMPY\x01\x00\x10\x00{'descr': oops}", r"member 'w.npy' has a bad .npy header"),
        (b"\x93NUMPY\x07\x00" + b"\0" * 8, r"member 'w.npy' has a bad .npy header"),
        (npy_header((-1,)) + b"\0" * 8, r"member 'w.npy' has a bad .npy header"),
        (b"not an npy file at all", r"member 'w.npy' has a bad .npy header"),
        (b"", r"member 'w.npy' has a bad .npy header"),
    ],
)
def test_truncated_members_and_bad_headers_have_their_own_messages(tmp_path, data, pattern):
    path = tmp_path / "bad.npz"
    write_npz(path, {"w.npy": data})
    with pytest.raises(ValueError, match=pattern) as info:
        nn.load(path)
    assert str(path) in str(info.value) and "pickled" not in str(info.value)


def test_a_member_that_is_not_npy_is_refused(tmp_path):
    path = tmp_path / "extra.npz"
    buf = io.BytesIO()
    np.save(buf, np.ones(2))
    write_npz(path, {"w.npy": buf.getvalue(), "notes.txt": b"hello"})
    with pytest.raises(ValueError, match=r"holds 'notes.txt', which is not an .npy array") as e:
        nn.load(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    "array",
    [
        np.array([1 + 2j, 3j]),
        np.array(["text", "more"]),
        np.array([b"bytes"]),
        np.array([1, 2], dtype="m8[s]"),
        np.array(["2024-01-01"], dtype="M8[D]"),
        np.zeros(2, dtype=[("a", "<f8"), ("b", "<i4")]),
        np.zeros(2, dtype="V8"),
    ],
    ids=["complex", "unicode", "bytes", "timedelta", "datetime", "structured", "void"],
)
def test_only_real_numeric_arrays_load(tmp_path, array):
    path = tmp_path / "odd.npz"
    np.savez(path, good=np.ones(2), w=array)
    with pytest.raises(ValueError, match=r"member 'w.npy' holds .* data; only real float") as e:
        nn.load(path)
    assert str(path) in str(e.value)


@pytest.mark.parametrize(
    "dtype", [np.bool_, np.int8, np.uint16, ">i4", np.int64, np.float16, ">f8"]
)
def test_numeric_arrays_of_every_kind_load_as_numpy_would(tmp_path, dtype):
    arrays = {
        "c": np.arange(12).reshape(3, 4).astype(dtype),
        "f": np.asfortranarray(np.arange(12).reshape(3, 4).astype(dtype)),
        "s": np.array(5, dtype=dtype),
        "e": np.zeros((0, 3), dtype=dtype),
    }
    nn.save(arrays, tmp_path / "a.npz")
    state = nn.load(tmp_path / "a.npz")
    with np.load(tmp_path / "a.npz") as ref:
        for key, value in arrays.items():
            assert state[key].dtype == ref[key].dtype == value.dtype
            assert state[key].shape == value.shape
            np.testing.assert_array_equal(state[key], value)
            assert state[key].flags.writeable
    assert state["f"].flags.f_contiguous


def test_loading_a_directory_is_a_clear_error(tmp_path):
    (tmp_path / "weights.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=r"^load: .*weights.npz is a directory"):
        nn.load(tmp_path / "weights.npz")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_loading_a_fifo_does_not_block(tmp_path):
    fifo = tmp_path / "pipe.npz"
    os.mkfifo(fifo)
    outcome = []

    def load():
        try:
            nn.load(fifo)
        except Exception as e:
            outcome.append(e)

    thread = threading.Thread(target=load, daemon=True)
    thread.start()
    thread.join(timeout=10)
    if thread.is_alive():  # blocked opening the FIFO: give it a writer (and EOF) to free it
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(timeout=10)
        pytest.fail("nn.load opened the FIFO and blocked")
    (error,) = outcome
    assert isinstance(error, ValueError) and "not a regular file" in str(error)


def test_a_failed_load_changes_nothing(tmp_path):
    model = nn.MLP(2, [3], rng=0)
    nn.save(model.state_dict(), tmp_path / "m.npz")
    before = (tmp_path / "m.npz").read_bytes()
    path = tmp_path / "half.npz"  # first member fine, the second damaged
    with zipfile.ZipFile(tmp_path / "m.npz") as z:
        members = {n: z.read(n) for n in z.namelist()}
    members["layers.0.weight.npy"] = members["layers.0.weight.npy"][:-3]
    write_npz(path, members)
    state_before = model.state_dict()
    with pytest.raises(ValueError, match="truncated"):
        model.load_state_dict(nn.load(path))
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value, state_before[name])
    assert (tmp_path / "m.npz").read_bytes() == before
