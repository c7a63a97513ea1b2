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


def preview(
    tmp_path: Path, urls: list[str], *args: str, routes: list[dict[str, Any]] | None = None
) -> subprocess.CompletedProcess[str]:
    doc: dict[str, Any] = {
        "sources": [{"name": "em1", "url": "https://em.example:9398", "username": "svc", "password": "pw"}],
        "state": {"path": str(tmp_path / "state.db")},
        "receivers": [{"name": "ops", "urls": urls}, {"name": "dba", "urls": ["json://127.0.0.1:9/x"]}],
        "routes": routes or [{"receivers": ["ops"]}],
        "http": {"listen": None},
    }
    (tmp_path / "alertd.yaml").write_text(yaml.safe_dump(doc))
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTD_")}
    # A relative --config, run from its directory, as a user at a shell would.
    cmd = [sys.executable, "-m", "alertd", "preview", "--config", "alertd.yaml", "--out", "out", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=60, env=env, check=False, cwd=tmp_path)


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
        "ops-chat-1.md",
        "ops-email-1.eml",
        "ops-email-1.html",
        "ops-slack-1.json",
        "ops-teams-1.json",
    ]
    slack = json.loads((out / "ops-slack-1.json").read_text())
    assert slack_problems(slack) == [] and slack["channel"] == "#alerts"
    assert teams_problems(json.dumps(json.loads((out / "ops-teams-1.json").read_text()))) == []
    mail = email.message_from_bytes((out / "ops-email-1.eml").read_bytes(), policy=email.policy.default)
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


def test_preview_names_targets_as_logs_do_and_the_hint_has_an_absolute_config(tmp_path: Path) -> None:
    """Targets are named ops[chat-1], ops[chat-2] as in logs; the silence hint's --config works from anywhere."""
    done = preview(tmp_path, ["json://127.0.0.1:9/a", "json://127.0.0.1:9/b", "json://127.0.0.1:9/a"])
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.startswith("ops")]
    assert [line.split(" ", 1)[0] for line in lines] == ["ops[chat-1]", "ops[chat-2]"]
    body = (tmp_path / "out" / "ops-chat-1.md").read_text()
    assert f"--config {tmp_path / 'alertd.yaml'}" in body


def test_preview_renders_each_routes_links(tmp_path: Path) -> None:
    """A receiver on two routes with different links gets one rendering per route, each with its links."""
    routes = [
        {"name": "sql", "matchers": ['job_name=~"SQL.*"'], "receivers": ["ops"],
         "links": {"runbook_url": "https://wiki.example/sql"}},
        {"name": "rest", "receivers": ["ops"], "links": {"runbook_url": "https://wiki.example/rest"}},
        {"name": "same", "receivers": ["ops"], "links": {"runbook_url": "https://wiki.example/rest"}},
    ]  # fmt: skip
    done = preview(tmp_path, ["json://127.0.0.1:9/a"], "--receiver", "ops", routes=routes)
    assert done.returncode == 0, done.stderr
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir()) == ["ops-chat-1-rest.md", "ops-chat-1-sql.md"]
    assert "https://wiki.example/sql" in (out / "ops-chat-1-sql.md").read_text()
    assert "https://wiki.example/rest" in (out / "ops-chat-1-rest.md").read_text()
