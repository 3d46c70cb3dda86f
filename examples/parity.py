"""Seed 002, section 7.1: a 10-3-2 sigmoid network tells even 10-bit numbers from odd.

As in the post: the 1,024 numbers 0..1023 as ten bits (most significant first), the first
700 for training and the other 324 for testing; one-hot targets ([0, 1] for even);
squared error; mini-batch SGD with batches of 8. The post's eta = 0.3 on its summed
squared error is lr = 0.6 on ``nn.mse_loss``'s mean over the two outputs. The network
reaches 100% test accuracy, and the first layer's weights show why: the least significant
bit carries by far the largest weights (the post's figure 5), saved as a PNG.

    python examples/parity.py [--epochs 100] [--lr 0.6] [--seed 0] [--quick]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence

import numpy as np
from _common import log, out_path, progress, save_plot

import autograd_lite as ag
from autograd_lite import nn

N_TRAIN = 700


def run(epochs: int = 100, lr: float = 0.6, seed: int = 0, out: str | None = "out") -> dict:
    X, y = nn.datasets.parity(10)
    targets = np.eye(2)[y]
    model = nn.MLP(10, [3, 2], activation="sigmoid", output_activation="sigmoid", rng=seed)
    opt = nn.optim.SGD(model.parameters(), lr=lr)
    rng = np.random.default_rng(seed)
    errors = []
    for epoch in progress(range(epochs), "parity", total=epochs):
        total, count = 0.0, 0
        for xb, tb in nn.data.batches(X[:N_TRAIN], targets[:N_TRAIN], 8, rng=rng):
            loss = nn.mse_loss(model(xb), tb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(xb), count + len(xb)
        errors.append(total / count)
        if epoch < 10 or epoch == epochs - 1:
            log(f"* Epoch: {epoch:>4}, Error: {errors[-1]:.5g}")
    with ag.no_grad():
        predictions = model(X[N_TRAIN:]).data.argmax(axis=1)
    accuracy = float(np.mean(predictions == y[N_TRAIN:]))
    print(f"Network Accuracy: {accuracy} ({int(accuracy * len(predictions))}/{len(predictions)})")

    weights = model.layers[0].weight.data.T  # (3 hidden units, 10 input bits)
    strongest = int(np.abs(weights).sum(axis=0).argmax())
    print(
        f"input bit with the largest weights: {strongest} of 0..9 "
        f"({'the least significant bit' if strongest == 9 else 'not the last bit'})"
    )
    figure = None
    if out:

        def draw(plt):
            limit = float(np.abs(weights).max())  # symmetric, so white is zero
            plt.imshow(weights, cmap="coolwarm", aspect="auto", vmin=-limit, vmax=limit)
            plt.colorbar(label="weight")
            plt.xticks(range(10))
            plt.yticks(range(weights.shape[0]))
            plt.xlabel("input bit (most significant first)")
            plt.ylabel("hidden unit")
            plt.title("first layer weights: the last bit decides parity")

        figure = save_plot(draw, out_path("parity_weights.png", out))
        if figure:
            print(f"first layer's weights plotted in {figure}")
    return {"accuracy": accuracy, "strongest_bit": strongest, "errors": errors, "figure": figure}


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=100, help="epochs (the post: 1000)")
    parser.add_argument("--lr", type=float, default=0.6, help="learning rate (default 0.6)")
    parser.add_argument("--seed", type=int, default=0, help="random seed")
    parser.add_argument("--out", default="out", help="folder for the plot ('' for none)")
    parser.add_argument("--quick", action="store_true", help="20 epochs")
    args = parser.parse_args(argv)
    run(20 if args.quick else args.epochs, args.lr, args.seed, args.out or None)


if __name__ == "__main__":
    main()
