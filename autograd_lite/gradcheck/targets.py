"""What a check perturbs, and the counted call of ``fn``.

A :class:`Target` is a Value being checked: an input that requires grad, one of ``params``
(:func:`prepare`, :func:`named_params`), or a leaf found in the graph ``fn`` records
(:func:`found_leaves`, named by the module that holds it or the variable that does).
During a check each one's ``.data`` is swapped for a float64 copy (:func:`swap`) and the
modules ``fn`` reaches run in float64 whole (:func:`upcast_modules`); both are put back
afterwards, exceptions included. :class:`Run` calls ``fn`` and counts forward and backward
passes.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import numpy as np

from autograd_lite.core.backward import grad, topological_order
from autograd_lite.core.value import Value


class Target:
    """A Value being checked, with its name in the table and in entry labels."""

    def __init__(self, value: Value, name: str, label: str, index: int | None) -> None:
        self.value = value
        self.name = name  # for the table
        self.label = label  # inside entry labels: "input0", "layers.1.weight"
        self.index = index

    @property
    def shape(self) -> tuple[int, ...]:
        return self.value.shape

    @property
    def size(self) -> int:
        return self.value.size


NamedParams = Callable[[], Iterable[tuple[str, Any]]]  # a module's named_parameters


def named_params(params: Any, fn: Any) -> list[tuple[str, Value]]:
    """``params`` as (name, Value) pairs; by default ``fn.named_parameters()`` if it has one."""
    if params is None:
        named: NamedParams | None = getattr(fn, "named_parameters", None)
        return list(named()) if callable(named) else []
    named = getattr(params, "named_parameters", None)
    pairs: list[tuple[str, Any]]
    if callable(named):
        pairs = list(named())
    elif isinstance(params, Mapping):
        pairs = [(str(k), p) for k, p in params.items()]
    else:
        seq = [params] if isinstance(params, Value) else list(params)
        pairs = [(getattr(p, "name", None) or f"params[{i}]", p) for i, p in enumerate(seq)]
    for name, p in pairs:
        if not isinstance(p, Value):
            raise TypeError(f"params: {name} is a {type(p).__name__}, not a Value")
    return pairs


def prepare(
    fn: Any, inputs: Any, params: Any, who: str, need_targets: bool = True
) -> tuple[list[Value], list[Target], list[Value]]:
    """The arguments (non-Values wrapped), the Values to check, and the Values to swap."""
    if isinstance(inputs, Value):
        inputs = [inputs]
    args: list[Value] = []
    targets: list[Target] = []
    seen: set[int] = set()
    for i, x in enumerate(inputs):
        v = x if isinstance(x, Value) else Value(x)
        args.append(v)
        if v.requires_grad and id(v) not in seen:
            seen.add(id(v))
            name = f"input {i}" + (f" ({v.name})" if v.name else "")
            targets.append(Target(v, name, f"input{i}", i))
    for name, p in named_params(params, fn):
        if p.requires_grad and id(p) not in seen:
            seen.add(id(p))
            targets.append(Target(p, name, name, None))
    if not targets and need_targets:
        raise ValueError(f"{who}: no input requires grad, so there is nothing to check")
    swapped: dict[int, Value] = {}
    for v in [*args, *(t.value for t in targets)]:
        swapped.setdefault(id(v), v)
    for t in targets:
        d = np.asarray(t.value.data)
        if d.dtype.kind in "fc" and not np.all(np.isfinite(d)):
            k = int(np.flatnonzero(~np.isfinite(d))[0])
            where = (
                "" if d.ndim == 0 else f" at {tuple(int(i) for i in np.unravel_index(k, d.shape))}"
            )
            raise ValueError(
                f"{who}: {t.name} holds {d.flat[k]}{where}: finite differences need finite "
                "inputs (a derivative at nan or inf cannot be checked)"
            )
        if t.value.dtype != np.float64:
            warnings.warn(
                f"{who}: {t.name} is {t.value.dtype}; the check runs on it in float64, since "
                f"finite differences in {t.value.dtype} are too coarse to trust",
                stacklevel=3,
            )
    return args, targets, list(swapped.values())


@contextmanager
def swap(values: Sequence[Value]) -> Iterator[None]:
    """Give each Value a float64 copy of its data; put back the very same data and grad."""
    saved: list[tuple[Value, Any, Any]] = []
    try:
        for v in values:
            saved.append((v, v.data, v.grad))
            d = v.data
            v.data = d if type(d) is float else np.array(d, dtype=np.float64, order="C")
        yield
    finally:
        for v, data, g in reversed(saved):
            v.data = data
            v.grad = g


class Run:
    """Calls fn on the arguments, counting forward and backward passes."""

    def __init__(
        self, fn: Callable[..., Value], args: list[Value], who: str, counts: Any = None
    ) -> None:
        self.fn = fn
        self.args = args
        self.who = who
        self.counts = counts  # another _Run whose counters we share (gradgradcheck)
        self.forward = 0
        self.backward = 0
        self.out_size: int | None = None

    def output(self) -> Value:
        if self.counts is None:
            self.forward += 1
        out = self.fn(*self.args)
        if not isinstance(out, Value):
            raise TypeError(f"{self.who}: fn must return a Value, got {type(out).__name__}")
        return out

    def values(self) -> np.ndarray:
        """fn's output as a flat float64 array."""
        flat = np.array(self.output().data, dtype=np.float64).reshape(-1)
        if self.out_size is not None and flat.size != self.out_size:
            raise ValueError(f"{self.who}: fn's output changed size when its input was perturbed")
        return flat

    def grads(self, out: Value, wrt: list[Value], seed: Any) -> list[Any]:
        if not out.requires_grad:
            return [None] * len(wrt)
        self._count_backward()
        return list(grad(out, wrt, grad_outputs=seed, allow_unused=True))

    def _count_backward(self) -> None:
        if self.counts is None:
            self.backward += 1
        else:
            self.counts.backward += 1

    @property
    def cost(self) -> tuple[int, int]:
        c = self.counts or self
        return c.forward, c.backward


@dataclass
class _Found:
    out: Value  # fn's output from the discovery run
    extra: list[Target]  # leaves to check beyond the inputs and params
    unchecked: list[str]  # leaves left out because params= limited the check


def found_leaves(run: Run, fn: Any, targets: list[Target], params: Any) -> _Found:
    """Run fn once and find every leaf requiring grad in its graph that is not a target.

    Without ``params`` they are checked (named by the module that holds them, else their
    own name or the variable holding them, else ``leaf #k``); with ``params`` they are
    reported as not checked.
    """
    out = run.output()
    if not targets and (params is not None or not out.requires_grad):
        raise ValueError(f"{run.who}: no input requires grad, so there is nothing to check")
    known = {id(t.value) for t in targets}
    leaves = []
    if out.requires_grad:
        leaves = [
            n
            for n in topological_order([out])
            if n.is_leaf and n.requires_grad and id(n) not in known and n.dtype.kind == "f"
        ]
    if not leaves:
        return _Found(out, [], [])
    names = _reachable_names(fn)
    used = {t.name for t in targets}
    labels = []
    for k, leaf in enumerate(leaves):
        name = names.get(id(leaf)) or leaf.name or f"leaf #{k}"
        if name in used:
            name = f"{name} (leaf #{k})"
        used.add(name)
        labels.append(name)
    if params is not None:
        return _Found(out, [], labels)
    extra = [Target(leaf, n, n, None) for leaf, n in zip(leaves, labels)]
    for t in extra:
        if t.value.dtype != np.float64:
            warnings.warn(
                f"{run.who}: {t.name} is {t.value.dtype}; the check runs on it in float64",
                stacklevel=3,
            )
    return _Found(out, extra, [])


@contextmanager
def upcast_modules(fn: Any) -> Iterator[list[str]]:
    """Run every module ``fn`` reaches in float64: layer dtypes, buffers and parameters.

    Layers such as LayerNorm and BatchNorm cast their input back to their own dtype, so a
    float32 model checked with float64 parameters alone still computes in float32 (and
    finite differences in float32 mean nothing). Everything is put back afterwards.
    """
    roots: list[Any] = []
    _reachable_names(fn, roots)
    notes: list[str] = []
    saved: list[tuple[Any, str, Any]] = []
    params: list[Value] = []
    seen: set[int] = set()
    for root in roots:
        for _, m in root.named_modules():
            if id(m) in seen:
                continue
            seen.add(id(m))
            names = [n for n in ("_dtype",) if n in vars(m)] + list(
                vars(m).get("_buffer_names", ())
            )
            for n in names:
                val = getattr(m, n)
                if n == "_dtype":
                    dt = np.dtype(val) if val is not None else None
                    if dt is not None and dt.kind == "f" and dt.itemsize < 8:
                        saved.append((m, n, val))
                elif isinstance(val, np.ndarray) and val.dtype.kind == "f" and val.itemsize < 8:
                    saved.append((m, n, val))
            params += [p for _, p in _members_params(m) if p.dtype != np.float64]
    try:
        for m, n, val in saved:
            new = np.float64 if n == "_dtype" else val.astype(np.float64)
            object.__setattr__(m, n, new)
        with swap(params):
            if saved or params:
                notes.append(
                    "the model was upcast to float64 for the check (layer dtypes, buffers and "
                    f"parameters: {len(saved) + len(params)} items), and put back afterwards"
                )
            yield notes
    finally:
        for m, n, val in reversed(saved):
            object.__setattr__(m, n, val)


def _members_params(m: Any) -> list[tuple[str, Value]]:
    return [(n, p) for n, p in vars(m).items() if isinstance(p, Value)]


def _reachable_names(fn: Any, modules: list[Any] | None = None) -> dict[int, str]:
    """Names for the Values ``fn`` can reach: a module's parameter names, else the variable.

    Looks at ``fn`` itself, its ``__self__``, closure cells, the globals its code names and
    its defaults, and one level into lists, tuples and dicts and functions found there.
    """
    names: dict[int, str] = {}
    seen: set[int] = set()

    def visit(var: str, obj: Any, depth: int) -> None:
        if id(obj) in seen or depth > 3:
            return
        seen.add(id(obj))
        if isinstance(obj, Value):
            names.setdefault(id(obj), obj.name or var)
            return
        named: NamedParams | None = getattr(obj, "named_parameters", None)
        if callable(named) and not isinstance(obj, type):
            try:
                pairs = list(named())
            except Exception:  # not a module after all
                pairs = []
            for n, p in pairs:
                names.setdefault(id(p), n)
            if modules is not None and callable(getattr(obj, "named_modules", None)):
                modules.append(obj)
            return
        if isinstance(obj, (list, tuple)):
            for i, o in enumerate(obj):
                visit(f"{var}[{i}]", o, depth + 1)
        elif isinstance(obj, dict):
            for key, o in obj.items():
                visit(f"{var}[{key!r}]", o, depth + 1)
        elif callable(obj) and hasattr(getattr(obj, "__func__", obj), "__code__"):
            visit_function(obj, depth + 1)

    def visit_function(f: Any, depth: int) -> None:
        owner = getattr(f, "__self__", None)
        if owner is not None:
            visit("self", owner, depth)
        f = getattr(f, "__func__", f)
        code = f.__code__
        for var, cell in zip(code.co_freevars, f.__closure__ or ()):
            with suppress(ValueError):  # an empty cell
                visit(var, cell.cell_contents, depth)
        glob = getattr(f, "__globals__", {})
        for var in code.co_names:
            if var in glob:
                visit(var, glob[var], depth)
        for d in f.__defaults__ or ():
            visit("a default", d, depth)

    visit("fn", fn, 0)
    return names
