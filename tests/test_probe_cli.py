"""``alertd check-config --probe`` against both simulators: what a user runs first against a real server.

The command runs as a real child process (the simulator keeps serving on the test's event loop);
its report is checked line by line for each source kind: kind, API version, server time and skew,
sessions of the last 24 hours, each endpoint, notes, and the exit code.
"""

from __future__ import annotations

import asyncio
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from blackbox import SourceUnderTest, VBRUnderTest
from e2e import now

from alertd.config import load_document
from alertd.probe import format_report, probe_all

pytest_plugins = ["vbr_fixtures", "blackbox_fixtures"]


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str


def document(tmp_path: Path, source: dict[str, Any]) -> dict[str, Any]:
    return {
        "sources": [source],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": ["json://127.0.0.1:9/hook"]}],
        "routes": [{"receivers": ["ops"]}],
        "log": {"format": "json"},
    }


async def check_config(tmp_path: Path, doc: dict[str, Any], *extra: str) -> Run:
    """``alertd check-config --config FILE --probe`` as a child process."""
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "alertd",
        "check-config",
        "--config",
        str(path),
        *extra,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout=90)
    assert proc.returncode is not None
    return Run(proc.returncode, out.decode(), err.decode())


def value(stdout: str, label: str) -> str:
    """The value of a ``label: value`` report line."""
    return line(stdout, label + ":").split(":", 1)[1].strip()


def line(stdout: str, start: str) -> str:
    """The one report line starting (after indentation) with ``start``."""
    [found] = [ln.strip() for ln in stdout.splitlines() if ln.strip().startswith(start)]
    return found


async def test_probe_of_a_healthy_source(tmp_path: Path, src: SourceUnderTest) -> None:
    """A reachable source with a good account: every endpoint ok, its version, time, skew and 24 h count, exit 0."""
    src.failed_run("SQL Daily", ["db01", "db02"], {"db01": "Failed"}, now() - timedelta(hours=2))
    run = await check_config(tmp_path, document(tmp_path, src.source()), "--probe")
    assert run.code == 0, run.stdout + run.stderr
    assert "configuration OK" in run.stdout
    kind = "VBR REST API" if src.kind == "vbr" else "Enterprise Manager"
    assert line(run.stdout, f"source {src.kind}1") == f"source {src.kind}1 ({kind}) at {src.url}: ok"
    assert value(run.stdout, "API version") == ("1.3-rev2" if src.kind == "vbr" else "v1_7")
    assert value(run.stdout, "server time").startswith(f"{now():%Y-%m-%d}")
    assert value(run.stdout, "server time").endswith(" UTC")
    assert value(run.stdout, "clock skew").endswith(" s")
    assert value(run.stdout, "sessions in 24 h") == "2"
    assert "FAILED" not in run.stdout
    checks = [ln for ln in run.stdout.splitlines() if ln.startswith("  ok ")]
    assert len(checks) >= 4, run.stdout
    assert run.stdout.rstrip().endswith("probe OK: every endpoint of 1 source(s) answered")


async def test_probe_with_a_wrong_password(tmp_path: Path, src: SourceUnderTest) -> None:
    """A refused logon fails the probe (exit 1) at the logon check; for VBR the detail names the role and MFA."""
    run = await check_config(tmp_path, document(tmp_path, src.source(password="wrong")), "--probe")
    assert run.code == 1, run.stdout + run.stderr
    assert line(run.stdout, f"source {src.kind}1").endswith(": FAILED")
    failed = [ln.strip() for ln in run.stdout.splitlines() if ln.startswith("  FAILED")]
    assert failed, run.stdout
    assert "401" in failed[0]
    if src.kind == "vbr":
        assert failed[0].startswith("FAILED POST /api/oauth2/token")
        assert "Backup Viewer" in failed[0] and "multi-factor authentication" in failed[0]
    assert "wrong" not in run.stdout + run.stderr  # the password is never printed
    assert run.stdout.rstrip().endswith(f"probe FAILED for 1 of 1 source(s): {src.kind}1")


async def test_probe_of_a_source_that_is_down(tmp_path: Path, src: SourceUnderTest) -> None:
    """Nothing listening at the url: the probe fails (exit 1) saying it cannot connect."""
    doc = document(tmp_path, src.source())
    await src.stop()
    run = await check_config(tmp_path, doc, "--probe")
    assert run.code == 1, run.stdout + run.stderr
    assert "FAILED" in line(run.stdout, f"source {src.kind}1")
    assert "connect" in run.stdout
    assert "Traceback" not in run.stderr


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_probe_of_a_degraded_vbr_server(tmp_path: Path, src: SourceUnderTest) -> None:
    """VBR 12.0 answers every endpoint alertd uses there (exit 0) and the report notes the degraded mode."""
    assert isinstance(src, VBRUnderTest)
    src.sim.settings.profile = "12.0"
    run = await check_config(tmp_path, document(tmp_path, src.source()), "--probe")
    assert run.code == 0, run.stdout + run.stderr
    assert value(run.stdout, "API version") == "1.1-rev0"
    assert line(run.stdout, "note: degraded") == "note: degraded: job-level alerts only"
    assert "12.3.1" in line(run.stdout, "ok     GET /api/v1/taskSessions")


@pytest.mark.parametrize("src", ["vbr"], indirect=True)
async def test_probe_of_an_unpinned_vbr_certificate(tmp_path: Path, src: SourceUnderTest) -> None:
    """A VBR certificate alertd does not trust fails the probe (exit 1) and says how to read its SHA-256 fingerprint."""
    run = await check_config(tmp_path, document(tmp_path, src.source(trusted=False)), "--probe")
    assert run.code == 1, run.stdout + run.stderr
    assert "certificate verify failed" in line(run.stdout, "FAILED GET /api/v1/serverTime")
    note = line(run.stdout, "note: to pin")
    assert "openssl x509 -noout -fingerprint -sha256" in note and "tls_fingerprint" in note


async def test_probe_with_a_bad_config_exits_2(tmp_path: Path) -> None:
    """An invalid configuration is reported per key with exit 2 and no traceback; nothing is probed."""
    source = {"name": "v", "kind": "vbr", "url": "http://vbr01:9419", "username": "u", "password": "p"}
    run = await check_config(tmp_path, document(tmp_path, source), "--probe")
    assert run.code == 2
    assert "sources[0].url: must start with https://" in run.stderr
    assert "Traceback" not in run.stderr and "probe" not in run.stdout


async def test_without_probe_nothing_is_asked(tmp_path: Path, src: SourceUnderTest) -> None:
    """Plain check-config validates only: it sends no request to the source."""
    run = await check_config(tmp_path, document(tmp_path, src.source()))
    assert run.code == 0 and "configuration OK" in run.stdout
    assert len(src.requests) == 0


async def test_probe_reports_of_two_sources_in_order(tmp_path: Path, src: SourceUnderTest) -> None:
    """probe_all asks every source (here one good, one refused) and the formatted reports keep the config's order."""
    cfg = load_document(
        {
            **document(tmp_path, src.source(name="good")),
            "sources": [src.source(name="good"), src.source(name="refused", password="nope")],
        }
    )
    good, refused = await probe_all(cfg)
    assert (good.source, good.ok, refused.source, refused.ok) == ("good", True, "refused", False)
    first = format_report(good, cfg.sources[0])
    assert first[0].startswith("source good (") and first[0].endswith(": ok")
    assert format_report(refused, cfg.sources[1])[0].endswith(": FAILED")
