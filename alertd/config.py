"""The configuration contract: YAML file plus ``ALERTD_`` environment overrides, strictly validated.

``load_config`` is the only entry point; it returns a frozen ``Config`` or raises ``ConfigError``
carrying one human-readable line per problem, each naming the key (``routes[1].receivers[0]: ...``).
The sections live here, the source kinds in `alertd.config_sources`, what they share in
`alertd.config_base`.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from alertd.config_base import (
    GROUP_BY_LABELS,
    ConfigError,
    Duration,
    MatcherText,
    Strict,
    expand_path,
    read_secret_file,
)
from alertd.config_sources import EMSourceConfig, SourceConfig, VBRSourceConfig
from alertd.matchers import Matcher, parse_matcher
from alertd.model import MATCHER_LABELS
from alertd.timeintervals import NamedTimeInterval

__all__ = [
    "Config",
    "ConfigError",
    "DeliveryConfig",
    "EMSourceConfig",
    "FlappingConfig",
    "RouteConfig",
    "SelfAlertsConfig",
    "SourceConfig",
    "VBRSourceConfig",
    "config_path",
    "config_warnings",
    "load_config",
    "load_document",
]


class ReceiverConfig(Strict):
    """A named set of apprise URLs, optionally with its own template directory."""

    name: str = Field(min_length=1)
    urls: tuple[SecretStr, ...] = ()
    urls_file: str | None = None
    templates: str | None = None

    @model_validator(mode="after")
    def _has_urls(self) -> ReceiverConfig:
        if not self.urls and self.urls_file is None:
            raise ValueError("set urls or urls_file")
        if self.templates is not None and not expand_path(self.templates).is_dir():
            raise ValueError(f"templates: no such directory {self.templates!r}")
        return self

    def all_urls(self) -> list[str]:
        """The receiver's URLs: ``urls`` followed by the non-comment lines of ``urls_file``."""
        found = [u.get_secret_value() for u in self.urls]
        if self.urls_file is not None:
            text = read_secret_file(self.urls_file)
            found += [
                ln.strip() for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")
            ]
        return found


class LinksConfig(Strict):
    """A route's links: URL templates (Jinja, every value percent-encoded) shown in its messages."""

    runbook_url: str | None = None
    dashboard_url: str | None = None

    @model_validator(mode="after")
    def _templatesexpand_path(self) -> LinksConfig:
        from alertd.render import check_link_template

        for name in ("runbook_url", "dashboard_url"):
            template = getattr(self, name)
            if template:
                try:
                    check_link_template(name, template)
                except Exception as err:
                    raise ValueError(str(err)) from None
        return self


class DisplayConfig(Strict):
    """How messages show times."""

    timezone: str = "UTC"

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        from alertd.render.timefmt import zone

        zone(value)
        return value


class RouteConfig(Strict):
    """One routing rule; routes are tried in order and the first match wins unless ``continue``."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: str | None = Field(default=None, min_length=1)
    matchers: tuple[MatcherText, ...] = ()
    receivers: tuple[str, ...] = Field(min_length=1)
    continue_: bool = Field(default=False, alias="continue")
    group_by: tuple[str, ...] = ("source", "job_session")
    group_wait: Duration = timedelta(seconds=30)
    wait_for_retry: Duration | None = None
    notify_recovered_on_retry: bool = False
    send_resolved: bool = False
    mute_time_intervals: tuple[str, ...] = ()
    links: LinksConfig | None = None

    @field_validator("group_by")
    @classmethod
    def _known_group_labels(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [v for v in value if v not in GROUP_BY_LABELS]
        if unknown:
            raise ValueError(f"unknown label(s) {unknown}; use any of {list(GROUP_BY_LABELS)}")
        return value

    def parsed_matchers(self) -> tuple[Matcher, ...]:
        """The matchers, parsed (validated already at load)."""
        return tuple(parse_matcher(t, MATCHER_LABELS) for t in self.matchers)


class FlappingConfig(Strict):
    """When a VM that keeps switching between success and failure is called flapping."""

    enabled: bool = True
    window: int = Field(default=10, ge=4, le=50)
    min_flips: int = Field(default=4, ge=2)
    stable_runs: int = Field(default=3, ge=1)
    period: Duration = timedelta(days=7)

    @model_validator(mode="after")
    def _flips_fit_window(self) -> FlappingConfig:
        if self.min_flips >= self.window:
            raise ValueError("min_flips must be smaller than window")
        return self


class StateConfig(Strict):
    """Where durable state lives."""

    path: str = "/var/lib/alertd/state.db"
    keep_history: Duration = timedelta(days=7)


class DeliveryConfig(Strict):
    """How hard and how fast to deliver."""

    retry_for: Duration = timedelta(hours=6)
    fallback: str | None = None
    min_interval: Duration = timedelta(seconds=1)
    send_timeout: Duration = timedelta(seconds=30)
    max_backoff: Duration = timedelta(minutes=5)


class HttpConfig(Strict):
    """The local HTTP endpoints; ``listen: null`` disables them."""

    listen: str | None = "127.0.0.1:9478"


class SelfAlertsConfig(Strict):
    """Alerts about alertd's own ability to watch EM.

    ``after``: how long polling must fail before the "cannot poll" alert. ``stale_after`` (off
    when null): how long a source may poll fine while no session alertd reads has ended (its
    watermark stands still) before the "EM data is stale" alert.
    """

    receiver: str | None = None
    after: Duration = timedelta(minutes=15)
    stale_after: Duration | None = None

    @field_validator("stale_after")
    @classmethod
    def _positive_stale_after(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value <= timedelta(0):
            raise ValueError("must be a positive duration (or null to turn the check off)")
        return value


class LogConfig(Strict):
    """Log level and format (``auto`` is JSON unless stderr is a terminal)."""

    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class Config(BaseSettings):
    """The whole configuration."""

    # env_parse_none_str: ALERTD_HTTP__LISTEN=null means null, as `listen: null` does in the YAML,
    # for every key (a key that cannot be null then says so, naming itself).
    model_config = SettingsConfigDict(
        env_prefix="ALERTD_",
        env_nested_delimiter="__",
        env_parse_none_str="null",
        extra="forbid",
        frozen=True,
    )

    sources: tuple[SourceConfig, ...] = Field(min_length=1)
    state: StateConfig = StateConfig()
    receivers: tuple[ReceiverConfig, ...] = Field(min_length=1)
    routes: tuple[RouteConfig, ...] = Field(min_length=1)
    delivery: DeliveryConfig = DeliveryConfig()
    http: HttpConfig = HttpConfig()
    self_alerts: SelfAlertsConfig = SelfAlertsConfig()
    log: LogConfig = LogConfig()
    time_intervals: tuple[NamedTimeInterval, ...] = ()
    flapping: FlappingConfig = FlappingConfig()
    display: DisplayConfig = DisplayConfig()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML document arrives as init kwargs; environment variables override it.
        return (env_settings, init_settings)

    def intervals(self) -> dict[str, NamedTimeInterval]:
        """Named time intervals by name."""
        return {t.name: t for t in self.time_intervals}


def _format_loc(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


def _format_errors(err: ValidationError) -> list[str]:
    problems = []
    items = err.errors(include_url=False)
    for item in items:
        # Drop pydantic's own steps: validator names and the source-kind tags of the union.
        loc = tuple(p for p in item["loc"] if p not in ("function-after", "em", "vbr"))
        # pydantic also says "too short" for a list whose only items were invalid: noise.
        if item["type"] == "too_short" and any(
            o["loc"][: len(loc)] == loc and len(o["loc"]) > len(loc) for o in items
        ):
            continue
        msg = item["msg"]
        if item["type"] == "extra_forbidden":
            msg = "unknown key"
        elif item["type"] == "missing":
            msg = "required key is missing"
        elif item["type"] == "union_tag_invalid":
            loc = (*loc, "kind")
            msg = f"unknown source kind {item['ctx']['tag']!r}; use em (Enterprise Manager) or vbr (a backup server)"
        msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
        problems.append(f"{_format_loc(loc)}: {msg}")
    return problems


def _cross_check(cfg: Config) -> list[str]:
    """Checks that need the whole document: names unique, references resolve, secrets readable."""
    problems: list[str] = []
    for section, item_names in (
        ("sources", [s.name for s in cfg.sources]),
        ("receivers", [r.name for r in cfg.receivers]),
        ("routes", [r.name for r in cfg.routes]),
        ("time_intervals", [t.name for t in cfg.time_intervals]),
    ):
        problems += duplicate_names(section, item_names)
    return problems + _check_references(cfg) + _check_secret_files(cfg)


def duplicate_names(section: str, names: Sequence[str | None]) -> list[str]:
    """One problem per item whose ``name`` an earlier item of ``section`` already has (None: unnamed)."""
    problems = []
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name is None:
            continue
        if name in seen:
            problems.append(f"{section}[{i}].name: duplicate name {name!r}")
        seen.add(name)
    return problems


def _check_references(cfg: Config) -> list[str]:
    problems = []
    names = {r.name for r in cfg.receivers}
    for i, route in enumerate(cfg.routes):
        for j, recv in enumerate(route.receivers):
            if recv not in names:
                problems.append(f"routes[{i}].receivers[{j}]: unknown receiver {recv!r}")
    intervals = [t.name for t in cfg.time_intervals]
    for i, route in enumerate(cfg.routes):
        for j, interval_name in enumerate(route.mute_time_intervals):
            if interval_name not in intervals:
                problems.append(
                    f"routes[{i}].mute_time_intervals[{j}]: unknown time interval {interval_name!r}"
                )
    for key, value in (
        ("delivery.fallback", cfg.delivery.fallback),
        ("self_alerts.receiver", cfg.self_alerts.receiver),
    ):
        if value is not None and value not in names:
            problems.append(f"{key}: unknown receiver {value!r}")
    return problems


def _check_secret_files(cfg: Config) -> list[str]:
    problems = []
    for i, src in enumerate(cfg.sources):
        if src.password_file is not None:
            try:
                src.secret_password()
            except ValueError as err:
                problems.append(f"sources[{i}].password_file: {err}")
    for i, recv_cfg in enumerate(cfg.receivers):
        try:
            if not recv_cfg.all_urls():
                problems.append(f"receivers[{i}].urls_file: no URLs in the file")
        except ValueError as err:
            problems.append(f"receivers[{i}].urls_file: {err}")
    return problems


def config_warnings(cfg: Config) -> list[str]:
    """What is valid but likely to surprise, one line per item naming the key (check-config prints
    them and exits 0; the daemon logs them at start and reload).
    """
    warnings = []
    for i, route in enumerate(cfg.routes):
        stateful = [
            k
            for k, on in (
                ("wait_for_retry", route.wait_for_retry is not None),
                ("send_resolved", route.send_resolved),
            )
            if on
        ]
        if route.name is None and stateful:
            warnings.append(
                f"routes[{i}].name: not set on a route using {' and '.join(stateful)}; its held alerts and "
                "recoveries owed are kept under its matchers and its rank among unnamed routes with the same "
                "matchers, so adding or removing such a route before it hands them to another: give it a name"
            )
    return warnings


def config_path(explicit: str | None) -> Path:
    """The config file to read: ``--config`` or else ``$ALERTD_CONFIG``."""
    chosen = explicit or os.environ.get("ALERTD_CONFIG")
    if not chosen:
        raise ConfigError(["--config: no configuration file given (use --config PATH or set ALERTD_CONFIG)"])
    # Absolute, so a reload after a chdir reads the same file and the silence command printed in
    # messages works when pasted from any directory.
    return Path(chosen).absolute()


def load_document(data: dict[str, Any]) -> Config:
    """Validate an already-parsed document (plus environment overrides) into a Config."""
    try:
        cfg = Config(**data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err)) from None
    problems = _cross_check(cfg)
    if problems:
        raise ConfigError(problems)
    return cfg


def load_config(path: Path) -> Config:
    """Read, parse and validate the YAML file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError([f"{path}: cannot read: {err.strerror or err}"]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError([f"{path}:{where}: invalid YAML: {problem}"]) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            [f"{path}: the top level must be a mapping of keys (sources, receivers, routes, ...)"]
        )
    return load_document(data)
