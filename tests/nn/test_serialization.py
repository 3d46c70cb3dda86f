"""save/load: exact round trips, atomic writes, refused pickles, clear errors."""

from __future__ import annotations

import os

import numpy as np
import pytest

import nn


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
    with pytest.raises(ValueError, match="pickled Python objects under 'w'"):
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
