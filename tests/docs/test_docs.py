"""The documentation's code blocks run, so they cannot rot; the site builds strictly."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


PAGES = [
    p for p in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"] if python_blocks(p)
]


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_code_blocks_run(page, tmp_path, monkeypatch):
    """Each page's python blocks run in order, in one namespace, in a scratch folder."""
    blocks = python_blocks(page)
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(ROOT))
    namespace: dict = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks):
        try:
            exec(compile(code, f"{page.name} block {i + 1}", "exec"), namespace)
        except Exception as e:  # pragma: no cover - the failure report
            raise AssertionError(f"{page.name}, python block {i + 1} failed: {e!r}\n{code}") from e


def test_the_block_finder_sees_blocks():
    assert python_blocks(ROOT / "docs" / "concepts.md"), "regex no longer matches fenced blocks"


@pytest.mark.skipif(shutil.which("mkdocs") is None, reason="docs extra not installed")
def test_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
