"""Silences from the CLI: until-resolved needs something that can resolve it; list says what ends each; old ones go."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from factories import T0, config_doc

from alertd.state import SQLiteStore


def cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ALERTD_")}
    return subprocess.run(
        [sys.executable, "-m", "alertd", *args, "--config", str(config)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "alertd.yaml"
    path.write_text(yaml.safe_dump(config_doc(tmp_path)))
    return path


@pytest.mark.parametrize(
    "matchers",
    [
        ['result="Warning"'],
        ['job_name=~"SQL.*"'],
        ['vm!="db01"'],
        ['backup_server="vbr01"', 'result="Failed"'],
    ],
)
def test_until_resolved_without_job_or_vm_is_refused(
    tmp_path: Path, config: Path, matchers: list[str]
) -> None:
    """An --until-resolved silence nothing can resolve exits 2 with the reason, and stores nothing."""
    done = cli(config, "silence", "add", *matchers, "--until-resolved", "--comment", "x")
    assert done.returncode == 2, done.stderr
    assert "needs an equality matcher on job_name or vm" in done.stderr
    assert "Traceback" not in done.stderr
    listed = cli(config, "silence", "list", "--all")
    assert listed.stdout.strip() == "no silences"


@pytest.mark.parametrize(
    ("matcher", "ends"),
    [('vm="X"', 'vm="X" next succeeds'), ('job_name="SQL Daily"', 'job_name="SQL Daily" next succeeds')],
)
def test_until_resolved_on_vm_or_job_is_accepted_and_listed(config: Path, matcher: str, ends: str) -> None:
    """A vm= or job_name= until-resolved silence is stored, and silence list says what will end it."""
    done = cli(
        config, "silence", "add", matcher, 'result="Warning"', "--until-resolved", "--comment", "disk swap"
    )
    assert done.returncode == 0, done.stderr
    listed = cli(config, "silence", "list")
    assert ends in listed.stdout and "disk swap" in listed.stdout


@pytest.mark.parametrize(
    ("matchers", "code"),
    [(['vm="X"'], 0), (['result="Warning"'], 2)],
)
def test_until_resolved_without_a_comment(config: Path, matchers: list[str], code: int) -> None:
    """--comment is optional: the issue's own commands give 0 (scoped) and 2 (unscoped, with the reason)."""
    done = cli(config, "silence", "add", *matchers, "--until-resolved")
    assert done.returncode == code, done.stderr
    if code == 2:
        assert "needs an equality matcher on job_name or vm" in done.stderr
    else:
        assert "(no comment)" in cli(config, "silence", "list").stdout


def test_ended_silences_are_pruned_after_keep_history(tmp_path: Path) -> None:
    """Silences that expired or ran out more than keep_history ago are forgotten; active ones stay."""
    store = SQLiteStore(tmp_path / "state.db")
    timed_out = store.add_silence(
        ['vm="a"'], comment="", created_by="t", now=T0, ends_at=T0 + timedelta(hours=1), until_resolved=False
    )
    expired = store.add_silence(
        ['vm="b"'], comment="", created_by="t", now=T0, ends_at=None, until_resolved=True
    )
    active = store.add_silence(
        ['vm="c"'], comment="", created_by="t", now=T0, ends_at=None, until_resolved=True
    )
    recent = store.add_silence(
        ['vm="d"'],
        comment="",
        created_by="t",
        now=T0,
        ends_at=T0 + timedelta(days=7, hours=2),
        until_resolved=False,
    )
    assert store.expire_silence(expired, T0 + timedelta(hours=2), "expired by test")
    store.prune_history(T0 + timedelta(days=7, hours=3), keep_history=timedelta(days=7))
    assert {s.id for s in store.silences()} == {active, recent}
    assert timed_out not in {s.id for s in store.silences()}
    store.close()
