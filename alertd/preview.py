"""``alertd preview``: every target of a receiver's message written to files, exactly as it would be sent.

Files are named after the target as logs name it (``ops[slack-1]`` → ``ops-slack-1``): Slack →
``ops-slack-1.json`` (the posted payload, channel included); Teams → ``ops-teams-1.json`` (the
posted Workflows message); email → ``ops-email-1.eml`` (the MIME message: text part, HTML part,
attachments) and ``….html``; other apprise services → ``….md``. A receiver on routes with
different ``links:`` gets one rendering per route (``ops-slack-1-<route>.json``). The job run
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

from alertd.channels import TargetError
from alertd.channels.base import Target
from alertd.config import Config
from alertd.model import AlertDetail, AlertGroup, Channel, JobRun, RenderedMessage, TaskSession
from alertd.render import RouteLinks, TemplateError
from alertd.render.limits import slack_problems, teams_problems
from alertd.runtime import build_renderer, labelled_targets, state_path

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")

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


def route_links(cfg: Config, receiver: str) -> list[tuple[str, RouteLinks | None]]:
    """The distinct ``links:`` of the routes naming ``receiver``, each with the first route's name.

    A receiver on routes with different links gets different messages; the preview shows each.
    """
    found: list[tuple[str, RouteLinks | None]] = []
    for i, route in enumerate(cfg.routes):
        if receiver not in route.receivers:
            continue
        links = RouteLinks(route.links.runbook_url, route.links.dashboard_url) if route.links else None
        if all(links != seen for _, seen in found):
            found.append((route.name or f"routes[{i}]", links))
    return found or [("", None)]


def last_group(cfg: Config, receiver: str) -> AlertGroup | None:
    """The last real job run sent to ``receiver``, from the state database."""
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
    out: Path, stem: str, msg: RenderedMessage, target: Target, receiver: str
) -> list[tuple[Path, list[str]]]:
    if target.channel is Channel.SLACK:
        payload = target.payload(msg)  # type: ignore[attr-defined]
        path = out / f"{stem}.json"
        path.write_text(json.dumps(payload, ensure_ascii=False, indent=2))
        return [(path, slack_problems(payload))]
    if target.channel is Channel.TEAMS:
        body = target.body(msg)  # type: ignore[attr-defined]
        path = out / f"{stem}.json"
        path.write_text(json.dumps(json.loads(body), ensure_ascii=False, indent=2))
        return [(path, teams_problems(body))]
    if target.channel is Channel.EMAIL:
        (out / f"{stem}.html").write_text(msg.body)
        (out / f"{stem}.eml").write_bytes(eml(msg, receiver))
        return [(out / f"{stem}.eml", []), (out / f"{stem}.html", [])]
    (out / f"{stem}.md").write_text(f"{msg.title}\n\n{msg.body}\n")
    return [(out / f"{stem}.md", [])]


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
    renderer = build_renderer(cfg, config_path)
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
        routes = route_links(cfg, rc.name)
        seen: set[str] = set()
        for j, target in labelled_targets(rc.name, rc.all_urls()):
            if isinstance(target, TargetError):
                print(f"{rc.name} urls[{j}]: {target}", file=sys.stderr)
                status = max(status, 1)
                continue
            if target.identity in seen:
                continue  # listed twice: one target, as the daemon has it
            seen.add(target.identity)
            for route, links in routes:
                try:
                    msg = renderer.render(group, target.channel, links=links)
                except TemplateError as err:
                    print(f"{target.name}: {err}", file=sys.stderr)
                    status = max(status, 1)
                    continue
                label = target.name + (f" via {route}" if len(routes) > 1 else "")
                stem = _SAFE.sub("_", label.replace("[", "-").replace("]", "").replace(" via ", "-"))
                for path, problems in _write(directory, stem, msg, target, rc.name):
                    note = "; ".join(problems) if problems else "ok"
                    print(f"{label} {target.channel.value} {target.privacy_url} -> {path}: {note}")
                    status = max(status, 1 if problems else 0)
    return status if previewed else 1
