"""Build the live objects a configuration describes: EM clients, delivery targets, renderer, pipeline.

Kept apart from the daemon's lifecycle so that ``run``, ``once``, ``check-config``, ``test-notify``
and a SIGHUP reload all build them the same way.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from alertd.channels import TargetError, make_target
from alertd.channels.base import Target
from alertd.config import Config, ConfigError, EMSourceConfig, SourceConfig, VBRSourceConfig
from alertd.config_base import expand_path
from alertd.em.client import EMConnection
from alertd.em.source import EMSource
from alertd.model import AlertGroup, Channel, TaskSession
from alertd.planner import TargetInfo
from alertd.render import DisplayOptions, Renderer, TemplateError
from alertd.source import Source, SourceError

if TYPE_CHECKING:
    # Imported where a VBR source is built: a daemon reading only EM never loads the VBR client.
    from alertd.vbr.client import VBRConnection

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The wall clock, as an aware UTC datetime."""
    return datetime.now(UTC)


@dataclass
class Targets:
    """Every delivery target of a config by its stable key, plus what rendering needs per receiver.

    A target's key is its receiver plus a digest of its normalised URL (``ops#3f2a9c1be07d``): the
    outbox stores it, so a reload that adds, removes or reorders URLs never moves a pending row to
    another URL. Logs name a target by its label (``ops[slack-1]``) and privacy URL instead.
    """

    by_name: dict[str, Target] = field(default_factory=dict)
    by_receiver: dict[str, list[TargetInfo]] = field(default_factory=dict)

    def label(self, key: str) -> str:
        """A target's name for people (its key when it is no longer configured)."""
        target = self.by_name.get(key)
        return target.name if target is not None else key


def target_key(receiver: str, identity: str) -> str:
    """The stable key of the target with normalised URL ``identity`` in ``receiver``."""
    return f"{receiver}#{hashlib.sha256(identity.encode()).hexdigest()[:12]}"


def labelled_targets(receiver: str, urls: list[str]) -> Iterator[tuple[int, Target | TargetError]]:
    """Each URL's target (by index), labelled by channel and rank as logs name it (``ops[slack-1]``).

    A URL that is not a target yields the error instead; ``build_targets`` and ``preview`` share
    this so that a preview file and a log line name the same target alike.
    """
    ranks: dict[str, int] = {}
    for j, url in enumerate(urls):
        try:
            channel = make_target(receiver, url, str(j + 1)).channel.value
            ranks[channel] = ranks.get(channel, 0) + 1
            yield j, make_target(receiver, url, f"{channel}-{ranks[channel]}")
        except TargetError as err:
            yield j, err


def build_targets(cfg: Config) -> Targets:
    """One target per distinct URL of every receiver; raises ConfigError naming each bad URL's key.

    Targets are labelled by channel and rank (``ops[slack-1]``, ``ops[email-1]``); a URL listed
    twice in one receiver is one target (it would otherwise get every message twice).
    """
    targets = Targets()
    problems = []
    for i, receiver in enumerate(cfg.receivers):
        infos: list[TargetInfo] = []
        for j, target in labelled_targets(receiver.name, receiver.all_urls()):
            if isinstance(target, TargetError):
                key = f"receivers[{i}].urls[{j}]" if j < len(receiver.urls) else f"receivers[{i}].urls_file"
                problems.append(f"{key}: {target}")
                continue
            key = target_key(receiver.name, target.identity)
            if key in targets.by_name:
                continue
            targets.by_name[key] = target
            infos.append(TargetInfo(key, target.channel))
        targets.by_receiver[receiver.name] = infos
    if problems:
        raise ConfigError(problems)
    return targets


def build_renderer(cfg: Config, config_path: Path | None = None) -> Renderer:
    """The renderer with each receiver's template overrides and the display settings."""
    overrides = {r.name: expand_path(r.templates) for r in cfg.receivers if r.templates}
    display = DisplayOptions(cfg.display.timezone, str(config_path) if config_path else None)
    return Renderer(overrides, display=display)


def _common(source: EMSourceConfig | VBRSourceConfig) -> dict[str, Any]:
    """The client settings every source kind has (reads password_file now)."""
    return {
        "source": source.name,
        "url": source.url,
        "username": source.username,
        "password": source.secret_password(),
        "verify_tls": source.verify_tls,
        "ca_file": str(expand_path(source.ca_file)) if source.ca_file else None,
        "page_size": source.page_size,
        "connect_timeout": source.connect_timeout.total_seconds(),
        "read_timeout": source.read_timeout.total_seconds(),
        "max_response_bytes": source.max_response_mb * 1024 * 1024,
    }


def connection(source: EMSourceConfig) -> EMConnection:
    """The EM client settings of one source (reads password_file now)."""
    return EMConnection(**_common(source), format=source.format)


def vbr_connection(source: VBRSourceConfig) -> VBRConnection:
    """The VBR client settings of one source (reads password_file now)."""
    from alertd.vbr.client import VBRConnection

    return VBRConnection(
        **_common(source),
        tls_fingerprint=source.tls_fingerprint,
        api_version=source.api_version,
        backup_server=source.backup_server,
    )


@dataclass(frozen=True)
class ClientSpec:
    """Everything one source's client is built from, file contents included.

    The password is the one ``password_file`` holds now and the CA is a digest of ``ca_file``'s
    bytes now, so two equal specs build interchangeable clients and a reload reuses a running
    client only when its spec is unchanged: a rotated password_file or a ca_file replaced at the
    same path builds a new client, while a changed poll_interval or overlap keeps the old one.
    """

    connection: EMConnection | VBRConnection
    ca_sha256: str | None


class SpecError(ValueError):
    """A file a source names cannot be read; ``key`` is the source key naming it."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def client_spec(source: SourceConfig) -> ClientSpec:
    """Read ``source``'s password_file and ca_file now; raises SpecError naming the unreadable one."""
    try:
        conn: EMConnection | VBRConnection = (
            vbr_connection(source) if isinstance(source, VBRSourceConfig) else connection(source)
        )
    except ValueError as err:
        raise SpecError("password_file", str(err)) from err
    ca_sha256 = None
    if source.ca_file is not None and source.verify_tls:
        path = expand_path(source.ca_file)
        try:
            ca_sha256 = hashlib.sha256(path.read_bytes()).hexdigest()
        except OSError as err:
            raise SpecError("ca_file", f"cannot read {path}: {err.strerror or err}") from err
    return ClientSpec(conn, ca_sha256)


def build_client(spec: ClientSpec, clock: Clock = utc_now) -> Source:
    """The reader a spec describes; ``clock`` is alertd's (the source measures its skew against it)."""
    if isinstance(spec.connection, EMConnection):
        return EMSource.from_connection(spec.connection, clock=clock)
    from alertd.vbr.source import VBRSource

    return VBRSource.from_connection(spec.connection, clock=clock)


@dataclass
class Clients:
    """One running reader per source, with the spec it was built from."""

    by_source: dict[str, Source] = field(default_factory=dict)
    specs: dict[str, ClientSpec] = field(default_factory=dict)

    def retired_by(self, new: Clients) -> list[Source]:
        """The readers of ``self`` that ``new`` does not keep."""
        kept = {id(c) for c in new.by_source.values()}
        return [c for c in self.by_source.values() if id(c) not in kept]


def build_clients(cfg: Config, previous: Clients | None = None, clock: Clock = utc_now) -> Clients:
    """One reader per source, reusing a running one of ``previous`` whose `ClientSpec` is unchanged.

    Every call re-reads password_file and ca_file. Raises ConfigError naming the key when a client
    cannot be built (an unreadable password_file or ca_file, a ca_file that is no PEM bundle, ...).
    """
    clients = Clients()
    problems = []
    for i, source in enumerate(cfg.sources):
        try:
            spec = client_spec(source)
        except SpecError as err:
            problems.append(f"sources[{i}].{err.key}: {err}")
            continue
        if previous is not None and previous.specs.get(source.name) == spec:
            clients.by_source[source.name] = previous.by_source[source.name]
            clients.specs[source.name] = spec
            continue
        try:
            clients.by_source[source.name] = build_client(spec, clock)
            clients.specs[source.name] = spec
        except SourceError as err:
            key = "ca_file" if err.kind == "tls" else "url"
            problems.append(f"sources[{i}].{key}: {err}")
        except ValueError as err:
            problems.append(f"sources[{i}]: {err}")
    if problems:
        raise ConfigError(problems)
    return clients


@dataclass
class Runtime:
    """The live objects one configuration builds; all built before any is swapped in."""

    cfg: Config
    targets: Targets
    renderer: Renderer
    clients: Clients


def build_runtime(
    cfg: Config, previous: Runtime | None = None, clock: Clock = utc_now, config_path: Path | None = None
) -> Runtime:
    """Build what ``cfg`` describes, re-reading every file it names (password_file, urls_file,
    ca_file, templates) and reusing from ``previous`` only what those contents leave unchanged.

    Raises ConfigError (naming keys) and builds nothing usable when any part fails.
    """
    targets = build_targets(cfg)
    try:
        renderer = build_renderer(cfg, config_path)
    except TemplateError as err:
        raise ConfigError([f"receivers: templates: {err}"]) from None
    clients = build_clients(cfg, previous.clients if previous is not None else None, clock)
    return Runtime(cfg, targets, renderer, clients)


def validate_fully(cfg: Config) -> None:
    """Checks beyond the schema that need live objects (apprise URL parsing, EM TLS settings, templates).

    Each receiver's templates are rendered once with a sample job run, so a sandbox violation or
    an undefined variable in an override is reported now, not at the first failure at night.
    """
    build_targets(cfg)
    build_clients(cfg)
    try:
        renderer = build_renderer(cfg)
    except TemplateError as err:
        raise ConfigError([f"receivers: templates: {err}"]) from None
    problems = []
    for i, receiver in enumerate(cfg.receivers):
        if not receiver.templates:
            continue
        for channel in Channel:
            try:
                renderer.render(_sample_group(receiver.name), channel)
                renderer.render_test(receiver.name, channel)
                when = datetime(2026, 1, 1, tzinfo=UTC)
                renderer.render_self_alert(
                    "em1", "sample problem", when, False, channel=channel, for_receiver=receiver.name
                )
                renderer.render_dead_letter(
                    "ops",
                    "json://example/",
                    "title",
                    "error=500",
                    3,
                    when,
                    channel=channel,
                    for_receiver=receiver.name,
                )
            except TemplateError as err:
                problems.append(f"receivers[{i}].templates: {err}")
                break
    if problems:
        raise ConfigError(problems)


def _sample_group(receiver: str) -> AlertGroup:
    """A two-VM job run used to try a receiver's templates."""
    end = datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    sessions = tuple(
        TaskSession(
            uid=f"urn:veeam:BackupTaskSession:sample-{vm}",
            name=f"{vm}@2026-01-01 00:50:00",
            vm=vm,
            vm_uid=None,
            job_session_uid="urn:veeam:BackupJobSession:sample",
            job_name="Sample Job",
            backup_server="vbr.example.com",
            creation_time=end - timedelta(minutes=10),
            end_time=end,
            state="Completed",
            result=result,
            reason="Sample reason",
            total_size=0,
            source="sample",
        )
        for vm, result in (("vm01", "Failed"), ("vm02", "Warning"))
    )
    return AlertGroup(key="sample", receiver=receiver, alerts=sessions)


def state_path(cfg: Config) -> Path:
    """Where the state database lives."""
    return expand_path(cfg.state.path)
