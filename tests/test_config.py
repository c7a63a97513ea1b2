"""The configuration contract: every bad-config case names its key; overrides and secret files work."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from factories import config_doc

from alertd.config import ConfigError, load_config, load_document


def problems_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_document(doc)
    return info.value.problems


def test_valid_minimal(tmp_path: Path) -> None:
    """A minimal document loads with the contract's defaults."""
    cfg = load_document(config_doc(tmp_path))
    src = cfg.sources[0]
    assert (src.verify_tls, src.format, src.page_size, src.overlap) == (
        True,
        "xml",
        200,
        timedelta(minutes=30),
    )
    assert src.initial_lookback == timedelta(hours=1) and src.results == ("Failed", "Warning")
    assert cfg.delivery.retry_for == timedelta(hours=6)
    assert cfg.routes[0].group_by == ("source", "job_session")


def _bad(tmp_path: Path, path: str, value: Any) -> dict[str, Any]:
    doc = config_doc(tmp_path)
    target: Any = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
    last = keys[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return doc


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("sources.0.bogus", 1, "sources[0].bogus: unknown key"),
        ("delivery.retry_fr", "1h", "delivery.retry_fr: unknown key"),
        ("sources.0.poll_interval", "6x", "sources[0].poll_interval: invalid duration '6x'"),
        ("sources.0.overlap", "-5m", "sources[0].overlap: invalid duration"),
        ("delivery.retry_for", "forever", "delivery.retry_for: invalid duration"),
        ("sources.0.format", "yaml", "sources[0].format: Input should be 'xml' or 'json'"),
        ("sources.0.url", "em.example.com:9398", "sources[0].url: must start with https://"),
        ("sources.0.page_size", 0, "sources[0].page_size: Input should be greater than or equal to 1"),
        (
            "routes.0.matchers",
            ['job_name=~"SQL.*"', 'job="x"'],
            "routes[0].matchers[1]: invalid matcher 'job=\"x\"': unknown label",
        ),
        ("routes.0.matchers", ['vm=~"("'], "routes[0].matchers[0]: invalid matcher"),
        ("routes.0.receivers", ["ops", "dba"], "routes[0].receivers[1]: unknown receiver 'dba'"),
        ("routes.0.group_by", ["job"], "routes[0].group_by: unknown label(s) ['job']"),
        ("delivery.fallback", "pager", "delivery.fallback: unknown receiver 'pager'"),
        ("self_alerts.receiver", "pager", "self_alerts.receiver: unknown receiver 'pager'"),
        ("sources.0.results", [], "sources[0].results: must name at least one"),
        ("self_alerts.stale_after", "0s", "self_alerts.stale_after: must be a positive duration"),
    ],
)
def test_bad_config_names_the_key(tmp_path: Path, path: str, value: Any, expected: str) -> None:
    """Each bad-config case yields a problem line that starts with the offending key."""
    found = problems_of(_bad(tmp_path, path, value))
    assert any(p.startswith(expected) for p in found), found


def test_duplicate_names(tmp_path: Path) -> None:
    """Two sources or receivers with one name are both reported."""
    doc = config_doc(tmp_path)
    doc["sources"].append(dict(doc["sources"][0]))
    doc["receivers"].append({"name": "ops", "urls": ["json://x/"]})
    assert problems_of(doc) == [
        "sources[1].name: duplicate name 'em1'",
        "receivers[1].name: duplicate name 'ops'",
    ]


def test_password_and_password_file_exclusive(tmp_path: Path) -> None:
    """Exactly one of password and password_file must be set."""
    doc = config_doc(tmp_path)
    del doc["sources"][0]["password"]
    assert problems_of(doc) == ["sources[0]: set exactly one of password or password_file"]


def test_password_file_with_credentials_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """password_file expands $CREDENTIALS_DIRECTORY (systemd LoadCredential) and strips the newline."""
    (tmp_path / "em-password").write_text("s3cret\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    doc = config_doc(tmp_path)
    del doc["sources"][0]["password"]
    doc["sources"][0]["password_file"] = "${CREDENTIALS_DIRECTORY}/em-password"
    assert load_document(doc).sources[0].secret_password() == "s3cret"


def test_missing_password_file(tmp_path: Path) -> None:
    """An unreadable password_file is reported at its key."""
    doc = config_doc(tmp_path)
    del doc["sources"][0]["password"]
    doc["sources"][0]["password_file"] = str(tmp_path / "nope")
    assert problems_of(doc)[0].startswith("sources[0].password_file: cannot read")


def test_urls_file(tmp_path: Path) -> None:
    """urls_file adds one URL per line, skipping blanks and comments."""
    (tmp_path / "hooks").write_text("# team webhooks\njson://a/\n\njson://b/\n")
    doc = config_doc(tmp_path, receivers=[{"name": "ops", "urls_file": str(tmp_path / "hooks")}])
    assert load_document(doc).receivers[0].all_urls() == ["json://a/", "json://b/"]


def test_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ALERTD_ variables with __ nesting override the file and keep its other keys."""
    monkeypatch.setenv("ALERTD_STATE__PATH", str(tmp_path / "other.db"))
    monkeypatch.setenv("ALERTD_DELIVERY__RETRY_FOR", "2h")
    cfg = load_document(config_doc(tmp_path, delivery={"fallback": "ops"}))
    assert cfg.state.path == str(tmp_path / "other.db")
    assert cfg.delivery.retry_for == timedelta(hours=2) and cfg.delivery.fallback == "ops"


def test_invalid_yaml(tmp_path: Path) -> None:
    """A YAML syntax error names the file and the line."""
    path = tmp_path / "a.yaml"
    path.write_text("sources:\n  - name: [unclosed\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert "line" in info.value.problems[0] and "invalid YAML" in info.value.problems[0]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "alertd", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_check_config_cli_prints_problems_and_exits_2(tmp_path: Path) -> None:
    """check-config prints one line per problem naming the key, exits 2, and shows no traceback."""
    doc = config_doc(tmp_path)
    doc["routes"] = [{"matchers": ['result="Failed"'], "receivers": ["ops"]}, {"receivers": ["dba"]}]
    doc["sources"][0]["poll_interval"] = "soon"
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert proc.stderr.splitlines() == [
        "sources[0].poll_interval: invalid duration 'soon': use e.g. 500ms, 10s, 5m, 1h, 1d"
    ]
    doc["sources"][0]["poll_interval"] = "60s"
    path.write_text(yaml.safe_dump(doc))
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == ["routes[1].receivers[0]: unknown receiver 'dba'"]


def test_check_config_ok_via_env(tmp_path: Path) -> None:
    """ALERTD_CONFIG names the file when --config is absent; a good config exits 0."""
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(config_doc(tmp_path)))
    proc = _cli("check-config", env={"ALERTD_CONFIG": str(path)})
    assert proc.returncode == 0, proc.stderr
    assert "configuration OK" in proc.stdout


def test_check_config_bad_apprise_url(tmp_path: Path) -> None:
    """An apprise URL that no plugin understands is reported at its key, without the URL's secret."""
    doc = config_doc(
        tmp_path, receivers=[{"name": "ops", "urls": ["json://ok/", "nosuchscheme://token-abc123@host"]}]
    )
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("receivers[0].urls[1]:")
    assert "token-abc123" not in proc.stderr


def test_missing_config_file(tmp_path: Path) -> None:
    """A config path that does not exist is a clean error, not a traceback."""
    proc = _cli("run", "--config", str(tmp_path / "missing.yaml"))
    assert proc.returncode == 2 and "cannot read" in proc.stderr and "Traceback" not in proc.stderr


def test_check_config_renders_override_templates(tmp_path: Path) -> None:
    """check-config renders each receiver's override templates, so sandbox and undefined-name errors show up now."""
    tpl = tmp_path / "tpl"
    tpl.mkdir()
    (tpl / "alert_chat.md.j2").write_text("{{ ''.__class__.__mro__ }}")
    doc = config_doc(tmp_path, receivers=[{"name": "ops", "urls": ["json://x/"], "templates": str(tpl)}])
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 2, proc.stdout
    assert proc.stderr.startswith("receivers[0].templates: ") and "alert_chat.md.j2" in proc.stderr
    (tpl / "alert_chat.md.j2").write_text("{{ no_such_name }}")
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 2 and "no_such_name" in proc.stderr
    (tpl / "alert_chat.md.j2").write_text("{{ title }}: {{ total }} VMs")
    assert _cli("check-config", "--config", str(path)).returncode == 0


def test_duplicate_route_and_time_interval_names_are_refused(tmp_path: Path) -> None:
    """Two routes (or time intervals) with one name are each reported at the later one's key, like sources and receivers."""
    doc = config_doc(tmp_path)
    doc["routes"] = [
        {"name": "sql", "matchers": ['job_name="SQL"'], "receivers": ["ops"]},
        {"receivers": ["ops"]},
        {"name": "sql", "receivers": ["ops"]},
        {"receivers": ["ops"]},
    ]
    window = {"times": [{"start_time": "02:00", "end_time": "04:00"}]}
    doc["time_intervals"] = [{"name": "night", "time_intervals": [window]}] * 2
    assert problems_of(doc) == [
        "routes[2].name: duplicate name 'sql'",
        "time_intervals[1].name: duplicate name 'night'",
    ]


def test_duplicate_route_names_exit_2_from_check_config_and_run(tmp_path: Path) -> None:
    """check-config and run both refuse two routes named alike: exit 2, the key on stderr, no traceback."""
    doc = config_doc(tmp_path)
    doc["routes"] = [{"name": "all", "receivers": ["ops"]}, {"name": "all", "receivers": ["ops"]}]
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    for command in ("check-config", "run"):
        proc = _cli(command, "--config", str(path))
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.splitlines() == ["routes[1].name: duplicate name 'all'"]


def test_check_config_warns_about_unnamed_routes_that_hold_state(tmp_path: Path) -> None:
    """check-config warns (exit 0) about an unnamed route using wait_for_retry or send_resolved; a named one is fine."""
    doc = config_doc(tmp_path)
    doc["routes"] = [
        {"matchers": ['job_name="SQL"'], "receivers": ["ops"], "wait_for_retry": "40m"},
        {"name": "kept", "receivers": ["ops"], "send_resolved": True},
        {"receivers": ["ops"], "send_resolved": True},
    ]
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(doc))
    proc = _cli("check-config", "--config", str(path))
    assert proc.returncode == 0, proc.stderr
    warnings = proc.stderr.splitlines()
    assert [w.split(":")[0:2] for w in warnings] == [
        ["warning", " routes[0].name"],
        ["warning", " routes[2].name"],
    ]
    assert (
        "wait_for_retry" in warnings[0] and "send_resolved" in warnings[1] and "give it a name" in warnings[1]
    )


@pytest.mark.parametrize(
    ("variable", "section", "in_yaml"),
    [
        ("ALERTD_HTTP__LISTEN", "http", {"listen": "127.0.0.1:9478"}),
        ("ALERTD_DELIVERY__FALLBACK", "delivery", {"fallback": "ops"}),
        ("ALERTD_SELF_ALERTS__RECEIVER", "self_alerts", {"receiver": "ops"}),
        ("ALERTD_SELF_ALERTS__STALE_AFTER", "self_alerts", {"stale_after": "1h"}),
    ],
)
def test_env_null_means_null_for_nullable_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, section: str, in_yaml: dict[str, str]
) -> None:
    """ALERTD_X__Y=null sets a nullable key to null, as `y: null` does in the YAML (not to the string 'null')."""
    monkeypatch.setenv(variable, "null")
    cfg = load_document(config_doc(tmp_path, **{section: in_yaml}))
    [key] = in_yaml
    assert getattr(getattr(cfg, section), key) is None


def test_env_null_for_a_key_that_cannot_be_null_names_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ALERTD_STATE__PATH=null is refused at state.path, as `path: null` in the YAML would be."""
    monkeypatch.setenv("ALERTD_STATE__PATH", "null")
    assert problems_of(config_doc(tmp_path)) == ["state.path: Input should be a valid string"]
