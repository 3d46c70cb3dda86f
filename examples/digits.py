"""Seed 002, section 7.2: an MLP reads handwritten digits (the post: 92.6% on MNIST).

By default it trains on the 8x8 digits that ship inside scikit-learn (1,797 images: 1,500
to train, 297 to test), a 64-32-10 network. With ``--mnist DIR`` it reads real MNIST from
the four IDX files in DIR (``nn.datasets.load_mnist``; nothing is downloaded) and uses
the post's 784-32-10 network. Where the post trained sigmoid units on squared error with
plain SGD for 300 epochs, this uses tanh units, cross-entropy and Adam on mini-batches,
which beats its accuracy in a few epochs. The trained weights are saved with ``nn.save``,
loaded into a fresh model with ``nn.load``, and checked to give the same accuracy; the
loss curve is saved as a PNG.

    python examples/digits.py [--epochs 20] [--mnist DIR] [--out out] [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
from _common import log, out_path, progress, save_plot

import autograd_lite as ag
from autograd_lite import nn

POST_ACCURACY = 0.926


def load(mnist: str | None, seed: int) -> tuple[np.ndarray, ...]:
    """(X_train, y_train, X_test, y_test)."""
    if mnist:
        X_train, y_train = nn.datasets.load_mnist(mnist, "train")
        X_test, y_test = nn.datasets.load_mnist(mnist, "test")
        return X_train, y_train, X_test, y_test
    X, y = nn.datasets.load_digits()
    order = np.random.default_rng(seed).permutation(len(X))
    train, test = order[:1500], order[1500:]
    return X[train], y[train], X[test], y[test]


def make_model(n_in: int, seed: int) -> nn.MLP:
    return nn.MLP(n_in, [32, 10], activation="tanh", init="xavier_uniform", rng=seed)


def accuracy(model: nn.Module, X: np.ndarray, y: np.ndarray) -> float:
    with ag.no_grad():
        return float(np.mean(model(X).data.argmax(axis=1) == y))


def run(
    epochs: int = 20,
    mnist: str | None = None,
    batch_size: int = 32,
    lr: float = 1e-2,
    seed: int = 0,
    out: str | None = "out",
    max_train: int | None = None,
) -> dict:
    X_train, y_train, X_test, y_test = load(mnist, seed)
    if max_train:
        X_train, y_train = X_train[:max_train], y_train[:max_train]
    print(f"{len(X_train):,} training and {len(X_test):,} test images of {X_train.shape[1]} pixels")
    model = make_model(X_train.shape[1], seed)
    opt = nn.optim.Adam(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    losses = []
    for epoch in progress(range(epochs), "digits", total=epochs):
        total = 0.0
        for xb, yb in nn.data.batches(X_train, y_train, batch_size, rng=rng):
            loss = nn.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(xb)
        losses.append(total / len(X_train))
        log(
            f"epoch {epoch + 1}/{epochs}: loss {losses[-1]:.4f}, "
            f"test accuracy {accuracy(model, X_test, y_test):.4f}"
        )
    acc = accuracy(model, X_test, y_test)
    verdict = "beats" if acc > POST_ACCURACY else "does not beat"
    if mnist:
        print(f"test accuracy {acc:.4f} on MNIST ({verdict} the post's {POST_ACCURACY})")
    else:
        print(
            f"test accuracy {acc:.4f} on the 8x8 digits ({verdict} the post's {POST_ACCURACY}, "
            "which was on MNIST: --mnist DIR compares on the same data)"
        )

    result: dict = {"accuracy": acc, "losses": losses, "model": model}
    if out:
        weights = out_path("digits_weights.npz", out)
        nn.save(model.state_dict(), weights)
        fresh = make_model(X_train.shape[1], seed + 1)
        fresh.load_state_dict(nn.load(weights))
        result["reloaded_accuracy"] = accuracy(fresh, X_test, y_test)
        print(
            f"weights saved to {weights}; reloaded into a fresh model: test accuracy "
            f"{result['reloaded_accuracy']:.4f}"
        )

        def draw(plt):
            plt.plot(range(1, len(losses) + 1), losses, marker="o")
            plt.gca().xaxis.get_major_locator().set_params(integer=True)
            plt.xlabel("epoch")
            plt.ylabel("training loss (cross-entropy)")
            plt.title(f"digits: test accuracy {acc:.1%}")

        result["plot"] = save_plot(draw, out_path("digits_loss.png", out))
        if result["plot"]:
            print(f"loss curve saved to {result['plot']}")
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=20, help="epochs (default 20)")
    parser.add_argument("--mnist", metavar="DIR", help="folder with the four MNIST IDX files")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size")
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's learning rate")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default="out", help="folder for weights and plot ('' for none)")
    parser.add_argument("--quick", action="store_true", help="3 epochs")
    args = parser.parse_args(argv)
    try:
        run(
            3 if args.quick else args.epochs,
            args.mnist,
            args.batch_size,
            args.lr,
            args.seed,
            args.out or None,
        )
    except (ImportError, FileNotFoundError) as e:
        raise SystemExit(f"digits.py: {e}") from None


if __name__ == "__main__":
    main()
