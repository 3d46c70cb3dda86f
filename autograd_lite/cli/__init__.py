"""The command line: argument handling (``app``), the expression parser (``expr``: parsed,
never evaluated) and the demo (``demo``). It may import every other part; nothing imports it
but ``python -m autograd_lite`` and the ``autograd-lite`` entry point (``main``).
"""

from autograd_lite.cli.app import main

__all__ = ["main"]
