"""The installed package as a user's type checker sees it (issue 23.3).

After ``pip install -e .`` (the README's command) mypy and pyright must resolve
``autograd_lite`` and ``nn``: the editable install has to be a plain ``.pth`` path (as
hatchling writes), not setuptools' import hook, which static tools cannot follow. Only
the resolution is asserted here, not the absence of other type errors.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

USER_SCRIPT = """\
import autograd_lite as ag
from autograd_lite import nn
from autograd_lite import Value

x = Value(2.0)
model = nn.MLP(2, [3, 1])
print(ag.gradcheck, model, x)
"""

UNRESOLVED = (
    "Cannot find implementation or library stub",  # mypy
    "could not be resolved",  # pyright: Import "nn" could not be resolved
    "reportMissingImports",
    "reportMissingModuleSource",
)


def _installed_here() -> None:
    """Skip unless this Python has autograd-lite installed from this checkout (or a wheel)."""
    try:
        dist = importlib.metadata.distribution("autograd-lite")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("autograd-lite is not installed in this Python: pip install -e .")
    url = json.loads(dist.read_text("direct_url.json") or "{}").get("url", "")
    if url.startswith("file://") and Path(url[7:]).resolve() != ROOT:
        pytest.skip(f"autograd-lite is installed from {url[7:]}, not from {ROOT}")


def _clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "MYPYPATH")}
    env["MYPY_CACHE_DIR"] = os.devnull
    return env


@pytest.mark.parametrize("checker", ["mypy", "pyright"])
def test_a_users_script_resolves_the_installed_packages(checker, tmp_path):
    exe = shutil.which(checker)
    if exe is None:
        pytest.skip(f"{checker} is not installed")
    _installed_here()
    (tmp_path / "user.py").write_text(USER_SCRIPT)
    if checker == "mypy":
        args = [exe, "--python-executable", sys.executable, "--no-incremental", "user.py"]
    else:
        args = [exe, "--pythonpath", sys.executable, "user.py"]
    proc = subprocess.run(
        args, cwd=tmp_path, env=_clean_env(), capture_output=True, text=True, timeout=300
    )
    out = proc.stdout + proc.stderr
    assert not any(s in out for s in UNRESOLVED), (
        f"{checker} cannot find the installed autograd_lite / nn (an editable install made "
        f"before the switch to hatchling uses setuptools' import hook: reinstall with "
        f"pip install -e .):\n{out}"
    )


def test_the_wheel_ships_both_packages_with_their_py_typed():
    """The build configuration: both packages, each marked typed (PEP 561)."""
    for package in ("autograd_lite", "nn"):
        assert (ROOT / package / "py.typed").is_file()
    text = (ROOT / "pyproject.toml").read_text()
    assert 'build-backend = "hatchling.build"' in text
    assert 'packages = ["autograd_lite", "nn"]' in text
