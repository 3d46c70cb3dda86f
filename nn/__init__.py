"""``import nn``: the short name of :mod:`autograd_lite.nn`, the same modules under two names.

The real package is ``autograd_lite.nn``; this one only makes ``import nn`` and
``from nn.optim import Adam`` give the very same module objects (one class ``nn.Linear``, not
two). If another distribution installs a top-level ``nn`` (PyPI's ``nn`` does), use
``from autograd_lite import nn``, which no other package can replace.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

from autograd_lite import nn as _real

_REAL = _real.__name__


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds ``nn.X`` as the already-importable ``autograd_lite.nn.X``."""

    def find_spec(self, fullname, path=None, target=None):
        if fullname.startswith(__name__ + "."):
            return importlib.util.spec_from_loader(fullname, self)
        return None

    def create_module(self, spec):
        return importlib.import_module(_REAL + spec.name[len(__name__) :])

    def exec_module(self, module):
        pass


if not any(isinstance(f, _Alias) for f in sys.meta_path):
    sys.meta_path.insert(0, _Alias())
for _name, _module in list(sys.modules.items()):
    if _name.startswith(_REAL + "."):
        sys.modules.setdefault(__name__ + _name[len(_REAL) :], _module)
sys.modules[__name__] = _real
