"""The documentation's code blocks run, so they cannot rot; the site builds strictly."""

from __future__ import annotations

import importlib.util
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


PAGES = [p for p in sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"] if python_blocks(p)]


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


# The build runs `python -m mkdocs` with this interpreter, so the question is whether this
# interpreter can import mkdocs, not whether some `mkdocs` program is on PATH (that may be a
# shim or another Python's script, present when the module is missing here, or the reverse).
HAVE_MKDOCS = importlib.util.find_spec("mkdocs") is not None


@pytest.mark.skipif(not HAVE_MKDOCS, reason="docs extra not installed (no mkdocs module)")
def test_site_builds_strictly(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_build_skips_on_the_module_not_on_a_program_on_path(monkeypatch):
    """A `mkdocs` program on PATH (a pyenv shim, another Python's script) without the module
    in this interpreter must skip the build, not fail it; the module alone must run it."""
    find_spec = importlib.util.find_spec

    def skipped(module: bool, program: bool) -> bool:
        monkeypatch.setattr(
            shutil, "which", lambda name, *a, **k: f"/bin/{name}" if program else None
        )
        monkeypatch.setattr(
            importlib.util,
            "find_spec",
            lambda name, *a, **k: (
                (find_spec("json") if module else None)
                if name == "mkdocs"
                else find_spec(name, *a, **k)
            ),
        )
        spec = importlib.util.spec_from_file_location("_test_docs_again", __file__)
        again = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(again)
        (mark,) = [m for m in again.test_site_builds_strictly.pytestmark if m.name == "skipif"]
        return bool(mark.args[0])

    assert skipped(module=False, program=True)
    assert not skipped(module=True, program=False)
