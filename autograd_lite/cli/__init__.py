"""The command line: argument handling, the expression parser (parsed, never evaluated) and
the demo. It may import every other part.
"""

from autograd_lite.cli.main import (
    demo,
    main,
)

__all__ = [
    "demo",
    "main",
]
