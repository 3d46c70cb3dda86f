"""Neural networks on autograd_lite: modules, layers, losses, optimizers, data, save/load.

PyTorch's names and defaults where they exist, micrograd's pieces (``Neuron``, ``Layer``,
``MLP(nin, nouts)``) for teaching. Parameters are leaf ``Value``s (float64 by default,
float32 on request); everything is built from engine ops, so gradients come for free::

    model = nn.MLP(2, [16, 16, 1], activation="relu", rng=0)
    opt = nn.optim.SGD(model.parameters(), lr=0.1)
    loss = nn.mse_loss(model(X), Y)
    opt.zero_grad(); loss.backward(); opt.step()

Layers: ``Linear``, ``Conv1d``, ``Conv2d``, ``MaxPool2d``, ``AvgPool2d``, ``Flatten``,
``Dropout``, ``LayerNorm``, ``BatchNorm1d``, ``BatchNorm2d``, ``Embedding`` and the
activations. Sub-packages: ``nn.optim`` (SGD, Adam, AdamW, RMSprop, schedules),
``nn.init``, ``nn.utils`` (gradient clipping, ``to_torch``, ``load_torch_state_dict``),
``nn.data`` (mini-batches), ``nn.datasets``, ``nn.serialization`` (``nn.save``/``nn.load``).
"""

from autograd_lite.nn import data, datasets, init, optim, utils
from autograd_lite.nn.activations import Identity, LeakyReLU, ReLU, Sigmoid, Tanh, get_activation
from autograd_lite.nn.conv import (
    AvgPool1d,
    AvgPool2d,
    Conv1d,
    Conv2d,
    ConvTranspose2d,
    Flatten,
    MaxPool1d,
    MaxPool2d,
)
from autograd_lite.nn.dropout import Dropout
from autograd_lite.nn.embedding import Embedding
from autograd_lite.nn.layers import MLP, Layer, Linear, Neuron
from autograd_lite.nn.losses import (
    BCELoss,
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    HuberLoss,
    KLDivLoss,
    L1Loss,
    MSELoss,
    NLLLoss,
    SmoothL1Loss,
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    kl_div,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)
from autograd_lite.nn.module import (
    IncompatibleKeys,
    Module,
    ModuleDict,
    ModuleList,
    Parameter,
    ParameterList,
    Sequential,
)
from autograd_lite.nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm
from autograd_lite.nn.serialization import load, save

__all__ = [
    "MLP",
    "AvgPool1d",
    "AvgPool2d",
    "ConvTranspose2d",
    "MaxPool1d",
    "BCELoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv1d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "HuberLoss",
    "KLDivLoss",
    "L1Loss",
    "LayerNorm",
    "MaxPool2d",
    "NLLLoss",
    "SmoothL1Loss",
    "huber_loss",
    "kl_div",
    "l1_loss",
    "nll_loss",
    "smooth_l1_loss",
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
