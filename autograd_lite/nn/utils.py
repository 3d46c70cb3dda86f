"""Gradient clipping, and a bridge to PyTorch (``to_torch``, ``load_torch_state_dict``)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from autograd_lite.core.modes import replayed
from autograd_lite.core.value import Value
from autograd_lite.nn import activations as act
from autograd_lite.nn.conv import AvgPool2d, Conv1d, Conv2d, Flatten, MaxPool2d
from autograd_lite.nn.dropout import Dropout
from autograd_lite.nn.embedding import Embedding
from autograd_lite.nn.layers import MLP, Layer, Linear
from autograd_lite.nn.module import IncompatibleKeys, Module, ModuleDict, ModuleList, Sequential
from autograd_lite.nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm

__all__ = ["clip_grad_norm_", "clip_grad_value_", "load_torch_state_dict", "to_torch"]


def _with_grads(params: Iterable[Value] | Value) -> list[Value]:
    params = [params] if isinstance(params, Value) else list(params)
    return [p for p in params if p.grad is not None]


@replayed("grad")
def clip_grad_norm_(
    params: Iterable[Value] | Value,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so their joint norm is at most ``max_norm``.

    total = (sum over parameters of ||grad||_p^p)^(1/p) (``norm_type`` inf: the largest
    |grad|); if total > max_norm every grad is multiplied by max_norm / (total + 1e-6), in
    place. Returns the total norm before clipping, as PyTorch does. A NaN or infinite
    total leaves the gradients alone, or raises a ValueError with ``error_if_nonfinite``.
    Parameters without a gradient are skipped.
    """
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0, got {norm_type}")
    ps = _with_grads(params)
    if not ps:
        return 0.0
    grads = [np.asarray(p.grad) for p in ps]
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    elif norm_type == 2.0:
        total = math.sqrt(sum(float(np.vdot(g, g)) for g in grads))
    else:
        total = float(
            sum(float(np.sum(np.abs(g) ** norm_type)) for g in grads) ** (1.0 / norm_type)
        )
    if not math.isfinite(total):
        if error_if_nonfinite:
            raise ValueError(
                f"clip_grad_norm_: the total norm of the gradients is {total}; "
                "pass error_if_nonfinite=False to leave them as they are"
            )
        return total
    coef = max_norm / (total + 1e-6)
    if coef < 1.0:
        for p in ps:
            if type(p.grad) is float:
                p.grad *= coef
            else:
                p.grad *= np.asarray(coef, dtype=p.grad.dtype)
    return total


@replayed("grad")
def clip_grad_value_(params: Iterable[Value] | Value, clip_value: float) -> None:
    """Clamp every gradient element into [-clip_value, clip_value], in place (no rescaling
    of the others, unlike :func:`clip_grad_norm_`)."""
    if not clip_value >= 0:
        raise ValueError(f"clip_grad_value_: clip_value must be >= 0, got {clip_value}")
    for p in _with_grads(params):
        if type(p.grad) is float:
            p.grad = min(max(p.grad, -clip_value), clip_value)
        else:
            np.clip(p.grad, -clip_value, clip_value, out=p.grad)


# ------------------------------------------------------------------- PyTorch bridge
# A model is described as (the torch module, or None without torch; and a list of
# (our state key, torch state key, transposed?)). Names differ where the structure does:
# our MLP's ``layers.1.weight`` is ``2.weight`` of a torch Sequential(Linear, Tanh,
# Linear, ...), and a Linear weight is stored (nin, nout) here, (out, in) in PyTorch.

Keys = list[tuple[str, str, bool]]

_ACTIVATIONS = {"relu": "ReLU", "tanh": "Tanh", "sigmoid": "Sigmoid", "leaky_relu": "LeakyReLU"}


def _sub(keys: Keys, ours: str, theirs: str) -> Keys:
    return [(f"{ours}.{o}", f"{theirs}.{t}", tr) for o, t, tr in keys]


def _linear(m: Linear, tnn: Any) -> tuple[Any, Keys]:
    keys = [("weight", "weight", True)] + ([("bias", "bias", False)] if m.bias is not None else [])
    return (tnn.Linear(m.nin, m.nout, bias=m.bias is not None) if tnn else None), keys


def _has_activation(fn: Any) -> bool:
    return isinstance(fn, Module) or act.activation_name(fn) != "linear"


def _activation(fn: Any, tnn: Any, where: str) -> Any:
    """The torch module of an activation (a function by name, or a module)."""
    if isinstance(fn, Module):
        return _plan(fn, tnn, where)[0]
    name = act.activation_name(fn)
    if name not in _ACTIVATIONS:
        raise TypeError(
            f"to_torch: {where} uses the activation {name!r}, which has no PyTorch "
            f"equivalent here (known: {sorted(_ACTIVATIONS)})"
        )
    return getattr(tnn, _ACTIVATIONS[name])() if tnn else None


def _plan(m: Module, tnn: Any, where: str = "model") -> tuple[Any, Keys]:
    """``m``'s torch equivalent (None when ``tnn``, torch.nn, is None) and its key map."""
    if isinstance(m, (Layer, MLP)):  # Sequential(Linear, activation, Linear, ...)
        layers = [m] if isinstance(m, Layer) else m.layers
        mods: list[Any] = []
        keys: Keys = []
        for i, layer in enumerate(layers):
            lin, lkeys = _linear(layer, tnn)
            ours = "" if isinstance(m, Layer) else f"layers.{i}."
            keys += [(f"{ours}{o}", f"{len(mods)}.{t}", tr) for o, t, tr in lkeys]
            mods.append(lin)
            if _has_activation(layer.activation):
                mods.append(_activation(layer.activation, tnn, f"{where}.{ours}activation"))
        return (tnn.Sequential(*mods) if tnn else None), keys
    if isinstance(m, Linear):
        return _linear(m, tnn)
    if isinstance(m, (Sequential, ModuleList, ModuleDict)):
        names = list(m) if isinstance(m, ModuleDict) else [str(i) for i in range(len(m))]
        built, keys = [], []
        for name in names:
            child = m[name] if isinstance(m, ModuleDict) else m[int(name)]
            t, ckeys = _plan(child, tnn, f"{where}.{name}")
            built.append(t)
            keys += _sub(ckeys, name, name)
        if tnn is None:
            return None, keys
        if isinstance(m, Sequential):
            return tnn.Sequential(*built), keys
        if isinstance(m, ModuleList):
            return tnn.ModuleList(built), keys
        return tnn.ModuleDict(dict(zip(names, built))), keys
    return _leaf(m, tnn, where)


def _leaf(m: Module, tnn: Any, where: str) -> tuple[Any, Keys]:
    same = [(k, k, False) for k in m.state_dict()]  # parameters and buffers, named alike
    if tnn is None:
        if isinstance(
            m,
            (Conv1d, Conv2d, MaxPool2d, AvgPool2d, Flatten, Dropout, LayerNorm)
            + (BatchNorm1d, BatchNorm2d, Embedding)
            + (act.ReLU, act.Tanh, act.Sigmoid, act.LeakyReLU, act.Identity),
        ):
            return None, same
    elif isinstance(m, (Conv1d, Conv2d)):
        cls = tnn.Conv1d if isinstance(m, Conv1d) else tnn.Conv2d
        t = cls(
            m.in_channels,
            m.out_channels,
            m.kernel_size,
            stride=m.stride,
            padding=m.padding,
            dilation=m.dilation,
            bias=m.bias is not None,
        )
        return t, same
    elif isinstance(m, MaxPool2d):
        return tnn.MaxPool2d(m.kernel_size, stride=m.stride, padding=m.padding), same
    elif isinstance(m, AvgPool2d):
        return tnn.AvgPool2d(
            m.kernel_size, stride=m.stride, padding=m.padding, count_include_pad=m.count_include_pad
        ), same
    elif isinstance(m, Flatten):
        return tnn.Flatten(m.start_dim, m.end_dim), same
    elif isinstance(m, Dropout):
        return tnn.Dropout(m.p), same
    elif isinstance(m, LayerNorm):
        t = tnn.LayerNorm(
            m.normalized_shape,
            eps=m.eps,
            elementwise_affine=m.elementwise_affine,
            bias=m.bias is not None,
        )
        return t, same
    elif isinstance(m, (BatchNorm1d, BatchNorm2d)):
        cls = tnn.BatchNorm1d if isinstance(m, BatchNorm1d) else tnn.BatchNorm2d
        t = cls(
            m.num_features,
            eps=m.eps,
            momentum=m.momentum,
            affine=m.affine,
            track_running_stats=m.track_running_stats,
        )
        return t, same
    elif isinstance(m, Embedding):
        return tnn.Embedding(m.num_embeddings, m.embedding_dim, padding_idx=m.padding_idx), same
    elif isinstance(m, act.LeakyReLU):
        return tnn.LeakyReLU(m.negative_slope), same
    elif isinstance(m, (act.ReLU, act.Tanh, act.Sigmoid, act.Identity)):
        return getattr(tnn, type(m).__name__)(), same
    raise TypeError(
        f"to_torch: {where} is a {type(m).__name__}, which has no PyTorch equivalent here; "
        "supported: Linear, Layer, MLP, Sequential, ModuleList, ModuleDict, Conv1d, Conv2d, "
        "MaxPool2d, AvgPool2d, Flatten, Dropout, LayerNorm, BatchNorm1d, BatchNorm2d, "
        "Embedding and the activation modules (a custom forward cannot be translated)"
    )


def to_torch(model: Module) -> Any:
    """The equivalent ``torch.nn.Module`` of ``model``, with the same weights and mode.

    Linear layers become ``torch.nn.Linear`` (weights transposed to PyTorch's (out, in)),
    ``Layer`` a ``Sequential(Linear, activation)``, ``MLP`` one ``Sequential`` of Linear
    and activation modules; convolutions, pooling, norms (running statistics included),
    dropout, embeddings, activations and containers map one to one. Every parameter and
    buffer keeps its dtype (a float32 layer beside a float64 one stays so) and every
    submodule its train/eval mode. Needs PyTorch (imported only here).
    """
    try:
        import torch
    except ImportError:
        raise ImportError("to_torch needs PyTorch: pip install torch") from None
    if not isinstance(model, Module):
        raise TypeError(f"to_torch: expected an nn.Module, got {type(model).__name__}")
    tmodel, keys = _plan(model, torch.nn)
    ours = model.state_dict()
    state = {}
    for o, t, transpose in keys:
        arr = ours[o].T if transpose else ours[o]
        state[t] = torch.from_numpy(np.ascontiguousarray(arr))
        path, _, name = t.rpartition(".")
        owner = tmodel.get_submodule(path)  # each tensor in its own dtype, before the copy
        if name in owner._parameters:
            owner._parameters[name].data = owner._parameters[name].data.to(state[t].dtype)
        else:
            owner._buffers[name] = owner._buffers[name].to(state[t].dtype)
    tmodel.load_state_dict(state, strict=True)
    _copy_modes(model, tmodel)
    return tmodel


def _copy_modes(m: Module, t: Any) -> None:
    """Give every torch module the train/eval mode of the module it came from."""
    t.training = m.training
    if isinstance(m, (Layer, MLP)):  # Sequential(Linear, activation, ...): the layer's mode
        j = 0
        for layer in [m] if isinstance(m, Layer) else m.layers:
            t[j].training = layer.training
            j += 1
            if _has_activation(layer.activation):
                if isinstance(layer.activation, Module):
                    _copy_modes(layer.activation, t[j])
                else:
                    t[j].training = layer.training
                j += 1
    elif isinstance(m, (Sequential, ModuleList)):
        for i, child in enumerate(m):
            _copy_modes(child, t[i])
    elif isinstance(m, ModuleDict):
        for k in m:
            _copy_modes(m[k], t[k])


def load_torch_state_dict(
    model: Module, state_dict: Mapping[str, Any], strict: bool = True
) -> IncompatibleKeys:
    """Load a PyTorch ``state_dict`` (of the model :func:`to_torch` would build) into ``model``.

    Tensors (or arrays) are converted to numpy, Linear weights transposed to (nin, nout),
    and every value cast to the dtype of the parameter or buffer it fills (a float32
    PyTorch model loads into a float64 one). Keys are PyTorch's; with ``strict`` a missing
    or unexpected key is a ValueError naming them all, and nothing is loaded; so is a value
    that is not real numbers (strings, complex, objects), naming its key. Returns the
    missing and unexpected keys (PyTorch's names). Does not import torch.
    """
    _, keys = _plan(model, None)
    by_torch = {t: (o, tr) for o, t, tr in keys}
    missing = [t for t in by_torch if t not in state_dict]
    unexpected = [k for k in state_dict if k not in by_torch]
    if strict and (missing or unexpected):
        raise ValueError(
            f"load_torch_state_dict: nothing was loaded: missing keys {missing}, "
            f"unexpected keys {unexpected} (PyTorch's names)"
        )
    ours = model.state_dict()
    converted = {}
    for t, value in state_dict.items():
        if t not in by_torch:
            continue
        o, transpose = by_torch[t]
        if hasattr(value, "detach"):
            value = value.detach().cpu().numpy()
        arr = np.asarray(value)
        if arr.dtype.kind not in "biuf":  # never "1" -> 1.0, never a dropped imaginary part
            raise ValueError(
                f"load_torch_state_dict: nothing was loaded: {t!r} holds {arr.dtype} data "
                f"({type(value).__name__}); only real numbers load"
            )
        converted[o] = (arr.T if transpose else arr).astype(ours[o].dtype)
    model.load_state_dict(converted, strict=False)
    return IncompatibleKeys(missing, unexpected)


from autograd_lite.nn.gradflow import GradFlow, grad_flow, plot_grad_flow  # noqa: E402, F401
