"""Where an idle alertd's resident memory comes from: RSS after importing each dependency in turn."""

from __future__ import annotations

import subprocess
import sys

from bench.scenario import child_env

#: Cumulative import steps: each child imports everything up to and including its step.
STEPS: tuple[tuple[str, str], ...] = (
    ("Python interpreter", ""),
    ("aiohttp", "import aiohttp"),
    ("pydantic, pydantic-settings, PyYAML", "import pydantic, pydantic_settings, yaml"),
    ("apprise", "import apprise"),
    ("Jinja2", "import jinja2, jinja2.sandbox"),
    (
        "structlog, prometheus-client, tenacity, defusedxml",
        "import structlog, prometheus_client, tenacity, defusedxml",
    ),
    ("alertd (CLI, daemon and all it imports)", "import alertd.cli, alertd.daemon, alertd.httpd"),
    (
        "apprise plugin registry (loaded by parsing one URL)",
        "apprise.Apprise.instantiate('json://127.0.0.1/')",
    ),
)

_PROBE = (
    "import pathlib\n"
    "for line in pathlib.Path('/proc/self/status').read_text().splitlines():\n"
    "    if line.startswith('VmRSS:'):\n"
    "        print(int(line.split()[1]) / 1024)\n"
)


def import_rss() -> list[tuple[str, float]]:
    """(step, MiB added by that step) for each import step."""
    found: list[tuple[str, float]] = []
    previous = 0.0
    code = ""
    for label, imports in STEPS:
        code += imports + "\n" if imports else ""
        out = subprocess.run(
            [sys.executable, "-c", code + _PROBE], capture_output=True, text=True, env=child_env(), check=True
        )
        rss = float(out.stdout.strip().splitlines()[-1])
        found.append((label, rss - previous))
        previous = rss
    return found
