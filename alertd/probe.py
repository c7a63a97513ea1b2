"""``alertd check-config --probe``: log on to every configured source and print what it answered.

This module owns running the probes (each source's own ``probe()``, all sources at once) and the
report's wording: per source its kind, API version, server time and clock skew, the sessions of
the last 24 hours, each endpoint alertd needs as ``ok`` or ``FAILED`` with its detail, and notes
such as a VBR server's degraded mode. The exit code is 0 when every endpoint of every source
answered and 1 otherwise. What each probe asks is the source's business (`alertd.em.probe`,
`alertd.vbr.probe`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Final

from alertd.config import Config, SourceConfig, VBRSourceConfig
from alertd.runtime import Clock, build_client, client_spec, utc_now
from alertd.source import EndpointCheck, ProbeReport, SourceError
from alertd.vbr.transport import FINGERPRINT_HELP

__all__ = ["format_report", "probe_all", "probe_sources"]

#: A skew beyond this is worth a word: windows and retry holds follow the source's clock.
_SKEW_NOTE: Final = timedelta(seconds=60)


async def _probe_one(source: SourceConfig, clock: Clock) -> ProbeReport:
    """One source's probe; a source that cannot even be asked is one failed check."""
    client = build_client(client_spec(source), clock)
    try:
        return await client.probe()
    except SourceError as err:
        check = EndpointCheck("probe", False, f"{err.kind}: {err}")
        return ProbeReport(source.name, source.kind, None, None, None, None, (check,))
    finally:
        await client.close()


async def probe_all(cfg: Config, clock: Clock = utc_now) -> list[ProbeReport]:
    """Every source's probe, run at once, in the order of ``sources``."""
    return list(await asyncio.gather(*(_probe_one(s, clock) for s in cfg.sources)))


def passed(report: ProbeReport) -> bool:
    """Every endpoint of the source answered (a report without checks did not pass)."""
    return bool(report.endpoints) and report.ok


def format_report(report: ProbeReport, source: SourceConfig) -> list[str]:
    """The lines printed for one source."""
    verdict = "ok" if passed(report) else "FAILED"
    lines = [f"source {report.source} ({_kind_name(report.kind)}) at {source.url}: {verdict}"]
    lines.append(f"  API version:          {report.api_version or 'unknown'}")
    lines.append(f"  server time:          {_time(report.server_time)}")
    lines.append(f"  clock skew:           {_skew(report.clock_skew)}")
    sessions = "unknown" if report.sessions_24h is None else str(report.sessions_24h)
    lines.append(f"  sessions in 24 h:     {sessions}")
    for check in report.endpoints:
        mark = "ok    " if check.ok else "FAILED"
        detail = f": {check.detail}" if check.detail else ""
        lines.append(f"  {mark} {check.name}{detail}")
    for note in _notes(report, source):
        lines.append(f"  note: {note}")
    return lines


def probe_sources(cfg: Config, *, out: Callable[[str], None] = print, clock: Clock = utc_now) -> int:
    """Probe every source, print the reports; 0 when every endpoint of every source answered, else 1."""
    reports = asyncio.run(probe_all(cfg, clock))
    for i, (report, source) in enumerate(zip(reports, cfg.sources, strict=True)):
        if i:
            out("")
        for line in format_report(report, source):
            out(line)
    failed = [r.source for r in reports if not passed(r)]
    out("")
    if failed:
        out(f"probe FAILED for {len(failed)} of {len(reports)} source(s): {', '.join(failed)}")
        return 1
    out(f"probe OK: every endpoint of {len(reports)} source(s) answered")
    return 0


def _kind_name(kind: str) -> str:
    return {"em": "Enterprise Manager", "vbr": "VBR REST API"}.get(kind, kind)


def _time(at: datetime | None) -> str:
    if at is None:
        return "unknown"
    return f"{at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _skew(skew: timedelta | None) -> str:
    if skew is None:
        return "unknown"
    seconds = skew.total_seconds()
    if abs(seconds) < 0.05:
        return "0.0 s"
    if abs(seconds) < 0.5:
        return f"{seconds:+.1f} s"
    side = "ahead of" if seconds > 0 else "behind"
    return f"{seconds:+.1f} s (the source's clock is {side} alertd's)"


def _notes(report: ProbeReport, source: SourceConfig) -> Sequence[str]:
    notes = list(report.notes)
    skew = report.clock_skew
    if skew is not None and abs(skew) > _SKEW_NOTE and not any("clock" in n for n in notes):
        notes.append("the clocks differ by more than a minute: check NTP on both hosts")
    if isinstance(source, VBRSourceConfig) and any(
        not e.ok and "certificate" in e.detail for e in report.endpoints
    ):
        notes.append(f"to pin the server's certificate, {FINGERPRINT_HELP} and set tls_fingerprint")
    return notes
