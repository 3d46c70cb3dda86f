"""The containers an optimizer keeps, as compiled whole steps need them: parameter groups
(:class:`ParamGroup`, whose numbers your code reads are guarded or read live) and the
per-parameter state (:class:`OptimizerState`, read only by the optimizer's own calls).
"""

from __future__ import annotations

from typing import Any

from autograd_lite.core.modes import assigned, noted, read_live_only

__all__ = ["OptimizerState", "ParamGroup"]


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
