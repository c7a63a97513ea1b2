"""`alertd demo` (what `make demo` runs) shows the whole pipeline: a grouped message, a retried delivery;
`alertd demo --source vbr` the same against the VBR simulator, its certificate pinned."""

from __future__ import annotations

import re
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


def test_vbr_demo_pins_its_certificate_and_shows_the_message() -> None:
    """The VBR demo serves HTTPS with a fresh self-signed certificate, pins its fingerprint, and shows the same grouped message and retry."""
    proc = subprocess.run(
        [sys.executable, "-m", "alertd", "demo", "--source", "vbr", "--for", "9"],
        capture_output=True,
        text=True,
        timeout=90,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    [pin] = re.findall(r"pinned by tls_fingerprint ((?:[0-9A-F]{2}:){31}[0-9A-F]{2})", out)
    assert "VBR simulator https://127.0.0.1:" in out and "vbr_api_version" in out
    assert "answering HTTP 500" in out and "delivery_retry" in out and "delivery_sent" in out
    assert "| [Failed] SQL Daily on vbr01.corp.local: 2 failed, 1 warning" in out
    assert "dbserver02" in out and "sqlreport01" in out
    assert "poll_failed" not in out and pin


def test_vbr_demo_without_cryptography_says_what_to_install() -> None:
    """Without the cryptography package the VBR demo exits 2 naming the extra to install, no traceback."""
    code = (
        "import sys; sys.modules['cryptography'] = None; from alertd.cli import main; "
        "sys.exit(main(['demo', '--source', 'vbr', '--for', '1']))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=90)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "pip install 'alertd[demo]'" in proc.stderr and "Traceback" not in proc.stderr
