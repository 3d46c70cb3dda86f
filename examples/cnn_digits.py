"""A small convolutional network on the 8x8 digits, next to the MLP of digits.py.

Three 3x3 convolutions (16, 32 and 64 channels, each followed by batch normalisation and
ReLU; 2x2 max pooling after the second and the third), dropout and one linear layer: a
LeNet-style network built from ``nn.Conv2d``, ``nn.BatchNorm2d``, ``nn.MaxPool2d``,
``nn.Flatten``, ``nn.Dropout`` and ``nn.Linear``. It trains on the same 1,500 of
scikit-learn's 1,797 8x8 digits as ``digits.py`` (and is tested on the same 297), with
Adam, a cosine learning-rate schedule and random one-pixel shifts of the training
images, in float64 with seed 0 for the split, the weights, the batches, the shifts and
dropout. It reaches 98.99% (294 of the 297 test images), as the MLP of ``digits.py``
(trained too, for comparison) does: on this small test set the two tie. The run is the
same on every machine: in float64 the weights trained with different BLAS kernels
(OpenBLAS's SkylakeX, Haswell, Sandybridge: other summation orders) differ by about
1e-8 of their size, and the script prints its closest call, the smallest gap on the
test set between the true class's logit and the best other one (0.12), so no prediction
hinges on that rounding. It takes about 20 s on a quiet 2-core machine (``--quick``: 2
epochs, no MLP, about 4 s). With ``--mnist DIR`` it reads real MNIST from the four IDX files in DIR
(``nn.datasets.load_mnist``; nothing is downloaded); that is about 10x the work per image
and 40x the images, so count minutes per epoch. The weights (with BatchNorm's running
statistics) are saved with ``nn.save`` and reloaded into a fresh model; the loss curve
and the learned first-layer filters are saved as PNGs.

    python examples/cnn_digits.py [--epochs 20] [--mnist DIR] [--out out] [--quick]
"""

from __future__ import annotations

import os

# Small matrices: a multi-threaded BLAS spends more time synchronising than computing
# (5x slower steps on a busy 2-core machine). Set before numpy is imported.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import io  # noqa: E402
import math  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402

import numpy as np  # noqa: E402
from _common import log, out_path, progress, save_plot  # noqa: E402

import autograd_lite as ag  # noqa: E402
import nn  # noqa: E402

DTYPE = np.float64  # float32 is faster, but BLAS rounding could then flip a prediction
SEED = 0


def load(mnist: str | None, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_test, y_test), images as (n, 1, side, side) DTYPE."""
    if mnist:
        X_train, y_train = nn.datasets.load_mnist(mnist, "train")
        X_test, y_test = nn.datasets.load_mnist(mnist, "test")
    else:  # the split of digits.py: the same seed, the same 1,500 and 297 images
        X, y = nn.datasets.load_digits()
        order = np.random.default_rng(seed).permutation(len(X))
        X_train, y_train, X_test, y_test = (
            X[order[:1500]],
            y[order[:1500]],
            X[order[1500:]],
            y[order[1500:]],
        )
    side = math.isqrt(X_train.shape[1])
    return (
        X_train.reshape(-1, 1, side, side).astype(DTYPE),
        y_train,
        X_test.reshape(-1, 1, side, side).astype(DTYPE),
        y_test,
    )


def make_model(side: int, seed: int) -> nn.Sequential:
    """conv-bn-relu, conv-bn-relu-pool, conv-bn-relu-pool, dropout, linear."""
    rng = np.random.default_rng(seed)

    def block(c_in: int, c_out: int) -> list[nn.Module]:
        return [
            nn.Conv2d(c_in, c_out, 3, padding=1, rng=rng, dtype=DTYPE),
            nn.BatchNorm2d(c_out, dtype=DTYPE),
            nn.ReLU(),
        ]

    return nn.Sequential(
        *block(1, 16),
        *block(16, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.3, rng=rng),
        nn.Linear(64 * (side // 4) ** 2, 10, rng=rng, dtype=DTYPE),
    )


def shift(images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The batch moved by up to one pixel in each direction (a new random move per batch)."""
    dy, dx = rng.integers(-1, 2, size=2)
    out = np.zeros_like(images)
    h, w = images.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = images[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def logits(model: nn.Module, X: np.ndarray, batch: int = 500) -> np.ndarray:
    """The model's outputs in evaluation mode (running statistics, no dropout), in batches."""
    was_training = model.training
    model.eval()
    with ag.no_grad():
        out = np.concatenate([model(X[i : i + batch]).data for i in range(0, len(X), batch)])
    model.train(was_training)
    return out


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """Test accuracy: the fraction of images whose largest logit is the true class."""
    return float(np.mean(logits(model, X).argmax(axis=1) == y))


def closest_call(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    """min over images of |z_true - max_{k != true} z_k|: how far the nearest prediction is
    from flipping (a rounding difference smaller than this cannot change the accuracy)."""
    z = logits(model, X)
    rows = np.arange(len(y))
    true = z[rows, y].copy()
    z[rows, y] = -np.inf
    return float(np.min(np.abs(true - z.max(axis=1))))


def mlp_accuracy(seed: int) -> float:
    """Test accuracy of digits.py's MLP after its default 20 epochs (its output hidden)."""
    import digits

    with contextlib.redirect_stdout(io.StringIO()):
        return digits.run(epochs=20, seed=seed, out=None)["accuracy"]


def run(
    epochs: int = 20,
    mnist: str | None = None,
    batch_size: int = 32,
    lr: float = 3e-3,
    seed: int = SEED,
    out: str | None = "out",
    max_train: int | None = None,
    augment: bool = True,
    compare: bool = True,
) -> dict:
    X_train, y_train, X_test, y_test = load(mnist, seed)
    if max_train:
        X_train, y_train = X_train[:max_train], y_train[:max_train]
    side = X_train.shape[-1]
    print(f"{len(X_train):,} training and {len(X_test):,} test images of {side}x{side} pixels")
    model = make_model(side, seed)
    opt = nn.optim.Adam(model.parameters(), lr=lr)
    schedule = nn.optim.LambdaLR(opt, lambda e: 0.5 * (1.0 + math.cos(math.pi * e / epochs)))
    rng = np.random.default_rng(seed)
    losses, accuracies = [], []
    start = time.perf_counter()
    for epoch in progress(range(epochs), "cnn", total=epochs):
        total = 0.0
        for xb, yb in nn.data.batches(X_train, y_train, batch_size, rng=rng):
            if augment:
                xb = shift(xb, rng)
            loss = nn.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        schedule.step()
        losses.append(total / len(X_train))
        accuracies.append(accuracy(model, X_test, y_test))
        log(
            f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}, test accuracy {accuracies[-1]:.4f}"
        )
    seconds = time.perf_counter() - start
    acc = accuracies[-1] if accuracies else accuracy(model, X_test, y_test)
    where = "MNIST" if mnist else "the 8x8 digits"
    print(f"test accuracy {acc:.4f} on {where} after {epochs} epochs ({seconds:.1f} s of training)")
    result: dict = {"accuracy": acc, "losses": losses, "accuracies": accuracies, "model": model}
    result["seconds"] = seconds
    result["closest_call"] = closest_call(model, X_test, y_test)
    print(
        f"closest call on the test set: {result['closest_call']:.3g} between the true "
        "logit and the best other (BLAS kernels change the weights by about 1e-8)"
    )
    if compare and not mnist:
        result["mlp_accuracy"] = mlp_accuracy(seed)
        mlp = result["mlp_accuracy"]
        verdict = "beats" if acc > mlp else ("ties with" if acc == mlp else "does not beat")
        print(f"the CNN {verdict} the MLP of digits.py: {acc:.4f} vs {mlp:.4f}")

    if out:
        weights = out_path("cnn_digits_weights.npz", out)
        nn.save(model.state_dict(), weights)  # BatchNorm's running statistics included
        fresh = make_model(side, seed + 1)
        fresh.load_state_dict(nn.load(weights))
        result["reloaded_accuracy"] = accuracy(fresh, X_test, y_test)
        print(
            f"weights saved to {weights}; reloaded into a fresh model: test accuracy "
            f"{result['reloaded_accuracy']:.4f}"
        )

        def draw_loss(plt):
            x = range(1, len(losses) + 1)
            plt.plot(x, losses, marker="o", label="training loss")
            plt.gca().xaxis.get_major_locator().set_params(integer=True)
            plt.xlabel("epoch")
            plt.ylabel("training loss (cross-entropy)")
            plt.legend(loc="center left")
            plt.twinx().plot(x, accuracies, color="tab:orange", marker="s", label="test accuracy")
            plt.ylabel("test accuracy")
            plt.legend(loc="center right")
            plt.title(f"CNN on {where}: test accuracy {acc:.1%}")

        result["plot"] = save_plot(draw_loss, out_path("cnn_digits_loss.png", out))
        filters = model[0].weight.data[:, 0]  # (16, 3, 3): the first layer's filters
        scale = float(np.abs(filters).max())

        def draw_filters(plt):
            fig = plt.gcf()
            fig.set_size_inches(8, 2.4)
            for i, f in enumerate(filters):
                ax = fig.add_subplot(2, (len(filters) + 1) // 2, i + 1)
                ax.imshow(f, cmap="RdBu_r", vmin=-scale, vmax=scale)
                ax.set_xticks([])
                ax.set_yticks([])
            fig.suptitle("the 16 learned first-layer 3x3 filters (red > 0 > blue)")

        result["filters"] = save_plot(draw_filters, out_path("cnn_digits_filters.png", out))
        if result["plot"]:
            print(f"loss curve saved to {result['plot']}, filters to {result['filters']}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    parser.add_argument("--mnist", metavar="DIR", help="folder with the four MNIST IDX files")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size")
    parser.add_argument("--lr", type=float, default=3e-3, help="Adam's initial learning rate")
    parser.add_argument("--seed", type=int, default=SEED, help=f"random seed (default {SEED})")
    parser.add_argument("--out", default="out", help="folder for weights and plots ('' for none)")
    parser.add_argument("--no-augment", action="store_true", help="no random shifts")
    parser.add_argument("--no-compare", action="store_true", help="do not train the MLP too")
    parser.add_argument("--quick", action="store_true", help="2 epochs, no MLP")
    args = parser.parse_args(argv)
    try:
        run(
            2 if args.quick else args.epochs,
            args.mnist,
            args.batch_size,
            args.lr,
            args.seed,
            args.out or None,
            augment=not args.no_augment,
            compare=not (args.no_compare or args.quick),
        )
    except (ImportError, FileNotFoundError) as e:
        raise SystemExit(f"cnn_digits.py: {e}") from None


if __name__ == "__main__":
    main()
