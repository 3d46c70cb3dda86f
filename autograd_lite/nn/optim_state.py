"""The containers an optimizer keeps, as compiled whole steps need them: parameter groups
(:class:`ParamGroup`, whose numbers your code reads are guarded or read live) and the
per-parameter state (:class:`OptimizerState`, read only by the optimizer's own calls),
and a saved state checked before an optimizer loads it (:func:`checked_state`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from autograd_lite.core.modes import assigned, noted, read_live_only

__all__ = ["OptimizerState", "ParamGroup", "checked_state"]


class ParamGroup(dict):
    """A parameter group: a dict (``"params"`` and the hyper-parameters). Inside a compiled
    function, a number your code reads from it (``g["lr"]``, ``get_last_lr()``) is guarded
    (a change traces again) or, after ``backward()``, read live at every replay; assigning
    one there is refused (set it outside). The optimizer's replayed calls read it live."""

    def __getitem__(self, key: Any) -> Any:
        return noted(self, key, dict.__getitem__(self, key))

    def get(self, key: Any, default: Any = None) -> Any:
        return noted(self, key, dict.get(self, key, default))

    def __setitem__(self, key: Any, value: Any) -> None:
        assigned(self, key)
        dict.__setitem__(self, key, value)


class OptimizerState(dict):
    """An optimizer's per-parameter state (moments, step counts). Inside a compiled
    function only the optimizer's replayed ``step()`` reads it: your code reading it
    there is refused (it would see the state of the traced call only)."""

    def _refused(self) -> None:
        read_live_only(self, "the optimizer's state")

    def __getitem__(self, key: Any) -> Any:
        self._refused()
        return dict.__getitem__(self, key)

    def get(self, key: Any, default: Any = None) -> Any:
        self._refused()
        return dict.get(self, key, default)

    def __contains__(self, key: object) -> bool:
        self._refused()
        return dict.__contains__(self, key)

    def __len__(self) -> int:
        self._refused()
        return dict.__len__(self)

    def __iter__(self) -> Any:
        self._refused()
        return dict.__iter__(self)

    def keys(self) -> Any:
        self._refused()
        return dict.keys(self)

    def values(self) -> Any:
        self._refused()
        return dict.values(self)

    def items(self) -> Any:
        self._refused()
        return dict.items(self)


def checked_state(opt: Any, state_dict: Mapping[str, Any]) -> tuple[list[dict], dict[int, dict]]:
    """The groups' new hyper-parameters and the new state that ``opt.load_state_dict``
    takes from ``state_dict``, everything checked first (group and parameter counts, each
    state array's shape against its parameter, ``opt._check`` of each group): a
    ValueError names the first problem. State arrays are copies in the parameter's dtype."""
    from autograd_lite.nn.serialization import unflatten

    who = f"{type(opt).__name__}.load_state_dict"
    sd = unflatten(state_dict)
    groups = sd.get("param_groups", {})
    if isinstance(groups, Mapping):  # came back from nn.load: {"0": {...}, "1": ...}
        groups = [groups[k] for k in sorted(groups, key=lambda k: _index(k, who, "group"))]
    if not isinstance(groups, (list, tuple)) or not all(isinstance(g, Mapping) for g in groups):
        raise ValueError(f"{who}: param_groups must be a list of dicts")
    if len(groups) != len(opt.param_groups):
        raise ValueError(
            f"{who}: {len(groups)} parameter group(s) in the state, "
            f"{len(opt.param_groups)} in the optimizer"
        )
    params = [p for g in opt.param_groups for p in g["params"]]
    new_groups = []
    for i, (g, saved) in enumerate(zip(opt.param_groups, groups)):
        n = len(np.atleast_1d(saved.get("params", [])))
        if n != len(g["params"]):
            raise ValueError(
                f"{who}: group {i} has {n} parameters in the state, "
                f"{len(g['params'])} in the optimizer"
            )
        new = dict(g)
        for key, v in saved.items():
            if key != "params" and key not in g:
                raise ValueError(
                    f"{who}: group {i} has {key!r}, which {type(opt).__name__} does not take "
                    "(the state of another optimizer?); nothing was loaded"
                )
            if key != "params":  # nn.load gives arrays: back to numbers and tuples
                new[key] = tuple(np.asarray(v).tolist()) if np.ndim(v) else np.asarray(v).item()
        try:
            opt._check(new)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{who}: group {i}: {e}") from None
        new_groups.append(new)
    state: dict[int, dict[str, Any]] = {}
    saved_states = sd.get("state", {})
    if not isinstance(saved_states, Mapping):
        raise ValueError(f"{who}: state must be a dict of each parameter's state")
    for key, saved_state in saved_states.items():
        k = _index(key, who, "state")
        if not 0 <= k < len(params):
            raise ValueError(f"{who}: state for parameter {k}, but there are {len(params)}")
        if not isinstance(saved_state, Mapping):
            raise ValueError(f"{who}: the state of parameter {k} must be a dict of its entries")
        names, required = type(opt)._state_names, type(opt)._state_required
        unknown = [n for n in saved_state if n not in names]
        missing = [n for n in required if n not in saved_state] if saved_state else []
        if unknown or missing:
            raise ValueError(
                f"{who}: the state of parameter {k} "
                + (f"has {unknown}, not part of {type(opt).__name__}'s state" if unknown else "")
                + (" and " if unknown and missing else "")
                + (f"lacks {missing}" if missing else "")
                + " (the state of another optimizer, or incomplete?); nothing was loaded"
            )
        p = params[k]
        entry: dict[str, Any] = {}
        for name, v in saved_state.items():
            if name == "step":
                entry[name] = _step_count(v, f"{who}: step of parameter {k}")
                continue
            arr = np.array(v, dtype=p.dtype)
            if arr.shape != p.shape:
                raise ValueError(
                    f"{who}: {name} of parameter {k} has shape {arr.shape}, the parameter {p.shape}"
                )
            entry[name] = arr
        state[k] = entry
    return new_groups, state


def _index(key: Any, who: str, what: str) -> int:
    """A group's or a parameter's position, from a key of the state (an int, or its text)."""
    try:
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"{who}: {what} key {key!r} is not a position (0, 1, ...)") from None


def _step_count(v: Any, what: str) -> int:
    """A saved step count: one whole number >= 0."""
    a = np.asarray(v)
    if a.size != 1 or a.dtype.kind not in "iuf" or not np.isfinite(a).all():
        raise ValueError(f"{what} must be one whole number >= 0, got {v!r}")
    x = a.item()
    if x < 0 or x != int(x):
        raise ValueError(f"{what} must be one whole number >= 0, got {v!r}")
    return int(x)
