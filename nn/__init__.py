"""Neural networks on autograd_lite: modules, layers, losses, optimizers, data, save/load.

PyTorch's names and defaults where they exist, micrograd's pieces (``Neuron``, ``Layer``,
``MLP(nin, nouts)``) for teaching. Parameters are leaf ``Value``s (float64 by default,
float32 on request); everything is built from engine ops, so gradients come for free::

    model = nn.MLP(2, [16, 16, 1], activation="relu", rng=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.mse_loss(model(X), Y)
    opt.zero_grad(); loss.backward(); opt.step()

Sub-packages: ``nn.optim`` (SGD, Adam, AdamW, schedules), ``nn.init``, ``nn.utils``
(gradient clipping), ``nn.data`` (mini-batches), ``nn.datasets``, ``nn.serialization``
(``nn.save``/``nn.load``).
"""

from nn import data, datasets, init, optim, utils
from nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh, get_activation
from nn.layers import MLP, Layer, Linear, Neuron
from nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    MSELoss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
)
from nn.module import (
    IncompatibleKeys,
    Module,
    ModuleDict,
    ModuleList,
    Parameter,
    ParameterList,
    Sequential,
)
from nn.serialization import load, save

__all__ = [
    "MLP",
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "Identity",
    "IncompatibleKeys",
    "Layer",
    "LeakyReLU",
    "Linear",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Neuron",
    "Parameter",
    "ParameterList",
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
