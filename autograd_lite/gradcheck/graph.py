"""check_graph: each node of one recorded graph checked on its own.

For every node and every input of it that needs a gradient, the node's VJP is compared
with central differences of that node's own forward at its actual inputs, so a failure
names the operation whose backward is wrong (and, under anomaly mode, the line that made
it): element by element for inputs of up to ``DIRECTIONAL_THRESHOLD`` elements, along
random directions beyond.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from autograd_lite.core.backward import topological_order, unbroadcast
from autograd_lite.core.modes import creation_site, detect_anomaly
from autograd_lite.core.value import Value
from autograd_lite.gradcheck.fast import FAST_MODE_PROJECTIONS
from autograd_lite.gradcheck.finite_diff import cotangent, look_closer, random_unit
from autograd_lite.gradcheck.results import (
    FAILING,
    WORST,
    Entry,
    GradcheckError,
    GraphCheckResult,
    NodeCheck,
    fmt_index,
    unravel,
)
from autograd_lite.gradcheck.targets import named_params, prepare, swap, upcast_modules
from autograd_lite.gradcheck.tolerances import Options, agree, bar, largest_error, options

__all__ = [
    "DIRECTIONAL_THRESHOLD",
    "check_graph",
]


DIRECTIONAL_THRESHOLD = 20
""":func:`check_graph` checks node inputs up to this size element by element."""

KINK_FALLBACK = 2000
"""A larger input whose random directions cross kinks (ties, as a max pool's windows of
relu zeros) is checked element by element again up to this size: along a direction the
slopes of several kinks add up, so no one-sided test can judge the VJP there."""


def check_graph(
    fn: Callable[..., Value] | Value,
    inputs: Sequence[Any] | Value | None = None,
    *,
    params: Any = None,
    eps: float = 1e-6,
    atol: float | None = None,
    rtol: float | None = None,
    raise_exception: bool = True,
    seed: int = 0,
) -> GraphCheckResult:
    """Check each node's own VJP: v . J_node against v . (F(x + eps e_k) - F(x - eps e_k)) / 2eps.

    Runs ``fn(*inputs)`` once under :class:`detect_anomaly` (recording where each node is
    made), then, for every node and every input of it that needs a gradient, compares the
    node's VJP with central differences of that node's forward at its actual inputs:
    element by element for inputs of up to ``DIRECTIONAL_THRESHOLD`` elements, along random
    directions beyond. The tolerances are gradcheck's: ``atol=1e-5, rtol=1e-3``, and when
    neither is given, also SAFE times the measured rounding noise (where that is smaller),
    so what fails gradcheck fails here too. Modules ``fn`` reaches run in float64, as in
    gradcheck. ``check_graph(output)`` checks an already recorded graph. Returns a
    :class:`GraphCheckResult` naming the earliest failing node; on failure raises
    :class:`GradcheckError` carrying it, unless ``raise_exception=False``.
    """
    opts = options(eps, atol, rtol, True, False, None, seed, 0.0)
    start = time.perf_counter()
    if isinstance(fn, Value):
        if inputs is not None:
            raise TypeError("check_graph(output): inputs are only taken with a callable")
        names = {id(p): n for n, p in named_params(params, None)}
        result = _check_nodes(fn, names, opts, start)
    else:
        args, targets, swapped = prepare(
            fn, [] if inputs is None else inputs, params, "check_graph", need_targets=False
        )
        names = {id(t.value): t.label for t in targets}
        with swap(swapped), upcast_modules(fn):
            with detect_anomaly(check_nan=False):
                out = fn(*args)
            if not isinstance(out, Value):
                raise TypeError(f"check_graph: fn must return a Value, got {type(out).__name__}")
            result = _check_nodes(out, names, opts, start)
    if not result.passed and raise_exception:
        raise GradcheckError(result)
    return result


def _site(node: Value) -> str | None:
    """Where ``node`` was made (``file:line in function: source``), if recorded."""
    return creation_site(node)


def _sum_to_shape(g: Any, shape: tuple[int, ...]) -> np.ndarray:
    """Sum a gradient in the output's broadcast shape back to the input's ``shape``."""
    return unbroadcast(np.asarray(g, dtype=np.float64), shape)


def _nodes(root: Value) -> list[Value]:
    """The recorded nodes below ``root`` (leaves excluded), each after all of its inputs."""
    return [node for node in topological_order([root]) if not node.is_leaf]


class _NodeCounter:
    forward = 0
    backward = 0


def _check_nodes(
    root: Value, names: dict[int, str], opts: Options, start: float
) -> GraphCheckResult:
    order = _nodes(root)
    if not order:
        raise ValueError(
            "check_graph: the output was not recorded (nothing it was computed from requires "
            "grad, or it was computed under no_grad), so there is nothing to check"
        )
    position = {id(n): i for i, n in enumerate(order, 1)}
    rng = np.random.default_rng(opts.seed)
    counter = _NodeCounter()
    checks: list[NodeCheck] = []
    unchecked: list[str] = []
    for node in order:
        checks += _check_node(node, position, names, rng, opts, counter, unchecked)
    return GraphCheckResult(
        passed=all(c.passed for c in checks) and not unchecked,
        checks=checks,
        nodes=len(order),
        unchecked=unchecked,
        forward_passes=counter.forward,
        backward_passes=counter.backward,
        seconds=time.perf_counter() - start,
        eps=opts.eps,
        atol=opts.atol,
        rtol=opts.rtol,
    )


def _input_name(x: Value, names: dict[int, str], position: dict[int, int]) -> str:
    if id(x) in position:
        return f"node #{position[id(x)]} {x.op}"
    return names.get(id(x)) or x.name or "a leaf"


def _check_node(
    node: Value,
    position: dict[int, int],
    names: dict[int, str],
    rng: np.random.Generator,
    opts: Options,
    counter: _NodeCounter,
    unchecked: list[str],
) -> list[NodeCheck]:
    """The node's VJP for each input that needs a gradient, against its own forward."""
    op = node._op
    assert op is not None, "_nodes() leaves the leaves out: every node here was made by an op"
    pos = position[id(node)]
    name = node.op or type(op).__name__
    site = _site(node)
    inputs = node.inputs
    datas = [x.data if isinstance(x, Value) else x for x in inputs]
    params = tuple(node._ctx or ())

    def forward(ds: list[Any]) -> np.ndarray:
        counter.forward += 1
        with np.errstate(all="ignore"):
            return np.array(op.forward(*ds, *params), dtype=np.float64)

    try:
        f0 = forward(datas)
    except Exception as e:
        unchecked.append(f"node #{pos} {name}: its forward could not be run again ({e!r})")
        return []
    recorded = np.asarray(node.data, dtype=np.float64)
    if f0.shape != recorded.shape or not np.allclose(
        f0, recorded, rtol=1e-6, atol=1e-12, equal_nan=True
    ):
        unchecked.append(
            f"node #{pos} {name}: running its forward again gives a different result (random, "
            "or its inputs changed since the graph was recorded); not checked. Seed it (a "
            "fixed rng), eval() the model, or record the graph again"
        )
        return []
    if np.result_type(node.data).itemsize < 8:  # the node computes in float32 (or less)
        opts = dataclasses.replace(opts, unit=float(np.finfo(np.result_type(node.data)).eps) / 2)
    g = cotangent(rng, recorded.shape)
    g_flat = g.reshape(-1)
    seed: Any = float(g) if type(node.data) is float else g.astype(node.dtype)
    vjp = op.vjp
    counter.backward += 1
    try:
        grads = list(vjp(node, seed, False))
        vjp_error = None
    except Exception as e:
        grads, vjp_error = [None] * len(inputs), e
    checks = []
    for i, x in enumerate(inputs):
        if not (isinstance(x, Value) and x.requires_grad and x.dtype.kind == "f"):
            continue
        check = NodeCheck(
            pos,
            name,
            site,
            i,
            _input_name(x, names, position),
            x.shape,
            recorded.shape,
            "full" if x.size <= DIRECTIONAL_THRESHOLD else "directional",
            True,
        )
        checks.append(check)
        if vjp_error is not None:
            check.passed = False
            check.notes.append(f"its backward raised {vjp_error!r}")
            continue
        try:
            a = np.zeros(x.shape) if grads[i] is None else _sum_to_shape(grads[i], x.shape)
        except ValueError as e:
            check.passed = False
            check.notes.append(f"its backward gave {e}")
            continue
        if grads[i] is None:
            check.notes.append("its backward gave no gradient (None) for this input")
        kinked = _compare_node(check, forward, datas, i, x, a, f0, g_flat, rng, opts)
        if kinked and x.size <= KINK_FALLBACK:
            again = dataclasses.replace(check, mode="full", passed=True, worst=[], notes=[])
            again.max_abs_error = again.max_rel_error = 0.0
            _compare_node(again, forward, datas, i, x, a, f0, g_flat, rng, opts)
            again.notes.insert(0, "random directions crossed kinks: checked element by element")
            checks[-1] = again
    return checks


def _compare_node(
    check: NodeCheck,
    forward: Callable[[list[Any]], np.ndarray],
    datas: list[Any],
    i: int,
    x: Value,
    a: np.ndarray,
    f0: np.ndarray,
    g: np.ndarray,
    rng: np.random.Generator,
    opts: Options,
) -> bool:
    """Probe ``check``'s input (element by element, or along random directions) and record
    what disagrees; True when a direction crossed a kink."""
    base = np.array(x.data, dtype=np.float64)
    is_float = type(x.data) is float
    f0g = np.array([g @ f0.reshape(-1)])

    def moved(delta: Any) -> float:
        ds = list(datas)
        ds[i] = float(base + delta) if is_float else base + delta
        return float(g @ forward(ds).reshape(-1))

    # (where, phi, the VJP's value, the scale of the input's entries)
    probes: list[tuple[str, Callable[[float], tuple[np.ndarray, float]], float, float]] = []
    if check.mode == "full":
        for k in range(x.size):

            def phi_k(s: float, k: int = k) -> tuple[np.ndarray, float]:
                delta = np.zeros(base.shape)
                step = float((base.flat[k] + s) - base.flat[k])
                delta.flat[k] = step
                return np.array([moved(delta)]), step

            where = f"d(v.out) / d in{i}{fmt_index(unravel(k, x.shape))}"
            probes.append((where, phi_k, float(a.flat[k]), abs(float(base.flat[k]))))
    else:
        scale = float(np.max(np.abs(base), initial=0.0))
        for p in range(FAST_MODE_PROJECTIONS):
            u = random_unit(rng, base.shape)

            def phi_u(s: float, u: np.ndarray = u) -> tuple[np.ndarray, float]:
                return np.array([moved(s * u)]), s

            probes.append((f"projection {p}: v.J.u", phi_u, float(np.sum(a * u)), scale))
    worst = []
    kinked = False
    for where, phi, a_k, scale in probes:
        h = opts.eps * max(1.0, scale) if check.mode == "directional" else opts.eps
        with np.errstate(all="ignore"):
            (fp, sp), (fm, sm) = phi(h), phi(-h)
            n_k = float((fp[0] - fm[0]) / (sp - sm))
            err = abs(a_k - n_k)
            rel = err / max(abs(n_k), 1e-300)
            noise = opts.unit * (abs(fp[0]) + abs(fm[0])) / abs(sp - sm)  # rounding's share
        check.max_abs_error = max(check.max_abs_error, largest_error([err]))
        check.max_rel_error = max(check.max_rel_error, largest_error([rel]))
        if agree(err, n_k, opts) and err <= bar(n_k, noise, opts):
            continue
        verdict = look_closer(phi, f0g, np.array([a_k]), [0], scale, opts)[0]
        kind = verdict[0]
        if check.mode == "directional" and kind in ("kink", "kink-fail"):
            kinked = True  # (judged again element by element, or below)
            if kind == "kink-fail":
                check.notes.append(
                    f"UNVERIFIED at {where}: the direction crosses kinks, whose slopes add "
                    f"up; the VJP {a_k:.6g} lies outside {verdict[1]:.6g}..{verdict[2]:.6g}, "
                    f"which is no proof with several kinks (input over {KINK_FALLBACK:,} "
                    "elements: not checked element by element)"
                )
                worst.append(Entry(where, a_k, n_k, err, rel, "unverified"))
                continue
        if kind in FAILING:
            check.passed = False
        elif kind == "unverified":
            check.notes.append(
                f"UNVERIFIED at {where}: a {verdict[1]} at the point, the VJP {a_k:.6g} can be "
                "neither confirmed nor refuted; move the point or shrink eps"
            )
        elif kind == "kink":
            check.notes.append(
                f"kink at {where}: one-sided slopes {verdict[1]:.6g} and {verdict[2]:.6g}, "
                "the VJP lies between them"
            )
        else:
            check.notes.append(f"{kind} at {where}: finite-difference error, not counted")
        worst.append(Entry(where, a_k, n_k, err, rel, kind))
    check.worst = sorted([e for e in worst if e.verdict in FAILING], key=lambda e: -e.abs_error)[
        :WORST
    ]
    return kinked
