"""`Module`: the base of every layer, and `Sequential`.

A module's parameters and submodules are found by looking at its attributes: a leaf
``Value`` that requires grad is a parameter, a ``Module`` is a submodule, and lists,
tuples and dicts of them count too (``self.layers = [Layer(...), ...]`` names its
parameters ``layers.0.weight`` ...). There is nothing to register, and a subclass need
not call ``super().__init__()``. Attributes whose name starts with ``_`` are private and
not searched.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from autograd_lite import Value

__all__ = ["IncompatibleKeys", "Module", "Sequential"]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` did not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class _AutoName(str):
    """A parameter name given by ``Module.__call__`` (as opposed to one the user chose)."""


# Bumped whenever a module or a parameter is assigned as an attribute of any module: a
# module whose parameters were named at an older generation names them again on its next
# call, so a layer swapped in after the first call is still labelled with its path.
_generation = 0


def _holds_parts(value: Any) -> bool:
    """True for a Module, a parameter, or a list/tuple/dict holding one."""
    if isinstance(value, (list, tuple)):
        return any(_holds_parts(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_parts(v) for v in value.values())
    return isinstance(value, Module) or (
        isinstance(value, Value) and value.is_leaf and value.requires_grad
    )


class Module:
    """Base class of layers and models: subclass it and define ``forward``.

    ``model(x)`` calls ``model.forward(x)``. The first call of a module also gives each
    parameter without a name (``.name is None``) its dotted path relative to that module
    (``layers.0.weight``), so ``ag.draw_graph(loss)`` labels the parameters. The outermost
    module is called first, so its paths win; a name you set yourself is never replaced.
    Later calls skip the naming (one dictionary look-up), unless a module or parameter
    has been assigned as an attribute since.
    """

    training: bool = True

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.__dict__.get("_named") != _generation:
            self._name_parameters()
        return self.forward(*args, **kwargs)

    def __setattr__(self, name: str, value: Any) -> None:
        global _generation
        object.__setattr__(self, name, value)
        if not name.startswith("_") and _holds_parts(value):
            _generation += 1

    def _name_parameters(self) -> None:
        for name, p in self.named_parameters():
            if p.name is None or isinstance(p.name, _AutoName):
                p.name = _AutoName(name)
        for _, m in self.named_modules():
            m.__dict__["_named"] = _generation

    # ------------------------------------------------------------------ structure
    def children(self) -> Iterator[Module]:
        """Direct submodules."""
        for _, m in self.named_children():
            yield m

    def modules(self) -> Iterator[Module]:
        """This module and every submodule below it, each once."""
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """Direct submodules, with their attribute names (``layers.0`` for list items)."""
        for name, obj in _members(self):
            if isinstance(obj, Module):
                yield name, obj

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module and every submodule below it, each once, with dotted names."""
        seen: set[int] = set()
        stack = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = list(m.named_children())
            stack.extend((f"{name}.{c}" if name else c, sub) for c, sub in reversed(children))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Value]]:
        """Every parameter once, with its dotted name such as ``layers.0.weight``."""
        seen: set[int] = set()
        for mname, m in self.named_modules(prefix):
            for name, obj in _members(m):
                if isinstance(obj, Value) and id(obj) not in seen:
                    seen.add(id(obj))
                    yield (f"{mname}.{name}" if mname else name), obj

    def parameters(self) -> list[Value]:
        """The parameters (leaf Values that require grad), each once."""
        return [p for _, p in self.named_parameters()]

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: every parameter's ``.grad`` becomes None (PyTorch's default;
        the next backward then stores its gradient without adding), or zeros with
        ``set_to_none=False``."""
        for p in self.parameters():
            _zero(p, set_to_none)

    def train(self, mode: bool = True) -> Module:
        """Set training mode (``self.training``) here and in every submodule."""
        for _, m in self.named_modules():
            m.training = mode
        return self

    def eval(self) -> Module:
        """Set evaluation mode: ``train(False)``."""
        return self.train(False)

    # ------------------------------------------------------------------ state
    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's data, by dotted name (scalars as 0-d arrays)."""
        return {name: np.array(p.data) for name, p in self.named_parameters()}

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters, after checking all of it.

        Every key, shape and dtype is checked first; if anything is wrong (a missing or,
        with ``strict``, an unexpected key, a shape or dtype mismatch) a ``ValueError``
        lists every problem and no parameter is changed. Data is copied in place, so an
        optimizer holding the parameters keeps working.
        """
        params = dict(self.named_parameters())
        missing = [k for k in params if k not in state]
        unexpected = [k for k in state if k not in params]
        problems = []
        if strict:
            problems += [f"missing key {k!r}" for k in missing]
            problems += [f"unexpected key {k!r}" for k in unexpected]
        arrays = {}
        for name, p in params.items():
            if name not in state:
                continue
            value = state[name]
            arr = np.asarray(value.data if isinstance(value, Value) else value)
            if arr.shape != p.shape:
                problems.append(f"{name!r}: shape {arr.shape} in the state, {p.shape} in the model")
            elif arr.dtype != p.dtype:
                problems.append(f"{name!r}: dtype {arr.dtype} in the state, {p.dtype} in the model")
            arrays[name] = arr
        if problems:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: nothing was loaded, because of "
                f"{len(problems)} problem(s): " + "; ".join(problems)
            )
        for name, arr in arrays.items():
            p = params[name]
            if type(p.data) is float:
                p.data = float(arr)
            else:
                p.data[...] = arr
        return IncompatibleKeys(missing, unexpected)

    # ------------------------------------------------------------------ display
    def extra_repr(self) -> str:
        """The arguments shown in ``repr`` (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        children = list(self.named_children())
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not children:
            return head + ")"
        lines = [head]
        for name, child in children:
            body = repr(child).replace("\n", "\n  ")
            lines.append(f"  ({name}): {body}")
        return "\n".join(lines) + "\n)"


def _zero(p: Value, set_to_none: bool) -> None:
    """Set ``p.grad`` to None, or to zeros of ``p``'s shape and dtype, in place if it can."""
    if set_to_none or p.grad is None:
        p.grad = None
    elif type(p.grad) is np.ndarray and p.grad.shape == p.shape and p.grad.flags.writeable:
        p.grad[...] = 0
    else:
        p.grad = 0.0 if type(p.data) is float else np.zeros_like(p.data)


def _members(module: Module) -> Iterator[tuple[str, Any]]:
    """Attributes that hold parameters or modules, lists/tuples/dicts of them flattened."""
    for name, value in vars(module).items():
        if name.startswith("_"):
            continue
        if isinstance(value, (list, tuple)):
            for i, item in enumerate(value):
                yield from _members_of(f"{name}.{i}", item)
        elif isinstance(value, dict):
            for key, item in value.items():
                yield from _members_of(f"{name}.{key}", item)
        else:
            yield from _members_of(name, value)


def _members_of(name: str, value: Any) -> Iterator[tuple[str, Any]]:
    is_parameter = isinstance(value, Value) and value.is_leaf and value.requires_grad
    if is_parameter or isinstance(value, Module):
        yield name, value


class Sequential(Module):
    """Modules applied one after another: ``Sequential(a, b)(x) == b(a(x))``.

    Children are named ``0``, ``1``, ... as in PyTorch (parameters ``0.weight``).
    """

    def __init__(self, *modules: Module) -> None:
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} is a {type(m).__name__}, not a Module")
            setattr(self, str(i), m)
        self._modules = modules  # private: the same modules, in order, for forward

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules)

    def __getitem__(self, i: int) -> Module:
        return self._modules[i]

    def forward(self, x: Any) -> Any:
        for m in self._modules:
            x = m(x)
        return x
