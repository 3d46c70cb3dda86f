"""What a gradient check found, and how it reads: the results and their tables.

:class:`Entry` (one compared number), :class:`InputCheck` and :class:`GradcheckResult`
(what ``gradcheck`` and ``gradgradcheck`` return), :class:`NodeCheck` and
:class:`GraphCheckResult` (what ``check_graph`` returns), :class:`GradcheckError`, the
verdicts that fail (``FAILING``) and the helpers that print tables and entry labels
(``out[1, 2]``). Imports nothing else of the package.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Entry",
    "GradcheckError",
    "GradcheckResult",
    "GraphCheckResult",
    "InputCheck",
    "NodeCheck",
]


WORST = 5  # entries listed per failing input
FAILING = ("mismatch", "kink-fail", "unexamined")  # the verdicts that fail a check

_SECOND_ORDER_HINT = (
    "second derivatives are checked as d/dx of the gradient of L = sum(v * fn(x)) for a fixed "
    "random v. A common cause of a failure: a Function whose backward uses a value stashed "
    "on ctx (ctx.x = x) instead of ctx.save_for_backward(x) / ctx.saved_tensors, which "
    "create_graph cannot see through, so the second derivative comes out zero or wrong"
)


@dataclass
class Entry:
    """One compared number: a Jacobian entry, or one random projection v^T J u."""

    where: str
    analytical: float
    numerical: float
    abs_error: float
    rel_error: float
    verdict: str = "mismatch"  # failing: mismatch, kink-fail, unexamined; ok: noise, kink,
    # near-kink (judged by a step that stays on one side of a kink or tie near the point);
    # unverified: no verdict possible at this point (a jump, a kink at eps's scale only)

    def __str__(self) -> str:
        tag = "" if self.verdict in ("mismatch", "unexamined") else f" [{self.verdict}]"
        return (
            f"{self.where}: analytical {self.analytical:.6g}, numerical {self.numerical:.6g}, "
            f"abs error {self.abs_error:.3g}, rel error {self.rel_error:.3g}{tag}"
        )


@dataclass
class InputCheck:
    """The verdict for one checked input or parameter of :func:`gradcheck`."""

    name: str  # "input 0", "input 1 (w)", "layers.1.weight"
    index: int | None  # argument index for an input, None for a parameter
    shape: tuple[int, ...]
    passed: bool
    verdict: str  # "ok", "ok (kink)", "FAIL: 2 of 4 entries disagree", "unused", ...
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    compared: int = 0  # Jacobian entries (or projections) compared
    failed: int = 0
    worst: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    unverified: int = 0  # entries at which nothing could be verified (not failures)


@dataclass(repr=False)
class GradcheckResult:
    """What :func:`gradcheck`/:func:`gradgradcheck` found: truthy exactly when it passed.

    One :class:`InputCheck` per checked input or parameter, the mode (``"full"`` Jacobian
    or ``"fast"`` projections) and the cost. ``str(result)`` is a readable table;
    ``result["layers.1.weight"]`` or ``result[0]`` (argument index) picks one check.
    """

    passed: bool
    checks: list[InputCheck]
    mode: str
    order: int
    forward_passes: int
    backward_passes: int
    seconds: float
    eps: float
    atol: float
    rtol: float
    strict: bool = False
    error: str | None = None
    notes: list[str] = field(default_factory=list)  # e.g. "model upcast to float64"
    unchecked: list[str] = field(default_factory=list)
    """Leaves that require grad and feed the output but were not checked (``params=``
    limited the check to others); under ``strict`` they make the check fail."""

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> list[InputCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def unverified(self) -> int:
        """Entries that could not be verified (a jump or an eps-scale kink at the point):
        not failures, but not checked either; ``strict=True`` fails them."""
        return sum(c.unverified for c in self.checks)

    def __getitem__(self, key: int | str) -> InputCheck:
        for c in self.checks:
            if (isinstance(key, int) and c.index == key) or (
                isinstance(key, str) and key in (c.name, c.name.split(" (")[0])
            ):
                return c
        raise KeyError(key)

    def __repr__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return f"<GradcheckResult {status}, {self.mode} mode, {len(self.checks)} checked>"

    def __str__(self) -> str:
        who = "gradcheck" if self.order == 1 else "gradgradcheck (second derivatives)"
        n_bad = len(self.failures)
        partly = ""
        if self.unchecked:
            n = len(self.unchecked)
            partly = (
                f"partly checked: {n} {'leaf' if n == 1 else 'leaves'} not checked "
                f"({', '.join(self.unchecked)})"
            )
        unver = self.unverified
        if self.passed and unver:
            head = (
                f"{who} UNVERIFIED: {unver} {'entry' if unver == 1 else 'entries'} could not "
                "be verified (see notes: move the point or shrink eps); the rest agree"
            )
            head += f"; {partly}" if partly else ""
        elif self.passed and partly:
            head = f"{who} {partly}; the {len(self.checks)} checked agree with finite differences"
        elif self.passed:
            head = f"{who} passed: {len(self.checks)} checked, all agree with finite differences"
        elif self.error:
            head = f"{who} FAILED: {self.error}"
        elif not n_bad and partly:
            head = f"{who} FAILED (strict): {partly}"
            partly = ""
        else:
            head = (
                f"{who} FAILED: {n_bad} of {len(self.checks)} checked disagree with finite "
                "differences"
            )
        how = (
            "random projections v^T J u; see the notes for what they can miss"
            if self.mode == "fast"
            else "every Jacobian entry"
        )
        if partly and not self.passed:
            head += f"; {partly}"
        lines = [
            head,
            f"  mode: {self.mode} ({how}), eps={self.eps:g}, atol={self.atol:g}, "
            f"rtol={self.rtol:g}" + (", strict" if self.strict else ""),
            f"  cost: {self.forward_passes} forward passes, {self.backward_passes} backward "
            f"passes, {self.seconds:.3g} s",
            *[f"  {n}" for n in self.notes],
            "",
        ]
        rows = [
            [c.name, str(c.shape), f"{c.max_abs_error:.3g}", f"{c.max_rel_error:.3g}", c.verdict]
            for c in self.checks
        ]
        lines += _table(["checked", "shape", "max abs err", "max rel err", "verdict"], rows)
        for c in self.checks:
            if c.worst and not c.passed:
                lines.append(f"  {c.name}, worst entries:")
                lines += [f"    {e}" for e in c.worst[:3]]
        notes = [f"  {c.name}: {n}" for c in self.checks for n in c.notes]
        if notes:
            lines.append("  notes:")
            lines += ["  " + n for n in notes]
        if self.order == 2 and not self.passed and not self.error:
            lines.append("  " + _SECOND_ORDER_HINT)
        return "\n".join(lines)


@dataclass
class NodeCheck:
    """One node of a graph, one of its inputs: the node's VJP against its own forward."""

    position: int  # 1-based, in topological order (inputs before outputs)
    op: str
    site: str | None  # "file:line in function: source" of the code that made the node
    input: int  # which input of the node
    input_name: str
    input_shape: tuple[int, ...]
    output_shape: tuple[int, ...]
    mode: str  # "full" (element by element) or "directional"
    passed: bool
    max_abs_error: float = 0.0
    max_rel_error: float = 0.0
    worst: list[Entry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


@dataclass(repr=False)
class GraphCheckResult:
    """What :func:`check_graph` found: truthy when every node was checked and its VJP agrees.

    ``checks`` has one :class:`NodeCheck` per (node, input that needs a gradient), in
    topological order; ``culprit`` is the earliest failing one. ``str(result)`` is a table.
    """

    passed: bool
    checks: list[NodeCheck]
    nodes: int
    unchecked: list[str]
    forward_passes: int
    backward_passes: int
    seconds: float
    eps: float
    atol: float
    rtol: float

    def __bool__(self) -> bool:
        return self.passed

    @property
    def failures(self) -> list[NodeCheck]:
        return [c for c in self.checks if not c.passed]

    @property
    def culprit(self) -> NodeCheck | None:
        """The earliest failing node: its backward is the first one that is wrong."""
        bad = self.failures
        return bad[0] if bad else None

    def __repr__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        return f"<GraphCheckResult {status}, {self.nodes} nodes, {len(self.failures)} failing>"

    def __str__(self) -> str:
        bad = self.failures
        if self.passed:
            head = (
                f"check_graph passed: {self.nodes} nodes, {len(self.checks)} input gradients "
                "agree with finite differences of each node's own forward"
            )
        elif not bad:
            n = len(self.unchecked)
            head = (
                f"check_graph FAILED: {n} of {self.nodes} nodes could not be checked (see "
                "notes); the other nodes' input gradients agree"
            )
        else:
            head = (
                f"check_graph FAILED: {len(bad)} of {len(self.checks)} input gradients "
                f"disagree ({self.nodes} nodes)"
            )
            if self.unchecked:
                head += f"; {len(self.unchecked)} nodes could not be checked"
        lines = [
            head,
            f"  eps={self.eps:g}, atol={self.atol:g}, rtol={self.rtol:g}; cost: "
            f"{self.forward_passes} node forwards, {self.backward_passes} node VJPs, "
            f"{self.seconds:.3g} s",
        ]
        c = self.culprit
        if c is not None:
            lines.append(
                f"  likely culprit: node #{c.position} {c.op!r} (input {c.input}), made at "
                f"{c.site or 'an unknown place'}"
            )
        lines.append("")
        shown = bad if bad else self.checks
        rows = [
            [
                f"#{k.position}",
                k.op,
                f"{k.input} ({k.input_name})",
                str(k.input_shape),
                str(k.output_shape),
                f"{k.max_abs_error:.3g}",
                f"{k.max_rel_error:.3g}",
                ("ok" if k.passed else "FAIL") + f" ({k.mode})",
            ]
            + ([k.site or "unknown"] if bad else [])
            for k in shown
        ]
        head_row = ["node", "op", "input", "shape", "out shape", "max abs err", "max rel err"]
        lines += _table([*head_row, "verdict"] + (["made at"] if bad else []), rows)
        for k in bad:
            if k.worst:
                lines.append(f"  node #{k.position} {k.op}, input {k.input}, worst:")
                lines += [f"    {e}" for e in k.worst]
        notes = [f"  node #{k.position} {k.op}: {n}" for k in self.checks for n in k.notes]
        notes += [f"  {n}" for n in self.unchecked]
        if notes:
            lines.append("  notes:")
            lines += ["  " + n for n in notes]
        return "\n".join(lines)


class GradcheckError(AssertionError):
    """A gradient check failed; ``.result`` is the :class:`GradcheckResult` (or
    :class:`GraphCheckResult`) and the message is its table."""

    def __init__(
        self, result: GradcheckResult | GraphCheckResult | str, message: str | None = None
    ) -> None:
        self.result = None if isinstance(result, str) else result
        super().__init__(str(result) if message is None else message)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]
    ]


def unravel(i: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The index in ``shape`` of flat element ``i`` (C order)."""
    return tuple(int(x) for x in np.unravel_index(i, shape)) if shape else ()


def fmt_index(idx: tuple) -> str:
    """``(1, 2)`` as ``[1, 2]``; a scalar's ``()`` as nothing."""
    return "[" + ", ".join(str(int(i)) for i in idx) + "]" if idx else ""
