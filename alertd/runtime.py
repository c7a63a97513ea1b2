"""Build the live objects a configuration describes: EM clients, delivery targets, renderer, pipeline.

Kept apart from the daemon's lifecycle so that ``run``, ``once``, ``check-config``, ``test-notify``
and a SIGHUP reload all build them the same way.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from alertd.config import Config, ConfigError, SourceConfig, _expand
from alertd.em.client import EMClient, EMConnection
from alertd.notify import AppriseTarget, TargetError
from alertd.pipeline import Kind, TargetInfo
from alertd.render import Renderer


@dataclass
class Targets:
    """Every delivery target of a config, by target name, plus what rendering needs per receiver."""

    by_name: dict[str, AppriseTarget] = field(default_factory=dict)
    by_receiver: dict[str, list[TargetInfo]] = field(default_factory=dict)


def build_targets(cfg: Config) -> Targets:
    """One AppriseTarget per URL of every receiver; raises ConfigError naming each bad URL's key."""
    targets = Targets()
    problems = []
    for i, receiver in enumerate(cfg.receivers):
        infos: list[TargetInfo] = []
        for j, url in enumerate(receiver.all_urls()):
            try:
                target = AppriseTarget(receiver.name, j, url)
            except TargetError as err:
                key = f"receivers[{i}].urls[{j}]" if j < len(receiver.urls) else f"receivers[{i}].urls_file"
                problems.append(f"{key}: {err}")
                continue
            targets.by_name[target.name] = target
            kind: Kind = "email" if target.kind == "email" else "chat"
            infos.append(TargetInfo(target.name, kind))
        targets.by_receiver[receiver.name] = infos
    if problems:
        raise ConfigError(problems)
    return targets


def build_renderer(cfg: Config) -> Renderer:
    """The renderer with each receiver's template overrides."""
    overrides = {r.name: _expand(r.templates) for r in cfg.receivers if r.templates}
    return Renderer(overrides)


def connection(source: SourceConfig) -> EMConnection:
    """The EM client settings of one source (reads password_file now)."""
    return EMConnection(
        source=source.name,
        url=source.url,
        username=source.username,
        password=source.secret_password(),
        verify_tls=source.verify_tls,
        ca_file=str(_expand(source.ca_file)) if source.ca_file else None,
        format=source.format,
        page_size=source.page_size,
        connect_timeout=source.connect_timeout.total_seconds(),
        read_timeout=source.read_timeout.total_seconds(),
        max_response_bytes=source.max_response_mb * 1024 * 1024,
    )


def build_client(source: SourceConfig) -> EMClient:
    """An EM client for one source."""
    return EMClient(connection(source))


def validate_fully(cfg: Config) -> None:
    """Checks beyond the schema that need live objects (apprise URL parsing, templates)."""
    build_targets(cfg)
    build_renderer(cfg)


def state_path(cfg: Config) -> Path:
    """Where the state database lives."""
    return _expand(cfg.state.path)
