"""`alertd preview`: every target's message written to files exactly as it would be sent, nothing sent."""

from __future__ import annotations

import email
import email.policy
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml
from support import WebhookCollector

from alertd.render.limits import slack_problems, teams_problems


def preview(tmp_path: Path, urls: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    doc: dict[str, Any] = {
        "sources": [{"name": "em1", "url": "https://em.example:9398", "username": "svc", "password": "pw"}],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": urls}, {"name": "dba", "urls": ["json://127.0.0.1:9/x"]}],
        "routes": [{"receivers": ["ops"]}],
        "http": {"listen": None},
    }
    (tmp_path / "alertd.yaml").write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTD_")}
    cmd = [
        sys.executable,
        "-m",
        "alertd",
        "preview",
        "--config",
        str(tmp_path / "alertd.yaml"),
        "--out",
        str(tmp_path / "out"),
        *args,
    ]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False)


def test_preview_writes_each_target_as_sent_and_sends_nothing(
    tmp_path: Path, webhook: WebhookCollector
) -> None:
    """Slack and Teams JSON, the email .eml (text part, HTML, CSV) and its HTML, chat Markdown: written, valid, not sent."""
    urls = [
        f"slack+{webhook.http_url}#alerts",
        f"teams+{webhook.http_url}?sig=SECRETsig",
        "mailtos://alertd:SECRETpw@smtp.example.com?to=ops@example.com",
        webhook.url,
    ]
    done = preview(tmp_path, urls, "--receiver", "ops", "--vms", "250")
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == [
        "ops-0-slack.json",
        "ops-1-teams.json",
        "ops-2.eml",
        "ops-2.html",
        "ops-3.md",
    ]
    slack = json.loads((out / "ops-0-slack.json").read_text())
    assert slack_problems(slack) == [] and slack["channel"] == "#alerts"
    assert teams_problems(json.dumps(json.loads((out / "ops-1-teams.json").read_text()))) == []
    mail = email.message_from_bytes((out / "ops-2.eml").read_bytes(), policy=email.policy.default)
    assert mail["Subject"].strip().startswith("[Failed] SQL Daily")
    assert [p.get_content_type() for p in mail.walk()][-3:] == ["text/plain", "text/html", "text/csv"]
    assert webhook.requests == []
    assert "SECRET" not in done.stdout + done.stderr


def test_preview_from_state_without_a_run_says_so(tmp_path: Path) -> None:
    """--from-state on a state database with nothing sent yet says so per receiver and exits 1."""
    done = preview(tmp_path, ["json://127.0.0.1:9/x"], "--from-state")
    assert done.returncode == 1
    assert "ops: no job run in the state database yet" in done.stderr


def test_preview_unknown_receiver(tmp_path: Path) -> None:
    """An unknown --receiver is a usage error naming the configured ones."""
    done = preview(tmp_path, ["json://127.0.0.1:9/x"], "--receiver", "nope")
    assert done.returncode == 2 and "configured: ops, dba" in done.stderr
