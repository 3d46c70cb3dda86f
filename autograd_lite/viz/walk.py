"""Which Values a drawing shows: the roots, the names given, and the walk that folds the rest.

:func:`root_values` checks and deduplicates what to draw, :func:`resolve_names` turns
``names=`` (a dict, pairs, or a model) into labels, and :class:`Walk` goes breadth-first
from the roots, iteratively (graphs of any depth), keeping the ``max_nodes`` Values nearest
the output and folding the rest into regions, each summarised by :func:`summary_label`
("19,500 more values (ops: add x9,750, ...)").
"""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from autograd_lite.core.modes import is_finite as _finite
from autograd_lite.core.value import Value
from autograd_lite.viz.style import RED, label_text, raw_grad

_MAX_SUMMARIES = 8  # more separate folded regions than this are merged into one box


def resolve_names(names: Any) -> tuple[dict[Value, str], set[Value]]:
    """``names`` as {Value: name}, and the Values that are a module's parameters."""
    if names is None:
        return {}, set()
    named: Callable[[], Iterable[Any]] | None = getattr(names, "named_parameters", None)
    is_module = callable(named)
    if callable(named):
        pairs: Iterable[Any] = named()
    elif isinstance(names, Mapping):
        pairs = names.items()
    elif isinstance(names, Iterable) and not isinstance(names, (str, bytes)):
        pairs = names
    else:
        raise TypeError(
            "draw_graph(names=...): expected a dict {name: Value}, a model with "
            f"named_parameters(), or (name, Value) pairs; got {type(names).__name__}"
        )
    out: dict[Value, str] = {}
    for pair in pairs:
        try:
            name, v = pair
        except (TypeError, ValueError):
            raise TypeError(
                f"draw_graph(names=...): expected (name, Value) pairs, got {pair!r}"
            ) from None
        if not isinstance(v, Value):
            raise TypeError(
                f"draw_graph(names=...): {name!r} maps to a {type(v).__name__}, not a Value"
            )
        out.setdefault(v, str(name))
    return out, (set(out) if is_module else set())


def root_values(root: Any) -> list[Value]:
    roots = [root] if isinstance(root, Value) else None
    if roots is None and isinstance(root, Sequence) and not isinstance(root, (str, bytes)):
        roots = list(root)
    if not roots or not all(isinstance(r, Value) for r in roots):
        raise TypeError(
            f"draw_graph: expected a Value (or a list of Values), got {type(root).__name__}"
        )
    unique: list[Value] = []
    seen: set[Value] = set()
    for r in roots:
        if r not in seen:
            seen.add(r)
            unique.append(r)
    return unique


class Walk:
    """The Values to draw (breadth-first from the roots) and a summary of the rest."""

    def __init__(self, roots: list[Value], max_nodes: int | None) -> None:
        budget = math.inf if max_nodes is None else max_nodes
        self.index: dict[Value, int] = {}
        self.order: list[Value] = []
        for r in roots:
            self.index[r] = len(self.order)
            self.order.append(r)
        boundary: dict[Value, None] = {}  # hidden Values with a drawn consumer, in order
        queue = deque(self.order)
        while queue:
            v = queue.popleft()
            for x in v._inputs or ():
                if not isinstance(x, Value) or x in self.index or x in boundary:
                    continue
                if len(self.order) < budget:
                    self.index[x] = len(self.order)
                    self.order.append(x)
                    queue.append(x)
                else:
                    boundary[x] = None
        self.group_of: dict[Value, int] = {}  # boundary Value -> index of its summary box
        self.groups: list[dict[str, Any]] = []
        self.hidden = 0
        if boundary:
            self._fold(list(boundary))

    def _fold(self, boundary: list[Value]) -> None:
        """Split the hidden Values into regions, one per boundary Value reaching them first."""
        owner: dict[Value, int] = {}
        stats: list[dict[str, Any]] = []
        for b in boundary:
            if b in owner:
                continue
            g = len(stats)
            st: dict[str, Any] = {"count": 0, "ops": Counter(), "leaves": 0, "nonfinite": 0}
            stats.append(st)
            owner[b] = g
            queue = deque([b])
            while queue:
                v = queue.popleft()
                st["count"] += 1
                if v._op is None:
                    st["leaves"] += 1
                else:
                    st["ops"][v.op] += 1
                if not (_finite(v) and _finite(raw_grad(v.grad))):
                    st["nonfinite"] += 1
                for x in v._inputs or ():
                    if isinstance(x, Value) and x not in owner and x not in self.index:
                        owner[x] = g
                        queue.append(x)
        merge = len(stats) > _MAX_SUMMARIES
        if merge:
            total: dict[str, Any] = {"count": 0, "ops": Counter(), "leaves": 0, "nonfinite": 0}
            for st in stats:
                total["count"] += st["count"]
                total["ops"].update(st["ops"])
                total["leaves"] += st["leaves"]
                total["nonfinite"] += st["nonfinite"]
            total["regions"] = len(stats)
            self.groups = [total]
        else:
            self.groups = stats
        for b in boundary:
            self.group_of[b] = 0 if merge else owner[b]
        self.hidden = sum(st["count"] for st in stats)


def summary_label(st: dict[str, Any]) -> str:
    n = st["count"]
    head = f"{n:,} more value{'s' if n != 1 else ''}"
    if st.get("regions", 1) > 1:
        head += f" in {st['regions']:,} regions"
    lines = [f"<B>{head}</B>"]
    ops = st["ops"].most_common()
    if ops:
        shown = ", ".join(f"{label_text(name)}\u00d7{k:,}" for name, k in ops[:5])
        more = f", +{len(ops) - 5} more kinds" if len(ops) > 5 else ""
        lines.append(f"ops: {shown}{more}")
    if st["leaves"]:
        lines.append(f"{st['leaves']:,} lea{'ves' if st['leaves'] != 1 else 'f'}")
    if st["nonfinite"]:
        lines.append(f'<FONT COLOR="{RED}">{st["nonfinite"]:,} with NaN/inf!</FONT>')
    return "<" + "<BR/>".join(lines) + ">"
