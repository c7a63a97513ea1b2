"""The package as installed (the Dockerfile's steps, outside Docker): templates ship, the console script runs."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


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
    names = zipfile.ZipFile(wheel).namelist()
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
