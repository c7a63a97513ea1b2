"""The package as installed (the Dockerfile's steps, outside Docker): templates ship, the console script runs."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


# pip builds the wheel in an isolated environment (setuptools installed into it first) and then
# installs it: about 15 s on an idle 2-core machine, more under load, over the 30 s default.
@pytest.mark.timeout(180)
def test_wheel_contains_templates_and_runs(tmp_path: Path) -> None:
    """`pip wheel .` carries the Jinja2 templates and py.typed; the installed package renders and answers --version."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-q",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        timeout=300,
        cwd=tmp_path,
    )
    [wheel] = tmp_path.glob("alertd-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "alertd/templates/alert_chat.md.j2" in names and "alertd/py.typed" in names
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
    )
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import alertd, alertd.render as r; "
        "assert alertd.__file__.startswith(sys.argv[1]); "
        "from alertd.cli import main; sys.argv=['alertd','--version']; main()"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code, str(target)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert proc.stdout.startswith("alertd "), proc.stderr


def _name(requirement: str) -> str:
    """The normalised project name of a requirement or ``name==version`` line."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement.strip())
    assert name is not None, requirement
    return re.sub(r"[-_.]+", "-", name.group(0)).lower()


def test_every_dependency_is_locked() -> None:
    """Every dependency pyproject.toml declares (runtime, test, lint) has an exact version in constraints.txt."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {_name(r) for r in project["dependencies"]}
    declared |= {_name(r) for extra in project["optional-dependencies"].values() for r in extra}
    lines = [line for line in (ROOT / "constraints.txt").read_text().splitlines() if line and line[0] != "#"]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==\S+", line) for line in lines), lines
    locked = {_name(line) for line in lines}
    assert declared - locked == set()
