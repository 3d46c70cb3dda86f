"""Every example reproduces its seed's key numbers (at reduced sizes) and answers --help."""

from __future__ import annotations

import gzip
import itertools
import os
import shutil
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
sys.path.insert(0, str(EXAMPLES))

import add_neuron  # noqa: E402
import backprop_by_hand  # noqa: E402
import custom_op  # noqa: E402
import gradient_descent  # noqa: E402
import parity  # noqa: E402
import trapezoid  # noqa: E402

SCRIPTS = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))


def test_backprop_by_hand_reproduces_seed_003(tmp_path):
    result = backprop_by_hand.run(eta=0.03, out=str(tmp_path))
    assert result["locals"] == [8.0, 0.5, 1.0, 1.5, 0.5, 4.0]  # the post's eq. 6-8 values
    assert result["grad"] == 40.0
    assert result["new_weight"] == pytest.approx(0.8)
    assert result["new_output"] == pytest.approx(4.0)
    assert result["graph"] == str(tmp_path / "backprop_by_hand.svg")
    assert "<svg" in (tmp_path / "backprop_by_hand.svg").read_text()


def test_gradient_descent_prints_seed_002s_step_table():
    post = """Step:  0, (a, b): (4.0, 4.0) Error: 200.0
Step:  1, (a, b): (1.6, 1.6) Error: 32.0
Step:  2, (a, b): (0.64, 0.64) Error: 5.12
Step:  3, (a, b): (0.26, 0.26) Error: 0.8192
Step:  4, (a, b): (0.1, 0.1) Error: 0.13107
Step:  5, (a, b): (0.041, 0.041) Error: 0.020972
Step:  6, (a, b): (0.016, 0.016) Error: 0.0033554"""  # copied from the post
    assert gradient_descent.run() == post.splitlines()


def test_add_neuron_is_exact_after_one_epoch_without_the_regulariser():
    result = add_neuron.train(
        rows=2_000, epochs=1, weight_decay=0.0, test_rows=5_000, verbose=False
    )
    assert result["accuracies"] == [1.0]
    for (a, b), got in zip(add_neuron.DEMO, result["after"]):
        assert abs(got - (a + b)) <= (a + b) * add_neuron.TOLERANCE
    assert result["before"][1] != pytest.approx(3072.0, rel=1e-3)  # it did learn


def test_the_posts_regulariser_pushes_the_weights_above_one():
    """w -= lr * (grad - w) is weight decay -1: the weights settle at about 1 + 1/lambda."""
    result = add_neuron.train(rows=2_000, epochs=2, weight_decay=-1.0, verbose=False)
    X, _ = add_neuron.nn.datasets.addition(2_000, 0.0, add_neuron.HIGH, rng=add_neuron.SEED)
    lam = np.linalg.eigvalsh(X.T @ X / len(X)).max()
    assert np.all(result["weights"] > 1.0)
    assert np.all(result["weights"] - 1.0 < 3.0 / lam)


def test_with_the_posts_regulariser_the_accuracy_climbs_to_100_percent():
    """The post's curve: well under 100% after epoch 1, rising every epoch, 100% by epoch 6."""
    result = add_neuron.train(weight_decay=-1.0, epochs=6, test_rows=5_000, verbose=False)
    acc = result["accuracies"]
    assert acc[0] < 0.6
    assert all(a < b for a, b in itertools.pairwise(acc))
    assert acc[5] == 1.0
    assert np.all(result["weights"] > 1.0)  # settled above 1, as the post's final demo


def test_without_the_decaying_learning_rate_the_climb_stalls():
    result = add_neuron.train(
        weight_decay=-1.0, epochs=3, test_rows=5_000, decay=False, verbose=False
    )
    acc = result["accuracies"]
    assert acc[0] < 0.6 and acc[-1] == pytest.approx(acc[0], abs=0.02)


def test_add_neuron_large_learning_rate_is_caught_by_the_nan_guard():
    blowup = add_neuron.explode(lr=1e-3)
    assert blowup["message"].startswith("detect_anomaly:") and "non-finite" in blowup["message"]
    assert "add_neuron.py" in blowup["message"]
    assert blowup["factor"] > 2 and 1 < blowup["step"] < 500
    assert add_neuron.explode(lr=add_neuron.LR)["message"] == ""  # the post's rate is stable


def test_add_neuron_run_prints_the_demo_and_both_regimes(capsys):
    results = add_neuron.run(rows=500, epochs=1)
    out = capsys.readouterr().out
    assert set(results) == {-1.0, 0.0, "explode"}
    assert "1024 + 2048 = 3072" in out and "correct within -/+0.01%" in out
    assert "step " in out and "detect_anomaly" in out


def test_parity_reaches_100_percent_and_the_last_bit_dominates(tmp_path):
    result = parity.run(epochs=20, out=str(tmp_path))
    assert result["accuracy"] == 1.0
    assert result["strongest_bit"] == 9
    assert result["errors"][-1] < result["errors"][0]


def test_digits_beats_a_floor_and_reloads_exactly(tmp_path):
    pytest.importorskip("sklearn")
    import digits

    result = digits.run(epochs=3, out=str(tmp_path))
    assert result["accuracy"] > 0.9
    assert result["reloaded_accuracy"] == result["accuracy"]
    assert (tmp_path / "digits_weights.npz").exists()


def _write_idx(path, array):
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">i", d) for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_digits_reads_mnist_idx_files_with_the_posts_network(tmp_path):
    import digits

    rng = np.random.default_rng(0)
    for kind, n in (("train", 64), ("t10k", 16)):
        labels = rng.integers(0, 10, n)
        images = np.zeros((n, 28, 28))
        images[np.arange(n), labels, :] = 255  # a bright row whose index is the digit
        _write_idx(tmp_path / f"{kind}-images-idx3-ubyte.gz", images)
        _write_idx(tmp_path / f"{kind}-labels-idx1-ubyte.gz", labels)
    result = digits.run(epochs=15, mnist=str(tmp_path), out=None)
    assert result["model"].layers[0].weight.shape == (784, 32)
    assert result["accuracy"] > 0.8  # the toy images are easy; the code path is the point


def test_trapezoid_beats_the_posts_rmse_in_a_fraction_of_the_epochs():
    result = trapezoid.run(epochs=150, compare=True, out=None)
    assert result["rmse"] < trapezoid.POST_RMSE
    assert result["plain_rmse"] > result["rmse"]


def test_custom_op_passes_both_gradient_checks_and_trains():
    result = custom_op.run(epochs=40, out=None)
    assert result["gradcheck"] and result["gradgradcheck"]
    assert result["rmse"] < 0.2


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_example_answers_help(script):
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("usage:") and "--help" in proc.stdout


def test_every_seed_example_exists():
    expected = {
        "backprop_by_hand.py",
        "add_neuron.py",
        "gradient_descent.py",
        "parity.py",
        "digits.py",
        "trapezoid.py",
        "custom_op.py",
    }
    assert expected <= set(SCRIPTS)


QUICK_OUTPUTS = {
    "backprop_by_hand.py": ["backprop_by_hand.svg"],
    "custom_op.py": ["custom_op_graph.svg"],
    "digits.py": ["digits_weights.npz"],
    "cnn_digits.py": ["cnn_digits_weights.npz"],
}


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_example_runs_quick_into_out(script, tmp_path):
    """The command line itself: --quick runs, exits 0, and writes into ./out/ only."""
    if script in ("digits.py", "cnn_digits.py"):
        pytest.importorskip("sklearn")
    if script in ("backprop_by_hand.py", "custom_op.py") and not shutil.which("dot"):
        pytest.skip("Graphviz 'dot' is not installed")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip()
    for name in QUICK_OUTPUTS.get(script, []):
        assert (tmp_path / "out" / name).exists()
    assert {p.name for p in tmp_path.iterdir()} <= {"out"}  # nothing outside ./out/


@pytest.mark.parametrize("script", SCRIPTS)
def test_every_example_takes_out_dir_as_docs_examples_md_says(script):
    """docs/examples.md: every script takes --out DIR (and '' for no files)."""
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES,
    )
    assert "--out OUT" in proc.stdout, f"{script} does not take --out"


@pytest.mark.parametrize("script", ["gradient_descent.py", "add_neuron.py"])
def test_the_scripts_that_refused_out_write_their_plot_there(script, tmp_path):
    pytest.importorskip("matplotlib")
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", "plots"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    png = {
        "gradient_descent.py": "gradient_descent.png",
        "add_neuron.py": "add_neuron_accuracy.png",
    }
    assert [p.name for p in (tmp_path / "plots").iterdir()] == [png[script]]
    assert {p.name for p in tmp_path.iterdir()} == {"plots"}


def test_digits_reaches_exactly_the_score_the_docs_state():
    """The MLP's score is one number everywhere: 294 of 297 (98.99%), seed 0, float64."""
    pytest.importorskip("sklearn")
    import digits

    assert round(digits.run(out=None)["accuracy"] * 297) == 294
    root = EXAMPLES.parent
    texts = {p.name: p.read_text() for p in [root / "README.md", *(root / "docs").glob("*.md")]}
    assert "**98.99%** (294 of the 297 test images)" in texts["examples.md"]
    for name, text in texts.items():
        for stale in ("98.9%", "99.0%", "99.3%"):
            assert stale not in text, f"{name} still says {stale}"


def test_docs_state_the_time_of_every_script_and_the_demo():
    """docs/examples.md's time table names every script; the demo's --help says what the
    README says (a few seconds: 2.5 s measured), not 'in a minute'."""
    docs = (EXAMPLES.parent / "docs" / "examples.md").read_text()
    table = docs.split("| script | full run | `--quick` |")[1].split("\n\n")[0]
    for script in SCRIPTS:
        assert f"`{script}`" in table, f"docs/examples.md states no time for {script}"
    proc = subprocess.run(
        [sys.executable, "-m", "autograd_lite", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=EXAMPLES.parent,
    )
    text = " ".join(proc.stdout.split())  # argparse wraps the lines
    assert "in a few seconds" in text and "in a minute" not in text


@pytest.mark.parametrize("script", ["add_neuron.py", "cnn_digits.py"])
def test_quick_takes_the_few_seconds_the_docs_state(script, tmp_path):
    """--quick of the two long scripts: about 3-4 s of CPU (10 s leaves room for load)."""
    resource = pytest.importorskip("resource")
    if script == "cnn_digits.py":
        pytest.importorskip("sklearn")
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--quick", "--out", ""],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
        env={**os.environ, "TQDM_DISABLE": "1"},
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    assert proc.returncode == 0, proc.stderr
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    assert cpu < 10.0, f"{script} --quick took {cpu:.1f} s of CPU"
