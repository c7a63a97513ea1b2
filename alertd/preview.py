"""``alertd preview``: every target of a receiver's message written to files, exactly as it would be sent.

For each target: Slack → ``<receiver>-<label>-slack.json`` (the posted payload, channel included);
Teams → ``…-teams.json`` (the posted Workflows message); email → ``….eml`` (the MIME message:
text part, HTML part, attachments) and ``….html``; other apprise services → ``….md``. The job run
is a built-in sample (``--vms N`` for a larger one) or, with ``--from-state``, the last real run
from the state database. Nothing is sent. Each native payload is checked against its channel's
limits and problems are printed.
"""

from __future__ import annotations

import json
import re
import sys
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

from alertd.channels import TargetError, make_target
from alertd.config import Config
from alertd.config_base import expand_path
from alertd.model import AlertDetail, AlertGroup, Channel, JobRun, RenderedMessage, TaskSession
from alertd.render import DisplayOptions, Renderer, RouteLinks, TemplateError
from alertd.render.limits import slack_problems, teams_problems

_REASONS = (
    (
        "Failed",
        "Error: There is not enough space on the disk. Failed to write \\\\nas01\\backups\\SQL Daily\\{vm}.vbk",
    ),
    ("Failed", "Error: Failed to create VM snapshot of '{vm}'. Timed out after 900 seconds"),
    ("Warning", "Changed block tracking is disabled for {vm}: the next run reads every disk in full"),
)


def sample_group(receiver: str, vms: int = 5, now: datetime | None = None) -> AlertGroup:
    """A realistic job run: ``vms`` alerts (disk full, snapshot timeout, CBT warnings) of a 40-VM job."""
    end = (now or datetime.now(UTC)).replace(second=0, microsecond=0) - timedelta(minutes=5)
    start = end - timedelta(hours=1, minutes=27)
    run = "urn:veeam:BackupJobSession:preview"
    alerts = []
    for i in range(vms):
        result, reason = _REASONS[0] if i % 5 < 2 else _REASONS[1] if i % 5 == 2 else _REASONS[2]
        vm = f"sql-prod-{i + 1:02d}"
        alerts.append(
            TaskSession(
                uid=f"urn:veeam:BackupTaskSession:preview-{i}",
                name=f"{vm}@{start:%Y-%m-%d %H:%M:%S}",
                vm=vm,
                vm_uid=None,
                job_session_uid=run,
                job_name="SQL Daily",
                backup_server="vbr01.example.com",
                creation_time=start,
                end_time=end - timedelta(minutes=i % 7),
                state="Completed",
                result=result,
                reason=reason.format(vm=vm),
                total_size=(i + 1) * 53_687_091_200,
                source="em1",
            )
        )
    details = {alerts[0].uid: AlertDetail(attempts=3, streak=4)} if alerts else {}
    if len(alerts) > 3:
        details[alerts[3].uid] = AlertDetail(late_by=timedelta(minutes=47))
    job_run = JobRun(
        uid=run,
        job_uid="urn:veeam:Job:preview",
        job_name="SQL Daily",
        creation_time=start,
        end_time=end,
        task_count=max(40, vms),
    )
    return AlertGroup(
        key="preview", receiver=receiver, alerts=tuple(alerts), details=details, job_runs={run: job_run}
    )


def display_options(cfg: Config, config_path: Path) -> DisplayOptions:
    """``display.timezone`` from the config when it has that key (hook: the key is added by the config module)."""
    display = getattr(cfg, "display", None)
    timezone = getattr(display, "timezone", None) or "UTC"
    return DisplayOptions(timezone=str(timezone), config_path=str(config_path))


def route_links(cfg: Config, receiver: str) -> RouteLinks | None:
    """The ``links:`` of the first route naming ``receiver``."""
    for route in cfg.routes:
        if receiver in route.receivers and route.links is not None:
            return RouteLinks(route.links.runbook_url, route.links.dashboard_url)
    return None


def last_group(cfg: Config, receiver: str) -> AlertGroup | None:
    """The last real job run sent to ``receiver``, from the state database."""
    from alertd.runtime import state_path
    from alertd.state import SQLiteStore

    store = SQLiteStore(state_path(cfg))
    try:
        return store.last_alert_group(receiver)
    finally:
        store.close()


def eml(msg: RenderedMessage, receiver: str) -> bytes:
    """The email as a MIME message: text part, HTML part and attachments (envelope headers are placeholders)."""
    mail = EmailMessage()
    mail["Subject"] = msg.title
    mail["From"] = "alertd <alertd@localhost>"
    mail["To"] = f"{receiver} <{receiver}@localhost>"
    mail.set_content(msg.text or "", cte="quoted-printable")
    mail.add_alternative(msg.body, subtype="html", cte="quoted-printable")
    for attachment in msg.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        mail.add_attachment(
            attachment.content.encode(), maintype=maintype, subtype=subtype, filename=attachment.name
        )
    return mail.as_bytes()


def _write(
    out: Path, stem: str, channel: Channel, msg: RenderedMessage, target: object
) -> list[tuple[Path, list[str]]]:
    written: list[tuple[Path, list[str]]] = []
    if channel is Channel.SLACK:
        payload = target.payload(msg)  # type: ignore[attr-defined]
        path = out / f"{stem}-slack.json"
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
        written.append((path, slack_problems(payload)))
    elif channel is Channel.TEAMS:
        body = target.body(msg)  # type: ignore[attr-defined]
        path = out / f"{stem}-teams.json"
        path.write_text(json.dumps(json.loads(body), ensure_ascii=False, indent=2))
        written.append((path, teams_problems(body)))
    elif channel is Channel.EMAIL:
        (out / f"{stem}.html").write_text(msg.body)
        (out / f"{stem}.eml").write_bytes(eml(msg, stem.split("-", 1)[0]))
        written += [(out / f"{stem}.eml", []), (out / f"{stem}.html", [])]
    else:
        (out / f"{stem}.md").write_text(f"{msg.title}\n\n{msg.body}\n")
        written.append((out / f"{stem}.md", []))
    return written


def run_preview(
    cfg: Config, config_path: Path, receiver: str | None, out: str, from_state: bool = False, vms: int = 5
) -> int:
    """Write each target's rendering of a sample (or the last real) run.

    0 on success; 1 on a limit problem, or when ``--from-state`` finds no job run yet; 2 on usage errors.
    """
    names = [r.name for r in cfg.receivers]
    if receiver is not None and receiver not in names:
        print(f"receiver {receiver!r} is not configured (configured: {', '.join(names)})", file=sys.stderr)
        return 2
    overrides = {r.name: expand_path(r.templates) for r in cfg.receivers if r.templates}
    renderer = Renderer(overrides, display=display_options(cfg, config_path))
    directory = Path(out)
    directory.mkdir(parents=True, exist_ok=True)
    status = 0
    previewed = 0
    for rc in cfg.receivers:
        if receiver is not None and rc.name != receiver:
            continue
        if from_state:
            try:
                group = last_group(cfg, rc.name)
            except LookupError as err:
                print(f"--from-state: {err}", file=sys.stderr)
                return 2
            if group is None:
                print(f"{rc.name}: no job run in the state database yet", file=sys.stderr)
                continue
        else:
            group = sample_group(rc.name, vms)
        previewed += 1
        for index, url in enumerate(rc.all_urls()):
            try:
                target = make_target(rc.name, url, str(index))
                msg = renderer.render(group, target.channel, links=route_links(cfg, rc.name))
            except (TargetError, TemplateError) as err:
                print(f"{rc.name}[{index}]: {err}", file=sys.stderr)
                status = max(status, 1)
                continue
            stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{rc.name}-{index}")
            for path, problems in _write(directory, stem, target.channel, msg, target):
                note = "; ".join(problems) if problems else "ok"
                print(f"{target.name} {target.channel.value} {target.privacy_url} -> {path}: {note}")
                status = max(status, 1 if problems else 0)
    return status if previewed else 1
