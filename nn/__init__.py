"""Neural networks on autograd_lite: modules, layers, losses, optimizers, data, save/load.

PyTorch's names and defaults where they exist, micrograd's pieces (``Neuron``, ``Layer``,
``MLP(nin, nouts)``) for teaching.
"""

from nn import data, datasets, init, optim, utils
from nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh, get_activation
from nn.layers import MLP, Layer, Linear, Neuron
from nn.losses import (
    BCELoss,
    CrossEntropyLoss,
    MSELoss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
)
from nn.module import IncompatibleKeys, Module, Sequential
from nn.serialization import load, save

__all__ = [
    "MLP",
    "BCELoss",
    "CrossEntropyLoss",
    "Identity",
    "IncompatibleKeys",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "Module",
    "Neuron",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "data",
    "datasets",
    "get_activation",
    "init",
    "load",
    "mse_loss",
    "optim",
    "save",
    "utils",
]
