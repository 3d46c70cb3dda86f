"""`Module`, the base of every layer; `Sequential`; and the containers `ModuleList`,
`ModuleDict` and `ParameterList`.

A module's parameters and submodules are found by looking at its attributes: a
`Parameter` is a parameter, a ``Module`` is a submodule, and lists, tuples and dicts of
them count too, nested to any depth (``self.blocks = [[Linear(2, 2)]]`` names its
parameters ``blocks.0.0.weight``). There is nothing to register, and a subclass need not
call ``super().__init__()``. Every attribute is searched, as in PyTorch: ``self._w =
Parameter(...)`` is the parameter ``_w``. A plain leaf ``Value`` that requires grad,
assigned to a public attribute, is refused with a message: wrap it in ``nn.Parameter``
to train it (nothing is silently left out); a private (``_``) attribute may hold one,
as PyTorch allows. Like PyTorch, a name with a ``.`` cannot hold a parameter or module.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple, cast

import numpy as np

from autograd_lite.core.modes import replayed
from autograd_lite.core.scope import record_call as _record_call
from autograd_lite.core.scope import tick as _tick
from autograd_lite.core.value import Parameter, Value

__all__ = [
    "IncompatibleKeys",
    "Module",
    "ModuleDict",
    "ModuleList",
    "Parameter",
    "ParameterList",
    "Sequential",
]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(strict=False)`` did not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


def _check_member(where: str, value: Any) -> None:
    """Refuse what a module could not register: trainable plain Values, sets of parts."""
    stack = [(where, value)]
    while stack:
        name, v = stack.pop()
        if isinstance(v, Value):
            if v.requires_grad and v.is_leaf and not isinstance(v, Parameter):
                raise TypeError(
                    f"{name} is a Value that requires grad but not a Parameter: wrap it as "
                    "nn.Parameter(...) to train it, or make it with requires_grad=False to "
                    "keep it constant"
                )
        elif isinstance(v, (list, tuple)):
            stack.extend((f"{name}[{i}]", item) for i, item in enumerate(v))
        elif isinstance(v, dict):
            stack.extend((f"{name}[{k!r}]", item) for k, item in v.items())
        elif isinstance(v, (set, frozenset)) and any(isinstance(x, (Module, Value)) for x in v):
            raise TypeError(
                f"{name} is a set holding modules or Values: a set has no order to name its "
                "members by; use a list, a dict, nn.ModuleList or nn.ModuleDict"
            )


class Module:
    """Base class of layers and models: subclass it and define ``forward``.

    ``model(x)`` calls ``model.forward(x)``. Parameters (:class:`Parameter`) and
    submodules assigned as attributes, or held in lists, tuples and dicts of them, are
    found by ``parameters()``/``named_parameters()`` with dotted names such as
    ``layers.0.weight``; ``ag.draw_graph(loss, names=model)`` labels them so.
    """

    training: bool = True
    _internal: tuple[str, ...] = ("_buffer_names",)  # attributes that are not members

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        start = _tick()  # drawings box every node a call makes (autograd_lite.core.scope)
        out = self.forward(*args, **kwargs)
        _record_call(self, args, kwargs, out, start)
        return out

    def __setattr__(self, name: str, value: Any) -> None:
        if not name.startswith("_"):
            _check_member(f"{type(self).__name__}.{name}", value)
        if ("." in name or not name) and isinstance(value, (Module, Parameter)):
            raise ValueError(  # PyTorch's rule: a dotted name could not be found again
                f"{type(self).__name__}: {name!r} cannot name a parameter or submodule "
                "(names must be non-empty and contain no '.')"
            )
        object.__setattr__(self, name, value)

    def _items(self) -> Iterable[tuple[str, Any]]:
        """The (name, value) pairs searched for parameters and submodules: every attribute
        (``_w`` too, as in PyTorch) but the class's own bookkeeping, ``_internal``."""
        return ((k, v) for k, v in vars(self).items() if k not in self._internal)

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
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, m = stack.pop()
            if id(m) in seen:
                continue
            seen.add(id(m))
            yield name, m
            children = list(m.named_children())
            stack.extend((f"{name}.{c}" if name else c, sub) for c, sub in reversed(children))

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Parameter]]:
        """Every parameter once, with its dotted name such as ``layers.0.weight``."""
        seen: set[int] = set()
        for mname, m in self.named_modules(prefix):
            for name, obj in _members(m):
                if isinstance(obj, Parameter) and id(obj) not in seen:
                    seen.add(id(obj))
                    yield (f"{mname}.{name}" if mname else name), obj

    def parameters(self) -> list[Parameter]:
        """The parameters, each once."""
        return [p for _, p in self.named_parameters()]

    def register_buffer(self, name: str, value: Any) -> None:
        """Keep ``value`` (an ndarray that is not trained, e.g. BatchNorm's running mean) as
        attribute ``name``, saved by ``state_dict`` and restored by ``load_state_dict``."""
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise ValueError(f"register_buffer: {name!r} is not a public attribute name")
        names = self.__dict__.setdefault("_buffer_names", [])
        if name not in names:
            names.append(name)
        object.__setattr__(self, name, np.asarray(value))

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Every buffer (see :meth:`register_buffer`) with its dotted name."""
        for mname, m in self.named_modules(prefix):
            for name in m.__dict__.get("_buffer_names", ()):
                yield (f"{mname}.{name}" if mname else name), getattr(m, name)

    def buffers(self) -> list[np.ndarray]:
        """The buffers (arrays saved with the state but not trained)."""
        return [b for _, b in self.named_buffers()]

    @replayed("grad")
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients: every parameter's ``.grad`` becomes None (PyTorch's default;
        the next backward then stores its gradient without adding), or zeros with
        ``set_to_none=False``."""
        for p in self.parameters():
            reset_grad(p, set_to_none)

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
        """A copy of every parameter's data, then of every buffer, by dotted name (scalars
        as 0-d arrays)."""
        state = {name: np.array(p.data) for name, p in self.named_parameters()}
        state.update((name, np.array(b)) for name, b in self.named_buffers())
        return state

    def load_state_dict(self, state: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy ``state`` into the parameters, after checking all of it.

        Every key, shape and dtype is checked first; if anything is wrong (a missing or,
        with ``strict``, an unexpected key, a shape or dtype mismatch) a ``ValueError``
        lists every problem and no parameter is changed. Data is copied in place, so an
        optimizer holding the parameters keeps working (a parameter whose array is
        read-only gets a writable copy instead; a read-only buffer is a problem listed).
        """
        params: dict[str, Any] = dict(self.named_parameters())
        params.update(self.named_buffers())
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
            elif not isinstance(p, Value) and not p.flags.writeable:
                problems.append(
                    f"{name!r}: the buffer is a read-only array, it cannot be loaded into"
                )
            arrays[name] = arr
        if problems:
            raise ValueError(
                f"{type(self).__name__}.load_state_dict: nothing was loaded, because of "
                f"{len(problems)} problem(s): " + "; ".join(problems)
            )
        for name, arr in arrays.items():
            p = params[name]
            if not isinstance(p, Value):  # a buffer: an ndarray, copied into in place
                p[...] = arr
            elif type(p.data) is float:
                p.data = float(arr)
            elif not cast(np.ndarray, p.data).flags.writeable:  # (np.load(mmap_mode="r")...)
                p.data = np.array(arr, dtype=p.dtype)  # a writable copy replaces it
            else:  # Data is float | ndarray: not a float, so an ndarray
                cast(np.ndarray, p.data)[...] = arr
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


def reset_grad(p: Value, set_to_none: bool) -> None:
    """Set ``p.grad`` to None, or to zeros of ``p``'s shape and dtype, in place if it can."""
    if set_to_none or p.grad is None:
        p.grad = None
    elif type(p.grad) is np.ndarray and p.grad.shape == p.shape and p.grad.flags.writeable:
        p.grad[...] = 0
    else:
        p.grad = 0.0 if type(p.data) is float else np.zeros_like(p.data)


def _members(module: Module) -> Iterator[tuple[str, Any]]:
    """Parameters and modules held by ``module``, inside lists/tuples/dicts at any depth."""
    stack = list(reversed(list(module._items())))
    while stack:
        name, value = stack.pop()
        if isinstance(value, (Module, Parameter)):
            yield name, value
        elif isinstance(value, (list, tuple)):
            stack.extend(reversed([(f"{name}.{i}", v) for i, v in enumerate(value)]))
        elif isinstance(value, dict):
            stack.extend(reversed([(f"{name}.{k}", v) for k, v in value.items()]))


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

    _internal = ("_buffer_names", "_modules")  # the children again, in order

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


class ModuleList(Module):
    """A list of modules, registered as ``0``, ``1``, ... (PyTorch's ``nn.ModuleList``)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        self._list: list[Module] = []
        self.extend(modules)

    def _items(self) -> Iterable[tuple[str, Any]]:
        return ((str(i), m) for i, m in enumerate(self._list))

    def append(self, module: Module) -> ModuleList:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleList: expected a Module, got {type(module).__name__}")
        self._list.append(module)
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for m in modules:
            self.append(m)
        return self

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._list)

    def __getitem__(self, i: int) -> Module:
        return self._list[i]


class ModuleDict(Module):
    """A dict of modules, registered by key (PyTorch's ``nn.ModuleDict``)."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        self._dict: dict[str, Module] = {}
        for k, m in (modules or {}).items():
            self[k] = m

    def _items(self) -> Iterable[tuple[str, Any]]:
        return iter(self._dict.items())

    def __setitem__(self, key: str, module: Module) -> None:
        if not isinstance(module, Module):
            raise TypeError(f"ModuleDict[{key!r}]: expected a Module, got {type(module).__name__}")
        self._dict[str(key)] = module

    def __getitem__(self, key: str) -> Module:
        return self._dict[key]

    def __len__(self) -> int:
        return len(self._dict)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def keys(self) -> Iterable[str]:
        return self._dict.keys()

    def values(self) -> Iterable[Module]:
        return self._dict.values()

    def items(self) -> Iterable[tuple[str, Module]]:
        return self._dict.items()


class ParameterList(Module):
    """A list of parameters, registered as ``0``, ``1``, ... (``nn.ParameterList``).

    Values and arrays that are not Parameters are wrapped in one (their data copied).
    """

    def __init__(self, values: Iterable[Any] = ()) -> None:
        self._list: list[Parameter] = []
        for v in values:
            self.append(v)

    def _items(self) -> Iterable[tuple[str, Any]]:
        return ((str(i), p) for i, p in enumerate(self._list))

    def append(self, value: Any) -> ParameterList:
        if not isinstance(value, Parameter):
            if isinstance(value, Value):
                value = Parameter(value.data if value.ndim else value.item(), name=value.name)
            else:
                value = Parameter(value)
        self._list.append(value)
        return self

    def __len__(self) -> int:
        return len(self._list)

    def __iter__(self) -> Iterator[Parameter]:
        return iter(self._list)

    def __getitem__(self, i: int) -> Parameter:
        return self._list[i]
