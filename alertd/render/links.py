"""What a message offers to act on: a route's links (runbook, dashboard) and the silence hint.

A route's ``links:`` are URL templates (``https://wiki/runbooks/{{ job_name }}``) expanded per
message with the group's job, server, source, job session and worst result; every value is
percent-encoded. The silence hint is the exact ``alertd silence add`` command that silences
this job, ready to paste.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import jinja2

from alertd.matchers import Matcher, Op
from alertd.render.env import TemplateError, describe, link_env

#: How the silence hint silences a job by default; people edit the duration and the comment.
SILENCE_FOR = "4h"

_ENV = link_env()
_LABELS = {"runbook_url": "Runbook", "dashboard_url": "Dashboard"}


@dataclass(frozen=True, slots=True)
class RouteLinks:
    """A route's ``links:``: URL templates; None leaves a link out."""

    runbook_url: str | None = None
    dashboard_url: str | None = None


@dataclass(frozen=True, slots=True)
class Link:
    """One expanded link: a label people read and an http(s) URL."""

    label: str
    url: str


#: Variables a link template may use (also what ``check_link_template`` renders it with).
SAMPLE_VALUES: Mapping[str, str] = {
    "job_name": "SQL Daily",
    "backup_server": "vbr01.example.com",
    "source": "em1",
    "job_session": "urn:veeam:BackupJobSession:0",
    "job_uid": "urn:veeam:Job:0",
    "result": "Failed",
    "receiver": "ops",
}


def _expand(name: str, template: str, values: Mapping[str, str]) -> str:
    try:
        url = _ENV.from_string(template).render(values).strip()
    except jinja2.TemplateError as exc:
        raise TemplateError(f"links.{name}", describe(exc)) from exc
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise TemplateError(f"links.{name}", "must expand to an http:// or https:// URL")
    # Characters that would end Slack's <url|label> or a Markdown link are percent-encoded.
    for char, code in (("|", "%7C"), ("<", "%3C"), (">", "%3E"), (" ", "%20"), ("(", "%28"), (")", "%29")):
        url = url.replace(char, code)
    return url


def expand_links(links: RouteLinks | None, values: Mapping[str, str]) -> tuple[Link, ...]:
    """The route's links for one message; a template that fails raises TemplateError."""
    if links is None:
        return ()
    found = []
    for name, label in _LABELS.items():
        template = getattr(links, name)
        if template:
            found.append(Link(label, _expand(name, template, values)))
    return tuple(found)


def check_link_template(name: str, template: str) -> None:
    """Raise TemplateError when ``template`` (config key ``links.<name>``) cannot produce a URL."""
    _expand(name, template, SAMPLE_VALUES)


def silence_hint(
    job_name: str, backup_server: str | None, config_path: str | None = None, duration: str = SILENCE_FOR
) -> str:
    """The exact command silencing this job (on this backup server) for ``duration``."""
    words = ["alertd", "silence", "add"]
    if config_path:
        words += ["--config", config_path]
    if backup_server:
        words.append(str(Matcher("backup_server", Op.EQ, backup_server)))
    words.append(str(Matcher("job_name", Op.EQ, job_name)))
    words += ["--for", duration, "--comment", "WHY"]
    return shlex.join(words)
