"""`alertd demo` (what `make demo` runs) shows the whole pipeline: a grouped message, a retried delivery."""

from __future__ import annotations

import subprocess
import sys


def test_demo_shows_grouped_message_and_retry() -> None:
    """The demo prints the failing job run as one message box after a visible HTTP 500 and retry, then exits 0."""
    proc = subprocess.run(
        [sys.executable, "-m", "alertd", "demo", "--for", "9"], capture_output=True, text=True, timeout=90
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert "answering HTTP 500" in out and "delivery_retry" in out and "delivery_sent" in out
    assert "| [Failed] SQL Daily on vbr01.corp.local: 2 failed, 1 warning" in out
    assert "dbserver02" in out and "sqlreport01" in out
