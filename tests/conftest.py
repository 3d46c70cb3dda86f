"""Shared test set-up: a hypothesis profile that keeps the suite fast and deterministic, and
one line at the end per group of skipped tests saying why and what runs them."""

from __future__ import annotations

import os
import re
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, settings

# "ci" (the default): no per-example deadline (shared machines stall), a bounded number of
# examples, and derandomized so a red run can be reproduced. HYPOTHESIS_PROFILE=dev explores more.
settings.register_profile(
    "ci",
    deadline=None,
    max_examples=30,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
settings.register_profile("dev", deadline=None, max_examples=300)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

# (pattern in the skip reason, what those tests are, the command that lets them run)
SKIP_HINTS = [
    (
        r"import 'torch'",
        "PyTorch comparisons (torch is not installed)",
        "pip install torch==2.13.0",
    ),
    (
        r"selenium|chromium|chromedriver",
        "browser tests of the HTML page (no selenium, chromium or chromedriver)",
        "apt-get install chromium chromium-driver && pip install selenium",
    ),
    (
        r"Graphviz dot nor graphviz-pure|graphviz-pure is not installed",
        "rendering tests (no renderer)",
        "apt-get install graphviz",
    ),
    (
        r"Graphviz 'dot'|Graphviz dot",
        "tests of Graphviz's dot (not installed)",
        "apt-get install graphviz",
    ),
    (
        r"autograd-lite is (not )?installed",
        "type-checker tests of the installed package (not installed from this checkout)",
        "pip install -e .",
    ),
    (r"(mypy|pyright) is not installed", "type-checker tests", "pip install mypy pyright"),
    (r"sklearn|scikit-learn", "digits tests (no scikit-learn)", 'pip install -e ".[examples]"'),
    (r"matplotlib", "plot tests (no matplotlib)", 'pip install -e ".[examples]"'),
    (r"mkdocs", "docs-site tests (no mkdocs)", 'pip install -e ".[docs]"'),
    (r"test extra|nbformat|nbclient|ipykernel", "notebook tests", 'pip install -e ".[test]"'),
]


def skip_summary(reasons: list[str]) -> list[str]:
    """One line per group of skip reasons: how many, what they test, the command to run them.

    Reasons that no hint matches (POSIX-only tests, root-only ones) are counted together.
    """
    groups: Counter[int] = Counter()
    for reason in reasons:
        hit = next((i for i, h in enumerate(SKIP_HINTS) if re.search(h[0], reason)), -1)
        groups[hit] += 1
    lines = []
    for i, (_, what, command) in enumerate(SKIP_HINTS):
        if groups[i]:
            lines.append(f"skipped {groups[i]} {what}; to run them: {command}")
    if groups[-1]:
        lines.append(
            f"skipped {groups[-1]} tests this platform cannot run (see pytest -rs for each reason)"
        )
    return lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    reasons = []
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reasons.append(str(longrepr[2] if isinstance(longrepr, tuple) else longrepr))
    for line in skip_summary(reasons):
        terminalreporter.write_line(line)
